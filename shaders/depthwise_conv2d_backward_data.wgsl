// Depthwise 2-D convolution, gradient with respect to the input (activation gradient only;
// weight gradients are never formed), NCHW float32:
//
//   gx[n, c, iy, ix] = sum over ky, kx of gy[n, c, oy, ox] * w[c, ky, kx]
//     over the (ky, kx) with iy + PAD - ky = oy * S and ix + PAD - kx = ox * S,
//     0 <= oy < OUT_H, 0 <= ox < OUT_W.
//
// Two variants, chosen by src/kernels/depthwise.ts from the layer shape only:
//   VARIANT 0, generic: each invocation computes PX consecutive input-gradient pixels of one
//     row. Segments start at multiples of S, so which (pixel, kx) pairs receive a contribution
//     is the same for every segment: q = px + PAD - kx - QLO is a multiple of S exactly when
//     ix + PAD - kx is (QLO is the multiple of S at or below PAD - K + 1), and the output
//     column is then oxBase + q / S. The gradient row is loaded once per ky into a window of GW
//     values (zeros outside the row).
//   VARIANT 1, 3x3 with padding 1, stride 1 or 2: 4 consecutive input-gradient pixels (the
//     first a multiple of 4) as one vec4, written out without arrays. Stride 1 is the forward
//     correlation with the flipped kernel; stride 2 gives even pixels the centre tap only and
//     odd pixels the two outer taps.
//
// Shape constants are specialised (@specialize) so index arithmetic divides by constants. Loop
// steps per invocation: variant 0, K * (GW + K * PX) (a few thousand at most for the shapes the
// module accepts); variant 1, 3; far below llvmpipe's ~65k per-invocation budget. The
// summation order of one element depends only on the layer shape (batch invariance).

const VARIANT: u32 = 0u; // @specialize 0 generic, 1 3x3 padding 1 (stride 1 or 2), 4 pixels
const PX: u32 = 28u; // @specialize variant 0: pixels per invocation (a multiple of S, or IN_W)
const K: u32 = 3u; // @specialize kernel size
const S: u32 = 1u; // @specialize stride of the forward convolution
const PAD: u32 = 1u; // @specialize padding of the forward convolution
const WG: u32 = 64u; // @specialize invocations per workgroup
const QLO: i32 = -2; // @specialize variant 0: S * floor((PAD - K + 1) / S)
const GW: u32 = 30u; // @specialize variant 0: (PX - 1 + PAD - QLO) / S + 1, window width
const C: u32 = 1u; // @specialize channels
const IN_H: u32 = 1u; // @specialize forward input (= gx) height
const IN_W: u32 = 1u; // @specialize forward input width
const OUT_H: u32 = 1u; // @specialize forward output (= gy) height
const OUT_W: u32 = 1u; // @specialize forward output width
const NSEG: u32 = 1u; // @specialize segments per gx row: ceil(IN_W / pixels)

// When true, the result is added to what gx already holds (a tensor with several consumers).
override ACC: bool = false;

struct Params {
  total: u32, // n * C * IN_H * NSEG invocations
  fold: u32, // workgroups along x (linear workgroup index = wid.x + wid.y * fold)
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> gy: array<f32>; // [n][C][OUT_H][OUT_W]
@group(0) @binding(2) var<storage, read> w: array<f32>; // [C][K][K]
@group(0) @binding(3) var<storage, read_write> gx: array<f32>; // [n][C][IN_H][IN_W]

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) li: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  let t = (wid.x + wid.y * p.fold) * WG + li;
  if (t >= p.total) {
    return;
  }
  let seg = t % NSEG;
  let r = t / NSEG;
  let iy = r % IN_H;
  let plane = r / IN_H; // image * C + channel
  if (VARIANT == 1u) {
    grad3x3(plane, iy, seg * 4u);
  } else {
    generic(plane, iy, seg * PX);
  }
}

// Write one gradient value (plus what gx holds when ACC).
fn put(i: u32, v: f32) {
  if (ACC) {
    gx[i] = v + gx[i];
  } else {
    gx[i] = v;
  }
}

