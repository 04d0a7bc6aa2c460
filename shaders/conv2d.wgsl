// Dense 2-D convolution, forward (groups = 1), NCHW float32.
//
// Each invocation computes PX consecutive output pixels of one output row for a block of 8
// output channels, keeping the 8 x PX sums in registers. All invocations of a workgroup share
// the channel block (workgroup_id.y), so every weight load has a workgroup-uniform address.
// The input row window is read once per (input channel, kernel row) and reused for all kx.
// The summation order for one output element depends only on the layer shape, never on the
// batch size or on where the image sits in the batch.
//
// Compile-time constants below are specialised by src/kernels/conv2d.ts (a whitelisted
// substitution of the integer literals marked @specialize; no other text is generated).

const PX: u32 = 28u; // @specialize output pixels per invocation
const K: u32 = 3u; // @specialize kernel size (K x K)
const S: u32 = 1u; // @specialize stride
const PAD: u32 = 1u; // @specialize zero padding
const WG: u32 = 32u; // @specialize invocations per workgroup
const WIN: u32 = (PX - 1u) * S + K; // input window width

struct Params {
  n: u32, // images in the batch
  cin: u32, // input channels
  hin: u32,
  win: u32,
  cout: u32, // output channels
  hout: u32,
  wout: u32,
  nseg: u32, // ceil(wout / PX)
  co4: u32, // padded output channels / 4 (weight row length in vec4)
  total: u32, // n * hout * nseg
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>; // [n][cin][hin][win]
@group(0) @binding(2) var<storage, read> w: array<vec4<f32>>; // [cin][K][K][co4]
@group(0) @binding(3) var<storage, read> bias: array<vec4<f32>>; // [co4]
@group(0) @binding(4) var<storage, read_write> y: array<f32>; // [n][cout][hout][wout]

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let t = gid.x;
  if (t >= p.total) {
    return;
  }
  let cb = wid.y;
  let seg = t % p.nseg;
  let r = t / p.nseg;
  let oy = r % p.hout;
  let n = r / p.hout;
  let ox0 = seg * PX;
  let ix0 = i32(ox0 * S) - i32(PAD);
  let wlast = i32(p.win) - 1;

  var acc: array<vec4<f32>, 2u * PX>;
  for (var ci = 0u; ci < p.cin; ci++) {
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

  let b0 = bias[cb * 2u];
  let b1 = bias[cb * 2u + 1u];
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
        y[o + c * hw] = select(a1[c & 3u], a0[c & 3u], c < 4u);
      }
    }
  }
}
