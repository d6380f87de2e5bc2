import type { Graph, Node, Value } from '../../compiler/ir.js';
import { dimValue, type Dim } from '../../compiler/dims.js';
import { bindingType, convert, coords, kernel, shapeOf, sizeOf, stridesOf, u32, type KernelSpec, type KernelTarget } from './kernel.js';

/**
 * The layout kernels copy elements: `out[i] = x[j]`, converted when one side is stored
 * as f16 and the other not (KernelTarget.f16Values).
 */
const copy = (x: Value, out: Value, half: ReadonlySet<number> | undefined) => (to: string, from: string) =>
  `out[${to}] = ${convert(`x[${from}]`, bindingType(x, half), bindingType(out, half))};`;

export function transposeKernel(node: Node, g: Graph, target: KernelTarget): KernelSpec {
  const x = g.values[node.inputs[0]!]!;
  const out = g.values[node.outputs[0]!]!;
  const perm = node.attrs['perm'] as number[];
  const os = shapeOf(out);
  const inStrides = stridesOf(shapeOf(x));
  const body = [
    coords('i', os),
    copy(x, out, target.f16Values)('i', os.map((_, d) => `c${d} * ${u32(inStrides[perm[d]!]!)}`).join(' + ') || '0u'),
  ].join('\n');
  return kernel('transpose', [{ name: 'x', access: 'read', value: x }, { name: 'out', access: 'read_write', value: out }], body, sizeOf(os), undefined, undefined, target.f16Values);
}

export function sliceKernel(node: Node, g: Graph, target: KernelTarget): KernelSpec {
  const x = g.values[node.inputs[0]!]!;
  const out = g.values[node.outputs[0]!]!;
  const axis = node.attrs['axis'] as number;
  const start = dimValue(node.attrs['start'] as Dim)!;
  const os = shapeOf(out);
  const inStrides = stridesOf(shapeOf(x));
  const terms = os.map((_, d) => `${d === axis ? `(c${d} + ${u32(start)})` : `c${d}`} * ${u32(inStrides[d]!)}`);
  const body = [coords('i', os), copy(x, out, target.f16Values)('i', terms.join(' + '))].join('\n');
  return kernel('slice', [{ name: 'x', access: 'read', value: x }, { name: 'out', access: 'read_write', value: out }], body, sizeOf(os), undefined, undefined, target.f16Values);
}

/** One copy kernel per input, each writing its band of the output: any number of inputs fits the binding limit. */
export function concatKernels(node: Node, g: Graph, target: KernelTarget): KernelSpec[] {
  const out = g.values[node.outputs[0]!]!;
  const axis = node.attrs['axis'] as number;
  const outStrides = stridesOf(shapeOf(out));
  let offset = 0;
  return node.inputs.map((id) => {
    const x = g.values[id]!;
    const xs = shapeOf(x);
    const terms = xs.map((_, d) => `${d === axis ? `(c${d} + ${u32(offset)})` : `c${d}`} * ${u32(outStrides[d]!)}`);
    offset += xs[axis]!;
    const body = [coords('i', xs), copy(x, out, target.f16Values)(terms.join(' + '), 'i')].join('\n');
    return kernel('concat', [{ name: 'x', access: 'read', value: x }, { name: 'out', access: 'read_write', value: out }], body, sizeOf(xs), undefined, undefined, target.f16Values);
  });
}
