// Fully connected layer with bias followed by an eval-mode BatchNorm1d, for the embedding:
// e[n, o] = (sum_i W[o, i] x[n, i] + b_o) * scale_o + shift_o, i.e. BatchNorm1d with
// scale_o = gamma_o / sqrt(rv_o + eps) and shift_o = beta_o - rm_o * scale_o.
// The input x is the NCHW output of the head BN2d flattened C-major, as PyTorch flattens it.
//
// One workgroup per (4 outputs, image): each lane sums a fixed strided subset of the inputs,
// then a fixed tree combines the lanes. No lane loops more than inF / WG times, far inside
// llvmpipe's per-invocation loop budget, and the order never depends on the batch.

const WG: u32 = 64u; // @specialize lanes per workgroup (power of two)

struct Params {
  inF: u32, // input features
  outF: u32, // output features
  out4: u32, // padded output features / 4
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>; // [n][inF]
@group(0) @binding(2) var<storage, read> wt: array<vec4<f32>>; // [inF][out4]
// [3][out4] vec4: bias, scale, shift
@group(0) @binding(3) var<storage, read> prm: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> e: array<f32>; // [n][outF]

var<workgroup> red: array<vec4<f32>, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  let q = wid.x;
  let n = wid.y;
  let xb = n * p.inF;
  var acc = vec4<f32>(0.0);
  for (var i = lid; i < p.inF; i += WG) {
    acc += x[xb + i] * wt[i * p.out4 + q];
  }
  red[lid] = acc;
  workgroupBarrier();
  for (var k = WG / 2u; k > 0u; k >>= 1u) {
    if (lid < k) {
      red[lid] += red[lid + k];
    }
    workgroupBarrier();
  }
  if (lid == 0u) {
    let v = (red[0] + prm[q]) * prm[p.out4 + q] + prm[2u * p.out4 + q];
    for (var c = 0u; c < 4u; c++) {
      let o = q * 4u + c;
      if (o < p.outF) {
        e[n * p.outF + o] = v[c];
      }
    }
  }
}
