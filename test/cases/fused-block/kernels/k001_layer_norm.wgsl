// mdc kernel: layer_norm
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  if (gid.x >= 6u) { return; }
  let i = gid.x;
  let base = i * 8u;
  var mean = 0.0;
  for (var j = 0u; j < 8u; j = j + 1u) { mean = mean + x[base + j]; }
  mean = mean / 8.0;
  var v = 0.0;
  for (var j = 0u; j < 8u; j = j + 1u) { let t = x[base + j] - mean; v = v + t * t; }
  let r = inverseSqrt(v / 8.0 + 0.000009999999747378752);
  for (var j = 0u; j < 8u; j = j + 1u) { out[base + j] = (x[base + j] - mean) * r; }
}
