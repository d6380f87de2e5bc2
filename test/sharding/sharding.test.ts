import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { lower } from '../../compiler/compile.js';
import { dimConst } from '../../compiler/dims.js';
import { GraphBuilder, type Graph } from '../../compiler/ir.js';
import { interpret } from '../../compiler/reference/interpret.js';
import type { RefTensor } from '../../compiler/ops/tensor.js';
import { coordsOf, localShape } from '../../layout/mesh.js';
import type { Mesh } from '../../compiler/sharding/mesh.js';
import { partition } from '../../compiler/sharding/partition.js';
import { redistribute } from '../../compiler/sharding/redistribute.js';
import { simulate } from '../../compiler/sharding/simulate.js';
import { stageProblems } from '../../driver/verify.js';
import { verifyGraph } from '../../compiler/verify-ir.js';
import type { Layout } from '../../compiler/types.js';
import { initValues } from '../../runtime/init.js';
import { build, modelArb } from '../support/random-models.js';

const gpt2 = readFileSync('samples/gpt2.model', 'utf8');
const mesh = (spec: Record<string, number>): Mesh => ({ axes: Object.entries(spec).map(([name, size]) => ({ name, size })) });

/** Parameters from the runtime's seeded initialiser, so every run sees the same weights. */
function paramsOf(g: Graph) {
  const byName = new Map(g.values.filter((v) => v.kind === 'param').map((v) => [v.name!, v]));
  return (name: string, shape: readonly number[]) => {
    const v = byName.get(name)!;
    return initValues(
      v.init!,
      shape.reduce((a, b) => a * b, 1),
      7,
      name,
    );
  };
}

function seededInputs(g: Graph, seed = 1): Record<string, number[]> {
  let s = seed;
  const next = () => (s = (s * 1103515245 + 12345) % 2147483648) / 2147483648;
  const out: Record<string, number[]> = {};
  for (const id of g.inputs) {
    const v = g.values[id]!;
    const n = v.type.dims.reduce((a, d) => a * Number([...d.terms.values()][0] ?? 1), 1);
    out[v.name!] = Array.from({ length: n }, () => (v.type.dtype === 'i32' ? Math.floor(next() * 16) : next() * 2 - 1));
  }
  return out;
}

/** Largest absolute difference over the largest reference magnitude (at least 1e-3, so an all-zero output is not judged by rounding noise). */
function relErr(a: Record<string, RefTensor>, b: Record<string, RefTensor>): number {
  let worst = 0;
  for (const k of Object.keys(a)) {
    const x = a[k]!.data;
    const y = b[k]!.data;
    expect(y.length).toBe(x.length);
    let scale = 1e-3;
    let diff = 0;
    for (let i = 0; i < x.length; i++) {
      scale = Math.max(scale, Math.abs(x[i]!));
      diff = Math.max(diff, Math.abs(x[i]! - y[i]!));
    }
    worst = Math.max(worst, diff / scale);
  }
  return worst;
}

function sharded(source: string, m: Mesh, opts = {}) {
  const r = lower(source, 'test.model', { mesh: m.axes, ...opts });
  expect(r.diagnostics.map((d) => d.message)).toEqual([]);
  const g = r.graph!;
  const p = partition(g, m);
  expect(verifyGraph(p.local, true)).toEqual([]);
  return { g, p };
}

