import { MDC_PROCESS, TRAIN_GPT2_TINY } from '../support/cli.js';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { lower } from '../../compiler/compile.js';
import { dimConst } from '../../compiler/dims.js';
import { GraphBuilder } from '../../compiler/ir.js';
import { trainSettings } from '../../compiler/train/settings.js';
import { NO_SPAN } from '../../diagnostics/span.js';
import { compileGraph } from '../../driver/compile.js';
import { PlanRunner } from '../../runtime/index.js';
import { LossScaler, TextBatches, Trainer } from '../../runtime/train.js';
import { destroySharedDevices, gpuStatus, runGraphBoth, sharedDevice } from '../support/gpu.js';
import { trainingText } from '../support/corpus.js';

/** Mixed precision on WebGPU: the rounding kernels are bit-exact against the CPU reference, the loss scaler skips overflowing steps on the device, and mdc train --precision f16 trains and resumes exactly. */
const status = await gpuStatus();

function special(n: number): Float32Array {
  const out = new Float32Array(n);
  const fixed = [
    0,
    -0,
    1,
    -1,
    1 / 3,
    65504,
    65519,
    65520,
    70000,
    -1e6,
    2 ** -24 * 0.5,
    2 ** -24 * 1.5,
    2 ** -14,
    1e-30,
    3.4e38,
    Infinity,
    -Infinity,
    NaN,
    1 + 2 ** -8,
    1 + 3 * 2 ** -8,
  ];
  for (let i = 0; i < n; i++) out[i] = i < fixed.length ? fixed[i]! : Math.sinh(((i * 0.7919) % 20) - 10) * 10 ** ((i % 13) - 6);
  return out;
}

