// mdc kernel: sum_rows
// 3 rows of 33, 64 invocations per row
@group(0) @binding(0) var<storage, read> x: array<i32>;
@group(0) @binding(1) var<storage, read_write> out: array<i32>;
var<workgroup> red: array<i32, 64>;
@compute @workgroup_size(64)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let row = wid.x;
  let t = lid.x;
  let base = row * 33u;
  var acc = 0;
  for (var j = t; j < 33u; j += 64u) {
    acc = acc + x[base + j];
  }
  red[t] = acc;
  workgroupBarrier();
  if (t < 32u) {
    red[t] = red[t] + red[t + 32u];
  }
  workgroupBarrier();
  if (t < 16u) {
    red[t] = red[t] + red[t + 16u];
  }
  workgroupBarrier();
  if (t < 8u) {
    red[t] = red[t] + red[t + 8u];
  }
  workgroupBarrier();
  if (t < 4u) {
    red[t] = red[t] + red[t + 4u];
  }
  workgroupBarrier();
  if (t < 2u) {
    red[t] = red[t] + red[t + 2u];
  }
  workgroupBarrier();
  if (t < 1u) {
    red[t] = red[t] + red[t + 1u];
  }
  workgroupBarrier();
  let sum_all = red[0u];
  workgroupBarrier();
  if (t == 0u) {
    out[row] = sum_all;
  }
}
