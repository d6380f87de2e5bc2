import { describe, expect, it } from 'vitest';
import { lower } from '../../compiler/compile.js';
import type { Graph } from '../../compiler/ir.js';
import { planMemory } from '../../compiler/memory/plan.js';
import { interpret } from '../../compiler/reference/interpret.js';
import { partition } from '../../compiler/sharding/partition.js';
import { applyRecompute, mapForwardValues } from '../../compiler/train/apply-recompute.js';
import { trainingMemory } from '../../compiler/train/memory.js';
import { attentionCore, modelBytes, planRecompute, recomputeProblem, RecomputeError, type RecomputePolicy } from '../../compiler/train/recompute.js';
import { trainSettings, type TrainSettings } from '../../compiler/train/settings.js';
import { planTrainingRecompute, trainingGraph, trainingLossGraph, type TrainingGraph } from '../../compiler/train/step.js';
import { biasCorrections } from '../../runtime/train.js';
import { verifyGraph } from '../../compiler/verify-ir.js';
import { initialParams } from '../support/train.js';

/**
 * Recompute applied to the training step (train/apply-recompute.ts through trainingGraph).
 *
 * Bit-identity is expected, not just closeness: the CPU reference computes each node as a
 * function of its op, attributes and input data alone. A rebuilt value comes from a clone
 * of its producer (same op, same attributes) whose inputs are, by induction, bit-identical
 * to the original's; a dropout clone keeps `mask_id` and `seed`, so it draws the same mask.
 * The backward nodes are the same ops in the same order; only where they read a value
 * from changes. So every output is the same float64 bit for bit (compared with Object.is).
 */

const adam: TrainSettings['optimizer'] = { kind: 'adamw', lr: 1e-2, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1, momentum: 0 };

interface Model {
  readonly forward: Graph;
  readonly settings: TrainSettings;
  readonly loss: Graph;
  readonly inputs: Record<string, ArrayLike<number>>;
}

function model(src: string, file: string, opts: Parameters<typeof lower>[2], tokens: number, vocab: number): Model {
  const r = lower(src, file, opts);
  expect(r.diagnostics).toEqual([]);
  const s = trainSettings(r.env!, r.graph!.name);
  expect(s.diagnostics).toEqual([]);
  const settings = { ...s.settings!, optimizer: adam, gradClip: 1 };
  const [bc1, bc2] = biasCorrections(1, 0.9, 0.95);
  return {
    forward: r.graph!,
    settings,
    loss: trainingLossGraph(r.graph!, settings, file).graph!,
    inputs: {
      tokens: Array.from({ length: tokens }, (_, i) => (i * 7 + 3) % vocab),
      labels: Array.from({ length: tokens }, (_, i) => (i * 5 + 1) % vocab),
      lr: [1e-2],
      bc1: [bc1],
      bc2: [bc2],
    },
  };
}

/** The step under `policy` (auto: halfway between rebuilding everything and nothing). */
async function step(m: Model, policy: RecomputePolicy, settings = m.settings): Promise<{ tg: TrainingGraph; dropped: ReadonlySet<number>; loss: Graph }> {
  const loss = trainingLossGraph(m.forward, settings, 'm').graph!;
  const p = recomputeProblem(loss);
  // A quarter of the way from rebuilding everything to keeping everything: auto has to drop
  // most of what full drops, so its savings show in the memory plan whatever FLOPs it weighs.
  const budget = Math.round(
    (3 *
      modelBytes(
        p,
        p.items.map(() => true),
      ) +
      modelBytes(
        p,
        p.items.map(() => false),
      )) /
      4,
  );
  const plan = (await planTrainingRecompute(m.forward, settings, 'm', undefined, { policy, ...(policy === 'auto' ? { budget } : {}) }))!;
  const t = trainingGraph(m.forward, settings, 'm', undefined, plan.dropped);
  expect(t.diagnostics).toEqual([]);
  expect(verifyGraph(t.result!.graph, true)).toEqual([]);
  return { tg: t.result!, dropped: plan.dropped, loss };
}

function run(m: Model, tg: TrainingGraph, extra: Record<string, ArrayLike<number>> = {}) {
  const params = initialParams(tg.graph, 3);
  // Non-zero optimizer moments, so the update reads every gradient in full.
  for (const [k, v] of params) if (k.startsWith('opt.')) v.forEach((_, i) => (v[i] = k.startsWith('opt.v.') ? 1e-3 * (1 + (i % 5)) : 1e-3 * ((i % 7) - 3)));
  return interpret(tg.graph, { ...m.inputs, ...extra }, (n) => params.get(n)!);
}

