import { describe, expect, it } from 'vitest';
import { differentiate } from '../../compiler/autodiff/grad.js';
import { lower } from '../../compiler/compile.js';
import { interpret } from '../../compiler/reference/interpret.js';
import { DEFAULT_OPTIMIZER, type TrainSettings } from '../../compiler/train/settings.js';
import { lossGraph } from '../../compiler/train/step.js';
import { verifyGraph } from '../../compiler/verify-ir.js';
import { classificationMetrics } from '../../runtime/trainer.js';
import { mulberry32 } from '../support/random.js';

/**
 * The train section's losses as the step differentiates them (lossGraph): mse and
 * cross_entropy with ignored labels (-100), their values against sums written out here in
 * float64, their gradients against central finite differences of the CPU reference (as
 * test/autodiff does: h = 1e-5, |fd − ad| ≤ 1e-6 · max(|fd|, |ad|, 1e-2); truncation and
 * rounding stay near 1e-9 for these quadratic and log-sum-exp losses).
 */

const H = 1e-5;
const TOL = 1e-6;

const SOURCE = `model M(x: f32[4, 3]) -> f32[4, 2] {
  param w: f32[3, 2] = normal(0, 1)
  param b: f32[2] = zeros()
  let pred = x @ w + b
  return pred
}`;

function setup(loss: TrainSettings['loss'], labels: number[]) {
  const r = lower(SOURCE, 'loss.model', {});
  expect(r.diagnostics).toEqual([]);
  const lg = lossGraph(r.graph!, { loss, optimizer: DEFAULT_OPTIMIZER }, 'loss.model');
  expect(lg.diagnostics).toEqual([]);
  const g = lg.graph!;
  const rand = mulberry32(7);
  const x = Array.from({ length: 12 }, () => rand() * 2 - 1);
  const params = new Map([
    ['w', Float64Array.from({ length: 6 }, () => rand() * 2 - 1)],
    ['b', Float64Array.from({ length: 2 }, () => rand() * 2 - 1)],
  ]);
  const inputs = { x, labels };
  const value = () => interpret(g, inputs, (n) => params.get(n)!)['loss']!.data[0]!;
  const pred = () => {
    const w = params.get('w')!;
    const b = params.get('b')!;
    return Array.from({ length: 8 }, (_, k) => {
      const [i, j] = [Math.floor(k / 2), k % 2];
      return x[i * 3]! * w[j]! + x[i * 3 + 1]! * w[2 + j]! + x[i * 3 + 2]! * w[4 + j]! + b[j]!;
    });
  };
  return { g, params, inputs, value, pred };
}

function checkGradients(s: Pick<ReturnType<typeof setup>, 'g' | 'params' | 'value'> & { inputs: Record<string, number[]> }) {
  const dg = differentiate(s.g);
  expect(verifyGraph(dg, true)).toEqual([]);
  const grads = interpret(dg, s.inputs, (n) => s.params.get(n)!);
  let checked = 0;
  for (const [name, p] of s.params) {
    for (let i = 0; i < p.length; i++) {
      const x0 = p[i]!;
      p[i] = x0 + H;
      const up = s.value();
      p[i] = x0 - H;
      const down = s.value();
      p[i] = x0;
      const fd = (up - down) / (2 * H);
      const ad = grads[`grad.${name}`]!.data[i]!;
      expect(Math.abs(fd - ad), `d loss / d ${name}[${i}]: fd ${fd}, ad ${ad}`).toBeLessThanOrEqual(TOL * Math.max(Math.abs(fd), Math.abs(ad), 1e-2));
      checked++;
    }
  }
  return checked;
}

describe('losses of the train section', () => {
  it('mse(pred, labels) is the mean of squared differences, and its gradient matches finite differences', () => {
    const target = [0.5, -1, 0.25, 2, -0.75, 0, 1, 1.5];
    const s = setup({ kind: 'mse', output: 'pred' }, target);
    const p = s.pred();
    const want = p.reduce((a, v, i) => a + (v - target[i]!) ** 2, 0) / 8;
    expect(s.value()).toBeCloseTo(want, 12);
    expect(checkGradients(s)).toBe(8);
  });

  it('cross_entropy ignores labels of -100 (masked positions) in its mean, and its gradient matches finite differences', () => {
    const labels = [1, -100, 0, 1];
    const s = setup({ kind: 'cross_entropy', output: 'pred' }, labels);
    const p = s.pred();
    const ce = (r: number) => Math.log(Math.exp(p[2 * r]!) + Math.exp(p[2 * r + 1]!)) - p[2 * r + labels[r]!]!;
    expect(s.value()).toBeCloseTo((ce(0) + ce(2) + ce(3)) / 3, 12);
    expect(checkGradients(s)).toBe(8);
  });
});

