// mdc kernel: softmax_rows
// 2 rows of 3, one invocation per row
@group(0) @binding(0) var<storage, read_write> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let row = gid.x;
  if (row >= 2u) {
    return;
  }
  let base = row * 3u;
  var m = -3.4028234663852886e+38;
  for (var j = 0u; j < 3u; j += 1u) {
    m = max(m, x[base + j]);
  }
  var s = 0.0;
  for (var j = 0u; j < 3u; j += 1u) {
    s = s + exp(x[base + j] - m);
  }
  let inv = 1.0 / s;
  for (var j = 0u; j < 3u; j += 1u) {
    out[base + j] = exp(x[base + j] - m) * inv;
  }
}
