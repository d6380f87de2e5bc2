// mdc kernel: matmul
@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  if (gid.x >= 10u) { return; }
  let i = gid.x;
  let col = i % 5u;
  let row = (i / 5u) % 2u;
  let abase = 0u;
  let bbase = 0u;
  var acc = 0.0;
  for (var k = 0u; k < 6u; k = k + 1u) {
    acc = acc + a[abase + row * 6u + k] * b[bbase + k * 5u + col];
  }
  out[i] = acc;
}
