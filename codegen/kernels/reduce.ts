import type { Graph, Node } from '../../compiler/ir.js';
import { aroundAxis, f32, kernel, shapeOf, storageOf, u32, type KernelSpec, type KernelTarget } from './kernel.js';
import { rowKernelApplies, rowNormKernel, rowReduceKernel, rowSoftmaxKernel } from './rows.js';

/** One invocation per reduced row, for reductions over an axis other than the last (the last takes the row kernels, rows.ts). */
function rowFrame(len: number, inner: number) {
  return [
    `let o = i / ${u32(inner)};`,
    `let inn = i % ${u32(inner)};`,
    `let base = o * ${u32(len * inner)} + inn;`,
  ].join('\n');
}

export function reduceKernel(node: Node, g: Graph, target: KernelTarget): KernelSpec {
  if (rowKernelApplies(node, g)) return rowReduceKernel(node, g, target);
  const x = g.values[node.inputs[0]!]!;
  const out = g.values[node.outputs[0]!]!;
  const { outer, len, inner } = aroundAxis(shapeOf(x), node.attrs['axis'] as number);
  const isInt = storageOf(x) === 'i32';
  const zero = isInt ? '0' : '0.0';
  const init = node.op === 'max' ? 'x[base]' : node.op === 'min' ? 'x[base]' : zero;
  const step = node.op === 'max' ? 'acc = max(acc, v);' : node.op === 'min' ? 'acc = min(acc, v);' : 'acc = acc + v;';
  const fin = node.op === 'mean' ? (isInt ? `acc / ${len}` : `acc / ${f32(len)}`) : 'acc';
  const body = [
    rowFrame(len, inner),
    `var acc = ${init};`,
    `for (var j = 0u; j < ${u32(len)}; j = j + 1u) {`,
    `  let v = x[base + j * ${u32(inner)}];`,
    `  ${step}`,
    `}`,
    `out[i] = ${fin};`,
  ].join('\n');
  return kernel(node.op, [{ name: 'x', access: 'read', value: x }, { name: 'out', access: 'read_write', value: out }], body, outer * inner, 64);
}

export function softmaxKernel(node: Node, g: Graph, target: KernelTarget): KernelSpec {
  if (rowKernelApplies(node, g)) return rowSoftmaxKernel(node, g, target);
  const x = g.values[node.inputs[0]!]!;
  const out = g.values[node.outputs[0]!]!;
  const { outer, len, inner } = aroundAxis(shapeOf(x), node.attrs['axis'] as number);
  const log = node.op === 'log_softmax';
  const body = [
    rowFrame(len, inner),
    `var m = x[base];`,
    `for (var j = 1u; j < ${u32(len)}; j = j + 1u) { m = max(m, x[base + j * ${u32(inner)}]); }`,
    `var s = 0.0;`,
    `for (var j = 0u; j < ${u32(len)}; j = j + 1u) { s = s + exp(x[base + j * ${u32(inner)}] - m); }`,
    log ? `let ls = log(s);` : `let inv = 1.0 / s;`,
    `for (var j = 0u; j < ${u32(len)}; j = j + 1u) {`,
    `  let p = base + j * ${u32(inner)};`,
    log ? `  out[p] = x[p] - m - ls;` : `  out[p] = exp(x[p] - m) * inv;`,
    `}`,
  ].join('\n');
  return kernel(node.op, [{ name: 'x', access: 'read', value: x }, { name: 'out', access: 'read_write', value: out }], body, outer * inner, 64);
}

/** layer_norm and rms_norm normalise the last axis: always the row kernels (rows.ts). */
export const normKernel = rowNormKernel;

/** Mean cross-entropy in one workgroup: rows strided over 256 invocations, then a tree sum. Labels outside [0, V) are ignored. */
export function crossEntropyKernel(node: Node, g: Graph): KernelSpec {
  const [lg, lb] = node.inputs.map((id) => g.values[id]!);
  const out = g.values[node.outputs[0]!]!;
  const shape = shapeOf(lg!);
  const V = shape[shape.length - 1]!;
  const rows = shape.reduce((a, b) => a * b, 1) / V;
  const wgsl = `// mdc kernel: cross_entropy
@group(0) @binding(0) var<storage, read> logits: array<f32>;
@group(0) @binding(1) var<storage, read> labels: array<i32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
var<workgroup> part_sum: array<f32, 256>;
var<workgroup> part_cnt: array<f32, 256>;
@compute @workgroup_size(256)
fn main(@builtin(local_invocation_id) lid: vec3<u32>) {
  let t = lid.x;
  var acc = 0.0;
  var cnt = 0.0;
  for (var r = t; r < ${u32(rows)}; r = r + 256u) {
    let label = labels[r];
    if (label < 0 || label >= ${V}) { continue; }
    let base = r * ${u32(V)};
    var m = logits[base];
    for (var j = 1u; j < ${u32(V)}; j = j + 1u) { m = max(m, logits[base + j]); }
    var s = 0.0;
    for (var j = 0u; j < ${u32(V)}; j = j + 1u) { s = s + exp(logits[base + j] - m); }
    acc = acc + (log(s) + m - logits[base + u32(label)]);
    cnt = cnt + 1.0;
  }
  part_sum[t] = acc;
  part_cnt[t] = cnt;
  workgroupBarrier();
  for (var stride = 128u; stride > 0u; stride = stride / 2u) {
    if (t < stride) {
      part_sum[t] = part_sum[t] + part_sum[t + stride];
      part_cnt[t] = part_cnt[t] + part_cnt[t + stride];
    }
    workgroupBarrier();
  }
  if (t == 0u) { out[0] = part_sum[0] / max(part_cnt[0], 1.0); }
}
`;
  return {
    name: 'cross_entropy', wgsl, workgroupSize: [256, 1, 1], dispatch: [1, 1, 1],
    bindings: [
      { name: 'logits', access: 'read', type: 'f32', value: lg!.id },
      { name: 'labels', access: 'read', type: 'i32', value: lb!.id },
      { name: 'out', access: 'read_write', type: 'f32', value: out.id },
    ],
  };
}
