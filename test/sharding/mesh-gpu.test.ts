/**
 * Partitioned programs on several WebGPU devices (one set per file, all from this
 * machine's adapter): sharded runs must equal the float64 CPU oracle on the unsharded
 * graph and the single-device WebGPU run.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { spmdPlanOf } from '../../driver/stages.js';
import { lower } from '../../compiler/compile.js';
import type { Mesh } from '../../compiler/sharding/mesh.js';
import { partition } from '../../compiler/sharding/partition.js';
import { MeshRunner, PlanRunner, type Plan, type PlanCollectiveStep } from '../../runtime/index.js';
import { build, modelArb } from '../support/random-models.js';
import { compareOutputs, compileOrThrow, destroySharedDevices, errorStats, gpuStatus, runGraphBoth, sharedDevices, type BothResult } from '../support/gpu.js';

const status = await gpuStatus();
// One device set for the whole file (an adapter serves one device; Dawn cannot re-request it).
afterAll(destroySharedDevices);
const gpt2 = readFileSync('samples/gpt2.model', 'utf8');

/**
 * Block argument and return layouts that force every kind of collective: Rows wants the
 * sequence split (a reduce_scatter of the row-parallel matmul's pending sum), Cols wants
 * the features split (an all_to_all), and Pending takes a pending sum (partial_mask), which
 * the output must then sum (all_reduce). A softmax over the batch gathers dp (all_gather),
 * and the output's B@dp slices it again (shard_slice). (Signatures keep the splits they do
 * not name, so Rows no longer gathers the batch.)
 */
