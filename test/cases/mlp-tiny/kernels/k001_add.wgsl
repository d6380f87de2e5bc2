// mdc kernel: add
@group(0) @binding(0) var<storage, read> in0: array<f32>;
@group(0) @binding(1) var<storage, read> in1: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  if (gid.x >= 10u) { return; }
  let i = gid.x;
  let o0 = i;
  var o1 = 0u;
  {
    var r = i;
    o1 += (r % 5u) * 1u;
    r = r / 5u;
  }
  let a = in0[o0];
  let b = in1[o1];
  out[i] = a + b;
}