describe('Megatron tensor parallelism', () => {
  // The textbook count (Shoeybi et al. 2019): per transformer layer, forward, one all-reduce
  // after the attention output projection and one after the MLP's second matmul, each of a
  // batch × seq × hidden activation (per data-parallel replica).
  it.each([
    ['tiny', { dp: 2, tp: 4 }],
    ['tiny', { dp: 1, tp: 4 }],
    [undefined, { dp: 2, tp: 4 }],
    [undefined, { dp: 1, tp: 2 }],
  ] as const)('GPT-2 (preset %s) on %o: two all-reduces of B·S·d per layer', (preset, spec) => {
    const m = mesh(spec);
    const { g, p } = sharded(gpt2, m, preset ? { preset } : {});
    const tokens = g.values[g.inputs[0]!]!;
    const [B, S] = tokens.type.dims.map((d) => Number([...d.terms.values()][0]));
    const wq = g.values.find((v) => v.name === 'Layer.0.Attention.wq')!;
    const d = Number([...wq.type.dims[0]!.terms.values()][0]);
    const layers = new Set(g.values.filter((v) => v.kind === 'param' && v.name!.startsWith('Layer.')).map((v) => v.name!.split('.')[1])).size;
    const dp = (spec as Record<string, number>)['dp'] ?? 1;
    const moving = p.collectives.filter((c) => c.bytesPerDevice > 0);
    expect(moving.every((c) => c.kind === 'all_reduce' && c.axis === 'tp')).toBe(true);
    expect(moving.length).toBe(2 * layers);
    for (const c of moving) expect(c.elements).toBe((B! / dp) * S! * d);
    // One in each block of each layer.
    const scopes = moving.map((c) => c.scope).sort();
    expect(scopes).toEqual(
      Array.from({ length: layers }, (_, i) => [`Layer.${i}.Attention`, `Layer.${i}.Mlp`])
        .flat()
        .sort(),
    );
  });

  it('the sharded 2-layer GPT equals the single-device reference on [dp: 2, tp: 4] (CPU devices, rel. error < 1e-9)', () => {
    const m = mesh({ dp: 2, tp: 4 });
    const { g, p } = sharded(gpt2, m, { preset: 'tiny' });
    const inputs = seededInputs(g);
    const want = interpret(g, inputs, paramsOf(g));
    const got = simulate(p, inputs, paramsOf(g));
    expect(relErr(want, got)).toBeLessThan(1e-9);
    // Each device holds an eighth of the tensor-parallel weights.
    expect(p.paramBytesPerDevice).toBeLessThan(p.paramBytes / 2);
  });

  it('completion finds the whole Megatron layout from the two row-parallel annotations alone', () => {
    const src = gpt2
      .replace(/(w[qkv]|b[qkv]): f32\[d, d@tp\]/g, '$1: f32[d, d]')
      .replace(/(b[qkv]): f32\[d@tp\]/g, '$1: f32[d]')
      .replace('w1: f32[d, ffn@tp]', 'w1: f32[d, ffn]')
      .replace('b1: f32[ffn@tp]', 'b1: f32[ffn]');
    expect(src).not.toContain('d, d@tp');
    const { p } = sharded(src, mesh({ dp: 2, tp: 4 }), { preset: 'tiny' });
    const layout = (name: string) => {
      const v = p.local.values.find((x) => x.name === name)!;
      return p.layouts[v.id]!.axes.map((a) => a.join(','));
    };
    for (const w of ['wq', 'wk', 'wv']) expect(layout(`Layer.1.Attention.${w}`)).toEqual(['', 'tp']);
    for (const b of ['bq', 'bk', 'bv']) expect(layout(`Layer.1.Attention.${b}`)).toEqual(['tp']);
    expect(layout('Layer.0.Mlp.w1')).toEqual(['', 'tp']);
    expect(layout('Layer.0.Mlp.b1')).toEqual(['tp']);
    expect(layout('Layer.0.Attention.bo')).toEqual(['']);
    expect(p.collectives.filter((c) => c.bytesPerDevice > 0).map((c) => c.kind)).toEqual(Array(4).fill('all_reduce'));
  });
});

describe('sequence parallelism', () => {
  // Megatron-style: norms run on a sequence-split residual stream; the column-parallel
  // projections all-gather it once, the row-parallel output reduce-scatters back.
  const src = `
mesh M = [tp: 4]
config C { d = 16, heads = 4 }
block Attn(x: f32[B, S, d]) -> f32[B, S@tp, d] {
  param wq: f32[d, d@tp] = normal(0, 0.5)
  param wk: f32[d, d@tp] = normal(0, 0.5)
  param wv: f32[d, d@tp] = normal(0, 0.5)
  param wo: f32[d@tp, d] = normal(0, 0.5)
  return attention(x @ wq, x @ wk, x @ wv, heads = heads, causal = true) @ wo
}
model T(x: f32[B, S@tp, d]) -> f32[B, S@tp, d] where B = 2, S = 8 {
  let h = layer_norm(x)
  return h + Attn(h)
}`;
  it('gathers once before the projections, reduce-scatters after, and matches the reference', () => {
    const { g, p } = sharded(src, mesh({ tp: 4 }));
    expect(p.collectives.map((c) => c.kind)).toEqual(['all_gather', 'reduce_scatter']);
    expect(p.collectives[1]!.reason).toContain('annotation on line 4');
    const inputs = seededInputs(g);
    expect(relErr(interpret(g, inputs, paramsOf(g)), simulate(p, inputs, paramsOf(g)))).toBeLessThan(1e-9);
  });
});

