// Tiled convolution as an implicit matrix product (the "tiled" kernel family, for hardware
// adapters): out[n][c][p] = sum over k of A[(n, p)][k] * B[k][c] (+ bias[c]), where the rows of
// A are the batch x output pixels, the reduction index k = ci * K * K + tap runs over the
// source channels x kernel taps, and A is never stored: each element is gathered from the
// source tensor when its tile is staged.
//
// - Forward (BWD = false): src = x [n][csum][hs][ws], B = weights [csum][K][K][co4 * 4]
//   (forwardWeights), A[(n, oy, ox)][(ci, ky, kx)] = x[n][ci][oy*S - PAD + ky][ox*S - PAD + kx]
//   (zero outside the plane).
// - Input gradient (BWD = true): src = gy [n][csum][hs][ws] (csum = the layer's output
//   channels), B = backwardWeights [csum][K][K][co4 * 4], and for gx pixel (y, x):
//   A[(n, y, x)][(co, ky, kx)] = gy[n][co][(y + PAD - ky) / S][(x + PAD - kx) / S] when both
//   divisions are exact and inside the plane, else zero.
//
// A workgroup of WGX x WGY invocations computes a tile of TM = 4 WGY pixels x TN = 4 WGX
// channels; it walks the reduction in steps of TK, staging the TM x TK slice of A and the
// TK x TN slice of B in workgroup memory (neighbouring invocations gather neighbouring pixels
// and neighbouring vec4 of weights: coalesced reads), then each invocation accumulates its own
// 4 pixels x 4 channels (one vec4 of A, one vec4 of B per step, 16 FMAs).
//
// The kernel size, stride and padding are compile-time constants (one pipeline per layer shape
// class: iResNet has four), so the gather's index arithmetic divides by constants.
//
// Summation order: each output is bias-free accumulated over k = 0, 1, ..., ksum - 1 in order
// (the zero padding of the last tile adds exact zeros), then the bias is added, then (ACC) the
// value already held. The order depends on the layer shape only, never on the batch size, the
// tile position or the neighbours.

const WGX: u32 = 16u; // @specialize invocations along the channels (TN = 4 WGX)
const WGY: u32 = 16u; // @specialize invocations along the pixels (TM = 4 WGY)
const TK: u32 = 16u; // @specialize reduction steps staged per tile
const K: u32 = 3u; // @specialize square kernel size
const S: i32 = 1; // @specialize stride
const PAD: i32 = 1; // @specialize padding
const KK: u32 = K * K;
const WG: u32 = WGX * WGY;
const TM: u32 = 4u * WGY;

// Direction: false = forward of x, true = input gradient of gy.
override BWD: bool = false;
// Add the result to what dst holds.
override ACC: bool = false;
// Input gradient of a stride-2 layer, one output phase per dispatch: the gx pixels
// (2 yy + py, 2 xx + px) form the rows, and the reduction walks only the taps
// ky = ky0 + 2 jy, kx = kx0 + 2 jx that reach them (the others would gather zeros). Each output
// sums the same nonzero terms in the same order as the full walk, bit for bit.
override PHASE: bool = false;

struct Params {
  csum: u32, // source channels summed over
  hs: u32, // source plane height
  ws: u32, // source plane width
  cout: u32, // channels produced
  wo: u32, // produced plane width
  plane: u32, // produced plane size (ho * wo)
  m: u32, // n * plane: matrix rows
  ksum: u32, // csum * k * k: reduction length
  co4: u32, // weight row length in vec4 (padded produced channels / 4)
  fold: u32, // workgroups along x (tile index = x + y * fold)
  // PHASE only (zero otherwise): the phase, its first taps, log2 of the taps per channel and
  // of the taps per row, and the whole gx plane (wo and plane above are the phase's).
  py: u32,
  px: u32,
  ky0: u32,
  kx0: u32,
  tshift: u32,
  xshift: u32,
  wfull: u32,
  pfull: u32,
}

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read> wt: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> dst: array<f32>;

var<workgroup> As: array<vec4<f32>, TK * WGY>; // [TK][TM / 4]: 4 pixels per vec4
var<workgroup> Bs: array<vec4<f32>, TK * WGX>; // [TK][TN / 4]: 4 channels per vec4

