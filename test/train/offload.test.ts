import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { lower } from '../../compiler/compile.js';
import { interpret } from '../../compiler/reference/interpret.js';
import type { Mesh } from '../../compiler/sharding/mesh.js';
import { trainSettings, type TrainSettings } from '../../compiler/train/settings.js';
import { trainingGraph } from '../../compiler/train/step.js';
import { compileGraph } from '../../driver/compile.js';
import { adamwStep, sgdStep } from '../../runtime/host-optimizer.js';
import { MeshRunner, PlanRunner, validatePlan, type Plan } from '../../runtime/index.js';
import { HostOffload } from '../../runtime/offload.js';
import { offloadTraffic } from '../../runtime/plan.js';
import { biasCorrections, TextBatches, Trainer } from '../../runtime/train.js';
import { decodeCheckpoint } from '../../runtime/checkpoint.js';
import { MDC_PROCESS, TRAIN_TEXT } from '../support/cli.js';
import { destroySharedDevices, gpuStatus, seededRandom, sharedDevices } from '../support/gpu.js';

/**
 * Host offload (`@offload(host)`): the optimizer state and update of a parameter live on
 * the host, which computes the update from the gradient the plan outputs and writes the
 * new parameter back. Oracles: the same model trained with every update on the device
 * (WebGPU), and the CPU reference interpreter running the device's optimizer ops.
 */
const status = await gpuStatus();
afterAll(destroySharedDevices);

const gpt = readFileSync('samples/gpt2.model', 'utf8');
/** GPT-2 with Mlp.w1 (rank 2: decayed, in a repeated block) and the final norm's gain (rank 1: not decayed) offloaded. */
const offloaded = gpt
  .replace('param w1: f32[d, ffn@tp] = normal(0, 0.02)', 'param w1: f32[d, ffn@tp] = normal(0, 0.02) @offload(host)')
  .replace('param lnf_g: f32[d] = ones()', 'param lnf_g: f32[d] = ones() @offload(host)')
  .replace('  zero = 1\n', '  zero = 1\n  grad_clip = 0.5\n');
const baseline = offloaded.replaceAll(' @offload(host)', '');
const SIZE = { preset: 'tiny', overrides: { d: 32, heads: 2, vocab: 256, layers: 1 }, dims: { B: 2, S: 8 } };

function settingsOf(src: string, extra: Partial<TrainSettings> = {}) {
  const r = lower(src, 'gpt2.model', SIZE);
  expect(r.diagnostics).toEqual([]);
  const s = trainSettings(r.env!, r.graph!.name);
  expect(s.diagnostics).toEqual([]);
  return { graph: r.graph!, settings: { ...s.settings!, ...extra } };
}

async function planFor(src: string, mesh?: Mesh): Promise<Plan> {
  const { graph, settings } = settingsOf(src);
  const c = await compileGraph(graph, { file: 'gpt2.model', seed: 0, train: settings, ...(mesh ? { partition: mesh } : {}) });
  expect(c.diagnostics).toEqual([]);
  return c.plan!;
}

