import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { lower } from '../../compiler/compile.js';
import type { Mesh } from '../../compiler/sharding/mesh.js';
import { partition } from '../../compiler/sharding/partition.js';
import { simulate } from '../../compiler/sharding/simulate.js';
import { trainSettings, type TrainSettings } from '../../compiler/train/settings.js';
import { trainingGraph } from '../../compiler/train/step.js';
import { verifyGraph } from '../../compiler/verify-ir.js';
import { biasCorrections, lrAt, TextBatches } from '../../runtime/train.js';
import { initialParams, referenceTrain } from '../support/train.js';
import { trainingText } from '../support/corpus.js';

/**
 * Fine-tuning sharded equals fine-tuning on one device: 3 AdamW steps (ZeRO 0, 1 and 3) of a 1-layer GPT on
 * [dp: 2, tp: 2] (4 CPU-simulated devices, float64) end with the same parameters as the
 * one-device reference, with `freeze` and with LoRA adapters on a column-parallel (wq:
 * [d, d@tp], so B is split like w's output dim) and a row-parallel weight (wo: [d@tp, d],
 * so A is split like w's input dim). Tolerance as in sharded.test.ts: 1e-7 relative to a
 * tensor's largest entry (float64 both sides, summation order differs).
 */
const sample = readFileSync('samples/gpt2.model', 'utf8');
const withLora = sample
  .replace('param wq: f32[d, d@tp] = normal(0, 0.02)', 'param wq: f32[d, d@tp] = normal(0, 0.02) @lora(rank = 2, alpha = 4)')
  .replace('param wo: f32[d@tp, d] = normal(0, 0.02)', 'param wo: f32[d@tp, d] = normal(0, 0.02) @lora(rank = 2, alpha = 4)');
const frozen = sample.replace('  zero = 1\n}', '  zero = 1\n  freeze = ["wte", "Layer.*.Attention.*"]\n}');
const mesh: Mesh = {
  axes: [
    { name: 'dp', size: 2 },
    { name: 'tp', size: 2 },
  ],
};
const text = trainingText(20_000);
const data = new TextBatches(text, 2, 8, 5);
const opts = { preset: 'tiny', overrides: { d: 32, heads: 2, vocab: 256, layers: 1 }, dims: { B: 2, S: 8 } };
const adam: TrainSettings['optimizer'] = { kind: 'adamw', lr: 1e-2, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1, momentum: 0 };
const inputsAt = (t: number) => {
  const { tokens, labels } = data.at(t);
  const [bc1, bc2] = biasCorrections(t, 0.9, 0.95);
  return { tokens, labels, lr: [lrAt(t, { lr: 1e-2, warmup: 0, steps: 3 })], bc1: [bc1], bc2: [bc2] };
};

describe.each([
  ['LoRA on wq and wo', withLora],
  ['freeze = ["wte", "Layer.*.Attention.*"]', frozen],
])('%s: sharded fine-tuning equals one device', (_name, src) => {
  const r = lower(src, 'gpt2.model', opts);
  const s = trainSettings(r.env!, r.graph!.name);
  const settings: TrainSettings = { ...s.settings!, optimizer: adam, gradClip: 1, microbatches: 1 };
  const single = trainingGraph(r.graph!, settings, 'gpt2.model').result!;
  const want = initialParams(single.graph, 0);
  // Off zero, so that the adapters change the forward pass from the first step.
  for (const [k, v] of want)
    if (k.endsWith('.lora_b') && !k.startsWith('opt.'))
      want.set(
        k,
        Float64Array.from(v, (_, i) => 0.01 * Math.sin(i + 1)),
      );
  const start = new Map([...want].map(([k, v]) => [k, Float64Array.from(v)]));
  const wantLosses = referenceTrain(single, want, inputsAt, 3);
  const frozenNames = single.frozen ?? [];

  it.each([0, 1, 3])('ZeRO %i on [dp: 2, tp: 2]: same parameters after 3 steps, frozen ones unchanged', (zero) => {
    expect(frozenNames.length).toBeGreaterThan(0);
    const tg = trainingGraph(r.graph!, settings, 'gpt2.model', { mesh, zero }).result!;
    const p = partition(tg.graph, mesh);
    expect(verifyGraph(p.local, true)).toEqual([]);
    const params = new Map([...start].map(([k, v]) => [k, Float64Array.from(v)]));
    for (const [name, v] of initialParams(tg.graph, 0)) if (!params.has(name)) params.set(name, Float64Array.from(v));
    const losses: number[] = [];
    for (let t = 1; t <= 3; t++) {
      const out = simulate(p, inputsAt(t), (name) => params.get(name)!);
      losses.push(out['loss']!.data[0]!);
      for (const u of tg.updates) params.set(u.param, Float64Array.from(out[u.output]!.data));
    }
    losses.forEach((l, i) => expect(l).toBeCloseTo(wantLosses[i]!, 9));
    for (const [name, w] of want) {
      if (name.startsWith('opt.')) continue;
      const got = params.get(name)!;
      let scale = 1e-6;
      let diff = 0;
      w.forEach((x, i) => {
        scale = Math.max(scale, Math.abs(x));
        diff = Math.max(diff, Math.abs(x - got[i]!));
      });
      expect(diff / scale, name).toBeLessThan(1e-7);
    }
    for (const name of frozenNames) expect(params.get(name), name).toEqual(start.get(name));
    // No update and no state for a frozen parameter on the mesh either.
    expect(tg.updates.filter((u) => frozenNames.includes(u.param))).toEqual([]);
    expect(p.local.values.filter((v) => v.kind === 'param' && frozenNames.some((f) => v.name === `opt.m.${f}`))).toEqual([]);
  });
});

describe('the data-parallel gradient reduction covers only what trains', () => {
  const dpReductionSizes = (src: string) => {
    const r = lower(src, 'gpt2.model', opts);
    const s = trainSettings(r.env!, r.graph!.name).settings!;
    const tg = trainingGraph(r.graph!, { ...s, microbatches: 1 }, 'gpt2.model', { mesh, zero: 0 }).result!;
    return partition(tg.graph, mesh)
      .collectives.filter((c) => c.axis === 'dp' && (c.kind === 'all_reduce' || c.kind === 'reduce_scatter'))
      .map((c) => c.elements);
  };

  it('with LoRA the largest reduced gradient is an adapter’s (64 elements: A of wq is [32, 2]), not a weight’s', () => {
    expect(Math.max(...dpReductionSizes(withLora))).toBe(64);
    // Without adapters every weight's gradient is reduced over dp: wte's is [256, 32] = 8192 elements.
    expect(Math.max(...dpReductionSizes(sample))).toBe(8192);
  });
});
