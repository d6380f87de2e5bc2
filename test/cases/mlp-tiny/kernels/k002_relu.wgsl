// mdc kernel: relu
@group(0) @binding(0) var<storage, read> in0: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  if (gid.x >= 10u) { return; }
  let i = gid.x;
  let o0 = i;
  let a = in0[o0];
  out[i] = max(a, 0.0);
}
