import type { Graph, Node } from '../../compiler/ir.js';
import type { Block } from '../kir/build.js';
import { bits, f, select, u, type Expr } from '../kir/ir.js';
import { toSpec } from '../kir/wgsl.js';
import { broadcastInput, coordLets } from './fused/body.js';
import { flatKernel, read, shapeOf, write, type KernelSpec, type KernelTarget } from './kernel.js';
import { numel } from '../../layout/mesh.js';

/** Counter-based hash for dropout masks, as lets of `b`; the CPU reference uses the same function. */
function hashU32(b: Block, x: Expr): Expr {
  let h = b.let('h0', x);
  [
    [16, 0x7feb352d],
    [15, 0x846ca68b],
    [16, 0],
  ].forEach(([shift, factor], k) => {
    const mixed = h.xor(h.shr(shift!));
    h = b.let(`h${k + 1}`, factor ? mixed.mul(bits(factor)) : mixed);
  });
  return h;
}

/**
 * Training dropout: each element kept with probability 1 − p by a hash of its index in
 * the output and the node's seed, scaled by 1 / (1 − p). Every other element-wise op
 * (and dropout outside training) is a one-step fused body (fused/elementwise.ts).
 */
export function dropoutKernel(node: Node, g: Graph, target: KernelTarget = {}): KernelSpec {
  const out = g.values[node.outputs[0]!]!;
  const x = g.values[node.inputs[0]!]!;
  const outShape = shapeOf(out);
  const p = node.attrs['p'] as number;
  const threshold = Math.min(4294967295, Math.floor(p * 4294967296));
  const seed = ((node.attrs['seed'] as number) * 0x9e3779b1 + ((node.attrs['mask_id'] as number | undefined) ?? node.id) * 0x85ebca6b) >>> 0;
  // Read one wide at its broadcast index: the same binding broadcastInput declares.
  const input = broadcastInput('in0', x, outShape, 1);
  return toSpec(
    flatKernel(
      node.op,
      `training dropout with p = ${p} over [${outShape.join(', ')}]`,
      [read('in0', x), write('out', out)],
      numel(outShape),
      (b, i, { in0, out: o }) => {
        const v = b.let('x', in0.at(input.offset(coordLets(b, i, outShape), i)));
        const keep = b.let('keep', hashU32(b, i.xor(bits(seed))).ge(u(threshold)));
        b.set(o.at(i), select(f(0), v.mul(f(1 / (1 - p))), keep));
      },
    ),
    target,
  );
}
