// Dense 2-D convolutions of stride 2, forward (groups = 1), NCHW float32, written out for
// Mesa's llvmpipe (see the header of shaders/conv2d.wgsl for why bodies are written out by hand:
// named accumulators and a named input window stay in registers, loops over arrays do not).
// The compile-time constant VARIANT (src/kernels/conv2d.ts picks it from the layer shape only)
// selects the body:
//
//   VARIANT 0, 3x3 stride 2 padding 1: each invocation computes 14 consecutive output pixels
//     of one row for 16 output channels; its input window per kernel row is 29 values.
//   VARIANT 1, 3x3 stride 2 padding 1, narrow rows (wout <= 7): 7 output pixels for 16 output
//     channels (no lanes wasted on a 7-wide row); a 15-value window per kernel row.
//   VARIANT 2, 1x1 stride 2 no padding: 14 output pixels of one row (input values at even
//     positions of an even input row) for 16 output channels.
//
// The input is bound as vec4: a window starting at any float position is read as the vec4
// that holds its first value and the following ones (each index clamped into the buffer), and
// shifted by the start's offset within its vec4 (selects, no loads); a vec4 load costs about
// half as much per float as a scalar load on llvmpipe. Window values outside the input row
// (padding, the neighbouring row, or past the tensor) are replaced by zero. The buffer holds
// whole vec4 (src/gpu/gpu.ts rounds every storage buffer up to 16 bytes).
//
// All invocations of a workgroup share the channel block (workgroup_id.z), so every weight
// load has a workgroup-uniform address. Each output sums over input channels, then kernel rows,
// then kernel columns, then adds the bias: an order fixed by the layer shape, never by the batch
// size or where the image sits in the batch. An invocation runs cin (1x1) or 3 cin (3x3) loop
// iterations, which the host keeps far below llvmpipe's loop budget.
//
// Constants marked @specialize are set by src/kernels/conv2d.ts (a whitelisted substitution of
// integer literals; no other text is generated).

const VARIANT: u32 = 0u; // @specialize the body: 0, 1 or 2 (above)
const WG: u32 = 8u; // @specialize invocations per workgroup

struct Params {
  n: u32, // images in the batch
  cin: u32, // input channels
  hin: u32,
  win: u32,
  cout: u32, // output channels
  hout: u32,
  wout: u32,
  nseg: u32, // ceil(wout / pixels per invocation)
  co4: u32, // padded output channels / 4 (weight texels per row)
  total: u32, // n * hout * nseg
  fold: u32, // workgroups along x (linear workgroup index = wid.x + wid.y * fold)
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>; // [n][cin][hin][win], as vec4
// The weights as an rgba32float texture: texel (j, (ci * K + ky) * K + kx) holds output
// channels 4j .. 4j + 3 of input channel ci at tap (ky, kx) (conv2d.ts forwardWeightsFor); on
// llvmpipe a texel fetch costs much less than a storage-buffer load, which is a per-lane loop.
@group(0) @binding(2) var w: texture_2d<f32>; // co4 x (cin K K) texels
@group(0) @binding(3) var<storage, read> bias: array<vec4<f32>>; // [co4]
@group(0) @binding(4) var<storage, read_write> y: array<f32>; // [n][cout][hout][wout]

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) li: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  let t = (wid.x + wid.y * p.fold) * WG + li;
  if (VARIANT == 0u) {
    conv3x3s2_14(t, wid.z);
  } else if (VARIANT == 1u) {
    conv3x3s2_7(t, wid.z);
  } else {
    conv1x1s2(t, wid.z);
  }
}

// The vec4 at index i of x, i clamped into the buffer.
fn ld(i: i32) -> vec4<f32> {
  return x[u32(clamp(i, 0, i32(arrayLength(&x)) - 1))];
}

// The four floats starting at component o (0..3) of the pair a, b.
fn shift(a: vec4<f32>, b: vec4<f32>, o: u32) -> vec4<f32> {
  let lo = select(vec4<f32>(a.yzw, b.x), a, o == 0u);
  let hi = select(vec4<f32>(a.w, b.xyz), vec4<f32>(a.zw, b.xy), o == 2u);
  return select(hi, lo, o < 2u);
}

// The floats at components o and o + 2 (o in 0..3) of the pair a, b: two consecutive values
// at even offsets from the start of a window.
fn evens(a: vec4<f32>, b: vec4<f32>, o: u32) -> vec2<f32> {
  let lo = select(vec2<f32>(a.y, a.w), vec2<f32>(a.x, a.z), o == 0u);
  let hi = select(vec2<f32>(a.w, b.y), vec2<f32>(a.z, b.x), o == 2u);
  return select(hi, lo, o < 2u);
}

