// mdc kernel: matmul_subgroup
// [17, 19] @ [19, 33] → [17, 33]
// subgroup 16x2 per lane, raster m, 8 lanes (needs a subgroup size of 8)
enable subgroups;
const M = 17u;
const N = 33u;
const K = 19u;
@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@compute @workgroup_size(8)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(subgroup_invocation_id) lane: u32) {
  let r0 = wid.x * 16u;
  let cb = wid.y * 16u + lane;
  let arow0 = min(r0, 16u) * K;
  let arow1 = min(r0 + 1u, 16u) * K;
  let arow2 = min(r0 + 2u, 16u) * K;
  let arow3 = min(r0 + 3u, 16u) * K;
  let arow4 = min(r0 + 4u, 16u) * K;
  let arow5 = min(r0 + 5u, 16u) * K;
  let arow6 = min(r0 + 6u, 16u) * K;
  let arow7 = min(r0 + 7u, 16u) * K;
  let arow8 = min(r0 + 8u, 16u) * K;
  let arow9 = min(r0 + 9u, 16u) * K;
  let arow10 = min(r0 + 10u, 16u) * K;
  let arow11 = min(r0 + 11u, 16u) * K;
  let arow12 = min(r0 + 12u, 16u) * K;
  let arow13 = min(r0 + 13u, 16u) * K;
  let arow14 = min(r0 + 14u, 16u) * K;
  let arow15 = min(r0 + 15u, 16u) * K;
  let bcol0 = min(cb, 32u);
  let bcol1 = min(cb + 8u, 32u);
  var acc0_0 = 0.0;
  var acc0_1 = 0.0;
  var acc1_0 = 0.0;
  var acc1_1 = 0.0;
  var acc2_0 = 0.0;
  var acc2_1 = 0.0;
  var acc3_0 = 0.0;
  var acc3_1 = 0.0;
  var acc4_0 = 0.0;
  var acc4_1 = 0.0;
  var acc5_0 = 0.0;
  var acc5_1 = 0.0;
  var acc6_0 = 0.0;
  var acc6_1 = 0.0;
  var acc7_0 = 0.0;
  var acc7_1 = 0.0;
  var acc8_0 = 0.0;
  var acc8_1 = 0.0;
  var acc9_0 = 0.0;
  var acc9_1 = 0.0;
  var acc10_0 = 0.0;
  var acc10_1 = 0.0;
  var acc11_0 = 0.0;
  var acc11_1 = 0.0;
  var acc12_0 = 0.0;
  var acc12_1 = 0.0;
  var acc13_0 = 0.0;
  var acc13_1 = 0.0;
  var acc14_0 = 0.0;
  var acc14_1 = 0.0;
  var acc15_0 = 0.0;
  var acc15_1 = 0.0;
  for (var k0 = 0u; k0 < 16u; k0 += 8u) {
    let av0 = a[arow0 + k0 + lane];
    let av1 = a[arow1 + k0 + lane];
    let av2 = a[arow2 + k0 + lane];
    let av3 = a[arow3 + k0 + lane];
    let av4 = a[arow4 + k0 + lane];
    let av5 = a[arow5 + k0 + lane];
    let av6 = a[arow6 + k0 + lane];
    let av7 = a[arow7 + k0 + lane];
    let av8 = a[arow8 + k0 + lane];
    let av9 = a[arow9 + k0 + lane];
    let av10 = a[arow10 + k0 + lane];
    let av11 = a[arow11 + k0 + lane];
    let av12 = a[arow12 + k0 + lane];
    let av13 = a[arow13 + k0 + lane];
    let av14 = a[arow14 + k0 + lane];
    let av15 = a[arow15 + k0 + lane];
    for (var kk = 0u; kk < 8u; kk += 1u) {
      let brow = (k0 + kk) * N;
      let b0 = b[brow + bcol0];
      let b1 = b[brow + bcol1];
      let s0 = subgroupShuffle(av0, kk);
      acc0_0 = fma(s0, b0, acc0_0);
      acc0_1 = fma(s0, b1, acc0_1);
      let s1 = subgroupShuffle(av1, kk);
      acc1_0 = fma(s1, b0, acc1_0);
      acc1_1 = fma(s1, b1, acc1_1);
      let s2 = subgroupShuffle(av2, kk);
      acc2_0 = fma(s2, b0, acc2_0);
      acc2_1 = fma(s2, b1, acc2_1);
      let s3 = subgroupShuffle(av3, kk);
      acc3_0 = fma(s3, b0, acc3_0);
      acc3_1 = fma(s3, b1, acc3_1);
      let s4 = subgroupShuffle(av4, kk);
      acc4_0 = fma(s4, b0, acc4_0);
      acc4_1 = fma(s4, b1, acc4_1);
      let s5 = subgroupShuffle(av5, kk);
      acc5_0 = fma(s5, b0, acc5_0);
      acc5_1 = fma(s5, b1, acc5_1);
      let s6 = subgroupShuffle(av6, kk);
      acc6_0 = fma(s6, b0, acc6_0);
      acc6_1 = fma(s6, b1, acc6_1);
      let s7 = subgroupShuffle(av7, kk);
      acc7_0 = fma(s7, b0, acc7_0);
      acc7_1 = fma(s7, b1, acc7_1);
      let s8 = subgroupShuffle(av8, kk);
      acc8_0 = fma(s8, b0, acc8_0);
      acc8_1 = fma(s8, b1, acc8_1);
      let s9 = subgroupShuffle(av9, kk);
      acc9_0 = fma(s9, b0, acc9_0);
      acc9_1 = fma(s9, b1, acc9_1);
      let s10 = subgroupShuffle(av10, kk);
      acc10_0 = fma(s10, b0, acc10_0);
      acc10_1 = fma(s10, b1, acc10_1);
      let s11 = subgroupShuffle(av11, kk);
      acc11_0 = fma(s11, b0, acc11_0);
      acc11_1 = fma(s11, b1, acc11_1);
      let s12 = subgroupShuffle(av12, kk);
      acc12_0 = fma(s12, b0, acc12_0);
      acc12_1 = fma(s12, b1, acc12_1);
      let s13 = subgroupShuffle(av13, kk);
      acc13_0 = fma(s13, b0, acc13_0);
      acc13_1 = fma(s13, b1, acc13_1);
      let s14 = subgroupShuffle(av14, kk);
      acc14_0 = fma(s14, b0, acc14_0);
      acc14_1 = fma(s14, b1, acc14_1);
      let s15 = subgroupShuffle(av15, kk);
      acc15_0 = fma(s15, b0, acc15_0);
      acc15_1 = fma(s15, b1, acc15_1);
    }
  }
  {
    let av0 = a[arow0 + 16u + min(lane, 2u)];
    let av1 = a[arow1 + 16u + min(lane, 2u)];
    let av2 = a[arow2 + 16u + min(lane, 2u)];
    let av3 = a[arow3 + 16u + min(lane, 2u)];
    let av4 = a[arow4 + 16u + min(lane, 2u)];
    let av5 = a[arow5 + 16u + min(lane, 2u)];
    let av6 = a[arow6 + 16u + min(lane, 2u)];
    let av7 = a[arow7 + 16u + min(lane, 2u)];
    let av8 = a[arow8 + 16u + min(lane, 2u)];
    let av9 = a[arow9 + 16u + min(lane, 2u)];
    let av10 = a[arow10 + 16u + min(lane, 2u)];
    let av11 = a[arow11 + 16u + min(lane, 2u)];
    let av12 = a[arow12 + 16u + min(lane, 2u)];
    let av13 = a[arow13 + 16u + min(lane, 2u)];
    let av14 = a[arow14 + 16u + min(lane, 2u)];
    let av15 = a[arow15 + 16u + min(lane, 2u)];
    {
      let brow = 16u * N;
      let b0 = b[brow + bcol0];
      let b1 = b[brow + bcol1];
      let s0 = subgroupBroadcast(av0, 0u);
      acc0_0 = fma(s0, b0, acc0_0);
      acc0_1 = fma(s0, b1, acc0_1);
      let s1 = subgroupBroadcast(av1, 0u);
      acc1_0 = fma(s1, b0, acc1_0);
      acc1_1 = fma(s1, b1, acc1_1);
      let s2 = subgroupBroadcast(av2, 0u);
      acc2_0 = fma(s2, b0, acc2_0);
      acc2_1 = fma(s2, b1, acc2_1);
      let s3 = subgroupBroadcast(av3, 0u);
      acc3_0 = fma(s3, b0, acc3_0);
      acc3_1 = fma(s3, b1, acc3_1);
      let s4 = subgroupBroadcast(av4, 0u);
      acc4_0 = fma(s4, b0, acc4_0);
      acc4_1 = fma(s4, b1, acc4_1);
      let s5 = subgroupBroadcast(av5, 0u);
      acc5_0 = fma(s5, b0, acc5_0);
      acc5_1 = fma(s5, b1, acc5_1);
      let s6 = subgroupBroadcast(av6, 0u);
      acc6_0 = fma(s6, b0, acc6_0);
      acc6_1 = fma(s6, b1, acc6_1);
      let s7 = subgroupBroadcast(av7, 0u);
      acc7_0 = fma(s7, b0, acc7_0);
      acc7_1 = fma(s7, b1, acc7_1);
      let s8 = subgroupBroadcast(av8, 0u);
      acc8_0 = fma(s8, b0, acc8_0);
      acc8_1 = fma(s8, b1, acc8_1);
      let s9 = subgroupBroadcast(av9, 0u);
      acc9_0 = fma(s9, b0, acc9_0);
      acc9_1 = fma(s9, b1, acc9_1);
      let s10 = subgroupBroadcast(av10, 0u);
      acc10_0 = fma(s10, b0, acc10_0);
      acc10_1 = fma(s10, b1, acc10_1);
      let s11 = subgroupBroadcast(av11, 0u);
      acc11_0 = fma(s11, b0, acc11_0);
      acc11_1 = fma(s11, b1, acc11_1);
      let s12 = subgroupBroadcast(av12, 0u);
      acc12_0 = fma(s12, b0, acc12_0);
      acc12_1 = fma(s12, b1, acc12_1);
      let s13 = subgroupBroadcast(av13, 0u);
      acc13_0 = fma(s13, b0, acc13_0);
      acc13_1 = fma(s13, b1, acc13_1);
      let s14 = subgroupBroadcast(av14, 0u);
      acc14_0 = fma(s14, b0, acc14_0);
      acc14_1 = fma(s14, b1, acc14_1);
      let s15 = subgroupBroadcast(av15, 0u);
      acc15_0 = fma(s15, b0, acc15_0);
      acc15_1 = fma(s15, b1, acc15_1);
    }
    {
      let brow = 17u * N;
      let b0 = b[brow + bcol0];
      let b1 = b[brow + bcol1];
      let s0 = subgroupBroadcast(av0, 1u);
      acc0_0 = fma(s0, b0, acc0_0);
      acc0_1 = fma(s0, b1, acc0_1);
      let s1 = subgroupBroadcast(av1, 1u);
      acc1_0 = fma(s1, b0, acc1_0);
      acc1_1 = fma(s1, b1, acc1_1);
      let s2 = subgroupBroadcast(av2, 1u);
      acc2_0 = fma(s2, b0, acc2_0);
      acc2_1 = fma(s2, b1, acc2_1);
      let s3 = subgroupBroadcast(av3, 1u);
      acc3_0 = fma(s3, b0, acc3_0);
      acc3_1 = fma(s3, b1, acc3_1);
      let s4 = subgroupBroadcast(av4, 1u);
      acc4_0 = fma(s4, b0, acc4_0);
      acc4_1 = fma(s4, b1, acc4_1);
      let s5 = subgroupBroadcast(av5, 1u);
      acc5_0 = fma(s5, b0, acc5_0);
      acc5_1 = fma(s5, b1, acc5_1);
      let s6 = subgroupBroadcast(av6, 1u);
      acc6_0 = fma(s6, b0, acc6_0);
      acc6_1 = fma(s6, b1, acc6_1);
      let s7 = subgroupBroadcast(av7, 1u);
      acc7_0 = fma(s7, b0, acc7_0);
      acc7_1 = fma(s7, b1, acc7_1);
      let s8 = subgroupBroadcast(av8, 1u);
      acc8_0 = fma(s8, b0, acc8_0);
      acc8_1 = fma(s8, b1, acc8_1);
      let s9 = subgroupBroadcast(av9, 1u);
      acc9_0 = fma(s9, b0, acc9_0);
      acc9_1 = fma(s9, b1, acc9_1);
      let s10 = subgroupBroadcast(av10, 1u);
      acc10_0 = fma(s10, b0, acc10_0);
      acc10_1 = fma(s10, b1, acc10_1);
      let s11 = subgroupBroadcast(av11, 1u);
      acc11_0 = fma(s11, b0, acc11_0);
      acc11_1 = fma(s11, b1, acc11_1);
      let s12 = subgroupBroadcast(av12, 1u);
      acc12_0 = fma(s12, b0, acc12_0);
      acc12_1 = fma(s12, b1, acc12_1);
      let s13 = subgroupBroadcast(av13, 1u);
      acc13_0 = fma(s13, b0, acc13_0);
      acc13_1 = fma(s13, b1, acc13_1);
      let s14 = subgroupBroadcast(av14, 1u);
      acc14_0 = fma(s14, b0, acc14_0);
      acc14_1 = fma(s14, b1, acc14_1);
      let s15 = subgroupBroadcast(av15, 1u);
      acc15_0 = fma(s15, b0, acc15_0);
      acc15_1 = fma(s15, b1, acc15_1);
    }
    {
      let brow = 18u * N;
      let b0 = b[brow + bcol0];
      let b1 = b[brow + bcol1];
      let s0 = subgroupBroadcast(av0, 2u);
      acc0_0 = fma(s0, b0, acc0_0);
      acc0_1 = fma(s0, b1, acc0_1);
      let s1 = subgroupBroadcast(av1, 2u);
      acc1_0 = fma(s1, b0, acc1_0);
      acc1_1 = fma(s1, b1, acc1_1);
      let s2 = subgroupBroadcast(av2, 2u);
      acc2_0 = fma(s2, b0, acc2_0);
      acc2_1 = fma(s2, b1, acc2_1);
      let s3 = subgroupBroadcast(av3, 2u);
      acc3_0 = fma(s3, b0, acc3_0);
      acc3_1 = fma(s3, b1, acc3_1);
      let s4 = subgroupBroadcast(av4, 2u);
      acc4_0 = fma(s4, b0, acc4_0);
      acc4_1 = fma(s4, b1, acc4_1);
      let s5 = subgroupBroadcast(av5, 2u);
      acc5_0 = fma(s5, b0, acc5_0);
      acc5_1 = fma(s5, b1, acc5_1);
      let s6 = subgroupBroadcast(av6, 2u);
      acc6_0 = fma(s6, b0, acc6_0);
      acc6_1 = fma(s6, b1, acc6_1);
      let s7 = subgroupBroadcast(av7, 2u);
      acc7_0 = fma(s7, b0, acc7_0);
      acc7_1 = fma(s7, b1, acc7_1);
      let s8 = subgroupBroadcast(av8, 2u);
      acc8_0 = fma(s8, b0, acc8_0);
      acc8_1 = fma(s8, b1, acc8_1);
      let s9 = subgroupBroadcast(av9, 2u);
      acc9_0 = fma(s9, b0, acc9_0);
      acc9_1 = fma(s9, b1, acc9_1);
      let s10 = subgroupBroadcast(av10, 2u);
      acc10_0 = fma(s10, b0, acc10_0);
      acc10_1 = fma(s10, b1, acc10_1);
      let s11 = subgroupBroadcast(av11, 2u);
      acc11_0 = fma(s11, b0, acc11_0);
      acc11_1 = fma(s11, b1, acc11_1);
      let s12 = subgroupBroadcast(av12, 2u);
      acc12_0 = fma(s12, b0, acc12_0);
      acc12_1 = fma(s12, b1, acc12_1);
      let s13 = subgroupBroadcast(av13, 2u);
      acc13_0 = fma(s13, b0, acc13_0);
      acc13_1 = fma(s13, b1, acc13_1);
      let s14 = subgroupBroadcast(av14, 2u);
      acc14_0 = fma(s14, b0, acc14_0);
      acc14_1 = fma(s14, b1, acc14_1);
      let s15 = subgroupBroadcast(av15, 2u);
      acc15_0 = fma(s15, b0, acc15_0);
      acc15_1 = fma(s15, b1, acc15_1);
    }
  }
  if (r0 < M && cb < N) {
    out[r0 * N + cb] = acc0_0;
  }
  if (r0 < M && cb + 8u < N) {
    out[r0 * N + (cb + 8u)] = acc0_1;
  }
  if (r0 + 1u < M && cb < N) {
    out[(r0 + 1u) * N + cb] = acc1_0;
  }
  if (r0 + 1u < M && cb + 8u < N) {
    out[(r0 + 1u) * N + (cb + 8u)] = acc1_1;
  }
  if (r0 + 2u < M && cb < N) {
    out[(r0 + 2u) * N + cb] = acc2_0;
  }
  if (r0 + 2u < M && cb + 8u < N) {
    out[(r0 + 2u) * N + (cb + 8u)] = acc2_1;
  }
  if (r0 + 3u < M && cb < N) {
    out[(r0 + 3u) * N + cb] = acc3_0;
  }
  if (r0 + 3u < M && cb + 8u < N) {
    out[(r0 + 3u) * N + (cb + 8u)] = acc3_1;
  }
  if (r0 + 4u < M && cb < N) {
    out[(r0 + 4u) * N + cb] = acc4_0;
  }
  if (r0 + 4u < M && cb + 8u < N) {
    out[(r0 + 4u) * N + (cb + 8u)] = acc4_1;
  }
  if (r0 + 5u < M && cb < N) {
    out[(r0 + 5u) * N + cb] = acc5_0;
  }
  if (r0 + 5u < M && cb + 8u < N) {
    out[(r0 + 5u) * N + (cb + 8u)] = acc5_1;
  }
  if (r0 + 6u < M && cb < N) {
    out[(r0 + 6u) * N + cb] = acc6_0;
  }
  if (r0 + 6u < M && cb + 8u < N) {
    out[(r0 + 6u) * N + (cb + 8u)] = acc6_1;
  }
  if (r0 + 7u < M && cb < N) {
    out[(r0 + 7u) * N + cb] = acc7_0;
  }
  if (r0 + 7u < M && cb + 8u < N) {
    out[(r0 + 7u) * N + (cb + 8u)] = acc7_1;
  }
  if (r0 + 8u < M && cb < N) {
    out[(r0 + 8u) * N + cb] = acc8_0;
  }
  if (r0 + 8u < M && cb + 8u < N) {
    out[(r0 + 8u) * N + (cb + 8u)] = acc8_1;
  }
  if (r0 + 9u < M && cb < N) {
    out[(r0 + 9u) * N + cb] = acc9_0;
  }
  if (r0 + 9u < M && cb + 8u < N) {
    out[(r0 + 9u) * N + (cb + 8u)] = acc9_1;
  }
  if (r0 + 10u < M && cb < N) {
    out[(r0 + 10u) * N + cb] = acc10_0;
  }
  if (r0 + 10u < M && cb + 8u < N) {
    out[(r0 + 10u) * N + (cb + 8u)] = acc10_1;
  }
  if (r0 + 11u < M && cb < N) {
    out[(r0 + 11u) * N + cb] = acc11_0;
  }
  if (r0 + 11u < M && cb + 8u < N) {
    out[(r0 + 11u) * N + (cb + 8u)] = acc11_1;
  }
  if (r0 + 12u < M && cb < N) {
    out[(r0 + 12u) * N + cb] = acc12_0;
  }
  if (r0 + 12u < M && cb + 8u < N) {
    out[(r0 + 12u) * N + (cb + 8u)] = acc12_1;
  }
  if (r0 + 13u < M && cb < N) {
    out[(r0 + 13u) * N + cb] = acc13_0;
  }
  if (r0 + 13u < M && cb + 8u < N) {
    out[(r0 + 13u) * N + (cb + 8u)] = acc13_1;
  }
  if (r0 + 14u < M && cb < N) {
    out[(r0 + 14u) * N + cb] = acc14_0;
  }
  if (r0 + 14u < M && cb + 8u < N) {
    out[(r0 + 14u) * N + (cb + 8u)] = acc14_1;
  }
  if (r0 + 15u < M && cb < N) {
    out[(r0 + 15u) * N + cb] = acc15_0;
  }
  if (r0 + 15u < M && cb + 8u < N) {
    out[(r0 + 15u) * N + (cb + 8u)] = acc15_1;
  }
}
