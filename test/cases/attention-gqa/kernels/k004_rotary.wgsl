// mdc kernel: rotary
// 2 heads of 2 over [1, 5, 4]
@group(0) @binding(0) var<storage, read_write> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x;
  if (i >= 20u) {
    return;
  }
  let col = i % 4u;
  let pos = f32(i / 4u % 5u);
  let j = col % 2u;
  let jj = 0u;
  let freq = pow(10000.0, -f32(jj * 2u) / 2.0);
  let ang = pos * freq;
  let c = cos(ang);
  let s = sin(ang);
  if (j < 1u) {
    out[i] = x[i] * c - x[i + 1u] * s;
  } else {
    out[i] = x[i] * c + x[i - 1u] * s;
  }
}