const COLLECTIVES = `
mesh M = [dp: 2, tp: 4]
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

const meshOf = (spec: Record<string, number>): Mesh => ({ axes: Object.entries(spec).map(([name, size]) => ({ name, size })) });
const collectiveOps = (plan: Plan) => plan.steps.filter((s): s is PlanCollectiveStep => s.kind === 'collective').map((s) => s.op);

/** Runs the single-device reference (WebGPU and CPU, via runGraphBoth) and the partitioned plan on the mesh's devices. */
async function runSharded(both: BothResult, mesh: Mesh) {
  const plan = spmdPlanOf(partition(both.graph, mesh), { seed: both.plan.seed });
  const devices = await sharedDevices(plan.mesh!.devices);
  // No params given: the runner initialises them whole from the plan's seed and slices them.
  const runner = await MeshRunner.create(devices, plan);
  try {
    return { plan, outputs: await runner.run(both.inputs) };
  } finally {
    runner.destroy();
  }
}

describe.skipIf(status.skip)(status.title('partitioned programs on several WebGPU devices'), () => {
  // Seeds 0 so that `mdc run` (seed 0 for parameters and inputs) sees the same values.
  let gptBoth: BothResult | undefined;

  it('GPT-2 tiny on [dp: 2, tp: 4] runs on 8 devices and equals the CPU oracle and the 1-device run, relative error < 1e-4', async () => {
    const graph = compileOrThrow(gpt2, { preset: 'tiny' });
    gptBoth = await runGraphBoth(graph, { seed: 0, inputSeed: 0 });
    const { plan, outputs } = await runSharded(gptBoth, meshOf({ dp: 2, tp: 4 }));
    expect(plan.mesh!.devices).toBe(8);
    // Megatron: one all-reduce over tp after each row-parallel matmul, two per layer.
    expect(collectiveOps(plan)).toEqual(['all_reduce', 'all_reduce', 'all_reduce', 'all_reduce']);
    const wq = plan.buffers.find((b) => b.name === 'Layer.0.Attention.wq')!;
    expect({ local: wq.shape, global: wq.global!.shape }).toEqual({ local: [128, 32], global: [128, 128] });

    // f32 kernels and host-side f32 sums against the float64 oracle: the same bar as the
    // single-device samples (test/e2e); measured about 5e-7. Against the single-device
    // run only the summation order of the split contractions differs (measured about 6e-7).
    const logits = outputs['logits']!;
    expect(logits.shape).toEqual([2, 64, 1024]);
    expect(compareOutputs(gptBoth)['logits']!.rel).toBeLessThan(1e-4);
    const vsCpu = errorStats(logits.data, gptBoth.cpu['logits']!.data);
    const vsGpu = errorStats(logits.data, gptBoth.gpu['logits']!.data);
    expect(vsCpu.nonFiniteMismatches).toBe(0);
    expect(vsCpu.rel).toBeLessThan(1e-4);
    expect(vsGpu.rel).toBeLessThan(1e-4);
  });

  it.each([
    ['[dp: 2, tp: 4]', { dp: 2, tp: 4 }],
    // tp major, and an axis nothing is split over: groups that are not contiguous device ids, replicas.
    ['[tp: 2, dp: 2, x: 2]', { tp: 2, dp: 2, x: 2 }],
  ])('every collective kind on %s equals the CPU oracle, relative error < 1e-4', async (_name, spec) => {
    const mesh = meshOf(spec);
    const graph = compileOrThrow(COLLECTIVES, { mesh: mesh.axes });
    const both = await runGraphBoth(graph);
    const { plan, outputs } = await runSharded(both, mesh);
    const ops = new Set(collectiveOps(plan));
    for (const op of ['all_gather', 'reduce_scatter', 'all_to_all', 'shard_slice', 'all_reduce', 'partial_mask']) expect(ops, op).toContain(op);
    // Tiny sums (8 terms) and one softmax: the f32 error is about 1e-7; 1e-4 as elsewhere.
    const e = errorStats(outputs['output0']!.data, both.cpu['output0']!.data);
    expect(e.nonFiniteMismatches).toBe(0);
    expect(e.rel).toBeLessThan(1e-4);
    expect(errorStats(outputs['output0']!.data, both.gpu['output0']!.data).rel).toBeLessThan(1e-4);
  });

  it('refuses a partitioned plan on the wrong number of devices, and PlanRunner refuses it', async () => {
    const mesh = meshOf({ dp: 2, tp: 4 });
    const plan = spmdPlanOf(partition(compileOrThrow(COLLECTIVES), mesh));
    const devices = await sharedDevices(8);
    await expect(MeshRunner.create(devices.slice(0, 4), plan)).rejects.toThrow("plan 'Coll' is partitioned over 8 devices (dp=2,tp=4), but 4 were given");
    await expect(PlanRunner.create(devices[0]!, plan)).rejects.toThrow("plan 'Coll' is partitioned over 8 devices; run it with MeshRunner");
  });

  it('mdc run --mesh dp=2,tp=4 runs GPT-2 tiny on 8 devices; its checksum matches the CPU oracle', () => {
    expect(gptBoth, 'the GPT-2 test runs first').toBeDefined();
    const p = spawnSync(process.execPath, ['--import', 'tsx', 'cli/bin.ts', 'run', 'samples/gpt2.model', '--preset', 'tiny', '--mesh', 'dp=2,tp=4', '--json'], {
      encoding: 'utf8',
      timeout: 120_000,
    });
    expect(p.status, p.stderr).toBe(0);
    const out = JSON.parse(p.stdout) as {
      devices: number;
      mesh: Record<string, number>;
      outputs: { name: string; type: string; sum: number; first: number[] }[];
    };
    expect(out.devices).toBe(8);
    expect(out.mesh).toEqual({ dp: 2, tp: 4 });
    expect(out.outputs[0]!.type).toBe('f32[2, 64, 1024]');
    // |Σ(gpu − cpu)| ≤ √n ‖gpu − cpu‖₂, and the relative L2 error is < 1e-4.
    const cpu = gptBoth!.cpu['logits']!.data;
    let sum = 0;
    let sq = 0;
    for (const x of cpu) {
      sum += x;
      sq += x * x;
    }
    expect(Math.abs(out.outputs[0]!.sum - sum)).toBeLessThan(Math.sqrt(cpu.length) * 1e-4 * Math.sqrt(sq));
    out.outputs[0]!.first.forEach((x, i) => expect(x).toBeCloseTo(cpu[i]!, 4));
  });
});

describe.skipIf(status.skip)(status.title('random sharded models on WebGPU devices'), () => {
  // A subset of the CPU property test's random models (same generator, fixed seed) run on
  // real WebGPU devices: the partitioned plan must equal the one-device CPU oracle.
  // Models whose blocks ask one value for two layouts get a diagnostic (MDC0405), not a plan: left out.
  const cases = fc
    .sample(modelArb, { seed: 7, numRuns: 12 })
    .map(({ sizes, body, picks, d }) => {
      const src = build(sizes, body, picks, d);
      const mesh = meshOf(Object.fromEntries(sizes.map((s, i) => [`a${i}`, s])));
      return { src, mesh, lowered: lower(src, 'random.model', { mesh: mesh.axes }) };
    })
    .filter((c) => !c.lowered.diagnostics.some((x) => x.code === 'MDC0405'));
  it('keeps most of the sampled models', () => expect(cases.length).toBeGreaterThanOrEqual(8));
  it.each(cases.map((c, i) => [i, c.mesh.axes.map((a) => `${a.name}: ${a.size}`).join(', '), c] as const))(
    'random model %i on [%s] equals the CPU oracle, relative error < 1e-4',
    async (_i, _m, { src, mesh, lowered }) => {
      expect(lowered.diagnostics).toEqual([]);
      const both = await runGraphBoth(lowered.graph!, { seed: 1, inputSeed: 2 });
      const { outputs } = await runSharded(both, mesh);
      for (const [name, cpu] of Object.entries(both.cpu)) {
        expect(errorStats(cpu.data, outputs[name]!.data).rel, `${name}\n${src}`).toBeLessThan(1e-4);
      }
    },
  );
});