// Window values v at input columns ix .. ix + 3 of the row, zero outside 0 .. win - 1.
fn keep(v: vec4<f32>, ix: i32) -> vec4<f32> {
  let cols = vec4<u32>(vec4<i32>(ix) + vec4<i32>(0, 1, 2, 3));
  return select(vec4<f32>(0.0), v, cols < vec4<u32>(p.win));
}

// Weight texel k (0..3) of the 16-channel block cb in texel row `row`; past the padded
// channel count (co4 not a multiple of 4) it reads the row's last texel, whose results are
// never stored.
fn w16(row: u32, cb: u32, k: u32) -> vec4<f32> {
  return textureLoad(w, vec2<u32>(min(cb * 4u + k, p.co4 - 1u), row), 0);
}

// Store output channel co at y[o] (pixel i of the block) when it exists.
fn put(o: u32, co: u32, v: f32) {
  if (co < p.cout) {
    y[o] = v;
  }
}

// Store pixel i of an 8-channel block (a = channels 0..3, b = 4..7) plus the bias; the block
// starts at output channel co0, y offset o (pixel 0 of channel co0), output column ox0.
fn store8(o: u32, i: u32, ox0: u32, live: bool, co0: u32, a: vec4<f32>, b: vec4<f32>) {
  if (!live || ox0 + i >= p.wout) {
    return;
  }
  let hw = p.hout * p.wout;
  let va = a + bias[min(co0 / 4u, p.co4 - 1u)];
  let vb = b + bias[min(co0 / 4u + 1u, p.co4 - 1u)];
  let q = o + i;
  put(q, co0, va.x);
  put(q + hw, co0 + 1u, va.y);
  put(q + 2u * hw, co0 + 2u, va.z);
  put(q + 3u * hw, co0 + 3u, va.w);
  put(q + 4u * hw, co0 + 4u, vb.x);
  put(q + 5u * hw, co0 + 5u, vb.y);
  put(q + 6u * hw, co0 + 6u, vb.z);
  put(q + 7u * hw, co0 + 7u, vb.w);
}

