// Fully connected layer with bias followed by an eval-mode BatchNorm1d (the embedding head),
// for the "tiled" kernel family (hardware adapters):
// e[n, o] = (sum_i W[o, i] x[n, i] + b_o) * scale_o + shift_o (see shaders/linear_bn1d.wgsl).
//
// Same weight layout as the register kernel (linearBn1dLayout in src/kernels/reduce.ts): for
// output block q of 16, input i and vec4 column c (outputs 16 q + 4 c .. + 3),
// wt[(q I4 + i) 4 + c]. A workgroup of WG invocations computes one block of 16 outputs for B
// images. Invocation l takes column c = l % 4 and the inputs i = l / 4, l / 4 + WG / 4, ...: it
// reads the weight vec4 at q I4 4 + l + WG j in step j, so neighbouring invocations read
// neighbouring vec4 (coalesced), and every weight vec4 it loads feeds B images. Each image's
// WG partial vec4 sums (WG / 4 per column) are then added in workgroup memory by a fixed tree
// (stride WG / 2, WG / 4, ..., 4), and the 4 invocations of the root finish bias and BN1d.
//
// Summation order: an image's partial sum in lane l is the fused multiply-add chain over its
// inputs in increasing order; the tree is fixed by WG. Neither depends on B, the image's slot
// or its neighbours (images past the batch compute on the last image and are not written), so
// results are bit-identical for every batch size. Loop steps per invocation: ceil(inF / (WG /
// 4)) (392 for the iResNet head at WG = 256), checked against llvmpipe's budget on the host.

const WG: u32 = 256u; // @specialize invocations per workgroup (64 or 256)
const B: u32 = 1u; // @specialize images per workgroup: 1, 2, 4 or 8

struct Params {
  inF: u32, // input features
  outF: u32, // output features
  n: u32, // images
  i4: u32, // padded inputs: 4 ceil(inF / 4)
  op4: u32, // padded outputs / 4 (a multiple of 4)
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>; // [n][inF]
@group(0) @binding(2) var<storage, read> wt: array<vec4<f32>>; // [op4 / 4][i4][4] vec4
// [3][op4] vec4: bias, scale, shift
@group(0) @binding(3) var<storage, read> prm: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> e: array<f32>; // [n][outF]

var<workgroup> red: array<vec4<f32>, WG>;

// Add the WG partial sums of one image by the fixed tree and write its 4 outputs of column l
// (for l < 4). Called by every invocation (it holds barriers).
fn finish(l: u32, q: u32, img: u32, acc: vec4<f32>) {
  red[l] = acc;
  workgroupBarrier();
  for (var st = WG / 2u; st >= 4u; st /= 2u) {
    if (l < st) {
      red[l] = red[l] + red[l + st];
    }
    workgroupBarrier();
  }
  if (l < 4u && img < p.n) {
    let o4 = q * 4u + l;
    let v = (red[l] + prm[o4]) * prm[p.op4 + o4] + prm[2u * p.op4 + o4];
    for (var c = 0u; c < 4u; c++) {
      let o = o4 * 4u + c;
      if (o < p.outF) {
        e[img * p.outF + o] = v[c];
      }
    }
  }
  workgroupBarrier();
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) l: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  let q = wid.x;
  let n0 = wid.y * B;
  // Images past the batch compute on the last image and are not written.
  let last = p.n - 1u;
  let r0 = min(n0 + 0u, last) * p.inF;
  var a0 = vec4<f32>(0.0);
  let r1 = min(n0 + 1u, last) * p.inF;
  var a1 = vec4<f32>(0.0);
  let r2 = min(n0 + 2u, last) * p.inF;
  var a2 = vec4<f32>(0.0);
  let r3 = min(n0 + 3u, last) * p.inF;
  var a3 = vec4<f32>(0.0);
  let r4 = min(n0 + 4u, last) * p.inF;
  var a4 = vec4<f32>(0.0);
  let r5 = min(n0 + 5u, last) * p.inF;
  var a5 = vec4<f32>(0.0);
  let r6 = min(n0 + 6u, last) * p.inF;
  var a6 = vec4<f32>(0.0);
  let r7 = min(n0 + 7u, last) * p.inF;
  var a7 = vec4<f32>(0.0);
  let wb = q * p.i4 * 4u + l;
  var j = 0u;
  for (var i = l / 4u; i < p.inF; i += WG / 4u) {
    let w = wt[wb + j * WG];
    j++;
    a0 = fma(vec4<f32>(x[r0 + i]), w, a0);
    if (B > 1u) {
      a1 = fma(vec4<f32>(x[r1 + i]), w, a1);
    }
    if (B > 2u) {
      a2 = fma(vec4<f32>(x[r2 + i]), w, a2);
      a3 = fma(vec4<f32>(x[r3 + i]), w, a3);
    }
    if (B > 4u) {
      a4 = fma(vec4<f32>(x[r4 + i]), w, a4);
      a5 = fma(vec4<f32>(x[r5 + i]), w, a5);
      a6 = fma(vec4<f32>(x[r6 + i]), w, a6);
      a7 = fma(vec4<f32>(x[r7 + i]), w, a7);
    }
  }
  finish(l, q, n0, a0);
  if (B > 1u) {
    finish(l, q, n0 + 1u, a1);
  }
  if (B > 2u) {
    finish(l, q, n0 + 2u, a2);
    finish(l, q, n0 + 3u, a3);
  }
  if (B > 4u) {
    finish(l, q, n0 + 4u, a4);
    finish(l, q, n0 + 5u, a5);
    finish(l, q, n0 + 6u, a6);
    finish(l, q, n0 + 7u, a7);
  }
}
