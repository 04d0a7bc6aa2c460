// Per-image, per-channel statistics of a BatchNorm input: mean and biased variance over (h, w).
// SPEC section 4: mu_c = mean_hw a, var_c = mean_hw (a - mu_c)^2 (two passes, no E[x^2] - E[x]^2).
//
// One invocation per (image, channel) plane, so no workgroup memory and no barriers (which are
// costly on Mesa's llvmpipe). With VEC4 (plane size a multiple of 4) the plane is read as vec4
// into four vec4 accumulators, i.e. 16 interleaved partial sums combined in a fixed tree; a
// 112x112 plane costs each invocation about 800 loop iterations per pass, far inside llvmpipe's
// per-invocation loop budget. The order depends only on the plane size, never on the batch.

const WG: u32 = 8u; // @specialize invocations (planes) per workgroup

override VEC4: bool = false;

struct Params {
  plane: u32, // h * w
  planes: u32, // n * c
  fold: u32, // workgroups per dispatch row (x dimension)
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>; // [n][c][h][w]
@group(0) @binding(2) var<storage, read_write> stats: array<vec2<f32>>; // [n][c] (mean, var)

fn term(v: vec4<f32>, center: f32, square: bool) -> vec4<f32> {
  let d = v - vec4<f32>(center);
  return select(d, d * d, square);
}

// Sum over the plane starting at element `base` of (x - center), or its square.
fn planeSum(base: u32, center: f32, square: bool) -> f32 {
  var s0 = vec4<f32>(0.0);
  var s1 = vec4<f32>(0.0);
  var s2 = vec4<f32>(0.0);
  var s3 = vec4<f32>(0.0);
  if (VEC4) {
    let b4 = base / 4u;
    let n4 = p.plane / 4u;
    var i = 0u;
    for (; i + 4u <= n4; i += 4u) {
      s0 += term(x[b4 + i], center, square);
      s1 += term(x[b4 + i + 1u], center, square);
      s2 += term(x[b4 + i + 2u], center, square);
      s3 += term(x[b4 + i + 3u], center, square);
    }
    for (; i < n4; i++) {
      s0 += term(x[b4 + i], center, square);
    }
  } else {
    for (var i = 0u; i < p.plane; i++) {
      let e = base + i;
      s0.x += term(vec4<f32>(x[e / 4u][e % 4u]), center, square).x;
    }
  }
  let s = (s0 + s1) + (s2 + s3);
  return (s.x + s.y) + (s.z + s.w);
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  let pi = (wid.x + wid.y * p.fold) * WG + lid;
  if (pi >= p.planes) {
    return;
  }
  let base = pi * p.plane;
  let count = f32(p.plane);
  let mean = planeSum(base, 0.0, false) / count;
  let v = planeSum(base, mean, true) / count;
  stats[pi] = vec2<f32>(mean, v);
}
