/**
 * Vocabulary-parallel embedding on 4 WebGPU devices: a table split over its rows is looked
 * up block by block (the kernel's `start` input) and the hidden states all-reduced; its
 * gradient is added into each device's block. The forward pass and 3 SGD steps equal one
 * WebGPU device and the float64 CPU reference.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { lower } from '../../compiler/compile.js';
import type { Mesh } from '../../compiler/sharding/mesh.js';
import { partition } from '../../compiler/sharding/partition.js';
import { trainSettings, type TrainSettings } from '../../compiler/train/settings.js';
import { trainingGraph } from '../../compiler/train/step.js';
import { interpret } from '../../compiler/reference/interpret.js';
import { planOf, spmdPlanOf } from '../../driver/stages.js';
import { MeshRunner, PlanRunner, type PlanCollectiveStep } from '../../runtime/index.js';
import { destroySharedDevices, errorStats, gpuStatus, sharedDevices } from '../support/gpu.js';
import { initialParams, referenceTrain } from '../support/train.js';

const status = await gpuStatus();
afterAll(destroySharedDevices);

const EMB = `
mesh M = [tp: 4]
model E(ids: i32[B, S]) -> f32[B, S, 16] where B = 2, S = 8 {
  param wte: f32[64@tp, 16] = normal(0, 1)
  return embedding(wte, ids)
}
train E {
  loss = cross_entropy(output0, labels)
  optimizer = sgd(lr = 0.5)
}
`;
const mesh: Mesh = { axes: [{ name: 'tp', size: 4 }] };

function stream(seed: number) {
  let s = seed;
  return () => (s = (s * 1103515245 + 12345) % 2147483648) / 2147483648;
}
const next = stream(11);
// Ids from every block of the table (16 rows each), labels for the 16-way loss.
const batches = [1, 2, 3].map(() => ({
  ids: Int32Array.from({ length: 16 }, () => Math.floor(next() * 64)),
  labels: Int32Array.from({ length: 16 }, () => Math.floor(next() * 16)),
  lr: Float32Array.of(0.5),
}));

describe.skipIf(status.skip)(status.title('vocabulary-parallel embedding on WebGPU devices'), () => {
  it('forward and 3 SGD steps on [tp: 4] equal 1 device and the CPU reference (relative error < 1e-5)', async () => {
    const r = lower(EMB, 'e.model', { mesh: mesh.axes });
    const g = r.graph!;
    const devices = await sharedDevices(4);

    // Forward: one all-reduce, no gather of the table.
    const fwd = spmdPlanOf(partition(g, mesh), { seed: 0 });
    expect(fwd.steps.filter((s): s is PlanCollectiveStep => s.kind === 'collective' && s.op !== 'shard_slice').map((s) => s.op)).toEqual(['all_reduce']);
    const params = initialParams(g, 0);
    const cpu = interpret(g, { ids: batches[0]!.ids }, (name) => params.get(name)!);
    const meshRun = await MeshRunner.create(devices, fwd);
    const got = (await meshRun.run({ ids: batches[0]!.ids }))['output0']!;
    meshRun.destroy();
    // A gather: each row is one table row on one device plus exact zeros from the others.
    expect(errorStats(got.data, cpu['output0']!.data).rel).toBeLessThan(1e-6);

    // Training: the table gradient stays in each device's block.
    const settings: TrainSettings = { ...trainSettings(r.env!, g.name).settings!, microbatches: 1 };
    const single = trainingGraph(g, settings, 'e.model').result!;
    const sharded = trainingGraph(g, settings, 'e.model', { mesh }).result!;
    const want = initialParams(single.graph, 0);
    const wantLoss = referenceTrain(single, want, (t) => batches[t - 1]!, 3);

    const one = await PlanRunner.create(devices[0]!, planOf(single.graph, { seed: 0, updates: single.updates }));
    let oneOut: Record<string, { data: ArrayLike<number> }> = {};
    for (const b of batches) oneOut = await one.run(b);
    one.destroy();

    const plan = spmdPlanOf(partition(sharded.graph, mesh), { seed: 0, updates: sharded.updates });
    const runner = await MeshRunner.create(devices, plan);
    let out: Record<string, { data: ArrayLike<number> }> = {};
    const losses: number[] = [];
    for (const b of batches) {
      out = await runner.run(b);
      losses.push(out['loss']!.data[0]!);
    }
    runner.destroy();
    // f32 softmax over 16 classes against float64: about 1e-7; 1e-5 leaves room for the host's f32 sums.
    losses.forEach((l, i) => expect(Math.abs(l - wantLoss[i]!)).toBeLessThan(1e-5));
    // The last step's new.wte is the table after 3 updates.
    const table = want.get('wte')!;
    expect(errorStats(out['new.wte']!.data, table).rel).toBeLessThan(1e-5);
    expect(errorStats(oneOut['new.wte']!.data, table).rel).toBeLessThan(1e-5);
  });
});
