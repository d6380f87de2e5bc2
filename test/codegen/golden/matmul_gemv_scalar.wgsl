// mdc kernel: matmul_gemv
// [1, 17] @ [17, 3] → [1, 3]
// gemv 64 invocations
const M = 1u;
const N = 3u;
const K = 17u;
@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let cg = wid.x * 64u + lid.x;
  if (cg >= N) {
    return;
  }
  var acc = 0.0;
  for (var k = 0u; k < K; k += 1u) {
    acc = fma(a[k], b[k * N + cg], acc);
  }
  out[cg] = acc;
}
