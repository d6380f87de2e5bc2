// mdc kernel: fused_mul_add_max_and_4_more_rows
// 48 rows of 128, one subgroup of 8 per row, four-wide
enable subgroups;
@group(0) @binding(0) var<storage, read> in0: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> in1: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> out: array<vec4<f32>>;
@compute @workgroup_size(8)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(subgroup_invocation_id) lane: u32) {
  let row = wid.x;
  let t = lane;
  let base = row * 32u;
  var acc2 = -3.4028234663852886e+38;
  for (var j = t; j < 32u; j += 8u) {
    let a0 = in0[base + j];
    let v0 = a0 * vec4<f32>(0.125);
    let a1 = in1[j];
    let v1 = v0 + a1;
    acc2 = max(acc2, max(max(v1.x, v1.y), max(v1.z, v1.w)));
  }
  let max_all = subgroupMax(acc2);
  var acc5 = 0.0;
  for (var j = t; j < 32u; j += 8u) {
    let a0 = in0[base + j];
    let v0 = a0 * vec4<f32>(0.125);
    let a1 = in1[j];
    let v1 = v0 + a1;
    let v3 = v1 - vec4<f32>(max_all);
    let v4 = exp(v3);
    acc5 = acc5 + (v4.x + v4.y + (v4.z + v4.w));
  }
  let sum_all1 = subgroupAdd(acc5);
  for (var j = t; j < 32u; j += 8u) {
    let a0 = in0[base + j];
    let v0 = a0 * vec4<f32>(0.125);
    let a1 = in1[j];
    let v1 = v0 + a1;
    let v3 = v1 - vec4<f32>(max_all);
    let v4 = exp(v3);
    let v6 = v4 / vec4<f32>(sum_all1);
    out[base + j] = v6;
  }
}
