// mdc kernel: matmul_subgroup_cast_add_gelu
// [33, 64] @ [64, 96] → [33, 96]
// epilogue: cast, add, gelu
// subgroup 16x2 per lane, raster m, 8 lanes (needs a subgroup size of 8)
enable subgroups;
enable f16;
const M = 33u;
const N = 96u;
const K = 64u;
const N4 = 24u;
@group(0) @binding(0) var<storage, read_write> a: array<f16>;
@group(0) @binding(1) var<storage, read_write> b: array<vec4<f16>>;
@group(0) @binding(2) var<storage, read> e0: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> out: array<vec4<f16>>;
@compute @workgroup_size(8)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(subgroup_invocation_id) lane: u32) {
  let r0 = wid.x * 16u;
  let cb = wid.y * 16u + lane;
  let arow0 = min(r0, 32u) * K;
  let arow1 = min(r0 + 1u, 32u) * K;
  let arow2 = min(r0 + 2u, 32u) * K;
  let arow3 = min(r0 + 3u, 32u) * K;
  let arow4 = min(r0 + 4u, 32u) * K;
  let arow5 = min(r0 + 5u, 32u) * K;
  let arow6 = min(r0 + 6u, 32u) * K;
  let arow7 = min(r0 + 7u, 32u) * K;
  let arow8 = min(r0 + 8u, 32u) * K;
  let arow9 = min(r0 + 9u, 32u) * K;
  let arow10 = min(r0 + 10u, 32u) * K;
  let arow11 = min(r0 + 11u, 32u) * K;
  let arow12 = min(r0 + 12u, 32u) * K;
  let arow13 = min(r0 + 13u, 32u) * K;
  let arow14 = min(r0 + 14u, 32u) * K;
  let arow15 = min(r0 + 15u, 32u) * K;
  let bcol0 = min(cb, 23u);
  let bcol1 = min(cb + 8u, 23u);
  var acc0_0 = vec4<f32>(0.0);
  var acc0_1 = vec4<f32>(0.0);
  var acc1_0 = vec4<f32>(0.0);
  var acc1_1 = vec4<f32>(0.0);
  var acc2_0 = vec4<f32>(0.0);
  var acc2_1 = vec4<f32>(0.0);
  var acc3_0 = vec4<f32>(0.0);
  var acc3_1 = vec4<f32>(0.0);
  var acc4_0 = vec4<f32>(0.0);
  var acc4_1 = vec4<f32>(0.0);
  var acc5_0 = vec4<f32>(0.0);
  var acc5_1 = vec4<f32>(0.0);
  var acc6_0 = vec4<f32>(0.0);
  var acc6_1 = vec4<f32>(0.0);
  var acc7_0 = vec4<f32>(0.0);
  var acc7_1 = vec4<f32>(0.0);
  var acc8_0 = vec4<f32>(0.0);
  var acc8_1 = vec4<f32>(0.0);
  var acc9_0 = vec4<f32>(0.0);
  var acc9_1 = vec4<f32>(0.0);
  var acc10_0 = vec4<f32>(0.0);
  var acc10_1 = vec4<f32>(0.0);
  var acc11_0 = vec4<f32>(0.0);
  var acc11_1 = vec4<f32>(0.0);
  var acc12_0 = vec4<f32>(0.0);
  var acc12_1 = vec4<f32>(0.0);
  var acc13_0 = vec4<f32>(0.0);
  var acc13_1 = vec4<f32>(0.0);
  var acc14_0 = vec4<f32>(0.0);
  var acc14_1 = vec4<f32>(0.0);
  var acc15_0 = vec4<f32>(0.0);
  var acc15_1 = vec4<f32>(0.0);
  for (var k0 = 0u; k0 < 64u; k0 += 8u) {
    let av0 = f32(a[arow0 + k0 + lane]);
    let av1 = f32(a[arow1 + k0 + lane]);
    let av2 = f32(a[arow2 + k0 + lane]);
    let av3 = f32(a[arow3 + k0 + lane]);
    let av4 = f32(a[arow4 + k0 + lane]);
    let av5 = f32(a[arow5 + k0 + lane]);
    let av6 = f32(a[arow6 + k0 + lane]);
    let av7 = f32(a[arow7 + k0 + lane]);
    let av8 = f32(a[arow8 + k0 + lane]);
    let av9 = f32(a[arow9 + k0 + lane]);
    let av10 = f32(a[arow10 + k0 + lane]);
    let av11 = f32(a[arow11 + k0 + lane]);
    let av12 = f32(a[arow12 + k0 + lane]);
    let av13 = f32(a[arow13 + k0 + lane]);
    let av14 = f32(a[arow14 + k0 + lane]);
    let av15 = f32(a[arow15 + k0 + lane]);
    for (var kk = 0u; kk < 8u; kk += 1u) {
      let brow = (k0 + kk) * N4;
      let b0 = vec4<f32>(b[brow + bcol0]);
      let b1 = vec4<f32>(b[brow + bcol1]);
      let s0 = subgroupShuffle(av0, kk);
      acc0_0 = fma(vec4<f32>(s0), b0, acc0_0);
      acc0_1 = fma(vec4<f32>(s0), b1, acc0_1);
      let s1 = subgroupShuffle(av1, kk);
      acc1_0 = fma(vec4<f32>(s1), b0, acc1_0);
      acc1_1 = fma(vec4<f32>(s1), b1, acc1_1);
      let s2 = subgroupShuffle(av2, kk);
      acc2_0 = fma(vec4<f32>(s2), b0, acc2_0);
      acc2_1 = fma(vec4<f32>(s2), b1, acc2_1);
      let s3 = subgroupShuffle(av3, kk);
      acc3_0 = fma(vec4<f32>(s3), b0, acc3_0);
      acc3_1 = fma(vec4<f32>(s3), b1, acc3_1);
      let s4 = subgroupShuffle(av4, kk);
      acc4_0 = fma(vec4<f32>(s4), b0, acc4_0);
      acc4_1 = fma(vec4<f32>(s4), b1, acc4_1);
      let s5 = subgroupShuffle(av5, kk);
      acc5_0 = fma(vec4<f32>(s5), b0, acc5_0);
      acc5_1 = fma(vec4<f32>(s5), b1, acc5_1);
      let s6 = subgroupShuffle(av6, kk);
      acc6_0 = fma(vec4<f32>(s6), b0, acc6_0);
      acc6_1 = fma(vec4<f32>(s6), b1, acc6_1);
      let s7 = subgroupShuffle(av7, kk);
      acc7_0 = fma(vec4<f32>(s7), b0, acc7_0);
      acc7_1 = fma(vec4<f32>(s7), b1, acc7_1);
      let s8 = subgroupShuffle(av8, kk);
      acc8_0 = fma(vec4<f32>(s8), b0, acc8_0);
      acc8_1 = fma(vec4<f32>(s8), b1, acc8_1);
      let s9 = subgroupShuffle(av9, kk);
      acc9_0 = fma(vec4<f32>(s9), b0, acc9_0);
      acc9_1 = fma(vec4<f32>(s9), b1, acc9_1);
      let s10 = subgroupShuffle(av10, kk);
      acc10_0 = fma(vec4<f32>(s10), b0, acc10_0);
      acc10_1 = fma(vec4<f32>(s10), b1, acc10_1);
      let s11 = subgroupShuffle(av11, kk);
      acc11_0 = fma(vec4<f32>(s11), b0, acc11_0);
      acc11_1 = fma(vec4<f32>(s11), b1, acc11_1);
      let s12 = subgroupShuffle(av12, kk);
      acc12_0 = fma(vec4<f32>(s12), b0, acc12_0);
      acc12_1 = fma(vec4<f32>(s12), b1, acc12_1);
      let s13 = subgroupShuffle(av13, kk);
      acc13_0 = fma(vec4<f32>(s13), b0, acc13_0);
      acc13_1 = fma(vec4<f32>(s13), b1, acc13_1);
      let s14 = subgroupShuffle(av14, kk);
      acc14_0 = fma(vec4<f32>(s14), b0, acc14_0);
      acc14_1 = fma(vec4<f32>(s14), b1, acc14_1);
      let s15 = subgroupShuffle(av15, kk);
      acc15_0 = fma(vec4<f32>(s15), b0, acc15_0);
      acc15_1 = fma(vec4<f32>(s15), b1, acc15_1);
    }
  }
  if (r0 < M && cb < N4) {
    {
      let ep_e0 = e0[cb];
      let ep_v1 = ep_e0;
      let ep_v2 = acc0_0 + ep_v1;
      let ep_v3_x = ep_v2 * 0.7071067690849304;
      let ep_v3_a = abs(ep_v3_x);
      let ep_v3_t = vec4<f32>(1.0) / (ep_v3_a * 0.32759109139442444 + 1.0);
      let ep_v3 = ep_v2 * 0.5 * (sign(ep_v3_x) * (vec4<f32>(1.0) - ((((ep_v3_t * 1.0614054203033447 - 1.453152060508728) * ep_v3_t + 1.421413779258728) * ep_v3_t - 0.2844967246055603) * ep_v3_t + 0.2548295855522156) * ep_v3_t * exp(-(ep_v3_a * ep_v3_a))) + 1.0);
      out[r0 * N4 + cb] = vec4<f16>(ep_v3);
    }
  }
  if (r0 < M && cb + 8u < N4) {
    {
      let ep_e0 = e0[cb + 8u];
      let ep_v1 = ep_e0;
      let ep_v2 = acc0_1 + ep_v1;
      let ep_v3_x = ep_v2 * 0.7071067690849304;
      let ep_v3_a = abs(ep_v3_x);
      let ep_v3_t = vec4<f32>(1.0) / (ep_v3_a * 0.32759109139442444 + 1.0);
      let ep_v3 = ep_v2 * 0.5 * (sign(ep_v3_x) * (vec4<f32>(1.0) - ((((ep_v3_t * 1.0614054203033447 - 1.453152060508728) * ep_v3_t + 1.421413779258728) * ep_v3_t - 0.2844967246055603) * ep_v3_t + 0.2548295855522156) * ep_v3_t * exp(-(ep_v3_a * ep_v3_a))) + 1.0);
      out[r0 * N4 + (cb + 8u)] = vec4<f16>(ep_v3);
    }
  }
  if (r0 + 1u < M && cb < N4) {
    {
      let ep_e0 = e0[cb];
      let ep_v1 = ep_e0;
      let ep_v2 = acc1_0 + ep_v1;
      let ep_v3_x = ep_v2 * 0.7071067690849304;
      let ep_v3_a = abs(ep_v3_x);
      let ep_v3_t = vec4<f32>(1.0) / (ep_v3_a * 0.32759109139442444 + 1.0);
      let ep_v3 = ep_v2 * 0.5 * (sign(ep_v3_x) * (vec4<f32>(1.0) - ((((ep_v3_t * 1.0614054203033447 - 1.453152060508728) * ep_v3_t + 1.421413779258728) * ep_v3_t - 0.2844967246055603) * ep_v3_t + 0.2548295855522156) * ep_v3_t * exp(-(ep_v3_a * ep_v3_a))) + 1.0);
      out[(r0 + 1u) * N4 + cb] = vec4<f16>(ep_v3);
    }
  }
  if (r0 + 1u < M && cb + 8u < N4) {
    {
      let ep_e0 = e0[cb + 8u];
      let ep_v1 = ep_e0;
      let ep_v2 = acc1_1 + ep_v1;
      let ep_v3_x = ep_v2 * 0.7071067690849304;
      let ep_v3_a = abs(ep_v3_x);
      let ep_v3_t = vec4<f32>(1.0) / (ep_v3_a * 0.32759109139442444 + 1.0);
      let ep_v3 = ep_v2 * 0.5 * (sign(ep_v3_x) * (vec4<f32>(1.0) - ((((ep_v3_t * 1.0614054203033447 - 1.453152060508728) * ep_v3_t + 1.421413779258728) * ep_v3_t - 0.2844967246055603) * ep_v3_t + 0.2548295855522156) * ep_v3_t * exp(-(ep_v3_a * ep_v3_a))) + 1.0);
      out[(r0 + 1u) * N4 + (cb + 8u)] = vec4<f16>(ep_v3);
    }
  }
  if (r0 + 2u < M && cb < N4) {
    {
      let ep_e0 = e0[cb];
      let ep_v1 = ep_e0;
      let ep_v2 = acc2_0 + ep_v1;
      let ep_v3_x = ep_v2 * 0.7071067690849304;
      let ep_v3_a = abs(ep_v3_x);
      let ep_v3_t = vec4<f32>(1.0) / (ep_v3_a * 0.32759109139442444 + 1.0);
      let ep_v3 = ep_v2 * 0.5 * (sign(ep_v3_x) * (vec4<f32>(1.0) - ((((ep_v3_t * 1.0614054203033447 - 1.453152060508728) * ep_v3_t + 1.421413779258728) * ep_v3_t - 0.2844967246055603) * ep_v3_t + 0.2548295855522156) * ep_v3_t * exp(-(ep_v3_a * ep_v3_a))) + 1.0);
      out[(r0 + 2u) * N4 + cb] = vec4<f16>(ep_v3);
    }
  }
  if (r0 + 2u < M && cb + 8u < N4) {
    {
      let ep_e0 = e0[cb + 8u];
      let ep_v1 = ep_e0;
      let ep_v2 = acc2_1 + ep_v1;
      let ep_v3_x = ep_v2 * 0.7071067690849304;
      let ep_v3_a = abs(ep_v3_x);
      let ep_v3_t = vec4<f32>(1.0) / (ep_v3_a * 0.32759109139442444 + 1.0);
      let ep_v3 = ep_v2 * 0.5 * (sign(ep_v3_x) * (vec4<f32>(1.0) - ((((ep_v3_t * 1.0614054203033447 - 1.453152060508728) * ep_v3_t + 1.421413779258728) * ep_v3_t - 0.2844967246055603) * ep_v3_t + 0.2548295855522156) * ep_v3_t * exp(-(ep_v3_a * ep_v3_a))) + 1.0);
      out[(r0 + 2u) * N4 + (cb + 8u)] = vec4<f16>(ep_v3);
    }
  }
  if (r0 + 3u < M && cb < N4) {
    {
      let ep_e0 = e0[cb];
      let ep_v1 = ep_e0;
      let ep_v2 = acc3_0 + ep_v1;
      let ep_v3_x = ep_v2 * 0.7071067690849304;
      let ep_v3_a = abs(ep_v3_x);
      let ep_v3_t = vec4<f32>(1.0) / (ep_v3_a * 0.32759109139442444 + 1.0);
      let ep_v3 = ep_v2 * 0.5 * (sign(ep_v3_x) * (vec4<f32>(1.0) - ((((ep_v3_t * 1.0614054203033447 - 1.453152060508728) * ep_v3_t + 1.421413779258728) * ep_v3_t - 0.2844967246055603) * ep_v3_t + 0.2548295855522156) * ep_v3_t * exp(-(ep_v3_a * ep_v3_a))) + 1.0);
      out[(r0 + 3u) * N4 + cb] = vec4<f16>(ep_v3);
    }
  }
  if (r0 + 3u < M && cb + 8u < N4) {
    {
      let ep_e0 = e0[cb + 8u];
      let ep_v1 = ep_e0;
      let ep_v2 = acc3_1 + ep_v1;
      let ep_v3_x = ep_v2 * 0.7071067690849304;
      let ep_v3_a = abs(ep_v3_x);
      let ep_v3_t = vec4<f32>(1.0) / (ep_v3_a * 0.32759109139442444 + 1.0);
      let ep_v3 = ep_v2 * 0.5 * (sign(ep_v3_x) * (vec4<f32>(1.0) - ((((ep_v3_t * 1.0614054203033447 - 1.453152060508728) * ep_v3_t + 1.421413779258728) * ep_v3_t - 0.2844967246055603) * ep_v3_t + 0.2548295855522156) * ep_v3_t * exp(-(ep_v3_a * ep_v3_a))) + 1.0);
      out[(r0 + 3u) * N4 + (cb + 8u)] = vec4<f16>(ep_v3);
    }
  }
  if (r0 + 4u < M && cb < N4) {
    {
      let ep_e0 = e0[cb];
      let ep_v1 = ep_e0;
      let ep_v2 = acc4_0 + ep_v1;
      let ep_v3_x = ep_v2 * 0.7071067690849304;
      let ep_v3_a = abs(ep_v3_x);
      let ep_v3_t = vec4<f32>(1.0) / (ep_v3_a * 0.32759109139442444 + 1.0);
      let ep_v3 = ep_v2 * 0.5 * (sign(ep_v3_x) * (vec4<f32>(1.0) - ((((ep_v3_t * 1.0614054203033447 - 1.453152060508728) * ep_v3_t + 1.421413779258728) * ep_v3_t - 0.2844967246055603) * ep_v3_t + 0.2548295855522156) * ep_v3_t * exp(-(ep_v3_a * ep_v3_a))) + 1.0);
      out[(r0 + 4u) * N4 + cb] = vec4<f16>(ep_v3);
    }
  }
  if (r0 + 4u < M && cb + 8u < N4) {
    {
      let ep_e0 = e0[cb + 8u];
      let ep_v1 = ep_e0;
      let ep_v2 = acc4_1 + ep_v1;
      let ep_v3_x = ep_v2 * 0.7071067690849304;
      let ep_v3_a = abs(ep_v3_x);
      let ep_v3_t = vec4<f32>(1.0) / (ep_v3_a * 0.32759109139442444 + 1.0);
      let ep_v3 = ep_v2 * 0.5 * (sign(ep_v3_x) * (vec4<f32>(1.0) - ((((ep_v3_t * 1.0614054203033447 - 1.453152060508728) * ep_v3_t + 1.421413779258728) * ep_v3_t - 0.2844967246055603) * ep_v3_t + 0.2548295855522156) * ep_v3_t * exp(-(ep_v3_a * ep_v3_a))) + 1.0);
      out[(r0 + 4u) * N4 + (cb + 8u)] = vec4<f16>(ep_v3);
    }
  }
  if (r0 + 5u < M && cb < N4) {
    {
      let ep_e0 = e0[cb];
      let ep_v1 = ep_e0;
      let ep_v2 = acc5_0 + ep_v1;
      let ep_v3_x = ep_v2 * 0.7071067690849304;
      let ep_v3_a = abs(ep_v3_x);
      let ep_v3_t = vec4<f32>(1.0) / (ep_v3_a * 0.32759109139442444 + 1.0);
      let ep_v3 = ep_v2 * 0.5 * (sign(ep_v3_x) * (vec4<f32>(1.0) - ((((ep_v3_t * 1.0614054203033447 - 1.453152060508728) * ep_v3_t + 1.421413779258728) * ep_v3_t - 0.2844967246055603) * ep_v3_t + 0.2548295855522156) * ep_v3_t * exp(-(ep_v3_a * ep_v3_a))) + 1.0);
      out[(r0 + 5u) * N4 + cb] = vec4<f16>(ep_v3);
    }
  }
  if (r0 + 5u < M && cb + 8u < N4) {
    {
      let ep_e0 = e0[cb + 8u];
      let ep_v1 = ep_e0;
      let ep_v2 = acc5_1 + ep_v1;
      let ep_v3_x = ep_v2 * 0.7071067690849304;
      let ep_v3_a = abs(ep_v3_x);
      let ep_v3_t = vec4<f32>(1.0) / (ep_v3_a * 0.32759109139442444 + 1.0);
      let ep_v3 = ep_v2 * 0.5 * (sign(ep_v3_x) * (vec4<f32>(1.0) - ((((ep_v3_t * 1.0614054203033447 - 1.453152060508728) * ep_v3_t + 1.421413779258728) * ep_v3_t - 0.2844967246055603) * ep_v3_t + 0.2548295855522156) * ep_v3_t * exp(-(ep_v3_a * ep_v3_a))) + 1.0);
      out[(r0 + 5u) * N4 + (cb + 8u)] = vec4<f16>(ep_v3);
    }
  }
  if (r0 + 6u < M && cb < N4) {
    {
      let ep_e0 = e0[cb];
      let ep_v1 = ep_e0;
      let ep_v2 = acc6_0 + ep_v1;
      let ep_v3_x = ep_v2 * 0.7071067690849304;
      let ep_v3_a = abs(ep_v3_x);
      let ep_v3_t = vec4<f32>(1.0) / (ep_v3_a * 0.32759109139442444 + 1.0);
      let ep_v3 = ep_v2 * 0.5 * (sign(ep_v3_x) * (vec4<f32>(1.0) - ((((ep_v3_t * 1.0614054203033447 - 1.453152060508728) * ep_v3_t + 1.421413779258728) * ep_v3_t - 0.2844967246055603) * ep_v3_t + 0.2548295855522156) * ep_v3_t * exp(-(ep_v3_a * ep_v3_a))) + 1.0);
      out[(r0 + 6u) * N4 + cb] = vec4<f16>(ep_v3);
    }
  }
  if (r0 + 6u < M && cb + 8u < N4) {
    {
      let ep_e0 = e0[cb + 8u];
      let ep_v1 = ep_e0;
      let ep_v2 = acc6_1 + ep_v1;
      let ep_v3_x = ep_v2 * 0.7071067690849304;
      let ep_v3_a = abs(ep_v3_x);
      let ep_v3_t = vec4<f32>(1.0) / (ep_v3_a * 0.32759109139442444 + 1.0);
      let ep_v3 = ep_v2 * 0.5 * (sign(ep_v3_x) * (vec4<f32>(1.0) - ((((ep_v3_t * 1.0614054203033447 - 1.453152060508728) * ep_v3_t + 1.421413779258728) * ep_v3_t - 0.2844967246055603) * ep_v3_t + 0.2548295855522156) * ep_v3_t * exp(-(ep_v3_a * ep_v3_a))) + 1.0);
      out[(r0 + 6u) * N4 + (cb + 8u)] = vec4<f16>(ep_v3);
    }
  }
  if (r0 + 7u < M && cb < N4) {
    {
      let ep_e0 = e0[cb];
      let ep_v1 = ep_e0;
      let ep_v2 = acc7_0 + ep_v1;
      let ep_v3_x = ep_v2 * 0.7071067690849304;
      let ep_v3_a = abs(ep_v3_x);
      let ep_v3_t = vec4<f32>(1.0) / (ep_v3_a * 0.32759109139442444 + 1.0);
      let ep_v3 = ep_v2 * 0.5 * (sign(ep_v3_x) * (vec4<f32>(1.0) - ((((ep_v3_t * 1.0614054203033447 - 1.453152060508728) * ep_v3_t + 1.421413779258728) * ep_v3_t - 0.2844967246055603) * ep_v3_t + 0.2548295855522156) * ep_v3_t * exp(-(ep_v3_a * ep_v3_a))) + 1.0);
      out[(r0 + 7u) * N4 + cb] = vec4<f16>(ep_v3);
    }
  }
  if (r0 + 7u < M && cb + 8u < N4) {
    {
      let ep_e0 = e0[cb + 8u];
      let ep_v1 = ep_e0;
      let ep_v2 = acc7_1 + ep_v1;
      let ep_v3_x = ep_v2 * 0.7071067690849304;
      let ep_v3_a = abs(ep_v3_x);
      let ep_v3_t = vec4<f32>(1.0) / (ep_v3_a * 0.32759109139442444 + 1.0);
      let ep_v3 = ep_v2 * 0.5 * (sign(ep_v3_x) * (vec4<f32>(1.0) - ((((ep_v3_t * 1.0614054203033447 - 1.453152060508728) * ep_v3_t + 1.421413779258728) * ep_v3_t - 0.2844967246055603) * ep_v3_t + 0.2548295855522156) * ep_v3_t * exp(-(ep_v3_a * ep_v3_a))) + 1.0);
      out[(r0 + 7u) * N4 + (cb + 8u)] = vec4<f16>(ep_v3);
    }
  }
  if (r0 + 8u < M && cb < N4) {
    {
      let ep_e0 = e0[cb];
      let ep_v1 = ep_e0;
      let ep_v2 = acc8_0 + ep_v1;
      let ep_v3_x = ep_v2 * 0.7071067690849304;
      let ep_v3_a = abs(ep_v3_x);
      let ep_v3_t = vec4<f32>(1.0) / (ep_v3_a * 0.32759109139442444 + 1.0);
      let ep_v3 = ep_v2 * 0.5 * (sign(ep_v3_x) * (vec4<f32>(1.0) - ((((ep_v3_t * 1.0614054203033447 - 1.453152060508728) * ep_v3_t + 1.421413779258728) * ep_v3_t - 0.2844967246055603) * ep_v3_t + 0.2548295855522156) * ep_v3_t * exp(-(ep_v3_a * ep_v3_a))) + 1.0);
      out[(r0 + 8u) * N4 + cb] = vec4<f16>(ep_v3);
    }
  }
  if (r0 + 8u < M && cb + 8u < N4) {
    {
      let ep_e0 = e0[cb + 8u];
      let ep_v1 = ep_e0;
      let ep_v2 = acc8_1 + ep_v1;
      let ep_v3_x = ep_v2 * 0.7071067690849304;
      let ep_v3_a = abs(ep_v3_x);
      let ep_v3_t = vec4<f32>(1.0) / (ep_v3_a * 0.32759109139442444 + 1.0);
      let ep_v3 = ep_v2 * 0.5 * (sign(ep_v3_x) * (vec4<f32>(1.0) - ((((ep_v3_t * 1.0614054203033447 - 1.453152060508728) * ep_v3_t + 1.421413779258728) * ep_v3_t - 0.2844967246055603) * ep_v3_t + 0.2548295855522156) * ep_v3_t * exp(-(ep_v3_a * ep_v3_a))) + 1.0);
      out[(r0 + 8u) * N4 + (cb + 8u)] = vec4<f16>(ep_v3);
    }
  }
  if (r0 + 9u < M && cb < N4) {
    {
      let ep_e0 = e0[cb];
      let ep_v1 = ep_e0;
      let ep_v2 = acc9_0 + ep_v1;
      let ep_v3_x = ep_v2 * 0.7071067690849304;
      let ep_v3_a = abs(ep_v3_x);
      let ep_v3_t = vec4<f32>(1.0) / (ep_v3_a * 0.32759109139442444 + 1.0);
      let ep_v3 = ep_v2 * 0.5 * (sign(ep_v3_x) * (vec4<f32>(1.0) - ((((ep_v3_t * 1.0614054203033447 - 1.453152060508728) * ep_v3_t + 1.421413779258728) * ep_v3_t - 0.2844967246055603) * ep_v3_t + 0.2548295855522156) * ep_v3_t * exp(-(ep_v3_a * ep_v3_a))) + 1.0);
      out[(r0 + 9u) * N4 + cb] = vec4<f16>(ep_v3);
    }
  }
  if (r0 + 9u < M && cb + 8u < N4) {
    {
      let ep_e0 = e0[cb + 8u];
      let ep_v1 = ep_e0;
      let ep_v2 = acc9_1 + ep_v1;
      let ep_v3_x = ep_v2 * 0.7071067690849304;
      let ep_v3_a = abs(ep_v3_x);
      let ep_v3_t = vec4<f32>(1.0) / (ep_v3_a * 0.32759109139442444 + 1.0);
      let ep_v3 = ep_v2 * 0.5 * (sign(ep_v3_x) * (vec4<f32>(1.0) - ((((ep_v3_t * 1.0614054203033447 - 1.453152060508728) * ep_v3_t + 1.421413779258728) * ep_v3_t - 0.2844967246055603) * ep_v3_t + 0.2548295855522156) * ep_v3_t * exp(-(ep_v3_a * ep_v3_a))) + 1.0);
      out[(r0 + 9u) * N4 + (cb + 8u)] = vec4<f16>(ep_v3);
    }
  }
  if (r0 + 10u < M && cb < N4) {
    {
      let ep_e0 = e0[cb];
      let ep_v1 = ep_e0;
      let ep_v2 = acc10_0 + ep_v1;
      let ep_v3_x = ep_v2 * 0.7071067690849304;
      let ep_v3_a = abs(ep_v3_x);
      let ep_v3_t = vec4<f32>(1.0) / (ep_v3_a * 0.32759109139442444 + 1.0);
      let ep_v3 = ep_v2 * 0.5 * (sign(ep_v3_x) * (vec4<f32>(1.0) - ((((ep_v3_t * 1.0614054203033447 - 1.453152060508728) * ep_v3_t + 1.421413779258728) * ep_v3_t - 0.2844967246055603) * ep_v3_t + 0.2548295855522156) * ep_v3_t * exp(-(ep_v3_a * ep_v3_a))) + 1.0);
      out[(r0 + 10u) * N4 + cb] = vec4<f16>(ep_v3);
    }
  }
  if (r0 + 10u < M && cb + 8u < N4) {
    {
      let ep_e0 = e0[cb + 8u];
      let ep_v1 = ep_e0;
      let ep_v2 = acc10_1 + ep_v1;
      let ep_v3_x = ep_v2 * 0.7071067690849304;
      let ep_v3_a = abs(ep_v3_x);
      let ep_v3_t = vec4<f32>(1.0) / (ep_v3_a * 0.32759109139442444 + 1.0);
      let ep_v3 = ep_v2 * 0.5 * (sign(ep_v3_x) * (vec4<f32>(1.0) - ((((ep_v3_t * 1.0614054203033447 - 1.453152060508728) * ep_v3_t + 1.421413779258728) * ep_v3_t - 0.2844967246055603) * ep_v3_t + 0.2548295855522156) * ep_v3_t * exp(-(ep_v3_a * ep_v3_a))) + 1.0);
      out[(r0 + 10u) * N4 + (cb + 8u)] = vec4<f16>(ep_v3);
    }
  }
  if (r0 + 11u < M && cb < N4) {
    {
      let ep_e0 = e0[cb];
      let ep_v1 = ep_e0;
      let ep_v2 = acc11_0 + ep_v1;
      let ep_v3_x = ep_v2 * 0.7071067690849304;
      let ep_v3_a = abs(ep_v3_x);
      let ep_v3_t = vec4<f32>(1.0) / (ep_v3_a * 0.32759109139442444 + 1.0);
      let ep_v3 = ep_v2 * 0.5 * (sign(ep_v3_x) * (vec4<f32>(1.0) - ((((ep_v3_t * 1.0614054203033447 - 1.453152060508728) * ep_v3_t + 1.421413779258728) * ep_v3_t - 0.2844967246055603) * ep_v3_t + 0.2548295855522156) * ep_v3_t * exp(-(ep_v3_a * ep_v3_a))) + 1.0);
      out[(r0 + 11u) * N4 + cb] = vec4<f16>(ep_v3);
    }
  }
  if (r0 + 11u < M && cb + 8u < N4) {
    {
      let ep_e0 = e0[cb + 8u];
      let ep_v1 = ep_e0;
      let ep_v2 = acc11_1 + ep_v1;
      let ep_v3_x = ep_v2 * 0.7071067690849304;
      let ep_v3_a = abs(ep_v3_x);
      let ep_v3_t = vec4<f32>(1.0) / (ep_v3_a * 0.32759109139442444 + 1.0);
      let ep_v3 = ep_v2 * 0.5 * (sign(ep_v3_x) * (vec4<f32>(1.0) - ((((ep_v3_t * 1.0614054203033447 - 1.453152060508728) * ep_v3_t + 1.421413779258728) * ep_v3_t - 0.2844967246055603) * ep_v3_t + 0.2548295855522156) * ep_v3_t * exp(-(ep_v3_a * ep_v3_a))) + 1.0);
      out[(r0 + 11u) * N4 + (cb + 8u)] = vec4<f16>(ep_v3);
    }
  }
  if (r0 + 12u < M && cb < N4) {
    {
      let ep_e0 = e0[cb];
      let ep_v1 = ep_e0;
      let ep_v2 = acc12_0 + ep_v1;
      let ep_v3_x = ep_v2 * 0.7071067690849304;
      let ep_v3_a = abs(ep_v3_x);
      let ep_v3_t = vec4<f32>(1.0) / (ep_v3_a * 0.32759109139442444 + 1.0);
      let ep_v3 = ep_v2 * 0.5 * (sign(ep_v3_x) * (vec4<f32>(1.0) - ((((ep_v3_t * 1.0614054203033447 - 1.453152060508728) * ep_v3_t + 1.421413779258728) * ep_v3_t - 0.2844967246055603) * ep_v3_t + 0.2548295855522156) * ep_v3_t * exp(-(ep_v3_a * ep_v3_a))) + 1.0);
      out[(r0 + 12u) * N4 + cb] = vec4<f16>(ep_v3);
    }
  }
  if (r0 + 12u < M && cb + 8u < N4) {
    {
      let ep_e0 = e0[cb + 8u];
      let ep_v1 = ep_e0;
      let ep_v2 = acc12_1 + ep_v1;
      let ep_v3_x = ep_v2 * 0.7071067690849304;
      let ep_v3_a = abs(ep_v3_x);
      let ep_v3_t = vec4<f32>(1.0) / (ep_v3_a * 0.32759109139442444 + 1.0);
      let ep_v3 = ep_v2 * 0.5 * (sign(ep_v3_x) * (vec4<f32>(1.0) - ((((ep_v3_t * 1.0614054203033447 - 1.453152060508728) * ep_v3_t + 1.421413779258728) * ep_v3_t - 0.2844967246055603) * ep_v3_t + 0.2548295855522156) * ep_v3_t * exp(-(ep_v3_a * ep_v3_a))) + 1.0);
      out[(r0 + 12u) * N4 + (cb + 8u)] = vec4<f16>(ep_v3);
    }
  }
  if (r0 + 13u < M && cb < N4) {
    {
      let ep_e0 = e0[cb];
      let ep_v1 = ep_e0;
      let ep_v2 = acc13_0 + ep_v1;
      let ep_v3_x = ep_v2 * 0.7071067690849304;
      let ep_v3_a = abs(ep_v3_x);
      let ep_v3_t = vec4<f32>(1.0) / (ep_v3_a * 0.32759109139442444 + 1.0);
      let ep_v3 = ep_v2 * 0.5 * (sign(ep_v3_x) * (vec4<f32>(1.0) - ((((ep_v3_t * 1.0614054203033447 - 1.453152060508728) * ep_v3_t + 1.421413779258728) * ep_v3_t - 0.2844967246055603) * ep_v3_t + 0.2548295855522156) * ep_v3_t * exp(-(ep_v3_a * ep_v3_a))) + 1.0);
      out[(r0 + 13u) * N4 + cb] = vec4<f16>(ep_v3);
    }
  }
  if (r0 + 13u < M && cb + 8u < N4) {
    {
      let ep_e0 = e0[cb + 8u];
      let ep_v1 = ep_e0;
      let ep_v2 = acc13_1 + ep_v1;
      let ep_v3_x = ep_v2 * 0.7071067690849304;
      let ep_v3_a = abs(ep_v3_x);
      let ep_v3_t = vec4<f32>(1.0) / (ep_v3_a * 0.32759109139442444 + 1.0);
      let ep_v3 = ep_v2 * 0.5 * (sign(ep_v3_x) * (vec4<f32>(1.0) - ((((ep_v3_t * 1.0614054203033447 - 1.453152060508728) * ep_v3_t + 1.421413779258728) * ep_v3_t - 0.2844967246055603) * ep_v3_t + 0.2548295855522156) * ep_v3_t * exp(-(ep_v3_a * ep_v3_a))) + 1.0);
      out[(r0 + 13u) * N4 + (cb + 8u)] = vec4<f16>(ep_v3);
    }
  }
  if (r0 + 14u < M && cb < N4) {
    {
      let ep_e0 = e0[cb];
      let ep_v1 = ep_e0;
      let ep_v2 = acc14_0 + ep_v1;
      let ep_v3_x = ep_v2 * 0.7071067690849304;
      let ep_v3_a = abs(ep_v3_x);
      let ep_v3_t = vec4<f32>(1.0) / (ep_v3_a * 0.32759109139442444 + 1.0);
      let ep_v3 = ep_v2 * 0.5 * (sign(ep_v3_x) * (vec4<f32>(1.0) - ((((ep_v3_t * 1.0614054203033447 - 1.453152060508728) * ep_v3_t + 1.421413779258728) * ep_v3_t - 0.2844967246055603) * ep_v3_t + 0.2548295855522156) * ep_v3_t * exp(-(ep_v3_a * ep_v3_a))) + 1.0);
      out[(r0 + 14u) * N4 + cb] = vec4<f16>(ep_v3);
    }
  }
  if (r0 + 14u < M && cb + 8u < N4) {
    {
      let ep_e0 = e0[cb + 8u];
      let ep_v1 = ep_e0;
      let ep_v2 = acc14_1 + ep_v1;
      let ep_v3_x = ep_v2 * 0.7071067690849304;
      let ep_v3_a = abs(ep_v3_x);
      let ep_v3_t = vec4<f32>(1.0) / (ep_v3_a * 0.32759109139442444 + 1.0);
      let ep_v3 = ep_v2 * 0.5 * (sign(ep_v3_x) * (vec4<f32>(1.0) - ((((ep_v3_t * 1.0614054203033447 - 1.453152060508728) * ep_v3_t + 1.421413779258728) * ep_v3_t - 0.2844967246055603) * ep_v3_t + 0.2548295855522156) * ep_v3_t * exp(-(ep_v3_a * ep_v3_a))) + 1.0);
      out[(r0 + 14u) * N4 + (cb + 8u)] = vec4<f16>(ep_v3);
    }
  }
  if (r0 + 15u < M && cb < N4) {
    {
      let ep_e0 = e0[cb];
      let ep_v1 = ep_e0;
      let ep_v2 = acc15_0 + ep_v1;
      let ep_v3_x = ep_v2 * 0.7071067690849304;
      let ep_v3_a = abs(ep_v3_x);
      let ep_v3_t = vec4<f32>(1.0) / (ep_v3_a * 0.32759109139442444 + 1.0);
      let ep_v3 = ep_v2 * 0.5 * (sign(ep_v3_x) * (vec4<f32>(1.0) - ((((ep_v3_t * 1.0614054203033447 - 1.453152060508728) * ep_v3_t + 1.421413779258728) * ep_v3_t - 0.2844967246055603) * ep_v3_t + 0.2548295855522156) * ep_v3_t * exp(-(ep_v3_a * ep_v3_a))) + 1.0);
      out[(r0 + 15u) * N4 + cb] = vec4<f16>(ep_v3);
    }
  }
  if (r0 + 15u < M && cb + 8u < N4) {
    {
      let ep_e0 = e0[cb + 8u];
      let ep_v1 = ep_e0;
      let ep_v2 = acc15_1 + ep_v1;
      let ep_v3_x = ep_v2 * 0.7071067690849304;
      let ep_v3_a = abs(ep_v3_x);
      let ep_v3_t = vec4<f32>(1.0) / (ep_v3_a * 0.32759109139442444 + 1.0);
      let ep_v3 = ep_v2 * 0.5 * (sign(ep_v3_x) * (vec4<f32>(1.0) - ((((ep_v3_t * 1.0614054203033447 - 1.453152060508728) * ep_v3_t + 1.421413779258728) * ep_v3_t - 0.2844967246055603) * ep_v3_t + 0.2548295855522156) * ep_v3_t * exp(-(ep_v3_a * ep_v3_a))) + 1.0);
      out[(r0 + 15u) * N4 + (cb + 8u)] = vec4<f16>(ep_v3);
    }
  }
}