fn generic(plane: u32, iy: u32, ix0: u32) {
  let ch = plane % C;
  let oxBase = i32(ix0 / S) + QLO / i32(S);
  let wlast = i32(OUT_W) - 1;
  var acc: array<f32, PX>;
  for (var ky = 0u; ky < K; ky++) {
    let ty = i32(iy) + i32(PAD) - i32(ky);
    if (ty < 0 || (ty % i32(S)) != 0) {
      continue;
    }
    let oy = u32(ty) / S;
    if (oy >= OUT_H) {
      continue;
    }
    let rowBase = (plane * OUT_H + oy) * OUT_W;
    var gw: array<f32, GW>;
    for (var j = 0u; j < GW; j++) {
      let ox = oxBase + i32(j);
      let v = gy[rowBase + u32(clamp(ox, 0, wlast))];
      gw[j] = select(0.0, v, ox >= 0 && ox <= wlast);
    }
    let wb = (ch * K + ky) * K;
    for (var kx = 0u; kx < K; kx++) {
      let wv = w[wb + kx];
      for (var px = 0u; px < PX; px++) {
        let q = i32(px) + i32(PAD) - i32(kx) - QLO;
        if ((q % i32(S)) == 0) {
          acc[px] += gw[u32(q) / S] * wv;
        }
      }
    }
  }
  let o = (plane * IN_H + iy) * IN_W + ix0;
  for (var px = 0u; px < PX; px++) {
    if (ix0 + px >= IN_W) {
      break;
    }
    put(o + px, acc[px]);
  }
}

// Gradient value at column ox of the gy row starting at `base`, zero outside 0..OUT_W-1.
fn ld(base: u32, ox: i32) -> f32 {
  let v = gy[base + u32(clamp(ox, 0, i32(OUT_W) - 1))];
  return select(0.0, v, ox >= 0 && ox < i32(OUT_W));
}

fn grad3x3(plane: u32, iy: u32, ix0: u32) {
  let ch = plane % C;
  var acc = vec4<f32>(0.0);
  for (var ky = 0u; ky < 3u; ky++) {
    let ty = i32(iy) + 1 - i32(ky);
    if (ty < 0 || (ty % i32(S)) != 0) {
      continue;
    }
    let oy = u32(ty) / S;
    if (oy >= OUT_H) {
      continue;
    }
    let base = (plane * OUT_H + oy) * OUT_W;
    let wb = ch * 9u + ky * 3u;
    let w0 = w[wb];
    let w1 = w[wb + 1u];
    let w2 = w[wb + 2u];
    if (S == 1u) {
      // gx[ix] gets gy[ix + 1 - kx] w[kx]; g_j = gy[ix0 - 1 + j].
      let g0 = ld(base, i32(ix0) - 1);
      let g1 = ld(base, i32(ix0));
      let g2 = ld(base, i32(ix0) + 1);
      let g3 = ld(base, i32(ix0) + 2);
      let g4 = ld(base, i32(ix0) + 3);
      let g5 = ld(base, i32(ix0) + 4);
      acc += vec4<f32>(g2, g3, g4, g5) * w0;
      acc += vec4<f32>(g1, g2, g3, g4) * w1;
      acc += vec4<f32>(g0, g1, g2, g3) * w2;
    } else {
      // ix0 = 2m: gx[2m] = gy[m] w1; gx[2m+1] = gy[m+1] w0 + gy[m] w2; and so on.
      let m = i32(ix0 / 2u);
      let g0 = ld(base, m);
      let g1 = ld(base, m + 1);
      let g2 = ld(base, m + 2);
      acc += vec4<f32>(g0, g1, g1, g2) * vec4<f32>(w1, w0, w1, w0);
      acc += vec4<f32>(0.0, g0, 0.0, g1) * vec4<f32>(0.0, w2, 0.0, w2);
    }
  }
  let o = (plane * IN_H + iy) * IN_W + ix0;
  put(o, acc.x);
  if (ix0 + 1u < IN_W) {
    put(o + 1u, acc.y);
  }
  if (ix0 + 2u < IN_W) {
    put(o + 2u, acc.z);
  }
  if (ix0 + 3u < IN_W) {
    put(o + 3u, acc.w);
  }
}
