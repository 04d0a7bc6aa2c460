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
// pixel writes its 2 x 2 gx block as two vec2 (the gx width must be even, so pixel pairs are
// vec2-aligned; src/kernels/conv2d.ts checks; the height may be odd). The only loop runs over
// the gy channels (far inside llvmpipe's loop budget). The summation order of one gx element
// (gy channels in order) depends only on the layer shape.
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
  ci4: u32, // padded input channels / 4 (weight texels per row)
  total: u32, // n * nblk invocations
  fold: u32, // workgroups along x (linear workgroup index = wid.x + wid.y * fold)
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> gy: array<vec4<f32>>; // [n][cout][hout][wout]
// The weights as an rgba32float texture: texel (j, co) holds input channels 4j .. 4j + 3 of
// output channel co (conv2d.ts backwardWeightsFor); on llvmpipe a texel fetch costs much less
// than a storage-buffer load, which is a per-lane loop.
@group(0) @binding(2) var w: texture_2d<f32>; // ci4 x cout texels
@group(0) @binding(3) var<storage, read_write> gx: array<vec2<f32>>; // [n][cin][hin][win]

// The 4 floats starting r floats into a (r in 0..3), continuing into b.
fn shifted(a: vec4<f32>, b: vec4<f32>, r: u32) -> vec4<f32> {
  let s1 = vec4<f32>(a.y, a.z, a.w, b.x);
  let s2 = vec4<f32>(a.z, a.w, b.x, b.y);
  let s3 = vec4<f32>(a.w, b.x, b.y, b.z);
  return select(select(s3, s2, r == 2u), select(s1, a, r == 0u), r < 2u);
}

