/**
 * Training dropout through the runtime's Trainer on WebGPU: PlanRunner and MeshRunner get
 * the step's dropout counter as an input, (t − 1)·microbatches + i. A run resumed from
 * its parameters and optimizer state gives the losses of an uninterrupted one bit for
 * bit; the losses follow the CPU reference's (so the kernel's masks are the reference's at
 * every counter); two devices splitting the batch give the losses of one.
 *
 * Tolerances: f32 on the device against float64 over 4 AdamW steps of a one-layer model:
 * losses agreed within 6e-8 relative when written; 2e-6 is the bar. A kernel that drew
 * every step at counter 0 was 1.9e-4 off at step 1 (near initialisation, where the
 * residual branches it drops are small), and more later.
 */
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { lower } from '../../compiler/compile.js';
import type { Mesh } from '../../compiler/sharding/mesh.js';
import { partition } from '../../compiler/sharding/partition.js';
import { interpret } from '../../compiler/reference/interpret.js';
import { trainSettings, type TrainSettings } from '../../compiler/train/settings.js';
import { trainingGraph } from '../../compiler/train/step.js';
import { planOf, spmdPlanOf } from '../../driver/stages.js';
import { MeshRunner, PlanRunner, type HostArray, type Tensor } from '../../runtime/index.js';
import { TextBatches, Trainer } from '../../runtime/train.js';
import { destroySharedDevices, gpuStatus, sharedDevices } from '../support/gpu.js';
import { initialParams } from '../support/train.js';
import { trainingText } from '../support/corpus.js';

const status = await gpuStatus();
afterAll(destroySharedDevices);

const gpt2 = readFileSync('samples/gpt2.model', 'utf8');
const attn = 'let h = x + Attention(layer_norm(x, ln1_g, ln1_b, eps))';
const mlp = 'return h + Mlp(layer_norm(h, ln2_g, ln2_b, eps))';
const src = gpt2
  .replace(attn, 'let h = x + dropout(Attention(layer_norm(x, ln1_g, ln1_b, eps)), 0.1)')
  .replace(mlp, 'return h + dropout(Mlp(layer_norm(h, ln2_g, ln2_b, eps)), 0.1)');

const B = 4;
const S = 8;
const M = 2;
const STEPS = 4;
const data = new TextBatches(trainingText(), B, S, 4);
const schedule = { lr: 3e-3, warmup: 1, steps: STEPS };
const adam: TrainSettings['optimizer'] = { kind: 'adamw', lr: 3e-3, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1, momentum: 0 };
const mesh: Mesh = {
  axes: [
    { name: 'dp', size: 2 },
    { name: 'tp', size: 1 },
  ],
};

describe.skipIf(status.skip)(status.title('training dropout through Trainer on WebGPU'), () => {
  it('a resumed run repeats the losses bit for bit; the losses are the CPU reference’s; [dp: 2] trains as one device', async () => {
    expect(src.match(/dropout\(/g)).toHaveLength(2);
    const r = lower(src, 'gpt2.model', { preset: 'tiny', overrides: { d: 32, heads: 2, layers: 1, vocab: 256 }, dims: { B: B / M, S }, training: true });
    expect(r.diagnostics).toEqual([]);
    const settings: TrainSettings = { ...trainSettings(r.env!, r.graph!.name).settings!, optimizer: adam, microbatches: M };
    const tg = trainingGraph(r.graph!, settings, 'gpt2.model').result!;
    const plan = planOf(tg.graph, { seed: 0, updates: tg.updates });
    expect(plan.inputs.map((i) => i.name)).toContain('dropout_step');
    const trainer = (runner: PlanRunner | MeshRunner) => new Trainer(runner, data, schedule, [0.9, 0.95], 'tokens', undefined, M);
    const devices = await sharedDevices(2);

    // Uninterrupted: 4 steps.
    const whole = await PlanRunner.create(devices[0]!, plan);
    const losses: number[] = [];
    try {
      for (let t = 1; t <= STEPS; t++) losses.push((await trainer(whole).step(t)).loss);
    } finally {
      whole.destroy();
    }
    // Interrupted after step 2, resumed on a new runner from every parameter (optimizer state included).
    const first = await PlanRunner.create(devices[0]!, plan);
    let saved: Map<string, Float32Array>;
    try {
      for (let t = 1; t <= 2; t++) expect((await trainer(first).step(t)).loss).toBe(losses[t - 1]);
      saved = await first.readParams();
    } finally {
      first.destroy();
    }
    const resumed = await PlanRunner.create(devices[0]!, plan, { params: saved });
    try {
      for (let t = 3; t <= STEPS; t++) expect(Object.is((await trainer(resumed).step(t)).loss, losses[t - 1]), `step ${t}`).toBe(true);
    } finally {
      resumed.destroy();
    }

    // The CPU reference, driven by the same Trainer (counters included).
    const params = initialParams(tg.graph, 0);
    const reference = {
      plan,
      run: (inputs: Readonly<Record<string, HostArray>>): Promise<Record<string, Tensor>> => {
        const out = interpret(tg.graph, inputs, (n) => params.get(n)!);
        for (const u of tg.updates) params.set(u.param, Float64Array.from(out[u.output]!.data));
        return Promise.resolve(out as unknown as Record<string, Tensor>);
      },
    };
    const cpu = new Trainer(reference, data, schedule, [0.9, 0.95], 'tokens', undefined, M);
    for (let t = 1; t <= STEPS; t++) {
      const l = (await cpu.step(t)).loss;
      expect(Math.abs(losses[t - 1]! - l) / l, `step ${t}: ${losses[t - 1]} on the device, ${l} on the CPU`).toBeLessThan(2e-6);
    }
    expect(new Set(losses).size).toBe(STEPS);

    // Two devices, each half of every micro-batch: MeshRunner takes the counter as an input too.
    const sharded = trainingGraph(r.graph!, settings, 'gpt2.model', { mesh }).result!;
    const meshRunner = await MeshRunner.create(devices, spmdPlanOf(partition(sharded.graph, mesh), { seed: 0, updates: sharded.updates }));
    try {
      for (let t = 1; t <= 2; t++) {
        const l = (await trainer(meshRunner).step(t)).loss;
        expect(Math.abs(l - losses[t - 1]!) / losses[t - 1]!, `step ${t} on [dp: 2]`).toBeLessThan(1e-5);
      }
    } finally {
      meshRunner.destroy();
    }
  }, 600_000);
});
