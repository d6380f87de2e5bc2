// mdc kernel: matmul
@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  if (gid.x >= 40u) { return; }
  let i = gid.x;
  let col = i % 8u;
  let row = (i / 8u) % 5u;
  var rb = i / 40u;
  let c0 = rb % 1u;
  let abase = 0u;
  let bbase = 0u;
  var acc = 0.0;
  for (var k = 0u; k < 8u; k = k + 1u) {
    acc = acc + a[abase + row * 8u + k] * b[bbase + k * 8u + col];
  }
  out[i] = acc;
}