/** Every output (loss, grad_norm, new.*), element by element: the elements that differ (Object.is), at most 5. */
function differences(a: ReturnType<typeof run>, b: ReturnType<typeof run>): string[] {
  const out: string[] = [];
  expect(Object.keys(b).sort()).toEqual(Object.keys(a).sort());
  for (const [k, v] of Object.entries(a)) {
    const w = b[k]!.data;
    expect(w.length, k).toBe(v.data.length);
    v.data.forEach((x, i) => {
      if (!Object.is(x, w[i]) && out.length < 5) out.push(`${k}[${i}]: ${x} vs ${w[i]}`);
    });
  }
  return out;
}

/** Backward nodes (at or after `forwardNodes`) of `g` that read one of `values`. */
function backwardReads(g: Graph, values: ReadonlySet<number>, forwardNodes: number): string[] {
  return g.nodes.filter((n) => n.id >= forwardNodes && n.inputs.some((i) => values.has(i))).map((n) => `${n.op}#${n.id}`);
}

const applied = (s: { tg: TrainingGraph; dropped: ReadonlySet<number>; loss: Graph }) => mapForwardValues(s.loss, s.tg.graph, s.dropped);
const lowerBound = (g: Graph) => planMemory(g, { params: 'external', inputs: 'external', outputs: 'external' }).lowerBound;

// samples/gpt2.model's blocks (fused causal attention with biases, tanh-GELU MLP, pre-norm,
// residuals, tied embeddings) in a two-layer repeat, written here so edits to the sample do
// not move these numbers, and shrunk so activations dominate: B·S = 256 positions at width 16.
const GPT = `config G {
  vocab = 32
  ctx = 64
  d = 16
  heads = 2
  layers = 2
  ffn = 4 * d
  eps = 1e-5
}
block Attention(x: f32[B, S, d]) -> f32[B, S, d] {
  param wq: f32[d, d] = normal(0, 0.2)
  param wk: f32[d, d] = normal(0, 0.2)
  param wv: f32[d, d] = normal(0, 0.2)
  param bq: f32[d] = normal(0, 0.1)
  param bk: f32[d] = normal(0, 0.1)
  param bv: f32[d] = normal(0, 0.1)
  param wo: f32[d, d] = normal(0, 0.2)
  param bo: f32[d] = zeros()
  let q = x @ wq + bq
  let k = x @ wk + bk
  let v = x @ wv + bv
  let a = attention(q, k, v, heads = heads, causal = true)
  return a @ wo + bo
}
block Mlp(x: f32[B, S, d]) -> f32[B, S, d] {
  param w1: f32[d, ffn] = normal(0, 0.2)
  param b1: f32[ffn] = zeros()
  param w2: f32[ffn, d] = normal(0, 0.2)
  param b2: f32[d] = zeros()
  return gelu(x @ w1 + b1, approximate = "tanh") @ w2 + b2
}
block Layer(x: f32[B, S, d]) -> f32[B, S, d] {
  param ln1_g: f32[d] = ones()
  param ln1_b: f32[d] = zeros()
  param ln2_g: f32[d] = ones()
  param ln2_b: f32[d] = zeros()
  let h = x + Attention(layer_norm(x, ln1_g, ln1_b, eps))
  return h + Mlp(layer_norm(h, ln2_g, ln2_b, eps))
}
model GPT(tokens: i32[B, S]) -> f32[B, S, vocab] where B = 4, S = 64 {
  param wte: f32[vocab, d] = normal(0, 0.5)
  param wpe: f32[ctx, d] = normal(0, 0.1)
  param lnf_g: f32[d] = ones()
  param lnf_b: f32[d] = zeros()
  let h = embedding(wte, tokens) + slice(wpe, 0, 0, S)
  h = repeat(layers) Layer(h)
  let logits = layer_norm(h, lnf_g, lnf_b, eps) @ transpose(wte)
  return logits
}
train GPT { loss = cross_entropy(logits, labels) }
`;
const gpt2 = model(GPT, 'gpt.model', {}, 256, 32);