// Write gx pixel pair j = (2 oy, 2 ox .. 2 ox + 1) of channel ci (as a vec2: win is even): the
// value and a zero, and (without ACC) zeros at the pair below when inside the tensor; with ACC
// the value is added and the odd pixel kept. Nothing for padded channels.
fn put(j: u32, ci: u32, v: f32, below: bool) {
  if (ci >= p.cin) {
    return;
  }
  if (ACC) {
    let h = gx[j];
    gx[j] = vec2<f32>(v + h.x, h.y);
  } else {
    gx[j] = vec2<f32>(v, 0.0);
    if (below) {
      gx[j + p.win / 2u] = vec2<f32>(0.0);
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
    let u = textureLoad(w, vec2<u32>(cb * 2u, co), 0);
    let v = textureLoad(w, vec2<u32>(cb * 2u + 1u, co), 0);
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
  // Offsets in vec2 (pixel pairs); hin * win and win are even.
  let hw2 = p.hin * p.win / 2u;
  let o = (n * p.cin + ci0) * hw2;
  // Walk the block's pixels in order, keeping (oy, ox) without a division per pixel.
  var oy = p0 / p.wout;
  var ox = p0 % p.wout;
  if (p0 + 0u < p.plane) {
    let j = o + oy * p.win + ox;
    let below = 2u * oy + 1u < p.hin;
    put(j + 0u * hw2, ci0 + 0u, a00.x, below);
    put(j + 1u * hw2, ci0 + 1u, a10.x, below);
    put(j + 2u * hw2, ci0 + 2u, a20.x, below);
    put(j + 3u * hw2, ci0 + 3u, a30.x, below);
    put(j + 4u * hw2, ci0 + 4u, a40.x, below);
    put(j + 5u * hw2, ci0 + 5u, a50.x, below);
    put(j + 6u * hw2, ci0 + 6u, a60.x, below);
    put(j + 7u * hw2, ci0 + 7u, a70.x, below);
    ox += 1u;
    if (ox == p.wout) {
      ox = 0u;
      oy += 1u;
    }
  }
  if (p0 + 1u < p.plane) {
    let j = o + oy * p.win + ox;
    let below = 2u * oy + 1u < p.hin;
    put(j + 0u * hw2, ci0 + 0u, a00.y, below);
    put(j + 1u * hw2, ci0 + 1u, a10.y, below);
    put(j + 2u * hw2, ci0 + 2u, a20.y, below);
    put(j + 3u * hw2, ci0 + 3u, a30.y, below);
    put(j + 4u * hw2, ci0 + 4u, a40.y, below);
    put(j + 5u * hw2, ci0 + 5u, a50.y, below);
    put(j + 6u * hw2, ci0 + 6u, a60.y, below);
    put(j + 7u * hw2, ci0 + 7u, a70.y, below);
    ox += 1u;
    if (ox == p.wout) {
      ox = 0u;
      oy += 1u;
    }
  }
  if (p0 + 2u < p.plane) {
    let j = o + oy * p.win + ox;
    let below = 2u * oy + 1u < p.hin;
    put(j + 0u * hw2, ci0 + 0u, a00.z, below);
    put(j + 1u * hw2, ci0 + 1u, a10.z, below);
    put(j + 2u * hw2, ci0 + 2u, a20.z, below);
    put(j + 3u * hw2, ci0 + 3u, a30.z, below);
    put(j + 4u * hw2, ci0 + 4u, a40.z, below);
    put(j + 5u * hw2, ci0 + 5u, a50.z, below);
    put(j + 6u * hw2, ci0 + 6u, a60.z, below);
    put(j + 7u * hw2, ci0 + 7u, a70.z, below);
    ox += 1u;
    if (ox == p.wout) {
      ox = 0u;
      oy += 1u;
    }
  }
  if (p0 + 3u < p.plane) {
    let j = o + oy * p.win + ox;
    let below = 2u * oy + 1u < p.hin;
    put(j + 0u * hw2, ci0 + 0u, a00.w, below);
    put(j + 1u * hw2, ci0 + 1u, a10.w, below);
    put(j + 2u * hw2, ci0 + 2u, a20.w, below);
    put(j + 3u * hw2, ci0 + 3u, a30.w, below);
    put(j + 4u * hw2, ci0 + 4u, a40.w, below);
    put(j + 5u * hw2, ci0 + 5u, a50.w, below);
    put(j + 6u * hw2, ci0 + 6u, a60.w, below);
    put(j + 7u * hw2, ci0 + 7u, a70.w, below);
    ox += 1u;
    if (ox == p.wout) {
      ox = 0u;
      oy += 1u;
    }
  }
  if (p0 + 4u < p.plane) {
    let j = o + oy * p.win + ox;
    let below = 2u * oy + 1u < p.hin;
    put(j + 0u * hw2, ci0 + 0u, a01.x, below);
    put(j + 1u * hw2, ci0 + 1u, a11.x, below);
    put(j + 2u * hw2, ci0 + 2u, a21.x, below);
    put(j + 3u * hw2, ci0 + 3u, a31.x, below);
    put(j + 4u * hw2, ci0 + 4u, a41.x, below);
    put(j + 5u * hw2, ci0 + 5u, a51.x, below);
    put(j + 6u * hw2, ci0 + 6u, a61.x, below);
    put(j + 7u * hw2, ci0 + 7u, a71.x, below);
    ox += 1u;
    if (ox == p.wout) {
      ox = 0u;
      oy += 1u;
    }
  }
  if (p0 + 5u < p.plane) {
    let j = o + oy * p.win + ox;
    let below = 2u * oy + 1u < p.hin;
    put(j + 0u * hw2, ci0 + 0u, a01.y, below);
    put(j + 1u * hw2, ci0 + 1u, a11.y, below);
    put(j + 2u * hw2, ci0 + 2u, a21.y, below);
    put(j + 3u * hw2, ci0 + 3u, a31.y, below);
    put(j + 4u * hw2, ci0 + 4u, a41.y, below);
    put(j + 5u * hw2, ci0 + 5u, a51.y, below);
    put(j + 6u * hw2, ci0 + 6u, a61.y, below);
    put(j + 7u * hw2, ci0 + 7u, a71.y, below);
    ox += 1u;
    if (ox == p.wout) {
      ox = 0u;
      oy += 1u;
    }
  }
  if (p0 + 6u < p.plane) {
    let j = o + oy * p.win + ox;
    let below = 2u * oy + 1u < p.hin;
    put(j + 0u * hw2, ci0 + 0u, a01.z, below);
    put(j + 1u * hw2, ci0 + 1u, a11.z, below);
    put(j + 2u * hw2, ci0 + 2u, a21.z, below);
    put(j + 3u * hw2, ci0 + 3u, a31.z, below);
    put(j + 4u * hw2, ci0 + 4u, a41.z, below);
    put(j + 5u * hw2, ci0 + 5u, a51.z, below);
    put(j + 6u * hw2, ci0 + 6u, a61.z, below);
    put(j + 7u * hw2, ci0 + 7u, a71.z, below);
    ox += 1u;
    if (ox == p.wout) {
      ox = 0u;
      oy += 1u;
    }
  }
  if (p0 + 7u < p.plane) {
    let j = o + oy * p.win + ox;
    let below = 2u * oy + 1u < p.hin;
    put(j + 0u * hw2, ci0 + 0u, a01.w, below);
    put(j + 1u * hw2, ci0 + 1u, a11.w, below);
    put(j + 2u * hw2, ci0 + 2u, a21.w, below);
    put(j + 3u * hw2, ci0 + 3u, a31.w, below);
    put(j + 4u * hw2, ci0 + 4u, a41.w, below);
    put(j + 5u * hw2, ci0 + 5u, a51.w, below);
    put(j + 6u * hw2, ci0 + 6u, a61.w, below);
    put(j + 7u * hw2, ci0 + 7u, a71.w, below);
    ox += 1u;
    if (ox == p.wout) {
      ox = 0u;
      oy += 1u;
    }
  }
  if (p0 + 8u < p.plane) {
    let j = o + oy * p.win + ox;
    let below = 2u * oy + 1u < p.hin;
    put(j + 0u * hw2, ci0 + 0u, a02.x, below);
    put(j + 1u * hw2, ci0 + 1u, a12.x, below);
    put(j + 2u * hw2, ci0 + 2u, a22.x, below);
    put(j + 3u * hw2, ci0 + 3u, a32.x, below);
    put(j + 4u * hw2, ci0 + 4u, a42.x, below);
    put(j + 5u * hw2, ci0 + 5u, a52.x, below);
    put(j + 6u * hw2, ci0 + 6u, a62.x, below);
    put(j + 7u * hw2, ci0 + 7u, a72.x, below);
    ox += 1u;
    if (ox == p.wout) {
      ox = 0u;
      oy += 1u;
    }
  }
  if (p0 + 9u < p.plane) {
    let j = o + oy * p.win + ox;
    let below = 2u * oy + 1u < p.hin;
    put(j + 0u * hw2, ci0 + 0u, a02.y, below);
    put(j + 1u * hw2, ci0 + 1u, a12.y, below);
    put(j + 2u * hw2, ci0 + 2u, a22.y, below);
    put(j + 3u * hw2, ci0 + 3u, a32.y, below);
    put(j + 4u * hw2, ci0 + 4u, a42.y, below);
    put(j + 5u * hw2, ci0 + 5u, a52.y, below);
    put(j + 6u * hw2, ci0 + 6u, a62.y, below);
    put(j + 7u * hw2, ci0 + 7u, a72.y, below);
    ox += 1u;
    if (ox == p.wout) {
      ox = 0u;
      oy += 1u;
    }
  }
  if (p0 + 10u < p.plane) {
    let j = o + oy * p.win + ox;
    let below = 2u * oy + 1u < p.hin;
    put(j + 0u * hw2, ci0 + 0u, a02.z, below);
    put(j + 1u * hw2, ci0 + 1u, a12.z, below);
    put(j + 2u * hw2, ci0 + 2u, a22.z, below);
    put(j + 3u * hw2, ci0 + 3u, a32.z, below);
    put(j + 4u * hw2, ci0 + 4u, a42.z, below);
    put(j + 5u * hw2, ci0 + 5u, a52.z, below);
    put(j + 6u * hw2, ci0 + 6u, a62.z, below);
    put(j + 7u * hw2, ci0 + 7u, a72.z, below);
    ox += 1u;
    if (ox == p.wout) {
      ox = 0u;
      oy += 1u;
    }
  }
  if (p0 + 11u < p.plane) {
    let j = o + oy * p.win + ox;
    let below = 2u * oy + 1u < p.hin;
    put(j + 0u * hw2, ci0 + 0u, a02.w, below);
    put(j + 1u * hw2, ci0 + 1u, a12.w, below);
    put(j + 2u * hw2, ci0 + 2u, a22.w, below);
    put(j + 3u * hw2, ci0 + 3u, a32.w, below);
    put(j + 4u * hw2, ci0 + 4u, a42.w, below);
    put(j + 5u * hw2, ci0 + 5u, a52.w, below);
    put(j + 6u * hw2, ci0 + 6u, a62.w, below);
    put(j + 7u * hw2, ci0 + 7u, a72.w, below);
    ox += 1u;
    if (ox == p.wout) {
      ox = 0u;
      oy += 1u;
    }
  }
  if (p0 + 12u < p.plane) {
    let j = o + oy * p.win + ox;
    let below = 2u * oy + 1u < p.hin;
    put(j + 0u * hw2, ci0 + 0u, a03.x, below);
    put(j + 1u * hw2, ci0 + 1u, a13.x, below);
    put(j + 2u * hw2, ci0 + 2u, a23.x, below);
    put(j + 3u * hw2, ci0 + 3u, a33.x, below);
    put(j + 4u * hw2, ci0 + 4u, a43.x, below);
    put(j + 5u * hw2, ci0 + 5u, a53.x, below);
    put(j + 6u * hw2, ci0 + 6u, a63.x, below);
    put(j + 7u * hw2, ci0 + 7u, a73.x, below);
    ox += 1u;
    if (ox == p.wout) {
      ox = 0u;
      oy += 1u;
    }
  }
  if (p0 + 13u < p.plane) {
    let j = o + oy * p.win + ox;
    let below = 2u * oy + 1u < p.hin;
    put(j + 0u * hw2, ci0 + 0u, a03.y, below);
    put(j + 1u * hw2, ci0 + 1u, a13.y, below);
    put(j + 2u * hw2, ci0 + 2u, a23.y, below);
    put(j + 3u * hw2, ci0 + 3u, a33.y, below);
    put(j + 4u * hw2, ci0 + 4u, a43.y, below);
    put(j + 5u * hw2, ci0 + 5u, a53.y, below);
    put(j + 6u * hw2, ci0 + 6u, a63.y, below);
    put(j + 7u * hw2, ci0 + 7u, a73.y, below);
    ox += 1u;
    if (ox == p.wout) {
      ox = 0u;
      oy += 1u;
    }
  }
  if (p0 + 14u < p.plane) {
    let j = o + oy * p.win + ox;
    let below = 2u * oy + 1u < p.hin;
    put(j + 0u * hw2, ci0 + 0u, a03.z, below);
    put(j + 1u * hw2, ci0 + 1u, a13.z, below);
    put(j + 2u * hw2, ci0 + 2u, a23.z, below);
    put(j + 3u * hw2, ci0 + 3u, a33.z, below);
    put(j + 4u * hw2, ci0 + 4u, a43.z, below);
    put(j + 5u * hw2, ci0 + 5u, a53.z, below);
    put(j + 6u * hw2, ci0 + 6u, a63.z, below);
    put(j + 7u * hw2, ci0 + 7u, a73.z, below);
    ox += 1u;
    if (ox == p.wout) {
      ox = 0u;
      oy += 1u;
    }
  }
  if (p0 + 15u < p.plane) {
    let j = o + oy * p.win + ox;
    let below = 2u * oy + 1u < p.hin;
    put(j + 0u * hw2, ci0 + 0u, a03.w, below);
    put(j + 1u * hw2, ci0 + 1u, a13.w, below);
    put(j + 2u * hw2, ci0 + 2u, a23.w, below);
    put(j + 3u * hw2, ci0 + 3u, a33.w, below);
    put(j + 4u * hw2, ci0 + 4u, a43.w, below);
    put(j + 5u * hw2, ci0 + 5u, a53.w, below);
    put(j + 6u * hw2, ci0 + 6u, a63.w, below);
    put(j + 7u * hw2, ci0 + 7u, a73.w, below);
  }
}
