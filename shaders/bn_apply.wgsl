// Eval-mode BatchNorm2d as a per-channel affine map, with an optional fused activation and an
// optional residual add: y = act(a * scale_c + shift_c) + r.
// scale_c = gamma_c / sqrt(running_var_c + eps) and shift_c = beta_c - running_mean_c * scale_c
// are precomputed on the host (float64, rounded once to float32).

const WG: u32 = 256u; // @specialize
const PER: u32 = 4u; // @specialize elements per invocation

// 0: none, 1: PReLU (alpha_c), 2: ReLU, 3: ReLU6.
override ACT: u32 = 0u;
override HAS_RES: bool = false;

struct Params {
  total: u32, // n * c * h * w
  plane: u32, // h * w
  c: u32,
  fold: u32, // workgroups per dispatch row
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
// [5][c]: scale, shift, running_mean, running_var, alpha (PReLU slope, 0 without PReLU)
@group(0) @binding(2) var<storage, read> prm: array<f32>;
@group(0) @binding(3) var<storage, read> res: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

fn activate(v: f32, alpha: f32) -> f32 {
  switch ACT {
    case 1u: {
      return select(v * alpha, v, v > 0.0);
    }
    case 2u: {
      return max(v, 0.0);
    }
    case 3u: {
      return clamp(v, 0.0, 6.0);
    }
    default: {
      return v;
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
    let c = (i / p.plane) % p.c;
    var v = activate(a[i] * prm[c] + prm[p.c + c], prm[4u * p.c + c]);
    if (HAS_RES) {
      v += res[i];
    }
    y[i] = v;
  }
}
