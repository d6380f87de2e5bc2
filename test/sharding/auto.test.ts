import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { lower } from '../../compiler/compile.js';
import { dimValue } from '../../compiler/dims.js';
import type { Graph } from '../../compiler/ir.js';
import { interpret } from '../../compiler/reference/interpret.js';
import { autoShard, AutoError } from '../../compiler/sharding/auto.js';
import type { Mesh } from '../../compiler/sharding/mesh.js';
import { partition } from '../../compiler/sharding/partition.js';
import { simulate } from '../../compiler/sharding/simulate.js';
import { verifyGraph } from '../../compiler/verify-ir.js';
import { initValues } from '../../runtime/init.js';

const gpt2 = readFileSync('samples/gpt2.model', 'utf8');
const mesh = (spec: Record<string, number>): Mesh => ({ axes: Object.entries(spec).map(([name, size]) => ({ name, size })) });
const num = (g: Graph, id: number) => g.values[id]!.type.dims.map((d) => dimValue(d)!);

describe('auto: strategy search with HiGHS', () => {
  // GPT-2 small at its real context (S = 1024), batch 2, training, on [dp: 2, tp: 4] with
  // the default cost model (100 TFLOP/s, 100 GB/s per axis). With every parameter
  // annotation ignored, the search must arrive at Megatron-LM's layout on its own.
  it("finds Megatron's layout for GPT-2 small on 8 devices", async () => {
    const r = lower(gpt2, 'gpt2.model', { dims: { S: 1024 } });
    const g = r.graph!;
    const m = mesh({ dp: 2, tp: 4 });
    const a = await autoShard(g, m, { training: true });
    expect(a.status).toBe('Optimal');
    expect(a.searchSeconds).toBeGreaterThan(0);
    const p = partition(g, m, { layouts: a.layouts });
    expect(verifyGraph(p.local, true)).toEqual([]);
    const layout = (name: string) => {
      const v = p.local.values.find((x) => x.name === name)!;
      return p.layouts[v.id]!.axes.map((x) => x.join(',')).join('|');
    };
    for (let l = 0; l < 12; l++) {
      for (const w of ['wq', 'wk', 'wv']) expect(layout(`Layer.${l}.Attention.${w}`), `layer ${l} ${w}`).toBe('|tp'); // column-parallel
      expect(layout(`Layer.${l}.Attention.wo`)).toBe('tp|'); // row-parallel
      expect(layout(`Layer.${l}.Mlp.w1`)).toBe('|tp'); // column-parallel
      expect(layout(`Layer.${l}.Mlp.w2`)).toBe('tp|'); // row-parallel
    }
    // Inside the layers: exactly two all-reduces over tp per layer, of the (per-replica)
    // activation, one in each block, and nothing else moves data. Outside them only the
    // hand-off of the token ids and the embedding's output between the dp layouts of the
    // model body and of the layers moves data: at most two collectives, over dp.
    const tokens = num(g, g.inputs[0]!);
    const moving = p.collectives.filter((c) => c.scope.startsWith('Layer.') && c.bytesPerDevice > 0);
    for (let l = 0; l < 12; l++) {
      for (const block of ['Attention', 'Mlp']) {
        const here = moving.filter((c) => c.scope === `Layer.${l}.${block}`);
        expect(
          here.map((c) => `${c.kind}(${c.axis})`),
          `layer ${l} ${block}`,
        ).toEqual(['all_reduce(tp)']);
        expect(here[0]!.elements).toBe((tokens[0]! / 2) * tokens[1]! * 768);
      }
      expect(
        moving.filter((c) => c.scope === `Layer.${l}`),
        `layer ${l}`,
      ).toEqual([]);
    }
    const outside = p.collectives.filter((c) => !c.scope.startsWith('Layer.') && c.bytesPerDevice > 0);
    expect(outside.length).toBeLessThanOrEqual(2);
    expect(outside.map((c) => `${c.scope || '(model)'} ${c.kind}(${c.axis})`).filter((x) => !x.startsWith('(model)') || !x.endsWith('(dp)'))).toEqual([]);
  });

  it('a memory cap forces parameters apart, and an impossible cap is a clear error', async () => {
    const g = lower(gpt2, 'gpt2.model', { preset: 'tiny' }).graph!;
    const m = mesh({ dp: 2, tp: 4 });
    const free = partition(g, m, { layouts: (await autoShard(g, m, { training: true })).layouts });
    // Unconstrained, the tiny model is not worth splitting: parameters stay whole.
    expect(free.paramBytesPerDevice).toBe(free.paramBytes);
    const cap = (free.paramBytes * 4) / 3; // training state is 4× the parameters
    const capped = partition(g, m, { layouts: (await autoShard(g, m, { training: true, memoryCap: cap })).layouts });
    expect(capped.paramBytesPerDevice * 4).toBeLessThanOrEqual(cap);
    await expect(autoShard(g, m, { training: true, memoryCap: 1000 })).rejects.toThrow(AutoError);
    // The least need: every parameter split over all 8 devices, ×4 for training state (hand check: 544,256 parameters × 4 B × 4 / 8 = 1,088,512 B).
    await expect(autoShard(g, m, { training: true, memoryCap: 1000 })).rejects.toThrow(
      'no plan keeps the parameters and their training state within the memory cap of 0.00 MiB (1000 bytes) per device: ' +
        'the least any plan needs is 1.04 MiB (1088512 bytes) per device, with each parameter split as finely as the mesh allows; ' +
        'raise the cap (--memory-cap) to at least that, or use a mesh of more devices',
    );
  });

  it('what auto chooses under a memory cap computes the same as one device (CPU devices, rel. error < 1e-9)', async () => {
    const g = lower(gpt2, 'gpt2.model', { preset: 'tiny' }).graph!;
    const m = mesh({ dp: 2, tp: 4 });
    const total = g.values.filter((v) => v.kind === 'param').reduce((n, v) => n + num(g, v.id).reduce((a, b) => a * b, 1) * 4, 0);
    const p = partition(g, m, { layouts: (await autoShard(g, m, { memoryCap: total / 3 })).layouts });
    expect(p.paramBytesPerDevice).toBeLessThanOrEqual(total / 3);
    const byName = new Map(g.values.filter((v) => v.kind === 'param').map((v) => [v.name!, v]));
    const params = (name: string, shape: readonly number[]) =>
      initValues(
        byName.get(name)!.init!,
        shape.reduce((a, b) => a * b, 1),
        3,
        name,
      );
    const tokens = Array.from({ length: num(g, g.inputs[0]!).reduce((a, b) => a * b, 1) }, (_, i) => (i * 7) % 1024);
    const want = interpret(g, { tokens }, params)['logits']!.data;
    const got = simulate(p, { tokens }, params)['logits']!.data;
    let scale = 0;
    let diff = 0;
    want.forEach((x, i) => {
      scale = Math.max(scale, Math.abs(x));
      diff = Math.max(diff, Math.abs(x - got[i]!));
    });
    expect(diff / scale).toBeLessThan(1e-9);
  });

  // What tying buys is a search of the same size whatever the depth; how long HiGHS takes
  // on it is a benchmark's business (bench/sharding.ts), so only the size is asserted here.
  it('repeated layers share one set of decisions: 96 layers give the solver the same program as 12, and every layer the same layouts', async () => {
    const m = mesh({ dp: 8, tp: 8 });
    const g12 = lower(gpt2, 'gpt2.model', { dims: { S: 2048 }, overrides: { d: 1536, heads: 16, ctx: 2048 } }).graph!;
    const g96 = lower(gpt2, 'gpt2.model', { dims: { S: 2048 }, overrides: { layers: 96, d: 1536, heads: 16, ctx: 2048 } }).graph!;
    const a12 = await autoShard(g12, m, { training: true });
    const a96 = await autoShard(g96, m, { training: true });
    expect(a96.status).toBe('Optimal');
    expect(g96.nodes.length, '96 layers have more nodes to decide for').toBeGreaterThan(6 * g12.nodes.length);
    expect(a96.distinctNodes).toBeLessThan(g12.nodes.length);
    expect([a96.distinctNodes, a96.variables, a96.constraints]).toEqual([a12.distinctNodes, a12.variables, a12.constraints]);
    // One set of decisions: each layer's parameters get layer 0's layouts.
    const layouts = (g: Graph, a: typeof a96) =>
      new Map(g.values.filter((v) => v.kind === 'param').map((v) => [v.name!, a.layouts[v.id]!.axes.map((x) => x.join(',')).join('|')]));
    const l96 = layouts(g96, a96);
    const layer0 = [...l96].filter(([n]) => n.startsWith('Layer.0.'));
    expect(layer0.length).toBeGreaterThan(0);
    for (let l = 1; l < 96; l++) {
      expect(
        layer0.map(([n]) => l96.get(n.replace(/^Layer\.0\./, `Layer.${l}.`))),
        `layer ${l}`,
      ).toEqual(layer0.map(([, x]) => x));
    }
  });
});
