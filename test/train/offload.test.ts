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
import { MeshRunner, PlanRunner, validatePlan, type HostArray, type Plan, type Tensor } from '../../runtime/index.js';
import { HostOffload } from '../../runtime/offload.js';
import { offloadTraffic } from '../../runtime/plan.js';
import { biasCorrections, TextBatches, Trainer } from '../../runtime/train.js';
import { decodeCheckpoint } from '../../runtime/checkpoint.js';
import { mdc, MDC_PROCESS, TRAIN_TEXT } from '../support/cli.js';
import { grammar, grammarText } from '../support/corpus.js';
import { destroySharedDevices, gpuStatus, seededRandom, sharedDevices } from '../support/gpu.js';

/**
 * Host offload (`@offload(host)`): the optimizer state and update of a parameter live on
 * the host, which computes the update from the gradient the plan outputs and writes the
 * new parameter back. Oracles: the same model trained with every update on the device
 * (WebGPU), and the CPU reference interpreter running the device's optimizer ops.
 */
const status = await gpuStatus();
afterAll(destroySharedDevices);

/** A small byte-level GPT-like model: Mlp.w1 (rank 2: decayed, in a repeated block) and the final norm's gain (rank 1: not decayed) offloaded. */
const offloaded = `mesh Data = [dp: 2]
config C {
  vocab = 256
  d = 32
  ffn = 64
  layers = 2
}
block Mlp(x: f32[B, S, d]) -> f32[B, S, d] {
  param w1: f32[d, ffn] = normal(0, 0.02) @offload(host)
  param b1: f32[ffn] = zeros()
  param w2: f32[ffn, d] = normal(0, 0.02)
  param b2: f32[d] = zeros()
  return gelu(x @ w1 + b1, approximate = "tanh") @ w2 + b2
}
block Layer(x: f32[B, S, d]) -> f32[B, S, d] {
  param ln_g: f32[d] = ones()
  param ln_b: f32[d] = zeros()
  return x + Mlp(layer_norm(x, ln_g, ln_b, 1e-5))
}
model Tiny(tokens: i32[B@dp, S]) -> f32[B@dp, S, vocab] where B = 2, S = 8 {
  param wte: f32[vocab, d] = normal(0, 0.02)
  param lnf_g: f32[d] = ones() @offload(host)
  param lnf_b: f32[d] = zeros()
  let h = embedding(wte, tokens)
  h = repeat(layers) Layer(h)
  let logits = layer_norm(h, lnf_g, lnf_b, 1e-5) @ transpose(wte)
  return logits
}
train Tiny {
  loss = cross_entropy(logits, labels)
  optimizer = adamw(lr = 3e-4)
  microbatches = 2
  zero = 1
  grad_clip = 0.5
}
`;
const baseline = offloaded.replaceAll(' @offload(host)', '');
const DP2: Mesh = { axes: [{ name: 'dp', size: 2 }] };

function settingsOf(src: string, extra: Partial<TrainSettings> = {}) {
  const r = lower(src, 'tiny.model');
  expect(r.diagnostics).toEqual([]);
  const s = trainSettings(r.env!, r.graph!.name);
  expect(s.diagnostics).toEqual([]);
  return { graph: r.graph!, settings: { ...s.settings!, ...extra } };
}

