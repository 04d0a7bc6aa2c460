// Dense 2-D convolution, backward with respect to the input (transposed convolution),
// groups = 1, NCHW float32. Only activation gradients: weight gradients are never formed.
//
// gx[n, ci, iy, ix] = sum over co, ky, kx of gy[n, co, oy, ox] * W[co, ci, ky, kx]
// where iy = oy * S - PAD + ky and ix = ox * S - PAD + kx.
//
// This generic kernel serves the shapes without a faster written-out kernel: 3x3 stride-1
// padding-1 runs as a flipped forward convolution (shaders/conv2d.wgsl, variant 1), 1x1
// stride 1 on shaders/conv1x1.wgsl, 3x3 stride-2 padding-1 and 1x1 stride-2 (even width) on
// shaders/conv3x3s2_backward_data.wgsl and shaders/conv1x1s2_backward_data.wgsl.
//
// Each invocation computes PX consecutive input-gradient pixels of one row for a block of 8
// input channels (workgroup_id.y, so weight addresses are workgroup-uniform). The first pixel
// of each segment is a multiple of S, so which (pixel, kx) pairs receive a contribution is
// known at compile time. Summation order depends only on the layer shape.
//
// Constants marked @specialize are set by src/kernels/conv2d.ts.

const PX: u32 = 28u; // @specialize input-gradient pixels per invocation
const K: u32 = 3u; // @specialize kernel size
const S: u32 = 1u; // @specialize stride of the forward convolution
const PAD: u32 = 1u; // @specialize padding of the forward convolution
const WG: u32 = 32u; // @specialize invocations per workgroup
const QLO: i32 = -2; // @specialize S * floor((PAD - K + 1) / S)
const GW: u32 = 30u; // @specialize (PX - 1 + PAD - QLO) / S + 1, gradient window width

// When true, the result is added to what gx already holds (a tensor with several consumers).
override ACC: bool = false;

struct Params {
  n: u32,
  cin: u32, // channels of gx (forward input channels)
  hin: u32,
  win: u32,
  cout: u32, // channels of gy (forward output channels)
  hout: u32,
  wout: u32,
  nseg: u32, // ceil(win / PX)
  ci4: u32, // padded input channels / 4 (weight row length in vec4)
  total: u32, // n * hin * nseg
  fold: u32, // workgroups along x (linear workgroup index = wid.x + wid.y * fold)
  c0: u32, // first output channel (of gy) summed by this dispatch
  c1: u32, // end of that channel range
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> gy: array<f32>; // [n][cout][hout][wout]
@group(0) @binding(2) var<storage, read> w: array<vec4<f32>>; // [cout][K][K][ci4]
@group(0) @binding(3) var<storage, read_write> gx: array<f32>; // [n][cin][hin][win]

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) li: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  let t = (wid.x + wid.y * p.fold) * WG + li;
  if (t >= p.total) {
    return;
  }
  let cb = wid.z;
  let seg = t % p.nseg;
  let r = t / p.nseg;
  let iy = r % p.hin;
  let n = r / p.hin;
  let ix0 = seg * PX;
  let oxBase = i32(ix0 / S) + QLO / i32(S);
  let wlast = i32(p.wout) - 1;

  var acc: array<vec4<f32>, 2u * PX>;
  // The channel range keeps this invocation's loop iterations far inside llvmpipe's budget
  // (about 65535 per invocation); the host splits long reductions over several dispatches.
  for (var co = p.c0; co < p.c1; co++) {
    let plane = (n * p.cout + co) * p.hout;
    for (var ky = 0u; ky < K; ky++) {
      let tt = i32(iy) + i32(PAD) - i32(ky);
      if (tt < 0 || (tt % i32(S)) != 0) {
        continue;
      }
      let oy = u32(tt) / S;
      if (oy >= p.hout) {
        continue;
      }
      let rowBase = (plane + oy) * p.wout;
      var gw: array<f32, GW>;
      for (var j = 0u; j < GW; j++) {
        let ox = oxBase + i32(j);
        let v = gy[rowBase + u32(clamp(ox, 0, wlast))];
        gw[j] = select(0.0, v, ox >= 0 && ox <= wlast);
      }
      for (var kx = 0u; kx < K; kx++) {
        let wb = ((co * K + ky) * K + kx) * p.ci4 + cb * 2u;
        let w0 = w[wb];
        let w1 = w[wb + 1u];
        for (var px = 0u; px < PX; px++) {
          let q = i32(px) + i32(PAD) - i32(kx) - QLO;
          if ((q % i32(S)) == 0) {
            let v = gw[u32(q) / S];
            acc[2u * px] += v * w0;
            acc[2u * px + 1u] += v * w1;
          }
        }
      }
    }
  }

  let ci0 = cb * 8u;
  let hw = p.hin * p.win;
  for (var px = 0u; px < PX; px++) {
    let ix = ix0 + px;
    if (ix >= p.win) {
      break;
    }
    let a0 = acc[2u * px];
    let a1 = acc[2u * px + 1u];
    let o = (n * p.cin + ci0) * hw + iy * p.win + ix;
    for (var c = 0u; c < 8u; c++) {
      if (ci0 + c < p.cin) {
        var v = select(a1[c & 3u], a0[c & 3u], c < 4u);
        if (ACC) {
          v += gx[o + c * hw];
        }
        gx[o + c * hw] = v;
      }
    }
  }
}
