import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { mdc } from '../support/cli.js';
import { lower } from '../../compiler/compile.js';
import { partition } from '../../compiler/sharding/partition.js';
import { trainingMemory } from '../../compiler/train/memory.js';
import { modelBytes, planRecompute, recomputeProblem } from '../../compiler/train/recompute.js';

const gpt2 = readFileSync('samples/gpt2.model', 'utf8');

describe('training memory per device', () => {
  const g = lower(gpt2, 'gpt2.model').graph!;
  const p = partition(g, {
    axes: [
      { name: 'dp', size: 2 },
      { name: 'tp', size: 4 },
    ],
  });
  const at = (zero: number) => trainingMemory(g, p, { zero });

  it('ZeRO 1, 2, 3 split optimizer state, then gradients, then parameters over data parallel (dp = 2)', () => {
    const [z0, z1, z2, z3] = [0, 1, 2, 3].map(at);
    expect(z0!.dataParallel).toBe(2);
    expect(z0!.memory.optimizer).toBe(2 * z0!.memory.grads); // two AdamW moments per f32 gradient
    expect(z1!.memory.optimizer).toBe(z0!.memory.optimizer / 2);
    expect(z1!.memory.grads).toBe(z0!.memory.grads);
    expect(z2!.memory.grads).toBe(z0!.memory.grads / 2);
    expect(z3!.memory.params).toBeLessThan(z0!.memory.params);
    expect(z3!.memory.params).toBeGreaterThan(z0!.memory.params / 2); // plus one layer gathered at a time
    for (const z of [z0, z1, z2, z3]) {
      const m = z!.memory;
      expect(m.peak).toBe(m.params + m.grads + m.optimizer + m.activations);
    }
  });

  it('recompute: full keeps far less than none; selective drops the attention core', () => {
    const none = trainingMemory(g, p, { recompute: 'none' }).memory.activations;
    const full = trainingMemory(g, p, { recompute: 'full' }).memory.activations;
    const sel = trainingMemory(g, p, { recompute: 'selective' }).memory.activations;
    expect(full).toBeLessThan(none);
    expect(sel).toBeLessThan(none);
    expect(sel).toBeGreaterThan(full);
  });

  it('FLOPs per step are about 6 × parameters × tokens (Kaplan et al.), plus attention', () => {
    const m = at(0);
    expect(m.paramCount).toBe(124_439_808);
    const tokens = 2 * 64;
    expect(m.flopsPerStep / (6 * m.paramCount * tokens)).toBeGreaterThan(0.95);
    expect(m.flopsPerStep / (6 * m.paramCount * tokens)).toBeLessThan(1.15);
  });

  it('mdc plan --json reports memory, activationBytesPerLayer, paramCount and flopsPerStep', async () => {
    const r = await mdc('plan', 'samples/gpt2.model', '--json', '--recompute', 'selective');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out);
    expect(Object.keys(j.memory).sort()).toEqual(['activations', 'grads', 'optimizer', 'params', 'peak']);
    expect(j.zero).toBe(1); // from the sample's train section
    expect(j.recompute).toBe('selective');
    expect(Object.keys(j.activationBytesPerLayer)).toContain('Layer.11');
    expect(j.paramCount).toBe(124_439_808);
    expect(j.flopsPerStep).toBeGreaterThan(0);
  });

  it('mdc plan reports what a recompute policy saves and rebuilds; auto needs a budget and rebuilds less than full', async () => {
    const plan = async (...args: string[]) => {
      const r = await mdc('plan', 'samples/gpt2.model', '--json', ...args);
      return { code: r.code, json: r.code === 0 ? JSON.parse(r.out) : undefined, err: r.err };
    };
    const full = (await plan('--recompute', 'full')).json.recomputePlan;
    const sel = (await plan('--recompute', 'selective')).json.recomputePlan;
    expect(full.savedBytes).toBeGreaterThan(sel.savedBytes);
    expect(sel.savedBytes).toBeGreaterThan(0);
    expect(full.extraFlops).toBeGreaterThan(0);
    const auto = (await plan('--recompute', 'auto', '--memory-budget', '16MiB')).json;
    expect(auto.recomputePlan.method).toBe('ilp');
    // The budget is per device (dp=2 × tp=4 here), between "rebuild everything" and "keep
    // everything": auto rebuilds something, but less than full does.
    expect(auto.recomputePlan.extraFlops).toBeGreaterThan(0);
    expect(auto.recomputePlan.extraFlops).toBeLessThan(full.extraFlops);
    // The memory report is of the same plan: auto's activations lie between full's and none's.
    const none = (await plan('--recompute', 'none')).json;
    const fullMemory = (await plan('--recompute', 'full')).json;
    expect(auto.recompute).toBe('auto');
    expect(auto.memory.activations).toBeLessThan(none.memory.activations);
    expect(auto.memory.activations).toBeGreaterThan(fullMemory.memory.activations);
    expect(none.memory.activations - auto.memory.activations).toBeLessThanOrEqual(auto.recomputePlan.savedBytes);
    expect((await plan('--recompute', 'auto')).code).toBe(2);
    expect((await plan('--recompute', 'sometimes')).code).toBe(2);
  });
});

