// Fully connected layer with bias followed by an eval-mode BatchNorm1d, for the embedding:
// e[n, o] = (sum_i W[o, i] x[n, i] + b_o) * scale_o + shift_o, i.e. BatchNorm1d with
// scale_o = gamma_o / sqrt(rv_o + eps) and shift_o = beta_o - rm_o * scale_o.
// The input x is the NCHW output of the head BN2d flattened C-major, as PyTorch flattens it.
//
// One workgroup of S = 8 lanes (one llvmpipe SIMD pass) per (block of 16 outputs, B images).
// The inputs go in groups of 4 (vec4); lane s sums its own contiguous slice of
// per = ceil(g4 / S) groups, s per .. (s + 1) per - 1, in increasing order (8 streams through
// the weights, measured faster than interleaved groups), each group as the fused multiply-add
// chain of its inputs 0, 1, 2, 3, into one accumulator per (image, output). The S partial
// sums of each output are then added in a fixed tree ((0 + 1) + (2 + 3)) + ((4 + 5) +
// (6 + 7)). Every image has its own accumulators and reads only its own inputs, and B only
// decides how many images share the weight loads, so an image's arithmetic is the same
// whatever B, its slot or its neighbours: results are bit-identical for every batch size.
// A lane loops per = ceil(ceil(inF / 4) / S) times.
//
// Weights (linearBn1dLayout in src/kernels/reduce.ts): for output block q, input i and column
// c, the vec4 of outputs 16 q + 4 c .. + 3 at wt[(q * 4 * g4 + i) * 4 + c], inputs padded
// with zeros to 4 * g4; the 16 vec4 of one group (4 inputs x 16 outputs) are contiguous.

const S: u32 = 8u; // lanes per workgroup: partial sums per output (fixes the summation order)
const B: u32 = 1u; // @specialize images per workgroup: 1, 2, 4 or 8
const ALIGNED: u32 = 1u; // @specialize 1 when inF % 4 == 0 (image rows start on a vec4)

