import type { Graph, Node } from '../../compiler/ir.js';
import { dimValue, type Dim } from '../../compiler/dims.js';
import { coords, kernel, shapeOf, sizeOf, stridesOf, u32, type KernelSpec } from './kernel.js';

export function transposeKernel(node: Node, g: Graph): KernelSpec {
  const x = g.values[node.inputs[0]!]!;
  const out = g.values[node.outputs[0]!]!;
  const perm = node.attrs['perm'] as number[];
  const os = shapeOf(out);
  const inStrides = stridesOf(shapeOf(x));
  const body = [
    coords('i', os),
    `out[i] = x[${os.map((_, d) => `c${d} * ${u32(inStrides[perm[d]!]!)}`).join(' + ') || '0u'}];`,
  ].join('\n');
  return kernel('transpose', [{ name: 'x', access: 'read', value: x }, { name: 'out', access: 'read_write', value: out }], body, sizeOf(os));
}

export function sliceKernel(node: Node, g: Graph): KernelSpec {
  const x = g.values[node.inputs[0]!]!;
  const out = g.values[node.outputs[0]!]!;
  const axis = node.attrs['axis'] as number;
  const start = dimValue(node.attrs['start'] as Dim)!;
  const os = shapeOf(out);
  const inStrides = stridesOf(shapeOf(x));
  const terms = os.map((_, d) => `${d === axis ? `(c${d} + ${u32(start)})` : `c${d}`} * ${u32(inStrides[d]!)}`);
  const body = [coords('i', os), `out[i] = x[${terms.join(' + ')}];`].join('\n');
  return kernel('slice', [{ name: 'x', access: 'read', value: x }, { name: 'out', access: 'read_write', value: out }], body, sizeOf(os));
}

/** One copy kernel per input, each writing its band of the output: any number of inputs fits the binding limit. */
export function concatKernels(node: Node, g: Graph): KernelSpec[] {
  const out = g.values[node.outputs[0]!]!;
  const axis = node.attrs['axis'] as number;
  const outStrides = stridesOf(shapeOf(out));
  let offset = 0;
  return node.inputs.map((id) => {
    const x = g.values[id]!;
    const xs = shapeOf(x);
    const terms = xs.map((_, d) => `${d === axis ? `(c${d} + ${u32(offset)})` : `c${d}`} * ${u32(outStrides[d]!)}`);
    offset += xs[axis]!;
    const body = [coords('i', xs), `out[${terms.join(' + ')}] = x[i];`].join('\n');
    return kernel('concat', [{ name: 'x', access: 'read', value: x }, { name: 'out', access: 'read_write', value: out }], body, sizeOf(xs));
  });
}
