import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { planOf, spmdPlanOf } from '../../driver/stages.js';
import { lower } from '../../compiler/compile.js';
import type { Mesh } from '../../compiler/sharding/mesh.js';
import { partition } from '../../compiler/sharding/partition.js';
import { trainSettings, type TrainSettings } from '../../compiler/train/settings.js';
import { trainingGraph } from '../../compiler/train/step.js';
import { MeshRunner, PlanRunner } from '../../runtime/index.js';
import { biasCorrections, lrAt, TextBatches } from '../../runtime/train.js';
import { destroySharedDevices, gpuStatus, sharedDevices } from '../support/gpu.js';
import { initialParams, referenceTrain } from '../support/train.js';

/**
 * Sharded training on 8 WebGPU devices ([dp: 2, tp: 4], ZeRO 1): five AdamW steps with
 * parameters and optimizer state resident on each device (updates copied block onto
 * block) end with the same parameters as one WebGPU device and as the float64 CPU
 * reference. Tolerance: max |difference| ≤ 1e-3 × the tensor's largest entry. f32 rounding
 * in the gradients (~1e-6 relative) passes through Adam's m/√v, which is amplified for
 * entries whose gradient is near zero (a gradient of 1e-10 against eps = 1e-8 moves a
 * parameter by ~lr/100); over 5 steps at lr 1e-3 that stays under 1e-4 of a weight of
 * scale ~0.1, while a wrong layout or a lost update moves parameters by O(lr) = 1e-3 or more.
 */
const status = await gpuStatus();
afterAll(destroySharedDevices);

const src = readFileSync('samples/gpt2.model', 'utf8');
const mesh: Mesh = {
  axes: [
    { name: 'dp', size: 2 },
    { name: 'tp', size: 4 },
  ],
};
const data = new TextBatches(new TextEncoder().encode(readFileSync('/usr/share/common-licenses/GPL-3', 'utf8')), 2, 16, 5);
const adam: TrainSettings['optimizer'] = { kind: 'adamw', lr: 1e-3, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1, momentum: 0 };
const STEPS = 5;
const inputsAt = (t: number) => {
  const { tokens, labels } = data.at(t);
  const [bc1, bc2] = biasCorrections(t, 0.9, 0.95);
  return { tokens, labels, lr: Float32Array.of(lrAt(t, { lr: 1e-3, warmup: 2, steps: STEPS })), bc1: Float32Array.of(bc1), bc2: Float32Array.of(bc2) };
};

describe.skipIf(status.skip)(status.title('sharded training on WebGPU devices'), () => {
  it('GPT-2 (2 layers, width 64) on [dp: 2, tp: 4] with ZeRO 1: 5 steps on 8 devices equal 1 device and the CPU reference', async () => {
    const r = lower(src, 'gpt2.model', { preset: 'tiny', overrides: { d: 64, heads: 4, vocab: 256 }, dims: { B: 2, S: 16 } });
    const settings: TrainSettings = { ...trainSettings(r.env!, r.graph!.name).settings!, optimizer: adam, zero: 1, microbatches: 1 };
    const single = trainingGraph(r.graph!, settings, 'gpt2.model').result!;
    const sharded = trainingGraph(r.graph!, settings, 'gpt2.model', { mesh, zero: 1 }).result!;

    // CPU reference (float64, one device).
    const cpu = initialParams(single.graph, 0);
    const cpuLosses = referenceTrain(single, cpu, inputsAt, STEPS);

    // One WebGPU device.
    const devices = await sharedDevices(8);
    const one = await PlanRunner.create(devices[0]!, planOf(single.graph, { seed: 0, updates: single.updates }));
    let oneOut: Record<string, { data: ArrayLike<number> }> = {};
    const oneLosses: number[] = [];
    for (let t = 1; t <= STEPS; t++) {
      oneOut = await one.run(inputsAt(t), t === STEPS ? undefined : ['loss']);
      oneLosses.push(oneOut['loss']!.data[0]!);
    }
    one.destroy();

    // Eight WebGPU devices.
    const plan = spmdPlanOf(partition(sharded.graph, mesh), { seed: 0, updates: sharded.updates });
    expect(plan.updates!.length).toBe(sharded.updates.length);
    const runner = await MeshRunner.create(devices, plan);
    let out: Record<string, { data: ArrayLike<number> }> = {};
    const losses: number[] = [];
    for (let t = 1; t <= STEPS; t++) {
      out = await runner.run(inputsAt(t), t === STEPS ? undefined : ['loss']);
      losses.push(out['loss']!.data[0]!);
    }
    runner.destroy();

    losses.forEach((l, i) => {
      expect(Math.abs(l - cpuLosses[i]!)).toBeLessThan(1e-4);
      expect(Math.abs(l - oneLosses[i]!)).toBeLessThan(1e-4);
    });
    // The last step's `new.<param>` outputs are the parameters after 5 updates.
    for (const name of single.params) {
      const want = cpu.get(name)!;
      for (const [label, got] of [
        ['8 devices', out[`new.${name}`]!.data],
        ['1 device', oneOut[`new.${name}`]!.data],
      ] as const) {
        let scale = 0.02;
        let diff = 0;
        for (let i = 0; i < want.length; i++) {
          scale = Math.max(scale, Math.abs(want[i]!));
          diff = Math.max(diff, Math.abs(want[i]! - got[i]!));
        }
        expect(diff / scale, `${name} (${label})`).toBeLessThan(1e-3);
      }
    }
  });
});
