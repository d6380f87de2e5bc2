/**
 * Partition fixes large runs need (issue 13, item 5): vocabulary-parallel embedding, heads
 * a split cannot divide and mesh axes nothing splits are diagnosed, ZeRO's data-parallel
 * axes come from the mesh, block signatures keep the splits they do not name, and size-1
 * axes cost nothing. Plan-level (collectives as `mdc plan` lists them) and numerics on the
 * CPU multi-device simulator against the single-device reference interpreter.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { lower } from '../../compiler/compile.js';
import type { Graph } from '../../compiler/ir.js';
import { interpret } from '../../compiler/reference/interpret.js';
import type { RefTensor } from '../../compiler/ops/tensor.js';
import { unusedMeshAxes } from '../../compiler/sharding/checks.js';
import { meshOfEnv, type Mesh } from '../../compiler/sharding/mesh.js';
import { partition, type SpmdProgram } from '../../compiler/sharding/partition.js';
import { simulate } from '../../compiler/sharding/simulate.js';
import { trainingMemory } from '../../compiler/train/memory.js';
import { trainSettings, type TrainSettings } from '../../compiler/train/settings.js';
import { dataParallelAxes, trainingGraph } from '../../compiler/train/step.js';
import { verifyGraph } from '../../compiler/verify-ir.js';
import { formatDiagnostic } from '../../diagnostics/format.js';
import { compile, compileGraph } from '../../driver/compile.js';
import { mdc } from '../support/cli.js';
import { initialParams, referenceTrain } from '../support/train.js';

const gpt2 = readFileSync('samples/gpt2.model', 'utf8');
const meshOf = (spec: Record<string, number>): Mesh => ({ axes: Object.entries(spec).map(([name, size]) => ({ name, size })) });

function lowered(source: string, mesh: Mesh, opts: Record<string, unknown> = {}): Graph {
  const r = lower(source, 't.model', { mesh: mesh.axes, ...opts });
  expect(r.diagnostics.map((d) => d.message)).toEqual([]);
  return r.graph!;
}

function sharded(g: Graph, mesh: Mesh): SpmdProgram {
  const p = partition(g, mesh);
  expect(verifyGraph(p.local, true)).toEqual([]);
  return p;
}

/** Each collective as `kind(axis) elements`, in order. */
const steps = (p: SpmdProgram) => p.collectives.map((c) => `${c.kind}(${c.axis}) ${c.elements}`);

