// mdc kernel: matmul_add_add
// [2, 3, 16] @ [1, 16, 8] → [2, 3, 8]
// epilogue: add, add
// plain
const M = 3u;
const N = 8u;
const K = 16u;
@group(0) @binding(0) var<storage, read_write> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> e0: array<f32>;
@group(0) @binding(3) var<storage, read> e1: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x;
  if (i >= 48u) {
    return;
  }
  let col = i % N;
  let row = i / N % M;
  let bz = i / 24u;
  let aoff = bz * 48u;
  var acc = 0.0;
  for (var k = 0u; k < K; k += 1u) {
    acc += a[aoff + row * K + k] * b[k * N + col];
  }
  {
    let ep_e0 = e0[i];
    let ep_e1 = e1[col];
    let ep_v1 = ep_e0 + acc;
    let ep_v2 = ep_v1 + ep_e1;
    out[i] = ep_v2;
  }
}
