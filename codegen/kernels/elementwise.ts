import type { Graph, Node } from '../../compiler/ir.js';
import type { Block } from '../kir/build.js';
import { bits, cast, f, select, u, type Expr } from '../kir/ir.js';
import { toSpec } from '../kir/wgsl.js';
import { broadcastInput, coordLets } from './fused/body.js';
import { dropoutSeed, dropoutThreshold } from '../../compiler/ops/elementwise.js';
import { flatKernel, meshCoordsValue, read, shapeOf, write, type KernelSpec, type KernelSpmd, type KernelTarget } from './kernel.js';
import { numel, stridesOf } from '../../layout/mesh.js';

/** Counter-based hash for dropout masks, as lets of `b`; the CPU reference uses the same function. */
function hashU32(b: Block, x: Expr, name = 'h'): Expr {
  let h = b.let(`${name}0`, x);
  [
    [16, 0x7feb352d],
    [15, 0x846ca68b],
    [16, 0],
  ].forEach(([shift, factor], k) => {
    const mixed = h.xor(h.shr(shift!));
    h = b.let(`${name}${k + 1}`, factor ? mixed.mul(bits(factor)) : mixed);
  });
  return h;
}

/**
 * Training dropout: each element kept with probability 1 − p by a hash of its row-major
 * index in the whole tensor, the node's seed and the step's dropout counter (input 1, an
 * i32 scalar; 0 when the node has none), scaled by 1 / (1 − p); the CPU reference
 * (compiler/ops/elementwise.ts dropoutTraining, dropoutHash) draws the same mask. In a
 * partitioned plan whose output is split, the kernel also binds the device's mesh
 * coordinates (MESH_COORDS) and adds its block's offsets, so every device draws its block
 * of the unpartitioned mask. Every other element-wise op (and dropout outside training)
 * is a one-step fused body (fused/elementwise.ts).
 */
export function dropoutKernel(node: Node, g: Graph, target: KernelTarget = {}): KernelSpec {
  const out = g.values[node.outputs[0]!]!;
  const x = g.values[node.inputs[0]!]!;
  const counter = node.inputs[1] !== undefined ? g.values[node.inputs[1]]! : undefined;
  const outShape = shapeOf(out);
  const p = node.attrs['p'] as number;
  const threshold = dropoutThreshold(p);
  const seed = dropoutSeed(node.attrs['seed'] as number, (node.attrs['mask_id'] as number | undefined) ?? node.id);
  const block = target.spmd && splitBlock(target.spmd, out.id, outShape);
  // Read one wide at its broadcast index: the same binding broadcastInput declares.
  const input = broadcastInput('in0', x, outShape, 1);
  const bindings = [
    read('in0', x),
    write('out', out),
    ...(counter ? [read('counter', counter)] : []),
    ...(block ? [read('coords', meshCoordsValue(block.axes))] : []),
  ];
  return toSpec(
    flatKernel(
      node.op,
      `training dropout with p = ${p} over [${outShape.join(', ')}]${block ? ` of [${block.global.join(', ')}]` : ''}${counter ? ', per-step mask' : ''}`,
      bindings,
      numel(outShape),
      (b, i, { in0, out: o, counter: n, coords }) => {
        const coord = coordLets(b, i, outShape);
        const v = b.let('x', in0.at(input.offset(coord, i)));
        const index = block ? b.let('g', block.index(b, i, coord, coords!)) : i;
        // hash(hash(g ^ seed) ^ hash(counter)): hashU32(0) = 0, so no counter is counter 0.
        const first = b.let('r', hashU32(b, index.xor(bits(seed)), 'a'));
        const mixed = counter ? first.xor(hashU32(b, cast('u32', n!.at(u(0))), 'k')) : first;
        const keep = b.let('keep', hashU32(b, mixed, 'h').ge(u(threshold)));
        b.set(o.at(i), select(f(0), v.mul(f(1 / (1 - p))), keep));
      },
    ),
    target,
  );
}

/**
 * The global index of a block's elements when some dim of the value is split: Σ (c_d +
 * o_d)·G_d over the dims up to the last split one (after it the block spans the whole
 * tensor, so the local index's remainder is the global one there), where c_d is the
 * local coordinate, o_d the block's offset (its block number along d, a mixed-radix
 * number over the device's coordinates on the axes splitting d, times the local extent)
 * and G_d the whole tensor's stride. All modulo 2^32, as the reference computes it.
 */
function splitBlock(spmd: KernelSpmd, value: number, local: readonly number[]) {
  const { shape: global, layout } = spmd.globalOf(value);
  const split = local.map((_, d) => layout.axes[d] ?? []);
  const last = split.reduce((k, a, d) => (a.length ? d : k), -1);
  if (last < 0) return undefined;
  const strides = stridesOf(global);
  const inner = numel(local.slice(last + 1));
  const axisIndex = (name: string) => spmd.axes.findIndex((a) => a.name === name);
  return {
    global,
    axes: spmd.axes.length,
    index: (b: Block, i: Expr, coord: (d: number) => Expr, coords: Expr): Expr => {
      let index = inner === numel(local) ? i : i.mod(inner);
      for (let d = 0; d <= last; d++) {
        let at = coord(d);
        if (split[d]!.length) {
          let blk: Expr = u(0);
          for (const a of split[d]!) blk = blk.mul(spmd.axes[axisIndex(a)]!.size).add(cast('u32', coords.at(axisIndex(a))));
          at = at.add(b.let(`o${d}`, blk.mul(local[d]!)));
        }
        index = index.add(at.mul(strides[d]! % 2 ** 32));
      }
      return index;
    },
  };
}