/** Largest absolute difference over the largest reference magnitude (at least 1e-3). */
function relErr(want: Record<string, RefTensor>, got: Record<string, RefTensor>): number {
  let worst = 0;
  for (const k of Object.keys(want)) {
    const x = want[k]!.data;
    const y = got[k]!.data;
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

/** A reproducible stream in [0, 1). */
function stream(seed: number) {
  let s = seed;
  return () => (s = (s * 1103515245 + 12345) % 2147483648) / 2147483648;
}

function seededInputs(g: Graph, seed = 1): Record<string, number[]> {
  const next = stream(seed);
  const out: Record<string, number[]> = {};
  for (const id of g.inputs) {
    const v = g.values[id]!;
    const n = v.type.dims.reduce((a, d) => a * Number([...d.terms.values()][0] ?? 1), 1);
    out[v.name!] = Array.from({ length: n }, () => (v.type.dtype === 'i32' ? Math.floor(next() * 16) : next() * 2 - 1));
  }
  return out;
}

const params = (g: Graph) => {
  const m = initialParams(g, 7);
  return (name: string) => m.get(name)!;
};

// A 64-row table split four ways over tp; 2 × 8 ids, 16 wide.
const EMB = `
mesh M = [tp: 4]
model E(ids: i32[B, S]) -> f32[B, S, 16] where B = 2, S = 8 {
  param wte: f32[64@tp, 16] = normal(0, 1)
  return embedding(wte, ids)
}
train E {
  loss = cross_entropy(output0, labels)
  optimizer = sgd(lr = 0.5)
}
`;

describe('vocabulary-parallel embedding', () => {
  const tp4 = meshOf({ tp: 4 });

  it('a vocab-split table is looked up in each block and the hidden states all-reduced, never gathered; equals one device', () => {
    const g = lowered(EMB, tp4);
    const p = sharded(g, tp4);
    // One all-reduce of B·S·d (2·8·16) partial over tp; before the fix, one all-gather of the 64 × 16 table.
    expect(steps(p)).toEqual(['all_reduce(tp) 256']);
    expect(p.collectives[0]!.from).toBe('f32[2, 8, 16] partial(tp)');
    const wte = p.local.values.find((v) => v.name === 'wte')!;
    expect(wte.type.dims.map((d) => Number([...d.terms.values()][0]))).toEqual([16, 16]);
    // Ids in every block, and ids outside the vocabulary (zero rows on one device as on four).
    const ids = [0, 15, 16, 31, 32, 47, 48, 63, -1, 64, 70, 5, 20, 40, 60, 63];
    const want = interpret(g, { ids }, params(g));
    expect(want['output0']!.data.slice(8 * 16, 9 * 16).every((x) => x === 0)).toBe(true);
    // Each output row is one table row plus exact zeros from the other devices: equal bit for bit.
    expect(relErr(want, simulate(p, { ids }, params(g)))).toBe(0);
  });

  it('GPT-2 tiny with wte: f32[vocab@tp, d] on [dp: 2, tp: 4]: one more all-reduce of B·S·d (the lookup), no all-gather; equals one device', () => {
    const src = gpt2.replace('param wte: f32[vocab, d]', 'param wte: f32[vocab@tp, d]');
    expect(src).not.toBe(gpt2);
    const mesh = meshOf({ dp: 2, tp: 4 });
    const g = lowered(src, mesh, { preset: 'tiny' });
    const p = sharded(g, mesh);
    // Two Megatron all-reduces per layer (2 layers) and the lookup's: 5, each of (B/dp)·S·d = 1·64·128.
    expect(steps(p)).toEqual(Array(5).fill('all_reduce(tp) 8192'));
    expect(p.collectives.filter((c) => c.span.line === 68).map((c) => c.reason)).toEqual(["'add' needs the whole sum over tp, not a partial one"]);
    const inputs = seededInputs(g);
    // Float64 on both sides; only the order of the split sums differs.
    expect(relErr(interpret(g, inputs, params(g)), simulate(p, inputs, params(g)))).toBeLessThan(1e-9);
  });

  it('training: the table gradient stays in each block (no collective moves the table), and 3 SGD steps equal one device', () => {
    const r = lower(EMB, 't.model', { mesh: tp4.axes });
    const settings: TrainSettings = { ...trainSettings(r.env!, r.graph!.name).settings!, microbatches: 1 };
    const single = trainingGraph(r.graph!, settings, 't.model').result!;
    const tg = trainingGraph(r.graph!, settings, 't.model', { mesh: tp4 }).result!;
    const p = sharded(tg.graph, tp4);
    // The lookup's all-reduce, its gradient's (the loss needs the whole hidden states), and
    // the scalars of the gradient norm; nothing the size of the table (64 × 16).
    expect(p.collectives.some((c) => c.kind === 'all_gather' || c.kind === 'all_to_all')).toBe(false);
    expect(Math.max(...p.collectives.map((c) => c.elements))).toBe(2 * 8 * 16);
    const grad = p.local.nodes.find((n) => n.op === 'embedding_grad')!;
    expect(p.local.values[grad.outputs[0]!]!.type.dims.map((d) => Number([...d.terms.values()][0]))).toEqual([16, 16]);
    expect(grad.inputs.length).toBe(3);

    const next = stream(3);
    const inputsAt = () => ({
      ids: Array.from({ length: 16 }, () => Math.floor(next() * 64)),
      labels: Array.from({ length: 16 }, () => Math.floor(next() * 16)),
      lr: [0.5],
    });
    const batches = [1, 2, 3].map(inputsAt);
    const want = initialParams(single.graph, 0);
    const wantLoss = referenceTrain(single, want, (t) => batches[t - 1]!, 3);
    const got = initialParams(tg.graph, 0);
    batches.forEach((inputs, t) => {
      const out = simulate(p, inputs, (name) => got.get(name)!);
      expect(out['loss']!.data[0]).toBeCloseTo(wantLoss[t]!, 12);
      for (const u of tg.updates) got.set(u.param, Float64Array.from(out[u.output]!.data));
    });
    expect(relErr({ wte: { shape: [64, 16], data: want.get('wte')! } }, { wte: { shape: [64, 16], data: got.get('wte')! } })).toBeLessThan(1e-12);
  });
});

describe('embedding with a start row, as the partitioner emits it and as a user may write it', () => {
  const src = (start: string) => `
model S(ids: i32[4], s: ${start}) -> f32[4, 2] {
  param t: f32[3, 2] = normal(0, 1)
  return embedding(t, ids, start = s)
}`;
  it('looks ids up from row s: ids below s or past s + 3 give zero rows (CPU reference, by hand)', () => {
    const g = lowered(src('i32[1]'), meshOf({}));
    const table = [1, 2, 3, 4, 5, 6];
    const out = interpret(g, { ids: [4, 5, 6, 8], s: [5] }, () => table);
    expect([...out['output0']!.data]).toEqual([0, 0, 1, 2, 3, 4, 0, 0]);
  });
  it('a start that is not an i32[1] is MDC0140', () => {
    const r = lower(src('i32[2]'), 's.model');
    expect(r.diagnostics.map((d) => `${d.code} ${d.message}`)).toEqual(["MDC0140 embedding's 'start' must be an i32[1], got i32[2]"]);
  });
});

const HEADS = (heads: number) => `
mesh M = [tp: 4]
model A(x: f32[B, S, 24]) -> f32[B, S, 24] where B = 2, S = 8 {
  param wq: f32[24, 24@tp] = normal(0, 0.5)
  param wo: f32[24@tp, 24] = normal(0, 0.5)
  let q = x @ wq
  return attention(q, q, q, heads = ${heads}, causal = true) @ wo
}
`;

describe('heads a tensor-parallel split cannot divide, and mesh axes nothing splits', () => {
  it('attention with 6 heads over tp = 4 is MDC0410 at the call (it used to run replicated); 4 heads partition', async () => {
    const bad = await compile(HEADS(6), 'heads.model', { partition: meshOf({ tp: 4 }), until: 'partition' });
    expect(bad.diagnostics.map((d) => formatDiagnostic(d))).toEqual([
      'heads.model:7:10: error MDC0410: attention: heads = 6 does not divide into 4 parts over tp, and each device must hold whole heads: ' +
        'f32[2, 8, 24@tp] would be gathered and attention run unsplit; use a head count 4 divides, or split the projections over an axis whose size divides it',
    ]);
    const good = await compile(HEADS(4), 'heads.model', { partition: meshOf({ tp: 4 }), until: 'partition' });
    expect(good.diagnostics).toEqual([]);
    expect(good.spmd!.collectives.map((c) => c.kind)).toEqual(['all_reduce']);
  });

  it('the training step reports it once, not again for the backward pass', async () => {
    const src = `${HEADS(6)}\ntrain A {\n  loss = cross_entropy(output0, labels)\n  optimizer = sgd(lr = 0.1)\n}\n`;
    const r = await compile(src, 'heads.model', { partition: meshOf({ tp: 4 }), train: true, until: 'partition' });
    expect(r.diagnostics.map((d) => `${d.code} ${d.span.line}:${d.span.col}`)).toEqual(['MDC0410 7:10']);
  });

  it('unusedMeshAxes names the axes of more than one device that no layout names', () => {
    const g = lowered(gpt2, meshOf({ dp: 2, tp: 4, ep: 2 }), { preset: 'tiny' });
    expect(unusedMeshAxes(g, meshOf({ dp: 2, tp: 4, ep: 2 }))).toEqual(['ep']);
    expect(unusedMeshAxes(g, meshOf({ dp: 2, tp: 4, ep: 1 }))).toEqual([]);
    expect(unusedMeshAxes(g, meshOf({ dp: 2, tp: 4 }))).toEqual([]);
  });

  it("a source mesh's unused axis is MDC0411 at its declaration; --mesh's is a usage error", async () => {
    const src = gpt2.replace('mesh Cluster = [dp: 2, tp: 4]', 'mesh Cluster = [dp: 2, tp: 4, ep: 2]');
    const r = lower(src, 'gpt2.model', { preset: 'tiny' });
    const planned = await compileGraph(r.graph!, { file: 'gpt2.model', partition: meshOfEnv(r.env!), until: 'partition' });
    expect(planned.diagnostics.map((d) => formatDiagnostic(d))).toEqual([
      "gpt2.model:3:31: error MDC0411: mesh axis 'ep' (2 devices) splits nothing: no layout names it, so every device along it would repeat the same work; " +
        'split a dim over it (e.g. the batch, B@ep) or remove the axis',
    ]);
    const cli = await mdc('plan', 'samples/gpt2.model', '--preset', 'tiny', '--mesh', 'dp=2,tp=4,ep=2');
    expect(cli.code).toBe(2);
    expect(cli.err).toContain("mdc: --mesh ep=2: mesh axis 'ep' (2 devices) splits nothing");
    // A size-1 axis splits nothing and costs nothing: planned as without it.
    expect((await mdc('plan', 'samples/gpt2.model', '--preset', 'tiny', '--mesh', 'dp=2,tp=4,ep=1')).code).toBe(0);
  });
});

// The batch is the second input: before, ZeRO read the first input's (unsplit) leading dim and split nothing.
const ZERO = `
mesh M = [dp: 2, tp: 2]
model Z(scale: f32[d], x: f32[B@dp, d]) -> f32[B@dp, d] where B = 4, d = 8 {
  param w: f32[d, d@tp] = normal(0, 0.5)
  return (x * scale) @ w
}
train Z {
  loss = cross_entropy(output0, labels)
  optimizer = adamw(lr = 0.01)
  zero = 1
}
`;

describe("ZeRO's data-parallel axes come from the mesh", () => {
  it("the axes that split some input's batch dim, in mesh order, without size-1 axes", () => {
    const g = lowered(ZERO, meshOf({ dp: 2, tp: 2 }));
    expect(dataParallelAxes(g, meshOf({ dp: 2, tp: 2 }))).toEqual(['dp']);
    expect(dataParallelAxes(g, meshOf({ dp: 1, tp: 2 }))).toEqual([]);
    expect(dataParallelAxes(lowered(gpt2, meshOf({ dp: 2, tp: 4 }), { preset: 'tiny' }), meshOf({ dp: 2, tp: 4 }))).toEqual(['dp']);
  });

  it('a model whose first input is not the batch gets ZeRO 1 over dp, and 3 AdamW steps equal one device', () => {
    const mesh = meshOf({ dp: 2, tp: 2 });
    const r = lower(ZERO, 't.model', { mesh: mesh.axes });
    const settings: TrainSettings = { ...trainSettings(r.env!, r.graph!.name).settings!, microbatches: 1 };
    const tg = trainingGraph(r.graph!, settings, 't.model', { mesh }).result!;
    const p = sharded(tg.graph, mesh);
    // w is [8, 8@tp]: its moments take dp on the rows as well, a quarter of w each.
    for (const name of ['opt.m.w', 'opt.v.w']) {
      const v = p.local.values.find((x) => x.name === name)!;
      expect(p.layouts[v.id]!.axes).toEqual([['dp'], ['tp']]);
    }
    // The update runs on each dp block; the new w is gathered back over dp to its own layout.
    expect(p.collectives.filter((c) => c.axis === 'dp' && c.kind === 'all_gather' && c.from === 'f32[8@dp, 8@tp]').map((c) => c.to)).toEqual(['f32[8, 8@tp]']);
    // The plan's memory report divides optimizer state by dp: 2 moments × 8 × 4 floats × 4 bytes / 2.
    const fwd = sharded(r.graph!, mesh);
    expect(trainingMemory(r.graph!, fwd, { zero: 1, optimizer: 'adamw' }).memory.optimizer).toBe(128);

    const single = trainingGraph(r.graph!, settings, 't.model').result!;
    const next = stream(5);
    const batch = () => ({
      scale: Array.from({ length: 8 }, () => next() + 0.5),
      x: Array.from({ length: 32 }, () => next() * 2 - 1),
      labels: Array.from({ length: 4 }, () => Math.floor(next() * 8)),
      lr: [0.01],
      bc1: [1],
      bc2: [1],
    });
    const batches = [batch(), batch(), batch()];
    const want = initialParams(single.graph, 0);
    referenceTrain(single, want, (t) => batches[t - 1]!, 3);
    const got = initialParams(tg.graph, 0);
    for (const inputs of batches) {
      const out = simulate(p, inputs, (name) => got.get(name)!);
      for (const u of tg.updates) got.set(u.param, Float64Array.from(out[u.output]!.data));
    }
    // Float64 both sides; Adam's m/√v can amplify summation-order differences where gradients are tiny.
    expect(relErr({ w: { shape: [8, 8], data: want.get('w')! } }, { w: { shape: [8, 8], data: got.get('w')! } })).toBeLessThan(1e-9);
  });
});

// The README's sequence-parallel block inside a data-parallel model.
const SEQ = (batch: string) => `
mesh M = [dp: 2, tp: 4]
config C { d = 16, heads = 4 }
block Attn(x: f32[B, S, d]) -> f32[B, S@tp, d] {
  param wq: f32[d, d@tp] = normal(0, 0.5)
  param wo: f32[d@tp, d] = normal(0, 0.5)
  let q = x @ wq
  return attention(q, q, q, heads = heads, causal = true) @ wo
}
model T(x: f32[${batch}, S@tp, d]) -> f32[${batch}, S@tp, d] where B = 2, S = 8 {
  let h = layer_norm(x)
  return h + Attn(h)
}
`;

describe('block signatures keep the splits they do not name; size-1 axes cost nothing', () => {
  it('f32[B, S@tp, d] in a B@dp model keeps the batch split: no collective over dp (it used to all-gather it), equal to one device', () => {
    const mesh = meshOf({ dp: 2, tp: 4 });
    const g = lowered(SEQ('B@dp'), mesh);
    const p = sharded(g, mesh);
    // Per dp replica, B/dp · S · d = 1 · 8 · 16 gathered, then a reduce-scatter of the same.
    expect(steps(p)).toEqual(['all_gather(tp) 32', 'reduce_scatter(tp) 128']);
    expect(p.collectives[1]!.to).toBe('f32[2@dp, 8@tp, 16]');
    const inputs = seededInputs(g);
    expect(relErr(interpret(g, inputs, params(g)), simulate(p, inputs, params(g)))).toBeLessThan(1e-9);
  });

  it('--mesh dp=1,tp=4 gives the collectives of --mesh tp=4 (before: an all_gather and a shard_slice over dp as well)', async () => {
    const withDp = sharded(lowered(SEQ('B@dp'), meshOf({ dp: 1, tp: 4 })), meshOf({ dp: 1, tp: 4 }));
    const without = sharded(lowered(SEQ('B').replace('mesh M = [dp: 2, tp: 4]', 'mesh M = [tp: 4]'), meshOf({ tp: 4 })), meshOf({ tp: 4 }));
    expect(steps(withDp)).toEqual(steps(without));
    expect(steps(without)).toEqual(['all_gather(tp) 64', 'reduce_scatter(tp) 256']);
    // And through mdc plan, for GPT-2 tiny against the same file without @dp.
    const json = async (...args: string[]) => {
      const r = await mdc('plan', ...args, '--preset', 'tiny', '--json');
      expect(r.code, r.err).toBe(0);
      return (JSON.parse(r.out) as { collectives: { kind: string; axis: string; elements: number }[] }).collectives.map(
        (c) => `${c.kind}(${c.axis}) ${c.elements}`,
      );
    };
    const a = await json('samples/gpt2.model', '--mesh', 'dp=1,tp=4');
    expect(a).toEqual(Array(4).fill('all_reduce(tp) 16384'));
  });
});
