// Input gradient (activation gradient only) of a 1x1 stride-2 convolution without padding
// (iResNet's downsample), groups = 1, NCHW float32, written out:
//
//   gx[n, ci, 2 oy, 2 ox] = sum over co of W[co, ci] * gy[n, co, oy, ox],
//
// and zero at every gx pixel with an odd row or column (with ACC those are left as they are).
//
// Each invocation computes 16 consecutive pixels of the flattened gy plane (hout * wout) for a
// block of 8 gx channels (workgroup_id.z, so weight addresses are workgroup-uniform): per gy
// channel it reads the 16 gy values as vec4, two vec4 of weights, and does 32 vec4
// multiply-adds into named accumulators (Mesa's llvmpipe does not unroll loops; see
// shaders/conv1x1.wgsl, the stride-1 counterpart). When the plane size is not a multiple of 4
// (SHIFT = 1, e.g. 7 x 7), a block starts anywhere inside a vec4: five vec4 are read and
// shifted into place with selects, which is still cheaper than 16 scalar loads. Then each gy
// pixel writes its 2 x 2 gx block. The only loop with a data-dependent count runs over the gy
// channels (far inside llvmpipe's loop budget). The summation order of one gx element (gy
// channels in order) depends only on the layer shape.
//
// src/kernels/conv2d.ts picks this kernel (variant "1x1s2") from the layer shape only.

const WG: u32 = 8u; // @specialize invocations per workgroup (one llvmpipe SIMD pass)
const SHIFT: u32 = 0u; // @specialize 1 when hout * wout is not a multiple of 4

// Add the result to what gx already holds (a tensor with several gradient consumers).
override ACC: bool = false;

struct Params {
  n: u32,
  cin: u32, // channels of gx (forward input channels)
  hin: u32,
  win: u32,
  cout: u32, // channels of gy (forward output channels, summed over)
  hout: u32,
  wout: u32,
  plane: u32, // hout * wout
  nblk: u32, // ceil(plane / 16)
  ci4: u32, // padded input channels / 4 (weight row length in vec4)
  total: u32, // n * nblk invocations
  fold: u32, // workgroups along x (linear workgroup index = wid.x + wid.y * fold)
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> gy: array<vec4<f32>>; // [n][cout][hout][wout]
@group(0) @binding(2) var<storage, read> w: array<vec4<f32>>; // [cout][ci4]
@group(0) @binding(3) var<storage, read_write> gx: array<f32>; // [n][cin][hin][win]

// The 4 floats starting r floats into a (r in 0..3), continuing into b.
fn shifted(a: vec4<f32>, b: vec4<f32>, r: u32) -> vec4<f32> {
  let s1 = vec4<f32>(a.y, a.z, a.w, b.x);
  let s2 = vec4<f32>(a.z, a.w, b.x, b.y);
  let s3 = vec4<f32>(a.w, b.x, b.y, b.z);
  return select(select(s3, s2, r == 2u), select(s1, a, r == 0u), r < 2u);
}

// Write the gx blocks of the live pixels of one channel's 16-pixel gy block: the value at the
// even position and (without ACC) zeros at the odd ones; nothing for padded channels.
fn store(o: u32, ci: u32, p0: u32, q0: vec4<f32>, q1: vec4<f32>, q2: vec4<f32>, q3: vec4<f32>) {
  if (ci >= p.cin) {
    return;
  }
  for (var k = 0u; k < 16u; k++) {
    let px = p0 + k;
    if (px >= p.plane) {
      return;
    }
    let q = select(select(q3, q2, k < 12u), select(q1, q0, k < 4u), k < 8u);
    let iy = 2u * (px / p.wout);
    let ix = 2u * (px % p.wout);
    let i = o + iy * p.win + ix;
    if (ACC) {
      gx[i] = q[k & 3u] + gx[i];
    } else {
      gx[i] = q[k & 3u];
      let right = ix + 1u < p.win;
      let below = iy + 1u < p.hin;
      if (right) {
        gx[i + 1u] = 0.0;
      }
      if (below) {
        gx[i + p.win] = 0.0;
        if (right) {
          gx[i + p.win + 1u] = 0.0;
        }
      }
    }
  }
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) li: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  // Out-of-range invocations compute a valid block (clamped) and skip the stores, which keeps
  // every SIMD lane active through the loads.
  let t = (wid.x + wid.y * p.fold) * WG + li;
  let live = t < p.total;
  let tc = min(t, p.total - 1u);
  let cb = wid.z;
  let blk = tc % p.nblk;
  let n = tc / p.nblk;
  let p0 = blk * 16u;
  let last = arrayLength(&gy) - 1u;
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
  for (var co = 0u; co < p.cout; co++) {
    let b = (n * p.cout + co) * p.plane + p0;
    let b4 = b / 4u;
    var x0 = gy[min(b4, last)];
    var x1 = gy[min(b4 + 1u, last)];
    var x2 = gy[min(b4 + 2u, last)];
    var x3 = gy[min(b4 + 3u, last)];
    if (SHIFT == 1u) {
      let x4 = gy[min(b4 + 4u, last)];
      let r = b & 3u;
      x0 = shifted(x0, x1, r);
      x1 = shifted(x1, x2, r);
      x2 = shifted(x2, x3, r);
      x3 = shifted(x3, x4, r);
    }
    let wb = co * p.ci4 + cb * 2u;
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
  if (!live) {
    return;
  }
  let ci0 = cb * 8u;
  let o = (n * p.cin + ci0) * p.hin * p.win;
  let hw = p.hin * p.win;
  store(o + 0u * hw, ci0 + 0u, p0, a00, a01, a02, a03);
  store(o + 1u * hw, ci0 + 1u, p0, a10, a11, a12, a13);
  store(o + 2u * hw, ci0 + 2u, p0, a20, a21, a22, a23);
  store(o + 3u * hw, ci0 + 3u, p0, a30, a31, a32, a33);
  store(o + 4u * hw, ci0 + 4u, p0, a40, a41, a42, a43);
  store(o + 5u * hw, ci0 + 5u, p0, a50, a51, a52, a53);
  store(o + 6u * hw, ci0 + 6u, p0, a60, a61, a62, a63);
  store(o + 7u * hw, ci0 + 7u, p0, a70, a71, a72, a73);
}
