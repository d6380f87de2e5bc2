// mdc kernel: attention
// flash, 8 query rows per workgroup, key blocks of 5 in workgroup memory
@group(0) @binding(0) var<storage, read_write> q: array<f32>;
@group(0) @binding(1) var<storage, read_write> k: array<f32>;
@group(0) @binding(2) var<storage, read_write> v: array<f32>;
@group(0) @binding(3) var<storage, read> mask: array<i32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;
var<workgroup> Ks: array<f32, 10>;
var<workgroup> Vs: array<f32, 10>;
fn mdc_isnan_f32(x: f32) -> bool { return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u; }
fn mdc_max_f32(a: f32, b: f32) -> f32 { return select(select(max(a, b), b, mdc_isnan_f32(b)), a, mdc_isnan_f32(a)); }
@compute @workgroup_size(8)
fn main(@builtin(local_invocation_index) lindex: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  let h = wid.y;
  let b = wid.z;
  let kvh = h / 2u;
  let q0 = wid.x * 8u;
  let qi = q0 + lindex;
  let qb = (b * 5u + min(qi, 4u)) * 8u + h * 2u;
  let qv0 = q[qb] * 0.7071067690849304;
  let qv1 = q[qb + 1u] * 0.7071067690849304;
  var acc0 = 0.0;
  var acc1 = 0.0;
  var m = -3.4028234663852886e+38;
  var l = 0.0;
  let kend = min(i32(q0) + 7, 4) + 1;
  let last = i32(qi);
  for (var j0 = 0; j0 < kend; j0 += 5) {
    for (var u = lindex; u < 10u; u += 8u) {
      let at = (b * 5u + min(u32(j0) + u / 2u, 4u)) * 4u + kvh * 2u + u % 2u;
      Ks[u] = k[at];
      Vs[u] = v[at];
    }
    workgroupBarrier();
    let n = min(kend - j0, 5);
    for (var jj = 0; jj < n; jj += 1) {
      let j = j0 + jj;
      let o = u32(jj) * 2u;
      var s = 0.0;
      s = fma(qv0, Ks[o], s);
      s = fma(qv1, Ks[o + 1u], s);
      let ok = j <= last && mask[b * 5u + u32(j)] != 0;
      let mn = select(m, mdc_max_f32(m, s), ok);
      let corr = exp(m - mn);
      let p = select(0.0, exp(s - mn), ok);
      l = l * corr + p;
      m = mn;
      acc0 = fma(p, Vs[o], acc0 * corr);
      acc1 = fma(p, Vs[o + 1u], acc1 * corr);
    }
    workgroupBarrier();
  }
  if (qi < 5u) {
    let inv = select(0.0, 1.0 / l, l > 0.0);
    out[qb] = acc0 * inv;
    out[qb + 1u] = acc1 * inv;
  }
}
