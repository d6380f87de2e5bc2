// mdc kernel: matmul_tiled_silu_mul
// [2, 1, 17, 24] @ [1, 4, 24, 12] → [2, 4, 17, 12]
// epilogue: silu, mul
// tiled 4x4 per invocation, 4x8 invocations, k16, raster n
const M = 17u;
const N = 12u;
const K = 24u;
const N4 = 3u;
@group(0) @binding(0) var<storage, read> a: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> b: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> e0: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> out: array<vec4<f32>>;
var<workgroup> As: array<f32, 512>;
var<workgroup> Bs: array<vec4<f32>, 64>;
@compute @workgroup_size(4, 8)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(local_invocation_index) lindex: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  let tid = lindex;
  let r0 = wid.y * 32u;
  let c0 = wid.x * 4u;
  let bz = wid.z;
  let bc1 = bz % 4u;
  let bc0 = bz / 4u % 2u;
  let aoff = bc0 * 408u;
  let boff = bc1 * 288u;
  var acc0_0 = vec4<f32>(0.0);
  var acc1_0 = vec4<f32>(0.0);
  var acc2_0 = vec4<f32>(0.0);
  var acc3_0 = vec4<f32>(0.0);
  for (var k0 = 0u; k0 < K; k0 += 16u) {
    for (var unit = tid; unit < 128u; unit += 32u) {
      let m = unit / 4u;
      let kq = unit % 4u;
      let v = select(vec4<f32>(0.0), a[(aoff + min(r0 + m, 16u) * K + min(k0 + kq * 4u, 20u)) / 4u], r0 + m < M && k0 + kq * 4u < K);
      As[kq * 4u * 32u + m] = v.x;
      As[(kq * 4u + 1u) * 32u + m] = v.y;
      As[(kq * 4u + 2u) * 32u + m] = v.z;
      As[(kq * 4u + 3u) * 32u + m] = v.w;
    }
    for (var unit = tid; unit < 64u; unit += 32u) {
      let kk = unit / 4u;
      let cc = unit % 4u;
      Bs[kk * 4u + cc] = select(vec4<f32>(0.0), b[boff / 4u + min(k0 + kk, 23u) * N4 + min(c0 + cc, 2u)], k0 + kk < K && c0 + cc < N4);
    }
    workgroupBarrier();
    for (var kk = 0u; kk < 16u; kk += 1u) {
      let ar = kk * 32u + lid.y * 4u;
      let br = kk * 4u + lid.x;
      let a0 = As[ar];
      let a1 = As[ar + 1u];
      let a2 = As[ar + 2u];
      let a3 = As[ar + 3u];
      let b0 = Bs[br];
      acc0_0 = fma(vec4<f32>(a0), b0, acc0_0);
      acc1_0 = fma(vec4<f32>(a1), b0, acc1_0);
      acc2_0 = fma(vec4<f32>(a2), b0, acc2_0);
      acc3_0 = fma(vec4<f32>(a3), b0, acc3_0);
    }
    workgroupBarrier();
  }
  let rt = r0 + lid.y * 4u;
  let ct = c0 + lid.x;
  if (rt < M && ct < N4) {
    {
      let ep_b1 = bz % 4u;
      let ep_e0 = e0[ep_b1 * 3u + ct];
      let ep_v1 = acc0_0 / (exp(-acc0_0) + 1.0);
      let ep_v2 = ep_v1 * ep_e0;
      out[bz * 51u + rt * N4 + ct] = ep_v2;
    }
  }
  if (rt + 1u < M && ct < N4) {
    {
      let ep_b1 = bz % 4u;
      let ep_e0 = e0[ep_b1 * 3u + ct];
      let ep_v1 = acc1_0 / (exp(-acc1_0) + 1.0);
      let ep_v2 = ep_v1 * ep_e0;
      out[bz * 51u + (rt + 1u) * N4 + ct] = ep_v2;
    }
  }
  if (rt + 2u < M && ct < N4) {
    {
      let ep_b1 = bz % 4u;
      let ep_e0 = e0[ep_b1 * 3u + ct];
      let ep_v1 = acc2_0 / (exp(-acc2_0) + 1.0);
      let ep_v2 = ep_v1 * ep_e0;
      out[bz * 51u + (rt + 2u) * N4 + ct] = ep_v2;
    }
  }
  if (rt + 3u < M && ct < N4) {
    {
      let ep_b1 = bz % 4u;
      let ep_e0 = e0[ep_b1 * 3u + ct];
      let ep_v1 = acc3_0 / (exp(-acc3_0) + 1.0);
      let ep_v2 = ep_v1 * ep_e0;
      out[bz * 51u + (rt + 3u) * N4 + ct] = ep_v2;
    }
  }
}
