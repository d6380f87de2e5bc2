/**
 * Arenas on WebGPU (global memory reuse): a plan run with its arenas (one GPUBuffer per
 * arena, every activation and output bound as a range of it) gives the same outputs, bit
 * for bit, as the same plan run with a GPUBuffer per plan buffer (`arenas: false`, the
 * runtime before memory planning), while allocating less. Before the first run every
 * arena byte a buffer uses is overwritten with NaN bits, so a kernel that read bytes it
 * had not written (relying on a fresh zeroed buffer, or on a value whose bytes were
 * reused) would give a different answer. Forward passes of every sample, a training
 * step with updates (parameters resident, outputs copied over them), partitioned plans
 * on four devices (collectives written into arenas by the host), and f16 storage.
 */
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { compile } from '../../driver/compile.js';
import { planOf } from '../../driver/stages.js';
import type { DeviceProgram } from '../../runtime/executor.js';
import { MeshRunner, planAllocation, PlanRunner, randomInput, type HostArray, type Plan, type PlanIO, type Tensor } from '../../runtime/index.js';
import { biasCorrections, TextBatches } from '../../runtime/train.js';
import { F16_MLP } from '../support/f16-models.js';
import { compileOrThrow, describeWithFeature, destroySharedDevices, featureStatus, gpuStatus, sharedDevice, sharedDevices } from '../support/gpu.js';

const status = await gpuStatus();
const f16 = await featureStatus('shader-f16');
afterAll(destroySharedDevices);

const src = (s: string) => readFileSync(`samples/${s}.model`, 'utf8');
const count = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);
const bits = (a: HostArray) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
const mesh = {
  axes: [
    { name: 'dp', size: 2 },
    { name: 'tp', size: 2 },
  ],
};

/** Inputs for run `t`: byte-level tokens and labels, a training step's scalars, seeded random values for the rest. */
function inputsAt(plan: Plan, t: number): Record<string, HostArray> {
  const whole = (io: PlanIO) => io.global?.shape ?? io.shape;
  const out: Record<string, HostArray> = {};
  const text = new TextEncoder().encode(src('gpt2').repeat(4));
  const tokens = plan.inputs.find((io) => io.name === 'tokens');
  const batch = tokens ? new TextBatches(text, whole(tokens)[0]!, whole(tokens)[1]!, 5).at(t) : undefined;
  const [bc1, bc2] = biasCorrections(t, 0.9, 0.95);
  const scalars: Record<string, number> = { lr: 1e-3, bc1, bc2 };
  for (const io of plan.inputs) {
    const n = count(whole(io));
    if (batch && (io.name === 'tokens' || io.name === 'labels')) out[io.name] = batch[io.name];
    else if (n === 1 && plan.buffers[io.buffer]!.type !== 'i32') out[io.name] = Float32Array.of(scalars[io.name] ?? 1);
    else out[io.name] = randomInput(plan.buffers[io.buffer]!.type, n, 100 + t, io.name, io.max ?? 2);
  }
  return out;
}

/** NaN bits over every placed buffer (so over every arena byte in use) on every device of the runner. */
function poison(runner: PlanRunner | MeshRunner, plan: Plan): void {
  const inside = runner as unknown as { program?: DeviceProgram; programs?: DeviceProgram[] };
  for (const p of inside.programs ?? [inside.program!]) {
    for (const b of plan.buffers) {
      if (b.arena === undefined) continue;
      const n = count(b.shape);
      p.write(b.id, b.type === 'i32' ? new Int32Array(n).fill(0x7fc00000) : new Float32Array(n).fill(NaN));
    }
  }
}

function expectSameBits(got: Record<string, Tensor>, want: Record<string, Tensor>, what: string): void {
  expect(Object.keys(got).sort(), what).toEqual(Object.keys(want).sort());
  for (const [name, t] of Object.entries(want)) {
    expect(got[name]!.shape, `${what}: ${name}`).toEqual(t.shape);
    expect(bits(got[name]!.data).equals(bits(t.data)), `${what}: ${name} differs`).toBe(true);
  }
}

/**
 * Runs `plan` `runs` times with arenas (poisoned first) and with a buffer per plan buffer,
 * on the same inputs; every run's outputs must agree bit for bit, and so must the
 * parameters read back at the end (training plans update them on the device).
 */
