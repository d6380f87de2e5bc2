import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { lower } from '../../compiler/compile.js';
import { interpret } from '../../compiler/reference/interpret.js';
import { roundBf16, roundF16 } from '../../compiler/ops/precision.js';
import { trainSettings, type TrainSettings } from '../../compiler/train/settings.js';
import { trainingGraph } from '../../compiler/train/step.js';
import { biasCorrections, LossScaler, TextBatches } from '../../runtime/train.js';
import { initialParams } from '../support/train.js';
import { trainingText } from '../support/corpus.js';

describe('mixed precision', () => {
  it('rounds to bfloat16 and half precision as IEEE does (nearest even, f16 subnormals and overflow)', () => {
    expect(roundF16(1 / 3)).toBe(0.333251953125);
    expect(roundF16(65504)).toBe(65504);
    expect(roundF16(65519)).toBe(65504); // below the midpoint to 65536
    expect(roundF16(65520)).toBe(Infinity); // the midpoint ties to even: 65536 overflows
    expect(roundF16(-1e6)).toBe(-Infinity);
    expect(roundF16(2 ** -24 * 0.5)).toBe(0); // half the smallest subnormal ties to even (0)
    expect(roundF16(2 ** -24 * 1.5)).toBe(2 ** -23);
    expect(roundF16(1 + 2 ** -11)).toBe(1); // tie to even
    expect(roundF16(1 + 3 * 2 ** -11)).toBe(1 + 2 ** -9);
    expect(roundBf16(1 + 2 ** -8)).toBe(1); // tie to even
    expect(roundBf16(1 + 3 * 2 ** -8)).toBe(1 + 2 ** -6);
    expect(roundBf16(3.4e38)).toBe(Infinity); // above bf16's largest finite 3.3895e38: rounds up and overflows
    expect(Number.isNaN(roundBf16(NaN))).toBe(true);
  });

  const src = readFileSync('samples/gpt2.model', 'utf8');
  const r = lower(src, 'gpt2.model', { preset: 'tiny', overrides: { d: 32, heads: 2, layers: 1, vocab: 256 }, dims: { B: 2, S: 16 } });
  // One micro-batch: the gpt2 sample's section accumulates 2.
  const base = { ...trainSettings(r.env!, r.graph!.name).settings!, microbatches: 1 };
  const adam: TrainSettings['optimizer'] = { kind: 'adamw', lr: 3e-3, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0, momentum: 0 };
  const batch = new TextBatches(trainingText(), 2, 16, 1).at(1);

  /** Trains on one batch on the CPU reference, with a dynamic loss scaler for mixed precision. */
  function train(precision: 'f32' | 'bf16' | 'f16', steps: number, scaler?: LossScaler) {
    const tg = trainingGraph(r.graph!, { ...base, optimizer: adam, precision }, 'gpt2.model').result!;
    const params = initialParams(tg.graph, 0);
    const losses: number[] = [];
    const skipped: boolean[] = [];
    for (let t = 1; t <= steps; t++) {
      const [bc1, bc2] = biasCorrections(t, 0.9, 0.95);
      const inputs: Record<string, ArrayLike<number>> = { tokens: batch.tokens, labels: batch.labels, lr: [3e-3], bc1: [bc1], bc2: [bc2] };
      if (scaler) {
        inputs['loss_scale'] = [scaler.scale];
        inputs['inv_loss_scale'] = [1 / scaler.scale];
      }
      const before = new Map(params);
      const out = interpret(tg.graph, inputs, (n) => params.get(n)!);
      losses.push(out['loss']!.data[0]!);
      for (const u of tg.updates) params.set(u.param, Float64Array.from(out[u.output]!.data));
      const skip = scaler ? scaler.update(out['grad_norm']!.data[0]!) : false;
      skipped.push(skip);
      // A skipped step must leave every parameter and optimizer state exactly as it was.
      if (skip) for (const [k, v] of before) expect([...params.get(k)!]).toEqual([...v]);
    }
    return { losses, skipped, tg };
  }

  it('bf16 and f16 training follow f32 training closely and keep f32 master weights', () => {
    const f32 = train('f32', 25).losses;
    const bf16 = train('bf16', 25, new LossScaler(1));
    const f16 = train('f16', 25, new LossScaler(2 ** 8));
    expect(bf16.tg.graph.nodes.some((n) => n.op === 'round_to' && n.attrs['dtype'] === 'bf16')).toBe(true);
    // Master weights and optimizer state stay f32 parameters.
    expect(bf16.tg.graph.values.filter((v) => v.kind === 'param').every((v) => v.type.dtype === 'f32')).toBe(true);
    expect(f32.at(-1)!).toBeLessThan(f32[0]! - 1);
    for (const mp of [bf16.losses, f16.losses]) {
      expect(mp.at(-1)!).toBeLessThan(mp[0]! - 1);
      // Rounding changes the trajectory a little, not its course: within 5% at every step.
      mp.forEach((l, i) => expect(Math.abs(l - f32[i]!) / f32[i]!).toBeLessThan(0.05));
    }
    // bf16's 8-bit mantissa rounds more than f16's 10-bit one.
    const dev = (xs: number[]) => xs.reduce((s, l, i) => s + Math.abs(l - f32[i]!), 0);
    expect(dev(bf16.losses)).toBeGreaterThan(dev(f16.losses));
  });

  it('f16 dynamic loss scaling: an overflowing scale skips steps and halves until gradients are finite', () => {
    const scaler = new LossScaler(2 ** 24, 0, 1000);
    const { skipped, losses } = train('f16', 12, scaler);
    // Gradients scaled by 2^24 overflow half precision's 65504: steps are skipped while the scale halves.
    expect(skipped[0]).toBe(true);
    const firstGood = skipped.indexOf(false);
    expect(firstGood).toBeGreaterThan(0);
    expect(skipped.slice(0, firstGood).every(Boolean)).toBe(true);
    expect(scaler.scale).toBe(2 ** (24 - firstGood));
    expect(skipped.filter((x) => !x).length).toBeGreaterThanOrEqual(4);
    expect(losses.at(-1)!).toBeLessThan(losses[0]!);
    // After `interval` good steps in a row the scale doubles again.
    const s = new LossScaler(4, 0, 2);
    s.update(1);
    s.update(1);
    expect(s.scale).toBe(8);
    s.update(Infinity);
    expect(s.scale).toBe(4);
  });
});
