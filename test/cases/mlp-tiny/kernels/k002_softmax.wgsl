// mdc kernel: softmax
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  if (gid.x >= 2u) { return; }
  let i = gid.x;
  let o = i / 1u;
  let inn = i % 1u;
  let base = o * 3u + inn;
  var m = x[base];
  for (var j = 1u; j < 3u; j = j + 1u) { m = max(m, x[base + j * 1u]); }
  var s = 0.0;
  for (var j = 0u; j < 3u; j = j + 1u) { s = s + exp(x[base + j * 1u] - m); }
  let inv = 1.0 / s;
  for (var j = 0u; j < 3u; j = j + 1u) {
    let p = base + j * 1u;
    out[p] = exp(x[p] - m) * inv;
  }
}
