// 1x1 stride-1 convolution (a per-image matrix product over the flattened h*w plane), forward
// and, with the channel roles swapped, its input gradient. NCHW float32; the plane size must be
// a multiple of 4 so pixel blocks are vec4-aligned (src/kernels/conv2d.ts checks).
//
// Each invocation computes 16 consecutive pixels of the plane for a block of 8 output channels:
// per input channel it reads 4 vec4 of input and two workgroup-uniform vec4 of weights, then
// does 32 vec4 multiply-adds into named accumulators (on Mesa's llvmpipe, loops over register
// arrays are not unrolled and cost memory traffic, hence the written-out body). An output's
// summation order depends only on the layer shape, never on the batch.

const WG: u32 = 8u; // @specialize invocations per workgroup

// Add the result to what y already holds (input gradient of a tensor with several consumers).
override ACC: bool = false;

struct Params {
  n: u32,
  cin: u32, // channels summed over
  cout: u32, // channels produced
  plane: u32, // h * w, a multiple of 4
  nblk: u32, // ceil(plane / 16)
  co4: u32, // padded output channels / 4 (weight row length in vec4)
  total: u32, // n * nblk
  fold: u32, // workgroups along x (linear workgroup index = wid.x + wid.y * fold)
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>; // [n][cin][plane]
@group(0) @binding(2) var<storage, read> w: array<vec4<f32>>; // [cin][co4]
@group(0) @binding(3) var<storage, read> bias: array<vec4<f32>>; // [co4]
@group(0) @binding(4) var<storage, read_write> y: array<f32>; // [n][cout][plane]

// Write the live pixels of one channel's 16-pixel block (nothing for padded channels).
fn store(o: u32, co: u32, p0: u32, q0: vec4<f32>, q1: vec4<f32>, q2: vec4<f32>, q3: vec4<f32>, b: f32) {
  if (co >= p.cout) {
    return;
  }
  for (var k = 0u; k < 16u; k++) {
    if (p0 + k >= p.plane) {
      return;
    }
    let q = select(select(q3, q2, k < 12u), select(q1, q0, k < 4u), k < 8u);
    var v = q[k & 3u] + b;
    if (ACC) {
      v += y[o + k];
    }
    y[o + k] = v;
  }
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) li: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  let t = (wid.x + wid.y * p.fold) * WG + li;
  if (t >= p.total) {
    return;
  }
  let cb = wid.z;
  let blk = t % p.nblk;
  let n = t / p.nblk;
  let p0 = blk * 16u;
  let last = arrayLength(&x) - 1u;
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
  for (var ci = 0u; ci < p.cin; ci++) {
    let b4 = ((n * p.cin + ci) * p.plane + p0) / 4u;
    let x0 = x[min(b4, last)];
    let x1 = x[min(b4 + 1u, last)];
    let x2 = x[min(b4 + 2u, last)];
    let x3 = x[min(b4 + 3u, last)];
    let wb = ci * p.co4 + cb * 2u;
    let u = w[wb];
    let v = w[wb + 1u];
    a00 += x0 * u.x;
    a01 += x1 * u.x;
    a02 += x2 * u.x;
    a03 += x3 * u.x;
    a10 += x0 * u.y;
    a11 += x1 * u.y;
    a12 += x2 * u.y;
    a13 += x3 * u.y;
    a20 += x0 * u.z;
    a21 += x1 * u.z;
    a22 += x2 * u.z;
    a23 += x3 * u.z;
    a30 += x0 * u.w;
    a31 += x1 * u.w;
    a32 += x2 * u.w;
    a33 += x3 * u.w;
    a40 += x0 * v.x;
    a41 += x1 * v.x;
    a42 += x2 * v.x;
    a43 += x3 * v.x;
    a50 += x0 * v.y;
    a51 += x1 * v.y;
    a52 += x2 * v.y;
    a53 += x3 * v.y;
    a60 += x0 * v.z;
    a61 += x1 * v.z;
    a62 += x2 * v.z;
    a63 += x3 * v.z;
    a70 += x0 * v.w;
    a71 += x1 * v.w;
    a72 += x2 * v.w;
    a73 += x3 * v.w;
  }
  let co0 = cb * 8u;
  let o = (n * p.cout + co0) * p.plane + p0;
  let biasA = bias[cb * 2u];
  let biasB = bias[cb * 2u + 1u];
  store(o + 0u * p.plane, co0 + 0u, p0, a00, a01, a02, a03, biasA.x);
  store(o + 1u * p.plane, co0 + 1u, p0, a10, a11, a12, a13, biasA.y);
  store(o + 2u * p.plane, co0 + 2u, p0, a20, a21, a22, a23, biasA.z);
  store(o + 3u * p.plane, co0 + 3u, p0, a30, a31, a32, a33, biasA.w);
  store(o + 4u * p.plane, co0 + 4u, p0, a40, a41, a42, a43, biasB.x);
  store(o + 5u * p.plane, co0 + 5u, p0, a50, a51, a52, a53, biasB.y);
  store(o + 6u * p.plane, co0 + 6u, p0, a60, a61, a62, a63, biasB.z);
  store(o + 7u * p.plane, co0 + 7u, p0, a70, a71, a72, a73, biasB.w);
}
