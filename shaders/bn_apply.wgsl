// Eval-mode BatchNorm2d as a per-channel affine map, with an optional fused activation and an
// optional residual add: y = act(a * scale_c + shift_c) + r.
// scale_c = gamma_c / sqrt(running_var_c + eps) and shift_c = beta_c - running_mean_c * scale_c
// are precomputed on the host (float64, rounded once to float32).
//
// Each invocation handles the 4 consecutive elements of one vec4 slot. With VEC4 (the plane
// size h*w is a multiple of 4) they share one channel and everything is a vec4 operation;
// otherwise (7x7 planes) each component looks up its own channel. Buffers are padded to
// 16 bytes, and components past the tensor's end are never written.

const WG: u32 = 256u; // @specialize

// 0: none, 1: PReLU (alpha_c), 2: ReLU, 3: ReLU6.
override ACT: u32 = 0u;
override HAS_RES: bool = false;
override VEC4: bool = false;

struct Params {
  total: u32, // n * c * h * w
  plane: u32, // h * w
  c: u32,
  fold: u32, // workgroups per dispatch row
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<vec4<f32>>;
// [5][c]: scale, shift, running_mean, running_var, alpha (PReLU slope, 0 without PReLU)
@group(0) @binding(2) var<storage, read> prm: array<f32>;
@group(0) @binding(3) var<storage, read> res: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> y: array<vec4<f32>>;

fn activate(v: vec4<f32>, alpha: vec4<f32>) -> vec4<f32> {
  switch ACT {
    case 1u: {
      return select(v * alpha, v, v > vec4<f32>(0.0));
    }
    case 2u: {
      return max(v, vec4<f32>(0.0));
    }
    case 3u: {
      return clamp(v, vec4<f32>(0.0), vec4<f32>(6.0));
    }
    default: {
      return v;
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

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  let j = (wid.x + wid.y * p.fold) * WG + lid;
  let i0 = j * 4u;
  if (i0 >= p.total) {
    return;
  }
  var v = activate(a[j] * param4(0u, i0) + param4(1u, i0), param4(4u, i0));
  if (HAS_RES) {
    v += res[j];
  }
  if (i0 + 4u <= p.total) {
    y[j] = v;
  } else {
    for (var k = 0u; i0 + k < p.total; k++) {
      y[j][k] = v[k];
    }
  }
}
