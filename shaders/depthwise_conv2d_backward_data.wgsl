// Depthwise 2-D convolution, gradient with respect to the input (activation gradient only;
// weight gradients are never formed), NCHW float32:
//
//   gx[n, c, iy, ix] = sum over ky, kx of gy[n, c, oy, ox] * w[c, ky, kx]
//     over the (ky, kx) with iy + PAD - ky = oy * S and ix + PAD - kx = ox * S,
//     0 <= oy < hout, 0 <= ox < wout.
//
// Each invocation computes PX consecutive input-gradient pixels of one row of one (image,
// channel) plane. Segments start at multiples of S, so which (pixel, kx) pairs receive a
// contribution is the same for every segment: q = px + PAD - kx - QLO is a multiple of S
// exactly when ix + PAD - kx is (QLO is the multiple of S at or below PAD - K + 1), and the
// output column is then oxBase + q / S. The gradient row is loaded once per ky into a window of
// GW values (zeros outside 0..wout-1).
//
// Loop steps per invocation: K * (GW + K * PX), a few hundred for every shape
// src/kernels/depthwise.ts allows (llvmpipe's budget is ~65k). The summation order of one
// element depends only on the layer shape (batch invariance).
//
// Constants marked @specialize are set by src/kernels/depthwise.ts.

const PX: u32 = 28u; // @specialize input-gradient pixels per invocation (a multiple of S or win)
const K: u32 = 3u; // @specialize kernel size
const S: u32 = 1u; // @specialize stride of the forward convolution
const PAD: u32 = 1u; // @specialize padding of the forward convolution
const WG: u32 = 64u; // @specialize invocations per workgroup
const QLO: i32 = -2; // @specialize S * floor((PAD - K + 1) / S)
const GW: u32 = 30u; // @specialize (PX - 1 + PAD - QLO) / S + 1, gradient window width

// When true, the result is added to what gx already holds (a tensor with several consumers).
override ACC: bool = false;

struct Params {
  c: u32, // channels
  hin: u32, // forward input (= gx) height
  win: u32,
  hout: u32, // forward output (= gy) height
  wout: u32,
  nseg: u32, // ceil(win / PX)
  total: u32, // n * c * hin * nseg
  fold: u32, // workgroups along x (linear workgroup index = wid.x + wid.y * fold)
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> gy: array<f32>; // [n][c][hout][wout]
@group(0) @binding(2) var<storage, read> w: array<f32>; // [c][K][K]
@group(0) @binding(3) var<storage, read_write> gx: array<f32>; // [n][c][hin][win]

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) li: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  let t = (wid.x + wid.y * p.fold) * WG + li;
  if (t >= p.total) {
    return;
  }
  let seg = t % p.nseg;
  let r = t / p.nseg;
  let iy = r % p.hin;
  let plane = r / p.hin; // n * c + channel
  let ch = plane % p.c;
  let ix0 = seg * PX;
  let oxBase = i32(ix0 / S) + QLO / i32(S);
  let wlast = i32(p.wout) - 1;

  var acc: array<f32, PX>;
  for (var ky = 0u; ky < K; ky++) {
    let ty = i32(iy) + i32(PAD) - i32(ky);
    if (ty < 0 || (ty % i32(S)) != 0) {
      continue;
    }
    let oy = u32(ty) / S;
    if (oy >= p.hout) {
      continue;
    }
    let rowBase = (plane * p.hout + oy) * p.wout;
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

  let o = (plane * p.hin + iy) * p.win + ix0;
  for (var px = 0u; px < PX; px++) {
    if (ix0 + px >= p.win) {
      break;
    }
    var v = acc[px];
    if (ACC) {
      v += gx[o + px];
    }
    gx[o + px] = v;
  }
}
