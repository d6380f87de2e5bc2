import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { differentiate } from '../../compiler/autodiff/grad.js';
import { lower } from '../../compiler/compile.js';
import type { Graph } from '../../compiler/ir.js';
import { planMemory } from '../../compiler/memory/plan.js';
import { interpret } from '../../compiler/reference/interpret.js';
import { greedy, modelBytes, planRecompute, recomputeProblem } from '../../compiler/train/recompute.js';
import { trainSettings } from '../../compiler/train/settings.js';
import { lossGraph } from '../../compiler/train/step.js';
import { initialParams } from '../support/train.js';

/** A sample's loss graph: cross-entropy where the sample has a train section, else a weighted sum of the first output. */
function lossOf(name: string, overrides: Record<string, number> = {}): Graph {
  const src = readFileSync(`samples/${name}.model`, 'utf8');
  const r = lower(src, name, { preset: 'tiny', overrides });
  const s = trainSettings(r.env!, r.graph!.name).settings!;
  const hasSection = r.env!.sections.some((x) => x.kind === 'train');
  return lossGraph(r.graph!, hasSection ? s : { ...s, loss: { kind: 'cross_entropy', output: r.graph!.outputNames[0]! } }, name).graph!;
}

describe('recompute', () => {
  const g = lossOf('gpt2', { d: 64, vocab: 256 });
  const params = initialParams(g, 1);
  const tokens = Array.from({ length: 128 }, (_, i) => (i * 31) % 256);
  const labels = Array.from({ length: 128 }, (_, i) => (i * 17 + 3) % 256);
  const run = (dg: Graph) => interpret(dg, { tokens, labels }, (n) => params.get(n)!);
  const reference = run(differentiate(g));

  it.each(['full', 'selective', 'auto'] as const)('%s changes no gradient, bit for bit', async (policy) => {
    const none = await planRecompute(g, 'none');
    const full = await planRecompute(g, 'full');
    const plan = await planRecompute(g, policy, { budget: Math.round((none.modelBytes + full.modelBytes) / 2) });
    expect(plan.dropped.size).toBeGreaterThan(0);
    const got = run(differentiate(g, { recompute: plan.dropped }));
    for (const [k, v] of Object.entries(reference)) expect([...got[k]!.data], k).toEqual([...v.data]);
  });

  it('full recompute lowers the planned peak of the training graph; the report gives bytes saved and extra FLOPs', async () => {
    const peak = (dropped?: ReadonlySet<number>) =>
      planMemory(differentiate(g, dropped ? { recompute: dropped } : {}), { params: 'external', inputs: 'external' }).peakBytes;
    const none = peak();
    const full = await planRecompute(g, 'full');
    const sel = await planRecompute(g, 'selective');
    expect(peak(full.dropped)).toBeLessThan(none);
    expect(peak(sel.dropped)).toBeLessThanOrEqual(none);
    expect(full.savedBytes).toBeGreaterThan(sel.savedBytes);
    expect(sel.savedBytes).toBeGreaterThan(0);
    expect(full.extraFlops).toBeGreaterThan(sel.extraFlops);
  });

  // The DP/greedy planner (used beyond ~80 decisions) against the integer-program optimum,
  // on every sample small enough to solve, at budgets between rebuilding everything and nothing.
  it.each(['gpt2', 'llama', 'mixtral', 'bert-base', 'vit-b16'])('auto on %s: the DP/greedy planner is within 5%% of the ILP optimum', async (name) => {
    const lg = lossOf(name);
    const p = recomputeProblem(lg);
    expect(p.items.length).toBeGreaterThan(3);
    const lo = modelBytes(
      p,
      p.items.map(() => true),
    );
    const hi = modelBytes(
      p,
      p.items.map(() => false),
    );
    for (const frac of [0.2, 0.4, 0.6, 0.8]) {
      const budget = Math.round(lo + (hi - lo) * frac);
      const ilp = await planRecompute(lg, 'auto', { budget, method: 'ilp' });
      const gr = await planRecompute(lg, 'auto', { budget, method: 'greedy' });
      expect(ilp.modelBytes).toBeLessThanOrEqual(budget);
      expect(gr.modelBytes).toBeLessThanOrEqual(budget);
      expect(gr.extraFlops, `${name} at ${frac}`).toBeLessThanOrEqual(ilp.extraFlops * 1.05 + 1);
      expect(ilp.extraFlops).toBeLessThanOrEqual(gr.extraFlops + 1);
    }
    expect(greedy(p, hi).every((d) => !d)).toBe(true);
  });

  it('an impossible budget is an error', async () => {
    await expect(planRecompute(g, 'auto', { budget: 10 })).rejects.toThrow(/no recompute plan fits/);
  });
});
