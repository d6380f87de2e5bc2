import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { lower } from '../../compiler/compile.js';
import { trainSettings, type TrainSettings } from '../../compiler/train/settings.js';
import { trainingGraph } from '../../compiler/train/step.js';
import { biasCorrections, lrAt, TextBatches } from '../../runtime/train.js';
import { initialParams, referenceTrain } from '../support/train.js';
import { trainingText } from '../support/corpus.js';

const build = (src: string, settings: Partial<TrainSettings>, opts = {}) => {
  const r = lower(src, 't.model', opts);
  expect(r.diagnostics).toEqual([]);
  const s = trainSettings(r.env!, r.graph!.name);
  expect(s.diagnostics).toEqual([]);
  // One micro-batch unless a case asks (the gpt2 sample's section accumulates 2).
  const t = trainingGraph(r.graph!, { ...s.settings!, microbatches: 1, ...settings }, 't.model');
  expect(t.diagnostics).toEqual([]);
  return t.result!;
};

describe('training step graph', () => {
  it('AdamW with decoupled weight decay and clipping matches a hand-written update', () => {
    const src = `model M(x: f32[3]) -> f32[] {
  param w: f32[1, 3] = normal(0, 1)
  param b: f32[3] = normal(0, 1)
  let y = reshape(w, [3]) * x + b
  return sum(y * y, axis = 0)
}
train M { loss = output0
  optimizer = adamw(lr = 0.1, beta1 = 0.8, beta2 = 0.9, eps = 1e-6, weight_decay = 0.5)
  grad_clip = 1.0 }`;
    const tg = build(src, {});
    const w0 = [0.3, -0.2, 0.5];
    const b0 = [0.1, 0.4, -0.3];
    const x = [1.5, -2, 0.5];
    const params = new Map<string, Float64Array>([
      ['w', Float64Array.from(w0)],
      ['b', Float64Array.from(b0)],
      ['opt.m.w', new Float64Array(3)],
      ['opt.v.w', new Float64Array(3)],
      ['opt.m.b', new Float64Array(3)],
      ['opt.v.b', new Float64Array(3)],
    ]);
    const [bc1, bc2] = biasCorrections(1, 0.8, 0.9);
    referenceTrain(tg, params, () => ({ x, lr: [0.1], bc1: [bc1], bc2: [bc2] }), 1);
    // By hand: y = w·x + b, L = Σ y², dL/dw = 2 y x, dL/db = 2 y; clip to global norm 1.
    const y = w0.map((w, i) => w * x[i]! + b0[i]!);
    const gw = y.map((v, i) => 2 * v * x[i]!);
    const gb = y.map((v) => 2 * v);
    const norm = Math.sqrt([...gw, ...gb].reduce((a, v) => a + v * v, 0));
    const s = Math.min(1, 1 / (norm + 1e-6));
    const adam = (p: number, g: number, decay: boolean) => {
      const m = 0.2 * g * s;
      const v = 0.1 * (g * s) ** 2;
      return p - 0.1 * ((m * bc1) / (Math.sqrt(v * bc2) + 1e-6) + (decay ? 0.5 * p : 0));
    };
    w0.forEach((p, i) => expect(params.get('w')![i]).toBeCloseTo(adam(p, gw[i]!, true), 12)); // rank 2: decayed
    b0.forEach((p, i) => expect(params.get('b')![i]).toBeCloseTo(adam(p, gb[i]!, false), 12)); // rank 1: not decayed
    expect(params.get('opt.m.b')![0]).toBeCloseTo(0.2 * gb[0]! * s, 12);
  });

  it('SGD with momentum', () => {
    const src = `model M(x: f32[2]) -> f32[] {
  param w: f32[2] = normal(0, 1)
  return sum(w * x, axis = 0)
}
train M { loss = output0
  optimizer = sgd(lr = 0.5, momentum = 0.9) }`;
    const tg = build(src, {});
    const params = new Map<string, Float64Array>([
      ['w', Float64Array.of(1, 2)],
      ['opt.m.w', new Float64Array(2)],
    ]);
    referenceTrain(tg, params, () => ({ x: [3, -1], lr: [0.5] }), 2);
    // Gradient is x each step: m1 = x, m2 = 0.9x + x = 1.9x; w = w0 − 0.5(x + 1.9x) = w0 − 1.45x.
    expect([...params.get('w')!]).toEqual([1 - 1.45 * 3, 2 + 1.45].map((v) => expect.closeTo(v, 12)));
  });

  it('a 1-layer GPT overfits one batch of English text on the CPU reference (loss falls from about ln 256)', () => {
    const src = readFileSync('samples/gpt2.model', 'utf8');
    const text = trainingText();
    const data = new TextBatches(text, 2, 16, 1);
    const tg = build(
      src,
      { optimizer: { kind: 'adamw', lr: 3e-3, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0, momentum: 0 } },
      { preset: 'tiny', overrides: { layers: 1, d: 32, heads: 2, vocab: 256 }, dims: { B: 2, S: 16 } },
    );
    const params = initialParams(tg.graph, 0);
    const fixed = data.at(1);
    const losses = referenceTrain(
      tg,
      params,
      (t) => {
        const [bc1, bc2] = biasCorrections(t, 0.9, 0.95);
        return { tokens: fixed.tokens, labels: fixed.labels, lr: [lrAt(t, { lr: 3e-3, warmup: 0, steps: 30 })], bc1: [bc1], bc2: [bc2] };
      },
      30,
    );
    expect(losses[0]).toBeGreaterThan(Math.log(256) - 0.3);
    expect(losses[0]).toBeLessThan(Math.log(256) + 0.3);
    expect(losses.at(-1)!).toBeLessThan(losses[0]! - 1.5);
  });

  it('schedule: linear warm-up, then cosine to a tenth', () => {
    const s = { lr: 1, warmup: 10, steps: 110 };
    expect(lrAt(5, s)).toBeCloseTo(0.5);
    expect(lrAt(10, s)).toBeCloseTo(1);
    expect(lrAt(60, s)).toBeCloseTo(0.55);
    expect(lrAt(110, s)).toBeCloseTo(0.1);
  });

  it('batches depend only on (seed, step)', () => {
    const text = new TextEncoder().encode('the quick brown fox jumps over the lazy dog, again and again.');
    const a = new TextBatches(text, 3, 8, 7);
    const b = new TextBatches(text, 3, 8, 7);
    expect(a.at(5)).toEqual(b.at(5));
    expect(a.at(5)).not.toEqual(a.at(6));
    const { tokens, labels } = a.at(2);
    expect([...labels.slice(0, 7)]).toEqual([...tokens.slice(1, 8)]);
  });
});
