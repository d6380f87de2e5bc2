// mdc kernel: matmul_subgroup
// [17, 19] @ [19, 33] → [17, 33]
// subgroup 16x1 per lane, raster m, 8 lanes (needs a subgroup size of 8)
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
  let cb = wid.y * 8u + lane;
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
  var acc0_0 = 0.0;
  var acc1_0 = 0.0;
  var acc2_0 = 0.0;
  var acc3_0 = 0.0;
  var acc4_0 = 0.0;
  var acc5_0 = 0.0;
  var acc6_0 = 0.0;
  var acc7_0 = 0.0;
  var acc8_0 = 0.0;
  var acc9_0 = 0.0;
  var acc10_0 = 0.0;
  var acc11_0 = 0.0;
  var acc12_0 = 0.0;
  var acc13_0 = 0.0;
  var acc14_0 = 0.0;
  var acc15_0 = 0.0;
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
    {
      let brow = k0 * N;
      let b0 = b[brow + bcol0];
      let s0 = subgroupBroadcast(av0, 0u);
      acc0_0 = fma(s0, b0, acc0_0);
      let s1 = subgroupBroadcast(av1, 0u);
      acc1_0 = fma(s1, b0, acc1_0);
      let s2 = subgroupBroadcast(av2, 0u);
      acc2_0 = fma(s2, b0, acc2_0);
      let s3 = subgroupBroadcast(av3, 0u);
      acc3_0 = fma(s3, b0, acc3_0);
      let s4 = subgroupBroadcast(av4, 0u);
      acc4_0 = fma(s4, b0, acc4_0);
      let s5 = subgroupBroadcast(av5, 0u);
      acc5_0 = fma(s5, b0, acc5_0);
      let s6 = subgroupBroadcast(av6, 0u);
      acc6_0 = fma(s6, b0, acc6_0);
      let s7 = subgroupBroadcast(av7, 0u);
      acc7_0 = fma(s7, b0, acc7_0);
      let s8 = subgroupBroadcast(av8, 0u);
      acc8_0 = fma(s8, b0, acc8_0);
      let s9 = subgroupBroadcast(av9, 0u);
      acc9_0 = fma(s9, b0, acc9_0);
      let s10 = subgroupBroadcast(av10, 0u);
      acc10_0 = fma(s10, b0, acc10_0);
      let s11 = subgroupBroadcast(av11, 0u);
      acc11_0 = fma(s11, b0, acc11_0);
      let s12 = subgroupBroadcast(av12, 0u);
      acc12_0 = fma(s12, b0, acc12_0);
      let s13 = subgroupBroadcast(av13, 0u);
      acc13_0 = fma(s13, b0, acc13_0);
      let s14 = subgroupBroadcast(av14, 0u);
      acc14_0 = fma(s14, b0, acc14_0);
      let s15 = subgroupBroadcast(av15, 0u);
      acc15_0 = fma(s15, b0, acc15_0);
    }
    {
      let brow = (k0 + 1u) * N;
      let b0 = b[brow + bcol0];
      let s0 = subgroupBroadcast(av0, 1u);
      acc0_0 = fma(s0, b0, acc0_0);
      let s1 = subgroupBroadcast(av1, 1u);
      acc1_0 = fma(s1, b0, acc1_0);
      let s2 = subgroupBroadcast(av2, 1u);
      acc2_0 = fma(s2, b0, acc2_0);
      let s3 = subgroupBroadcast(av3, 1u);
      acc3_0 = fma(s3, b0, acc3_0);
      let s4 = subgroupBroadcast(av4, 1u);
      acc4_0 = fma(s4, b0, acc4_0);
      let s5 = subgroupBroadcast(av5, 1u);
      acc5_0 = fma(s5, b0, acc5_0);
      let s6 = subgroupBroadcast(av6, 1u);
      acc6_0 = fma(s6, b0, acc6_0);
      let s7 = subgroupBroadcast(av7, 1u);
      acc7_0 = fma(s7, b0, acc7_0);
      let s8 = subgroupBroadcast(av8, 1u);
      acc8_0 = fma(s8, b0, acc8_0);
      let s9 = subgroupBroadcast(av9, 1u);
      acc9_0 = fma(s9, b0, acc9_0);
      let s10 = subgroupBroadcast(av10, 1u);
      acc10_0 = fma(s10, b0, acc10_0);
      let s11 = subgroupBroadcast(av11, 1u);
      acc11_0 = fma(s11, b0, acc11_0);
      let s12 = subgroupBroadcast(av12, 1u);
      acc12_0 = fma(s12, b0, acc12_0);
      let s13 = subgroupBroadcast(av13, 1u);
      acc13_0 = fma(s13, b0, acc13_0);
      let s14 = subgroupBroadcast(av14, 1u);
      acc14_0 = fma(s14, b0, acc14_0);
      let s15 = subgroupBroadcast(av15, 1u);
      acc15_0 = fma(s15, b0, acc15_0);
    }
    {
      let brow = (k0 + 2u) * N;
      let b0 = b[brow + bcol0];
      let s0 = subgroupBroadcast(av0, 2u);
      acc0_0 = fma(s0, b0, acc0_0);
      let s1 = subgroupBroadcast(av1, 2u);
      acc1_0 = fma(s1, b0, acc1_0);
      let s2 = subgroupBroadcast(av2, 2u);
      acc2_0 = fma(s2, b0, acc2_0);
      let s3 = subgroupBroadcast(av3, 2u);
      acc3_0 = fma(s3, b0, acc3_0);
      let s4 = subgroupBroadcast(av4, 2u);
      acc4_0 = fma(s4, b0, acc4_0);
      let s5 = subgroupBroadcast(av5, 2u);
      acc5_0 = fma(s5, b0, acc5_0);
      let s6 = subgroupBroadcast(av6, 2u);
      acc6_0 = fma(s6, b0, acc6_0);
      let s7 = subgroupBroadcast(av7, 2u);
      acc7_0 = fma(s7, b0, acc7_0);
      let s8 = subgroupBroadcast(av8, 2u);
      acc8_0 = fma(s8, b0, acc8_0);
      let s9 = subgroupBroadcast(av9, 2u);
      acc9_0 = fma(s9, b0, acc9_0);
      let s10 = subgroupBroadcast(av10, 2u);
      acc10_0 = fma(s10, b0, acc10_0);
      let s11 = subgroupBroadcast(av11, 2u);
      acc11_0 = fma(s11, b0, acc11_0);
      let s12 = subgroupBroadcast(av12, 2u);
      acc12_0 = fma(s12, b0, acc12_0);
      let s13 = subgroupBroadcast(av13, 2u);
      acc13_0 = fma(s13, b0, acc13_0);
      let s14 = subgroupBroadcast(av14, 2u);
      acc14_0 = fma(s14, b0, acc14_0);
      let s15 = subgroupBroadcast(av15, 2u);
      acc15_0 = fma(s15, b0, acc15_0);
    }
    {
      let brow = (k0 + 3u) * N;
      let b0 = b[brow + bcol0];
      let s0 = subgroupBroadcast(av0, 3u);
      acc0_0 = fma(s0, b0, acc0_0);
      let s1 = subgroupBroadcast(av1, 3u);
      acc1_0 = fma(s1, b0, acc1_0);
      let s2 = subgroupBroadcast(av2, 3u);
      acc2_0 = fma(s2, b0, acc2_0);
      let s3 = subgroupBroadcast(av3, 3u);
      acc3_0 = fma(s3, b0, acc3_0);
      let s4 = subgroupBroadcast(av4, 3u);
      acc4_0 = fma(s4, b0, acc4_0);
      let s5 = subgroupBroadcast(av5, 3u);
      acc5_0 = fma(s5, b0, acc5_0);
      let s6 = subgroupBroadcast(av6, 3u);
      acc6_0 = fma(s6, b0, acc6_0);
      let s7 = subgroupBroadcast(av7, 3u);
      acc7_0 = fma(s7, b0, acc7_0);
      let s8 = subgroupBroadcast(av8, 3u);
      acc8_0 = fma(s8, b0, acc8_0);
      let s9 = subgroupBroadcast(av9, 3u);
      acc9_0 = fma(s9, b0, acc9_0);
      let s10 = subgroupBroadcast(av10, 3u);
      acc10_0 = fma(s10, b0, acc10_0);
      let s11 = subgroupBroadcast(av11, 3u);
      acc11_0 = fma(s11, b0, acc11_0);
      let s12 = subgroupBroadcast(av12, 3u);
      acc12_0 = fma(s12, b0, acc12_0);
      let s13 = subgroupBroadcast(av13, 3u);
      acc13_0 = fma(s13, b0, acc13_0);
      let s14 = subgroupBroadcast(av14, 3u);
      acc14_0 = fma(s14, b0, acc14_0);
      let s15 = subgroupBroadcast(av15, 3u);
      acc15_0 = fma(s15, b0, acc15_0);
    }
    {
      let brow = (k0 + 4u) * N;
      let b0 = b[brow + bcol0];
      let s0 = subgroupBroadcast(av0, 4u);
      acc0_0 = fma(s0, b0, acc0_0);
      let s1 = subgroupBroadcast(av1, 4u);
      acc1_0 = fma(s1, b0, acc1_0);
      let s2 = subgroupBroadcast(av2, 4u);
      acc2_0 = fma(s2, b0, acc2_0);
      let s3 = subgroupBroadcast(av3, 4u);
      acc3_0 = fma(s3, b0, acc3_0);
      let s4 = subgroupBroadcast(av4, 4u);
      acc4_0 = fma(s4, b0, acc4_0);
      let s5 = subgroupBroadcast(av5, 4u);
      acc5_0 = fma(s5, b0, acc5_0);
      let s6 = subgroupBroadcast(av6, 4u);
      acc6_0 = fma(s6, b0, acc6_0);
      let s7 = subgroupBroadcast(av7, 4u);
      acc7_0 = fma(s7, b0, acc7_0);
      let s8 = subgroupBroadcast(av8, 4u);
      acc8_0 = fma(s8, b0, acc8_0);
      let s9 = subgroupBroadcast(av9, 4u);
      acc9_0 = fma(s9, b0, acc9_0);
      let s10 = subgroupBroadcast(av10, 4u);
      acc10_0 = fma(s10, b0, acc10_0);
      let s11 = subgroupBroadcast(av11, 4u);
      acc11_0 = fma(s11, b0, acc11_0);
      let s12 = subgroupBroadcast(av12, 4u);
      acc12_0 = fma(s12, b0, acc12_0);
      let s13 = subgroupBroadcast(av13, 4u);
      acc13_0 = fma(s13, b0, acc13_0);
      let s14 = subgroupBroadcast(av14, 4u);
      acc14_0 = fma(s14, b0, acc14_0);
      let s15 = subgroupBroadcast(av15, 4u);
      acc15_0 = fma(s15, b0, acc15_0);
    }
    {
      let brow = (k0 + 5u) * N;
      let b0 = b[brow + bcol0];
      let s0 = subgroupBroadcast(av0, 5u);
      acc0_0 = fma(s0, b0, acc0_0);
      let s1 = subgroupBroadcast(av1, 5u);
      acc1_0 = fma(s1, b0, acc1_0);
      let s2 = subgroupBroadcast(av2, 5u);
      acc2_0 = fma(s2, b0, acc2_0);
      let s3 = subgroupBroadcast(av3, 5u);
      acc3_0 = fma(s3, b0, acc3_0);
      let s4 = subgroupBroadcast(av4, 5u);
      acc4_0 = fma(s4, b0, acc4_0);
      let s5 = subgroupBroadcast(av5, 5u);
      acc5_0 = fma(s5, b0, acc5_0);
      let s6 = subgroupBroadcast(av6, 5u);
      acc6_0 = fma(s6, b0, acc6_0);
      let s7 = subgroupBroadcast(av7, 5u);
      acc7_0 = fma(s7, b0, acc7_0);
      let s8 = subgroupBroadcast(av8, 5u);
      acc8_0 = fma(s8, b0, acc8_0);
      let s9 = subgroupBroadcast(av9, 5u);
      acc9_0 = fma(s9, b0, acc9_0);
      let s10 = subgroupBroadcast(av10, 5u);
      acc10_0 = fma(s10, b0, acc10_0);
      let s11 = subgroupBroadcast(av11, 5u);
      acc11_0 = fma(s11, b0, acc11_0);
      let s12 = subgroupBroadcast(av12, 5u);
      acc12_0 = fma(s12, b0, acc12_0);
      let s13 = subgroupBroadcast(av13, 5u);
      acc13_0 = fma(s13, b0, acc13_0);
      let s14 = subgroupBroadcast(av14, 5u);
      acc14_0 = fma(s14, b0, acc14_0);
      let s15 = subgroupBroadcast(av15, 5u);
      acc15_0 = fma(s15, b0, acc15_0);
    }
    {
      let brow = (k0 + 6u) * N;
      let b0 = b[brow + bcol0];
      let s0 = subgroupBroadcast(av0, 6u);
      acc0_0 = fma(s0, b0, acc0_0);
      let s1 = subgroupBroadcast(av1, 6u);
      acc1_0 = fma(s1, b0, acc1_0);
      let s2 = subgroupBroadcast(av2, 6u);
      acc2_0 = fma(s2, b0, acc2_0);
      let s3 = subgroupBroadcast(av3, 6u);
      acc3_0 = fma(s3, b0, acc3_0);
      let s4 = subgroupBroadcast(av4, 6u);
      acc4_0 = fma(s4, b0, acc4_0);
      let s5 = subgroupBroadcast(av5, 6u);
      acc5_0 = fma(s5, b0, acc5_0);
      let s6 = subgroupBroadcast(av6, 6u);
      acc6_0 = fma(s6, b0, acc6_0);
      let s7 = subgroupBroadcast(av7, 6u);
      acc7_0 = fma(s7, b0, acc7_0);
      let s8 = subgroupBroadcast(av8, 6u);
      acc8_0 = fma(s8, b0, acc8_0);
      let s9 = subgroupBroadcast(av9, 6u);
      acc9_0 = fma(s9, b0, acc9_0);
      let s10 = subgroupBroadcast(av10, 6u);
      acc10_0 = fma(s10, b0, acc10_0);
      let s11 = subgroupBroadcast(av11, 6u);
      acc11_0 = fma(s11, b0, acc11_0);
      let s12 = subgroupBroadcast(av12, 6u);
      acc12_0 = fma(s12, b0, acc12_0);
      let s13 = subgroupBroadcast(av13, 6u);
      acc13_0 = fma(s13, b0, acc13_0);
      let s14 = subgroupBroadcast(av14, 6u);
      acc14_0 = fma(s14, b0, acc14_0);
      let s15 = subgroupBroadcast(av15, 6u);
      acc15_0 = fma(s15, b0, acc15_0);
    }
    {
      let brow = (k0 + 7u) * N;
      let b0 = b[brow + bcol0];
      let s0 = subgroupBroadcast(av0, 7u);
      acc0_0 = fma(s0, b0, acc0_0);
      let s1 = subgroupBroadcast(av1, 7u);
      acc1_0 = fma(s1, b0, acc1_0);
      let s2 = subgroupBroadcast(av2, 7u);
      acc2_0 = fma(s2, b0, acc2_0);
      let s3 = subgroupBroadcast(av3, 7u);
      acc3_0 = fma(s3, b0, acc3_0);
      let s4 = subgroupBroadcast(av4, 7u);
      acc4_0 = fma(s4, b0, acc4_0);
      let s5 = subgroupBroadcast(av5, 7u);
      acc5_0 = fma(s5, b0, acc5_0);
      let s6 = subgroupBroadcast(av6, 7u);
      acc6_0 = fma(s6, b0, acc6_0);
      let s7 = subgroupBroadcast(av7, 7u);
      acc7_0 = fma(s7, b0, acc7_0);
      let s8 = subgroupBroadcast(av8, 7u);
      acc8_0 = fma(s8, b0, acc8_0);
      let s9 = subgroupBroadcast(av9, 7u);
      acc9_0 = fma(s9, b0, acc9_0);
      let s10 = subgroupBroadcast(av10, 7u);
      acc10_0 = fma(s10, b0, acc10_0);
      let s11 = subgroupBroadcast(av11, 7u);
      acc11_0 = fma(s11, b0, acc11_0);
      let s12 = subgroupBroadcast(av12, 7u);
      acc12_0 = fma(s12, b0, acc12_0);
      let s13 = subgroupBroadcast(av13, 7u);
      acc13_0 = fma(s13, b0, acc13_0);
      let s14 = subgroupBroadcast(av14, 7u);
      acc14_0 = fma(s14, b0, acc14_0);
      let s15 = subgroupBroadcast(av15, 7u);
      acc15_0 = fma(s15, b0, acc15_0);
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
      let s0 = subgroupBroadcast(av0, 0u);
      acc0_0 = fma(s0, b0, acc0_0);
      let s1 = subgroupBroadcast(av1, 0u);
      acc1_0 = fma(s1, b0, acc1_0);
      let s2 = subgroupBroadcast(av2, 0u);
      acc2_0 = fma(s2, b0, acc2_0);
      let s3 = subgroupBroadcast(av3, 0u);
      acc3_0 = fma(s3, b0, acc3_0);
      let s4 = subgroupBroadcast(av4, 0u);
      acc4_0 = fma(s4, b0, acc4_0);
      let s5 = subgroupBroadcast(av5, 0u);
      acc5_0 = fma(s5, b0, acc5_0);
      let s6 = subgroupBroadcast(av6, 0u);
      acc6_0 = fma(s6, b0, acc6_0);
      let s7 = subgroupBroadcast(av7, 0u);
      acc7_0 = fma(s7, b0, acc7_0);
      let s8 = subgroupBroadcast(av8, 0u);
      acc8_0 = fma(s8, b0, acc8_0);
      let s9 = subgroupBroadcast(av9, 0u);
      acc9_0 = fma(s9, b0, acc9_0);
      let s10 = subgroupBroadcast(av10, 0u);
      acc10_0 = fma(s10, b0, acc10_0);
      let s11 = subgroupBroadcast(av11, 0u);
      acc11_0 = fma(s11, b0, acc11_0);
      let s12 = subgroupBroadcast(av12, 0u);
      acc12_0 = fma(s12, b0, acc12_0);
      let s13 = subgroupBroadcast(av13, 0u);
      acc13_0 = fma(s13, b0, acc13_0);
      let s14 = subgroupBroadcast(av14, 0u);
      acc14_0 = fma(s14, b0, acc14_0);
      let s15 = subgroupBroadcast(av15, 0u);
      acc15_0 = fma(s15, b0, acc15_0);
    }
    {
      let brow = 17u * N;
      let b0 = b[brow + bcol0];
      let s0 = subgroupBroadcast(av0, 1u);
      acc0_0 = fma(s0, b0, acc0_0);
      let s1 = subgroupBroadcast(av1, 1u);
      acc1_0 = fma(s1, b0, acc1_0);
      let s2 = subgroupBroadcast(av2, 1u);
      acc2_0 = fma(s2, b0, acc2_0);
      let s3 = subgroupBroadcast(av3, 1u);
      acc3_0 = fma(s3, b0, acc3_0);
      let s4 = subgroupBroadcast(av4, 1u);
      acc4_0 = fma(s4, b0, acc4_0);
      let s5 = subgroupBroadcast(av5, 1u);
      acc5_0 = fma(s5, b0, acc5_0);
      let s6 = subgroupBroadcast(av6, 1u);
      acc6_0 = fma(s6, b0, acc6_0);
      let s7 = subgroupBroadcast(av7, 1u);
      acc7_0 = fma(s7, b0, acc7_0);
      let s8 = subgroupBroadcast(av8, 1u);
      acc8_0 = fma(s8, b0, acc8_0);
      let s9 = subgroupBroadcast(av9, 1u);
      acc9_0 = fma(s9, b0, acc9_0);
      let s10 = subgroupBroadcast(av10, 1u);
      acc10_0 = fma(s10, b0, acc10_0);
      let s11 = subgroupBroadcast(av11, 1u);
      acc11_0 = fma(s11, b0, acc11_0);
      let s12 = subgroupBroadcast(av12, 1u);
      acc12_0 = fma(s12, b0, acc12_0);
      let s13 = subgroupBroadcast(av13, 1u);
      acc13_0 = fma(s13, b0, acc13_0);
      let s14 = subgroupBroadcast(av14, 1u);
      acc14_0 = fma(s14, b0, acc14_0);
      let s15 = subgroupBroadcast(av15, 1u);
      acc15_0 = fma(s15, b0, acc15_0);
    }
    {
      let brow = 18u * N;
      let b0 = b[brow + bcol0];
      let s0 = subgroupBroadcast(av0, 2u);
      acc0_0 = fma(s0, b0, acc0_0);
      let s1 = subgroupBroadcast(av1, 2u);
      acc1_0 = fma(s1, b0, acc1_0);
      let s2 = subgroupBroadcast(av2, 2u);
      acc2_0 = fma(s2, b0, acc2_0);
      let s3 = subgroupBroadcast(av3, 2u);
      acc3_0 = fma(s3, b0, acc3_0);
      let s4 = subgroupBroadcast(av4, 2u);
      acc4_0 = fma(s4, b0, acc4_0);
      let s5 = subgroupBroadcast(av5, 2u);
      acc5_0 = fma(s5, b0, acc5_0);
      let s6 = subgroupBroadcast(av6, 2u);
      acc6_0 = fma(s6, b0, acc6_0);
      let s7 = subgroupBroadcast(av7, 2u);
      acc7_0 = fma(s7, b0, acc7_0);
      let s8 = subgroupBroadcast(av8, 2u);
      acc8_0 = fma(s8, b0, acc8_0);
      let s9 = subgroupBroadcast(av9, 2u);
      acc9_0 = fma(s9, b0, acc9_0);
      let s10 = subgroupBroadcast(av10, 2u);
      acc10_0 = fma(s10, b0, acc10_0);
      let s11 = subgroupBroadcast(av11, 2u);
      acc11_0 = fma(s11, b0, acc11_0);
      let s12 = subgroupBroadcast(av12, 2u);
      acc12_0 = fma(s12, b0, acc12_0);
      let s13 = subgroupBroadcast(av13, 2u);
      acc13_0 = fma(s13, b0, acc13_0);
      let s14 = subgroupBroadcast(av14, 2u);
      acc14_0 = fma(s14, b0, acc14_0);
      let s15 = subgroupBroadcast(av15, 2u);
      acc15_0 = fma(s15, b0, acc15_0);
    }
  }
  if (r0 < M && cb < N) {
    out[r0 * N + cb] = acc0_0;
  }
  if (r0 + 1u < M && cb < N) {
    out[(r0 + 1u) * N + cb] = acc1_0;
  }
  if (r0 + 2u < M && cb < N) {
    out[(r0 + 2u) * N + cb] = acc2_0;
  }
  if (r0 + 3u < M && cb < N) {
    out[(r0 + 3u) * N + cb] = acc3_0;
  }
  if (r0 + 4u < M && cb < N) {
    out[(r0 + 4u) * N + cb] = acc4_0;
  }
  if (r0 + 5u < M && cb < N) {
    out[(r0 + 5u) * N + cb] = acc5_0;
  }
  if (r0 + 6u < M && cb < N) {
    out[(r0 + 6u) * N + cb] = acc6_0;
  }
  if (r0 + 7u < M && cb < N) {
    out[(r0 + 7u) * N + cb] = acc7_0;
  }
  if (r0 + 8u < M && cb < N) {
    out[(r0 + 8u) * N + cb] = acc8_0;
  }
  if (r0 + 9u < M && cb < N) {
    out[(r0 + 9u) * N + cb] = acc9_0;
  }
  if (r0 + 10u < M && cb < N) {
    out[(r0 + 10u) * N + cb] = acc10_0;
  }
  if (r0 + 11u < M && cb < N) {
    out[(r0 + 11u) * N + cb] = acc11_0;
  }
  if (r0 + 12u < M && cb < N) {
    out[(r0 + 12u) * N + cb] = acc12_0;
  }
  if (r0 + 13u < M && cb < N) {
    out[(r0 + 13u) * N + cb] = acc13_0;
  }
  if (r0 + 14u < M && cb < N) {
    out[(r0 + 14u) * N + cb] = acc14_0;
  }
  if (r0 + 15u < M && cb < N) {
    out[(r0 + 15u) * N + cb] = acc15_0;
  }
}
