// Depthwise 2-D convolution, forward (groups = channels, one K x K filter per channel), NCHW
// float32, optional per-channel bias:
//
//   y[n, c, oy, ox] = bias[c] + sum over ky, kx of x[n, c, oy * S - PAD + ky, ox * S - PAD + kx]
//                                                  * w[c, ky, kx]     (zero outside the input)
//
// Two variants, chosen by src/kernels/depthwise.ts from the layer shape only:
//   VARIANT 0, generic: any K, stride 1..2, padding < K. Each invocation computes PX consecutive
//     output pixels of one row, loading each of its K input rows once into a window.
//   VARIANT 1, 3x3 with padding 1, stride 1 or 2: each invocation computes 4 consecutive output
//     pixels as one vec4, written out without arrays, so everything stays in registers on
//     Mesa's llvmpipe (indexed private arrays in loops it cannot unroll live in memory).
//
// Every shape constant is specialised (@specialize), so the index arithmetic divides by
// compile-time constants (a multiply and shift) instead of by uniforms (llvmpipe scalarises
// vector integer division). Only the batch-dependent total and fold are uniforms.
//
// Loop steps per invocation: variant 0, K * (WIN + K * PX), at most 7335 for every shape the
// module accepts; variant 1, 3. Both far below the ~65k loop iterations per invocation that
// llvmpipe executes correctly. The summation order of one output depends only on the layer
// shape, so results never depend on the batch size or batch position.

const VARIANT: u32 = 0u; // @specialize 0 generic, 1 3x3 padding 1 (stride 1 or 2), 4 pixels
const PX: u32 = 28u; // @specialize variant 0: output pixels per invocation
const K: u32 = 3u; // @specialize kernel size (K x K)
const S: u32 = 1u; // @specialize stride
const PAD: u32 = 1u; // @specialize zero padding on every side
const WG: u32 = 64u; // @specialize invocations per workgroup
const C: u32 = 1u; // @specialize channels
const IN_H: u32 = 1u; // @specialize input height
const IN_W: u32 = 1u; // @specialize input width
const OUT_H: u32 = 1u; // @specialize output height
const OUT_W: u32 = 1u; // @specialize output width
const NSEG: u32 = 1u; // @specialize row segments per output row: ceil(OUT_W / pixels)
const WIN: u32 = (PX - 1u) * S + K; // variant 0: input window width

struct Params {
  total: u32, // n * C * OUT_H * NSEG invocations
  fold: u32, // workgroups along x (linear workgroup index = wid.x + wid.y * fold)
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>; // [n][C][IN_H][IN_W]
@group(0) @binding(2) var<storage, read> w: array<f32>; // [C][K][K] (PyTorch [C][1][K][K])
@group(0) @binding(3) var<storage, read> bias: array<f32>; // [C] (zeros when the layer has none)
@group(0) @binding(4) var<storage, read_write> y: array<f32>; // [n][C][OUT_H][OUT_W]

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) li: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  let t = (wid.x + wid.y * p.fold) * WG + li;
  if (t >= p.total) {
    return;
  }
  let seg = t % NSEG;
  let r = t / NSEG;
  let oy = r % OUT_H;
  let plane = r / OUT_H; // image * C + channel
  if (VARIANT == 1u) {
    conv3x3(plane, oy, seg * 4u);
  } else {
    generic(plane, oy, seg * PX);
  }
}

fn generic(plane: u32, oy: u32, ox0: u32) {
  let ch = plane % C;
  let ix0 = i32(ox0 * S) - i32(PAD);
  let wlast = i32(IN_W) - 1;
  var acc: array<f32, PX>;
  for (var ky = 0u; ky < K; ky++) {
    let iy = i32(oy * S + ky) - i32(PAD);
    if (iy < 0 || iy >= i32(IN_H)) {
      continue;
    }
    let rowBase = (plane * IN_H + u32(iy)) * IN_W;
    var xw: array<f32, WIN>;
    for (var j = 0u; j < WIN; j++) {
      let ix = ix0 + i32(j);
      let v = x[rowBase + u32(clamp(ix, 0, wlast))];
      xw[j] = select(0.0, v, ix >= 0 && ix <= wlast);
    }
    let wb = (ch * K + ky) * K;
    for (var kx = 0u; kx < K; kx++) {
      let wv = w[wb + kx];
      for (var px = 0u; px < PX; px++) {
        acc[px] += xw[px * S + kx] * wv;
      }
    }
  }
  let b = bias[ch];
  let o = (plane * OUT_H + oy) * OUT_W + ox0;
  for (var px = 0u; px < PX; px++) {
    if (ox0 + px >= OUT_W) {
      break;
    }
    y[o + px] = acc[px] + b;
  }
}

// Input value at column ix of the row starting at `base`, zero outside 0..IN_W-1 (the clamp
// keeps the load in bounds).
fn ld(base: u32, ix: i32) -> f32 {
  let v = x[base + u32(clamp(ix, 0, i32(IN_W) - 1))];
  return select(0.0, v, ix >= 0 && ix < i32(IN_W));
}

fn conv3x3(plane: u32, oy: u32, ox0: u32) {
  let ch = plane % C;
  let ix0 = i32(ox0 * S) - 1;
  var acc = vec4<f32>(0.0);
  for (var ky = 0u; ky < 3u; ky++) {
    let iy = i32(oy * S + ky) - 1;
    if (iy < 0 || iy >= i32(IN_H)) {
      continue;
    }
    let base = (plane * IN_H + u32(iy)) * IN_W;
    let wb = ch * 9u + ky * 3u;
    let w0 = w[wb];
    let w1 = w[wb + 1u];
    let w2 = w[wb + 2u];
    let a0 = ld(base, ix0);
    let a1 = ld(base, ix0 + 1);
    let a2 = ld(base, ix0 + 2);
    let a3 = ld(base, ix0 + 3);
    let a4 = ld(base, ix0 + 4);
    let a5 = ld(base, ix0 + 5);
    if (S == 1u) {
      acc += vec4<f32>(a0, a1, a2, a3) * w0;
      acc += vec4<f32>(a1, a2, a3, a4) * w1;
      acc += vec4<f32>(a2, a3, a4, a5) * w2;
    } else {
      let a6 = ld(base, ix0 + 6);
      let a7 = ld(base, ix0 + 7);
      let a8 = ld(base, ix0 + 8);
      acc += vec4<f32>(a0, a2, a4, a6) * w0;
      acc += vec4<f32>(a1, a3, a5, a7) * w1;
      acc += vec4<f32>(a2, a4, a6, a8) * w2;
    }
  }
  let v = acc + bias[ch];
  let o = (plane * OUT_H + oy) * OUT_W + ox0;
  y[o] = v.x;
  if (ox0 + 1u < OUT_W) {
    y[o + 1u] = v.y;
  }
  if (ox0 + 2u < OUT_W) {
    y[o + 2u] = v.z;
  }
  if (ox0 + 3u < OUT_W) {
    y[o + 3u] = v.w;
  }
}
