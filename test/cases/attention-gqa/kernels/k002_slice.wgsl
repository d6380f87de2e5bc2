// mdc kernel: slice
@group(0) @binding(0) var<storage, read_write> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  if (gid.x >= 20u) { return; }
  let i = gid.x;
  var r_c = i;
  let c2 = r_c % 4u;
  r_c = r_c / 4u;
  let c1 = r_c % 5u;
  r_c = r_c / 5u;
  let c0 = r_c % 1u;
  out[i] = x[c0 * 40u + c1 * 8u + (c2 + 4u) * 1u];
}
