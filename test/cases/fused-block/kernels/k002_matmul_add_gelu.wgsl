// mdc kernel: matmul_add_gelu
// [2, 3, 8] @ [1, 8, 16] → [2, 3, 16]
// epilogue: add, gelu
// plain
const M = 3u;
const N = 16u;
const K = 8u;
@group(0) @binding(0) var<storage, read_write> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read> e0: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x;
  if (i >= 96u) {
    return;
  }
  let col = i % N;
  let row = i / N % M;
  let bz = i / 48u;
  let aoff = bz * 24u;
  var acc = 0.0;
  for (var k = 0u; k < K; k += 1u) {
    acc += a[aoff + row * K + k] * b[k * N + col];
  }
  {
    let ep_e0 = e0[col];
    let ep_v1 = acc + ep_e0;
    let ep_v2_e = exp(clamp((ep_v1 + ep_v1 * ep_v1 * ep_v1 * 0.044714998453855515) * 0.7978845834732056, -15.0, 15.0) * 2.0);
    let ep_v2 = ep_v1 * 0.5 * ((ep_v2_e - 1.0) / (ep_v2_e + 1.0) + 1.0);
    out[i] = ep_v2;
  }
}
