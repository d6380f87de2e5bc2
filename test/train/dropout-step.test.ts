/**
 * Training dropout draws a new mask every run of the training step: the step graph takes
 * an i32 `dropout_step` input that every training dropout, forward and backward, reads
 * (compiler/train/dropout-step.ts), and the host passes (t − 1)·microbatches + i
 * (runtime/train.ts Trainer). Checked on the CPU reference (float64): the graph's shape,
 * the masks' statistics against independent Bernoulli draws, the gradient through a
 * dropout against finite differences, and a resumed run against an uninterrupted one.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { lower } from '../../compiler/compile.js';
import type { Graph } from '../../compiler/ir.js';
import { dropoutTraining } from '../../compiler/ops/elementwise.js';
import { interpret } from '../../compiler/reference/interpret.js';
import { DROPOUT_STEP, withDropoutStep } from '../../compiler/train/dropout-step.js';
import { trainSettings, type TrainSettings } from '../../compiler/train/settings.js';
import { lossGraph, trainingGraph, type TrainingGraph } from '../../compiler/train/step.js';
import type { HostArray, Tensor } from '../../runtime/executor.js';
import { TextBatches, Trainer } from '../../runtime/train.js';
import { initialParams } from '../support/train.js';
import { trainingText } from '../support/corpus.js';

/** GPT-2 with dropout on both residual branches (p = 0.1), as GPT-2 trains. */
const gpt2 = readFileSync('samples/gpt2.model', 'utf8');
const attn = 'let h = x + Attention(layer_norm(x, ln1_g, ln1_b, eps))';
const mlp = 'return h + Mlp(layer_norm(h, ln2_g, ln2_b, eps))';
const gpt2Dropout = gpt2
  .replace(attn, 'let h = x + dropout(Attention(layer_norm(x, ln1_g, ln1_b, eps)), 0.1)')
  .replace(mlp, 'return h + dropout(Mlp(layer_norm(h, ln2_g, ln2_b, eps)), 0.1)');

const S = 8;
const lowered = (src: string, rows: number) =>
  lower(src, 'gpt2.model', { preset: 'tiny', overrides: { d: 32, heads: 2, layers: 1, vocab: 256 }, dims: { B: rows, S }, training: true });
const base = trainSettings(lowered(gpt2, 2).env!, 'GPT2').settings!;
const sgd: TrainSettings['optimizer'] = { kind: 'sgd', lr: 1, beta1: 0, beta2: 0, eps: 0, weightDecay: 0, momentum: 0 };
const adam: TrainSettings['optimizer'] = { kind: 'adamw', lr: 3e-3, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1, momentum: 0 };
const text = trainingText();

const names = (g: Graph, ids: readonly number[]) => ids.map((id) => g.values[id]!.name);
const step = (src: string, rows: number, settings: Partial<TrainSettings> = {}) =>
  trainingGraph(lowered(src, rows).graph!, { ...base, optimizer: adam, microbatches: 1, ...settings }, 'gpt2.model').result!;

