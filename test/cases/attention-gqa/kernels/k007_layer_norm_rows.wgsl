// mdc kernel: layer_norm_rows
// 5 rows of 8, one invocation per row, four-wide
@group(0) @binding(0) var<storage, read_write> x: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> out: array<vec4<f32>>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let row = gid.x;
  if (row >= 5u) {
    return;
  }
  let base = row * 2u;
  var s = 0.0;
  for (var j = 0u; j < 2u; j += 1u) {
    let h = x[base + j];
    s = s + (h.x + h.y + (h.z + h.w));
  }
  let mean = s / 8.0;
  var v = 0.0;
  for (var j = 0u; j < 2u; j += 1u) {
    let d = x[base + j] - mean;
    let h = d * d;
    v = v + (h.x + h.y + (h.z + h.w));
  }
  let r = inverseSqrt(v / 8.0 + 0.000009999999747378752);
  for (var j = 0u; j < 2u; j += 1u) {
    out[base + j] = (x[base + j] - mean) * r;
  }
}
