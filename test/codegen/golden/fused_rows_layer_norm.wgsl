// mdc kernel: fused_mean_sub_mul_and_6_more_rows
// 8 rows of 768, 64 invocations per row, four-wide
@group(0) @binding(0) var<storage, read> in0: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> in1: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> in2: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> out0: array<f32>;
@group(0) @binding(4) var<storage, read_write> out1: array<vec4<f32>>;
var<workgroup> red: array<f32, 64>;
@compute @workgroup_size(64)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let row = wid.x;
  let t = lid.x;
  let base = row * 192u;
  var acc0 = 0.0;
  for (var j = t; j < 192u; j += 64u) {
    let a0 = in0[base + j];
    acc0 = acc0 + (a0.x + a0.y + (a0.z + a0.w));
  }
  red[t] = acc0;
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
  let s0 = sum_all / 768.0;
  var acc3 = 0.0;
  for (var j = t; j < 192u; j += 64u) {
    let a0 = in0[base + j];
    let v1 = a0 - vec4<f32>(s0);
    let v2 = v1 * v1;
    acc3 = acc3 + (v2.x + v2.y + (v2.z + v2.w));
  }
  red[t] = acc3;
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
  let s3 = sum_all1 / 768.0;
  let s4 = s3 + 0.000009999999747378752;
  let s5 = inverseSqrt(s4);
  for (var j = t; j < 192u; j += 64u) {
    let a0 = in0[base + j];
    let v1 = a0 - vec4<f32>(s0);
    let v6 = v1 * vec4<f32>(s5);
    let a1 = in1[j];
    let v7 = v6 * a1;
    let a2 = in2[j];
    let v8 = v7 + a2;
    out1[base + j] = v8;
  }
  if (t == 0u) {
    out0[row] = s3;
  }
}
