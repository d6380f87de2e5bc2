import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { lower } from '../../compiler/compile.js';
import { trainSettings } from '../../compiler/train/settings.js';
import { trainingGraph } from '../../compiler/train/step.js';
import { biasCorrections, lrAt, TextBatches } from '../../runtime/train.js';
import { sentences } from '../support/corpus.js';
import { initialParams, referenceTrain } from '../support/train.js';

/**
 * LoRA against full fine-tuning, small enough for a unit test (CPU reference, float64; the
 * full-size comparison is bench/finetune.ts): a 1-layer GPT of width 32 pretrained for 60
 * steps on text A, then 30 steps on text B (A's words in a new sentence shape,
 * test/support/corpus.ts) with every parameter training, or with rank-1 adapters on wo, w1
 * and w2 (under 2% of the parameters). At this size LoRA does not reach full fine-tuning
 * (the bar of issue 18 is measured at the benchmark's size); the test holds what it does
 * reach: a loss well below the pretrained model's on B, closing at least a fifth of the gap
 * full fine-tuning closes. Measured here: 0.29 of it (0.4 to 0.55 with 150 pretraining and
 * 80 fine-tuning steps); broken adapters (no gradient, no update) close none.
 */
const sample = readFileSync('samples/gpt2.model', 'utf8');
let lora = sample;
for (const p of ['wo', 'w1', 'w2']) lora = lora.replace(new RegExp(`(param ${p}: f32\\[[^\\]]*\\] = normal\\(0, 0\\.02\\))`), '$1 @lora(rank = 1, alpha = 2)');
const opts = { preset: 'tiny', overrides: { d: 32, heads: 2, vocab: 256, layers: 1, ctx: 32 }, dims: { B: 4, S: 24 } };
const build = (src: string, lr: number) => {
  const r = lower(src, 'g.model', opts);
  const s = trainSettings(r.env!, r.graph!.name).settings!;
  return trainingGraph(r.graph!, { ...s, microbatches: 1, gradClip: 1, optimizer: { ...s.optimizer, lr } }, 'g.model').result!;
};
const inputs = (data: TextBatches, lr: number, steps: number) => (t: number) => {
  const [bc1, bc2] = biasCorrections(t, 0.9, 0.95);
  return { ...data.at(t), lr: [lrAt(t, { lr, warmup: 5, steps })], bc1: [bc1], bc2: [bc2] };
};
const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

describe('LoRA against full fine-tuning (small)', () => {
  it('LoRA with under 2% of the parameters closes at least a fifth of the gap full fine-tuning closes', () => {
    const pre = build(sample, 1e-2);
    const p = initialParams(pre.graph, 0);
    referenceTrain(pre, p, inputs(new TextBatches(new TextEncoder().encode(sentences('A', 400, 1)), 4, 24, 1), 1e-2, 60), 60);
    const base = new Map([...p].filter(([k]) => !k.startsWith('opt.')));
    const B = new TextEncoder().encode(sentences('B', 400, 2));
    const fineTune = (src: string, lr: number) => {
      const tg = build(src, lr);
      const q = initialParams(tg.graph, 3);
      for (const [k, v] of base) q.set(k, Float64Array.from(v));
      const trained = tg.params.reduce((n, k) => n + q.get(k)!.length, 0);
      const all = [...q.keys()].filter((k) => !k.startsWith('opt.')).reduce((n, k) => n + q.get(k)!.length, 0);
      const losses = referenceTrain(tg, q, inputs(new TextBatches(B, 4, 24, 9), lr, 30), 30);
      return { first: losses[0]!, last: mean(losses.slice(-5)), share: trained / all };
    };
    const full = fineTune(sample, 1e-2);
    const adapted = fineTune(lora, 1e-1);
    expect(adapted.share).toBeLessThan(0.02);
    expect(adapted.first).toBe(full.first); // B = 0: the adapted model starts as the pretrained one
    expect(full.last).toBeLessThan(full.first - 0.3);
    expect((full.first - adapted.last) / (full.first - full.last)).toBeGreaterThan(0.2);
  }, 120_000);
});
