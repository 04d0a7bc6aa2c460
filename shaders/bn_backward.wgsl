// Reverse pass through an eval-mode BatchNorm2d (with its fused activation), plus the GraFIQs
// statistics-loss gradient injected at the BN input (docs/ALGORITHM.md, "The reverse pass"):
//
//   ga = HAS_G * act'(y) * gy * scale_c
//      + LOSS  * coef * [ (mu_c - rm_c) + (var_c - rv_c) * 2 (a - mu_c) ]
//      + ACC   * ga_old
//
// with y = a * scale_c + shift_c recomputed from the saved input a (so PReLU/ReLU inputs need
// not be kept), coef = 2 / (K * C * H * W) for K BN2d layers in the loss, and (mu, var) the
// per-image statistics captured in the forward pass.
//
// Each invocation handles one vec4 slot (4 consecutive elements); VEC4 as in bn_apply.wgsl.

const WG: u32 = 256u; // @specialize

override ACT: u32 = 0u; // 0 none, 1 PReLU, 2 ReLU (0 at y == 0), 3 ReLU6 (0 at y == 0 and 6)
override HAS_G: bool = true; // an output gradient arrives
override LOSS: bool = true; // this layer's statistics enter the loss
override ACC: bool = false; // add to the gradient already in ga
override VEC4: bool = false;

struct Params {
  total: u32,
  plane: u32,
  c: u32,
  fold: u32,
  coef: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<vec4<f32>>; // saved BN input
@group(0) @binding(2) var<storage, read> prm: array<f32>; // [5][c] as in bn_apply
@group(0) @binding(3) var<storage, read> stats: array<vec2<f32>>; // [n][c] (mean, var)
@group(0) @binding(4) var<storage, read> gy: array<vec4<f32>>; // gradient at the act output
@group(0) @binding(5) var<storage, read_write> ga: array<vec4<f32>>; // gradient at the BN input

fn actGrad(yv: vec4<f32>, alpha: vec4<f32>) -> vec4<f32> {
  let zero = vec4<f32>(0.0);
  let one = vec4<f32>(1.0);
  switch ACT {
    case 1u: {
      return select(alpha, one, yv > zero);
    }
    case 2u: {
      return select(zero, one, yv > zero);
    }
    case 3u: {
      return select(zero, one, (yv > zero) & (yv < vec4<f32>(6.0)));
    }
    default: {
      return one;
    }
  }
}

// Parameter row `row` (0 scale, 1 shift, 2 mean, 3 var, 4 alpha) for the 4 elements from i0.
fn param4(row: u32, i0: u32) -> vec4<f32> {
  if (VEC4) {
    return vec4<f32>(prm[row * p.c + (i0 / p.plane) % p.c]);
  }
  var v: vec4<f32>;
  for (var k = 0u; k < 4u; k++) {
    v[k] = prm[row * p.c + ((i0 + k) / p.plane) % p.c];
  }
  return v;
}

// Per-image statistics (component 0 mean, 1 variance) for the 4 elements from i0.
fn stat4(comp: u32, i0: u32) -> vec4<f32> {
  if (VEC4) {
    return vec4<f32>(stats[i0 / p.plane][comp]);
  }
  var v: vec4<f32>;
  for (var k = 0u; k < 4u; k++) {
    v[k] = stats[(i0 + k) / p.plane][comp];
  }
  return v;
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  let j = (wid.x + wid.y * p.fold) * WG + lid;
  let i0 = j * 4u;
  if (i0 >= p.total) {
    return;
  }
  let av = a[j];
  let scale = param4(0u, i0);
  var g = vec4<f32>(0.0);
  if (HAS_G) {
    let yv = av * scale + param4(1u, i0);
    g = gy[j] * actGrad(yv, param4(4u, i0)) * scale;
  }
  if (LOSS) {
    let mu = stat4(0u, i0);
    let dv = stat4(1u, i0) - param4(3u, i0);
    g += p.coef * ((mu - param4(2u, i0)) + dv * 2.0 * (av - mu));
  }
  if (ACC) {
    g += ga[j];
  }
  if (i0 + 4u <= p.total) {
    ga[j] = g;
  } else {
    for (var k = 0u; i0 + k < p.total; k++) {
      ga[j][k] = g[k];
    }
  }
}
