/**
 * Training dropout on several WebGPU devices: each device draws its block of the mask
 * from the global indices of its elements (the runner fills the plan's `coords` buffer
 * with the device's mesh coordinates), so the sharded masks equal the single-device
 * run's and the CPU reference's bit for bit, with no collective in between.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { spmdPlanOf } from '../../driver/stages.js';
import type { Mesh } from '../../compiler/sharding/mesh.js';
import { partition } from '../../compiler/sharding/partition.js';
import { withDropoutStep } from '../../compiler/train/dropout-step.js';
import { MeshRunner, PLAN_VERSION_COORDS, type Tensor } from '../../runtime/index.js';
import { compileOrThrow, destroySharedDevices, gpuStatus, runGraphBoth, sharedDevices } from '../support/gpu.js';

const status = await gpuStatus();
afterAll(destroySharedDevices);

/**
 * Dropout of all-ones inputs, so that each output is its mask times 1/(1 − p): a block
 * split on two dims (`a`), a dim split over both axes, tp major (`s`), a whole tensor on
 * every device (`r`: no coordinates needed), and one after a column-parallel matmul
 * (`h`, split on the features).
 */
const MASKS = `
mesh M = [dp: 2, tp: 2]
config C { d = 8, f = 12 }
model Masks(x: f32[B@dp, S, d@tp], y: f32[B, S@(tp,dp), d], z: f32[B, S, d]) -> (f32[B@dp, S, d@tp], f32[B, S@(tp,dp), d], f32[B, S, d], f32[B, S, f@tp])
    where B = 4, S = 8 {
  param w: f32[d, f@tp] = normal(0, 0.5)
  let a = dropout(x, 0.5, seed = 7)
  let s = dropout(y, 0.3, seed = 1)
  let r = dropout(z, 0.25)
  let h = dropout(z @ w, 0.5, seed = 3)
  return a, s, r, h
}`;

const mesh: Mesh = {
  axes: [
    { name: 'dp', size: 2 },
    { name: 'tp', size: 2 },
  ],
};

describe.skipIf(status.skip)(status.title('training dropout on 4 WebGPU devices'), () => {
  it('draws the single-device masks bit for bit on [dp: 2, tp: 2] at each step counter, with no collective step', async () => {
    // As the training step has them: each dropout reads the step's counter (compiler/train/dropout-step.ts).
    const graph = withDropoutStep(compileOrThrow(MASKS, { training: true }));
    const ones = new Float32Array(4 * 8 * 8).fill(1);
    // The single-device WebGPU run and the CPU reference, on the unpartitioned graph, at two
    // counters (the second past 2^31 as u32: the kernel reads the i32 bits as unsigned).
    const counters = [3, -5];
    const runs = [];
    for (const c of counters) runs.push(await runGraphBoth(graph, { inputs: { x: ones, y: ones, z: ones, dropout_step: Int32Array.of(c) } }));
    const plan = spmdPlanOf(partition(graph, mesh), { seed: runs[0]!.plan.seed });
    expect(plan.steps.filter((s) => s.kind === 'collective')).toEqual([]);
    // The dropouts whose blocks are split read the device's coordinates; the plan says it needs a runtime that fills them.
    expect(plan.buffers.filter((b) => b.role === 'coords').map((b) => ({ name: b.name, shape: b.shape }))).toEqual([{ name: 'mesh_coords', shape: [2] }]);
    expect(plan.version).toBe(PLAN_VERSION_COORDS);
    const runner = await MeshRunner.create(await sharedDevices(4), plan);
    const results = [];
    try {
      for (const both of runs) results.push(await runner.run(both.inputs));
    } finally {
      runner.destroy();
    }
    for (const [k, both] of runs.entries()) checkRun(both, results[k]!);
    // The two counters' masks differ in every output.
    for (const name of ['a', 's', 'r', 'h']) {
      const zeros = runs.map((r) => Array.from(r.cpu[name]!.data, (v) => v === 0));
      expect(zeros[1], name).not.toEqual(zeros[0]);
    }
  });
});

/** The sharded run equals the single-device run and the CPU reference: masks bit for bit. */
function checkRun(both: Awaited<ReturnType<typeof runGraphBoth>>, sharded: Record<string, Tensor>) {
  for (const name of ['a', 's', 'r']) {
    const cpu = Array.from(both.cpu[name]!.data);
    // Every output is 0 or exactly f32(1 / (1 − p)) on all three sides.
    expect(Array.from(sharded[name]!.data), name).toEqual(cpu);
    expect(Array.from(both.gpu[name]!.data), name).toEqual(cpu);
    const kept = cpu.filter((v) => v !== 0).length;
    // A mask that keeps everything or nothing would make the comparison empty.
    expect(kept, name).toBeGreaterThan(0);
    expect(kept, name).toBeLessThan(cpu.length);
  }
  // After a matmul the values differ in float rounding (f32 sums of 8 terms against
  // float64: ~1e-7 relative); the masks (which elements are zero) must not differ at all.
  const zeros = (a: ArrayLike<number>) => Array.from(a, (v) => v === 0);
  const h = both.cpu['h']!.data;
  expect(zeros(sharded['h']!.data)).toEqual(zeros(h));
  expect(zeros(both.gpu['h']!.data)).toEqual(zeros(h));
  for (let i = 0; i < h.length; i++) expect(Math.abs(sharded['h']!.data[i]! - h[i]!)).toBeLessThan(1e-5 * Math.max(1, Math.abs(h[i]!)));
}
