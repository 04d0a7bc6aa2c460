// Reverse pass through an eval-mode BatchNorm2d (with its fused activation), plus the GraFIQs
// statistics-loss gradient injected at the BN input (SPEC section 4):
//
//   ga = HAS_G * act'(y) * gy * scale_c
//      + LOSS  * coef * [ (mu_c - rm_c) + (var_c - rv_c) * 2 (a - mu_c) ]
//      + ACC   * ga_old
//
// with y = a * scale_c + shift_c recomputed from the saved input a (so PReLU/ReLU inputs need
// not be kept), coef = 2 / (K * C * H * W) for K BN2d layers in the loss, and (mu, var) the
// per-image statistics captured in the forward pass.

const WG: u32 = 256u; // @specialize
const PER: u32 = 4u; // @specialize elements per invocation

override ACT: u32 = 0u; // 0 none, 1 PReLU, 2 ReLU (0 at y == 0), 3 ReLU6 (0 at y == 0 and 6)
override HAS_G: bool = true; // an output gradient arrives
override LOSS: bool = true; // this layer's statistics enter the loss
override ACC: bool = false; // add to the gradient already in ga

struct Params {
  total: u32,
  plane: u32,
  c: u32,
  fold: u32,
  coef: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>; // saved BN input
@group(0) @binding(2) var<storage, read> prm: array<f32>; // [5][c] as in bn_apply
@group(0) @binding(3) var<storage, read> stats: array<vec2<f32>>; // [n][c] (mean, var)
@group(0) @binding(4) var<storage, read> gy: array<f32>; // gradient at the activation output
@group(0) @binding(5) var<storage, read_write> ga: array<f32>; // gradient at the BN input

fn actGrad(yv: f32, alpha: f32) -> f32 {
  switch ACT {
    case 1u: {
      return select(alpha, 1.0, yv > 0.0);
    }
    case 2u: {
      return select(0.0, 1.0, yv > 0.0);
    }
    case 3u: {
      return select(0.0, 1.0, yv > 0.0 && yv < 6.0);
    }
    default: {
      return 1.0;
    }
  }
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  let start = ((wid.x + wid.y * p.fold) * WG + lid) * PER;
  for (var k = 0u; k < PER; k++) {
    let i = start + k;
    if (i >= p.total) {
      return;
    }
    let pi = i / p.plane;
    let c = pi % p.c;
    let av = a[i];
    let scale = prm[c];
    var g = 0.0;
    if (HAS_G) {
      let yv = av * scale + prm[p.c + c];
      g = gy[i] * actGrad(yv, prm[4u * p.c + c]) * scale;
    }
    if (LOSS) {
      let st = stats[pi];
      g += p.coef * ((st.x - prm[2u * p.c + c]) + (st.y - prm[3u * p.c + c]) * 2.0 * (av - st.x));
    }
    if (ACC) {
      g += ga[i];
    }
    ga[i] = g;
  }
}