/**
 * Numbers worked out by hand on a model small enough to count: four layers of
 * x + relu(x @ w1) @ w2 with x: f32[8, 4], w1: f32[4, 16], w2: f32[16, 4], batch split
 * over dp = 2 (4 rows per device), parameters replicated.
 */
describe('training memory and recompute of a model counted by hand', () => {
  const TINY = `mesh M = [dp: 2]

block Layer(x: f32[B, 4]) -> f32[B, 4] {
  param w1: f32[4, 16] = normal(0, 0.1)
  param w2: f32[16, 4] = normal(0, 0.1)
  return x + relu(x @ w1) @ w2
}

model Tiny(x: f32[B@dp, 4]) -> f32[B@dp, 4] where B = 8 {
  let h = repeat(4) Layer(x)
  return h
}
`;
  const r = lower(TINY, 'tiny.model');
  const g = r.graph!;
  const p = partition(g, { axes: [{ name: 'dp', size: 2 }] });
  const at = (zero: number, recompute: 'none' | 'full' | 'selective' = 'none') => trainingMemory(g, p, { zero, recompute });

  it('lowers to matmul, relu, matmul, add per layer', () => {
    expect(r.diagnostics).toEqual([]);
    expect(g.nodes.map((n) => `${n.scope} ${n.op}`)).toEqual([0, 1, 2, 3].flatMap((l) => ['matmul', 'relu', 'matmul', 'add'].map((op) => `Layer.${l} ${op}`)));
  });

  it('parameters, gradients, AdamW state and FLOPs per step', () => {
    // Parameters: 4 layers × (4·16 + 16·4) = 512 f32 = 2048 B on each device (replicated).
    // Gradients: one f32 per parameter, 2048 B; ZeRO 2 splits them over dp: 1024 B.
    // AdamW: two f32 moments, 4096 B; ZeRO 1 splits them over dp: 2048 B.
    // ZeRO 3: 2048 / 2 parameters, plus one layer (128 f32 = 512 B) gathered: 1536 B.
    const [z0, z1, z2, z3] = [0, 1, 2, 3].map((z) => at(z).memory);
    expect(at(0).paramCount).toBe(512);
    expect(at(0).dataParallel).toBe(2);
    expect(z0).toMatchObject({ params: 2048, grads: 2048, optimizer: 4096 });
    expect(z1).toMatchObject({ params: 2048, grads: 2048, optimizer: 2048 });
    expect(z2).toMatchObject({ params: 2048, grads: 1024, optimizer: 2048 });
    expect(z3).toMatchObject({ params: 1536, grads: 1024, optimizer: 2048 });
    // Forward FLOPs of the whole batch (matmul 2·M·N·K; an element-wise op its body's
    // operations per element: relu's max and add's add are one), per layer:
    // x @ w1 2·8·16·4 = 1024, relu 8·16 = 128, @ w2 2·8·4·16 = 1024, add 8·4 = 32: 2208.
    // A step is forward + backward ≈ 3 × forward: 3 · 4 · 2208 = 26496.
    expect(at(0).flopsPerStep).toBe(26496);
  });

  it('activations per device under none, full and selective recompute', () => {
    // What the backward pass reads, per device and layer: the layer's input (dW1 = xᵀ·g; the model's
    // input for Layer.0, the previous add after that) f32[4, 4] = 64 B, x @ w1 (relu's derivative
    // reads its input) and relu (dW2 = reluᵀ·g) f32[4, 16] = 256 B each: 576 B. @ w2 and the add
    // are read by nothing. The model's output, which the loss reads, 64 B outside the layers.
    expect(at(0).activationBytesPerLayer).toEqual({ 'Layer.0': 576, 'Layer.1': 576, 'Layer.2': 576, 'Layer.3': 576, '(outside layers)': 64 });
    // none keeps all of them: 4 · 576 + 64 = 2368 B; peak 2048 + 2048 + 4096 + 2368 = 10560 B.
    expect(at(0, 'none').memory).toMatchObject({ activations: 2368, peak: 10560 });
    // full keeps what crosses a layer boundary (each layer's input, 4 · 64 B, and the output, 64 B) plus one
    // layer's rebuilt values at a time (x @ w1 and relu, 512 B): 832 B; peak 9024 B.
    expect(at(0, 'full').activationBytesPerLayer).toEqual({ 'Layer.0': 64, 'Layer.1': 64, 'Layer.2': 64, 'Layer.3': 64, '(outside layers)': 64 });
    expect(at(0, 'full').memory).toMatchObject({ activations: 832, peak: 9024 });
    // selective drops only the attention core, which this model has none of.
    expect(at(0, 'selective').memory.activations).toBe(2368);
  });

  it('auto keeps within its budget and rebuilds no more than simpler choices', async () => {
    // Whole-model bytes and FLOPs per layer of the candidates (the add leaves its layer):
    // x @ w1 512 B, 1024 FLOPs; relu 512 B, 128 FLOPs; @ w2 128 B, 1024 FLOPs. Kept bytes
    // are 4 × the kept items plus the largest run of dropped items in a layer.
    // none: 4 · 1152 = 4608 B; full: 0 + 1152 B, rebuilding 4 · 2176 = 8704 FLOPs.
    const problem = recomputeProblem(g);
    expect(problem.items.map((it) => [it.bytes, it.flops])).toEqual([
      [512, 1024],
      [512, 128],
      [128, 1024],
    ]);
    const full = await planRecompute(g, 'full');
    expect([full.modelBytes, full.extraFlops]).toEqual([1152, 8704]);
    expect((await planRecompute(g, 'none')).modelBytes).toBe(4608);
    // Budget 3100 B: dropping relu alone keeps 4 · 640 + 512 = 3072 B for 4 · 128 = 512
    // FLOPs; dropping x @ w1 alone fits too but costs 4096; @ w2 alone keeps 4224 B (too
    // much); any two items cost at least 4 · 1152 = 4608. So the optimum drops the four relus.
    const budget = 3100;
    const auto = await planRecompute(g, 'auto', { budget });
    expect(auto.modelBytes).toBeLessThanOrEqual(budget);
    expect([auto.modelBytes, auto.extraFlops, auto.savedBytes]).toEqual([3072, 512, 4 * 512]);
    expect([...auto.dropped].map((v) => g.nodes[g.values[v]!.producer!]!.op)).toEqual(['relu', 'relu', 'relu', 'relu']);
    // A simple alternative: drop the largest items first until the budget is met (here x @ w1: 4096 FLOPs).
    const bySize = problem.items.map(() => false);
    for (const i of problem.items.map((_, k) => k).sort((a, b) => problem.items[b]!.bytes - problem.items[a]!.bytes || a - b)) {
      if (modelBytes(problem, bySize) <= budget) break;
      bySize[i] = true;
    }
    const bySizeFlops = problem.items.reduce((n, it, i) => n + (bySize[i] ? it.flops * problem.layers : 0), 0);
    expect(modelBytes(problem, bySize)).toBeLessThanOrEqual(budget);
    expect(bySizeFlops).toBe(4096);
    expect(auto.extraFlops).toBeLessThanOrEqual(bySizeFlops);
    expect(auto.extraFlops).toBeLessThanOrEqual(full.extraFlops);
  });
});
