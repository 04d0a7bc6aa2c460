// Dense 2-D convolution, forward (groups = 1), NCHW float32, in two variants chosen by the
// compile-time constant VARIANT (src/kernels/conv2d.ts picks it from the layer shape only):
//
//   VARIANT 0, generic: any K, stride and padding. Each invocation computes PX consecutive
//     output pixels of one row for 8 output channels, with loops over the window and taps.
//   VARIANT 1, 3x3 stride 1 padding 1: each invocation computes 14 consecutive output pixels
//     of one row for 8 output channels, written out without inner loops.
//
// Why variant 1 is written out by hand: on Mesa's llvmpipe (the software adapter) the loops of
// the generic body are not unrolled (naga's GLSL loop form defeats Mesa's trip-count analysis),
// so its arrays stay in memory with per-lane indexed access, which runs at ~1-3 GFLOP/s. With
// named accumulators and a named input window everything is a register, and only the input
// window loads (16 per input channel and kernel row) are per-lane gathers; weight loads have
// workgroup-uniform addresses. That runs ~10x faster.
//
// Variant 1 also serves the input gradient of a 3x3 stride-1 padding-1 convolution, which is
// the same convolution with the kernel flipped (override FLIP) and channels swapped; ACC then
// adds the result to what y holds.
//
// All invocations of a workgroup share the channel block (workgroup_id.z), so every weight
// load has a workgroup-uniform address. The summation order for one output element depends
// only on the layer shape, never on the batch size or where the image sits in the batch.
//
// Constants marked @specialize are set by src/kernels/conv2d.ts (a whitelisted substitution of
// integer literals; no other text is generated).

const VARIANT: u32 = 0u; // @specialize 0 generic, 1 3x3 stride 1 padding 1
const PX: u32 = 28u; // @specialize generic: output pixels per invocation
const K: u32 = 3u; // @specialize generic: kernel size (K x K)
const S: u32 = 1u; // @specialize generic: stride
const PAD: u32 = 1u; // @specialize generic: zero padding
const WG: u32 = 16u; // @specialize invocations per workgroup
const WIN: u32 = (PX - 1u) * S + K; // generic: input window width
const PX3: u32 = 14u; // variant 1: output pixels per invocation

// Variant 1 only: read the kernel flipped (tap 8 - t), for the input gradient.
override FLIP: bool = false;
// Add the result to what y already holds (input gradient of a tensor with several consumers).
override ACC: bool = false;

struct Params {
  n: u32, // images in the batch
  cin: u32, // input channels
  hin: u32,
  win: u32,
  cout: u32, // output channels
  hout: u32,
  wout: u32,
  nseg: u32, // ceil(wout / pixels per invocation)
  co4: u32, // padded output channels / 4 (weight row length in vec4)
  total: u32, // n * hout * nseg
  fold: u32, // workgroups along x (linear workgroup index = wid.x + wid.y * fold)
  c0: u32, // generic variant: first input channel summed by this dispatch
  c1: u32, // generic variant: end of that channel range (bias is added when c0 == 0)
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>; // [n][cin][hin][win]
@group(0) @binding(2) var<storage, read> w: array<vec4<f32>>; // [cin][K][K][co4]
@group(0) @binding(3) var<storage, read> bias: array<vec4<f32>>; // [co4]
@group(0) @binding(4) var<storage, read_write> y: array<f32>; // [n][cout][hout][wout]

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) li: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  let t = (wid.x + wid.y * p.fold) * WG + li;
  if (VARIANT == 1u) {
    conv3x3(t, wid.z);
  } else {
    generic(t, wid.z);
  }
}

// Write one result (plus what y holds when ACC).
fn put(i: u32, v: f32) {
  if (ACC) {
    y[i] = v + y[i];
  } else {
    y[i] = v;
  }
}

fn generic(t: u32, cb: u32) {
  if (t >= p.total) {
    return;
  }
  let seg = t % p.nseg;
  let r = t / p.nseg;
  let oy = r % p.hout;
  let n = r / p.hout;
  let ox0 = seg * PX;
  let ix0 = i32(ox0 * S) - i32(PAD);
  let wlast = i32(p.win) - 1;

  var acc: array<vec4<f32>, 2u * PX>;
  // The channel range keeps this invocation's loop iterations far inside llvmpipe's budget
  // (about 65535 per invocation, after which it silently leaves loops); the host splits long
  // reductions over several dispatches that accumulate in a fixed order.
  for (var ci = p.c0; ci < p.c1; ci++) {
    let plane = (n * p.cin + ci) * p.hin;
    for (var ky = 0u; ky < K; ky++) {
      let iy = i32(oy * S + ky) - i32(PAD);
      if (iy < 0 || iy >= i32(p.hin)) {
        continue;
      }
      let rowBase = (plane + u32(iy)) * p.win;
      var xw: array<f32, WIN>;
      for (var j = 0u; j < WIN; j++) {
        let ix = ix0 + i32(j);
        let v = x[rowBase + u32(clamp(ix, 0, wlast))];
        xw[j] = select(0.0, v, ix >= 0 && ix <= wlast);
      }
      for (var kx = 0u; kx < K; kx++) {
        let wb = ((ci * K + ky) * K + kx) * p.co4 + cb * 2u;
        let w0 = w[wb];
        let w1 = w[wb + 1u];
        for (var px = 0u; px < PX; px++) {
          let v = xw[px * S + kx];
          acc[2u * px] += v * w0;
          acc[2u * px + 1u] += v * w1;
        }
      }
    }
  }

  let first = p.c0 == 0u;
  let b0 = select(vec4<f32>(0.0), bias[cb * 2u], first);
  let b1 = select(vec4<f32>(0.0), bias[cb * 2u + 1u], first);
  let co0 = cb * 8u;
  let hw = p.hout * p.wout;
  for (var px = 0u; px < PX; px++) {
    let ox = ox0 + px;
    if (ox >= p.wout) {
      break;
    }
    let a0 = acc[2u * px] + b0;
    let a1 = acc[2u * px + 1u] + b1;
    let o = (n * p.cout + co0) * hw + oy * p.wout + ox;
    for (var c = 0u; c < 8u; c++) {
      if (co0 + c < p.cout) {
        put(o + c * hw, select(a1[c & 3u], a0[c & 3u], c < 4u));
      }
    }
  }
}

