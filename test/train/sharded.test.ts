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

/**
 * Sharded training equals single-device training: 5 AdamW steps of a 2-layer GPT on
 * [dp: 2, tp: 4] (8 CPU-simulated devices, float64), for ZeRO stages 0–3, end with the
 * same parameters as the one-device reference. Tolerance 1e-7 relative to each tensor's
 * largest entry: both sides are float64 and differ only in summation order, which Adam's
 * m / √v normalisation can amplify where gradients are tiny.
 */
const src = readFileSync('samples/gpt2.model', 'utf8');
const mesh: Mesh = {
  axes: [
    { name: 'dp', size: 2 },
    { name: 'tp', size: 4 },
  ],
};
const text = new TextEncoder().encode(readFileSync('/usr/share/common-licenses/GPL-3', 'utf8').slice(0, 20000));
const data = new TextBatches(text, 2, 16, 3);
const opts = { preset: 'tiny', overrides: { d: 64, heads: 4, vocab: 256 }, dims: { B: 2, S: 16 } };
const adam: TrainSettings['optimizer'] = { kind: 'adamw', lr: 1e-3, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1, momentum: 0 };
const inputsAt = (t: number) => {
  const { tokens, labels } = data.at(t);
  const [bc1, bc2] = biasCorrections(t, 0.9, 0.95);
  return { tokens, labels, lr: [lrAt(t, { lr: 1e-3, warmup: 2, steps: 5 })], bc1: [bc1], bc2: [bc2] };
};

describe('sharded training equals one device', () => {
  const r = lower(src, 'gpt2.model', opts);
  const settings: TrainSettings = { ...trainSettings(r.env!, r.graph!.name).settings!, optimizer: adam, gradClip: 1, microbatches: 1 };
  const single = trainingGraph(r.graph!, settings, 'gpt2.model').result!;
  const want = initialParams(single.graph, 0);
  const wantLosses = referenceTrain(single, want, inputsAt, 5);

  it.each([0, 1, 2, 3])('ZeRO %i on [dp: 2, tp: 4]: same parameters after 5 steps', (zero) => {
    const tg = trainingGraph(r.graph!, settings, 'gpt2.model', { mesh, zero }).result!;
    const p = partition(tg.graph, mesh);
    expect(verifyGraph(p.local, true)).toEqual([]);
    const params = initialParams(tg.graph, 0);
    const losses: number[] = [];
    for (let t = 1; t <= 5; t++) {
      const out = simulate(p, inputsAt(t), (name) => params.get(name)!);
      losses.push(out['loss']!.data[0]!);
      for (const u of tg.updates) params.set(u.param, Float64Array.from(out[u.output]!.data));
    }
    losses.forEach((l, i) => expect(l).toBeCloseTo(wantLosses[i]!, 9));
    for (const [name, w] of want) {
      const got = params.get(name)!;
      let scale = 1e-6;
      let diff = 0;
      w.forEach((x, i) => {
        scale = Math.max(scale, Math.abs(x));
        diff = Math.max(diff, Math.abs(x - got[i]!));
      });
      expect(diff / scale, name).toBeLessThan(1e-7);
    }
    // ZeRO by layout: from stage 1 the optimizer state is split over dp, gradients are
    // reduce-scattered into it and parameters all-gathered back; stage 3 splits parameters too.
    const kinds = new Set(p.collectives.filter((c) => c.axis === 'dp').map((c) => c.kind));
    if (zero >= 1) {
      expect(kinds.has('reduce_scatter')).toBe(true);
      expect(kinds.has('all_gather')).toBe(true);
      const m = p.local.values.find((v) => v.name === 'opt.m.Layer.0.Attention.wq')!;
      expect(p.layouts[m.id]!.axes.flat()).toContain('dp');
    }
    const wq = p.local.values.find((v) => v.name === 'Layer.0.Attention.wq')!;
    expect(p.layouts[wq.id]!.axes.flat().includes('dp')).toBe(zero >= 3);
  });
});