// Attention written out (softmax, dropout on the probabilities, × V) and dropout after the MLP, two layers.
const WRITTEN = `config C {
  d = 16
  ffn = 32
  vocab = 24
  layers = 2
}
block Attn(x: f32[B, S, d]) -> f32[B, S, d] {
  param wq: f32[d, d] = normal(0, 0.3)
  param wk: f32[d, d] = normal(0, 0.3)
  param wv: f32[d, d] = normal(0, 0.3)
  param wo: f32[d, d] = normal(0, 0.3)
  let probs = dropout(softmax((x @ wq) @ transpose(x @ wk) * 0.25), 0.25, seed = 11)
  return probs @ (x @ wv) @ wo
}
block Mlp(x: f32[B, S, d]) -> f32[B, S, d] {
  param w1: f32[d, ffn] = normal(0, 0.3)
  param w2: f32[ffn, d] = normal(0, 0.3)
  return dropout(gelu(x @ w1) @ w2, 0.2, seed = 5)
}
block Layer(x: f32[B, S, d]) -> f32[B, S, d] {
  param g1: f32[d] = ones()
  param b1: f32[d] = zeros()
  param g2: f32[d] = ones()
  param b2: f32[d] = zeros()
  let h = x + Attn(layer_norm(x, g1, b1, 1e-5))
  return h + Mlp(layer_norm(h, g2, b2, 1e-5))
}
model M(tokens: i32[B, S]) -> f32[B, S, vocab] where B = 2, S = 16 {
  param wte: f32[vocab, d] = normal(0, 0.5)
  let h = repeat(layers) Layer(embedding(wte, tokens))
  let logits = h @ transpose(wte)
  return logits
}
train M { loss = cross_entropy(logits, labels) }
`;
const written = model(WRITTEN, 'written.model', { training: true }, 32, 24);

const POLICIES = ['none', 'selective', 'full', 'auto'] as const;

