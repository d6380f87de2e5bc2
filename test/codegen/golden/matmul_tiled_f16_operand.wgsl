// mdc kernel: matmul_tiled_cast
// [33, 96] @ [96, 24] → [33, 24]
// epilogue: cast
// tiled 4x4 per invocation, 8x16 invocations, k16, raster n
enable f16;
const M = 33u;
const N = 24u;
const K = 96u;
const N4 = 6u;
@group(0) @binding(0) var<storage, read_write> a: array<vec4<f16>>;
@group(0) @binding(1) var<storage, read_write> b: array<vec4<f16>>;
@group(0) @binding(2) var<storage, read_write> out: array<vec4<f32>>;
var<workgroup> As: array<f32, 1024>;
var<workgroup> Bs: array<vec4<f32>, 128>;
@compute @workgroup_size(8, 16)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(local_invocation_index) lindex: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  let tid = lindex;
  let r0 = wid.y * 64u;
  let c0 = wid.x * 8u;
  var acc0_0 = vec4<f32>(0.0);
  var acc1_0 = vec4<f32>(0.0);
  var acc2_0 = vec4<f32>(0.0);
  var acc3_0 = vec4<f32>(0.0);
  for (var k0 = 0u; k0 < K; k0 += 16u) {
    for (var unit = tid; unit < 256u; unit += 128u) {
      let m = unit / 4u;
      let kq = unit % 4u;
      let v = select(vec4<f32>(0.0), vec4<f32>(a[(min(r0 + m, 32u) * K + (k0 + kq * 4u)) / 4u]), r0 + m < M);
      As[kq * 4u * 64u + m] = v.x;
      As[(kq * 4u + 1u) * 64u + m] = v.y;
      As[(kq * 4u + 2u) * 64u + m] = v.z;
      As[(kq * 4u + 3u) * 64u + m] = v.w;
    }
    {
      let kk = tid / 8u;
      let cc = tid % 8u;
      Bs[kk * 8u + cc] = select(vec4<f32>(0.0), vec4<f32>(b[(k0 + kk) * N4 + min(c0 + cc, 5u)]), c0 + cc < N4);
    }
    workgroupBarrier();
    for (var kk = 0u; kk < 16u; kk += 1u) {
      let ar = kk * 64u + lid.y * 4u;
      let br = kk * 8u + lid.x;
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
      let ep_v1 = acc0_0;
      out[rt * N4 + ct] = ep_v1;
    }
  }
  if (rt + 1u < M && ct < N4) {
    {
      let ep_v1 = acc1_0;
      out[(rt + 1u) * N4 + ct] = ep_v1;
    }
  }
  if (rt + 2u < M && ct < N4) {
    {
      let ep_v1 = acc2_0;
      out[(rt + 2u) * N4 + ct] = ep_v1;
    }
  }
  if (rt + 3u < M && ct < N4) {
    {
      let ep_v1 = acc3_0;
      out[(rt + 3u) * N4 + ct] = ep_v1;
    }
  }
}