fn conv3x3s2_14(t: u32, cb: u32) {
  // Out-of-range invocations compute a valid block (clamped) and skip the stores, which keeps
  // every SIMD lane active through the loads.
  let live = t < p.total;
  let tc = min(t, p.total - 1u);
  let seg = tc % p.nseg;
  let r = tc / p.nseg;
  let oy = r % p.hout;
  let n = r / p.hout;
  let ox0 = seg * 14u;
  let ix0 = i32(2u * ox0) - 1;
  var a0 = vec4<f32>(0.0);
  var b0 = vec4<f32>(0.0);
  var c0 = vec4<f32>(0.0);
  var d0 = vec4<f32>(0.0);
  var a1 = vec4<f32>(0.0);
  var b1 = vec4<f32>(0.0);
  var c1 = vec4<f32>(0.0);
  var d1 = vec4<f32>(0.0);
  var a2 = vec4<f32>(0.0);
  var b2 = vec4<f32>(0.0);
  var c2 = vec4<f32>(0.0);
  var d2 = vec4<f32>(0.0);
  var a3 = vec4<f32>(0.0);
  var b3 = vec4<f32>(0.0);
  var c3 = vec4<f32>(0.0);
  var d3 = vec4<f32>(0.0);
  var a4 = vec4<f32>(0.0);
  var b4 = vec4<f32>(0.0);
  var c4 = vec4<f32>(0.0);
  var d4 = vec4<f32>(0.0);
  var a5 = vec4<f32>(0.0);
  var b5 = vec4<f32>(0.0);
  var c5 = vec4<f32>(0.0);
  var d5 = vec4<f32>(0.0);
  var a6 = vec4<f32>(0.0);
  var b6 = vec4<f32>(0.0);
  var c6 = vec4<f32>(0.0);
  var d6 = vec4<f32>(0.0);
  var a7 = vec4<f32>(0.0);
  var b7 = vec4<f32>(0.0);
  var c7 = vec4<f32>(0.0);
  var d7 = vec4<f32>(0.0);
  var a8 = vec4<f32>(0.0);
  var b8 = vec4<f32>(0.0);
  var c8 = vec4<f32>(0.0);
  var d8 = vec4<f32>(0.0);
  var a9 = vec4<f32>(0.0);
  var b9 = vec4<f32>(0.0);
  var c9 = vec4<f32>(0.0);
  var d9 = vec4<f32>(0.0);
  var a10 = vec4<f32>(0.0);
  var b10 = vec4<f32>(0.0);
  var c10 = vec4<f32>(0.0);
  var d10 = vec4<f32>(0.0);
  var a11 = vec4<f32>(0.0);
  var b11 = vec4<f32>(0.0);
  var c11 = vec4<f32>(0.0);
  var d11 = vec4<f32>(0.0);
  var a12 = vec4<f32>(0.0);
  var b12 = vec4<f32>(0.0);
  var c12 = vec4<f32>(0.0);
  var d12 = vec4<f32>(0.0);
  var a13 = vec4<f32>(0.0);
  var b13 = vec4<f32>(0.0);
  var c13 = vec4<f32>(0.0);
  var d13 = vec4<f32>(0.0);
  for (var ci = 0u; ci < p.cin; ci++) {
    let plane = (n * p.cin + ci) * p.hin;
    let wrow = ci * 9u;
    for (var ky = 0u; ky < 3u; ky++) {
      let iy = i32(2u * oy + ky) - 1;
      if (iy < 0 || iy >= i32(p.hin)) {
        continue;
      }
      let rb = (plane + u32(iy)) * p.win;
      let st = i32(rb) + ix0;
      let q = st >> 2u;
      let o = u32(st & 3);
      let q0 = ld(q + 0);
      let q1 = ld(q + 1);
      let q2 = ld(q + 2);
      let q3 = ld(q + 3);
      let q4 = ld(q + 4);
      let q5 = ld(q + 5);
      let q6 = ld(q + 6);
      let q7 = ld(q + 7);
      let s0 = keep(shift(q0, q1, o), ix0 + 0);
      let s1 = keep(shift(q1, q2, o), ix0 + 4);
      let s2 = keep(shift(q2, q3, o), ix0 + 8);
      let s3 = keep(shift(q3, q4, o), ix0 + 12);
      let s4 = keep(shift(q4, q5, o), ix0 + 16);
      let s5 = keep(shift(q5, q6, o), ix0 + 20);
      let s6 = keep(shift(q6, q7, o), ix0 + 24);
      let s7 = keep(shift(q7, q7, o), ix0 + 28);
      let r0 = wrow + 3u * ky + 0u;
      let aw0 = w16(r0, cb, 0u);
      let bw0 = w16(r0, cb, 1u);
      let cw0 = w16(r0, cb, 2u);
      let dw0 = w16(r0, cb, 3u);
      let r1 = wrow + 3u * ky + 1u;
      let aw1 = w16(r1, cb, 0u);
      let bw1 = w16(r1, cb, 1u);
      let cw1 = w16(r1, cb, 2u);
      let dw1 = w16(r1, cb, 3u);
      let r2 = wrow + 3u * ky + 2u;
      let aw2 = w16(r2, cb, 0u);
      let bw2 = w16(r2, cb, 1u);
      let cw2 = w16(r2, cb, 2u);
      let dw2 = w16(r2, cb, 3u);
      // kx = 0
      a0 += s0.x * aw0;
      b0 += s0.x * bw0;
      c0 += s0.x * cw0;
      d0 += s0.x * dw0;
      a1 += s0.z * aw0;
      b1 += s0.z * bw0;
      c1 += s0.z * cw0;
      d1 += s0.z * dw0;
      a2 += s1.x * aw0;
      b2 += s1.x * bw0;
      c2 += s1.x * cw0;
      d2 += s1.x * dw0;
      a3 += s1.z * aw0;
      b3 += s1.z * bw0;
      c3 += s1.z * cw0;
      d3 += s1.z * dw0;
      a4 += s2.x * aw0;
      b4 += s2.x * bw0;
      c4 += s2.x * cw0;
      d4 += s2.x * dw0;
      a5 += s2.z * aw0;
      b5 += s2.z * bw0;
      c5 += s2.z * cw0;
      d5 += s2.z * dw0;
      a6 += s3.x * aw0;
      b6 += s3.x * bw0;
      c6 += s3.x * cw0;
      d6 += s3.x * dw0;
      a7 += s3.z * aw0;
      b7 += s3.z * bw0;
      c7 += s3.z * cw0;
      d7 += s3.z * dw0;
      a8 += s4.x * aw0;
      b8 += s4.x * bw0;
      c8 += s4.x * cw0;
      d8 += s4.x * dw0;
      a9 += s4.z * aw0;
      b9 += s4.z * bw0;
      c9 += s4.z * cw0;
      d9 += s4.z * dw0;
      a10 += s5.x * aw0;
      b10 += s5.x * bw0;
      c10 += s5.x * cw0;
      d10 += s5.x * dw0;
      a11 += s5.z * aw0;
      b11 += s5.z * bw0;
      c11 += s5.z * cw0;
      d11 += s5.z * dw0;
      a12 += s6.x * aw0;
      b12 += s6.x * bw0;
      c12 += s6.x * cw0;
      d12 += s6.x * dw0;
      a13 += s6.z * aw0;
      b13 += s6.z * bw0;
      c13 += s6.z * cw0;
      d13 += s6.z * dw0;
      // kx = 1
      a0 += s0.y * aw1;
      b0 += s0.y * bw1;
      c0 += s0.y * cw1;
      d0 += s0.y * dw1;
      a1 += s0.w * aw1;
      b1 += s0.w * bw1;
      c1 += s0.w * cw1;
      d1 += s0.w * dw1;
      a2 += s1.y * aw1;
      b2 += s1.y * bw1;
      c2 += s1.y * cw1;
      d2 += s1.y * dw1;
      a3 += s1.w * aw1;
      b3 += s1.w * bw1;
      c3 += s1.w * cw1;
      d3 += s1.w * dw1;
      a4 += s2.y * aw1;
      b4 += s2.y * bw1;
      c4 += s2.y * cw1;
      d4 += s2.y * dw1;
      a5 += s2.w * aw1;
      b5 += s2.w * bw1;
      c5 += s2.w * cw1;
      d5 += s2.w * dw1;
      a6 += s3.y * aw1;
      b6 += s3.y * bw1;
      c6 += s3.y * cw1;
      d6 += s3.y * dw1;
      a7 += s3.w * aw1;
      b7 += s3.w * bw1;
      c7 += s3.w * cw1;
      d7 += s3.w * dw1;
      a8 += s4.y * aw1;
      b8 += s4.y * bw1;
      c8 += s4.y * cw1;
      d8 += s4.y * dw1;
      a9 += s4.w * aw1;
      b9 += s4.w * bw1;
      c9 += s4.w * cw1;
      d9 += s4.w * dw1;
      a10 += s5.y * aw1;
      b10 += s5.y * bw1;
      c10 += s5.y * cw1;
      d10 += s5.y * dw1;
      a11 += s5.w * aw1;
      b11 += s5.w * bw1;
      c11 += s5.w * cw1;
      d11 += s5.w * dw1;
      a12 += s6.y * aw1;
      b12 += s6.y * bw1;
      c12 += s6.y * cw1;
      d12 += s6.y * dw1;
      a13 += s6.w * aw1;
      b13 += s6.w * bw1;
      c13 += s6.w * cw1;
      d13 += s6.w * dw1;
      // kx = 2
      a0 += s0.z * aw2;
      b0 += s0.z * bw2;
      c0 += s0.z * cw2;
      d0 += s0.z * dw2;
      a1 += s1.x * aw2;
      b1 += s1.x * bw2;
      c1 += s1.x * cw2;
      d1 += s1.x * dw2;
      a2 += s1.z * aw2;
      b2 += s1.z * bw2;
      c2 += s1.z * cw2;
      d2 += s1.z * dw2;
      a3 += s2.x * aw2;
      b3 += s2.x * bw2;
      c3 += s2.x * cw2;
      d3 += s2.x * dw2;
      a4 += s2.z * aw2;
      b4 += s2.z * bw2;
      c4 += s2.z * cw2;
      d4 += s2.z * dw2;
      a5 += s3.x * aw2;
      b5 += s3.x * bw2;
      c5 += s3.x * cw2;
      d5 += s3.x * dw2;
      a6 += s3.z * aw2;
      b6 += s3.z * bw2;
      c6 += s3.z * cw2;
      d6 += s3.z * dw2;
      a7 += s4.x * aw2;
      b7 += s4.x * bw2;
      c7 += s4.x * cw2;
      d7 += s4.x * dw2;
      a8 += s4.z * aw2;
      b8 += s4.z * bw2;
      c8 += s4.z * cw2;
      d8 += s4.z * dw2;
      a9 += s5.x * aw2;
      b9 += s5.x * bw2;
      c9 += s5.x * cw2;
      d9 += s5.x * dw2;
      a10 += s5.z * aw2;
      b10 += s5.z * bw2;
      c10 += s5.z * cw2;
      d10 += s5.z * dw2;
      a11 += s6.x * aw2;
      b11 += s6.x * bw2;
      c11 += s6.x * cw2;
      d11 += s6.x * dw2;
      a12 += s6.z * aw2;
      b12 += s6.z * bw2;
      c12 += s6.z * cw2;
      d12 += s6.z * dw2;
      a13 += s7.x * aw2;
      b13 += s7.x * bw2;
      c13 += s7.x * cw2;
      d13 += s7.x * dw2;
    }
  }
  let co0 = cb * 16u;
  let o = (n * p.cout + co0) * p.hout * p.wout + oy * p.wout + ox0;
  store8(o, 0u, ox0, live, co0, a0, b0);
  store8(o, 1u, ox0, live, co0, a1, b1);
  store8(o, 2u, ox0, live, co0, a2, b2);
  store8(o, 3u, ox0, live, co0, a3, b3);
  store8(o, 4u, ox0, live, co0, a4, b4);
  store8(o, 5u, ox0, live, co0, a5, b5);
  store8(o, 6u, ox0, live, co0, a6, b6);
  store8(o, 7u, ox0, live, co0, a7, b7);
  store8(o, 8u, ox0, live, co0, a8, b8);
  store8(o, 9u, ox0, live, co0, a9, b9);
  store8(o, 10u, ox0, live, co0, a10, b10);
  store8(o, 11u, ox0, live, co0, a11, b11);
  store8(o, 12u, ox0, live, co0, a12, b12);
  store8(o, 13u, ox0, live, co0, a13, b13);
  let o8 = o + 8u * p.hout * p.wout;
  store8(o8, 0u, ox0, live, co0 + 8u, c0, d0);
  store8(o8, 1u, ox0, live, co0 + 8u, c1, d1);
  store8(o8, 2u, ox0, live, co0 + 8u, c2, d2);
  store8(o8, 3u, ox0, live, co0 + 8u, c3, d3);
  store8(o8, 4u, ox0, live, co0 + 8u, c4, d4);
  store8(o8, 5u, ox0, live, co0 + 8u, c5, d5);
  store8(o8, 6u, ox0, live, co0 + 8u, c6, d6);
  store8(o8, 7u, ox0, live, co0 + 8u, c7, d7);
  store8(o8, 8u, ox0, live, co0 + 8u, c8, d8);
  store8(o8, 9u, ox0, live, co0 + 8u, c9, d9);
  store8(o8, 10u, ox0, live, co0 + 8u, c10, d10);
  store8(o8, 11u, ox0, live, co0 + 8u, c11, d11);
  store8(o8, 12u, ox0, live, co0 + 8u, c12, d12);
  store8(o8, 13u, ox0, live, co0 + 8u, c13, d13);
}

