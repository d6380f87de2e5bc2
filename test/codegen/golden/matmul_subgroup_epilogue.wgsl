// mdc kernel: matmul_subgroup_add_fast_gelu
// [128, 768] @ [768, 3072] → [128, 3072]
// epilogue: add, fast_gelu
// subgroup 16x1 per lane, raster m, 8 lanes (needs a subgroup size of 8)
enable subgroups;
const M = 128u;
const N = 3072u;
const K = 768u;
const N4 = 768u;
@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> e0: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> out: array<vec4<f32>>;
@compute @workgroup_size(8)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(subgroup_invocation_id) lane: u32) {
  let r0 = wid.x * 16u;
  let cb = wid.y * 8u + lane;
  let arow0 = r0 * K;
  let arow1 = (r0 + 1u) * K;
  let arow2 = (r0 + 2u) * K;
  let arow3 = (r0 + 3u) * K;
  let arow4 = (r0 + 4u) * K;
  let arow5 = (r0 + 5u) * K;
  let arow6 = (r0 + 6u) * K;
  let arow7 = (r0 + 7u) * K;
  let arow8 = (r0 + 8u) * K;
  let arow9 = (r0 + 9u) * K;
  let arow10 = (r0 + 10u) * K;
  let arow11 = (r0 + 11u) * K;
  let arow12 = (r0 + 12u) * K;
  let arow13 = (r0 + 13u) * K;
  let arow14 = (r0 + 14u) * K;
  let arow15 = (r0 + 15u) * K;
  let bcol0 = cb;
  var acc0_0 = vec4<f32>(0.0);
  var acc1_0 = vec4<f32>(0.0);
  var acc2_0 = vec4<f32>(0.0);
  var acc3_0 = vec4<f32>(0.0);
  var acc4_0 = vec4<f32>(0.0);
  var acc5_0 = vec4<f32>(0.0);
  var acc6_0 = vec4<f32>(0.0);
  var acc7_0 = vec4<f32>(0.0);
  var acc8_0 = vec4<f32>(0.0);
  var acc9_0 = vec4<f32>(0.0);
  var acc10_0 = vec4<f32>(0.0);
  var acc11_0 = vec4<f32>(0.0);
  var acc12_0 = vec4<f32>(0.0);
  var acc13_0 = vec4<f32>(0.0);
  var acc14_0 = vec4<f32>(0.0);
  var acc15_0 = vec4<f32>(0.0);
  for (var k0 = 0u; k0 < 768u; k0 += 8u) {
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
      let brow = k0 * N4;
      let b0 = b[brow + bcol0];
      let s0 = subgroupBroadcast(av0, 0u);
      acc0_0 = fma(vec4<f32>(s0), b0, acc0_0);
      let s1 = subgroupBroadcast(av1, 0u);
      acc1_0 = fma(vec4<f32>(s1), b0, acc1_0);
      let s2 = subgroupBroadcast(av2, 0u);
      acc2_0 = fma(vec4<f32>(s2), b0, acc2_0);
      let s3 = subgroupBroadcast(av3, 0u);
      acc3_0 = fma(vec4<f32>(s3), b0, acc3_0);
      let s4 = subgroupBroadcast(av4, 0u);
      acc4_0 = fma(vec4<f32>(s4), b0, acc4_0);
      let s5 = subgroupBroadcast(av5, 0u);
      acc5_0 = fma(vec4<f32>(s5), b0, acc5_0);
      let s6 = subgroupBroadcast(av6, 0u);
      acc6_0 = fma(vec4<f32>(s6), b0, acc6_0);
      let s7 = subgroupBroadcast(av7, 0u);
      acc7_0 = fma(vec4<f32>(s7), b0, acc7_0);
      let s8 = subgroupBroadcast(av8, 0u);
      acc8_0 = fma(vec4<f32>(s8), b0, acc8_0);
      let s9 = subgroupBroadcast(av9, 0u);
      acc9_0 = fma(vec4<f32>(s9), b0, acc9_0);
      let s10 = subgroupBroadcast(av10, 0u);
      acc10_0 = fma(vec4<f32>(s10), b0, acc10_0);
      let s11 = subgroupBroadcast(av11, 0u);
      acc11_0 = fma(vec4<f32>(s11), b0, acc11_0);
      let s12 = subgroupBroadcast(av12, 0u);
      acc12_0 = fma(vec4<f32>(s12), b0, acc12_0);
      let s13 = subgroupBroadcast(av13, 0u);
      acc13_0 = fma(vec4<f32>(s13), b0, acc13_0);
      let s14 = subgroupBroadcast(av14, 0u);
      acc14_0 = fma(vec4<f32>(s14), b0, acc14_0);
      let s15 = subgroupBroadcast(av15, 0u);
      acc15_0 = fma(vec4<f32>(s15), b0, acc15_0);
    }
    {
      let brow = (k0 + 1u) * N4;
      let b0 = b[brow + bcol0];
      let s0 = subgroupBroadcast(av0, 1u);
      acc0_0 = fma(vec4<f32>(s0), b0, acc0_0);
      let s1 = subgroupBroadcast(av1, 1u);
      acc1_0 = fma(vec4<f32>(s1), b0, acc1_0);
      let s2 = subgroupBroadcast(av2, 1u);
      acc2_0 = fma(vec4<f32>(s2), b0, acc2_0);
      let s3 = subgroupBroadcast(av3, 1u);
      acc3_0 = fma(vec4<f32>(s3), b0, acc3_0);
      let s4 = subgroupBroadcast(av4, 1u);
      acc4_0 = fma(vec4<f32>(s4), b0, acc4_0);
      let s5 = subgroupBroadcast(av5, 1u);
      acc5_0 = fma(vec4<f32>(s5), b0, acc5_0);
      let s6 = subgroupBroadcast(av6, 1u);
      acc6_0 = fma(vec4<f32>(s6), b0, acc6_0);
      let s7 = subgroupBroadcast(av7, 1u);
      acc7_0 = fma(vec4<f32>(s7), b0, acc7_0);
      let s8 = subgroupBroadcast(av8, 1u);
      acc8_0 = fma(vec4<f32>(s8), b0, acc8_0);
      let s9 = subgroupBroadcast(av9, 1u);
      acc9_0 = fma(vec4<f32>(s9), b0, acc9_0);
      let s10 = subgroupBroadcast(av10, 1u);
      acc10_0 = fma(vec4<f32>(s10), b0, acc10_0);
      let s11 = subgroupBroadcast(av11, 1u);
      acc11_0 = fma(vec4<f32>(s11), b0, acc11_0);
      let s12 = subgroupBroadcast(av12, 1u);
      acc12_0 = fma(vec4<f32>(s12), b0, acc12_0);
      let s13 = subgroupBroadcast(av13, 1u);
      acc13_0 = fma(vec4<f32>(s13), b0, acc13_0);
      let s14 = subgroupBroadcast(av14, 1u);
      acc14_0 = fma(vec4<f32>(s14), b0, acc14_0);
      let s15 = subgroupBroadcast(av15, 1u);
      acc15_0 = fma(vec4<f32>(s15), b0, acc15_0);
    }
    {
      let brow = (k0 + 2u) * N4;
      let b0 = b[brow + bcol0];
      let s0 = subgroupBroadcast(av0, 2u);
      acc0_0 = fma(vec4<f32>(s0), b0, acc0_0);
      let s1 = subgroupBroadcast(av1, 2u);
      acc1_0 = fma(vec4<f32>(s1), b0, acc1_0);
      let s2 = subgroupBroadcast(av2, 2u);
      acc2_0 = fma(vec4<f32>(s2), b0, acc2_0);
      let s3 = subgroupBroadcast(av3, 2u);
      acc3_0 = fma(vec4<f32>(s3), b0, acc3_0);
      let s4 = subgroupBroadcast(av4, 2u);
      acc4_0 = fma(vec4<f32>(s4), b0, acc4_0);
      let s5 = subgroupBroadcast(av5, 2u);
      acc5_0 = fma(vec4<f32>(s5), b0, acc5_0);
      let s6 = subgroupBroadcast(av6, 2u);
      acc6_0 = fma(vec4<f32>(s6), b0, acc6_0);
      let s7 = subgroupBroadcast(av7, 2u);
      acc7_0 = fma(vec4<f32>(s7), b0, acc7_0);
      let s8 = subgroupBroadcast(av8, 2u);
      acc8_0 = fma(vec4<f32>(s8), b0, acc8_0);
      let s9 = subgroupBroadcast(av9, 2u);
      acc9_0 = fma(vec4<f32>(s9), b0, acc9_0);
      let s10 = subgroupBroadcast(av10, 2u);
      acc10_0 = fma(vec4<f32>(s10), b0, acc10_0);
      let s11 = subgroupBroadcast(av11, 2u);
      acc11_0 = fma(vec4<f32>(s11), b0, acc11_0);
      let s12 = subgroupBroadcast(av12, 2u);
      acc12_0 = fma(vec4<f32>(s12), b0, acc12_0);
      let s13 = subgroupBroadcast(av13, 2u);
      acc13_0 = fma(vec4<f32>(s13), b0, acc13_0);
      let s14 = subgroupBroadcast(av14, 2u);
      acc14_0 = fma(vec4<f32>(s14), b0, acc14_0);
      let s15 = subgroupBroadcast(av15, 2u);
      acc15_0 = fma(vec4<f32>(s15), b0, acc15_0);
    }
    {
      let brow = (k0 + 3u) * N4;
      let b0 = b[brow + bcol0];
      let s0 = subgroupBroadcast(av0, 3u);
      acc0_0 = fma(vec4<f32>(s0), b0, acc0_0);
      let s1 = subgroupBroadcast(av1, 3u);
      acc1_0 = fma(vec4<f32>(s1), b0, acc1_0);
      let s2 = subgroupBroadcast(av2, 3u);
      acc2_0 = fma(vec4<f32>(s2), b0, acc2_0);
      let s3 = subgroupBroadcast(av3, 3u);
      acc3_0 = fma(vec4<f32>(s3), b0, acc3_0);
      let s4 = subgroupBroadcast(av4, 3u);
      acc4_0 = fma(vec4<f32>(s4), b0, acc4_0);
      let s5 = subgroupBroadcast(av5, 3u);
      acc5_0 = fma(vec4<f32>(s5), b0, acc5_0);
      let s6 = subgroupBroadcast(av6, 3u);
      acc6_0 = fma(vec4<f32>(s6), b0, acc6_0);
      let s7 = subgroupBroadcast(av7, 3u);
      acc7_0 = fma(vec4<f32>(s7), b0, acc7_0);
      let s8 = subgroupBroadcast(av8, 3u);
      acc8_0 = fma(vec4<f32>(s8), b0, acc8_0);
      let s9 = subgroupBroadcast(av9, 3u);
      acc9_0 = fma(vec4<f32>(s9), b0, acc9_0);
      let s10 = subgroupBroadcast(av10, 3u);
      acc10_0 = fma(vec4<f32>(s10), b0, acc10_0);
      let s11 = subgroupBroadcast(av11, 3u);
      acc11_0 = fma(vec4<f32>(s11), b0, acc11_0);
      let s12 = subgroupBroadcast(av12, 3u);
      acc12_0 = fma(vec4<f32>(s12), b0, acc12_0);
      let s13 = subgroupBroadcast(av13, 3u);
      acc13_0 = fma(vec4<f32>(s13), b0, acc13_0);
      let s14 = subgroupBroadcast(av14, 3u);
      acc14_0 = fma(vec4<f32>(s14), b0, acc14_0);
      let s15 = subgroupBroadcast(av15, 3u);
      acc15_0 = fma(vec4<f32>(s15), b0, acc15_0);
    }
    {
      let brow = (k0 + 4u) * N4;
      let b0 = b[brow + bcol0];
      let s0 = subgroupBroadcast(av0, 4u);
      acc0_0 = fma(vec4<f32>(s0), b0, acc0_0);
      let s1 = subgroupBroadcast(av1, 4u);
      acc1_0 = fma(vec4<f32>(s1), b0, acc1_0);
      let s2 = subgroupBroadcast(av2, 4u);
      acc2_0 = fma(vec4<f32>(s2), b0, acc2_0);
      let s3 = subgroupBroadcast(av3, 4u);
      acc3_0 = fma(vec4<f32>(s3), b0, acc3_0);
      let s4 = subgroupBroadcast(av4, 4u);
      acc4_0 = fma(vec4<f32>(s4), b0, acc4_0);
      let s5 = subgroupBroadcast(av5, 4u);
      acc5_0 = fma(vec4<f32>(s5), b0, acc5_0);
      let s6 = subgroupBroadcast(av6, 4u);
      acc6_0 = fma(vec4<f32>(s6), b0, acc6_0);
      let s7 = subgroupBroadcast(av7, 4u);
      acc7_0 = fma(vec4<f32>(s7), b0, acc7_0);
      let s8 = subgroupBroadcast(av8, 4u);
      acc8_0 = fma(vec4<f32>(s8), b0, acc8_0);
      let s9 = subgroupBroadcast(av9, 4u);
      acc9_0 = fma(vec4<f32>(s9), b0, acc9_0);
      let s10 = subgroupBroadcast(av10, 4u);
      acc10_0 = fma(vec4<f32>(s10), b0, acc10_0);
      let s11 = subgroupBroadcast(av11, 4u);
      acc11_0 = fma(vec4<f32>(s11), b0, acc11_0);
      let s12 = subgroupBroadcast(av12, 4u);
      acc12_0 = fma(vec4<f32>(s12), b0, acc12_0);
      let s13 = subgroupBroadcast(av13, 4u);
      acc13_0 = fma(vec4<f32>(s13), b0, acc13_0);
      let s14 = subgroupBroadcast(av14, 4u);
      acc14_0 = fma(vec4<f32>(s14), b0, acc14_0);
      let s15 = subgroupBroadcast(av15, 4u);
      acc15_0 = fma(vec4<f32>(s15), b0, acc15_0);
    }
    {
      let brow = (k0 + 5u) * N4;
      let b0 = b[brow + bcol0];
      let s0 = subgroupBroadcast(av0, 5u);
      acc0_0 = fma(vec4<f32>(s0), b0, acc0_0);
      let s1 = subgroupBroadcast(av1, 5u);
      acc1_0 = fma(vec4<f32>(s1), b0, acc1_0);
      let s2 = subgroupBroadcast(av2, 5u);
      acc2_0 = fma(vec4<f32>(s2), b0, acc2_0);
      let s3 = subgroupBroadcast(av3, 5u);
      acc3_0 = fma(vec4<f32>(s3), b0, acc3_0);
      let s4 = subgroupBroadcast(av4, 5u);
      acc4_0 = fma(vec4<f32>(s4), b0, acc4_0);
      let s5 = subgroupBroadcast(av5, 5u);
      acc5_0 = fma(vec4<f32>(s5), b0, acc5_0);
      let s6 = subgroupBroadcast(av6, 5u);
      acc6_0 = fma(vec4<f32>(s6), b0, acc6_0);
      let s7 = subgroupBroadcast(av7, 5u);
      acc7_0 = fma(vec4<f32>(s7), b0, acc7_0);
      let s8 = subgroupBroadcast(av8, 5u);
      acc8_0 = fma(vec4<f32>(s8), b0, acc8_0);
      let s9 = subgroupBroadcast(av9, 5u);
      acc9_0 = fma(vec4<f32>(s9), b0, acc9_0);
      let s10 = subgroupBroadcast(av10, 5u);
      acc10_0 = fma(vec4<f32>(s10), b0, acc10_0);
      let s11 = subgroupBroadcast(av11, 5u);
      acc11_0 = fma(vec4<f32>(s11), b0, acc11_0);
      let s12 = subgroupBroadcast(av12, 5u);
      acc12_0 = fma(vec4<f32>(s12), b0, acc12_0);
      let s13 = subgroupBroadcast(av13, 5u);
      acc13_0 = fma(vec4<f32>(s13), b0, acc13_0);
      let s14 = subgroupBroadcast(av14, 5u);
      acc14_0 = fma(vec4<f32>(s14), b0, acc14_0);
      let s15 = subgroupBroadcast(av15, 5u);
      acc15_0 = fma(vec4<f32>(s15), b0, acc15_0);
    }
    {
      let brow = (k0 + 6u) * N4;
      let b0 = b[brow + bcol0];
      let s0 = subgroupBroadcast(av0, 6u);
      acc0_0 = fma(vec4<f32>(s0), b0, acc0_0);
      let s1 = subgroupBroadcast(av1, 6u);
      acc1_0 = fma(vec4<f32>(s1), b0, acc1_0);
      let s2 = subgroupBroadcast(av2, 6u);
      acc2_0 = fma(vec4<f32>(s2), b0, acc2_0);
      let s3 = subgroupBroadcast(av3, 6u);
      acc3_0 = fma(vec4<f32>(s3), b0, acc3_0);
      let s4 = subgroupBroadcast(av4, 6u);
      acc4_0 = fma(vec4<f32>(s4), b0, acc4_0);
      let s5 = subgroupBroadcast(av5, 6u);
      acc5_0 = fma(vec4<f32>(s5), b0, acc5_0);
      let s6 = subgroupBroadcast(av6, 6u);
      acc6_0 = fma(vec4<f32>(s6), b0, acc6_0);
      let s7 = subgroupBroadcast(av7, 6u);
      acc7_0 = fma(vec4<f32>(s7), b0, acc7_0);
      let s8 = subgroupBroadcast(av8, 6u);
      acc8_0 = fma(vec4<f32>(s8), b0, acc8_0);
      let s9 = subgroupBroadcast(av9, 6u);
      acc9_0 = fma(vec4<f32>(s9), b0, acc9_0);
      let s10 = subgroupBroadcast(av10, 6u);
      acc10_0 = fma(vec4<f32>(s10), b0, acc10_0);
      let s11 = subgroupBroadcast(av11, 6u);
      acc11_0 = fma(vec4<f32>(s11), b0, acc11_0);
      let s12 = subgroupBroadcast(av12, 6u);
      acc12_0 = fma(vec4<f32>(s12), b0, acc12_0);
      let s13 = subgroupBroadcast(av13, 6u);
      acc13_0 = fma(vec4<f32>(s13), b0, acc13_0);
      let s14 = subgroupBroadcast(av14, 6u);
      acc14_0 = fma(vec4<f32>(s14), b0, acc14_0);
      let s15 = subgroupBroadcast(av15, 6u);
      acc15_0 = fma(vec4<f32>(s15), b0, acc15_0);
    }
    {
      let brow = (k0 + 7u) * N4;
      let b0 = b[brow + bcol0];
      let s0 = subgroupBroadcast(av0, 7u);
      acc0_0 = fma(vec4<f32>(s0), b0, acc0_0);
      let s1 = subgroupBroadcast(av1, 7u);
      acc1_0 = fma(vec4<f32>(s1), b0, acc1_0);
      let s2 = subgroupBroadcast(av2, 7u);
      acc2_0 = fma(vec4<f32>(s2), b0, acc2_0);
      let s3 = subgroupBroadcast(av3, 7u);
      acc3_0 = fma(vec4<f32>(s3), b0, acc3_0);
      let s4 = subgroupBroadcast(av4, 7u);
      acc4_0 = fma(vec4<f32>(s4), b0, acc4_0);
      let s5 = subgroupBroadcast(av5, 7u);
      acc5_0 = fma(vec4<f32>(s5), b0, acc5_0);
      let s6 = subgroupBroadcast(av6, 7u);
      acc6_0 = fma(vec4<f32>(s6), b0, acc6_0);
      let s7 = subgroupBroadcast(av7, 7u);
      acc7_0 = fma(vec4<f32>(s7), b0, acc7_0);
      let s8 = subgroupBroadcast(av8, 7u);
      acc8_0 = fma(vec4<f32>(s8), b0, acc8_0);
      let s9 = subgroupBroadcast(av9, 7u);
      acc9_0 = fma(vec4<f32>(s9), b0, acc9_0);
      let s10 = subgroupBroadcast(av10, 7u);
      acc10_0 = fma(vec4<f32>(s10), b0, acc10_0);
      let s11 = subgroupBroadcast(av11, 7u);
      acc11_0 = fma(vec4<f32>(s11), b0, acc11_0);
      let s12 = subgroupBroadcast(av12, 7u);
      acc12_0 = fma(vec4<f32>(s12), b0, acc12_0);
      let s13 = subgroupBroadcast(av13, 7u);
      acc13_0 = fma(vec4<f32>(s13), b0, acc13_0);
      let s14 = subgroupBroadcast(av14, 7u);
      acc14_0 = fma(vec4<f32>(s14), b0, acc14_0);
      let s15 = subgroupBroadcast(av15, 7u);
      acc15_0 = fma(vec4<f32>(s15), b0, acc15_0);
    }
  }
  {
    let ep_e0 = e0[cb];
    let ep_v1 = acc0_0 + ep_e0;
    let ep_v2_e = exp(clamp((ep_v1 + ep_v1 * ep_v1 * ep_v1 * 0.044714998453855515) * 0.7978845834732056, vec4<f32>(-15.0), vec4<f32>(15.0)) * 2.0);
    let ep_v2 = ep_v1 * 0.5 * ((ep_v2_e - 1.0) / (ep_v2_e + 1.0) + 1.0);
    out[r0 * N4 + cb] = ep_v2;
  }
  {
    let ep_e0 = e0[cb];
    let ep_v1 = acc1_0 + ep_e0;
    let ep_v2_e = exp(clamp((ep_v1 + ep_v1 * ep_v1 * ep_v1 * 0.044714998453855515) * 0.7978845834732056, vec4<f32>(-15.0), vec4<f32>(15.0)) * 2.0);
    let ep_v2 = ep_v1 * 0.5 * ((ep_v2_e - 1.0) / (ep_v2_e + 1.0) + 1.0);
    out[(r0 + 1u) * N4 + cb] = ep_v2;
  }
  {
    let ep_e0 = e0[cb];
    let ep_v1 = acc2_0 + ep_e0;
    let ep_v2_e = exp(clamp((ep_v1 + ep_v1 * ep_v1 * ep_v1 * 0.044714998453855515) * 0.7978845834732056, vec4<f32>(-15.0), vec4<f32>(15.0)) * 2.0);
    let ep_v2 = ep_v1 * 0.5 * ((ep_v2_e - 1.0) / (ep_v2_e + 1.0) + 1.0);
    out[(r0 + 2u) * N4 + cb] = ep_v2;
  }
  {
    let ep_e0 = e0[cb];
    let ep_v1 = acc3_0 + ep_e0;
    let ep_v2_e = exp(clamp((ep_v1 + ep_v1 * ep_v1 * ep_v1 * 0.044714998453855515) * 0.7978845834732056, vec4<f32>(-15.0), vec4<f32>(15.0)) * 2.0);
    let ep_v2 = ep_v1 * 0.5 * ((ep_v2_e - 1.0) / (ep_v2_e + 1.0) + 1.0);
    out[(r0 + 3u) * N4 + cb] = ep_v2;
  }
  {
    let ep_e0 = e0[cb];
    let ep_v1 = acc4_0 + ep_e0;
    let ep_v2_e = exp(clamp((ep_v1 + ep_v1 * ep_v1 * ep_v1 * 0.044714998453855515) * 0.7978845834732056, vec4<f32>(-15.0), vec4<f32>(15.0)) * 2.0);
    let ep_v2 = ep_v1 * 0.5 * ((ep_v2_e - 1.0) / (ep_v2_e + 1.0) + 1.0);
    out[(r0 + 4u) * N4 + cb] = ep_v2;
  }
  {
    let ep_e0 = e0[cb];
    let ep_v1 = acc5_0 + ep_e0;
    let ep_v2_e = exp(clamp((ep_v1 + ep_v1 * ep_v1 * ep_v1 * 0.044714998453855515) * 0.7978845834732056, vec4<f32>(-15.0), vec4<f32>(15.0)) * 2.0);
    let ep_v2 = ep_v1 * 0.5 * ((ep_v2_e - 1.0) / (ep_v2_e + 1.0) + 1.0);
    out[(r0 + 5u) * N4 + cb] = ep_v2;
  }
  {
    let ep_e0 = e0[cb];
    let ep_v1 = acc6_0 + ep_e0;
    let ep_v2_e = exp(clamp((ep_v1 + ep_v1 * ep_v1 * ep_v1 * 0.044714998453855515) * 0.7978845834732056, vec4<f32>(-15.0), vec4<f32>(15.0)) * 2.0);
    let ep_v2 = ep_v1 * 0.5 * ((ep_v2_e - 1.0) / (ep_v2_e + 1.0) + 1.0);
    out[(r0 + 6u) * N4 + cb] = ep_v2;
  }
  {
    let ep_e0 = e0[cb];
    let ep_v1 = acc7_0 + ep_e0;
    let ep_v2_e = exp(clamp((ep_v1 + ep_v1 * ep_v1 * ep_v1 * 0.044714998453855515) * 0.7978845834732056, vec4<f32>(-15.0), vec4<f32>(15.0)) * 2.0);
    let ep_v2 = ep_v1 * 0.5 * ((ep_v2_e - 1.0) / (ep_v2_e + 1.0) + 1.0);
    out[(r0 + 7u) * N4 + cb] = ep_v2;
  }
  {
    let ep_e0 = e0[cb];
    let ep_v1 = acc8_0 + ep_e0;
    let ep_v2_e = exp(clamp((ep_v1 + ep_v1 * ep_v1 * ep_v1 * 0.044714998453855515) * 0.7978845834732056, vec4<f32>(-15.0), vec4<f32>(15.0)) * 2.0);
    let ep_v2 = ep_v1 * 0.5 * ((ep_v2_e - 1.0) / (ep_v2_e + 1.0) + 1.0);
    out[(r0 + 8u) * N4 + cb] = ep_v2;
  }
  {
    let ep_e0 = e0[cb];
    let ep_v1 = acc9_0 + ep_e0;
    let ep_v2_e = exp(clamp((ep_v1 + ep_v1 * ep_v1 * ep_v1 * 0.044714998453855515) * 0.7978845834732056, vec4<f32>(-15.0), vec4<f32>(15.0)) * 2.0);
    let ep_v2 = ep_v1 * 0.5 * ((ep_v2_e - 1.0) / (ep_v2_e + 1.0) + 1.0);
    out[(r0 + 9u) * N4 + cb] = ep_v2;
  }
  {
    let ep_e0 = e0[cb];
    let ep_v1 = acc10_0 + ep_e0;
    let ep_v2_e = exp(clamp((ep_v1 + ep_v1 * ep_v1 * ep_v1 * 0.044714998453855515) * 0.7978845834732056, vec4<f32>(-15.0), vec4<f32>(15.0)) * 2.0);
    let ep_v2 = ep_v1 * 0.5 * ((ep_v2_e - 1.0) / (ep_v2_e + 1.0) + 1.0);
    out[(r0 + 10u) * N4 + cb] = ep_v2;
  }
  {
    let ep_e0 = e0[cb];
    let ep_v1 = acc11_0 + ep_e0;
    let ep_v2_e = exp(clamp((ep_v1 + ep_v1 * ep_v1 * ep_v1 * 0.044714998453855515) * 0.7978845834732056, vec4<f32>(-15.0), vec4<f32>(15.0)) * 2.0);
    let ep_v2 = ep_v1 * 0.5 * ((ep_v2_e - 1.0) / (ep_v2_e + 1.0) + 1.0);
    out[(r0 + 11u) * N4 + cb] = ep_v2;
  }
  {
    let ep_e0 = e0[cb];
    let ep_v1 = acc12_0 + ep_e0;
    let ep_v2_e = exp(clamp((ep_v1 + ep_v1 * ep_v1 * ep_v1 * 0.044714998453855515) * 0.7978845834732056, vec4<f32>(-15.0), vec4<f32>(15.0)) * 2.0);
    let ep_v2 = ep_v1 * 0.5 * ((ep_v2_e - 1.0) / (ep_v2_e + 1.0) + 1.0);
    out[(r0 + 12u) * N4 + cb] = ep_v2;
  }
  {
    let ep_e0 = e0[cb];
    let ep_v1 = acc13_0 + ep_e0;
    let ep_v2_e = exp(clamp((ep_v1 + ep_v1 * ep_v1 * ep_v1 * 0.044714998453855515) * 0.7978845834732056, vec4<f32>(-15.0), vec4<f32>(15.0)) * 2.0);
    let ep_v2 = ep_v1 * 0.5 * ((ep_v2_e - 1.0) / (ep_v2_e + 1.0) + 1.0);
    out[(r0 + 13u) * N4 + cb] = ep_v2;
  }
  {
    let ep_e0 = e0[cb];
    let ep_v1 = acc14_0 + ep_e0;
    let ep_v2_e = exp(clamp((ep_v1 + ep_v1 * ep_v1 * ep_v1 * 0.044714998453855515) * 0.7978845834732056, vec4<f32>(-15.0), vec4<f32>(15.0)) * 2.0);
    let ep_v2 = ep_v1 * 0.5 * ((ep_v2_e - 1.0) / (ep_v2_e + 1.0) + 1.0);
    out[(r0 + 14u) * N4 + cb] = ep_v2;
  }
  {
    let ep_e0 = e0[cb];
    let ep_v1 = acc15_0 + ep_e0;
    let ep_v2_e = exp(clamp((ep_v1 + ep_v1 * ep_v1 * ep_v1 * 0.044714998453855515) * 0.7978845834732056, vec4<f32>(-15.0), vec4<f32>(15.0)) * 2.0);
    let ep_v2 = ep_v1 * 0.5 * ((ep_v2_e - 1.0) / (ep_v2_e + 1.0) + 1.0);
    out[(r0 + 15u) * N4 + cb] = ep_v2;
  }
}