struct Params {
  inF: u32, // input features
  outF: u32, // output features
  n: u32, // images
  g4: u32, // input groups of 4 per image: ceil(inF / 4)
  op4: u32, // padded outputs / 4 (a multiple of 4)
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>; // [n][inF] flat
@group(0) @binding(2) var<storage, read> wt: array<vec4<f32>>; // [op4 / 4][4 g4][4] vec4
// [3][op4] vec4: bias, scale, shift
@group(0) @binding(3) var<storage, read> prm: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> e: array<f32>; // [n][outF]

// Partial sums: slot (image b, column c) = 4 b + c holds S vec4, one per lane.
var<workgroup> red: array<vec4<f32>, 256>; // 4 * 8 images * S

// Element j of the flat input, 0 at or past `end` (the end of its image's row).
fn xAt(j: u32, end: u32) -> f32 {
  return select(0.0, x[j >> 2u][j & 3u], j < end);
}

// Inputs 4 g .. 4 g + 3 of image `img`; zeros past the row's end.
fn xGroup(img: u32, g: u32) -> vec4<f32> {
  if (ALIGNED == 1u) {
    return x[img * p.g4 + g];
  }
  let j = img * p.inF + 4u * g;
  let end = img * p.inF + p.inF;
  return vec4<f32>(xAt(j, end), xAt(j + 1u, end), xAt(j + 2u, end), xAt(j + 3u, end));
}

// acc + v.x w0 + v.y w1 + v.z w2 + v.w w3, as a chain of fused multiply-adds in that order.
fn dot4(acc: vec4<f32>, v: vec4<f32>, w0: vec4<f32>, w1: vec4<f32>, w2: vec4<f32>, w3: vec4<f32>) -> vec4<f32> {
  return fma(vec4<f32>(v.w), w3, fma(vec4<f32>(v.z), w2, fma(vec4<f32>(v.y), w1, fma(vec4<f32>(v.x), w0, acc))));
}

@compute @workgroup_size(S)
fn main(@builtin(local_invocation_index) s: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  let q = wid.x;
  let n0 = wid.y * B;
  // Images past the batch compute on the last image and are not written.
  let last = p.n - 1u;
  let i0 = min(n0, last);
  let i1 = min(n0 + 1u, last);
  let i2 = min(n0 + 2u, last);
  let i3 = min(n0 + 3u, last);
  let i4 = min(n0 + 4u, last);
  let i5 = min(n0 + 5u, last);
  let i6 = min(n0 + 6u, last);
  let i7 = min(n0 + 7u, last);
  // a<image><column>
  var a00 = vec4<f32>(0.0);
  var a01 = vec4<f32>(0.0);
  var a02 = vec4<f32>(0.0);
  var a03 = vec4<f32>(0.0);
  var a10 = vec4<f32>(0.0);
  var a11 = vec4<f32>(0.0);
  var a12 = vec4<f32>(0.0);
  var a13 = vec4<f32>(0.0);
  var a20 = vec4<f32>(0.0);
  var a21 = vec4<f32>(0.0);
  var a22 = vec4<f32>(0.0);
  var a23 = vec4<f32>(0.0);
  var a30 = vec4<f32>(0.0);
  var a31 = vec4<f32>(0.0);
  var a32 = vec4<f32>(0.0);
  var a33 = vec4<f32>(0.0);
  var a40 = vec4<f32>(0.0);
  var a41 = vec4<f32>(0.0);
  var a42 = vec4<f32>(0.0);
  var a43 = vec4<f32>(0.0);
  var a50 = vec4<f32>(0.0);
  var a51 = vec4<f32>(0.0);
  var a52 = vec4<f32>(0.0);
  var a53 = vec4<f32>(0.0);
  var a60 = vec4<f32>(0.0);
  var a61 = vec4<f32>(0.0);
  var a62 = vec4<f32>(0.0);
  var a63 = vec4<f32>(0.0);
  var a70 = vec4<f32>(0.0);
  var a71 = vec4<f32>(0.0);
  var a72 = vec4<f32>(0.0);
  var a73 = vec4<f32>(0.0);
  // This lane's slice of input groups.
  let per = (p.g4 + S - 1u) / S;
  let gEnd = min(s * per + per, p.g4);
  for (var g = s * per; g < gEnd; g++) {
    let wb = (q * p.g4 + g) * 16u;
    let x0 = xGroup(i0, g);
    var x1 = x0;
    var x2 = x0;
    var x3 = x0;
    var x4 = x0;
    var x5 = x0;
    var x6 = x0;
    var x7 = x0;
    if (B > 1u) {
      x1 = xGroup(i1, g);
    }
    if (B > 2u) {
      x2 = xGroup(i2, g);
      x3 = xGroup(i3, g);
    }
    if (B > 4u) {
      x4 = xGroup(i4, g);
      x5 = xGroup(i5, g);
      x6 = xGroup(i6, g);
      x7 = xGroup(i7, g);
    }
    // column 0: outputs 16 q + 0 .. + 3, inputs 4 g .. 4 g + 3
    let w00 = wt[wb + 0u];
    let w10 = wt[wb + 4u];
    let w20 = wt[wb + 8u];
    let w30 = wt[wb + 12u];
    a00 = dot4(a00, x0, w00, w10, w20, w30);
    if (B > 1u) {
      a10 = dot4(a10, x1, w00, w10, w20, w30);
    }
    if (B > 2u) {
      a20 = dot4(a20, x2, w00, w10, w20, w30);
      a30 = dot4(a30, x3, w00, w10, w20, w30);
    }
    if (B > 4u) {
      a40 = dot4(a40, x4, w00, w10, w20, w30);
      a50 = dot4(a50, x5, w00, w10, w20, w30);
      a60 = dot4(a60, x6, w00, w10, w20, w30);
      a70 = dot4(a70, x7, w00, w10, w20, w30);
    }
    // column 1: outputs 16 q + 4 .. + 3, inputs 4 g .. 4 g + 3
    let w01 = wt[wb + 1u];
    let w11 = wt[wb + 5u];
    let w21 = wt[wb + 9u];
    let w31 = wt[wb + 13u];
    a01 = dot4(a01, x0, w01, w11, w21, w31);
    if (B > 1u) {
      a11 = dot4(a11, x1, w01, w11, w21, w31);
    }
    if (B > 2u) {
      a21 = dot4(a21, x2, w01, w11, w21, w31);
      a31 = dot4(a31, x3, w01, w11, w21, w31);
    }
    if (B > 4u) {
      a41 = dot4(a41, x4, w01, w11, w21, w31);
      a51 = dot4(a51, x5, w01, w11, w21, w31);
      a61 = dot4(a61, x6, w01, w11, w21, w31);
      a71 = dot4(a71, x7, w01, w11, w21, w31);
    }
    // column 2: outputs 16 q + 8 .. + 3, inputs 4 g .. 4 g + 3
    let w02 = wt[wb + 2u];
    let w12 = wt[wb + 6u];
    let w22 = wt[wb + 10u];
    let w32 = wt[wb + 14u];
    a02 = dot4(a02, x0, w02, w12, w22, w32);
    if (B > 1u) {
      a12 = dot4(a12, x1, w02, w12, w22, w32);
    }
    if (B > 2u) {
      a22 = dot4(a22, x2, w02, w12, w22, w32);
      a32 = dot4(a32, x3, w02, w12, w22, w32);
    }
    if (B > 4u) {
      a42 = dot4(a42, x4, w02, w12, w22, w32);
      a52 = dot4(a52, x5, w02, w12, w22, w32);
      a62 = dot4(a62, x6, w02, w12, w22, w32);
      a72 = dot4(a72, x7, w02, w12, w22, w32);
    }
    // column 3: outputs 16 q + 12 .. + 3, inputs 4 g .. 4 g + 3
    let w03 = wt[wb + 3u];
    let w13 = wt[wb + 7u];
    let w23 = wt[wb + 11u];
    let w33 = wt[wb + 15u];
    a03 = dot4(a03, x0, w03, w13, w23, w33);
    if (B > 1u) {
      a13 = dot4(a13, x1, w03, w13, w23, w33);
    }
    if (B > 2u) {
      a23 = dot4(a23, x2, w03, w13, w23, w33);
      a33 = dot4(a33, x3, w03, w13, w23, w33);
    }
    if (B > 4u) {
      a43 = dot4(a43, x4, w03, w13, w23, w33);
      a53 = dot4(a53, x5, w03, w13, w23, w33);
      a63 = dot4(a63, x6, w03, w13, w23, w33);
      a73 = dot4(a73, x7, w03, w13, w23, w33);
    }
  }
  red[0u * S + s] = a00;
  red[1u * S + s] = a01;
  red[2u * S + s] = a02;
  red[3u * S + s] = a03;
  if (B > 1u) {
    red[4u * S + s] = a10;
    red[5u * S + s] = a11;
    red[6u * S + s] = a12;
    red[7u * S + s] = a13;
  }
  if (B > 2u) {
    red[8u * S + s] = a20;
    red[9u * S + s] = a21;
    red[10u * S + s] = a22;
    red[11u * S + s] = a23;
    red[12u * S + s] = a30;
    red[13u * S + s] = a31;
    red[14u * S + s] = a32;
    red[15u * S + s] = a33;
  }
  if (B > 4u) {
    red[16u * S + s] = a40;
    red[17u * S + s] = a41;
    red[18u * S + s] = a42;
    red[19u * S + s] = a43;
    red[20u * S + s] = a50;
    red[21u * S + s] = a51;
    red[22u * S + s] = a52;
    red[23u * S + s] = a53;
    red[24u * S + s] = a60;
    red[25u * S + s] = a61;
    red[26u * S + s] = a62;
    red[27u * S + s] = a63;
    red[28u * S + s] = a70;
    red[29u * S + s] = a71;
    red[30u * S + s] = a72;
    red[31u * S + s] = a73;
  }
  workgroupBarrier();
  // Lane s finishes slots s, s + S, ...: the S partial sums in a fixed tree, bias, BN1d.
  for (var j = s; j < 4u * B; j += S) {
    let r = j * S;
    let z = ((red[r] + red[r + 1u]) + (red[r + 2u] + red[r + 3u])) +
      ((red[r + 4u] + red[r + 5u]) + (red[r + 6u] + red[r + 7u]));
    let img = n0 + j / 4u;
    let o4 = q * 4u + j % 4u;
    let v = (z + prm[o4]) * prm[p.op4 + o4] + prm[2u * p.op4 + o4];
    if (img < p.n) {
      for (var c = 0u; c < 4u; c++) {
        let o = o4 * 4u + c;
        if (o < p.outF) {
          e[img * p.outF + o] = v[c];
        }
      }
    }
  }
}
