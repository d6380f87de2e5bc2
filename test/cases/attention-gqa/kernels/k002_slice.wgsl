// mdc kernel: slice
// [1, 5, 4], four elements per invocation
@group(0) @binding(0) var<storage, read_write> x: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> out: array<vec4<f32>>;
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x;
  if (i >= 5u) {
    return;
  }
  let c1 = i % 5u;
  out[i] = x[1u + c1 * 2u];
}
