/**
 * Sequence parallelism in a training step (compiler/sharding/partition.ts, `forwardNodes`): an
 * activation the forward all-gathers is gathered again for the backward pass, so the forward's
 * gathered copy dies with the forward and what the step keeps is the sequence-split block, as in
 * Megatron-LM (train/memory.ts counts it so; docs/training.md). The step must still equal one
 * device's on the CPU simulator.
 */
import { describe, expect, it } from 'vitest';
import { lower } from '../../compiler/compile.js';
import type { Mesh } from '../../compiler/sharding/mesh.js';
import { partition } from '../../compiler/sharding/partition.js';
import { simulate } from '../../compiler/sharding/simulate.js';
import { trainSettings, type TrainSettings } from '../../compiler/train/settings.js';
import { trainingGraph } from '../../compiler/train/step.js';
import { verifyGraph } from '../../compiler/verify-ir.js';
import { initialParams, referenceTrain } from '../support/train.js';

const SRC = `
mesh M = [tp: 4]
config C { d = 16, heads = 4 }
block Attn(x: f32[B, S, d]) -> f32[B, S@tp, d] {
  param wq: f32[d, d@tp] = normal(0, 0.5)
  param wk: f32[d, d@tp] = normal(0, 0.5)
  param wv: f32[d, d@tp] = normal(0, 0.5)
  param wo: f32[d@tp, d] = normal(0, 0.5)
  return attention(x @ wq, x @ wk, x @ wv, heads = heads, causal = true) @ wo
}
model T(x: f32[B, S@tp, d]) -> f32[B, S@tp, d] where B = 2, S = 8 {
  param g: f32[d] = ones()
  param b: f32[d] = zeros()
  let h = layer_norm(x, g, b, 1e-5)
  return h + Attn(h)
}
train T {
  loss = cross_entropy(output0, labels)
  optimizer = sgd(lr = 0.1)
}
`;

describe('a sequence-split activation is gathered again for the backward pass', () => {
  const mesh: Mesh = { axes: [{ name: 'tp', size: 4 }] };
  const r = lower(SRC, 't.model', { mesh: mesh.axes });
  const settings: TrainSettings = { ...trainSettings(r.env!, r.graph!.name).settings!, microbatches: 1 };
  const tg = trainingGraph(r.graph!, settings, 't.model', { mesh }).result!;
  const p = partition(tg.graph, mesh, { forwardNodes: tg.forwardNodes });

  it("no backward node reads the forward's all-gathered copy; the backward gathers its own", () => {
    expect(r.diagnostics).toEqual([]);
    expect(verifyGraph(p.local, true)).toEqual([]);
    const forward = (node: number) => p.origin[node]! < tg.forwardNodes;
    const gathers = p.local.nodes.filter((n) => n.op === 'all_gather');
    const fwdGathered = new Set(gathers.filter((n) => forward(n.id)).flatMap((n) => n.outputs));
    expect(fwdGathered.size).toBeGreaterThan(0);
    expect(gathers.filter((n) => !forward(n.id)).length).toBeGreaterThan(0);
    const lateReaders = p.local.nodes.filter((n) => !forward(n.id) && n.inputs.some((i) => fwdGathered.has(i)));
    expect(lateReaders.map((n) => n.op)).toEqual([]);
    // Without forwardNodes the backward reuses the forward's gather (the memory this avoids).
    const shared = partition(tg.graph, mesh);
    const sharedGathered = new Set(shared.local.nodes.filter((n) => n.op === 'all_gather' && shared.origin[n.id]! < tg.forwardNodes).flatMap((n) => n.outputs));
    expect(shared.local.nodes.some((n) => shared.origin[n.id]! >= tg.forwardNodes && n.inputs.some((i) => sharedGathered.has(i)))).toBe(true);
  });

  it('two SGD steps equal one device (float64 simulator against the reference)', () => {
    const single = trainingGraph(r.graph!, settings, 't.model').result!;
    let seed = 7;
    const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const batch = () => ({
      x: Array.from({ length: 2 * 8 * 16 }, () => next() * 2 - 1),
      labels: Array.from({ length: 2 * 8 }, () => Math.floor(next() * 16)),
      lr: [0.1],
    });
    const batches = [batch(), batch()];
    const want = initialParams(single.graph, 0);
    referenceTrain(single, want, (t) => batches[t - 1]!, 2);
    const got = initialParams(tg.graph, 0);
    for (const inputs of batches) {
      const out = simulate(p, inputs, (name) => got.get(name)!);
      for (const u of tg.updates) got.set(u.param, Float64Array.from(out[u.output]!.data));
    }
    // Both sides in float64; only the order of the sums differs.
    for (const [name, w] of want) {
      const g = got.get(name)!;
      const scale = Math.max(1e-3, ...w.map(Math.abs));
      expect(Math.max(...w.map((x, i) => Math.abs(x - g[i]!))) / scale, name).toBeLessThan(1e-9);
    }
  });
});