describe('host offload in the training step and the plan', () => {
  it('the plan names the offloaded params, their gradient outputs and the optimizer, and leaves their update and state off the device', async () => {
    const plan = await planFor(offloaded);
    expect(plan.offload).toEqual({
      optimizer: { kind: 'adamw', beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1, momentum: 0.9 },
      clipScale: 'clip_scale',
      params: expect.arrayContaining([
        { param: 'Layer.0.Mlp.w1', grad: 'grad.Layer.0.Mlp.w1', decay: true },
        { param: 'lnf_g', grad: 'grad.lnf_g', decay: false },
      ]),
    });
    expect(plan.offload!.params).toHaveLength(2);
    const names = new Set(plan.buffers.map((b) => b.name));
    for (const p of ['Layer.0.Mlp.w1', 'lnf_g']) {
      expect(names.has(p)).toBe(true); // the forward still reads the parameter on the device
      expect(names.has(`opt.m.${p}`) || names.has(`opt.v.${p}`)).toBe(false);
      expect(plan.updates!.some((u) => u.param === p)).toBe(false);
    }
    expect(plan.updates!.some((u) => u.param === 'Layer.0.Mlp.w2')).toBe(true);
    // Transfers per step: each gradient read back and each parameter written, 4 bytes an element, plus the clip scale.
    const elements = 32 * 128 + 32;
    expect(offloadTraffic(plan)).toEqual({ toHost: elements * 4 + 4, toDevice: elements * 4 });
    // The validator refuses a section that does not fit the plan.
    const bad = { ...plan, integrity: undefined, offload: { ...plan.offload!, params: [{ param: 'Layer.0.Mlp.w2', grad: 'loss', decay: true }] } };
    expect(() => validatePlan(bad)).toThrow(/offload.params\[0\].param 'Layer.0.Mlp.w2' is also updated on the device[\s\S]*gradient 'loss' has shape \[\]/);
  });

  it('combinations it does not support are refused at the annotation: mixed precision (MDC0136) and ZeRO-3 (MDC0139)', () => {
    const { graph, settings } = settingsOf(offloaded);
    const text = (s: Partial<TrainSettings>, mesh?: Mesh) =>
      trainingGraph(graph, { ...settings, ...s }, 'gpt2.model', mesh ? { mesh, zero: s.zero! } : undefined).diagnostics.map(
        (d) => `${d.span.line}:${d.code}: ${d.message}`,
      );
    // One per @offload, the model's own first (lnf_g), then the blocks'.
    const line = offloaded.split('\n').findIndex((l) => l.includes('lnf_g:')) + 1;
    expect(text({ precision: 'bf16' })[0]).toBe(
      `${line}:MDC0136: host offload (@offload(host)) keeps f32 parameters and optimizer state, and is not supported with precision = bf16 yet: ` +
        'train in f32, or keep this parameter on the device',
    );
    const mesh: Mesh = {
      axes: [
        { name: 'dp', size: 2 },
        { name: 'tp', size: 1 },
      ],
    };
    expect(text({ zero: 3 }, mesh)[0]).toMatch(
      new RegExp(`^${line}:MDC0139: host offload \\(@offload\\(host\\)\\) updates whole parameters on the host, and is not supported with zero = 3`),
    );
    // Written in the train section, `mdc check` reports it.
    const r = lower(offloaded.replace('  zero = 1\n', '  zero = 1\n  precision = f16\n'), 'gpt2.model', SIZE);
    expect(r.diagnostics.map((d) => `${d.span.line}:${d.code}`)).toEqual([`${line - 23}:MDC0136`, `${line}:MDC0136`]);
  });
});

