// mdc kernel: matmul_tiled_add_gelu_add
// [128, 64] @ [64, 96] → [128, 96]
// epilogue: add, gelu, add
// tiled 4x4 per invocation, 16x16 invocations, k16, raster n
const M = 128u;
const N = 96u;
const K = 64u;
const N4 = 24u;
@group(0) @binding(0) var<storage, read> a: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> b: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> e0: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> e1: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> out: array<vec4<f32>>;
var<workgroup> As: array<f32, 1024>;
var<workgroup> Bs: array<vec4<f32>, 256>;
@compute @workgroup_size(16, 16)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(local_invocation_index) lindex: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  let tid = lindex;
  let r0 = wid.y * 64u;
  let c0 = wid.x * 16u;
  var acc0_0 = vec4<f32>(0.0);
  var acc1_0 = vec4<f32>(0.0);
  var acc2_0 = vec4<f32>(0.0);
  var acc3_0 = vec4<f32>(0.0);
  for (var k0 = 0u; k0 < K; k0 += 16u) {
    {
      let m = tid / 4u;
      let kq = tid % 4u;
      let v = a[((r0 + m) * K + (k0 + kq * 4u)) / 4u];
      As[kq * 4u * 64u + m] = v.x;
      As[(kq * 4u + 1u) * 64u + m] = v.y;
      As[(kq * 4u + 2u) * 64u + m] = v.z;
      As[(kq * 4u + 3u) * 64u + m] = v.w;
    }
    {
      let kk = tid / 16u;
      let cc = tid % 16u;
      Bs[kk * 16u + cc] = select(vec4<f32>(0.0), b[(k0 + kk) * N4 + min(c0 + cc, 23u)], c0 + cc < N4);
    }
    workgroupBarrier();
    for (var kk = 0u; kk < 16u; kk += 1u) {
      let ar = kk * 64u + lid.y * 4u;
      let br = kk * 16u + lid.x;
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
  if (ct < N4) {
    {
      let ep_e0 = e0[ct];
      let ep_e1 = e1[rt * N4 + ct];
      let ep_v1 = acc0_0 + ep_e0;
      let ep_v2_e = exp(clamp((ep_v1 + ep_v1 * ep_v1 * ep_v1 * 0.044714998453855515) * 0.7978845834732056, vec4<f32>(-15.0), vec4<f32>(15.0)) * 2.0);
      let ep_v2 = ep_v1 * 0.5 * ((ep_v2_e - 1.0) / (ep_v2_e + 1.0) + 1.0);
      let ep_v3 = ep_v2 + ep_e1;
      out[rt * N4 + ct] = ep_v3;
    }
  }
  if (ct < N4) {
    {
      let ep_e0 = e0[ct];
      let ep_e1 = e1[(rt + 1u) * N4 + ct];
      let ep_v1 = acc1_0 + ep_e0;
      let ep_v2_e = exp(clamp((ep_v1 + ep_v1 * ep_v1 * ep_v1 * 0.044714998453855515) * 0.7978845834732056, vec4<f32>(-15.0), vec4<f32>(15.0)) * 2.0);
      let ep_v2 = ep_v1 * 0.5 * ((ep_v2_e - 1.0) / (ep_v2_e + 1.0) + 1.0);
      let ep_v3 = ep_v2 + ep_e1;
      out[(rt + 1u) * N4 + ct] = ep_v3;
    }
  }
  if (ct < N4) {
    {
      let ep_e0 = e0[ct];
      let ep_e1 = e1[(rt + 2u) * N4 + ct];
      let ep_v1 = acc2_0 + ep_e0;
      let ep_v2_e = exp(clamp((ep_v1 + ep_v1 * ep_v1 * ep_v1 * 0.044714998453855515) * 0.7978845834732056, vec4<f32>(-15.0), vec4<f32>(15.0)) * 2.0);
      let ep_v2 = ep_v1 * 0.5 * ((ep_v2_e - 1.0) / (ep_v2_e + 1.0) + 1.0);
      let ep_v3 = ep_v2 + ep_e1;
      out[(rt + 2u) * N4 + ct] = ep_v3;
    }
  }
  if (ct < N4) {
    {
      let ep_e0 = e0[ct];
      let ep_e1 = e1[(rt + 3u) * N4 + ct];
      let ep_v1 = acc3_0 + ep_e0;
      let ep_v2_e = exp(clamp((ep_v1 + ep_v1 * ep_v1 * ep_v1 * 0.044714998453855515) * 0.7978845834732056, vec4<f32>(-15.0), vec4<f32>(15.0)) * 2.0);
      let ep_v2 = ep_v1 * 0.5 * ((ep_v2_e - 1.0) / (ep_v2_e + 1.0) + 1.0);
      let ep_v3 = ep_v2 + ep_e1;
      out[(rt + 3u) * N4 + ct] = ep_v3;
    }
  }
}