// One input value of the row starting at `base`, zero outside 0..wl (the clamp keeps the
// address inside the row).
fn window(base: u32, ix: i32, wl: i32) -> f32 {
  let v = x[base + u32(clamp(ix, 0, wl))];
  return select(0.0, v, ix >= 0 && ix <= wl);
}

// Weight index of tap (ky, kx), flipped for the input gradient.
fn tap(ky: u32, kx: u32) -> u32 {
  if (FLIP) {
    return 8u - 3u * ky - kx;
  }
  return 3u * ky + kx;
}

// Store pixel `i` of the block (8 channels: a = channels 0..3, b = 4..7) with the bias.
fn store_px(o: u32, i: u32, ox0: u32, live: bool, cb: u32, a: vec4<f32>, b: vec4<f32>) {
  if (!live || ox0 + i >= p.wout) {
    return;
  }
  let hw = p.hout * p.wout;
  let va = a + bias[cb * 2u];
  let vb = b + bias[cb * 2u + 1u];
  let co0 = cb * 8u;
  for (var c = 0u; c < 4u; c++) {
    if (co0 + c < p.cout) {
      put(o + i + c * hw, va[c]);
    }
    if (co0 + 4u + c < p.cout) {
      put(o + i + (c + 4u) * hw, vb[c]);
    }
  }
}

