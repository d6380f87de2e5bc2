/**
 * Multi-copy (compiler/train/copies.ts): the copies compute what the whole batch computes
 * (checked on the float64 CPU reference interpreter, which knows nothing of copies), and
 * in a partitioned plan each copy's collective is followed by the other copy's work.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compile } from '../../driver/compile.js';
import { formatDiagnostic } from '../../diagnostics/format.js';
import type { Graph } from '../../compiler/ir.js';
import { interpret } from '../../compiler/reference/interpret.js';
import type { Mesh } from '../../compiler/sharding/mesh.js';
import { splitIntoCopies } from '../../compiler/train/copies.js';
import { initValues, randomInput } from '../../runtime/index.js';
import { mdc } from '../support/cli.js';
import { compileOrThrow } from '../support/gpu.js';

const gpt2 = readFileSync('samples/gpt2.model', 'utf8');
/** The sample with `copies = n` in its train section. */
export const gpt2Copies = (n: number) => gpt2.replace(/(train GPT2 \{\n)/, `$1  copies = ${n}\n`);
const mesh = (spec: Record<string, number>): Mesh => ({ axes: Object.entries(spec).map(([name, size]) => ({ name, size })) });
const COLLECTIVES = ['all_reduce', 'reduce_scatter', 'all_gather', 'all_to_all', 'shard_slice', 'partial_mask'];

function run(g: Graph, seed: number) {
  const inputs: Record<string, ArrayLike<number>> = {};
  for (const i of g.inputs) {
    const v = g.values[i]!;
    const n = v.type.dims.reduce((a, d) => a * Number(d.terms.get('') ?? 1), 1);
    inputs[v.name!] = randomInput(v.type.dtype === 'i32' ? 'i32' : 'f32', n, seed, v.name!, 1024);
  }
  return interpret(g, inputs, (name, shape) =>
    initValues(
      { kind: 'normal', mean: 0, std: 0.05 },
      shape.reduce((a, b) => a * b, 1),
      seed,
      name,
    ),
  );
}

/** Which copy each node works for: the copy of the dealing slice (the `slice` of a reshaped input) its inputs come from; -1 for none or both. */
function copyOfNodes(g: Graph): number[] {
  const ofValue = new Map<number, number>();
  const inputs = new Set(g.inputs);
  return g.nodes.map((n) => {
    const src = g.values[n.inputs[0]!]!;
    const dealing = n.op === 'slice' && src.producer !== undefined && inputs.has(g.nodes[src.producer]!.inputs[0]!);
    const from = dealing
      ? new Set([Number((n.attrs['start'] as { terms: Map<string, number> }).terms.get('') ?? 0)])
      : new Set(n.inputs.map((i) => ofValue.get(i)).filter((c) => c !== undefined));
    const c = from.size === 1 ? [...from][0]! : -1;
    if (c >= 0) for (const o of n.outputs) ofValue.set(o, c);
    return c;
  });
}

describe('splitIntoCopies', () => {
  it('two and four copies of GPT-2 tiny give the whole batch’s logits (float64 reference; only summation order could differ)', () => {
    const g = compileOrThrow(gpt2, { preset: 'tiny', dims: { B: 4, S: 16 } });
    const want = run(g, 3)['logits']!;
    for (const n of [2, 4]) {
      const r = splitIntoCopies(g, n);
      if (!('graph' in r)) throw new Error(r.problem);
      expect(r.graph.nodes.length).toBeGreaterThan(n * g.nodes.length);
      const got = run(r.graph, 3)['logits']!;
      expect(got.shape).toEqual(want.shape);
      // Each row is computed by the same ops on the same values: equal to float64 rounding.
      let max = 0;
      for (let i = 0; i < want.data.length; i++) max = Math.max(max, Math.abs(got.data[i]! - want.data[i]!));
      expect(max).toBeLessThan(1e-12);
    }
  });

  it('interleaves the copies node by node and shares the parameters', () => {
    const g = compileOrThrow(gpt2, { preset: 'tiny', dims: { B: 4, S: 16 } });
    const r = splitIntoCopies(g, 2);
    if (!('graph' in r)) throw new Error(r.problem);
    const params = (x: Graph) => x.values.filter((v) => v.kind === 'param').map((v) => v.name);
    expect(params(r.graph)).toEqual(params(g));
    const copy = copyOfNodes(r.graph).filter((c) => c >= 0);
    // Dealing: copy 0 then 1 per input, and the same for every node after it.
    expect(copy.slice(0, 8)).toEqual([0, 0, 1, 1, 0, 1, 0, 1]);
    expect(copy.slice(4).every((c, i) => c === i % 2)).toBe(true);
    // Scopes and spans are kept (pipeline stage cuts read them).
    const scopes = (x: Graph) => new Set(x.nodes.map((n) => n.scope));
    expect([...scopes(g)].every((s) => scopes(r.graph).has(s))).toBe(true);
  });

  it('refuses a batch the copies do not divide and an op that mixes rows', () => {
    const g = compileOrThrow(gpt2.replaceAll('[B@dp', '[B'), { preset: 'tiny', dims: { B: 3, S: 16 } });
    expect(splitIntoCopies(g, 2)).toEqual({ problem: '2 copies do not divide the batch of 3' });
    const mix = compileOrThrow('model M(x: f32[4, 8]) -> f32[8] {\n  param w: f32[8, 8]\n  return sum(x @ w, axis = 0)\n}\n');
    expect(splitIntoCopies(mix, 2)).toMatchObject({ problem: "'sum' sums over the batch" });
  });
});

describe('copies = 2 in a partitioned plan', () => {
  const local = async (n: number) => {
    const r = await compile(n > 1 ? gpt2Copies(n) : gpt2, 'gpt2.model', { preset: 'tiny', partition: mesh({ dp: 2, tp: 2 }), dims: { B: 4 } });
    if (!r.optimized || !r.plan) throw new Error(r.diagnostics.map((d) => d.message).join('\n'));
    return { g: r.optimized.graph, plan: r.plan };
  };

  it('follows each collective with work of the other copy that does not read it', async () => {
    const { g, plan } = await local(2);
    const copy = copyOfNodes(g);
    const order = g.nodes.filter((n) => n.op !== 'reshape');
    const colls = order.map((n, k) => [n, k] as const).filter(([n]) => COLLECTIVES.includes(n.op));
    expect(colls.length).toBe(8);
    for (const [c, k] of colls) {
      const next = order[k + 1]!;
      expect(copy[next.id]).toBe(1 - copy[c.id]!);
      expect(next.inputs).not.toContain(c.outputs[0]);
    }
    // One copy runs through its next segment while the other's collective is in flight: steps between each collective and its first reader.
    const gaps = colls.map(([c, k]) => order.slice(k + 1).findIndex((n) => n.inputs.includes(c.outputs[0]!)));
    // At least the other copy's matmul and collective; the segments between a layer's two all-reduces give more.
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(2);
    expect(gaps.filter((n) => n > 2).length).toBeGreaterThanOrEqual(6);
    // The plan's steps are the graph's nodes in that order (reshapes alias).
    // The ids reach the embedding through the dealing reshape and slice: the plan still knows their range (the tiny vocabulary), for random inputs and checks.
    expect(plan.inputs.find((i) => i.name === 'tokens')).toMatchObject({ max: 1024, gathers: true });
    // In the plan too: no collective's output is bound by the step right after it.
    plan.steps.forEach((s, k) => {
      const next = plan.steps[k + 1];
      if (s.kind === 'collective' && next && next.kind !== 'collective') expect(next.buffers).not.toContain(s.output);
    });
  });

  it('without copies the partitioner puts each collective right before the step that reads it', async () => {
    const { g } = await local(1);
    const order = g.nodes.filter((n) => n.op !== 'reshape');
    const colls = order.map((n, k) => [n, k] as const).filter(([n]) => COLLECTIVES.includes(n.op));
    expect(colls.length).toBe(4);
    for (const [c, k] of colls) expect(order[k + 1]!.inputs).toContain(c.outputs[0]);
  });

  it('refuses copies that would split a device’s block of the batch unevenly, at the setting', async () => {
    const src = gpt2Copies(2);
    const r = await compile(src, 'gpt2.model', { preset: 'tiny', partition: mesh({ dp: 2, tp: 2 }), dims: { B: 2 } });
    expect(r.plan).toBeUndefined();
    expect(r.diagnostics.map((d) => formatDiagnostic(d, src).split('\n')[0])).toEqual([
      `gpt2.model:${src.split('\n').indexOf('  copies = 2') + 1}:12: error MDC0511: copies: 2 copies need each device's block of the batch to divide into 2, but tokens has 2 rows over dp (2 devices)`,
    ]);
  });

  it('mdc plan --json plans the copies: twice the all-reduces, each on half the rows; a batch they cannot split is MDC0511', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mdc-copies-'));
    try {
      const file = join(dir, 'gpt2.model');
      writeFileSync(file, gpt2Copies(2));
      const r = await mdc('plan', file, '--preset', 'tiny', '--mesh', 'dp=2,tp=2', '--dim', 'B=4', '--json');
      expect(r.code).toBe(0);
      const rep = JSON.parse(r.out) as { collectives: { kind: string; from: string }[] };
      // [B@dp, S, d] at B = 4, S = 64, d = 128: each copy's block is f32[2@dp, 64, 128] (global rows 4 / 2 copies).
      expect(rep.collectives.map((c) => `${c.kind} ${c.from}`)).toEqual(Array(8).fill('all_reduce f32[2@dp, 64, 128] partial(tp)'));
      const bad = await mdc('plan', file, '--preset', 'tiny', '--mesh', 'dp=2,tp=2');
      expect(bad.code).not.toBe(0);
      expect(bad.out + bad.err).toContain("error MDC0511: copies: 2 copies need each device's block of the batch to divide into 2");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('training: the step is built from the copies, with the loss over their rows put back together', async () => {
    const r = await compile(gpt2Copies(2), 'gpt2.model', { preset: 'tiny', partition: mesh({ dp: 2, tp: 2 }), dims: { B: 4 }, train: true, until: 'train' });
    expect(r.diagnostics).toEqual([]);
    expect(r.settings?.copies).toBe(2);
    const attn = r.training!.graph.nodes.filter((n) => n.op === 'attention');
    expect(attn.length).toBe(4);
  });
});
