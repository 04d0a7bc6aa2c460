// Zero-insertion upsampling by 2 for the input gradient of a stride-2 convolution:
// d[n, c, y, x] = gy[n, c, y / 2, x / 2] when y and x are even (and inside gy), else 0.
// A 3x3 stride-2 padding-1 input gradient is then the stride-1 3x3 input gradient of d, which
// runs on the fast written-out 3x3 kernel (src/kernels/conv2d.ts, variant "dilated"; the
// default is now the direct kernel of shaders/conv3x3s2_backward_data.wgsl, with 4x less work).

const WG: u32 = 256u; // @specialize

struct Params {
  total: u32, // n * c * h * w of d
  h: u32,
  w: u32,
  hs: u32, // gy height
  ws: u32, // gy width
  fold: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> gy: array<f32>;
@group(0) @binding(2) var<storage, read_write> d: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  let i = (wid.x + wid.y * p.fold) * WG + lid;
  if (i >= p.total) {
    return;
  }
  let x = i % p.w;
  let r = i / p.w;
  let y = r % p.h;
  let plane = r / p.h;
  let sx = x / 2u;
  let sy = y / 2u;
  let keep = (x & 1u) == 0u && (y & 1u) == 0u && sx < p.ws && sy < p.hs;
  let src = (plane * p.hs + min(sy, p.hs - 1u)) * p.ws + min(sx, p.ws - 1u);
  d[i] = select(0.0, gy[src], keep);
}
