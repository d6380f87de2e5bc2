// mdc kernel: rms_norm_rows
// 8 rows of 4096, one subgroup of 8 per row, four-wide
enable subgroups;
@group(0) @binding(0) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> w: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> out: array<vec4<f32>>;
@compute @workgroup_size(8)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(subgroup_invocation_id) lane: u32) {
  let row = wid.x;
  let t = lane;
  let base = row * 1024u;
  var ss = 0.0;
  for (var j = t; j < 1024u; j += 8u) {
    let d = x[base + j];
    let h = d * d;
    ss = ss + (h.x + h.y + (h.z + h.w));
  }
  let sum_all = subgroupAdd(ss);
  let r = inverseSqrt(sum_all / 4096.0 + 9.999999974752427e-7);
  for (var j = t; j < 1024u; j += 8u) {
    out[base + j] = x[base + j] * r * w[j];
  }
}
