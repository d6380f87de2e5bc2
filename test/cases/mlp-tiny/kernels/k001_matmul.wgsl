// mdc kernel: matmul
// [2, 5] @ [5, 3] → [2, 3]
// plain
const M = 2u;
const N = 3u;
const K = 5u;
@group(0) @binding(0) var<storage, read_write> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x;
  if (i >= 6u) {
    return;
  }
  let col = i % N;
  let row = i / N % M;
  var acc = 0.0;
  for (var k = 0u; k < K; k += 1u) {
    acc += a[row * K + k] * b[k * N + col];
  }
  out[i] = acc;
}