describe.skipIf(status.skip)(status.title('mixed precision on WebGPU'), () => {
  afterAll(destroySharedDevices);

  it.each(['bf16', 'f16'] as const)('round_to %s is bit-exact against the CPU reference on specials, subnormals and 1000 values', async (dtype) => {
    const b = new GraphBuilder();
    const x = b.addValue({ type: { dtype: 'f32', dims: [dimConst(1000)] }, kind: 'input', name: 'x' });
    const [y] = b.addNode('round_to', [x], [x.type], { dtype }, NO_SPAN, '');
    const [ok] = b.addNode('all_finite', [x], [{ dtype: 'f32', dims: [] }], {}, NO_SPAN, '');
    const g = b.finish('R', [y!, ok!], ['y', 'ok']);
    const r = await runGraphBoth(g, { inputs: { x: special(1000) } });
    const gpu = r.gpu['y']!.data;
    const cpu = r.cpu['y']!.data;
    for (let i = 0; i < 1000; i++) {
      if (Number.isNaN(cpu[i]!)) expect(Number.isNaN(gpu[i]!), `element ${i}`).toBe(true);
      else expect(gpu[i], `element ${i}: ${special(1000)[i]}`).toBe(cpu[i]);
    }
    expect(r.gpu['ok']!.data[0]).toBe(0);
    expect(r.cpu['ok']!.data[0]).toBe(0);
  });

  it('f16 loss scaling on the device: an overflowing step is skipped with every parameter and moment unchanged and the scale halved; good steps change them and the scale grows', async () => {
    // One small GPT-2 layer, trained with the runtime's Trainer and LossScaler as mdc train does.
    const src = readFileSync('samples/gpt2.model', 'utf8');
    const r = lower(src, 'gpt2.model', { preset: 'tiny', overrides: { d: 32, heads: 2, layers: 1, vocab: 256 }, dims: { B: 2, S: 16 } });
    const base = trainSettings(r.env!, r.graph!.name).settings!;
    const optimizer = { kind: 'adamw', lr: 3e-3, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0, momentum: 0 } as const;
    const compiled = await compileGraph(r.graph!, { file: 'gpt2.model', seed: 0, train: { ...base, optimizer, precision: 'f16', microbatches: 1 } });
    expect(compiled.diagnostics.map((d) => `${d.code} ${d.message}`)).toEqual([]);
    const plan = compiled.plan!;
    expect(plan.inputs.map((i) => i.name)).toEqual(expect.arrayContaining(['loss_scale', 'inv_loss_scale']));
    const runner = await PlanRunner.create(await sharedDevice(), plan);
    // 2^24 times the loss overflows f16's 65504 in the gradients; interval 2: two good steps in a row double the scale.
    const scaler = new LossScaler(2 ** 24, 0, 2);
    const data = new TextBatches(trainingText(), 2, 16, 1);
    const trainer = new Trainer(runner, data, { lr: 3e-3, warmup: 0, steps: 24 }, [0.9, 0.95], 'tokens', scaler);
    const same = (a: Map<string, Float32Array>, b: Map<string, Float32Array>) =>
      [...a].every(([k, v]) =>
        Buffer.from(v.buffer, v.byteOffset, v.byteLength).equals(Buffer.from(b.get(k)!.buffer, b.get(k)!.byteOffset, b.get(k)!.byteLength)),
      );
    const log: { scale: number; skipped: boolean; after: number; changed: boolean }[] = [];
    try {
      let params = await runner.readParams();
      expect(params.size).toBeGreaterThan(0);
      for (let t = 1; t <= 24; t++) {
        const res = await trainer.step(t);
        const next = await runner.readParams();
        log.push({ scale: res.lossScale!, skipped: res.skipped!, after: scaler.scale, changed: !same(params, next) });
        if (res.skipped) expect(Number.isFinite(res.gradNorm), `step ${t}: a skipped step overflowed`).toBe(false);
        params = next;
        // Enough seen: the overflowing prefix, then a good step run long enough to grow the scale.
        if (log.some((l, i) => i > 0 && !l.skipped && !log[i - 1]!.skipped && l.after > l.scale)) break;
      }
    } finally {
      runner.destroy();
    }
    const first = log.findIndex((l) => !l.skipped);
    expect(first, `steps: ${JSON.stringify(log)}`).toBeGreaterThan(0);
    // 2^24 overflows: each step until the first good one used half the scale of the one before.
    log.slice(0, first).forEach((l, i) => expect(l.scale, `step ${i + 1}`).toBe(2 ** (24 - i)));
    log.forEach((l, i) => {
      if (l.skipped) {
        // An overflowing step halves the scale and leaves every parameter and AdamW moment bit for bit as it was.
        expect(l.after, `step ${i + 1}: the scale halves`).toBe(l.scale / 2);
        expect(l.changed, `step ${i + 1}: a skipped step changes nothing on the device`).toBe(false);
      } else {
        expect(l.changed, `step ${i + 1}: a good step updates the parameters`).toBe(true);
      }
    });
    // One good step holds the scale; the second good one in a row doubles it.
    expect(log[first]!.after, 'one good step: the scale holds').toBe(log[first]!.scale);
    const grew = log.findIndex((l, i) => i > first && !l.skipped && !log[i - 1]!.skipped && l.after === 2 * l.scale);
    expect(grew, `steps: ${JSON.stringify(log)}`).toBeGreaterThan(first);
  });

  it('mdc train --precision f16: trains with loss scaling, and a killed run resumes with the same losses', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mdc-mp-'));
    const args = [
      ...MDC_PROCESS,
      ...TRAIN_GPT2_TINY,
      '--steps',
      '6',
      '--batch',
      '2',
      '--seq',
      '16',
      '--lr',
      '3e-3',
      '--checkpoint-every',
      '3',
      '--precision',
      'f16',
      '--microbatches',
      '1',
    ];
    const full = spawnSync(process.execPath, [...args, '--out', join(dir, 'full'), '--json'], { encoding: 'utf8', timeout: 300_000 });
    expect(full.status, full.stderr).toBe(0);
    const losses = (JSON.parse(full.stdout.slice(full.stdout.indexOf('{'))) as { losses: number[] }).losses;
    expect(losses.at(-1)!).toBeLessThan(losses[0]! - 0.3);
    const out = join(dir, 'killed');
    await new Promise<void>((resolve, reject) => {
      const child = spawn(process.execPath, [...args, '--out', out], { stdio: ['ignore', 'pipe', 'ignore'] });
      let text = '';
      child.stdout.on('data', (b: Buffer) => {
        text += b.toString();
        // Two steps before the end, so that a kill that lands late still leaves steps to resume (a checkpoint at the last step has none).
        if (text.includes('step 4/6')) child.kill('SIGKILL');
      });
      child.on('exit', (_c, signal) => (signal === 'SIGKILL' ? resolve() : reject(new Error(text))));
    });
    const resumed = spawnSync(process.execPath, [...args, '--out', out, '--resume', join(out, 'checkpoint.safetensors'), '--json'], {
      encoding: 'utf8',
      timeout: 300_000,
    });
    expect(resumed.status, resumed.stderr).toBe(0);
    expect((JSON.parse(resumed.stdout.slice(resumed.stdout.indexOf('{'))) as { losses: number[] }).losses).toEqual(losses);
  });
});