describe('recompute applied to the training step', () => {
  it('loss, grad_norm and every new.* update are bit-identical under none, selective, full and auto (gpt2 blocks, 2 layers)', async () => {
    const steps = await Promise.all(POLICIES.map((p) => step(gpt2, p)));
    const sizes = steps.map((s) => s.dropped.size);
    expect(sizes[0]).toBe(0);
    expect(sizes[1]).toBe(2); // one attention output per layer
    expect(sizes[2]).toBeGreaterThan(sizes[3]!); // full drops every candidate, auto some
    expect(sizes[3]).toBeGreaterThan(0);
    const ref = run(gpt2, steps[0]!.tg);
    expect(Object.keys(ref).filter((k) => k.startsWith('new.')).length).toBe(3 * steps[0]!.tg.params.length);
    for (const [i, s] of steps.entries()) {
      expect(s.tg.graph.nodes.length, POLICIES[i]).toBeGreaterThanOrEqual(steps[0]!.tg.graph.nodes.length + (i ? 1 : 0));
      expect(differences(ref, run(gpt2, s.tg)), POLICIES[i]).toEqual([]);
    }
  });

  it('the backward pass reads no dropped value; rebuilt values are cloned forward nodes, each once', async () => {
    for (const policy of ['selective', 'full', 'auto'] as const) {
      const s = await step(gpt2, policy);
      const fwd = s.loss.nodes.length;
      const dropped = applied(s);
      expect(dropped.size, policy).toBe(s.dropped.size);
      // Without the pass the backward does read them (so the check below can fail).
      const plain = trainingGraph(gpt2.forward, gpt2.settings, 'm').result!.graph;
      expect(backwardReads(plain, mapForwardValues(s.loss, plain, s.dropped), fwd).length, policy).toBeGreaterThan(0);
      expect(backwardReads(s.tg.graph, dropped, fwd), policy).toEqual([]);
      // Forward nodes are where they were; the clones are extra nodes after them, at most one per dropped value's producer.
      expect(s.tg.graph.nodes.slice(0, fwd).map((n) => n.op)).toEqual(plain.nodes.slice(0, fwd).map((n) => n.op));
      const producers = new Set([...s.dropped].map((v) => s.loss.values[v]!.producer!));
      const extra = s.tg.graph.nodes.length - plain.nodes.length;
      expect(extra, policy).toBeGreaterThan(0);
      expect(extra, policy).toBeLessThanOrEqual(producers.size);
    }
  });

  it('the memory plan reuses what is dropped: lowerBound full < selective < none', async () => {
    const [none, sel, full, auto] = await Promise.all(POLICIES.map(async (p) => lowerBound((await step(gpt2, p)).tg.graph)));
    // When written: none 677,376 bytes; selective 644,608 (the two f32[4, 64, 16] attention
    // outputs, 16 KiB each, are no longer live where forward turns into backward); full 431,616
    // (the layers' inputs stay, and one layer is rebuilt at a time); auto 611,840.
    expect(none - sel).toBe(2 * 4 * 64 * 16 * 4);
    expect(full).toBeLessThan(sel);
    expect(sel).toBeLessThan(none);
    expect(auto).toBeLessThan(none);
    expect(auto).toBeGreaterThanOrEqual(full);
  });

  it('with dropout (on the attention probabilities and after the MLP) every policy gives the same step, bit for bit', async () => {
    const g = written.forward;
    expect(g.nodes.filter((n) => n.op === 'dropout' && n.attrs['training']).length).toBe(4);
    const steps = await Promise.all(POLICIES.map((p) => step(written, p)));
    // Selective finds the written-out core: per layer the scores (q @ kᵀ and its scale), the probabilities, their
    // dropout and the context (probs @ v).
    const core = [...attentionCore(steps[1]!.loss)].map((v) => steps[1]!.loss.nodes[steps[1]!.loss.values[v]!.producer!]!.op);
    expect(core.sort()).toEqual(['dropout', 'dropout', 'matmul', 'matmul', 'matmul', 'matmul', 'mul', 'mul', 'softmax', 'softmax']);
    expect(steps[1]!.dropped.size).toBe(10);
    // Full rebuilds both dropouts of each layer in the backward pass.
    const fullGraph = steps[2]!.tg.graph;
    expect(fullGraph.nodes.filter((n) => n.op === 'dropout' && n.id >= steps[2]!.loss.nodes.length).length).toBeGreaterThan(4);
    // The step's dropout counter (not 0): a rebuilt dropout must read it as the forward one does.
    const counter = { dropout_step: [5] };
    const ref = run(written, steps[0]!.tg, counter);
    for (const [i, s] of steps.entries()) {
      expect(backwardReads(s.tg.graph, applied(s), s.loss.nodes.length), POLICIES[i]).toEqual([]);
      expect(differences(ref, run(written, s.tg, counter)), POLICIES[i]).toEqual([]);
    }
    // When written: none 108,032, selective 99,840, full 86,528.
    const [none, sel, full] = steps.slice(0, 3).map((s) => lowerBound(s.tg.graph));
    expect(full).toBeLessThan(sel!);
    expect(sel).toBeLessThan(none!);
  });

  it('mixed precision (bf16, the loss scaled before the backward pass): full recompute changes no output', async () => {
    const settings: TrainSettings = { ...gpt2.settings, precision: 'bf16' };
    const scale = { loss_scale: [1], inv_loss_scale: [1] };
    const none = run(gpt2, (await step(gpt2, 'none', settings)).tg, scale);
    const s = await step(gpt2, 'full', settings);
    expect(backwardReads(s.tg.graph, applied(s), s.loss.nodes.length + 1)).toEqual([]);
    expect(differences(none, run(gpt2, s.tg, scale))).toEqual([]);
  });

  it('trainingMemory (memory.ts) and the planner (recompute.ts) use one definition of selective and full', async () => {
    const p = partition(gpt2.forward, {
      axes: [
        { name: 'dp', size: 1 },
        { name: 'tp', size: 1 },
      ],
    });
    const act = (r: 'none' | 'selective' | 'full') => trainingMemory(gpt2.forward, p, { recompute: r }).memory.activations;
    // The local program (one device; tp = 1 still inserts its all-reduces) planned as the planner plans it.
    // The planner's dropped values, handed to trainingMemory as an auto plan would be, give the policy's own figure.
    for (const r of ['selective', 'full'] as const) {
      const plan = await planRecompute(p.local, r);
      expect(plan.dropped.size, r).toBeGreaterThan(0);
      expect(trainingMemory(gpt2.forward, p, { recompute: 'auto', dropped: plan.dropped }).memory.activations, r).toBe(act(r));
    }
    expect(act('full')).toBeLessThan(act('selective'));
    expect(act('selective')).toBeLessThan(act('none'));
  });

  it('applyRecompute refuses values the forward pass does not compute', async () => {
    const s = await step(gpt2, 'none');
    const g = s.tg.graph;
    const late = g.values.find((v) => v.kind === 'op' && v.producer! >= s.loss.nodes.length)!;
    expect(() => applyRecompute(g, new Set([late.id]), s.loss.nodes.length)).toThrow(RecomputeError);
    expect(() => applyRecompute(g, new Set([g.inputs[0]!]), s.loss.nodes.length)).toThrow(RecomputeError);
    expect(applyRecompute(g, new Set(), s.loss.nodes.length)).toBe(g);
  });
});
