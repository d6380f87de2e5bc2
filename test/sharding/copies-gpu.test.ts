/**
 * Multi-copy on WebGPU devices: GPT-2 (2 layers, width 64, vocabulary 256) at batch 4 with
 * copies = 2 on a [dp: 2, tp: 2] mesh of 4 devices and on one device gives the float64 CPU
 * reference's logits and, after 3 AdamW steps, its parameters; so does copies = 1 on the
 * mesh, and the two agree with each other. MeshRunner's deferred collectives give the same
 * bits as waiting for each collective.
 */
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { compile } from '../../driver/compile.js';
import { lower } from '../../compiler/compile.js';
import type { Mesh } from '../../compiler/sharding/mesh.js';
import { interpret } from '../../compiler/reference/interpret.js';
import { trainSettings, type TrainSettings } from '../../compiler/train/settings.js';
import { trainingGraph } from '../../compiler/train/step.js';
import { MeshRunner, PlanRunner, randomInput, type Plan } from '../../runtime/index.js';
import { biasCorrections } from '../../runtime/train.js';
import { destroySharedDevices, gpuStatus, sharedDevices } from '../support/gpu.js';
import { initialParams, referenceTrain } from '../support/train.js';

const status = await gpuStatus();
afterAll(destroySharedDevices);

const src = readFileSync('samples/gpt2.model', 'utf8');
const front = { preset: 'tiny', overrides: { d: 64, heads: 4, vocab: 256 }, dims: { B: 4, S: 16 } };
const mesh: Mesh = {
  axes: [
    { name: 'dp', size: 2 },
    { name: 'tp', size: 2 },
  ],
};
const adam: TrainSettings['optimizer'] = { kind: 'adamw', lr: 1e-3, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1, momentum: 0 };
const train = (copies: number): Partial<TrainSettings> => ({ optimizer: adam, zero: 0, microbatches: 1, copies });
const STEPS = 3;
const tokensAt = (t: number, name: string) => randomInput('i32', 4 * 16, t, name, 256) as Int32Array;
const inputsAt = (t: number) => {
  const [bc1, bc2] = biasCorrections(t, 0.9, 0.95);
  return { tokens: tokensAt(t, 'tokens'), labels: tokensAt(t, 'labels'), lr: Float32Array.of(1e-3), bc1: Float32Array.of(bc1), bc2: Float32Array.of(bc2) };
};

async function planFor(copies: number, opts: { mesh?: Mesh; train?: boolean }): Promise<Plan> {
  const r = await compile(src, 'gpt2.model', { ...front, ...(opts.mesh ? { partition: opts.mesh } : {}), ...(opts.train ? { train: train(copies) } : {}) });
  if (!r.plan) throw new Error(r.diagnostics.map((d) => d.message).join('\n'));
  return r.plan;
}

