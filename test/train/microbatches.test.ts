import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { lower } from '../../compiler/compile.js';
import { interpret } from '../../compiler/reference/interpret.js';
import { trainSettings, type TrainSettings } from '../../compiler/train/settings.js';
import { trainingGraph } from '../../compiler/train/step.js';
import type { PlanRunner } from '../../runtime/executor.js';
import { biasCorrections, TextBatches, Trainer } from '../../runtime/train.js';
import { initialParams } from '../support/train.js';
import { trainingText } from '../support/corpus.js';

/**
 * Gradient accumulation (`microbatches = N`) on the CPU reference (float64): N runs of the
 * step graph at B/N rows, the last with `apply` = 1, equal one run at B rows. The mean of
 * N equal-sized micro-batch means is the batch mean, so only summation order differs:
 * the bar is 1e-12 relative to each tensor's largest magnitude.
 */
describe('gradient accumulation', () => {
  const src = readFileSync('samples/gpt2.model', 'utf8');
  const B = 8;
  const S = 16;
  const lowered = (rows: number) => lower(src, 'gpt2.model', { preset: 'tiny', overrides: { d: 32, heads: 2, layers: 1, vocab: 256 }, dims: { B: rows, S } });
  const base = trainSettings(lowered(B).env!, 'GPT2').settings!;
  const adam: TrainSettings['optimizer'] = { kind: 'adamw', lr: 3e-3, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1, momentum: 0 };
  const sgd: TrainSettings['optimizer'] = { kind: 'sgd', lr: 0.1, beta1: 0, beta2: 0, eps: 0, weightDecay: 0.1, momentum: 0.9 };
  const data = new TextBatches(trainingText(), B, S, 1);

  function train(n: number, steps: number, optimizer = sgd) {
    const tg = trainingGraph(lowered(B / n).graph!, { ...base, optimizer, microbatches: n, gradClip: 1 }, 'gpt2.model').result!;
    const params = initialParams(tg.graph, 0);
    const losses: number[] = [];
    for (let t = 1; t <= steps; t++) {
      const { tokens, labels } = data.at(t);
      const [bc1, bc2] = biasCorrections(t, 0.9, 0.95);
      const rows = (B / n) * S;
      let loss = 0;
      for (let m = 0; m < n; m++) {
        const before = new Map(params);
        const inputs: Record<string, ArrayLike<number>> = {
          tokens: tokens.subarray(m * rows, (m + 1) * rows),
          labels: labels.subarray(m * rows, (m + 1) * rows),
          lr: [3e-3],
          bc1: [bc1],
          bc2: [bc2],
          ...(n > 1 ? { apply: [m === n - 1 ? 1 : 0] } : {}),
        };
        const out = interpret(tg.graph, inputs, (name) => params.get(name)!);
        loss += out['loss']!.data[0]! / n;
        for (const u of tg.updates) params.set(u.param, Float64Array.from(out[u.output]!.data));
        if (m < n - 1) {
          // A micro-batch that only accumulates changes its sums and nothing else.
          for (const [k, v] of before) if (!k.startsWith('acc.')) expect([...params.get(k)!], k).toEqual([...v]);
        }
      }
      // The step that applied the sum starts it again from zero.
      for (const [k, v] of params)
        if (k.startsWith('acc.'))
          expect(
            v.every((x) => x === 0),
            k,
          ).toBe(true);
      losses.push(loss);
    }
    return { params, losses, tg };
  }

  // SGD with momentum and clipping for the parameters: an update linear in the gradient.
  // (AdamW divides by the gradient's own magnitude, so a gradient that is zero up to
  // rounding, as the key bias's is under softmax, moves by lr in a direction rounding picks.)
  it('N micro-batches of B/N rows train as one batch of B rows (2 and 4 micro-batches, 3 steps, SGD with clipping)', () => {
    const one = train(1, 3);
    expect(one.tg.graph.inputs.map((id) => one.tg.graph.values[id]!.name)).not.toContain('apply');
    for (const n of [2, 4]) {
      const acc = train(n, 3);
      expect(acc.tg.updates.filter((u) => u.param.startsWith('acc.')).length).toBe(one.tg.params.length);
      acc.losses.forEach((l, i) => expect(Math.abs(l - one.losses[i]!), `loss ${i}`).toBeLessThan(1e-12 * Math.abs(one.losses[i]!)));
      for (const [name, want] of one.params) {
        const got = acc.params.get(name)!;
        // At least 1e-6: the key bias's gradient is zero up to rounding (softmax ignores a
        // shift of every score in a row), so it stays at rounding noise (~1e-22) either way.
        const scale = Math.max(...want.map(Math.abs), 1e-6);
        const worst = Math.max(...want.map((w, i) => Math.abs(w - got[i]!)));
        expect(worst / scale, `${name} with ${n} micro-batches`).toBeLessThan(1e-12);
      }
    }
  });

  it('with AdamW the losses agree too', () => {
    const one = train(1, 3, adam).losses;
    const two = train(2, 3, adam).losses;
    two.forEach((l, i) => expect(Math.abs(l - one[i]!), `loss ${i}`).toBeLessThan(1e-9 * Math.abs(one[i]!)));
  });

  it('a number of micro-batches that does not divide the batch is refused by the trainer', () => {
    const runner = {} as PlanRunner;
    expect(() => new Trainer(runner, data, { lr: 1, warmup: 0, steps: 1 }, undefined, 'tokens', undefined, 3)).toThrow(
      '3 micro-batches do not divide a batch of 8',
    );
    expect(() => new Trainer(runner, data, { lr: 1, warmup: 0, steps: 1 }, undefined, 'tokens', undefined, 4)).not.toThrow();
  });
});
