// mdc kernel: softmax_rows
// 2 rows of 3, one invocation per row
@group(0) @binding(0) var<storage, read_write> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
var<private> mdc_inf_bits: u32 = 0x7f800000u;
fn mdc_isnan_f32(x: f32) -> bool { return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u; }
fn mdc_max_f32(a: f32, b: f32) -> f32 { return select(select(max(a, b), b, mdc_isnan_f32(b)), a, mdc_isnan_f32(a)); }
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let row = gid.x;
  if (row >= 2u) {
    return;
  }
  let base = row * 3u;
  var m = bitcast<f32>(mdc_inf_bits | 0x80000000u);
  for (var j = 0u; j < 3u; j += 1u) {
    m = mdc_max_f32(m, x[base + j]);
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
