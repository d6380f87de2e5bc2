// mdc kernel: attention
// flash, 16 query rows per workgroup, key blocks of 9 in workgroup memory
enable f16;
@group(0) @binding(0) var<storage, read_write> q: array<f16>;
@group(0) @binding(1) var<storage, read_write> k: array<f16>;
@group(0) @binding(2) var<storage, read_write> v: array<f16>;
@group(0) @binding(3) var<storage, read_write> out: array<f16>;
var<workgroup> Ks: array<f32, 72>;
var<workgroup> Vs: array<f32, 72>;
fn mdc_isnan_f32(x: f32) -> bool { return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u; }
fn mdc_max_f32(a: f32, b: f32) -> f32 { return select(select(max(a, b), b, mdc_isnan_f32(b)), a, mdc_isnan_f32(a)); }
@compute @workgroup_size(16)
fn main(@builtin(local_invocation_index) lindex: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  let h = wid.y;
  let b = wid.z;
  let kvh = h;
  let q0 = wid.x * 16u;
  let qi = q0 + lindex;
  let qb = (b * 9u + min(qi, 8u)) * 16u + h * 8u;
  let qv0 = f32(q[qb]) * 0.3535533845424652;
  let qv1 = f32(q[qb + 1u]) * 0.3535533845424652;
  let qv2 = f32(q[qb + 2u]) * 0.3535533845424652;
  let qv3 = f32(q[qb + 3u]) * 0.3535533845424652;
  let qv4 = f32(q[qb + 4u]) * 0.3535533845424652;
  let qv5 = f32(q[qb + 5u]) * 0.3535533845424652;
  let qv6 = f32(q[qb + 6u]) * 0.3535533845424652;
  let qv7 = f32(q[qb + 7u]) * 0.3535533845424652;
  var acc0 = 0.0;
  var acc1 = 0.0;
  var acc2 = 0.0;
  var acc3 = 0.0;
  var acc4 = 0.0;
  var acc5 = 0.0;
  var acc6 = 0.0;
  var acc7 = 0.0;
  var m = -3.4028234663852886e+38;
  var l = 0.0;
  let kend = 9;
  for (var j0 = 0; j0 < kend; j0 += 9) {
    for (var u = lindex; u < 72u; u += 16u) {
      let at = (b * 9u + min(u32(j0) + u / 8u, 8u)) * 16u + kvh * 8u + u % 8u;
      Ks[u] = f32(k[at]);
      Vs[u] = f32(v[at]);
    }
    workgroupBarrier();
    let n = min(kend - j0, 9);
    for (var jj = 0; jj < n; jj += 1) {
      let j = j0 + jj;
      let o = u32(jj) * 8u;
      var s = 0.0;
      s = fma(qv0, Ks[o], s);
      s = fma(qv1, Ks[o + 1u], s);
      s = fma(qv2, Ks[o + 2u], s);
      s = fma(qv3, Ks[o + 3u], s);
      s = fma(qv4, Ks[o + 4u], s);
      s = fma(qv5, Ks[o + 5u], s);
      s = fma(qv6, Ks[o + 6u], s);
      s = fma(qv7, Ks[o + 7u], s);
      let ok = true;
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
    }
    workgroupBarrier();
  }
  if (qi < 9u) {
    let inv = select(0.0, 1.0 / l, l > 0.0);
    out[qb] = f16(acc0 * inv);
    out[qb + 1u] = f16(acc1 * inv);
    out[qb + 2u] = f16(acc2 * inv);
    out[qb + 3u] = f16(acc3 * inv);
    out[qb + 4u] = f16(acc4 * inv);
    out[qb + 5u] = f16(acc5 * inv);
    out[qb + 6u] = f16(acc6 * inv);
    out[qb + 7u] = f16(acc7 * inv);
  }
}