/** The sample with copies = n in its train section, for forward compiles (which read it from there). */
async function forwardPlan(copies: number, m?: Mesh): Promise<Plan> {
  const s = src.replace(/(train GPT2 \{\n)/, `$1  copies = ${copies}\n`);
  const r = await compile(s, 'gpt2.model', { ...front, ...(m ? { partition: m } : {}) });
  if (!r.plan) throw new Error(r.diagnostics.map((d) => d.message).join('\n'));
  return r.plan;
}

/** max |a − b| over max(|b|, floor): the error relative to the tensor's scale. */
function relErr(a: ArrayLike<number>, b: ArrayLike<number>, floor: number): number {
  let scale = floor;
  let diff = 0;
  for (let i = 0; i < b.length; i++) {
    scale = Math.max(scale, Math.abs(b[i]!));
    diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
  }
  return diff / scale;
}

describe.skipIf(status.skip)(status.title('multi-copy on WebGPU devices'), () => {
  it('forward: copies = 2 on [dp: 2, tp: 2] and on one device give the CPU reference’s logits, bit-identical with collectives deferred or awaited', async () => {
    const graph = lower(src, 'gpt2.model', front).graph!;
    const tokens = tokensAt(1, 'tokens');
    const params = initialParams(graph, 0);
    const want = interpret(graph, { tokens }, (n) => params.get(n)!)['logits']!.data;
    const devices = await sharedDevices(4);
    const got: Record<string, Float32Array> = {};
    for (const copies of [1, 2]) {
      const runner = await MeshRunner.create(devices, await forwardPlan(copies, mesh), { seed: 0 });
      await runner.run({ tokens }); // the first run waits for each collective (and warms the shader cache)
      runner.deferCollectives = false;
      const eager = (await runner.run({ tokens }))['logits']!.data as Float32Array;
      runner.deferCollectives = true;
      const deferred = (await runner.run({ tokens }))['logits']!.data as Float32Array;
      runner.destroy();
      // Same kernels, same inputs, same host sums: deferring changes when, not what.
      expect(Buffer.from(deferred.buffer).equals(Buffer.from(eager.buffer)), `copies = ${copies}: deferred ≠ eager`).toBe(true);
      got[`mesh ${copies}`] = deferred;
    }
    const one = await PlanRunner.create(devices[0]!, await forwardPlan(2), { seed: 0 });
    got['one device 2'] = (await one.run({ tokens }))['logits']!.data as Float32Array;
    one.destroy();
    // f32 kernels against float64: logits of scale ~0.1 agree to ~1e-6 relative; 1e-4 leaves room for f32 sums over 64–256 terms.
    for (const [label, g] of Object.entries(got)) expect(relErr(g, want, 1e-3), label).toBeLessThan(1e-4);
    expect(relErr(got['mesh 2']!, got['mesh 1']!, 1e-3)).toBeLessThan(1e-5);
  });

  it('deferred collectives give the bits of awaited ones on a model with every kind of collective and arena reuse', async () => {
    // As in test/sharding/mesh-gpu.test.ts, on [dp: 2, tp: 2]: a reduce_scatter (Rows), an all_to_all (Cols), a partial_mask
    // (Pending), all_reduce, all_gather (softmax over the batch) and shard_slice (the output's B@dp).
    const coll = `
mesh M = [dp: 2, tp: 2]
config C { d = 8, e = 4 }
block Rows(x: f32[B, S@tp, d]) -> f32[B, S@tp, d] {
  return x * 2.0
}
block Cols(x: f32[B, S, d@tp]) -> f32[B, S, d@tp] {
  return x + 1.0
}
block Pending(x: f32[B, S, e] partial(tp)) -> f32[B, S, e] partial(tp) {
  return x * 3.0
}
model Coll(x: f32[B@dp, S, d]) -> f32[B@dp, S, e] where B = 2, S = 8 {
  param w1: f32[d, d@tp] = normal(0, 0.5)
  param w2: f32[d@tp, d] = normal(0, 0.5)
  param w3: f32[d, e] = normal(0, 0.5)
  let h = Rows(gelu(x @ w1) @ w2)
  let c = Cols(gelu(h))
  let y = softmax(c, axis = 1) @ w3
  return Pending(exp(y)) + softmax(y, axis = 0)
}
`;
    const r = await compile(coll, 'coll.model', { partition: mesh });
    if (!r.plan) throw new Error(r.diagnostics.map((d) => d.message).join('\n'));
    const ops = new Set(r.plan.steps.flatMap((s) => (s.kind === 'collective' ? [s.op] : [])));
    expect([...ops].sort()).toEqual(['all_gather', 'all_reduce', 'all_to_all', 'partial_mask', 'reduce_scatter', 'shard_slice']);
    expect(r.plan.arenas?.length).toBeGreaterThan(0);
    const x = randomInput('f32', 2 * 8 * 8, 5, 'x');
    const runner = await MeshRunner.create(await sharedDevices(4), r.plan, { seed: 0 });
    await runner.run({ x });
    runner.deferCollectives = false;
    const eager = (await runner.run({ x }))['output0']!.data as Float32Array;
    runner.deferCollectives = true;
    const deferred = (await runner.run({ x }))['output0']!.data as Float32Array;
    runner.destroy();
    expect(Buffer.from(deferred.buffer).equals(Buffer.from(eager.buffer))).toBe(true);
  });

  it('training: parameters after 3 AdamW steps with copies = 2 (4 devices, and 1 device) equal copies = 1 and the CPU reference', async () => {
    const r = lower(src, 'gpt2.model', front);
    const settings: TrainSettings = { ...trainSettings(r.env!, r.graph!.name).settings!, ...train(1) };
    const single = trainingGraph(r.graph!, settings, 'gpt2.model').result!;
    const cpu = initialParams(single.graph, 0);
    referenceTrain(single, cpu, inputsAt, STEPS);

    const devices = await sharedDevices(4);
    const runs: Record<string, Record<string, { data: ArrayLike<number> }>> = {};
    for (const [label, copies, m] of [
      ['4 devices, copies 1', 1, mesh],
      ['4 devices, copies 2', 2, mesh],
      ['1 device, copies 2', 2, undefined],
    ] as const) {
      const plan = await planFor(copies, { train: true, ...(m ? { mesh: m } : {}) });
      const runner = m ? await MeshRunner.create(devices, plan, { seed: 0 }) : await PlanRunner.create(devices[0]!, plan, { seed: 0 });
      let out: Record<string, { data: ArrayLike<number> }> = {};
      for (let t = 1; t <= STEPS; t++) out = await runner.run(inputsAt(t), t === STEPS ? undefined : ['loss']);
      runner.destroy();
      runs[label] = out;
    }
    // Tolerance as in test/train/sharded-gpu.test.ts: 1e-3 of the tensor's scale (f32 gradients through Adam's m/√v); a lost update or a wrong row moves parameters by O(lr).
    for (const name of single.params) {
      for (const [label, out] of Object.entries(runs)) expect(relErr(out[`new.${name}`]!.data, cpu.get(name)!, 0.02), `${name} (${label})`).toBeLessThan(1e-3);
      expect(relErr(runs['4 devices, copies 2']![`new.${name}`]!.data, runs['4 devices, copies 1']![`new.${name}`]!.data, 0.02), name).toBeLessThan(1e-3);
    }
  });
});