fn conv3x3(t: u32, cb: u32) {
  // Out-of-range invocations compute a valid block (clamped) and skip the stores, which keeps
  // every SIMD lane active through the loads.
  let live = t < p.total;
  let tc = min(t, p.total - 1u);
  let seg = tc % p.nseg;
  let r = tc / p.nseg;
  let oy = r % p.hout;
  let n = r / p.hout;
  let ox0 = seg * PX3;
  let ix0 = i32(ox0) - 1;
  let wl = i32(p.win) - 1;

  var a0 = vec4<f32>(0.0);
  var b0 = vec4<f32>(0.0);
  var a1 = vec4<f32>(0.0);
  var b1 = vec4<f32>(0.0);
  var a2 = vec4<f32>(0.0);
  var b2 = vec4<f32>(0.0);
  var a3 = vec4<f32>(0.0);
  var b3 = vec4<f32>(0.0);
  var a4 = vec4<f32>(0.0);
  var b4 = vec4<f32>(0.0);
  var a5 = vec4<f32>(0.0);
  var b5 = vec4<f32>(0.0);
  var a6 = vec4<f32>(0.0);
  var b6 = vec4<f32>(0.0);
  var a7 = vec4<f32>(0.0);
  var b7 = vec4<f32>(0.0);
  var a8 = vec4<f32>(0.0);
  var b8 = vec4<f32>(0.0);
  var a9 = vec4<f32>(0.0);
  var b9 = vec4<f32>(0.0);
  var a10 = vec4<f32>(0.0);
  var b10 = vec4<f32>(0.0);
  var a11 = vec4<f32>(0.0);
  var b11 = vec4<f32>(0.0);
  var a12 = vec4<f32>(0.0);
  var b12 = vec4<f32>(0.0);
  var a13 = vec4<f32>(0.0);
  var b13 = vec4<f32>(0.0);
  for (var ci = 0u; ci < p.cin; ci++) {
    let plane = (n * p.cin + ci) * p.hin;
    for (var ky = 0u; ky < 3u; ky++) {
      let iy = i32(oy + ky) - 1;
      if (iy < 0 || iy >= i32(p.hin)) {
        continue;
      }
      let rb = (plane + u32(iy)) * p.win;
      let e0 = window(rb, ix0 + 0, wl);
      let e1 = window(rb, ix0 + 1, wl);
      let e2 = window(rb, ix0 + 2, wl);
      let e3 = window(rb, ix0 + 3, wl);
      let e4 = window(rb, ix0 + 4, wl);
      let e5 = window(rb, ix0 + 5, wl);
      let e6 = window(rb, ix0 + 6, wl);
      let e7 = window(rb, ix0 + 7, wl);
      let e8 = window(rb, ix0 + 8, wl);
      let e9 = window(rb, ix0 + 9, wl);
      let e10 = window(rb, ix0 + 10, wl);
      let e11 = window(rb, ix0 + 11, wl);
      let e12 = window(rb, ix0 + 12, wl);
      let e13 = window(rb, ix0 + 13, wl);
      let e14 = window(rb, ix0 + 14, wl);
      let e15 = window(rb, ix0 + 15, wl);
      let wb = ci * 9u * p.co4 + cb * 2u;
      let u0 = w[wb + tap(ky, 0u) * p.co4];
      let v0 = w[wb + tap(ky, 0u) * p.co4 + 1u];
      let u1 = w[wb + tap(ky, 1u) * p.co4];
      let v1 = w[wb + tap(ky, 1u) * p.co4 + 1u];
      let u2 = w[wb + tap(ky, 2u) * p.co4];
      let v2 = w[wb + tap(ky, 2u) * p.co4 + 1u];
      // kx = 0
      a0 += e0 * u0;
      b0 += e0 * v0;
      a1 += e1 * u0;
      b1 += e1 * v0;
      a2 += e2 * u0;
      b2 += e2 * v0;
      a3 += e3 * u0;
      b3 += e3 * v0;
      a4 += e4 * u0;
      b4 += e4 * v0;
      a5 += e5 * u0;
      b5 += e5 * v0;
      a6 += e6 * u0;
      b6 += e6 * v0;
      a7 += e7 * u0;
      b7 += e7 * v0;
      a8 += e8 * u0;
      b8 += e8 * v0;
      a9 += e9 * u0;
      b9 += e9 * v0;
      a10 += e10 * u0;
      b10 += e10 * v0;
      a11 += e11 * u0;
      b11 += e11 * v0;
      a12 += e12 * u0;
      b12 += e12 * v0;
      a13 += e13 * u0;
      b13 += e13 * v0;
      // kx = 1
      a0 += e1 * u1;
      b0 += e1 * v1;
      a1 += e2 * u1;
      b1 += e2 * v1;
      a2 += e3 * u1;
      b2 += e3 * v1;
      a3 += e4 * u1;
      b3 += e4 * v1;
      a4 += e5 * u1;
      b4 += e5 * v1;
      a5 += e6 * u1;
      b5 += e6 * v1;
      a6 += e7 * u1;
      b6 += e7 * v1;
      a7 += e8 * u1;
      b7 += e8 * v1;
      a8 += e9 * u1;
      b8 += e9 * v1;
      a9 += e10 * u1;
      b9 += e10 * v1;
      a10 += e11 * u1;
      b10 += e11 * v1;
      a11 += e12 * u1;
      b11 += e12 * v1;
      a12 += e13 * u1;
      b12 += e13 * v1;
      a13 += e14 * u1;
      b13 += e14 * v1;
      // kx = 2
      a0 += e2 * u2;
      b0 += e2 * v2;
      a1 += e3 * u2;
      b1 += e3 * v2;
      a2 += e4 * u2;
      b2 += e4 * v2;
      a3 += e5 * u2;
      b3 += e5 * v2;
      a4 += e6 * u2;
      b4 += e6 * v2;
      a5 += e7 * u2;
      b5 += e7 * v2;
      a6 += e8 * u2;
      b6 += e8 * v2;
      a7 += e9 * u2;
      b7 += e9 * v2;
      a8 += e10 * u2;
      b8 += e10 * v2;
      a9 += e11 * u2;
      b9 += e11 * v2;
      a10 += e12 * u2;
      b10 += e12 * v2;
      a11 += e13 * u2;
      b11 += e13 * v2;
      a12 += e14 * u2;
      b12 += e14 * v2;
      a13 += e15 * u2;
      b13 += e15 * v2;
    }
  }

  let o = (n * p.cout + cb * 8u) * p.hout * p.wout + oy * p.wout + ox0;
  store_px(o, 0u, ox0, live, cb, a0, b0);
  store_px(o, 1u, ox0, live, cb, a1, b1);
  store_px(o, 2u, ox0, live, cb, a2, b2);
  store_px(o, 3u, ox0, live, cb, a3, b3);
  store_px(o, 4u, ox0, live, cb, a4, b4);
  store_px(o, 5u, ox0, live, cb, a5, b5);
  store_px(o, 6u, ox0, live, cb, a6, b6);
  store_px(o, 7u, ox0, live, cb, a7, b7);
  store_px(o, 8u, ox0, live, cb, a8, b8);
  store_px(o, 9u, ox0, live, cb, a9, b9);
  store_px(o, 10u, ox0, live, cb, a10, b10);
  store_px(o, 11u, ox0, live, cb, a11, b11);
  store_px(o, 12u, ox0, live, cb, a12, b12);
  store_px(o, 13u, ox0, live, cb, a13, b13);
}
