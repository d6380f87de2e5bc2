// mdc kernel: softmax_rows
// 4 rows of 1000, 64 invocations per row, four-wide
@group(0) @binding(0) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> out: array<vec4<f32>>;
var<workgroup> red: array<f32, 64>;
var<private> mdc_inf_bits: u32 = 0x7f800000u;
fn mdc_isnan_f32(x: f32) -> bool { return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u; }
fn mdc_max_f32(a: f32, b: f32) -> f32 { return select(select(max(a, b), b, mdc_isnan_f32(b)), a, mdc_isnan_f32(a)); }
@compute @workgroup_size(64)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let row = wid.x;
  let t = lid.x;
  let base = row * 250u;
  var m = bitcast<f32>(mdc_inf_bits | 0x80000000u);
  for (var j = t; j < 250u; j += 64u) {
    let h = x[base + j];
    m = mdc_max_f32(m, mdc_max_f32(mdc_max_f32(h.x, h.y), mdc_max_f32(h.z, h.w)));
  }
  red[t] = m;
  workgroupBarrier();
  if (t < 32u) {
    red[t] = mdc_max_f32(red[t], red[t + 32u]);
  }
  workgroupBarrier();
  if (t < 16u) {
    red[t] = mdc_max_f32(red[t], red[t + 16u]);
  }
  workgroupBarrier();
  if (t < 8u) {
    red[t] = mdc_max_f32(red[t], red[t + 8u]);
  }
  workgroupBarrier();
  if (t < 4u) {
    red[t] = mdc_max_f32(red[t], red[t + 4u]);
  }
  workgroupBarrier();
  if (t < 2u) {
    red[t] = mdc_max_f32(red[t], red[t + 2u]);
  }
  workgroupBarrier();
  if (t < 1u) {
    red[t] = mdc_max_f32(red[t], red[t + 1u]);
  }
  workgroupBarrier();
  let max_all = red[0u];
  workgroupBarrier();
  var s = 0.0;
  for (var j = t; j < 250u; j += 64u) {
    let h = exp(x[base + j] - max_all);
    s = s + (h.x + h.y + (h.z + h.w));
  }
  red[t] = s;
  workgroupBarrier();
  if (t < 32u) {
    red[t] = red[t] + red[t + 32u];
  }
  workgroupBarrier();
  if (t < 16u) {
    red[t] = red[t] + red[t + 16u];
  }
  workgroupBarrier();
  if (t < 8u) {
    red[t] = red[t] + red[t + 8u];
  }
  workgroupBarrier();
  if (t < 4u) {
    red[t] = red[t] + red[t + 4u];
  }
  workgroupBarrier();
  if (t < 2u) {
    red[t] = red[t] + red[t + 2u];
  }
  workgroupBarrier();
  if (t < 1u) {
    red[t] = red[t] + red[t + 1u];
  }
  workgroupBarrier();
  let sum_all1 = red[0u];
  workgroupBarrier();
  let inv = 1.0 / sum_all1;
  for (var j = t; j < 250u; j += 64u) {
    out[base + j] = exp(x[base + j] - max_all) * inv;
  }
}