async function planFor(src: string, mesh?: Mesh, zero?: number): Promise<Plan> {
  const { graph, settings } = settingsOf(src, zero === undefined ? {} : { zero });
  const c = await compileGraph(graph, { file: 'tiny.model', seed: 0, train: settings, ...(mesh ? { partition: mesh } : {}) });
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
        { param: 'Layer.1.Mlp.w1', grad: 'grad.Layer.1.Mlp.w1', decay: true },
        { param: 'lnf_g', grad: 'grad.lnf_g', decay: false },
      ]),
    });
    expect(plan.offload!.params).toHaveLength(3);
    const names = new Set(plan.buffers.map((b) => b.name));
    for (const p of ['Layer.0.Mlp.w1', 'lnf_g']) {
      expect(names.has(p)).toBe(true); // the forward still reads the parameter on the device
      expect(names.has(`opt.m.${p}`) || names.has(`opt.v.${p}`)).toBe(false);
      expect(plan.updates!.some((u) => u.param === p)).toBe(false);
    }
    expect(plan.updates!.some((u) => u.param === 'Layer.0.Mlp.w2')).toBe(true);
    // Transfers per step: each gradient read back and each parameter written, 4 bytes an element, plus the clip scale.
    const elements = 2 * 32 * 64 + 32;
    expect(offloadTraffic(plan)).toEqual({ toHost: elements * 4 + 4, toDevice: elements * 4 });
    // The validator refuses a section that does not fit the plan.
    const bad = { ...plan, integrity: undefined, offload: { ...plan.offload!, params: [{ param: 'Layer.0.Mlp.w2', grad: 'loss', decay: true }] } };
    expect(() => validatePlan(bad)).toThrow(/offload.params\[0\].param 'Layer.0.Mlp.w2' is also updated on the device[\s\S]*gradient 'loss' has shape \[\]/);
  });

  it('mdc plan reports the host transfers per step: each offloaded gradient to the host and each parameter back', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'mdc-offload-plan-')), 'tiny.model');
    writeFileSync(file, offloaded);
    const r = await mdc('plan', file, '--json');
    expect(r.code, r.err).toBe(0);
    // By hand: d = 32, ffn = 64, 2 layers; f32. Two w1 of 32×64 and lnf_g of 32, plus the 4-byte clip scale.
    const bytes = (2 * 32 * 64 + 32) * 4;
    expect(JSON.parse(r.out).offload).toEqual({
      params: [
        { name: 'lnf_g', bytes: 128 },
        { name: 'Layer.0.Mlp.w1', bytes: 8192 },
        { name: 'Layer.1.Mlp.w1', bytes: 8192 },
      ],
      toHostBytesPerStep: bytes + 4,
      toDeviceBytesPerStep: bytes,
    });
  });

  it('combinations it does not support are refused at the annotation: mixed precision (MDC0136) and ZeRO-3 (MDC0139)', () => {
    const { graph, settings } = settingsOf(offloaded);
    const text = (s: Partial<TrainSettings>, mesh?: Mesh) =>
      trainingGraph(graph, { ...settings, ...s }, 'tiny.model', mesh ? { mesh, zero: s.zero! } : undefined).diagnostics.map(
        (d) => `${d.span.line}:${d.code}: ${d.message}`,
      );
    // One per @offload, the model's own first (lnf_g), then the blocks'.
    const line = offloaded.split('\n').findIndex((l) => l.includes('lnf_g:')) + 1;
    const w1 = offloaded.split('\n').findIndex((l) => l.includes('w1:')) + 1;
    expect(text({ precision: 'bf16' })[0]).toBe(
      `${line}:MDC0136: host offload (@offload(host)) keeps f32 parameters and optimizer state, and is not supported with precision = bf16 yet: ` +
        'train in f32, or keep this parameter on the device',
    );
    expect(text({ zero: 3 }, DP2)[0]).toMatch(
      new RegExp(`^${line}:MDC0139: host offload \\(@offload\\(host\\)\\) updates whole parameters on the host, and is not supported with zero = 3`),
    );
    // Written in the train section, `mdc check` reports it.
    const r = lower(offloaded.replace('  zero = 1\n', '  zero = 1\n  precision = f16\n'), 'tiny.model');
    expect(r.diagnostics.map((d) => `${d.span.line}:${d.code}`)).toEqual([`${w1}:MDC0136`, `${line}:MDC0136`]);
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
  // A fixed text written here (the README changes with the docs, and with it the measured differences).
  const text = new TextEncoder().encode(grammarText(grammar('A'), 8192, 5));
  const STEPS = 3;
  const LR = 1e-2;
  /**
   * 3 AdamW steps of 2 micro-batches (clipped). Returns the losses and every parameter
   * afterwards: an offloaded one is the host's copy (which it wrote to the device), any
   * other the `new.<name>` output of the last applying run (which the plan's updates copy
   * over it), so a mesh's parameters need no read-back; on one device, also the device's.
   */
  async function train(src: string, mesh?: Mesh, zero?: number) {
    const plan = await planFor(src, mesh, zero);
    const devices = await sharedDevices(mesh ? 2 : 1);
    // llvmpipe compiles each kernel at its first dispatch: the first run takes long on a busy machine.
    const opts = { timeLimitMs: 600_000 };
    const runner = mesh ? await MeshRunner.create(devices, plan, opts) : await PlanRunner.create(devices[0]!, plan, opts);
    const offload = HostOffload.create(plan, { seed: 0 });
    const updated = (plan.updates ?? []).filter((u) => !u.param.startsWith('opt.') && !u.param.startsWith('acc.'));
    let last: Record<string, Tensor> = {};
    const reading = {
      run: async (inputs: Readonly<Record<string, HostArray>>, only?: readonly string[]) => {
        const out = await runner.run(inputs, only?.includes('grad_norm') ? [...only, ...updated.map((u) => u.output)] : only);
        if (only?.includes('grad_norm')) last = out;
        return out;
      },
      writeParams: (v: ReadonlyMap<string, Float32Array>) => runner.writeParams(v),
    };
    const trainer = new Trainer(reading, new TextBatches(text, 4, 8, 3), { lr: LR, warmup: 1, steps: STEPS }, [0.9, 0.95], 'tokens', undefined, 2, offload);
    const losses: number[] = [];
    for (let t = 1; t <= STEPS; t++) losses.push((await trainer.step(t)).loss);
    const params = new Map<string, Float32Array>(updated.map((u) => [u.param, Float32Array.from(last[u.output]!.data)]));
    for (const [k, v] of offload?.params ?? []) params.set(k, v);
    const device = runner instanceof PlanRunner ? await runner.readParams() : undefined;
    runner.destroy();
    return { losses, params, device };
  }

  /**
   * Tolerance: parameters within 1e-6 (the weights are of order 0.02 to 1). The two plans'
   * kernels are fused differently (one outputs gradients the other feeds to its update), so
   * gradients may differ in the last bit of f32, and Adam's m/√v amplifies that where a
   * gradient is near zero; measured worst differences 2.6e-8 (one device) and 4.1e-8
   * (mesh). Under ZeRO 1 the device-updated run sums the global norm from gradient blocks,
   * the offloaded one partly from whole gradients, so the clip scale differs in its last bit
   * from step 1 on: 1e-4 there (measured 7.7e-6). An Adam update moves an element by about
   * lr = 1e-2, so a lost, doubled or misordered host update is 100 times the looser tolerance.
   */
  const worst = (got: ReadonlyMap<string, Float32Array>, want: ReadonlyMap<string, Float32Array>) => {
    let w = 0;
    for (const [name, b] of want) {
      const a = got.get(name)!;
      expect(a, name).toBeDefined();
      for (let i = 0; i < b.length; i++) w = Math.max(w, Math.abs(a[i]! - b[i]!));
    }
    return w;
  };
  const onlyParams = (m: ReadonlyMap<string, Float32Array>) => new Map([...m].filter(([k]) => !k.startsWith('opt.') && !k.startsWith('acc.')));

  // Losses: 6 digits where the runs agree to the last bit of the gradients; under ZeRO 1 the clip scale differs in its
  // last bit from step 1 on (above), so the losses of steps 2 and 3 agree to 1e-5 (measured 3e-6); one Adam step moves
  // the loss by about 0.1, so a lost or doubled host update is far outside either.
  for (const [where, mesh, zero, tol, lossDigits] of [
    ['one device', undefined, 0, 1e-6, 6],
    ['a 2-device mesh (dp = 2)', DP2, 0, 1e-6, 6],
    ['a 2-device mesh (dp = 2) with ZeRO 1', DP2, 1, 1e-4, 5],
  ] as const) {
    it(`3 steps with Mlp.w1 and lnf_g offloaded give the parameters of 3 steps with every update on the device, on ${where}`, async () => {
      const a = await train(offloaded, mesh, zero);
      const b = await train(baseline, mesh, zero);
      expect(a.losses).toEqual(b.losses.map((x) => expect.closeTo(x, lossDigits)));
      expect(b.params.size).toBe(a.params.size); // every parameter compared: 6 per layer, wte, lnf_g and lnf_b
      expect(a.params.size).toBe(15);
      expect(worst(a.params, b.params)).toBeLessThanOrEqual(tol);
      // The host's update moved the parameters from their initial values, and (one device) the device holds what it computed.
      const init = HostOffload.create(await planFor(offloaded, mesh, zero), { seed: 0 })!.params;
      expect(Math.min(...[...init].map(([k, v]) => worst(new Map([[k, a.params.get(k)!]]), new Map([[k, v]]))))).toBeGreaterThan(LR / 10);
      if (a.device) {
        expect(worst(onlyParams(a.device), a.params)).toBe(0);
        expect(worst(onlyParams(b.device!), b.params)).toBe(0);
      }
    });
  }

  it('mdc train saves the host state in its checkpoint (opt.m.<name>, opt.v.<name>) and a resumed run has the same losses, bit for bit', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mdc-offload-'));
    const file = join(dir, 'tiny.model');
    writeFileSync(file, offloaded);
    // --warmup 10 keeps the rate at lr·t/10 for these steps whatever --steps is, so a 2-step run is the start of a 4-step one.
    const args = ['train', file, '--data', TRAIN_TEXT, '--batch', '4', '--seq', '8'];
    const run = (...extra: string[]) =>
      spawnSync(process.execPath, [...MDC_PROCESS, ...args, '--warmup', '10', '--lr', '1e-2', '--json', ...extra], { encoding: 'utf8', timeout: 600_000 });
    const losses = (stdout: string) => (JSON.parse(stdout.slice(stdout.indexOf('{'))) as { losses: number[] }).losses;
    const full = run('--steps', '4', '--out', join(dir, 'full'));
    expect(full.status, full.stderr).toBe(0);
    const part = run('--steps', '2', '--out', join(dir, 'part'));
    expect(part.status, part.stderr).toBe(0);
    const ck = decodeCheckpoint(readFileSync(join(dir, 'part', 'checkpoint.safetensors')));
    for (const name of ['opt.m.Layer.0.Mlp.w1', 'opt.v.Layer.0.Mlp.w1', 'opt.m.lnf_g', 'opt.v.lnf_g']) {
      expect(ck.tensors[name]?.shape).toEqual(name.endsWith('w1') ? [32, 64] : [32]);
      expect([...(ck.tensors[name]!.data as Float32Array)].some((x) => x !== 0)).toBe(true);
    }
    const resumed = run('--steps', '4', '--out', join(dir, 'part'), '--resume', join(dir, 'part', 'checkpoint.safetensors'));
    expect(resumed.status, resumed.stderr).toBe(0);
    expect(losses(resumed.stdout)).toEqual(losses(full.stdout));
    expect(losses(full.stdout)).toHaveLength(4);
  });
});
