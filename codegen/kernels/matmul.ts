import type { Graph, Node } from '../../compiler/ir.js';
import { kernel, shapeOf, sizeOf, stridesOf, u32, type KernelSpec } from './kernel.js';

/**
 * Plain batched matmul: one invocation per output element, K loop in registers.
 * Batch dims broadcast: a size-1 batch dim of an operand has stride 0.
 */
export function matmulKernel(node: Node, g: Graph): KernelSpec {
  const [av, bv] = node.inputs.map((id) => g.values[id]!);
  const out = g.values[node.outputs[0]!]!;
  const as = shapeOf(av!);
  const bs = shapeOf(bv!);
  const os = shapeOf(out);
  const M = os[os.length - 2]!;
  const N = os[os.length - 1]!;
  const K = as[as.length - 1]!;
  const batch = os.slice(0, -2);
  const batchOffset = (shape: number[], name: string) => {
    const own = shape.slice(0, -2);
    const pad = [...new Array<number>(batch.length - own.length).fill(1), ...own];
    const st = stridesOf(pad).map((s) => s * shape[shape.length - 2]! * shape[shape.length - 1]!);
    const terms = batch.map((_, d) => (pad[d] === 1 ? '' : `c${d} * ${u32(st[d]!)}`)).filter(Boolean);
    return `let ${name} = ${terms.length ? terms.join(' + ') : '0u'};`;
  };
  const lines: string[] = [];
  lines.push(`let col = i % ${u32(N)};`, `let row = (i / ${u32(N)}) % ${u32(M)};`);
  if (batch.length) {
    lines.push(`var rb = i / ${u32(M * N)};`);
    for (let d = batch.length - 1; d >= 0; d--) {
      lines.push(`let c${d} = rb % ${u32(batch[d]!)};`);
      if (d > 0) lines.push(`rb = rb / ${u32(batch[d]!)};`);
    }
  }
  lines.push(batchOffset(as, 'abase'), batchOffset(bs, 'bbase'));
  lines.push(
    `var acc = 0.0;`,
    `for (var k = 0u; k < ${u32(K)}; k = k + 1u) {`,
    `  acc = acc + a[abase + row * ${u32(K)} + k] * b[bbase + k * ${u32(N)} + col];`,
    `}`,
    `out[i] = acc;`,
  );
  return kernel('matmul', [
    { name: 'a', access: 'read', value: av! },
    { name: 'b', access: 'read', value: bv! },
    { name: 'out', access: 'read_write', value: out },
  ], lines.join('\n'), sizeOf(os), 64);
}
