// GraFIQs score of one group: per image, the sum over all elements of |g| (docs/ALGORITHM.md).
// One workgroup per image; each lane sums a fixed strided subset, then a fixed tree combines
// the lanes, so an image's score never depends on the batch size or its batch neighbours.

const WG: u32 = 256u; // @specialize lanes per workgroup (power of two)

struct Params {
  len: u32, // elements per image (c * h * w)
  stride: u32, // score slots per image in the output
  slot: u32, // this group's slot
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> g: array<f32>; // [n][len]
@group(0) @binding(2) var<storage, read_write> scores: array<f32>; // [n][stride]

var<workgroup> red: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  let n = wid.x;
  let base = n * p.len;
  var s = 0.0;
  for (var i = lid; i < p.len; i += WG) {
    s += abs(g[base + i]);
  }
  red[lid] = s;
  workgroupBarrier();
  for (var k = WG / 2u; k > 0u; k >>= 1u) {
    if (lid < k) {
      red[lid] += red[lid + k];
    }
    workgroupBarrier();
  }
  if (lid == 0u) {
    scores[n * p.stride + p.slot] = red[0];
  }
}
