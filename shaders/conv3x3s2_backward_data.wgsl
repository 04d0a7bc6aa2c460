// Input gradient (activation gradient only) of a 3x3 stride-2 padding-1 convolution, groups = 1,
// NCHW float32, written out without zero insertion:
//
//   gx[n, ci, iy, ix] = sum over co, ky, kx of gy[n, co, oy, ox] * W[co, ci, ky, kx]
//   where iy = 2 oy - 1 + ky and ix = 2 ox - 1 + kx.
//
// An even gx row 2m receives only ky = 1 (gy row m); an odd row 2m + 1 receives ky = 0 (gy row
// m + 1) and ky = 2 (gy row m). Columns alike: even ix = 2j gets kx = 1 (ox = j), odd ix = 2j + 1
// gets kx = 0 (ox = j + 1) and kx = 2 (ox = j). So a pair of gx rows (2m, 2m + 1) needs gy rows m
// and m + 1 only, and a 2x2 block of gx pixels receives each of the 9 taps exactly once: every
// multiply-add is a real one, and which tap feeds which pixel is fixed in the code, so all SIMD
// lanes run the same instructions (no divergent control flow).
//
// Each invocation computes 4 gx rows (2 row pairs) x 14 gx pixels x 8 gx channels from a
// window of 3 gy rows x 8 gy pixels per gy channel, with named accumulators and a named window
// (Mesa's llvmpipe does not unroll loops; see shaders/conv2d.wgsl). Per gy channel it loads
// 24 gy values and the 9 taps x 2 vec4 of weights (workgroup-uniform addresses: the
// channel block is workgroup_id.z), then does 252 vec4 multiply-adds. The only loop runs
// over the gy channels (at most a few hundred iterations, far inside llvmpipe's loop budget).
// gy outside the tensor reads as zero (clamped address, select). Odd sizes work: the last row
// pair or pixel pair is cut by the stores. The summation order of one gx element (gy channels
// in order, the taps of each in a fixed order) depends only on the layer shape.
//
// src/kernels/conv2d.ts picks this kernel (variant "3x3s2") from the layer shape only.

const WG: u32 = 8u; // @specialize invocations per workgroup (one llvmpipe SIMD pass)
const PX: u32 = 14u; // gx pixels of a row per invocation (fixed by the written-out body)
const ROWS: u32 = 4u; // gx rows per invocation (fixed by the written-out body)

// Add the result to what gx already holds (a tensor with several gradient consumers).
override ACC: bool = false;

struct Params {
  n: u32,
  cin: u32, // channels of gx (forward input channels)
  hin: u32,
  win: u32,
  cout: u32, // channels of gy (forward output channels, summed over)
  hout: u32,
  wout: u32,
  nseg: u32, // ceil(win / PX)
  nband: u32, // ceil(hin / ROWS)
  ci4: u32, // padded input channels / 4 (weight texels per row)
  total: u32, // n * nband * nseg invocations
  fold: u32, // workgroups along x (linear workgroup index = wid.x + wid.y * fold)
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> gy: array<f32>; // [n][cout][hout][wout]
// The weights as an rgba32float texture: texel (j, co * 9 + 3 ky + kx) holds input channels
// 4j .. 4j + 3 of output channel co at tap (ky, kx) (conv2d.ts backwardWeightsFor); on llvmpipe a
// texel fetch costs much less than a storage-buffer load, which is a per-lane loop.
@group(0) @binding(2) var w: texture_2d<f32>; // ci4 x (cout 9) texels
@group(0) @binding(3) var<storage, read_write> gx: array<f32>; // [n][cin][hin][win]

// One gy value at index i, or zero when `ok` is false (i is then clamped inside the tensor).
fn ld(i: u32, ok: bool) -> f32 {
  return select(0.0, gy[i], ok);
}

fn put(i: u32, v: f32) {
  if (ACC) {
    gx[i] = v + gx[i];
  } else {
    gx[i] = v;
  }
}

// Store gx pixel (iy, ix) of the 8 channels of block cb (a = channels 0..3, b = 4..7); `o` is
// the offset of channel 0 of the block in image n.
fn store_px(o: u32, iy: u32, ix: u32, live: bool, cb: u32, a: vec4<f32>, b: vec4<f32>) {
  if (!live || iy >= p.hin || ix >= p.win) {
    return;
  }
  let hw = p.hin * p.win;
  let i = o + iy * p.win + ix;
  let ci0 = cb * 8u;
  for (var c = 0u; c < 4u; c++) {
    if (ci0 + c < p.cin) {
      put(i + c * hw, a[c]);
    }
    if (ci0 + 4u + c < p.cin) {
      put(i + (c + 4u) * hw, b[c]);
    }
  }
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) li: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  // Out-of-range invocations compute a valid block (clamped) and skip the stores, which keeps
  // every SIMD lane active through the loads.
  let t = (wid.x + wid.y * p.fold) * WG + li;
  let live = t < p.total;
  let tc = min(t, p.total - 1u);
  let cb = wid.z;
  let seg = tc % p.nseg;
  let r = tc / p.nseg;
  let band = r % p.nband;
  let n = r / p.nband;
  let ix0 = seg * PX;
  let iy0 = band * ROWS;
  let ox0 = ix0 / 2u;
  let oy0 = iy0 / 2u;
  let hl = p.hout - 1u;
  let wl = p.wout - 1u;

