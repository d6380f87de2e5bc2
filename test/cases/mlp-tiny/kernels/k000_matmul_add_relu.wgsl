// mdc kernel: matmul_add_relu
// [2, 6] @ [6, 5] → [2, 5]
// epilogue: add, relu
// plain
const M = 2u;
const N = 5u;
const K = 6u;
@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read> e0: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
fn mdc_isnan_f32(x: f32) -> bool { return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u; }
fn mdc_max_f32(a: f32, b: f32) -> f32 { return select(select(max(a, b), b, mdc_isnan_f32(b)), a, mdc_isnan_f32(a)); }
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x;
  if (i >= 10u) {
    return;
  }
  let col = i % N;
  let row = i / N % M;
  var acc = 0.0;
  for (var k = 0u; k < K; k += 1u) {
    acc += a[row * K + k] * b[k * N + col];
  }
  {
    let ep_e0 = e0[col];
    let ep_v1 = acc + ep_e0;
    let ep_v2 = mdc_max_f32(ep_v1, 0.0);
    out[i] = ep_v2;
  }
}