fn conv3x3s2_7(t: u32, cb: u32) {
  // Out-of-range invocations compute a valid block (clamped) and skip the stores, which keeps
  // every SIMD lane active through the loads.
  let live = t < p.total;
  let tc = min(t, p.total - 1u);
  let seg = tc % p.nseg;
  let r = tc / p.nseg;
  let oy = r % p.hout;
  let n = r / p.hout;
  let ox0 = seg * 7u;
  let ix0 = i32(2u * ox0) - 1;
  var a0 = vec4<f32>(0.0);
  var b0 = vec4<f32>(0.0);
  var c0 = vec4<f32>(0.0);
  var d0 = vec4<f32>(0.0);
  var a1 = vec4<f32>(0.0);
  var b1 = vec4<f32>(0.0);
  var c1 = vec4<f32>(0.0);
  var d1 = vec4<f32>(0.0);
  var a2 = vec4<f32>(0.0);
  var b2 = vec4<f32>(0.0);
  var c2 = vec4<f32>(0.0);
  var d2 = vec4<f32>(0.0);
  var a3 = vec4<f32>(0.0);
  var b3 = vec4<f32>(0.0);
  var c3 = vec4<f32>(0.0);
  var d3 = vec4<f32>(0.0);
  var a4 = vec4<f32>(0.0);
  var b4 = vec4<f32>(0.0);
  var c4 = vec4<f32>(0.0);
  var d4 = vec4<f32>(0.0);
  var a5 = vec4<f32>(0.0);
  var b5 = vec4<f32>(0.0);
  var c5 = vec4<f32>(0.0);
  var d5 = vec4<f32>(0.0);
  var a6 = vec4<f32>(0.0);
  var b6 = vec4<f32>(0.0);
  var c6 = vec4<f32>(0.0);
  var d6 = vec4<f32>(0.0);
  for (var ci = 0u; ci < p.cin; ci++) {
    let plane = (n * p.cin + ci) * p.hin;
    let wrow = ci * 9u;
    for (var ky = 0u; ky < 3u; ky++) {
      let iy = i32(2u * oy + ky) - 1;
      if (iy < 0 || iy >= i32(p.hin)) {
        continue;
      }
      let rb = (plane + u32(iy)) * p.win;
      let st = i32(rb) + ix0;
      let q = st >> 2u;
      let o = u32(st & 3);
      let q0 = ld(q + 0);
      let q1 = ld(q + 1);
      let q2 = ld(q + 2);
      let q3 = ld(q + 3);
      let q4 = ld(q + 4);
      let s0 = keep(shift(q0, q1, o), ix0 + 0);
      let s1 = keep(shift(q1, q2, o), ix0 + 4);
      let s2 = keep(shift(q2, q3, o), ix0 + 8);
      let s3 = keep(shift(q3, q4, o), ix0 + 12);
      let r0 = wrow + 3u * ky + 0u;
      let aw0 = w16(r0, cb, 0u);
      let bw0 = w16(r0, cb, 1u);
      let cw0 = w16(r0, cb, 2u);
      let dw0 = w16(r0, cb, 3u);
      let r1 = wrow + 3u * ky + 1u;
      let aw1 = w16(r1, cb, 0u);
      let bw1 = w16(r1, cb, 1u);
      let cw1 = w16(r1, cb, 2u);
      let dw1 = w16(r1, cb, 3u);
      let r2 = wrow + 3u * ky + 2u;
      let aw2 = w16(r2, cb, 0u);
      let bw2 = w16(r2, cb, 1u);
      let cw2 = w16(r2, cb, 2u);
      let dw2 = w16(r2, cb, 3u);
      // kx = 0
      a0 += s0.x * aw0;
      b0 += s0.x * bw0;
      c0 += s0.x * cw0;
      d0 += s0.x * dw0;
      a1 += s0.z * aw0;
      b1 += s0.z * bw0;
      c1 += s0.z * cw0;
      d1 += s0.z * dw0;
      a2 += s1.x * aw0;
      b2 += s1.x * bw0;
      c2 += s1.x * cw0;
      d2 += s1.x * dw0;
      a3 += s1.z * aw0;
      b3 += s1.z * bw0;
      c3 += s1.z * cw0;
      d3 += s1.z * dw0;
      a4 += s2.x * aw0;
      b4 += s2.x * bw0;
      c4 += s2.x * cw0;
      d4 += s2.x * dw0;
      a5 += s2.z * aw0;
      b5 += s2.z * bw0;
      c5 += s2.z * cw0;
      d5 += s2.z * dw0;
      a6 += s3.x * aw0;
      b6 += s3.x * bw0;
      c6 += s3.x * cw0;
      d6 += s3.x * dw0;
      // kx = 1
      a0 += s0.y * aw1;
      b0 += s0.y * bw1;
      c0 += s0.y * cw1;
      d0 += s0.y * dw1;
      a1 += s0.w * aw1;
      b1 += s0.w * bw1;
      c1 += s0.w * cw1;
      d1 += s0.w * dw1;
      a2 += s1.y * aw1;
      b2 += s1.y * bw1;
      c2 += s1.y * cw1;
      d2 += s1.y * dw1;
      a3 += s1.w * aw1;
      b3 += s1.w * bw1;
      c3 += s1.w * cw1;
      d3 += s1.w * dw1;
      a4 += s2.y * aw1;
      b4 += s2.y * bw1;
      c4 += s2.y * cw1;
      d4 += s2.y * dw1;
      a5 += s2.w * aw1;
      b5 += s2.w * bw1;
      c5 += s2.w * cw1;
      d5 += s2.w * dw1;
      a6 += s3.y * aw1;
      b6 += s3.y * bw1;
      c6 += s3.y * cw1;
      d6 += s3.y * dw1;
      // kx = 2
      a0 += s0.z * aw2;
      b0 += s0.z * bw2;
      c0 += s0.z * cw2;
      d0 += s0.z * dw2;
      a1 += s1.x * aw2;
      b1 += s1.x * bw2;
      c1 += s1.x * cw2;
      d1 += s1.x * dw2;
      a2 += s1.z * aw2;
      b2 += s1.z * bw2;
      c2 += s1.z * cw2;
      d2 += s1.z * dw2;
      a3 += s2.x * aw2;
      b3 += s2.x * bw2;
      c3 += s2.x * cw2;
      d3 += s2.x * dw2;
      a4 += s2.z * aw2;
      b4 += s2.z * bw2;
      c4 += s2.z * cw2;
      d4 += s2.z * dw2;
      a5 += s3.x * aw2;
      b5 += s3.x * bw2;
      c5 += s3.x * cw2;
      d5 += s3.x * dw2;
      a6 += s3.z * aw2;
      b6 += s3.z * bw2;
      c6 += s3.z * cw2;
      d6 += s3.z * dw2;
    }
  }
  let co0 = cb * 16u;
  let o = (n * p.cout + co0) * p.hout * p.wout + oy * p.wout + ox0;
  store8(o, 0u, ox0, live, co0, a0, b0);
  store8(o, 1u, ox0, live, co0, a1, b1);
  store8(o, 2u, ox0, live, co0, a2, b2);
  store8(o, 3u, ox0, live, co0, a3, b3);
  store8(o, 4u, ox0, live, co0, a4, b4);
  store8(o, 5u, ox0, live, co0, a5, b5);
  store8(o, 6u, ox0, live, co0, a6, b6);
  let o8 = o + 8u * p.hout * p.wout;
  store8(o8, 0u, ox0, live, co0 + 8u, c0, d0);
  store8(o8, 1u, ox0, live, co0 + 8u, c1, d1);
  store8(o8, 2u, ox0, live, co0 + 8u, c2, d2);
  store8(o8, 3u, ox0, live, co0 + 8u, c3, d3);
  store8(o8, 4u, ox0, live, co0 + 8u, c4, d4);
  store8(o8, 5u, ox0, live, co0 + 8u, c5, d5);
  store8(o8, 6u, ox0, live, co0 + 8u, c6, d6);
}