  // gy columns ox0 .. ox0 + 7: clamped index and whether inside the tensor.
  let x0 = min(ox0 + 0u, wl);
  let k0 = ox0 + 0u <= wl;
  let x1 = min(ox0 + 1u, wl);
  let k1 = ox0 + 1u <= wl;
  let x2 = min(ox0 + 2u, wl);
  let k2 = ox0 + 2u <= wl;
  let x3 = min(ox0 + 3u, wl);
  let k3 = ox0 + 3u <= wl;
  let x4 = min(ox0 + 4u, wl);
  let k4 = ox0 + 4u <= wl;
  let x5 = min(ox0 + 5u, wl);
  let k5 = ox0 + 5u <= wl;
  let x6 = min(ox0 + 6u, wl);
  let k6 = ox0 + 6u <= wl;
  let x7 = min(ox0 + 7u, wl);
  let k7 = ox0 + 7u <= wl;
  // gy rows oy0 .. oy0 + 2: clamped row and whether inside the tensor.
  let y0 = min(oy0 + 0u, hl);
  let l0 = oy0 + 0u <= hl;
  let y1 = min(oy0 + 1u, hl);
  let l1 = oy0 + 1u <= hl;
  let y2 = min(oy0 + 2u, hl);
  let l2 = oy0 + 2u <= hl;
  var a0_0 = vec4<f32>(0.0);
  var b0_0 = vec4<f32>(0.0);
  var a0_1 = vec4<f32>(0.0);
  var b0_1 = vec4<f32>(0.0);
  var a0_2 = vec4<f32>(0.0);
  var b0_2 = vec4<f32>(0.0);
  var a0_3 = vec4<f32>(0.0);
  var b0_3 = vec4<f32>(0.0);
  var a0_4 = vec4<f32>(0.0);
  var b0_4 = vec4<f32>(0.0);
  var a0_5 = vec4<f32>(0.0);
  var b0_5 = vec4<f32>(0.0);
  var a0_6 = vec4<f32>(0.0);
  var b0_6 = vec4<f32>(0.0);
  var a0_7 = vec4<f32>(0.0);
  var b0_7 = vec4<f32>(0.0);
  var a0_8 = vec4<f32>(0.0);
  var b0_8 = vec4<f32>(0.0);
  var a0_9 = vec4<f32>(0.0);
  var b0_9 = vec4<f32>(0.0);
  var a0_10 = vec4<f32>(0.0);
  var b0_10 = vec4<f32>(0.0);
  var a0_11 = vec4<f32>(0.0);
  var b0_11 = vec4<f32>(0.0);
  var a0_12 = vec4<f32>(0.0);
  var b0_12 = vec4<f32>(0.0);
  var a0_13 = vec4<f32>(0.0);
  var b0_13 = vec4<f32>(0.0);
  var a1_0 = vec4<f32>(0.0);
  var b1_0 = vec4<f32>(0.0);
  var a1_1 = vec4<f32>(0.0);
  var b1_1 = vec4<f32>(0.0);
  var a1_2 = vec4<f32>(0.0);
  var b1_2 = vec4<f32>(0.0);
  var a1_3 = vec4<f32>(0.0);
  var b1_3 = vec4<f32>(0.0);
  var a1_4 = vec4<f32>(0.0);
  var b1_4 = vec4<f32>(0.0);
  var a1_5 = vec4<f32>(0.0);
  var b1_5 = vec4<f32>(0.0);
  var a1_6 = vec4<f32>(0.0);
  var b1_6 = vec4<f32>(0.0);
  var a1_7 = vec4<f32>(0.0);
  var b1_7 = vec4<f32>(0.0);
  var a1_8 = vec4<f32>(0.0);
  var b1_8 = vec4<f32>(0.0);
  var a1_9 = vec4<f32>(0.0);
  var b1_9 = vec4<f32>(0.0);
  var a1_10 = vec4<f32>(0.0);
  var b1_10 = vec4<f32>(0.0);
  var a1_11 = vec4<f32>(0.0);
  var b1_11 = vec4<f32>(0.0);
  var a1_12 = vec4<f32>(0.0);
  var b1_12 = vec4<f32>(0.0);
  var a1_13 = vec4<f32>(0.0);
  var b1_13 = vec4<f32>(0.0);
  var a2_0 = vec4<f32>(0.0);
  var b2_0 = vec4<f32>(0.0);
  var a2_1 = vec4<f32>(0.0);
  var b2_1 = vec4<f32>(0.0);
  var a2_2 = vec4<f32>(0.0);
  var b2_2 = vec4<f32>(0.0);
  var a2_3 = vec4<f32>(0.0);
  var b2_3 = vec4<f32>(0.0);
  var a2_4 = vec4<f32>(0.0);
  var b2_4 = vec4<f32>(0.0);
  var a2_5 = vec4<f32>(0.0);
  var b2_5 = vec4<f32>(0.0);
  var a2_6 = vec4<f32>(0.0);
  var b2_6 = vec4<f32>(0.0);
  var a2_7 = vec4<f32>(0.0);
  var b2_7 = vec4<f32>(0.0);
  var a2_8 = vec4<f32>(0.0);
  var b2_8 = vec4<f32>(0.0);
  var a2_9 = vec4<f32>(0.0);
  var b2_9 = vec4<f32>(0.0);
  var a2_10 = vec4<f32>(0.0);
  var b2_10 = vec4<f32>(0.0);
  var a2_11 = vec4<f32>(0.0);
  var b2_11 = vec4<f32>(0.0);
  var a2_12 = vec4<f32>(0.0);
  var b2_12 = vec4<f32>(0.0);
  var a2_13 = vec4<f32>(0.0);
  var b2_13 = vec4<f32>(0.0);
  var a3_0 = vec4<f32>(0.0);
  var b3_0 = vec4<f32>(0.0);
  var a3_1 = vec4<f32>(0.0);
  var b3_1 = vec4<f32>(0.0);
  var a3_2 = vec4<f32>(0.0);
  var b3_2 = vec4<f32>(0.0);
  var a3_3 = vec4<f32>(0.0);
  var b3_3 = vec4<f32>(0.0);
  var a3_4 = vec4<f32>(0.0);
  var b3_4 = vec4<f32>(0.0);
  var a3_5 = vec4<f32>(0.0);
  var b3_5 = vec4<f32>(0.0);
  var a3_6 = vec4<f32>(0.0);
  var b3_6 = vec4<f32>(0.0);
  var a3_7 = vec4<f32>(0.0);
  var b3_7 = vec4<f32>(0.0);
  var a3_8 = vec4<f32>(0.0);
  var b3_8 = vec4<f32>(0.0);
  var a3_9 = vec4<f32>(0.0);
  var b3_9 = vec4<f32>(0.0);
  var a3_10 = vec4<f32>(0.0);
  var b3_10 = vec4<f32>(0.0);
  var a3_11 = vec4<f32>(0.0);
  var b3_11 = vec4<f32>(0.0);
  var a3_12 = vec4<f32>(0.0);
  var b3_12 = vec4<f32>(0.0);
  var a3_13 = vec4<f32>(0.0);
  var b3_13 = vec4<f32>(0.0);
  for (var co = 0u; co < p.cout; co++) {
    let plane = (n * p.cout + co) * p.hout;
    let q0 = (plane + y0) * p.wout;
    let g0_0 = ld(q0 + x0, l0 && k0);
    let g0_1 = ld(q0 + x1, l0 && k1);
    let g0_2 = ld(q0 + x2, l0 && k2);
    let g0_3 = ld(q0 + x3, l0 && k3);
    let g0_4 = ld(q0 + x4, l0 && k4);
    let g0_5 = ld(q0 + x5, l0 && k5);
    let g0_6 = ld(q0 + x6, l0 && k6);
    let g0_7 = ld(q0 + x7, l0 && k7);
    let q1 = (plane + y1) * p.wout;
    let g1_0 = ld(q1 + x0, l1 && k0);
    let g1_1 = ld(q1 + x1, l1 && k1);
    let g1_2 = ld(q1 + x2, l1 && k2);
    let g1_3 = ld(q1 + x3, l1 && k3);
    let g1_4 = ld(q1 + x4, l1 && k4);
    let g1_5 = ld(q1 + x5, l1 && k5);
    let g1_6 = ld(q1 + x6, l1 && k6);
    let g1_7 = ld(q1 + x7, l1 && k7);
    let q2 = (plane + y2) * p.wout;
    let g2_0 = ld(q2 + x0, l2 && k0);
    let g2_1 = ld(q2 + x1, l2 && k1);
    let g2_2 = ld(q2 + x2, l2 && k2);
    let g2_3 = ld(q2 + x3, l2 && k3);
    let g2_4 = ld(q2 + x4, l2 && k4);
    let g2_5 = ld(q2 + x5, l2 && k5);
    let g2_6 = ld(q2 + x6, l2 && k6);
    let g2_7 = ld(q2 + x7, l2 && k7);
    let wr = co * 9u;
    let wc = cb * 2u;
    let u00 = textureLoad(w, vec2<u32>(wc, wr), 0);
    let v00 = textureLoad(w, vec2<u32>(wc + 1u, wr), 0);
    let u01 = textureLoad(w, vec2<u32>(wc, wr + 1u), 0);
    let v01 = textureLoad(w, vec2<u32>(wc + 1u, wr + 1u), 0);
    let u02 = textureLoad(w, vec2<u32>(wc, wr + 2u), 0);
    let v02 = textureLoad(w, vec2<u32>(wc + 1u, wr + 2u), 0);
    let u10 = textureLoad(w, vec2<u32>(wc, wr + 3u), 0);
    let v10 = textureLoad(w, vec2<u32>(wc + 1u, wr + 3u), 0);
    let u11 = textureLoad(w, vec2<u32>(wc, wr + 4u), 0);
    let v11 = textureLoad(w, vec2<u32>(wc + 1u, wr + 4u), 0);
    let u12 = textureLoad(w, vec2<u32>(wc, wr + 5u), 0);
    let v12 = textureLoad(w, vec2<u32>(wc + 1u, wr + 5u), 0);
    let u20 = textureLoad(w, vec2<u32>(wc, wr + 6u), 0);
    let v20 = textureLoad(w, vec2<u32>(wc + 1u, wr + 6u), 0);
    let u21 = textureLoad(w, vec2<u32>(wc, wr + 7u), 0);
    let v21 = textureLoad(w, vec2<u32>(wc + 1u, wr + 7u), 0);
    let u22 = textureLoad(w, vec2<u32>(wc, wr + 8u), 0);
    let v22 = textureLoad(w, vec2<u32>(wc + 1u, wr + 8u), 0);
    // gx row 0 (even): ky = 1 from gy row 0
    a0_0 += g0_0 * u11;
    b0_0 += g0_0 * v11;
    a0_2 += g0_1 * u11;
    b0_2 += g0_1 * v11;
    a0_4 += g0_2 * u11;
    b0_4 += g0_2 * v11;
    a0_6 += g0_3 * u11;
    b0_6 += g0_3 * v11;
    a0_8 += g0_4 * u11;
    b0_8 += g0_4 * v11;
    a0_10 += g0_5 * u11;
    b0_10 += g0_5 * v11;
    a0_12 += g0_6 * u11;
    b0_12 += g0_6 * v11;
    a0_1 += g0_1 * u10;
    b0_1 += g0_1 * v10;
    a0_1 += g0_0 * u12;
    b0_1 += g0_0 * v12;
    a0_3 += g0_2 * u10;
    b0_3 += g0_2 * v10;
    a0_3 += g0_1 * u12;
    b0_3 += g0_1 * v12;
    a0_5 += g0_3 * u10;
    b0_5 += g0_3 * v10;
    a0_5 += g0_2 * u12;
    b0_5 += g0_2 * v12;
    a0_7 += g0_4 * u10;
    b0_7 += g0_4 * v10;
    a0_7 += g0_3 * u12;
    b0_7 += g0_3 * v12;
    a0_9 += g0_5 * u10;
    b0_9 += g0_5 * v10;
    a0_9 += g0_4 * u12;
    b0_9 += g0_4 * v12;
    a0_11 += g0_6 * u10;
    b0_11 += g0_6 * v10;
    a0_11 += g0_5 * u12;
    b0_11 += g0_5 * v12;
    a0_13 += g0_7 * u10;
    b0_13 += g0_7 * v10;
    a0_13 += g0_6 * u12;
    b0_13 += g0_6 * v12;
    // gx row 1 (odd): ky = 0 from gy row 1, ky = 2 from gy row 0
    a1_0 += g1_0 * u01;
    b1_0 += g1_0 * v01;
    a1_0 += g0_0 * u21;
    b1_0 += g0_0 * v21;
    a1_2 += g1_1 * u01;
    b1_2 += g1_1 * v01;
    a1_2 += g0_1 * u21;
    b1_2 += g0_1 * v21;
    a1_4 += g1_2 * u01;
    b1_4 += g1_2 * v01;
    a1_4 += g0_2 * u21;
    b1_4 += g0_2 * v21;
    a1_6 += g1_3 * u01;
    b1_6 += g1_3 * v01;
    a1_6 += g0_3 * u21;
    b1_6 += g0_3 * v21;
    a1_8 += g1_4 * u01;
    b1_8 += g1_4 * v01;
    a1_8 += g0_4 * u21;
    b1_8 += g0_4 * v21;
    a1_10 += g1_5 * u01;
    b1_10 += g1_5 * v01;
    a1_10 += g0_5 * u21;
    b1_10 += g0_5 * v21;
    a1_12 += g1_6 * u01;
    b1_12 += g1_6 * v01;
    a1_12 += g0_6 * u21;
    b1_12 += g0_6 * v21;
    a1_1 += g1_1 * u00;
    b1_1 += g1_1 * v00;
    a1_1 += g1_0 * u02;
    b1_1 += g1_0 * v02;
    a1_1 += g0_1 * u20;
    b1_1 += g0_1 * v20;
    a1_1 += g0_0 * u22;
    b1_1 += g0_0 * v22;
    a1_3 += g1_2 * u00;
    b1_3 += g1_2 * v00;
    a1_3 += g1_1 * u02;
    b1_3 += g1_1 * v02;
    a1_3 += g0_2 * u20;
    b1_3 += g0_2 * v20;
    a1_3 += g0_1 * u22;
    b1_3 += g0_1 * v22;
    a1_5 += g1_3 * u00;
    b1_5 += g1_3 * v00;
    a1_5 += g1_2 * u02;
    b1_5 += g1_2 * v02;
    a1_5 += g0_3 * u20;
    b1_5 += g0_3 * v20;
    a1_5 += g0_2 * u22;
    b1_5 += g0_2 * v22;
    a1_7 += g1_4 * u00;
    b1_7 += g1_4 * v00;
    a1_7 += g1_3 * u02;
    b1_7 += g1_3 * v02;
    a1_7 += g0_4 * u20;
    b1_7 += g0_4 * v20;
    a1_7 += g0_3 * u22;
    b1_7 += g0_3 * v22;
    a1_9 += g1_5 * u00;
    b1_9 += g1_5 * v00;
    a1_9 += g1_4 * u02;
    b1_9 += g1_4 * v02;
    a1_9 += g0_5 * u20;
    b1_9 += g0_5 * v20;
    a1_9 += g0_4 * u22;
    b1_9 += g0_4 * v22;
    a1_11 += g1_6 * u00;
    b1_11 += g1_6 * v00;
    a1_11 += g1_5 * u02;
    b1_11 += g1_5 * v02;
    a1_11 += g0_6 * u20;
    b1_11 += g0_6 * v20;
    a1_11 += g0_5 * u22;
    b1_11 += g0_5 * v22;
    a1_13 += g1_7 * u00;
    b1_13 += g1_7 * v00;
    a1_13 += g1_6 * u02;
    b1_13 += g1_6 * v02;
    a1_13 += g0_7 * u20;
    b1_13 += g0_7 * v20;
    a1_13 += g0_6 * u22;
    b1_13 += g0_6 * v22;
    // gx row 2 (even): ky = 1 from gy row 1
    a2_0 += g1_0 * u11;
    b2_0 += g1_0 * v11;
    a2_2 += g1_1 * u11;
    b2_2 += g1_1 * v11;
    a2_4 += g1_2 * u11;
    b2_4 += g1_2 * v11;
    a2_6 += g1_3 * u11;
    b2_6 += g1_3 * v11;
    a2_8 += g1_4 * u11;
    b2_8 += g1_4 * v11;
    a2_10 += g1_5 * u11;
    b2_10 += g1_5 * v11;
    a2_12 += g1_6 * u11;
    b2_12 += g1_6 * v11;
    a2_1 += g1_1 * u10;
    b2_1 += g1_1 * v10;
    a2_1 += g1_0 * u12;
    b2_1 += g1_0 * v12;
    a2_3 += g1_2 * u10;
    b2_3 += g1_2 * v10;
    a2_3 += g1_1 * u12;
    b2_3 += g1_1 * v12;
    a2_5 += g1_3 * u10;
    b2_5 += g1_3 * v10;
    a2_5 += g1_2 * u12;
    b2_5 += g1_2 * v12;
    a2_7 += g1_4 * u10;
    b2_7 += g1_4 * v10;
    a2_7 += g1_3 * u12;
    b2_7 += g1_3 * v12;
    a2_9 += g1_5 * u10;
    b2_9 += g1_5 * v10;
    a2_9 += g1_4 * u12;
    b2_9 += g1_4 * v12;
    a2_11 += g1_6 * u10;
    b2_11 += g1_6 * v10;
    a2_11 += g1_5 * u12;
    b2_11 += g1_5 * v12;
    a2_13 += g1_7 * u10;
    b2_13 += g1_7 * v10;
    a2_13 += g1_6 * u12;
    b2_13 += g1_6 * v12;
    // gx row 3 (odd): ky = 0 from gy row 2, ky = 2 from gy row 1
    a3_0 += g2_0 * u01;
    b3_0 += g2_0 * v01;
    a3_0 += g1_0 * u21;
    b3_0 += g1_0 * v21;
    a3_2 += g2_1 * u01;
    b3_2 += g2_1 * v01;
    a3_2 += g1_1 * u21;
    b3_2 += g1_1 * v21;
    a3_4 += g2_2 * u01;
    b3_4 += g2_2 * v01;
    a3_4 += g1_2 * u21;
    b3_4 += g1_2 * v21;
    a3_6 += g2_3 * u01;
    b3_6 += g2_3 * v01;
    a3_6 += g1_3 * u21;
    b3_6 += g1_3 * v21;
    a3_8 += g2_4 * u01;
    b3_8 += g2_4 * v01;
    a3_8 += g1_4 * u21;
    b3_8 += g1_4 * v21;
    a3_10 += g2_5 * u01;
    b3_10 += g2_5 * v01;
    a3_10 += g1_5 * u21;
    b3_10 += g1_5 * v21;
    a3_12 += g2_6 * u01;
    b3_12 += g2_6 * v01;
    a3_12 += g1_6 * u21;
    b3_12 += g1_6 * v21;
    a3_1 += g2_1 * u00;
    b3_1 += g2_1 * v00;
    a3_1 += g2_0 * u02;
    b3_1 += g2_0 * v02;
    a3_1 += g1_1 * u20;
    b3_1 += g1_1 * v20;
    a3_1 += g1_0 * u22;
    b3_1 += g1_0 * v22;
    a3_3 += g2_2 * u00;
    b3_3 += g2_2 * v00;
    a3_3 += g2_1 * u02;
    b3_3 += g2_1 * v02;
    a3_3 += g1_2 * u20;
    b3_3 += g1_2 * v20;
    a3_3 += g1_1 * u22;
    b3_3 += g1_1 * v22;
    a3_5 += g2_3 * u00;
    b3_5 += g2_3 * v00;
    a3_5 += g2_2 * u02;
    b3_5 += g2_2 * v02;
    a3_5 += g1_3 * u20;
    b3_5 += g1_3 * v20;
    a3_5 += g1_2 * u22;
    b3_5 += g1_2 * v22;
    a3_7 += g2_4 * u00;
    b3_7 += g2_4 * v00;
    a3_7 += g2_3 * u02;
    b3_7 += g2_3 * v02;
    a3_7 += g1_4 * u20;
    b3_7 += g1_4 * v20;
    a3_7 += g1_3 * u22;
    b3_7 += g1_3 * v22;
    a3_9 += g2_5 * u00;
    b3_9 += g2_5 * v00;
    a3_9 += g2_4 * u02;
    b3_9 += g2_4 * v02;
    a3_9 += g1_5 * u20;
    b3_9 += g1_5 * v20;
    a3_9 += g1_4 * u22;
    b3_9 += g1_4 * v22;
    a3_11 += g2_6 * u00;
    b3_11 += g2_6 * v00;
    a3_11 += g2_5 * u02;
    b3_11 += g2_5 * v02;
    a3_11 += g1_6 * u20;
    b3_11 += g1_6 * v20;
    a3_11 += g1_5 * u22;
    b3_11 += g1_5 * v22;
    a3_13 += g2_7 * u00;
    b3_13 += g2_7 * v00;
    a3_13 += g2_6 * u02;
    b3_13 += g2_6 * v02;
    a3_13 += g1_7 * u20;
    b3_13 += g1_7 * v20;
    a3_13 += g1_6 * u22;
    b3_13 += g1_6 * v22;
  }

