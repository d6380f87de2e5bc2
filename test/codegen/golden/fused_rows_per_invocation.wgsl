// mdc kernel: fused_mul_mean_add_and_3_more_rows
// 300 rows of 64, one invocation per row, four-wide
@group(0) @binding(0) var<storage, read> in0: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> in1: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> out: array<vec4<f32>>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let row = gid.x;
  if (row >= 300u) {
    return;
  }
  let base = row * 16u;
  var acc1 = 0.0;
  for (var j = 0u; j < 16u; j += 1u) {
    let a0 = in0[base + j];
    let v0 = a0 * a0;
    acc1 = acc1 + (v0.x + v0.y + (v0.z + v0.w));
  }
  let s1 = acc1 / 64.0;
  let s2 = s1 + 9.999999974752427e-7;
  let s3 = inverseSqrt(s2);
  for (var j = 0u; j < 16u; j += 1u) {
    let a0 = in0[base + j];
    let v4 = a0 * vec4<f32>(s3);
    let a1 = in1[j];
    let v5 = v4 * a1;
    out[base + j] = v5;
  }
}