describe('redistribution', () => {
  const L = (axes: string[][], partial: string[] = []): Layout => ({ axes, partial });
  it.each([
    ['partial → whole', L([[], []], ['tp']), L([[], []]), ['all_reduce']],
    ['partial → split', L([[], []], ['tp']), L([['tp'], []]), ['reduce_scatter']],
    ['split → whole', L([['tp'], []]), L([[], []]), ['all_gather']],
    ['split → other dim', L([['tp'], []]), L([[], ['tp']]), ['all_to_all']],
    ['whole → split', L([[], []]), L([[], ['dp']]), ['shard_slice']],
    ['whole → partial', L([[], []]), L([[], []], ['tp']), ['partial_mask']],
    ['two axes on one dim, drop the minor one', L([['dp', 'tp'], []]), L([['dp'], []]), ['all_gather']],
    ['two axes on one dim, drop the major one', L([['dp', 'tp'], []]), L([['tp'], []]), ['all_gather', 'all_gather', 'shard_slice']],
    ['same layout', L([['dp'], ['tp']]), L([['dp'], ['tp']]), []],
  ] as const)('%s', (_name, from, to, kinds) => {
    expect(redistribute(from as Layout, to as Layout).map((s) => s.kind)).toEqual(kinds);
  });

  // Any layout to any layout, on random meshes: the converted blocks assemble to the same tensor.
  const meshArb = fc
    .array(fc.integer({ min: 1, max: 3 }), { minLength: 1, maxLength: 3 })
    .map((sizes) => mesh(Object.fromEntries(sizes.map((s, i) => [`a${i}`, s]))));
  const layoutArb = (m: Mesh, rank: number) =>
    fc.tuple(fc.array(fc.integer({ min: -1, max: rank }), { minLength: m.axes.length, maxLength: m.axes.length })).map(([where]) => {
      const axes: string[][] = Array.from({ length: rank }, () => []);
      const partial: string[] = [];
      where.forEach((w, i) => {
        const a = m.axes[i]!.name;
        if (w === rank) partial.push(a);
        else if (w >= 0) axes[w]!.push(a);
      });
      return { axes, partial } as Layout;
    });
  it('converting between random layouts on random meshes keeps the value (200 cases)', () => {
    const shape = [54, 36, 108];
    const divides = (m: Mesh, l: Layout) => localShape(m, shape, l).every(Number.isInteger);
    fc.assert(
      fc.property(
        meshArb.chain((m) => fc.tuple(fc.constant(m), layoutArb(m, 3), layoutArb(m, 3))),
        ([m, from, to]) => {
          // Only legal layouts: the front end rejects a split that does not divide its dim (MDC0402).
          fc.pre(divides(m, from) && divides(m, to));
          const b = new GraphBuilder();
          const x = b.addValue({ type: { dtype: 'f32', dims: shape.map(dimConst), layout: from }, kind: 'input', name: 'x' });
          const [y] = b.addNode(
            'neg',
            [x],
            [{ dtype: 'f32', dims: shape.map(dimConst) }],
            {},
            { start: 0, end: 0, line: 1, col: 1, endLine: 1, endCol: 1 },
            '',
          );
          b.constraints.set(y!.id, { value: y!.id, layout: to, span: { start: 0, end: 0, line: 1, col: 1, endLine: 1, endCol: 1 } });
          const g = b.finish('T', [y!], ['y']);
          const p = partition(g, m);
          expect(stageProblems('partition', p.local, { spmd: p })).toEqual([]);
          const data = Array.from({ length: shape.reduce((a, c) => a * c, 1) }, (_, i) => Math.sin(i));
          const got = simulate(p, { x: data }, () => []);
          // A partial input holds its value on device 0 of the partial axes (zeros elsewhere), so the sum is the value.
          got['y']!.data.forEach((v, i) => {
            if (Math.abs(v + data[i]!) > 1e-12) throw new Error(`element ${i}: ${v} vs ${-data[i]!}`);
          });
        },
      ),
      { numRuns: 200, seed: 42 },
    );
  });

  it('local shapes and coordinates follow the mesh order', () => {
    const m = mesh({ dp: 2, tp: 4 });
    expect(coordsOf(m, 5)).toEqual({ dp: 1, tp: 1 });
    expect(localShape(m, [8, 16], L([['dp'], ['tp']]))).toEqual([4, 4]);
    expect(localShape(m, [8, 16], L([['dp', 'tp'], []]))).toEqual([1, 16]);
  });
});