describe('contrastive(a, b)', () => {
  const src = `model P(x: f32[4, 3], y: f32[4, 2]) -> (f32[4, 3], f32[4, 3]) {
  param u: f32[3, 3] = normal(0, 1)
  param v: f32[2, 3] = normal(0, 1)
  let a = x @ u
  let b = y @ v
  return a, b
}`;

  it('is symmetric InfoNCE over L2-normalised rows at temperature 0.1, and its gradient matches finite differences', () => {
    const r = lower(src, 'pair.model', {});
    expect(r.diagnostics).toEqual([]);
    const lg = lossGraph(r.graph!, { loss: { kind: 'contrastive', output: 'a', other: 'b' }, optimizer: DEFAULT_OPTIMIZER }, 'pair.model');
    expect(lg.diagnostics).toEqual([]);
    const rand = mulberry32(9);
    const inputs = { x: Array.from({ length: 12 }, () => rand() * 2 - 1), y: Array.from({ length: 8 }, () => rand() * 2 - 1) };
    const params = new Map([
      ['u', Float64Array.from({ length: 9 }, () => rand() * 2 - 1)],
      ['v', Float64Array.from({ length: 6 }, () => rand() * 2 - 1)],
    ]);
    const value = () => interpret(lg.graph!, inputs, (n) => params.get(n)!)['loss']!.data[0]!;
    // The oracle, written out: rows of a = x·u and b = y·v, normalised; S = a·bᵀ / 0.1.
    const rows = (m: number[], w: Float64Array, k: number) =>
      Array.from({ length: 4 }, (_, i) => {
        const row = Array.from({ length: 3 }, (_, j) => Array.from({ length: k }, (_, t) => m[i * k + t]! * w[t * 3 + j]!).reduce((p, q) => p + q, 0));
        const n = Math.sqrt(row.reduce((p, q) => p + q * q, 0));
        return row.map((z) => z / n);
      });
    const A = rows(inputs.x, params.get('u')!, 3);
    const Bm = rows(inputs.y, params.get('v')!, 2);
    const S = A.map((ai) => Bm.map((bj) => ai.reduce((p, q, t) => p + q * bj[t]!, 0) / 0.1));
    let want = 0;
    for (let i = 0; i < 4; i++) {
      const row = Math.log(S[i]!.reduce((p, q) => p + Math.exp(q), 0));
      const col = Math.log(S.reduce((p, q) => p + Math.exp(q[i]!), 0));
      want += (row + col) / 2 - S[i]![i]!;
    }
    expect(value()).toBeCloseTo(want / 4, 10);
    expect(checkGradients({ g: lg.graph!, params, inputs, value })).toBe(15);
  });
});

describe('metrics on the host', () => {
  // Three classes, five rows; predictions (argmax) 0, 1, 1, 2, 0 against labels 0, 1, 2, 2, -100 (ignored).
  const logits = Float32Array.from([2, 0, 0, 0, 3, 1, 0, 2, 1, 0, 0, 5, 4, 0, 0]);
  const labels = [0, 1, 2, 2, -100];
  const m = classificationMetrics(logits, labels, ['accuracy', 'f1', 'perplexity']);

  it('accuracy counts the rows with a label', () => expect(m.accuracy).toBeCloseTo(3 / 4, 12));

  it('F1 is the mean over classes of 2·TP / (predicted + actual)', () => {
    // Class 0: TP 1, predicted 1, actual 1 → 1. Class 1: TP 1, predicted 2, actual 1 → 2/3. Class 2: TP 1, predicted 1, actual 2 → 2/3.
    expect(m.f1).toBeCloseTo((1 + 2 / 3 + 2 / 3) / 3, 6);
  });

  it('loss is the mean cross-entropy of the labelled rows and perplexity its exp', () => {
    const row = (r: number, y: number) => {
      const v = Array.from(logits.subarray(r * 3, r * 3 + 3));
      return Math.log(v.reduce((a, x) => a + Math.exp(x), 0)) - v[y]!;
    };
    const want = (row(0, 0) + row(1, 1) + row(2, 2) + row(3, 2)) / 4;
    expect(m.loss).toBeCloseTo(want, 6);
    expect(m.perplexity).toBeCloseTo(Math.exp(want), 5);
  });
});
