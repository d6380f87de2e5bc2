import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { lower } from '../../compiler/compile.js';
import { trainSettings } from '../../compiler/train/settings.js';
import { compileGraph } from '../../driver/compile.js';
import { planOf } from '../../driver/stages.js';
import { initValues, PlanRunner, randomInput, type HostArray, type Plan } from '../../runtime/index.js';
import { describeWithFeature, destroySharedDevices, featureStatus, gpuStatus, sharedDevice } from '../support/gpu.js';

/**
 * Values over the binding limit bound as windows (docs/kernels.md): with an artificially
 * small limit a small GPT-2's embedding table, logits, their gradients and the table's
 * optimizer state exceed one binding, and the windowed plan must compute exactly what the
 * plan without windows computes on the same device — the same kernels, the same order of
 * floating-point operations, only the addressing differs, so bit for bit.
 */
const status = await gpuStatus();
const f16 = await featureStatus('shader-f16');

/** 48 KiB: under the 64 KiB of the table [512, 32] and of the logits [2, 16, 512], so both take two windows. */
const LIMIT = 48 * 1024;
const source = readFileSync('samples/gpt2.model', 'utf8');
const small = () => lower(source, 'gpt2.model', { preset: 'tiny', overrides: { d: 32, heads: 2, layers: 1, vocab: 512 }, dims: { B: 2, S: 16 } });

function inputsOf(plan: Plan): Record<string, HostArray> {
  const out: Record<string, HostArray> = {};
  for (const io of plan.inputs) {
    const n = io.shape.reduce((a, b) => a * b, 1);
    out[io.name] = randomInput(plan.buffers[io.buffer]!.type, n, 5, io.name, io.max ?? 2);
  }
  // The training step's per-step scalars: a learning rate and Adam's bias corrections.
  if (out['lr']) out['lr'] = Float32Array.of(1e-2);
  if (out['bc1']) out['bc1'] = Float32Array.of(0.1);
  if (out['bc2']) out['bc2'] = Float32Array.of(0.05);
  return out;
}

const windowedKernels = (plan: Plan) => plan.kernels.filter((k) => k.bindings.some((b) => b.window)).map((k) => k.name);

// One afterAll for the file: the two suites share the file's device (an adapter makes one device).
afterAll(destroySharedDevices);

describe.skipIf(status.skip)(status.title('values over the binding limit, bound as windows, on WebGPU'), () => {
  it('a small GPT-2 forward under a 48 KiB binding limit equals the plan without windows bit for bit', async () => {
    const g = small().graph!;
    const whole = planOf(g, { seed: 3 });
    const split = planOf(g, { seed: 3, target: { maxBindingBytes: LIMIT } });
    expect(whole.version).toBe(3);
    expect(split.version).toBe(5);
    expect(windowedKernels(whole)).toEqual([]);
    // The gather reads the table in windows; the tied LM head reads it and writes the logits (an arena output) in windows.
    expect(windowedKernels(split)).toEqual(['embedding', 'matmul_tiled']);
    const device = await sharedDevice();
    const inputs = inputsOf(whole);
    const logits: Float32Array[] = [];
    for (const plan of [whole, split]) {
      const runner = await PlanRunner.create(device, plan);
      try {
        logits.push((await runner.run(inputs))['logits']!.data as Float32Array);
      } finally {
        runner.destroy();
      }
    }
    expect(logits[1]!.length).toBe(2 * 16 * 512);
    expect(logits[1]).toEqual(logits[0]);
  }, 300_000);

  it('two training steps (AdamW) under the limit leave every parameter and the loss bit-identical to the plan without windows', async () => {
    const r = small();
    const base = trainSettings(r.env!, r.graph!.name).settings!;
    const optimizer = { kind: 'adamw', lr: 1e-2, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1, momentum: 0 } as const;
    const device = await sharedDevice();
    const plans: Plan[] = [];
    // The optimizer's fused update binds the table, its gradient and moments, in and out, as windows: more than
    // WebGPU's default 8 bindings, within the adapter's limit that requestDevice asks for.
    for (const target of [{}, { maxBindingBytes: LIMIT, maxStorageBuffers: device.limits.maxStorageBuffersPerShaderStage }]) {
      const c = await compileGraph(r.graph!, { file: 'gpt2.model', seed: 3, target, train: { ...base, optimizer, microbatches: 1 } });
      expect(c.diagnostics).toEqual([]);
      plans.push(c.plan!);
    }
    const split = plans[1]!;
    expect(split.version).toBe(5);
    // The table's gradient and moments are windowed too.
    const windowedBuffers = new Set(
      split.steps.flatMap((s) => (s.kind === 'collective' ? [] : s.buffers.filter((_, j) => split.kernels[s.kernel]!.bindings[j]!.window))),
    );
    const names = [...windowedBuffers].map((b) => split.buffers[b]!.name);
    expect(names).toEqual(expect.arrayContaining(['wte', 'opt.m.wte', 'opt.v.wte', 'new.wte', 'new.opt.m.wte', 'new.opt.v.wte']));
    const inputs = inputsOf(plans[0]!);
    const results: { loss: number; params: Map<string, Float32Array> }[] = [];
    for (const plan of plans) {
      const runner = await PlanRunner.create(device, plan, { timeLimitMs: 240_000 });
      try {
        await runner.run(inputs);
        const loss = (await runner.run(inputs))['loss']!.data[0]!;
        results.push({ loss, params: await runner.readParams() });
      } finally {
        runner.destroy();
      }
    }
    expect(results[1]!.loss).toBe(results[0]!.loss);
    // The steps moved the table (steps that changed nothing would compare equal too).
    const wte = split.buffers.find((b) => b.name === 'wte')!;
    const initial = initValues(wte.init!, 512 * 32, 3, 'wte');
    expect(results[1]!.params.get('wte')!.some((x, i) => x !== initial[i])).toBe(true);
    for (const [name, values] of results[0]!.params) expect(results[1]!.params.get(name), name).toEqual(values);
  }, 600_000);
});

describeWithFeature(f16, 'f16 values over the binding limit, bound as windows', () => {
  it('an f16 table gathered and multiplied (halves in windows, f32 logits stored through windows) equals the plan without windows bit for bit', async () => {
    const src = `model M(ids: i32[4, 8]) -> f32[4, 8, 600] {
  param t: f16[600, 64] = normal(0, 0.2)
  return cast(embedding(t, ids) @ transpose(t), "f32")
}
`;
    const g = lower(src, 'm.model', {}).graph!;
    const whole = planOf(g, { seed: 1, target: { shaderF16: true } });
    // The table is 76 800 bytes of halves, the logits 76 800 bytes of f32: three windows each under 30 000 bytes.
    const split = planOf(g, { seed: 1, target: { shaderF16: true, maxBindingBytes: 30_000 } });
    const gather = split.kernels.find((k) => k.name === 'embedding')!;
    expect(gather.bindings.filter((b) => b.window).map((b) => [b.type, b.elements])).toEqual([
      ['f16', 14976],
      ['f16', 14976],
      ['f16', 8448],
    ]);
    const device = await sharedDevice();
    const ids = randomInput('i32', 32, 1, 'ids', 600);
    const outs: Float32Array[] = [];
    for (const plan of [whole, split]) {
      const runner = await PlanRunner.create(device, plan);
      try {
        outs.push(Object.values(await runner.run({ ids }))[0]!.data as Float32Array);
      } finally {
        runner.destroy();
      }
    }
    expect(outs[1]).toEqual(outs[0]);
  }, 300_000);
});