async function compareRuns(plan: Plan, make: (arenas: boolean) => Promise<PlanRunner | MeshRunner>, runs: number, what: string) {
  const arena = await make(true);
  const separate = await make(false);
  try {
    poison(arena, plan);
    for (let t = 1; t <= runs; t++) {
      const inputs = inputsAt(plan, t);
      const want = await separate.run(inputs);
      const got = await arena.run(inputs);
      for (const o of Object.values(want))
        expect(
          o.data.every((x) => Number.isFinite(x)),
          `${what}: run ${t} is finite`,
        ).toBe(true);
      expectSameBits(got, want, `${what}, run ${t}`);
    }
    if (arena instanceof PlanRunner && separate instanceof PlanRunner) {
      const [a, b] = [await arena.readParams(), await separate.readParams()];
      for (const [name, v] of b) expect(bits(a.get(name)!).equals(bits(v)), `${what}: parameter ${name}`).toBe(true);
    }
    const devices = arena instanceof MeshRunner ? arena.devices : 1;
    const alloc = planAllocation(plan);
    expect(arena.allocatedBytes).toBe(alloc.bytes * devices);
    expect(separate.allocatedBytes).toBe(alloc.unplacedBytes * devices);
    expect(arena.allocatedBytes).toBeLessThan(separate.allocatedBytes);
    return { arena: arena.allocatedBytes, separate: separate.allocatedBytes };
  } finally {
    arena.destroy();
    separate.destroy();
  }
}

describe.skipIf(status.skip)(status.title('arenas on WebGPU: the same bits as a buffer per value'), () => {
  it.each(['mlp', 'gpt2', 'bert-base', 'llama', 'vit-b16', 'mixtral'])('%s (tiny) forward, two runs', async (name) => {
    const plan = (await compile(src(name), `${name}.model`, { preset: 'tiny', seed: 2 })).plan!;
    const device = await sharedDevice();
    await compareRuns(plan, (arenas) => PlanRunner.create(device, plan, { arenas }), 2, name);
  });

  it('GPT-2 tiny training step (AdamW, parameters and moments updated on the device): three steps and the parameters after them', async () => {
    const plan = (await compile(src('gpt2'), 'gpt2.model', { preset: 'tiny', train: true, seed: 4 })).plan!;
    expect(plan.updates!.length).toBeGreaterThan(0);
    // Update sources are outputs, placed in the arena: the copy reads them from its range.
    const outputs = new Map(plan.outputs.map((o) => [o.name, o.buffer]));
    expect(plan.updates!.some((u) => plan.buffers[outputs.get(u.output)!]!.arena !== undefined)).toBe(true);
    const device = await sharedDevice();
    await compareRuns(plan, (arenas) => PlanRunner.create(device, plan, { arenas }), 3, 'gpt2 training');
  });

  it('partitioned on [dp: 2, tp: 2]: GPT-2 tiny forward and two training steps on four devices, collectives between kernel steps', async () => {
    const devices = await sharedDevices(4);
    const forward = (await compile(src('gpt2'), 'gpt2.model', { preset: 'tiny', partition: mesh })).plan!;
    // A collective's output is written by the host into its arena range.
    expect(forward.steps.some((s) => s.kind === 'collective' && forward.buffers[s.output]!.arena !== undefined)).toBe(true);
    await compareRuns(forward, (arenas) => MeshRunner.create(devices, forward, { arenas }), 1, 'gpt2 on 4 devices');
    const training = (await compile(src('gpt2'), 'gpt2.model', { preset: 'tiny', partition: mesh, train: true })).plan!;
    expect(training.updates!.length).toBeGreaterThan(0);
    await compareRuns(training, (arenas) => MeshRunner.create(devices, training, { arenas }), 2, 'gpt2 training on 4 devices');
  }, 120_000);
});

describeWithFeature(f16, 'arenas on WebGPU with f16 storage', () => {
  it('an MLP whose activations are stored as f16 (half the bytes in the arena)', async () => {
    const plan = planOf(compileOrThrow(F16_MLP), { target: { shaderF16: true }, seed: 3 });
    expect(plan.buffers.some((b) => b.type === 'f16' && b.arena !== undefined)).toBe(true);
    const device = await sharedDevice();
    await compareRuns(plan, (arenas) => PlanRunner.create(device, plan, { arenas }), 2, 'f16 MLP');
  });
});
