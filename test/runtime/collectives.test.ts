/**
 * The runtime's host collectives against the compiler's multi-device simulation, the
 * semantic reference: random layout conversions (compiler/sharding/redistribute.ts)
 * run step by step on both must agree block for block, and assembling the result must
 * give back the tensor, since a conversion only moves a value.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { dimConst } from '../../compiler/dims.js';
import { GraphBuilder } from '../../compiler/ir.js';
import { groupOf, numel } from '../../layout/mesh.js';
import type { Mesh } from '../../compiler/sharding/mesh.js';
import type { SpmdProgram } from '../../compiler/sharding/partition.js';
import { redistribute } from '../../compiler/sharding/redistribute.js';
import { shardOf as compilerShardOf, simulate } from '../../compiler/sharding/simulate.js';
import type { Layout, TType } from '../../compiler/types.js';
import { assemble, groupsOf, localShape, runCollective, shardOf, type HostArray, type PlanCollectiveStep, type PlanMesh } from '../../runtime/index.js';

const SPAN = { start: 0, end: 0, line: 1, col: 1, endLine: 1, endCol: 1 };

/** A mesh of 1–3 axes, a tensor whose dims every split divides, and two random layouts of it. */
const arbCase = fc.record({
  sizes: fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 1, maxLength: 3 }),
  factors: fc.array(fc.integer({ min: 1, max: 2 }), { minLength: 1, maxLength: 3 }),
  // Per axis: -1 unused, -2 partial, otherwise a dim (mod rank); the order of axes within a dim follows `order`.
  from: fc.array(fc.integer({ min: -2, max: 2 }), { minLength: 3, maxLength: 3 }),
  to: fc.array(fc.integer({ min: -2, max: 2 }), { minLength: 3, maxLength: 3 }),
  order: fc.array(fc.integer({ min: 0, max: 2 }), { minLength: 3, maxLength: 3 }),
  seed: fc.integer({ min: 0, max: 1000 }),
});

function layoutOf(names: readonly string[], pick: readonly number[], order: readonly number[], rank: number): Layout {
  const axes: string[][] = Array.from({ length: rank }, () => []);
  const partial: string[] = [];
  const ranked = names.map((n, i) => ({ n, i })).sort((a, b) => order[a.i]! - order[b.i]! || a.i - b.i);
  for (const { n, i } of ranked) {
    if (pick[i]! === -2) partial.push(n);
    else if (pick[i]! >= 0) axes[pick[i]! % rank]!.push(n);
  }
  return { axes, partial: names.filter((n) => partial.includes(n)) };
}

const toArray = (x: ArrayLike<number>) => Array.from(x);

describe('host collectives', () => {
  it('groups match the compiler mesh groups', () => {
    const mesh: Mesh = {
      axes: [
        { name: 'a', size: 2 },
        { name: 'b', size: 3 },
        { name: 'c', size: 2 },
      ],
    };
    const pm: PlanMesh = { ...mesh, devices: 12 };
    for (const axis of ['a', 'b', 'c']) {
      const mine = groupsOf(pm, axis);
      expect(mine.flat().sort((x, y) => x - y)).toEqual(Array.from({ length: 12 }, (_, i) => i));
      for (const g of mine) expect(g).toEqual(groupOf(mesh, g[0]!, axis));
    }
  });

  it('random layout conversions agree with the simulation and preserve the tensor', () => {
    fc.assert(
      fc.property(arbCase, (c) => {
        const names = ['x', 'y', 'z'].slice(0, c.sizes.length);
        const mesh: Mesh = { axes: names.map((name, i) => ({ name, size: c.sizes[i]! })) };
        const devices = c.sizes.reduce((a, b) => a * b, 1);
        const pm: PlanMesh = { axes: mesh.axes, devices };
        const all = c.sizes.reduce((a, b) => a * b, 1);
        const shape = c.factors.map((f) => f * all);
        const from = layoutOf(names, c.from, c.order, shape.length);
        const to = layoutOf(names, c.to, [...c.order].reverse(), shape.length);
        const whole = Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => ((i * 7 + c.seed) % 13) - 6);

        // The compiler's side: a local graph of the conversion's collective nodes, simulated.
        const steps = redistribute(from, to);
        const type: TType = { dtype: 'f32', dims: shape.map(dimConst) };
        const local = (l: Layout): TType => ({ dtype: 'f32', dims: localShape(mesh, shape, l).map(dimConst) });
        const b = new GraphBuilder();
        const globalTypes: TType[] = [];
        const layouts: Layout[] = [];
        let v = b.addValue({ type: local(from), kind: 'input', name: 'x' });
        globalTypes[v.id] = type;
        layouts[v.id] = from;
        for (const s of steps) {
          const attrs = {
            axis: s.axis,
            axis_size: mesh.axes.find((a) => a.name === s.axis)!.size,
            ...(s.dim !== undefined ? { dim: s.dim } : {}),
            ...(s.to !== undefined ? { to: s.to } : {}),
          };
          [v] = b.addNode(s.kind, [v], [local(s.after)], attrs, SPAN, '') as [typeof v];
          globalTypes[v.id] = type;
          layouts[v.id] = s.after;
        }
        const p = { mesh, devices, local: b.finish('T', [v], ['y']), globalTypes, layouts } as unknown as SpmdProgram;
        const expected = simulate(p, { x: whole }, () => [])['y']!;

        // The runtime's side: the same steps as plan collective steps on host blocks.
        let blocks: HostArray[] = Array.from({ length: devices }, (_, d) => shardOf(pm, whole, shape, from, d));
        blocks.forEach((blk, d) => expect(toArray(blk)).toEqual(toArray(compilerShardOf(mesh, { shape, data: Float64Array.from(whole) }, from, d).data)));
        let before = from;
        for (const s of steps) {
          const step: PlanCollectiveStep = {
            kind: 'collective',
            op: s.kind,
            axis: s.axis,
            ...(s.dim !== undefined ? { dim: s.dim } : {}),
            ...(s.to !== undefined ? { to: s.to } : {}),
            input: 0,
            output: 1,
            shape: localShape(pm, shape, before),
            scope: '',
            line: 1,
            col: 1,
          };
          blocks = runCollective(pm, step, blocks);
          before = s.after;
          blocks.forEach((blk) => expect(blk.length).toBe(numel(localShape(pm, shape, before))));
        }
        const got = assemble(pm, blocks, shape, to);
        expect(toArray(got)).toEqual(toArray(expected.data));
        expect(toArray(got)).toEqual(toArray(whole));
      }),
      { numRuns: 300, seed: 7 },
    );
  });

  it('integer tensors stay integers through sums', () => {
    const pm: PlanMesh = { axes: [{ name: 'tp', size: 2 }], devices: 2 };
    const step: PlanCollectiveStep = { kind: 'collective', op: 'all_reduce', axis: 'tp', input: 0, output: 1, shape: [3], scope: '', line: 1, col: 1 };
    const out = runCollective(pm, step, [Int32Array.of(1, 2, 3), Int32Array.of(10, 20, 30)]);
    expect(out[1]).toBeInstanceOf(Int32Array);
    expect(toArray(out[1]!)).toEqual([11, 22, 33]);
  });
});
