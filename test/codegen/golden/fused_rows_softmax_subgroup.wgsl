// mdc kernel: fused_mul_add_max_and_4_more_rows
// 48 rows of 128, one subgroup of 8 per row, four-wide
enable subgroups;
@group(0) @binding(0) var<storage, read> in0: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> in1: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> out: array<vec4<f32>>;
var<private> mdc_inf_bits: u32 = 0x7f800000u;
fn mdc_isnan_f32(x: f32) -> bool { return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u; }
fn mdc_max_f32(a: f32, b: f32) -> f32 { return select(select(max(a, b), b, mdc_isnan_f32(b)), a, mdc_isnan_f32(a)); }
fn mdc_subgroupMax_f32(v: f32) -> f32 { return select(subgroupMax(v), bitcast<f32>(mdc_inf_bits | 0x400000u), subgroupMax(select(0u, 1u, mdc_isnan_f32(v))) != 0u); }
@compute @workgroup_size(8)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(subgroup_invocation_id) lane: u32) {
  let row = wid.x;
  let t = lane;
  let base = row * 32u;
  var acc2 = bitcast<f32>(mdc_inf_bits | 0x80000000u);
  for (var j = t; j < 32u; j += 8u) {
    let a0 = in0[base + j];
    let v0 = a0 * vec4<f32>(0.125);
    let a1 = in1[j];
    let v1 = v0 + a1;
    acc2 = mdc_max_f32(acc2, mdc_max_f32(mdc_max_f32(v1.x, v1.y), mdc_max_f32(v1.z, v1.w)));
  }
  let max_all = mdc_subgroupMax_f32(acc2);
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
