// Per-image, per-channel statistics of a BatchNorm input: mean and biased variance over (h, w).
// docs/ALGORITHM.md "The loss": mu_c = mean_hw a, var_c = mean_hw (a - mu_c)^2 (two passes, no
// E[x^2] - E[x]^2).
//
// One workgroup per (image, channel) plane. Each lane sums a fixed strided subset (whole vec4
// slots when VEC4, i.e. the plane size is a multiple of 4), then a fixed tree combines the
// lanes, so the result for a plane never depends on the batch.

const WG: u32 = 64u; // @specialize lanes per workgroup (power of two)

override VEC4: bool = false;

struct Params {
  plane: u32, // h * w
  planes: u32, // n * c
  fold: u32, // workgroups per dispatch row (x dimension)
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>; // [n][c][h][w]
@group(0) @binding(2) var<storage, read_write> stats: array<vec2<f32>>; // [n][c] (mean, var)

var<workgroup> red: array<f32, WG>;

fn reduce(lid: u32, v: f32) -> f32 {
  red[lid] = v;
  workgroupBarrier();
  for (var k = WG / 2u; k > 0u; k >>= 1u) {
    if (lid < k) {
      red[lid] += red[lid + k];
    }
    workgroupBarrier();
  }
  let total = red[0];
  workgroupBarrier();
  return total;
}

// Sum over the plane starting at element `base` of (x - center)^power, power 1 or 2.
fn planeSum(lid: u32, base: u32, center: f32, square: bool) -> f32 {
  var s = 0.0;
  if (VEC4) {
    let b4 = base / 4u;
    let n4 = p.plane / 4u;
    for (var i = lid; i < n4; i += WG) {
      let d = x[b4 + i] - vec4<f32>(center);
      let t = select(d, d * d, square);
      s += (t.x + t.y) + (t.z + t.w);
    }
  } else {
    for (var i = lid; i < p.plane; i += WG) {
      let e = base + i;
      let d = x[e / 4u][e % 4u] - center;
      s += select(d, d * d, square);
    }
  }
  return s;
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  let pi = wid.x + wid.y * p.fold;
  if (pi >= p.planes) {
    return;
  }
  let base = pi * p.plane;
  let count = f32(p.plane);
  let mean = reduce(lid, planeSum(lid, base, 0.0, false)) / count;
  let v = reduce(lid, planeSum(lid, base, mean, true)) / count;
  if (lid == 0u) {
    stats[pi] = vec2<f32>(mean, v);
  }
}
