// mdc kernel: matmul_tiled
// [17, 19] @ [19, 33] → [17, 33]
// tiled 4x4 per invocation, 16x8 invocations, k16, raster n
const M = 17u;
const N = 33u;
const K = 19u;
@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
var<workgroup> As: array<f32, 512>;
var<workgroup> Bs: array<f32, 1024>;
@compute @workgroup_size(16, 8)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(local_invocation_index) lindex: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  let tid = lindex;
  let r0 = wid.y * 32u;
  let c0 = wid.x * 64u;
  var acc0_0 = 0.0;
  var acc0_1 = 0.0;
  var acc0_2 = 0.0;
  var acc0_3 = 0.0;
  var acc1_0 = 0.0;
  var acc1_1 = 0.0;
  var acc1_2 = 0.0;
  var acc1_3 = 0.0;
  var acc2_0 = 0.0;
  var acc2_1 = 0.0;
  var acc2_2 = 0.0;
  var acc2_3 = 0.0;
  var acc3_0 = 0.0;
  var acc3_1 = 0.0;
  var acc3_2 = 0.0;
  var acc3_3 = 0.0;
  for (var k0 = 0u; k0 < K; k0 += 16u) {
    for (var unit = tid; unit < 512u; unit += 128u) {
      let m = unit / 16u;
      let kq = unit % 16u;
      let v = select(0.0, a[min(r0 + m, 16u) * K + min(k0 + kq, 18u)], r0 + m < M && k0 + kq < K);
      As[kq * 32u + m] = v;
    }
    for (var unit = tid; unit < 1024u; unit += 128u) {
      let kk = unit / 64u;
      let cc = unit % 64u;
      Bs[kk * 64u + cc] = select(0.0, b[min(k0 + kk, 18u) * N + min(c0 + cc, 32u)], k0 + kk < K && c0 + cc < N);
    }
    workgroupBarrier();
    for (var kk = 0u; kk < 16u; kk += 1u) {
      let ar = kk * 32u + lid.y * 4u;
      let br = kk * 64u + lid.x;
      let a0 = As[ar];
      let a1 = As[ar + 1u];
      let a2 = As[ar + 2u];
      let a3 = As[ar + 3u];
      let b0 = Bs[br];
      let b1 = Bs[br + 16u];
      let b2 = Bs[br + 32u];
      let b3 = Bs[br + 48u];
      acc0_0 = fma(a0, b0, acc0_0);
      acc0_1 = fma(a0, b1, acc0_1);
      acc0_2 = fma(a0, b2, acc0_2);
      acc0_3 = fma(a0, b3, acc0_3);
      acc1_0 = fma(a1, b0, acc1_0);
      acc1_1 = fma(a1, b1, acc1_1);
      acc1_2 = fma(a1, b2, acc1_2);
      acc1_3 = fma(a1, b3, acc1_3);
      acc2_0 = fma(a2, b0, acc2_0);
      acc2_1 = fma(a2, b1, acc2_1);
      acc2_2 = fma(a2, b2, acc2_2);
      acc2_3 = fma(a2, b3, acc2_3);
      acc3_0 = fma(a3, b0, acc3_0);
      acc3_1 = fma(a3, b1, acc3_1);
      acc3_2 = fma(a3, b2, acc3_2);
      acc3_3 = fma(a3, b3, acc3_3);
    }
    workgroupBarrier();
  }
  let rt = r0 + lid.y * 4u;
  let ct = c0 + lid.x;
  if (rt < M && ct < N) {
    out[rt * N + ct] = acc0_0;
  }
  if (rt < M && ct + 16u < N) {
    out[rt * N + (ct + 16u)] = acc0_1;
  }
  if (rt < M && ct + 32u < N) {
    out[rt * N + (ct + 32u)] = acc0_2;
  }
  if (rt < M && ct + 48u < N) {
    out[rt * N + (ct + 48u)] = acc0_3;
  }
  if (rt + 1u < M && ct < N) {
    out[(rt + 1u) * N + ct] = acc1_0;
  }
  if (rt + 1u < M && ct + 16u < N) {
    out[(rt + 1u) * N + (ct + 16u)] = acc1_1;
  }
  if (rt + 1u < M && ct + 32u < N) {
    out[(rt + 1u) * N + (ct + 32u)] = acc1_2;
  }
  if (rt + 1u < M && ct + 48u < N) {
    out[(rt + 1u) * N + (ct + 48u)] = acc1_3;
  }
  if (rt + 2u < M && ct < N) {
    out[(rt + 2u) * N + ct] = acc2_0;
  }
  if (rt + 2u < M && ct + 16u < N) {
    out[(rt + 2u) * N + (ct + 16u)] = acc2_1;
  }
  if (rt + 2u < M && ct + 32u < N) {
    out[(rt + 2u) * N + (ct + 32u)] = acc2_2;
  }
  if (rt + 2u < M && ct + 48u < N) {
    out[(rt + 2u) * N + (ct + 48u)] = acc2_3;
  }
  if (rt + 3u < M && ct < N) {
    out[(rt + 3u) * N + ct] = acc3_0;
  }
  if (rt + 3u < M && ct + 16u < N) {
    out[(rt + 3u) * N + (ct + 16u)] = acc3_1;
  }
  if (rt + 3u < M && ct + 32u < N) {
    out[(rt + 3u) * N + (ct + 32u)] = acc3_2;
  }
  if (rt + 3u < M && ct + 48u < N) {
    out[(rt + 3u) * N + (ct + 48u)] = acc3_3;
  }
}
