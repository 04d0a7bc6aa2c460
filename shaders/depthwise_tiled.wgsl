// Depthwise 2-D convolution for the "tiled" kernel family (hardware adapters), NCHW float32,
// one K x K filter per channel, both directions:
//
// - Forward (BWD = false): src = x [n][C][hs][ws], dst = y [n][C][hd][wd],
//     y[n, c, oy, ox] = sum over ky, kx of x[n, c, oy S - PAD + ky, ox S - PAD + kx] w[c, ky, kx]
//                       + bias[c]                                   (zero outside the input)
// - Input gradient (BWD = true): src = gy [n][C][hs][ws], dst = gx [n][C][hd][wd],
//     gx[n, c, iy, ix] = sum of gy[n, c, oy, ox] w[c, ky, kx]
//       over the (ky, kx) with iy + PAD - ky = oy S and ix + PAD - kx = ox S inside gy,
//     plus (ACC) what gx already holds. The bias binding is unused (bound to zeros).
//
// A workgroup of T x T invocations computes one T x T tile of one (image, channel) plane of dst,
// one pixel per invocation. It first stages the source region the tile reads, halo included,
// in workgroup memory: row by row, neighbouring invocations loading neighbouring addresses
// (coalesced), zeros outside the plane; then each invocation walks its K x K taps in workgroup
// memory. The forward tile reads the (T - 1) S + K square at (oy0 S - PAD, ox0 S - PAD); the
// input gradient's reads the gy rows and columns floor((i0 + PAD - K + 1) / S) ..
// floor((i0 + T - 1 + PAD) / S), at most (T + K - 2) / S + 2 of them.
//
// Summation order: each output accumulates its taps in the order ky = 0..K-1, kx = 0..K-1 (the
// input gradient only the taps that reach it) as a chain of fused multiply-adds from zero, then
// adds the bias (forward) or the held value (ACC). It depends on the layer shape only, never on
// the batch size, the tile or the neighbours. Loop steps per invocation: at most
// ceil(45 * 45 / 64) = 32 staging steps (K = 15, S = 2, T = 16, 64 invocations: the largest
// shape the module accepts) and K * K = 225 tap steps, far below llvmpipe's ~65k budget.

const T: u32 = 16u; // @specialize tile side (T x T invocations)
const K: u32 = 3u; // @specialize square kernel size
const S: u32 = 1u; // @specialize stride of the forward convolution
const PAD: u32 = 1u; // @specialize padding of the forward convolution
const WG: u32 = T * T;
// Staged source square side: forward (T - 1) S + K, input gradient (T + K - 2) / S + 2.
const FW: u32 = (T - 1u) * S + K;
const BW: u32 = (T + K - 2u) / S + 2u;
const NT: u32 = 256u; // @specialize staged elements: FW * FW forward, BW * BW input gradient

// Direction: false = forward of x, true = input gradient of gy.
override BWD: bool = false;
// Add the result to what dst holds (input gradient of a tensor with several consumers).
override ACC: bool = false;

struct Params {
  c: u32, // channels
  hs: u32, // source plane height
  ws: u32, // source plane width
  hd: u32, // produced plane height
  wd: u32, // produced plane width
  tiles_x: u32, // tiles along a produced row: ceil(wd / T)
  tiles: u32, // tiles per plane
  groups: u32, // workgroups in all: n * c * tiles
  fold: u32, // workgroups along x (linear workgroup index = x + y * fold)
}

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>; // [C][K][K]
@group(0) @binding(3) var<storage, read> bias: array<f32>; // [C] (forward; zeros otherwise)
@group(0) @binding(4) var<storage, read_write> dst: array<f32>;

var<workgroup> tile: array<f32, NT>;

// floor(a / b) for b > 0 (WGSL's division truncates toward zero).
fn floorDiv(a: i32, b: i32) -> i32 {
  let q = a / b;
  return select(q, q - 1, a < 0 && q * b != a);
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let g = wid.x + wid.y * P.fold;
  if (g >= P.groups) {
    return;
  }
  let plane = g / P.tiles; // image * C + channel
  let t = g - plane * P.tiles;
  let ty0 = (t / P.tiles_x) * T;
  let tx0 = (t - (t / P.tiles_x) * P.tiles_x) * T;
  let ch = plane % P.c;
  let srcBase = plane * P.hs * P.ws;
  let hs = i32(P.hs);
  let ws = i32(P.ws);

  // Stage the source square of side `side` at (r0, c0): row-major, invocation lid takes
  // elements lid, lid + WG, ... (neighbouring invocations, neighbouring columns of a row).
  var side = FW;
  var r0 = i32(ty0 * S) - i32(PAD);
  var c0 = i32(tx0 * S) - i32(PAD);
  if (BWD) {
    side = BW;
    r0 = floorDiv(i32(ty0 + PAD) - i32(K) + 1, i32(S));
    c0 = floorDiv(i32(tx0 + PAD) - i32(K) + 1, i32(S));
  }
  for (var i = lid; i < side * side; i += WG) {
    let rr = i / side;
    let iy = r0 + i32(rr);
    let ix = c0 + i32(i - rr * side);
    var v = 0.0;
    if (iy >= 0 && ix >= 0 && iy < hs && ix < ws) {
      v = src[srcBase + u32(iy) * P.ws + u32(ix)];
    }
    tile[i] = v;
  }
  workgroupBarrier();

  let ly = lid / T;
  let lx = lid - ly * T;
  let y = ty0 + ly;
  let x = tx0 + lx;
  if (y >= P.hd || x >= P.wd) {
    return;
  }
  let wb = ch * K * K;
  var acc = 0.0;
  if (BWD) {
    // Tap ky reaches gy row (y + PAD - ky) / S when that division is exact; relative to the
    // staged square it is row dy / S with dy = y + PAD - ky - r0 S >= 0.
    let by = i32(y + PAD) - r0 * i32(S);
    let bx = i32(x + PAD) - c0 * i32(S);
    for (var ky = 0u; ky < K; ky++) {
      let dy = u32(by - i32(ky));
      if (dy % S != 0u) {
        continue;
      }
      let row = (dy / S) * BW;
      for (var kx = 0u; kx < K; kx++) {
        let dx = u32(bx - i32(kx));
        if (dx % S != 0u) {
          continue;
        }
        acc = fma(tile[row + dx / S], w[wb + ky * K + kx], acc);
      }
    }
    let o = (plane * P.hd + y) * P.wd + x;
    if (ACC) {
      acc = dst[o] + acc;
    }
    dst[o] = acc;
  } else {
    for (var ky = 0u; ky < K; ky++) {
      let row = (ly * S + ky) * FW + lx * S;
      for (var kx = 0u; kx < K; kx++) {
        acc = fma(tile[row + kx], w[wb + ky * K + kx], acc);
      }
    }
    dst[(plane * P.hd + y) * P.wd + x] = acc + bias[ch];
  }
}
