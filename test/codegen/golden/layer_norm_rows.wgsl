// mdc kernel: layer_norm_rows
// 8 rows of 768, 64 invocations per row, four-wide
@group(0) @binding(0) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> w: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> bias: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> out: array<vec4<f32>>;
var<workgroup> red: array<f32, 64>;
@compute @workgroup_size(64)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let row = wid.x;
  let t = lid.x;
  let base = row * 192u;
  var s = 0.0;
  for (var j = t; j < 192u; j += 64u) {
    let h = x[base + j];
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
  let sum_all = red[0u];
  workgroupBarrier();
  let mean = sum_all / 768.0;
  var v = 0.0;
  for (var j = t; j < 192u; j += 64u) {
    let d = x[base + j] - mean;
    let h = d * d;
    v = v + (h.x + h.y + (h.z + h.w));
  }
  red[t] = v;
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
  let r = inverseSqrt(sum_all1 / 768.0 + 0.000009999999747378752);
  for (var j = t; j < 192u; j += 64u) {
    out[base + j] = (x[base + j] - mean) * r * w[j] + bias[j];
  }
}
