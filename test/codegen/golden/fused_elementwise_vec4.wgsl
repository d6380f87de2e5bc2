// mdc kernel: fused_mul_add_gelu_mul
// mul, add, gelu, mul over [8, 768], four elements per invocation
@group(0) @binding(0) var<storage, read> in0: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> in1: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> in2: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<vec4<f32>>;
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let j = gid.x;
  let a0 = in0[j];
  let q = j % 192u;
  let a1 = in1[q];
  let c0 = j / 192u;
  let a2 = vec4<f32>(in2[c0]);
  let v0 = a0 * vec4<f32>(2.0);
  let v1 = v0 + a1;
  let v2_x = v1 * 0.7071067690849304;
  let v2_a = abs(v2_x);
  let v2_t = vec4<f32>(1.0) / (v2_a * 0.32759109139442444 + 1.0);
  let v2 = v1 * 0.5 * (sign(v2_x) * (vec4<f32>(1.0) - ((((v2_t * 1.0614054203033447 - 1.453152060508728) * v2_t + 1.421413779258728) * v2_t - 0.2844967246055603) * v2_t + 0.2548295855522156) * v2_t * exp(-(v2_a * v2_a))) + 1.0);
  let v3 = v2 * a2;
  out[j] = v3;
}
