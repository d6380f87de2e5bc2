import type { Graph, Node, Value } from '../../compiler/ir.js';
import { dimValue, type Dim } from '../../compiler/dims.js';
import { coords, copyKernel, shapeOf, sizeOf, stridesOf, u32, type BindingDecl, type KernelSpec, type KernelTarget } from './kernel.js';

/** The layout kernels copy `x` into `out` (converting where one of them is stored as f16: copyKernel). */
const io = (x: Value, out: Value): BindingDecl[] => [{ name: 'x', access: 'read', value: x }, { name: 'out', access: 'read_write', value: out }];

export function transposeKernel(node: Node, g: Graph, target: KernelTarget): KernelSpec {
  const x = g.values[node.inputs[0]!]!;
  const out = g.values[node.outputs[0]!]!;
  const perm = node.attrs['perm'] as number[];
  const os = shapeOf(out);
  const inStrides = stridesOf(shapeOf(x));
  return copyKernel('transpose', io(x, out), sizeOf(os), target, (move) => [
    coords('i', os),
    move('out', 'i', 'x', os.map((_, d) => `c${d} * ${u32(inStrides[perm[d]!]!)}`).join(' + ') || '0u'),
  ].join('\n'));
}

export function sliceKernel(node: Node, g: Graph, target: KernelTarget): KernelSpec {
  const x = g.values[node.inputs[0]!]!;
  const out = g.values[node.outputs[0]!]!;
  const axis = node.attrs['axis'] as number;
  const start = dimValue(node.attrs['start'] as Dim)!;
  const os = shapeOf(out);
  const inStrides = stridesOf(shapeOf(x));
  const terms = os.map((_, d) => `${d === axis ? `(c${d} + ${u32(start)})` : `c${d}`} * ${u32(inStrides[d]!)}`);
  return copyKernel('slice', io(x, out), sizeOf(os), target, (move) => [coords('i', os), move('out', 'i', 'x', terms.join(' + '))].join('\n'));
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
    return copyKernel('concat', io(x, out), sizeOf(xs), target, (move) => [coords('i', xs), move('out', terms.join(' + '), 'x', 'i')].join('\n'));
  });
}
