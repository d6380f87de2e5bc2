// mdc kernel: attention
// flash, 32 query rows per workgroup, key blocks of 17 in workgroup memory
@group(0) @binding(0) var<storage, read> q: array<f32>;
@group(0) @binding(1) var<storage, read> k: array<f32>;
@group(0) @binding(2) var<storage, read> v: array<f32>;
@group(0) @binding(3) var<storage, read> mask: array<i32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;
var<workgroup> Ks: array<f32, 204>;
var<workgroup> Vs: array<f32, 204>;
fn mdc_isnan_f32(x: f32) -> bool { return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u; }
fn mdc_max_f32(a: f32, b: f32) -> f32 { return select(select(max(a, b), b, mdc_isnan_f32(b)), a, mdc_isnan_f32(a)); }
@compute @workgroup_size(32)
fn main(@builtin(local_invocation_index) lindex: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  let h = wid.y;
  let b = wid.z;
  let kvh = h / 2u;
  let q0 = wid.x * 32u;
  let qi = q0 + lindex;
  let qb = (b * 17u + min(qi, 16u)) * 48u + h * 12u;
  let qv0 = q[qb] * 0.28867512941360474;
  let qv1 = q[qb + 1u] * 0.28867512941360474;
  let qv2 = q[qb + 2u] * 0.28867512941360474;
  let qv3 = q[qb + 3u] * 0.28867512941360474;
  let qv4 = q[qb + 4u] * 0.28867512941360474;
  let qv5 = q[qb + 5u] * 0.28867512941360474;
  let qv6 = q[qb + 6u] * 0.28867512941360474;
  let qv7 = q[qb + 7u] * 0.28867512941360474;
  let qv8 = q[qb + 8u] * 0.28867512941360474;
  let qv9 = q[qb + 9u] * 0.28867512941360474;
  let qv10 = q[qb + 10u] * 0.28867512941360474;
  let qv11 = q[qb + 11u] * 0.28867512941360474;
  var acc0 = 0.0;
  var acc1 = 0.0;
  var acc2 = 0.0;
  var acc3 = 0.0;
  var acc4 = 0.0;
  var acc5 = 0.0;
  var acc6 = 0.0;
  var acc7 = 0.0;
  var acc8 = 0.0;
  var acc9 = 0.0;
  var acc10 = 0.0;
  var acc11 = 0.0;
  var m = -3.4028234663852886e+38;
  var l = 0.0;
  let kend = min(i32(q0) + 31, 16) + 1;
  let last = i32(qi);
  for (var j0 = 0; j0 < kend; j0 += 17) {
    for (var u = lindex; u < 204u; u += 32u) {
      let at = (b * 17u + min(u32(j0) + u / 12u, 16u)) * 24u + kvh * 12u + u % 12u;
      Ks[u] = k[at];
      Vs[u] = v[at];
    }
    workgroupBarrier();
    let n = min(kend - j0, 17);
    for (var jj = 0; jj < n; jj += 1) {
      let j = j0 + jj;
      let o = u32(jj) * 12u;
      var s = 0.0;
      s = fma(qv0, Ks[o], s);
      s = fma(qv1, Ks[o + 1u], s);
      s = fma(qv2, Ks[o + 2u], s);
      s = fma(qv3, Ks[o + 3u], s);
      s = fma(qv4, Ks[o + 4u], s);
      s = fma(qv5, Ks[o + 5u], s);
      s = fma(qv6, Ks[o + 6u], s);
      s = fma(qv7, Ks[o + 7u], s);
      s = fma(qv8, Ks[o + 8u], s);
      s = fma(qv9, Ks[o + 9u], s);
      s = fma(qv10, Ks[o + 10u], s);
      s = fma(qv11, Ks[o + 11u], s);
      let ok = j <= last && mask[b * 17u + u32(j)] != 0;
      let mn = select(m, mdc_max_f32(m, s), ok);
      let corr = exp(m - mn);
      let p = select(0.0, exp(s - mn), ok);
      l = l * corr + p;
      m = mn;
      acc0 = fma(p, Vs[o], acc0 * corr);
      acc1 = fma(p, Vs[o + 1u], acc1 * corr);
      acc2 = fma(p, Vs[o + 2u], acc2 * corr);
      acc3 = fma(p, Vs[o + 3u], acc3 * corr);
      acc4 = fma(p, Vs[o + 4u], acc4 * corr);
      acc5 = fma(p, Vs[o + 5u], acc5 * corr);
      acc6 = fma(p, Vs[o + 6u], acc6 * corr);
      acc7 = fma(p, Vs[o + 7u], acc7 * corr);
      acc8 = fma(p, Vs[o + 8u], acc8 * corr);
      acc9 = fma(p, Vs[o + 9u], acc9 * corr);
      acc10 = fma(p, Vs[o + 10u], acc10 * corr);
      acc11 = fma(p, Vs[o + 11u], acc11 * corr);
    }
    workgroupBarrier();
  }
  if (qi < 17u) {
    let inv = select(0.0, 1.0 / l, l > 0.0);
    out[qb] = acc0 * inv;
    out[qb + 1u] = acc1 * inv;
    out[qb + 2u] = acc2 * inv;
    out[qb + 3u] = acc3 * inv;
    out[qb + 4u] = acc4 * inv;
    out[qb + 5u] = acc5 * inv;
    out[qb + 6u] = acc6 * inv;
    out[qb + 7u] = acc7 * inv;
    out[qb + 8u] = acc8 * inv;
    out[qb + 9u] = acc9 * inv;
    out[qb + 10u] = acc10 * inv;
    out[qb + 11u] = acc11 * inv;
  }
}
