// mdc kernel: matmul_gemv_add_relu
// [1, 768] @ [768, 3072] → [1, 3072]
// epilogue: add, relu
// gemv 64 invocations
const M = 1u;
const N = 3072u;
const K = 768u;
const N4 = 768u;
@group(0) @binding(0) var<storage, read> a: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> b: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> e0: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> out: array<vec4<f32>>;
fn mdc_isnan_vec4f(x: vec4<f32>) -> vec4<bool> { return (bitcast<vec4<u32>>(x) & vec4<u32>(0x7fffffffu)) > vec4<u32>(0x7f800000u); }
fn mdc_max_vec4f(a: vec4<f32>, b: vec4<f32>) -> vec4<f32> { return select(select(max(a, b), b, mdc_isnan_vec4f(b)), a, mdc_isnan_vec4f(a)); }
@compute @workgroup_size(64)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let cg = wid.x * 64u + lid.x;
  if (cg >= N4) {
    return;
  }
  var acc = vec4<f32>(0.0);
  for (var k4 = 0u; k4 < 192u; k4 += 1u) {
    let av = a[k4];
    let k = k4 * 4u;
    acc = fma(vec4<f32>(av.x), b[k * N4 + cg], acc);
    acc = fma(vec4<f32>(av.y), b[(k + 1u) * N4 + cg], acc);
    acc = fma(vec4<f32>(av.z), b[(k + 2u) * N4 + cg], acc);
    acc = fma(vec4<f32>(av.w), b[(k + 3u) * N4 + cg], acc);
  }
  {
    let ep_e0 = e0[cg];
    let ep_v1 = acc + ep_e0;
    let ep_v2 = mdc_max_vec4f(ep_v1, vec4<f32>(0.0));
    out[cg] = ep_v2;
  }
}