  let o = (n * p.cin + cb * 8u) * p.hin * p.win;
  store_px(o, iy0 + 0u, ix0 + 0u, live, cb, a0_0, b0_0);
  store_px(o, iy0 + 0u, ix0 + 1u, live, cb, a0_1, b0_1);
  store_px(o, iy0 + 0u, ix0 + 2u, live, cb, a0_2, b0_2);
  store_px(o, iy0 + 0u, ix0 + 3u, live, cb, a0_3, b0_3);
  store_px(o, iy0 + 0u, ix0 + 4u, live, cb, a0_4, b0_4);
  store_px(o, iy0 + 0u, ix0 + 5u, live, cb, a0_5, b0_5);
  store_px(o, iy0 + 0u, ix0 + 6u, live, cb, a0_6, b0_6);
  store_px(o, iy0 + 0u, ix0 + 7u, live, cb, a0_7, b0_7);
  store_px(o, iy0 + 0u, ix0 + 8u, live, cb, a0_8, b0_8);
  store_px(o, iy0 + 0u, ix0 + 9u, live, cb, a0_9, b0_9);
  store_px(o, iy0 + 0u, ix0 + 10u, live, cb, a0_10, b0_10);
  store_px(o, iy0 + 0u, ix0 + 11u, live, cb, a0_11, b0_11);
  store_px(o, iy0 + 0u, ix0 + 12u, live, cb, a0_12, b0_12);
  store_px(o, iy0 + 0u, ix0 + 13u, live, cb, a0_13, b0_13);
  store_px(o, iy0 + 1u, ix0 + 0u, live, cb, a1_0, b1_0);
  store_px(o, iy0 + 1u, ix0 + 1u, live, cb, a1_1, b1_1);
  store_px(o, iy0 + 1u, ix0 + 2u, live, cb, a1_2, b1_2);
  store_px(o, iy0 + 1u, ix0 + 3u, live, cb, a1_3, b1_3);
  store_px(o, iy0 + 1u, ix0 + 4u, live, cb, a1_4, b1_4);
  store_px(o, iy0 + 1u, ix0 + 5u, live, cb, a1_5, b1_5);
  store_px(o, iy0 + 1u, ix0 + 6u, live, cb, a1_6, b1_6);
  store_px(o, iy0 + 1u, ix0 + 7u, live, cb, a1_7, b1_7);
  store_px(o, iy0 + 1u, ix0 + 8u, live, cb, a1_8, b1_8);
  store_px(o, iy0 + 1u, ix0 + 9u, live, cb, a1_9, b1_9);
  store_px(o, iy0 + 1u, ix0 + 10u, live, cb, a1_10, b1_10);
  store_px(o, iy0 + 1u, ix0 + 11u, live, cb, a1_11, b1_11);
  store_px(o, iy0 + 1u, ix0 + 12u, live, cb, a1_12, b1_12);
  store_px(o, iy0 + 1u, ix0 + 13u, live, cb, a1_13, b1_13);
  store_px(o, iy0 + 2u, ix0 + 0u, live, cb, a2_0, b2_0);
  store_px(o, iy0 + 2u, ix0 + 1u, live, cb, a2_1, b2_1);
  store_px(o, iy0 + 2u, ix0 + 2u, live, cb, a2_2, b2_2);
  store_px(o, iy0 + 2u, ix0 + 3u, live, cb, a2_3, b2_3);
  store_px(o, iy0 + 2u, ix0 + 4u, live, cb, a2_4, b2_4);
  store_px(o, iy0 + 2u, ix0 + 5u, live, cb, a2_5, b2_5);
  store_px(o, iy0 + 2u, ix0 + 6u, live, cb, a2_6, b2_6);
  store_px(o, iy0 + 2u, ix0 + 7u, live, cb, a2_7, b2_7);
  store_px(o, iy0 + 2u, ix0 + 8u, live, cb, a2_8, b2_8);
  store_px(o, iy0 + 2u, ix0 + 9u, live, cb, a2_9, b2_9);
  store_px(o, iy0 + 2u, ix0 + 10u, live, cb, a2_10, b2_10);
  store_px(o, iy0 + 2u, ix0 + 11u, live, cb, a2_11, b2_11);
  store_px(o, iy0 + 2u, ix0 + 12u, live, cb, a2_12, b2_12);
  store_px(o, iy0 + 2u, ix0 + 13u, live, cb, a2_13, b2_13);
  store_px(o, iy0 + 3u, ix0 + 0u, live, cb, a3_0, b3_0);
  store_px(o, iy0 + 3u, ix0 + 1u, live, cb, a3_1, b3_1);
  store_px(o, iy0 + 3u, ix0 + 2u, live, cb, a3_2, b3_2);
  store_px(o, iy0 + 3u, ix0 + 3u, live, cb, a3_3, b3_3);
  store_px(o, iy0 + 3u, ix0 + 4u, live, cb, a3_4, b3_4);
  store_px(o, iy0 + 3u, ix0 + 5u, live, cb, a3_5, b3_5);
  store_px(o, iy0 + 3u, ix0 + 6u, live, cb, a3_6, b3_6);
  store_px(o, iy0 + 3u, ix0 + 7u, live, cb, a3_7, b3_7);
  store_px(o, iy0 + 3u, ix0 + 8u, live, cb, a3_8, b3_8);
  store_px(o, iy0 + 3u, ix0 + 9u, live, cb, a3_9, b3_9);
  store_px(o, iy0 + 3u, ix0 + 10u, live, cb, a3_10, b3_10);
  store_px(o, iy0 + 3u, ix0 + 11u, live, cb, a3_11, b3_11);
  store_px(o, iy0 + 3u, ix0 + 12u, live, cb, a3_12, b3_12);
  store_px(o, iy0 + 3u, ix0 + 13u, live, cb, a3_13, b3_13);
}