describe('property: sharded equals unsharded', () => {
  // Random small models (chains of matmuls, biases, norms, softmax, attention, reductions,
  // reshapes, mixture-of-experts routing and blocks with layout constraints) × random meshes (1–8 devices, 1–3 axes) ×
  // random legal annotations. All dims are multiples of 12, so every single-axis split
  // divides. The CPU-simulated devices must equal the one-device reference to 1e-9 (both
  // run in float64; only summation order differs).
  it('random models × random meshes × random annotations (150 cases)', () => {
    let checked = 0;
    fc.assert(
      fc.property(modelArb, ({ sizes, body, picks, d }) => {
        const src = build(sizes, body, picks, d);
        const m = mesh(Object.fromEntries(sizes.map((s, i) => [`a${i}`, s])));
        const r = lower(src, 'random.model', { mesh: m.axes });
        // Two constraint blocks fed the same value may contradict each other; that is a diagnostic, not a plan.
        if (r.diagnostics.some((x) => x.code === 'MDC0405')) return;
        if (r.diagnostics.length) throw new Error(`${r.diagnostics.map((x) => x.message).join('; ')}\n${src}`);
        const g = r.graph!;
        const p = partition(g, m);
        expect(stageProblems('partition', p.local, { spmd: p })).toEqual([]);
        const errs = verifyGraph(p.local, true);
        if (errs.length) throw new Error(errs.join('; '));
        const inputs = seededInputs(g, sizes.length + body.length);
        const err = relErr(interpret(g, inputs, paramsOf(g)), simulate(p, inputs, paramsOf(g)));
        if (!(err < 1e-9)) throw new Error(`relative error ${err}\n${src}`);
        checked++;
      }),
      { numRuns: 150, seed: 2026 },
    );
    expect(checked).toBeGreaterThan(100);
  });
});

describe('expert parallelism', () => {
  it('routing slots follow the rule by hand: per group, token order then choice order, overflow dropped', async () => {
    const { moeSlots } = await import('../../compiler/ops/moe.js');
    // 4 tokens, top-2, 3 experts, capacity 1 per group, 2 groups of 2 tokens.
    //   group 0: t0 → (e1, e0), t1 → (e1, e2): e1 slot 0 for t0; e0 slot 0; t1's e1 overflows; e2 slot 0
    //   group 1: t2 → (e2, e2), t3 → (-1, e0): e2 slot 1 (group 1's first slot), second e2 overflows; -1 never routes; e0 slot 1
    expect([...moeSlots([1, 0, 1, 2, 2, 2, -1, 0], 4, 2, 3, 1, 2)]).toEqual([0, 0, -1, 0, 1, -1, -1, 1]);
  });

  it('Mixtral (tiny) on [ep: 4, tp: 2]: dispatch and combine are all-to-alls, and it equals one device (rel. error < 1e-9)', () => {
    const src = readFileSync('samples/mixtral.model', 'utf8');
    const m = mesh({ ep: 4, tp: 2 });
    const { g, p } = sharded(src, m, { preset: 'tiny' });
    for (const l of [0, 1]) {
      const here = p.collectives.filter((c) => c.scope === `Layer.${l}.Experts` && c.axis === 'ep').map((c) => c.kind);
      expect(here).toEqual(['all_to_all', 'all_to_all']);
    }
    // Each device holds one of the four experts' weights (and half of each by tp).
    const w1 = p.local.values.find((v) => v.name === 'Layer.0.Experts.w1')!;
    expect(w1.type.dims.map((d) => Number([...d.terms.values()][0]))).toEqual([1, 128, 128]);
    const inputs = seededInputs(g, 5);
    const want = interpret(g, inputs, paramsOf(g));
    expect(relErr(want, simulate(p, inputs, paramsOf(g)))).toBeLessThan(1e-9);
  });
});
