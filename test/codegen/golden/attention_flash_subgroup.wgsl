// mdc kernel: attention
// flash, subgroup of 8, 16 query rows per workgroup, key blocks of 8
enable subgroups;
@group(0) @binding(0) var<storage, read> q: array<f32>;
@group(0) @binding(1) var<storage, read> k: array<f32>;
@group(0) @binding(2) var<storage, read> v: array<f32>;
@group(0) @binding(3) var<storage, read> mask: array<i32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;
var<private> mdc_inf_bits: u32 = 0x7f800000u;
fn mdc_isnan_f32(x: f32) -> bool { return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u; }
fn mdc_subgroupMax_f32(v: f32) -> f32 { return select(subgroupMax(v), bitcast<f32>(mdc_inf_bits | 0x400000u), subgroupMax(select(0u, 1u, mdc_isnan_f32(v))) != 0u); }
fn mdc_max_f32(a: f32, b: f32) -> f32 { return select(select(max(a, b), b, mdc_isnan_f32(b)), a, mdc_isnan_f32(a)); }
@compute @workgroup_size(8)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(subgroup_invocation_id) lane: u32) {
  let h = wid.y;
  let b = wid.z;
  let kvh = h / 2u;
  let q0 = wid.x * 16u;
  let qb0 = (b * 17u + min(q0, 16u)) * 48u + h * 12u;
  let q0_0 = q[qb0 + lane] * 0.28867512941360474;
  var acc0_0 = 0.0;
  let q0_1 = select(0.0, q[qb0 + min(lane + 8u, 11u)] * 0.28867512941360474, lane + 8u < 12u);
  var acc0_1 = 0.0;
  var m0 = -3.4028234663852886e+38;
  var l0 = 0.0;
  let qb1 = (b * 17u + min(q0 + 1u, 16u)) * 48u + h * 12u;
  let q1_0 = q[qb1 + lane] * 0.28867512941360474;
  var acc1_0 = 0.0;
  let q1_1 = select(0.0, q[qb1 + min(lane + 8u, 11u)] * 0.28867512941360474, lane + 8u < 12u);
  var acc1_1 = 0.0;
  var m1 = -3.4028234663852886e+38;
  var l1 = 0.0;
  let qb2 = (b * 17u + min(q0 + 2u, 16u)) * 48u + h * 12u;
  let q2_0 = q[qb2 + lane] * 0.28867512941360474;
  var acc2_0 = 0.0;
  let q2_1 = select(0.0, q[qb2 + min(lane + 8u, 11u)] * 0.28867512941360474, lane + 8u < 12u);
  var acc2_1 = 0.0;
  var m2 = -3.4028234663852886e+38;
  var l2 = 0.0;
  let qb3 = (b * 17u + min(q0 + 3u, 16u)) * 48u + h * 12u;
  let q3_0 = q[qb3 + lane] * 0.28867512941360474;
  var acc3_0 = 0.0;
  let q3_1 = select(0.0, q[qb3 + min(lane + 8u, 11u)] * 0.28867512941360474, lane + 8u < 12u);
  var acc3_1 = 0.0;
  var m3 = -3.4028234663852886e+38;
  var l3 = 0.0;
  let qb4 = (b * 17u + min(q0 + 4u, 16u)) * 48u + h * 12u;
  let q4_0 = q[qb4 + lane] * 0.28867512941360474;
  var acc4_0 = 0.0;
  let q4_1 = select(0.0, q[qb4 + min(lane + 8u, 11u)] * 0.28867512941360474, lane + 8u < 12u);
  var acc4_1 = 0.0;
  var m4 = -3.4028234663852886e+38;
  var l4 = 0.0;
  let qb5 = (b * 17u + min(q0 + 5u, 16u)) * 48u + h * 12u;
  let q5_0 = q[qb5 + lane] * 0.28867512941360474;
  var acc5_0 = 0.0;
  let q5_1 = select(0.0, q[qb5 + min(lane + 8u, 11u)] * 0.28867512941360474, lane + 8u < 12u);
  var acc5_1 = 0.0;
  var m5 = -3.4028234663852886e+38;
  var l5 = 0.0;
  let qb6 = (b * 17u + min(q0 + 6u, 16u)) * 48u + h * 12u;
  let q6_0 = q[qb6 + lane] * 0.28867512941360474;
  var acc6_0 = 0.0;
  let q6_1 = select(0.0, q[qb6 + min(lane + 8u, 11u)] * 0.28867512941360474, lane + 8u < 12u);
  var acc6_1 = 0.0;
  var m6 = -3.4028234663852886e+38;
  var l6 = 0.0;
  let qb7 = (b * 17u + min(q0 + 7u, 16u)) * 48u + h * 12u;
  let q7_0 = q[qb7 + lane] * 0.28867512941360474;
  var acc7_0 = 0.0;
  let q7_1 = select(0.0, q[qb7 + min(lane + 8u, 11u)] * 0.28867512941360474, lane + 8u < 12u);
  var acc7_1 = 0.0;
  var m7 = -3.4028234663852886e+38;
  var l7 = 0.0;
  let qb8 = (b * 17u + min(q0 + 8u, 16u)) * 48u + h * 12u;
  let q8_0 = q[qb8 + lane] * 0.28867512941360474;
  var acc8_0 = 0.0;
  let q8_1 = select(0.0, q[qb8 + min(lane + 8u, 11u)] * 0.28867512941360474, lane + 8u < 12u);
  var acc8_1 = 0.0;
  var m8 = -3.4028234663852886e+38;
  var l8 = 0.0;
  let qb9 = (b * 17u + min(q0 + 9u, 16u)) * 48u + h * 12u;
  let q9_0 = q[qb9 + lane] * 0.28867512941360474;
  var acc9_0 = 0.0;
  let q9_1 = select(0.0, q[qb9 + min(lane + 8u, 11u)] * 0.28867512941360474, lane + 8u < 12u);
  var acc9_1 = 0.0;
  var m9 = -3.4028234663852886e+38;
  var l9 = 0.0;
  let qb10 = (b * 17u + min(q0 + 10u, 16u)) * 48u + h * 12u;
  let q10_0 = q[qb10 + lane] * 0.28867512941360474;
  var acc10_0 = 0.0;
  let q10_1 = select(0.0, q[qb10 + min(lane + 8u, 11u)] * 0.28867512941360474, lane + 8u < 12u);
  var acc10_1 = 0.0;
  var m10 = -3.4028234663852886e+38;
  var l10 = 0.0;
  let qb11 = (b * 17u + min(q0 + 11u, 16u)) * 48u + h * 12u;
  let q11_0 = q[qb11 + lane] * 0.28867512941360474;
  var acc11_0 = 0.0;
  let q11_1 = select(0.0, q[qb11 + min(lane + 8u, 11u)] * 0.28867512941360474, lane + 8u < 12u);
  var acc11_1 = 0.0;
  var m11 = -3.4028234663852886e+38;
  var l11 = 0.0;
  let qb12 = (b * 17u + min(q0 + 12u, 16u)) * 48u + h * 12u;
  let q12_0 = q[qb12 + lane] * 0.28867512941360474;
  var acc12_0 = 0.0;
  let q12_1 = select(0.0, q[qb12 + min(lane + 8u, 11u)] * 0.28867512941360474, lane + 8u < 12u);
  var acc12_1 = 0.0;
  var m12 = -3.4028234663852886e+38;
  var l12 = 0.0;
  let qb13 = (b * 17u + min(q0 + 13u, 16u)) * 48u + h * 12u;
  let q13_0 = q[qb13 + lane] * 0.28867512941360474;
  var acc13_0 = 0.0;
  let q13_1 = select(0.0, q[qb13 + min(lane + 8u, 11u)] * 0.28867512941360474, lane + 8u < 12u);
  var acc13_1 = 0.0;
  var m13 = -3.4028234663852886e+38;
  var l13 = 0.0;
  let qb14 = (b * 17u + min(q0 + 14u, 16u)) * 48u + h * 12u;
  let q14_0 = q[qb14 + lane] * 0.28867512941360474;
  var acc14_0 = 0.0;
  let q14_1 = select(0.0, q[qb14 + min(lane + 8u, 11u)] * 0.28867512941360474, lane + 8u < 12u);
  var acc14_1 = 0.0;
  var m14 = -3.4028234663852886e+38;
  var l14 = 0.0;
  let qb15 = (b * 17u + min(q0 + 15u, 16u)) * 48u + h * 12u;
  let q15_0 = q[qb15 + lane] * 0.28867512941360474;
  var acc15_0 = 0.0;
  let q15_1 = select(0.0, q[qb15 + min(lane + 8u, 11u)] * 0.28867512941360474, lane + 8u < 12u);
  var acc15_1 = 0.0;
  var m15 = -3.4028234663852886e+38;
  var l15 = 0.0;
  let kend = min(i32(q0) + 15, 16) + 1;
  for (var j0 = 0; j0 < kend; j0 += 8) {
    let j = u32(j0) + lane;
    let jc = min(j, 16u);
    let kb = (b * 17u + jc) * 24u + kvh * 12u;
    var s0 = 0.0;
    var s1 = 0.0;
    var s2 = 0.0;
    var s3 = 0.0;
    var s4 = 0.0;
    var s5 = 0.0;
    var s6 = 0.0;
    var s7 = 0.0;
    var s8 = 0.0;
    var s9 = 0.0;
    var s10 = 0.0;
    var s11 = 0.0;
    var s12 = 0.0;
    var s13 = 0.0;
    var s14 = 0.0;
    var s15 = 0.0;
    for (var c = 0u; c < 8u; c += 1u) {
      {
        let kd = k[kb + c];
        s0 = fma(subgroupShuffle(q0_0, c), kd, s0);
        s1 = fma(subgroupShuffle(q1_0, c), kd, s1);
        s2 = fma(subgroupShuffle(q2_0, c), kd, s2);
        s3 = fma(subgroupShuffle(q3_0, c), kd, s3);
        s4 = fma(subgroupShuffle(q4_0, c), kd, s4);
        s5 = fma(subgroupShuffle(q5_0, c), kd, s5);
        s6 = fma(subgroupShuffle(q6_0, c), kd, s6);
        s7 = fma(subgroupShuffle(q7_0, c), kd, s7);
        s8 = fma(subgroupShuffle(q8_0, c), kd, s8);
        s9 = fma(subgroupShuffle(q9_0, c), kd, s9);
        s10 = fma(subgroupShuffle(q10_0, c), kd, s10);
        s11 = fma(subgroupShuffle(q11_0, c), kd, s11);
        s12 = fma(subgroupShuffle(q12_0, c), kd, s12);
        s13 = fma(subgroupShuffle(q13_0, c), kd, s13);
        s14 = fma(subgroupShuffle(q14_0, c), kd, s14);
        s15 = fma(subgroupShuffle(q15_0, c), kd, s15);
      }
      {
        let kd = k[kb + min(c + 8u, 11u)];
        s0 = fma(subgroupShuffle(q0_1, c), kd, s0);
        s1 = fma(subgroupShuffle(q1_1, c), kd, s1);
        s2 = fma(subgroupShuffle(q2_1, c), kd, s2);
        s3 = fma(subgroupShuffle(q3_1, c), kd, s3);
        s4 = fma(subgroupShuffle(q4_1, c), kd, s4);
        s5 = fma(subgroupShuffle(q5_1, c), kd, s5);
        s6 = fma(subgroupShuffle(q6_1, c), kd, s6);
        s7 = fma(subgroupShuffle(q7_1, c), kd, s7);
        s8 = fma(subgroupShuffle(q8_1, c), kd, s8);
        s9 = fma(subgroupShuffle(q9_1, c), kd, s9);
        s10 = fma(subgroupShuffle(q10_1, c), kd, s10);
        s11 = fma(subgroupShuffle(q11_1, c), kd, s11);
        s12 = fma(subgroupShuffle(q12_1, c), kd, s12);
        s13 = fma(subgroupShuffle(q13_1, c), kd, s13);
        s14 = fma(subgroupShuffle(q14_1, c), kd, s14);
        s15 = fma(subgroupShuffle(q15_1, c), kd, s15);
      }
    }
    {
      let ok = j < 17u && mask[b * 17u + jc] != 0 && i32(j) <= i32(q0);
      let mn = mdc_max_f32(m0, mdc_subgroupMax_f32(select(-3.4028234663852886e+38, s0, ok)));
      let corr = exp(m0 - mn);
      s0 = select(0.0, exp(s0 - mn), ok);
      l0 = l0 * corr + subgroupAdd(s0);
      acc0_0 = acc0_0 * corr;
      acc0_1 = acc0_1 * corr;
      m0 = mn;
    }
    {
      let ok = j < 17u && mask[b * 17u + jc] != 0 && i32(j) <= i32(q0) + 1;
      let mn = mdc_max_f32(m1, mdc_subgroupMax_f32(select(-3.4028234663852886e+38, s1, ok)));
      let corr = exp(m1 - mn);
      s1 = select(0.0, exp(s1 - mn), ok);
      l1 = l1 * corr + subgroupAdd(s1);
      acc1_0 = acc1_0 * corr;
      acc1_1 = acc1_1 * corr;
      m1 = mn;
    }
    {
      let ok = j < 17u && mask[b * 17u + jc] != 0 && i32(j) <= i32(q0) + 2;
      let mn = mdc_max_f32(m2, mdc_subgroupMax_f32(select(-3.4028234663852886e+38, s2, ok)));
      let corr = exp(m2 - mn);
      s2 = select(0.0, exp(s2 - mn), ok);
      l2 = l2 * corr + subgroupAdd(s2);
      acc2_0 = acc2_0 * corr;
      acc2_1 = acc2_1 * corr;
      m2 = mn;
    }
    {
      let ok = j < 17u && mask[b * 17u + jc] != 0 && i32(j) <= i32(q0) + 3;
      let mn = mdc_max_f32(m3, mdc_subgroupMax_f32(select(-3.4028234663852886e+38, s3, ok)));
      let corr = exp(m3 - mn);
      s3 = select(0.0, exp(s3 - mn), ok);
      l3 = l3 * corr + subgroupAdd(s3);
      acc3_0 = acc3_0 * corr;
      acc3_1 = acc3_1 * corr;
      m3 = mn;
    }
    {
      let ok = j < 17u && mask[b * 17u + jc] != 0 && i32(j) <= i32(q0) + 4;
      let mn = mdc_max_f32(m4, mdc_subgroupMax_f32(select(-3.4028234663852886e+38, s4, ok)));
      let corr = exp(m4 - mn);
      s4 = select(0.0, exp(s4 - mn), ok);
      l4 = l4 * corr + subgroupAdd(s4);
      acc4_0 = acc4_0 * corr;
      acc4_1 = acc4_1 * corr;
      m4 = mn;
    }
    {
      let ok = j < 17u && mask[b * 17u + jc] != 0 && i32(j) <= i32(q0) + 5;
      let mn = mdc_max_f32(m5, mdc_subgroupMax_f32(select(-3.4028234663852886e+38, s5, ok)));
      let corr = exp(m5 - mn);
      s5 = select(0.0, exp(s5 - mn), ok);
      l5 = l5 * corr + subgroupAdd(s5);
      acc5_0 = acc5_0 * corr;
      acc5_1 = acc5_1 * corr;
      m5 = mn;
    }
    {
      let ok = j < 17u && mask[b * 17u + jc] != 0 && i32(j) <= i32(q0) + 6;
      let mn = mdc_max_f32(m6, mdc_subgroupMax_f32(select(-3.4028234663852886e+38, s6, ok)));
      let corr = exp(m6 - mn);
      s6 = select(0.0, exp(s6 - mn), ok);
      l6 = l6 * corr + subgroupAdd(s6);
      acc6_0 = acc6_0 * corr;
      acc6_1 = acc6_1 * corr;
      m6 = mn;
    }
    {
      let ok = j < 17u && mask[b * 17u + jc] != 0 && i32(j) <= i32(q0) + 7;
      let mn = mdc_max_f32(m7, mdc_subgroupMax_f32(select(-3.4028234663852886e+38, s7, ok)));
      let corr = exp(m7 - mn);
      s7 = select(0.0, exp(s7 - mn), ok);
      l7 = l7 * corr + subgroupAdd(s7);
      acc7_0 = acc7_0 * corr;
      acc7_1 = acc7_1 * corr;
      m7 = mn;
    }
    {
      let ok = j < 17u && mask[b * 17u + jc] != 0 && i32(j) <= i32(q0) + 8;
      let mn = mdc_max_f32(m8, mdc_subgroupMax_f32(select(-3.4028234663852886e+38, s8, ok)));
      let corr = exp(m8 - mn);
      s8 = select(0.0, exp(s8 - mn), ok);
      l8 = l8 * corr + subgroupAdd(s8);
      acc8_0 = acc8_0 * corr;
      acc8_1 = acc8_1 * corr;
      m8 = mn;
    }
    {
      let ok = j < 17u && mask[b * 17u + jc] != 0 && i32(j) <= i32(q0) + 9;
      let mn = mdc_max_f32(m9, mdc_subgroupMax_f32(select(-3.4028234663852886e+38, s9, ok)));
      let corr = exp(m9 - mn);
      s9 = select(0.0, exp(s9 - mn), ok);
      l9 = l9 * corr + subgroupAdd(s9);
      acc9_0 = acc9_0 * corr;
      acc9_1 = acc9_1 * corr;
      m9 = mn;
    }
    {
      let ok = j < 17u && mask[b * 17u + jc] != 0 && i32(j) <= i32(q0) + 10;
      let mn = mdc_max_f32(m10, mdc_subgroupMax_f32(select(-3.4028234663852886e+38, s10, ok)));
      let corr = exp(m10 - mn);
      s10 = select(0.0, exp(s10 - mn), ok);
      l10 = l10 * corr + subgroupAdd(s10);
      acc10_0 = acc10_0 * corr;
      acc10_1 = acc10_1 * corr;
      m10 = mn;
    }
    {
      let ok = j < 17u && mask[b * 17u + jc] != 0 && i32(j) <= i32(q0) + 11;
      let mn = mdc_max_f32(m11, mdc_subgroupMax_f32(select(-3.4028234663852886e+38, s11, ok)));
      let corr = exp(m11 - mn);
      s11 = select(0.0, exp(s11 - mn), ok);
      l11 = l11 * corr + subgroupAdd(s11);
      acc11_0 = acc11_0 * corr;
      acc11_1 = acc11_1 * corr;
      m11 = mn;
    }
    {
      let ok = j < 17u && mask[b * 17u + jc] != 0 && i32(j) <= i32(q0) + 12;
      let mn = mdc_max_f32(m12, mdc_subgroupMax_f32(select(-3.4028234663852886e+38, s12, ok)));
      let corr = exp(m12 - mn);
      s12 = select(0.0, exp(s12 - mn), ok);
      l12 = l12 * corr + subgroupAdd(s12);
      acc12_0 = acc12_0 * corr;
      acc12_1 = acc12_1 * corr;
      m12 = mn;
    }
    {
      let ok = j < 17u && mask[b * 17u + jc] != 0 && i32(j) <= i32(q0) + 13;
      let mn = mdc_max_f32(m13, mdc_subgroupMax_f32(select(-3.4028234663852886e+38, s13, ok)));
      let corr = exp(m13 - mn);
      s13 = select(0.0, exp(s13 - mn), ok);
      l13 = l13 * corr + subgroupAdd(s13);
      acc13_0 = acc13_0 * corr;
      acc13_1 = acc13_1 * corr;
      m13 = mn;
    }
    {
      let ok = j < 17u && mask[b * 17u + jc] != 0 && i32(j) <= i32(q0) + 14;
      let mn = mdc_max_f32(m14, mdc_subgroupMax_f32(select(-3.4028234663852886e+38, s14, ok)));
      let corr = exp(m14 - mn);
      s14 = select(0.0, exp(s14 - mn), ok);
      l14 = l14 * corr + subgroupAdd(s14);
      acc14_0 = acc14_0 * corr;
      acc14_1 = acc14_1 * corr;
      m14 = mn;
    }
    {
      let ok = j < 17u && mask[b * 17u + jc] != 0 && i32(j) <= i32(q0) + 15;
      let mn = mdc_max_f32(m15, mdc_subgroupMax_f32(select(-3.4028234663852886e+38, s15, ok)));
      let corr = exp(m15 - mn);
      s15 = select(0.0, exp(s15 - mn), ok);
      l15 = l15 * corr + subgroupAdd(s15);
      acc15_0 = acc15_0 * corr;
      acc15_1 = acc15_1 * corr;
      m15 = mn;
    }
    for (var c = 0u; c < 8u; c += 1u) {
      let vb = (b * 17u + min(u32(j0) + c, 16u)) * 24u + kvh * 12u;
      let v0 = v[vb + lane];
      let v1 = v[vb + min(lane + 8u, 11u)];
      {
        let p = subgroupShuffle(s0, c);
        acc0_0 = fma(p, v0, acc0_0);
        acc0_1 = fma(p, v1, acc0_1);
      }
      {
        let p = subgroupShuffle(s1, c);
        acc1_0 = fma(p, v0, acc1_0);
        acc1_1 = fma(p, v1, acc1_1);
      }
      {
        let p = subgroupShuffle(s2, c);
        acc2_0 = fma(p, v0, acc2_0);
        acc2_1 = fma(p, v1, acc2_1);
      }
      {
        let p = subgroupShuffle(s3, c);
        acc3_0 = fma(p, v0, acc3_0);
        acc3_1 = fma(p, v1, acc3_1);
      }
      {
        let p = subgroupShuffle(s4, c);
        acc4_0 = fma(p, v0, acc4_0);
        acc4_1 = fma(p, v1, acc4_1);
      }
      {
        let p = subgroupShuffle(s5, c);
        acc5_0 = fma(p, v0, acc5_0);
        acc5_1 = fma(p, v1, acc5_1);
      }
      {
        let p = subgroupShuffle(s6, c);
        acc6_0 = fma(p, v0, acc6_0);
        acc6_1 = fma(p, v1, acc6_1);
      }
      {
        let p = subgroupShuffle(s7, c);
        acc7_0 = fma(p, v0, acc7_0);
        acc7_1 = fma(p, v1, acc7_1);
      }
      {
        let p = subgroupShuffle(s8, c);
        acc8_0 = fma(p, v0, acc8_0);
        acc8_1 = fma(p, v1, acc8_1);
      }
      {
        let p = subgroupShuffle(s9, c);
        acc9_0 = fma(p, v0, acc9_0);
        acc9_1 = fma(p, v1, acc9_1);
      }
      {
        let p = subgroupShuffle(s10, c);
        acc10_0 = fma(p, v0, acc10_0);
        acc10_1 = fma(p, v1, acc10_1);
      }
      {
        let p = subgroupShuffle(s11, c);
        acc11_0 = fma(p, v0, acc11_0);
        acc11_1 = fma(p, v1, acc11_1);
      }
      {
        let p = subgroupShuffle(s12, c);
        acc12_0 = fma(p, v0, acc12_0);
        acc12_1 = fma(p, v1, acc12_1);
      }
      {
        let p = subgroupShuffle(s13, c);
        acc13_0 = fma(p, v0, acc13_0);
        acc13_1 = fma(p, v1, acc13_1);
      }
      {
        let p = subgroupShuffle(s14, c);
        acc14_0 = fma(p, v0, acc14_0);
        acc14_1 = fma(p, v1, acc14_1);
      }
      {
        let p = subgroupShuffle(s15, c);
        acc15_0 = fma(p, v0, acc15_0);
        acc15_1 = fma(p, v1, acc15_1);
      }
    }
  }
  if (q0 < 17u) {
    let inv = select(0.0, 1.0 / l0, l0 > 0.0);
    out[qb0 + lane] = acc0_0 * inv;
    if (lane + 8u < 12u) {
      out[qb0 + lane + 8u] = acc0_1 * inv;
    }
  }
  if (q0 + 1u < 17u) {
    let inv = select(0.0, 1.0 / l1, l1 > 0.0);
    out[qb1 + lane] = acc1_0 * inv;
    if (lane + 8u < 12u) {
      out[qb1 + lane + 8u] = acc1_1 * inv;
    }
  }
  if (q0 + 2u < 17u) {
    let inv = select(0.0, 1.0 / l2, l2 > 0.0);
    out[qb2 + lane] = acc2_0 * inv;
    if (lane + 8u < 12u) {
      out[qb2 + lane + 8u] = acc2_1 * inv;
    }
  }
  if (q0 + 3u < 17u) {
    let inv = select(0.0, 1.0 / l3, l3 > 0.0);
    out[qb3 + lane] = acc3_0 * inv;
    if (lane + 8u < 12u) {
      out[qb3 + lane + 8u] = acc3_1 * inv;
    }
  }
  if (q0 + 4u < 17u) {
    let inv = select(0.0, 1.0 / l4, l4 > 0.0);
    out[qb4 + lane] = acc4_0 * inv;
    if (lane + 8u < 12u) {
      out[qb4 + lane + 8u] = acc4_1 * inv;
    }
  }
  if (q0 + 5u < 17u) {
    let inv = select(0.0, 1.0 / l5, l5 > 0.0);
    out[qb5 + lane] = acc5_0 * inv;
    if (lane + 8u < 12u) {
      out[qb5 + lane + 8u] = acc5_1 * inv;
    }
  }
  if (q0 + 6u < 17u) {
    let inv = select(0.0, 1.0 / l6, l6 > 0.0);
    out[qb6 + lane] = acc6_0 * inv;
    if (lane + 8u < 12u) {
      out[qb6 + lane + 8u] = acc6_1 * inv;
    }
  }
  if (q0 + 7u < 17u) {
    let inv = select(0.0, 1.0 / l7, l7 > 0.0);
    out[qb7 + lane] = acc7_0 * inv;
    if (lane + 8u < 12u) {
      out[qb7 + lane + 8u] = acc7_1 * inv;
    }
  }
  if (q0 + 8u < 17u) {
    let inv = select(0.0, 1.0 / l8, l8 > 0.0);
    out[qb8 + lane] = acc8_0 * inv;
    if (lane + 8u < 12u) {
      out[qb8 + lane + 8u] = acc8_1 * inv;
    }
  }
  if (q0 + 9u < 17u) {
    let inv = select(0.0, 1.0 / l9, l9 > 0.0);
    out[qb9 + lane] = acc9_0 * inv;
    if (lane + 8u < 12u) {
      out[qb9 + lane + 8u] = acc9_1 * inv;
    }
  }
  if (q0 + 10u < 17u) {
    let inv = select(0.0, 1.0 / l10, l10 > 0.0);
    out[qb10 + lane] = acc10_0 * inv;
    if (lane + 8u < 12u) {
      out[qb10 + lane + 8u] = acc10_1 * inv;
    }
  }
  if (q0 + 11u < 17u) {
    let inv = select(0.0, 1.0 / l11, l11 > 0.0);
    out[qb11 + lane] = acc11_0 * inv;
    if (lane + 8u < 12u) {
      out[qb11 + lane + 8u] = acc11_1 * inv;
    }
  }
  if (q0 + 12u < 17u) {
    let inv = select(0.0, 1.0 / l12, l12 > 0.0);
    out[qb12 + lane] = acc12_0 * inv;
    if (lane + 8u < 12u) {
      out[qb12 + lane + 8u] = acc12_1 * inv;
    }
  }
  if (q0 + 13u < 17u) {
    let inv = select(0.0, 1.0 / l13, l13 > 0.0);
    out[qb13 + lane] = acc13_0 * inv;
    if (lane + 8u < 12u) {
      out[qb13 + lane + 8u] = acc13_1 * inv;
    }
  }
  if (q0 + 14u < 17u) {
    let inv = select(0.0, 1.0 / l14, l14 > 0.0);
    out[qb14 + lane] = acc14_0 * inv;
    if (lane + 8u < 12u) {
      out[qb14 + lane + 8u] = acc14_1 * inv;
    }
  }
  if (q0 + 15u < 17u) {
    let inv = select(0.0, 1.0 / l15, l15 > 0.0);
    out[qb15 + lane] = acc15_0 * inv;
    if (lane + 8u < 12u) {
      out[qb15 + lane + 8u] = acc15_1 * inv;
    }
  }
}
