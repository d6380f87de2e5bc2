// mdc kernel: fused_mul_add_tanh
// mul, add, tanh over [2, 3, 8], four elements per invocation
@group(0) @binding(0) var<storage, read> in0: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> in1: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> out0: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> out1: array<vec4<f32>>;
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let j = gid.x;
  if (j >= 12u) {
    return;
  }
  let a0 = in0[j];
  let q = j % 2u;
  let a1 = in1[q];
  let v0 = a0 * a1;
  let v1 = v0 + vec4<f32>(1.0);
  let v2_e = exp(clamp(v1, vec4<f32>(-15.0), vec4<f32>(15.0)) * 2.0);
  let v2 = (v2_e - 1.0) / (v2_e + 1.0);
  out0[j] = v1;
  out1[j] = v2;
}
