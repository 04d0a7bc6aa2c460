// Depthwise 2-D convolution, forward (groups = channels, one K x K filter per channel), NCHW
// float32, optional per-channel bias:
//
//   y[n, c, oy, ox] = bias[c] + sum over ky, kx of x[n, c, oy * S - PAD + ky, ox * S - PAD + kx]
//                                                  * w[c, ky, kx]     (zero outside the input)
//
// Each invocation computes PX consecutive output pixels of one row of one (image, channel)
// plane. It loads the K input rows it needs once per row into a window, so each input value is
// read once per kernel row, and it loops only over K * (WIN + K * PX) steps: at most a few
// hundred for every shape src/kernels/depthwise.ts allows, far below the ~65k loop iterations
// per invocation that Mesa's llvmpipe executes correctly.
//
// The summation order of one output (ky outer, kx inner, starting from 0, bias last) depends
// only on the layer shape, so results never depend on the batch size or batch position.
//
// Constants marked @specialize are set by src/kernels/depthwise.ts.

const PX: u32 = 28u; // @specialize output pixels per invocation
const K: u32 = 3u; // @specialize kernel size (K x K)
const S: u32 = 1u; // @specialize stride
const PAD: u32 = 1u; // @specialize zero padding on every side
const WG: u32 = 64u; // @specialize invocations per workgroup
const WIN: u32 = (PX - 1u) * S + K; // input window width

struct Params {
  c: u32, // channels
  hin: u32,
  win: u32,
  hout: u32,
  wout: u32,
  nseg: u32, // ceil(wout / PX)
  total: u32, // n * c * hout * nseg
  fold: u32, // workgroups along x (linear workgroup index = wid.x + wid.y * fold)
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>; // [n][c][hin][win]
@group(0) @binding(2) var<storage, read> w: array<f32>; // [c][K][K] (PyTorch [c][1][K][K])
@group(0) @binding(3) var<storage, read> bias: array<f32>; // [c] (zeros when the layer has none)
@group(0) @binding(4) var<storage, read_write> y: array<f32>; // [n][c][hout][wout]

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) li: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  let t = (wid.x + wid.y * p.fold) * WG + li;
  if (t >= p.total) {
    return;
  }
  let seg = t % p.nseg;
  let r = t / p.nseg;
  let oy = r % p.hout;
  let plane = r / p.hout; // n * c + channel
  let ch = plane % p.c;
  let ox0 = seg * PX;
  let ix0 = i32(ox0 * S) - i32(PAD);
  let wlast = i32(p.win) - 1;

  var acc: array<f32, PX>;
  for (var ky = 0u; ky < K; ky++) {
    let iy = i32(oy * S + ky) - i32(PAD);
    if (iy < 0 || iy >= i32(p.hin)) {
      continue;
    }
    let rowBase = (plane * p.hin + u32(iy)) * p.win;
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
  let o = (plane * p.hout + oy) * p.wout + ox0;
  for (var px = 0u; px < PX; px++) {
    if (ox0 + px >= p.wout) {
      break;
    }
    y[o + px] = acc[px] + b;
  }
}