describe('the training step of a model with dropout', () => {
  it('takes an i32 scalar dropout_step that every training dropout reads, the backward ones included; without dropout it takes none', () => {
    expect(gpt2Dropout.match(/dropout\(/g)).toHaveLength(2);
    const tg = step(gpt2Dropout, 2).graph;
    const counter = tg.values.find((v) => v.kind === 'input' && v.name === DROPOUT_STEP)!;
    expect(counter.type).toEqual({ dtype: 'i32', dims: [] });
    const drops = tg.nodes.filter((n) => n.op === 'dropout' && n.attrs['training'] === true);
    // Two forward and their two copies on the gradients.
    expect(drops).toHaveLength(4);
    for (const n of drops) expect(n.inputs).toEqual([n.inputs[0], counter.id]);
    // Each backward dropout is a forward one's mask: the same attributes, mask_id included.
    const masks = drops.map((n) => JSON.stringify(n.attrs));
    expect(new Set(masks).size).toBe(2);
    const plain = step(gpt2, 2).graph;
    expect(names(plain, plain.inputs)).not.toContain(DROPOUT_STEP);
    // The forward graph itself (mdc run, mdc plan's layouts) is unchanged.
    const forward = lowered(gpt2Dropout, 2).graph!;
    expect(names(forward, forward.inputs)).toEqual(['tokens']);
  });

  it('withDropoutStep leaves a graph that already reads a counter as it is', () => {
    const once = withDropoutStep(lowered(gpt2Dropout, 2).graph!);
    const twice = withDropoutStep(once);
    expect(names(twice, twice.inputs).sort()).toEqual([DROPOUT_STEP, 'tokens']);
    const counter = twice.inputs.find((id) => twice.values[id]!.name === DROPOUT_STEP);
    const drops = twice.nodes.filter((n) => n.op === 'dropout');
    expect(drops).toHaveLength(2);
    for (const n of drops) expect(n.inputs).toEqual([n.inputs[0], counter]);
  });

  it('one counter gives one loss bit for bit; the next counter another (new masks)', () => {
    const tg = step(gpt2Dropout, 2);
    const params = initialParams(tg.graph, 1);
    const { tokens, labels } = new TextBatches(text, 2, S, 1).at(1);
    const loss = (c: number) =>
      interpret(tg.graph, { tokens, labels, lr: [1e-3], bc1: [1], bc2: [1], [DROPOUT_STEP]: [c] }, (n) => params.get(n)!)['loss']!.data[0]!;
    expect(loss(1)).toBe(loss(1));
    for (const c of [0, 2, 3]) expect(loss(c), `counter ${c}`).not.toBe(loss(1));
  });

  it('the gradient through the dropouts is the finite difference of the loss at the same counter', () => {
    // SGD with lr 1 and nothing else: new = p − grad.
    const tg = step(gpt2Dropout, 2, { optimizer: sgd, gradClip: 0 });
    const loss = lossGraph(lowered(gpt2Dropout, 2).graph!, base, 'gpt2.model').graph!;
    expect(names(loss, loss.inputs)).toContain(DROPOUT_STEP);
    const params = initialParams(tg.graph, 2);
    const { tokens, labels } = new TextBatches(text, 2, S, 2).at(1);
    const inputs = { tokens, labels, [DROPOUT_STEP]: [12345] };
    const out = interpret(tg.graph, { ...inputs, lr: [1] }, (n) => params.get(n)!);
    // Weights under each dropout (the MLP's output projection, the attention's values).
    for (const name of ['Layer.0.Mlp.w2', 'Layer.0.Attention.wv']) {
      const p = params.get(name)!;
      const grad = p.map((x, i) => x - out[`new.${name}`]!.data[i]!);
      // The elements with the largest gradients: where a wrong mask would show most.
      const top = [...grad.keys()].sort((a, b) => Math.abs(grad[b]!) - Math.abs(grad[a]!)).slice(0, 4);
      for (const i of top) {
        const at = (d: number) => {
          const q = Float64Array.from(p);
          q[i] = q[i]! + d;
          return interpret(loss, inputs, (n) => (n === name ? q : params.get(n)!))['loss']!.data[0]!;
        };
        // Central differences in float64: error ~h² · f''' ≈ 1e-12 here, far below the 1e-6 bar.
        const h = 1e-5;
        const fd = (at(h) - at(-h)) / (2 * h);
        expect(Math.abs(fd - grad[i]!), `${name}[${i}]: fd ${fd}, autodiff ${grad[i]}`).toBeLessThan(1e-6 * Math.max(1e-3, Math.abs(fd)));
      }
    }
  });
});

describe('masks of different counters', () => {
  /**
   * 2^17 elements of p = 0.1 per counter. Independent masks drop an element in both with
   * probability p² = 0.01 (σ = 2.7e-4 over 2^17 elements) and agree on it with probability
   * p² + (1 − p)² = 0.82 (σ = 1.1e-3); each drops p = 0.1 (σ = 8.3e-4). The bars are 6σ.
   */
  it('look like independent Bernoulli draws: each drops p, two drop together p², from counter 0 to 2^31 − 1', () => {
    const n = 2 ** 17;
    const p = 0.1;
    const ones = { shape: [n], data: new Float64Array(n).fill(1) };
    const counters = [0, 1, 2, 7, 2 ** 31 - 1];
    const masks = counters.map((c) => Array.from(dropoutTraining(ones, p, 0, 3, undefined, c).data, (v) => v === 0));
    for (const [k, m] of masks.entries()) expect(Math.abs(m.filter(Boolean).length / n - p), `counter ${counters[k]}`).toBeLessThan(6 * 8.3e-4);
    for (let a = 0; a < masks.length; a++)
      for (let b = a + 1; b < masks.length; b++) {
        const both = masks[a]!.filter((x, i) => x && masks[b]![i]).length / n;
        const agree = masks[a]!.filter((x, i) => x === masks[b]![i]).length / n;
        const pair = `counters ${counters[a]} and ${counters[b]}`;
        expect(Math.abs(both - p * p), pair).toBeLessThan(6 * 2.7e-4);
        expect(Math.abs(agree - (p * p + (1 - p) ** 2)), pair).toBeLessThan(6 * 1.1e-3);
      }
  });
});

/** A runner over the CPU reference with the plan's input names, as Trainer sees PlanRunner: parameters in float64, updated after each run. */
class ReferenceRunner {
  readonly plan: { inputs: { name: string }[] };
  readonly counters: number[] = [];
  constructor(
    private readonly tg: TrainingGraph,
    readonly params: Map<string, Float64Array>,
  ) {
    this.plan = { inputs: names(tg.graph, tg.graph.inputs).map((name) => ({ name: name! })) };
  }
  async run(inputs: Readonly<Record<string, HostArray>>): Promise<Record<string, Tensor>> {
    const unknown = Object.keys(inputs).filter((k) => !this.plan.inputs.some((i) => i.name === k));
    expect(unknown).toEqual([]);
    if (inputs[DROPOUT_STEP]) this.counters.push(inputs[DROPOUT_STEP][0]!);
    const out = interpret(this.tg.graph, inputs, (n) => this.params.get(n)!);
    for (const u of this.tg.updates) this.params.set(u.param, Float64Array.from(out[u.output]!.data));
    return Promise.resolve(out as unknown as Record<string, Tensor>);
  }
}

describe('Trainer and the dropout counter', () => {
  const B = 4;
  const m = 2;
  const data = new TextBatches(text, B, S, 3);
  const schedule = { lr: 3e-3, warmup: 1, steps: 4 };
  const tg = step(gpt2Dropout, B / m, { microbatches: m });
  const trainer = (r: ReferenceRunner) => new Trainer(r, data, schedule, [0.9, 0.95], 'tokens', undefined, m);

  it('passes (t − 1)·microbatches + i: a new counter for every micro-batch of every step', async () => {
    const r = new ReferenceRunner(tg, initialParams(tg.graph, 0));
    for (let t = 1; t <= 3; t++) await trainer(r).step(t);
    expect(r.counters).toEqual([0, 1, 2, 3, 4, 5]);
    // A plan without dropout is given no counter (it would refuse an unknown input).
    const tp = step(gpt2, B / m, { microbatches: m });
    const plain = new ReferenceRunner(tp, initialParams(tp.graph, 0));
    await trainer(plain).step(1);
    expect(plain.counters).toEqual([]);
  });

  it('a run resumed after step 2 from its parameters and optimizer state gives the losses of steps 3 and 4 bit for bit', async () => {
    const whole = new ReferenceRunner(tg, initialParams(tg.graph, 0));
    const losses: number[] = [];
    for (let t = 1; t <= 4; t++) losses.push((await trainer(whole).step(t)).loss);
    const first = new ReferenceRunner(tg, initialParams(tg.graph, 0));
    for (let t = 1; t <= 2; t++) expect((await trainer(first).step(t)).loss).toBe(losses[t - 1]);
    // A new runner and trainer from what a checkpoint holds: every parameter (optimizer state included) and the step number.
    const resumed = new ReferenceRunner(tg, new Map([...first.params].map(([k, v]) => [k, Float64Array.from(v)])));
    const again = trainer(resumed);
    for (let t = 3; t <= 4; t++) expect(Object.is((await again.step(t)).loss, losses[t - 1]), `step ${t}`).toBe(true);
    expect(resumed.counters).toEqual([4, 5, 6, 7]);
    // The losses moved between steps: the model trained.
    expect(new Set(losses).size).toBe(4);
  });
});
