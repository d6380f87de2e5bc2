// mdc kernel: attention
@group(0) @binding(0) var<storage, read> q: array<f32>;
@group(0) @binding(1) var<storage, read> k: array<f32>;
@group(0) @binding(2) var<storage, read> v: array<f32>;
@group(0) @binding(3) var<storage, read> mask: array<i32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  if (gid.x >= 20u) { return; }
  let i = gid.x;
  let qi = i % 5u;
  let h = (i / 5u) % 4u;
  let b = i / 20u;
  let kvh = h / 2u;
  let qbase = (b * 5u + qi) * 8u + h * 2u;
  var acc: array<f32, 2>;
  for (var d = 0u; d < 2u; d = d + 1u) { acc[d] = 0.0; }
  var m = -3.4028234e38;
  var l = 0.0;
  let last = min(i32(qi) + 0, 4);
  for (var jj = 0; jj <= last; jj = jj + 1) {
    let j = u32(jj);
    if (mask[b * 5u + j] == 0) { continue; }
    let kbase = (b * 5u + j) * 4u + kvh * 2u;
    var s = 0.0;
    for (var d = 0u; d < 2u; d = d + 1u) { s = s + q[qbase + d] * k[kbase + d]; }
    s = s * 0.7071067690849304;
    let mn = max(m, s);
    let corr = exp(m - mn);
    let p = exp(s - mn);
    l = l * corr + p;
    for (var d = 0u; d < 2u; d = d + 1u) { acc[d] = acc[d] * corr + p * v[kbase + d]; }
    m = mn;
  }
  let inv = select(0.0, 1.0 / l, l > 0.0);
  for (var d = 0u; d < 2u; d = d + 1u) { out[qbase + d] = acc[d] * inv; }
}
