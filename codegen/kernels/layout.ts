import type { Graph, Node, Value } from '../../compiler/ir.js';
import { dimValue, type Dim } from '../../compiler/dims.js';
import { Block, bufferRef, flatGrid } from '../kir/build.js';
import { u, type Expr } from '../kir/ir.js';
import { toSpec } from '../kir/wgsl.js';
import { coordLets } from './fused/body.js';
import { bufferOf, read, shapeOf, WG, write, type KernelSpec, type KernelTarget } from './kernel.js';
import { numel, stridesOf } from '../../layout/mesh.js';

/** Where each element of a copy's domain sits in one of its buffers: offset + Σ coordinate·stride. */
interface Placement {
  readonly offset: number;
  readonly strides: readonly number[];
}
const dense = (shape: readonly number[], offset = 0): Placement => ({ offset, strides: stridesOf(shape) });

/**
 * The layout kernels copy `x` into `out`: for every coordinate c of `domain`,
 * out[at(c)] = x[from(c)]. Four elements at a time when both sides run along the
 * domain's last dim with unit stride from whole groups of four (a transpose that keeps
 * the last dim, a slice or concat on another axis); the printer converts where one side
 * is stored as f16.
 */
function copyKernel(name: string, x: Value, out: Value, domain: readonly number[], from: Placement, at: Placement, target: KernelTarget): KernelSpec {
  const r = domain.length;
  const last = r ? domain[r - 1]! : 1;
  const fours = (p: Placement) => p.offset % 4 === 0 && p.strides.every((st, d) => (d === r - 1 ? st === 1 : st % 4 === 0 || domain[d] === 1));
  const w = r > 0 && last % 4 === 0 && fours(from) && fours(at) ? 4 : 1;
  const buffers = [bufferOf(read('x', x), w), bufferOf(write('out', out), w)];
  const b = new Block();
  const { index: j, dispatch } = flatGrid(b, 'i', numel(domain) / w, WG);
  // Coordinates of the unit's first element, the last one in units of w.
  const lead = coordLets(b, j, domain, w);
  let lastCoord: Expr | undefined;
  const coord = (d: number) => (d < r - 1 ? lead(d) : last === w ? u(0) : (lastCoord ??= b.let(w === 4 ? 'q' : `c${d}`, r > 1 ? j.mod(last / w) : j)));
  const contiguous = stridesOf(domain);
  const index = (p: Placement): Expr => {
    let e = u(p.offset / w);
    if (p.strides.every((st, d) => st === contiguous[d] || domain[d] === 1)) return e.add(j);
    p.strides.forEach((st, d) => {
      if (domain[d] !== 1) e = e.add(d === r - 1 ? coord(d).mul(st) : coord(d).mul(st / w));
    });
    return e;
  };
  const [X, OUT] = buffers.map(bufferRef);
  const src = index(from);
  b.set(OUT!.at(index(at)), X!.at(src));
  return toSpec(
    {
      name,
      doc: [`[${domain.join(', ')}], ${w === 4 ? 'four elements' : 'one element'} per invocation`],
      enables: [],
      consts: [],
      buffers,
      shared: [],
      workgroupSize: [WG, 1, 1],
      dispatch,
      body: b.stmts,
    },
    target,
  );
}

export function transposeKernel(node: Node, g: Graph, target: KernelTarget): KernelSpec {
  const x = g.values[node.inputs[0]!]!;
  const out = g.values[node.outputs[0]!]!;
  const perm = node.attrs['perm'] as number[];
  const os = shapeOf(out);
  const inStrides = stridesOf(shapeOf(x));
  return copyKernel('transpose', x, out, os, { offset: 0, strides: perm.map((p) => inStrides[p]!) }, dense(os), target);
}

export function sliceKernel(node: Node, g: Graph, target: KernelTarget): KernelSpec {
  const x = g.values[node.inputs[0]!]!;
  const out = g.values[node.outputs[0]!]!;
  const axis = node.attrs['axis'] as number;
  const start = dimValue(node.attrs['start'] as Dim)!;
  const os = shapeOf(out);
  const inStrides = stridesOf(shapeOf(x));
  return copyKernel('slice', x, out, os, { offset: start * inStrides[axis]!, strides: inStrides }, dense(os), target);
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
    const band = { offset: offset * outStrides[axis]!, strides: outStrides };
    offset += xs[axis]!;
    return copyKernel('concat', x, out, xs, dense(xs), band, target);
  });
}