fn conv1x1s2(t: u32, cb: u32) {
  // Out-of-range invocations compute a valid block (clamped) and skip the stores, which keeps
  // every SIMD lane active through the loads.
  let live = t < p.total;
  let tc = min(t, p.total - 1u);
  let seg = tc % p.nseg;
  let r = tc / p.nseg;
  let oy = r % p.hout;
  let n = r / p.hout;
  let ox0 = seg * 14u;
  let ix0 = i32(2u * ox0);
  var a0 = vec4<f32>(0.0);
  var b0 = vec4<f32>(0.0);
  var c0 = vec4<f32>(0.0);
  var d0 = vec4<f32>(0.0);
  var a1 = vec4<f32>(0.0);
  var b1 = vec4<f32>(0.0);
  var c1 = vec4<f32>(0.0);
  var d1 = vec4<f32>(0.0);
  var a2 = vec4<f32>(0.0);
  var b2 = vec4<f32>(0.0);
  var c2 = vec4<f32>(0.0);
  var d2 = vec4<f32>(0.0);
  var a3 = vec4<f32>(0.0);
  var b3 = vec4<f32>(0.0);
  var c3 = vec4<f32>(0.0);
  var d3 = vec4<f32>(0.0);
  var a4 = vec4<f32>(0.0);
  var b4 = vec4<f32>(0.0);
  var c4 = vec4<f32>(0.0);
  var d4 = vec4<f32>(0.0);
  var a5 = vec4<f32>(0.0);
  var b5 = vec4<f32>(0.0);
  var c5 = vec4<f32>(0.0);
  var d5 = vec4<f32>(0.0);
  var a6 = vec4<f32>(0.0);
  var b6 = vec4<f32>(0.0);
  var c6 = vec4<f32>(0.0);
  var d6 = vec4<f32>(0.0);
  var a7 = vec4<f32>(0.0);
  var b7 = vec4<f32>(0.0);
  var c7 = vec4<f32>(0.0);
  var d7 = vec4<f32>(0.0);
  var a8 = vec4<f32>(0.0);
  var b8 = vec4<f32>(0.0);
  var c8 = vec4<f32>(0.0);
  var d8 = vec4<f32>(0.0);
  var a9 = vec4<f32>(0.0);
  var b9 = vec4<f32>(0.0);
  var c9 = vec4<f32>(0.0);
  var d9 = vec4<f32>(0.0);
  var a10 = vec4<f32>(0.0);
  var b10 = vec4<f32>(0.0);
  var c10 = vec4<f32>(0.0);
  var d10 = vec4<f32>(0.0);
  var a11 = vec4<f32>(0.0);
  var b11 = vec4<f32>(0.0);
  var c11 = vec4<f32>(0.0);
  var d11 = vec4<f32>(0.0);
  var a12 = vec4<f32>(0.0);
  var b12 = vec4<f32>(0.0);
  var c12 = vec4<f32>(0.0);
  var d12 = vec4<f32>(0.0);
  var a13 = vec4<f32>(0.0);
  var b13 = vec4<f32>(0.0);
  var c13 = vec4<f32>(0.0);
  var d13 = vec4<f32>(0.0);
  for (var ci = 0u; ci < p.cin; ci++) {
    let rb = ((n * p.cin + ci) * p.hin + 2u * oy) * p.win;
    let st = i32(rb) + ix0;
    let q = st >> 2u;
    let o = u32(st & 3);
    let q0 = ld(q + 0);
    let q1 = ld(q + 1);
    let q2 = ld(q + 2);
    let q3 = ld(q + 3);
    let q4 = ld(q + 4);
    let q5 = ld(q + 5);
    let q6 = ld(q + 6);
    let q7 = ld(q + 7);
    let h0 = evens(q0, q1, o);
    let h1 = evens(q1, q2, o);
    let h2 = evens(q2, q3, o);
    let h3 = evens(q3, q4, o);
    let h4 = evens(q4, q5, o);
    let h5 = evens(q5, q6, o);
    let h6 = evens(q6, q7, o);
    let r = ci;
    let aw = w16(r, cb, 0u);
    let bw = w16(r, cb, 1u);
    let cw = w16(r, cb, 2u);
    let dw = w16(r, cb, 3u);
    a0 += h0.x * aw;
    b0 += h0.x * bw;
    c0 += h0.x * cw;
    d0 += h0.x * dw;
    a1 += h0.y * aw;
    b1 += h0.y * bw;
    c1 += h0.y * cw;
    d1 += h0.y * dw;
    a2 += h1.x * aw;
    b2 += h1.x * bw;
    c2 += h1.x * cw;
    d2 += h1.x * dw;
    a3 += h1.y * aw;
    b3 += h1.y * bw;
    c3 += h1.y * cw;
    d3 += h1.y * dw;
    a4 += h2.x * aw;
    b4 += h2.x * bw;
    c4 += h2.x * cw;
    d4 += h2.x * dw;
    a5 += h2.y * aw;
    b5 += h2.y * bw;
    c5 += h2.y * cw;
    d5 += h2.y * dw;
    a6 += h3.x * aw;
    b6 += h3.x * bw;
    c6 += h3.x * cw;
    d6 += h3.x * dw;
    a7 += h3.y * aw;
    b7 += h3.y * bw;
    c7 += h3.y * cw;
    d7 += h3.y * dw;
    a8 += h4.x * aw;
    b8 += h4.x * bw;
    c8 += h4.x * cw;
    d8 += h4.x * dw;
    a9 += h4.y * aw;
    b9 += h4.y * bw;
    c9 += h4.y * cw;
    d9 += h4.y * dw;
    a10 += h5.x * aw;
    b10 += h5.x * bw;
    c10 += h5.x * cw;
    d10 += h5.x * dw;
    a11 += h5.y * aw;
    b11 += h5.y * bw;
    c11 += h5.y * cw;
    d11 += h5.y * dw;
    a12 += h6.x * aw;
    b12 += h6.x * bw;
    c12 += h6.x * cw;
    d12 += h6.x * dw;
    a13 += h6.y * aw;
    b13 += h6.y * bw;
    c13 += h6.y * cw;
    d13 += h6.y * dw;
  }
  let co0 = cb * 16u;
  let o = (n * p.cout + co0) * p.hout * p.wout + oy * p.wout + ox0;
  store8(o, 0u, ox0, live, co0, a0, b0);
  store8(o, 1u, ox0, live, co0, a1, b1);
  store8(o, 2u, ox0, live, co0, a2, b2);
  store8(o, 3u, ox0, live, co0, a3, b3);
  store8(o, 4u, ox0, live, co0, a4, b4);
  store8(o, 5u, ox0, live, co0, a5, b5);
  store8(o, 6u, ox0, live, co0, a6, b6);
  store8(o, 7u, ox0, live, co0, a7, b7);
  store8(o, 8u, ox0, live, co0, a8, b8);
  store8(o, 9u, ox0, live, co0, a9, b9);
  store8(o, 10u, ox0, live, co0, a10, b10);
  store8(o, 11u, ox0, live, co0, a11, b11);
  store8(o, 12u, ox0, live, co0, a12, b12);
  store8(o, 13u, ox0, live, co0, a13, b13);
  let o8 = o + 8u * p.hout * p.wout;
  store8(o8, 0u, ox0, live, co0 + 8u, c0, d0);
  store8(o8, 1u, ox0, live, co0 + 8u, c1, d1);
  store8(o8, 2u, ox0, live, co0 + 8u, c2, d2);
  store8(o8, 3u, ox0, live, co0 + 8u, c3, d3);
  store8(o8, 4u, ox0, live, co0 + 8u, c4, d4);
  store8(o8, 5u, ox0, live, co0 + 8u, c5, d5);
  store8(o8, 6u, ox0, live, co0 + 8u, c6, d6);
  store8(o8, 7u, ox0, live, co0 + 8u, c7, d7);
  store8(o8, 8u, ox0, live, co0 + 8u, c8, d8);
  store8(o8, 9u, ox0, live, co0 + 8u, c9, d9);
  store8(o8, 10u, ox0, live, co0 + 8u, c10, d10);
  store8(o8, 11u, ox0, live, co0 + 8u, c11, d11);
  store8(o8, 12u, ox0, live, co0 + 8u, c12, d12);
  store8(o8, 13u, ox0, live, co0 + 8u, c13, d13);
}