// Write one pixel's 4 channels (row m of the product, channels c..c+3).
fn store(m: u32, c: u32, v: vec4<f32>) {
  if (m >= P.m) {
    return;
  }
  let img = m / P.plane;
  let p = m - img * P.plane;
  var base = img * P.cout * P.plane + p;
  var chan = P.plane;
  if (PHASE) {
    let yy = p / P.wo;
    let xx = p - yy * P.wo;
    base = img * P.cout * P.pfull + (2u * yy + P.py) * P.wfull + 2u * xx + P.px;
    chan = P.pfull;
  }
  for (var j = 0u; j < 4u; j++) {
    if (c + j < P.cout) {
      let i = base + (c + j) * chan;
      var r = v[j] + bias[c + j];
      if (ACC) {
        r = dst[i] + r;
      }
      dst[i] = r;
    }
  }
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let m0 = (wid.x + wid.y * P.fold) * TM;
  let c0 = wid.z * 4u * WGX;
  // Compute role: 4 pixels (ty) x 4 channels (tx); pixels vary fastest across invocations.
  let ty = lid % WGY;
  let tx = lid / WGY;
  // Gather role: one fixed pixel of the tile, every (WG / TM)-th row of the k slice.
  let am = lid % TM;
  let gm = m0 + am;
  let a_ok = gm < P.m;
  let img = gm / P.plane;
  let p = gm - img * P.plane;
  var oy = i32(p / P.wo);
  var ox = i32(p - (p / P.wo) * P.wo);
  if (PHASE) {
    oy = 2 * oy + i32(P.py);
    ox = 2 * ox + i32(P.px);
  }
  let src_img = img * P.csum * P.hs * P.ws;
  let hs = i32(P.hs);
  let ws = i32(P.ws);
  // Weight role: one vec4 column of the tile, every WGY-th row of the k slice.
  let bn = lid % WGX;
  let c4 = c0 / 4u + bn;

  var acc0 = vec4<f32>(0.0);
  var acc1 = vec4<f32>(0.0);
  var acc2 = vec4<f32>(0.0);
  var acc3 = vec4<f32>(0.0);
  let ntiles = (P.ksum + TK - 1u) / TK;
  for (var t = 0u; t < ntiles; t++) {
    let k0 = t * TK;
    for (var r = lid / TM; r < TK; r += WG / TM) {
      let kg = k0 + r;
      var v = 0.0;
      if (a_ok && kg < P.ksum) {
        // Divisions by the compile-time kernel size and stride: multiplies and shifts.
        var ci = kg / KK;
        let tap = kg - ci * KK;
        var ky = i32(tap / K);
        var kx = i32(tap) - ky * i32(K);
        if (PHASE) {
          ci = kg >> P.tshift;
          let t = kg - (ci << P.tshift);
          let jy = t >> P.xshift;
          ky = i32(P.ky0 + 2u * jy);
          kx = i32(P.kx0 + 2u * (t - (jy << P.xshift)));
        }
        var iy: i32;
        var ix: i32;
        var ok: bool;
        if (BWD) {
          let ny = oy + PAD - ky;
          let nx = ox + PAD - kx;
          iy = ny / S;
          ix = nx / S;
          ok = ny >= 0 && nx >= 0 && iy * S == ny && ix * S == nx && iy < hs && ix < ws;
        } else {
          iy = oy * S - PAD + ky;
          ix = ox * S - PAD + kx;
          ok = iy >= 0 && ix >= 0 && iy < hs && ix < ws;
        }
        if (ok) {
          v = src[src_img + (ci * P.hs + u32(iy)) * P.ws + u32(ix)];
        }
      }
      As[r * WGY + am / 4u][am % 4u] = v;
    }
    for (var r = lid / WGX; r < TK; r += WGY) {
      let kg = k0 + r;
      var b = vec4<f32>(0.0);
      if (kg < P.ksum && c4 < P.co4) {
        var row = kg;
        if (PHASE) {
          let ci = kg >> P.tshift;
          let t = kg - (ci << P.tshift);
          let jy = t >> P.xshift;
          row = ci * KK + (P.ky0 + 2u * jy) * K + P.kx0 + 2u * (t - (jy << P.xshift));
        }
        b = wt[row * P.co4 + c4];
      }
      Bs[r * WGX + bn] = b;
    }
    workgroupBarrier();
    for (var r = 0u; r < TK; r++) {
      let a = As[r * WGY + ty];
      let b = Bs[r * WGX + tx];
      acc0 = fma(vec4<f32>(a.x), b, acc0);
      acc1 = fma(vec4<f32>(a.y), b, acc1);
      acc2 = fma(vec4<f32>(a.z), b, acc2);
      acc3 = fma(vec4<f32>(a.w), b, acc3);
    }
    workgroupBarrier();
  }
  let m = m0 + ty * 4u;
  let c = c0 + tx * 4u;
  store(m, c, acc0);
  store(m + 1u, c, acc1);
  store(m + 2u, c, acc2);
  store(m + 3u, c, acc3);
}