describe('the host optimizer', () => {
  /**
   * Oracle: the device's optimizer ops on the CPU reference (float64), from the
   * same random parameter, gradient-carrying inputs and optimizer state. The host computes
   * in f32, so they agree to f32 rounding: |Δ| ≤ 1e-5 · (1 + |value|) after one step.
   */
  for (const kind of ['adamw', 'sgd'] as const) {
    it(`${kind} equals the training graph's update on the CPU reference for random inputs`, () => {
      const opt =
        kind === 'adamw' ? 'adamw(lr = 0.05, beta1 = 0.8, beta2 = 0.9, eps = 1e-6, weight_decay = 0.3)' : 'sgd(lr = 0.05, momentum = 0.7, weight_decay = 0.3)';
      const src = (ann: string) => `model M(x: f32[4, 3]) -> f32[] {
  param w: f32[3, 5] = normal(0, 1)${ann}
  param b: f32[5] = normal(0, 1)${ann}
  let y = x @ w + b
  return sum(reshape(y * y, [20]), axis = 0)
}
train M { loss = output0
  optimizer = ${opt}
  grad_clip = 2.0 }`;
      const build = (s: string) => {
        const r = lower(s, 't.model');
        const st = trainSettings(r.env!, r.graph!.name).settings!;
        return trainingGraph(r.graph!, st, 't.model').result!;
      };
      const host = build(src(' @offload(host)'));
      const device = build(src(''));
      const rnd = seededRandom(7).next;
      const vals = (n: number, lo = -1, hi = 1) => Float32Array.from({ length: n }, () => lo + (hi - lo) * rnd());
      const params = new Map<string, Float32Array>([
        ['w', vals(15)],
        ['b', vals(5)],
        ['opt.m.w', vals(15)],
        ['opt.v.w', vals(15, 0, 1)],
        ['opt.m.b', vals(5)],
        ['opt.v.b', vals(5, 0, 1)],
      ]);
      if (kind === 'sgd') ['opt.v.w', 'opt.v.b'].forEach((k) => params.delete(k));
      const [bc1, bc2] = biasCorrections(3, 0.8, 0.9);
      const inputs = { x: vals(12, -2, 2), lr: Float32Array.of(0.05), bc1: Float32Array.of(bc1), bc2: Float32Array.of(bc2) };
      const ref = interpret(device.graph, inputs, (n) => params.get(n)!);
      const out = interpret(host.graph, inputs, (n) => params.get(n)!);
      expect(host.offload!.params.map((p) => [p.param, p.decay])).toEqual([
        ['w', true],
        ['b', false],
      ]);
      const scale = out['clip_scale']!.data[0]!;
      expect(scale).toBeLessThan(1); // the random gradients are clipped, so the scale is exercised
      const hp = { kind, beta1: 0.8, beta2: 0.9, eps: 1e-6, weightDecay: 0.3, momentum: 0.7 };
      for (const { param, grad, decay } of host.offload!.params) {
        const p = Float32Array.from(params.get(param)!);
        const m = Float32Array.from(params.get(`opt.m.${param}`)!);
        const g = Float32Array.from(out[grad]!.data);
        const s = { lr: 0.05, bc1, bc2, scale };
        if (kind === 'adamw') adamwStep(p, g, m, Float32Array.from(params.get(`opt.v.${param}`)!), hp, s, decay);
        else sgdStep(p, g, m, hp, s, decay);
        const want = ref[`new.${param}`]!.data;
        const wantM = ref[`new.opt.m.${param}`]!.data;
        p.forEach((x, i) => expect(Math.abs(x - want[i]!)).toBeLessThanOrEqual(1e-5 * (1 + Math.abs(want[i]!))));
        m.forEach((x, i) => expect(Math.abs(x - wantM[i]!)).toBeLessThanOrEqual(1e-5 * (1 + Math.abs(wantM[i]!))));
        expect([...p].some((x, i) => x !== params.get(param)![i])).toBe(true);
      }
    });
  }
});

