// mdc kernel: add
// add over [1, 5, 8], four elements per invocation
@group(0) @binding(0) var<storage, read_write> in0: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> in1: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> out: array<vec4<f32>>;
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let j = gid.x;
  if (j >= 10u) {
    return;
  }
  let a0 = in0[j];
  let a1 = in1[j];
  let v0 = a0 + a1;
  out[j] = v0;
}