describe.skipIf(status.skip)(status.title('host offload on WebGPU'), () => {
  const text = new TextEncoder().encode(readFileSync('README.md', 'utf8'));
  const STEPS = 3;
  const LR = 1e-2;
  /** 3 AdamW steps of 2 micro-batches (clipped); the losses, the device's parameters (one device) and the host's copies. */
  async function train(src: string, mesh?: Mesh) {
    const plan = await planFor(src, mesh);
    const devices = await sharedDevices(mesh ? 2 : 1);
    // llvmpipe compiles each kernel at its first dispatch: the first run takes long on a busy machine.
    const opts = { timeLimitMs: 600_000 };
    const runner = mesh ? await MeshRunner.create(devices, plan, opts) : await PlanRunner.create(devices[0]!, plan, opts);
    const offload = HostOffload.create(plan, { seed: 0 });
    const trainer = new Trainer(runner, new TextBatches(text, 4, 8, 3), { lr: LR, warmup: 1, steps: STEPS }, [0.9, 0.95], 'tokens', undefined, 2, offload);
    const losses: number[] = [];
    for (let t = 1; t <= STEPS; t++) losses.push((await trainer.step(t)).loss);
    const device = runner instanceof PlanRunner ? await runner.readParams() : undefined;
    runner.destroy();
    return { losses, device, host: offload?.params };
  }

  /**
   * Tolerance: parameters within 1e-5. The two plans' kernels are fused differently (one
   * outputs gradients the other feeds to its update), so gradients differ in the last bit
   * of f32 and Adam's m/√v amplifies that where a gradient is near zero; measured worst
   * difference 2.3e-6. An Adam update moves an element by about lr = 1e-2, so a lost,
   * doubled or misordered host update is over 1000 times the tolerance.
   */
  const TOL = 1e-5;
  const worst = (got: ReadonlyMap<string, Float32Array>, want: ReadonlyMap<string, Float32Array>, names: Iterable<string>) => {
    let w = 0;
    for (const name of names) {
      const [a, b] = [got.get(name)!, want.get(name)!];
      for (let i = 0; i < b.length; i++) w = Math.max(w, Math.abs(a[i]! - b[i]!));
    }
    return w;
  };
  let reference: { losses: number[]; device: Map<string, Float32Array> } | undefined;
  const baselineRun = async () => (reference ??= (await train(baseline)) as { losses: number[]; device: Map<string, Float32Array> });

  it('3 steps with Mlp.w1 and lnf_g offloaded give the parameters of 3 steps with every update on the device (one device)', async () => {
    const a = await train(offloaded);
    const b = await baselineRun();
    expect(a.losses).toEqual(b.losses.map((x) => expect.closeTo(x, 5)));
    const params = [...b.device.keys()].filter((k) => !k.startsWith('opt.'));
    expect(worst(a.device!, b.device, params)).toBeLessThanOrEqual(TOL);
    // The device holds what the host computed, and the host's update moved the parameters from their initial values.
    expect(worst(a.device!, a.host!, a.host!.keys())).toBe(0);
    const init = HostOffload.create(await planFor(offloaded), { seed: 0 })!.params;
    expect(worst(a.host!, init, init.keys())).toBeGreaterThan(LR / 10);
  });

  it('the same on a 2-device mesh (dp = 2): losses and offloaded parameters equal the single-device run with every update on the device', async () => {
    const mesh: Mesh = {
      axes: [
        { name: 'dp', size: 2 },
        { name: 'tp', size: 1 },
      ],
    };
    const a = await train(offloaded, mesh);
    const b = await baselineRun();
    expect(a.losses).toEqual(b.losses.map((x) => expect.closeTo(x, 5)));
    expect(worst(a.host!, b.device, a.host!.keys())).toBeLessThanOrEqual(TOL);
  });

  it('mdc train saves the host state in its checkpoint (opt.m.<name>, opt.v.<name>) and a resumed run has the same losses, bit for bit', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mdc-offload-'));
    const file = join(dir, 'gpt2.model');
    writeFileSync(file, offloaded);
    // --warmup 10 keeps the rate at lr·t/10 for these steps whatever --steps is, so a 2-step run is the start of a 4-step one.
    const args = ['train', file, '--preset', 'tiny', '--set', 'vocab=256,d=32,heads=2,layers=1', '--data', TRAIN_TEXT, '--batch', '4', '--seq', '8'];
    const run = (...extra: string[]) =>
      spawnSync(process.execPath, [...MDC_PROCESS, ...args, '--warmup', '10', '--lr', '1e-2', '--json', ...extra], { encoding: 'utf8', timeout: 600_000 });
    const losses = (stdout: string) => (JSON.parse(stdout.slice(stdout.indexOf('{'))) as { losses: number[] }).losses;
    const full = run('--steps', '4', '--out', join(dir, 'full'));
    expect(full.status, full.stderr).toBe(0);
    const part = run('--steps', '2', '--out', join(dir, 'part'));
    expect(part.status, part.stderr).toBe(0);
    const ck = decodeCheckpoint(readFileSync(join(dir, 'part', 'checkpoint.safetensors')));
    for (const name of ['opt.m.Layer.0.Mlp.w1', 'opt.v.Layer.0.Mlp.w1', 'opt.m.lnf_g', 'opt.v.lnf_g']) {
      expect(ck.tensors[name]?.shape).toEqual(name.endsWith('w1') ? [32, 128] : [32]);
      expect([...(ck.tensors[name]!.data as Float32Array)].some((x) => x !== 0)).toBe(true);
    }
    const resumed = run('--steps', '4', '--out', join(dir, 'part'), '--resume', join(dir, 'part', 'checkpoint.safetensors'));
    expect(resumed.status, resumed.stderr).toBe(0);
    expect(losses(resumed.stdout)).toEqual(losses(full.stdout));
    expect(losses(full.stdout)).toHaveLength(4);
  });
});
