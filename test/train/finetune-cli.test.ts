import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readCheckpoint, writeCheckpoint } from '../../runtime/checkpoint-node.js';
import { MDC_PROCESS, TRAIN_TEXT } from '../support/cli.js';
import { gpuStatus } from '../support/gpu.js';

/**
 * Fine-tuning through `mdc train --init` on WebGPU (the gpt2 sample's tiny preset at
 * vocabulary 256): frozen parameters come out bit-identical to the weights the run
 * started from and have no optimizer state in the checkpoint (the plan keeps none);
 * a LoRA run trains only its adapters; `mdc generate` merges the adapters into the
 * weights and decodes what the base model decodes with weights merged by hand.
 */
const status = await gpuStatus();
const dir = mkdtempSync(join(tmpdir(), 'mdc-finetune-'));
const sample = readFileSync('samples/gpt2.model', 'utf8');
const loraModel = join(dir, 'lora.model');
writeFileSync(
  loraModel,
  sample
    .replace('param wq: f32[d, d@tp] = normal(0, 0.02)', 'param wq: f32[d, d@tp] = normal(0, 0.02) @lora(rank = 2, alpha = 4)')
    .replace('param wv: f32[d, d@tp] = normal(0, 0.02)', 'param wv: f32[d, d@tp] = normal(0, 0.02) @lora(rank = 2, alpha = 4)'),
);
const freezeModel = join(dir, 'freeze.model');
writeFileSync(freezeModel, sample.replace('  zero = 1\n}', '  zero = 1\n  freeze = ["wte", "Layer.*.Attention.*"]\n}'));
const TINY = ['--preset', 'tiny', '--set', 'vocab=256'];
const train = (model: string, out: string, ...extra: string[]) =>
  spawnSync(
    process.execPath,
    [
      ...MDC_PROCESS,
      'train',
      model,
      ...TINY,
      '--data',
      TRAIN_TEXT,
      '--steps',
      '3',
      '--batch',
      '2',
      '--seq',
      '16',
      '--microbatches',
      '1',
      '--lr',
      '1e-2',
    ].concat(['--out', join(dir, out), ...extra]),
    { encoding: 'utf8', timeout: 300_000 },
  );
const ckpt = (out: string) => join(dir, out, 'checkpoint.safetensors');

describe.skipIf(status.skip)(status.title('mdc train --init (fine-tuning)'), () => {
  it('pretrains the base model', () => {
    const r = train('samples/gpt2.model', 'pre');
    expect(r.status, r.stderr).toBe(0);
  });

  it('freeze: the frozen tensors are bit-identical to the starting weights and have no optimizer state; the others moved', async () => {
    const r = train(freezeModel, 'frozen', '--init', ckpt('pre'));
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/fine-tuning: [\d,]+ of [\d,]+ parameters train \([\d.]+%\); 17 tensors frozen/);
    const before = await readCheckpoint(ckpt('pre'));
    const after = await readCheckpoint(ckpt('frozen'));
    const frozen = ['wte', ...[0, 1].flatMap((l) => ['wq', 'wk', 'wv', 'bq', 'bk', 'bv', 'wo', 'bo'].map((p) => `Layer.${l}.Attention.${p}`))];
    for (const name of frozen) {
      expect(after.tensors[name]!.data, name).toEqual(before.tensors[name]!.data);
      expect(Object.keys(after.tensors).filter((k) => k === `opt.m.${name}` || k === `opt.v.${name}`)).toEqual([]);
    }
    expect(after.tensors['Layer.0.Mlp.w1']!.data).not.toEqual(before.tensors['Layer.0.Mlp.w1']!.data);
    expect(after.tensors['opt.m.Layer.0.Mlp.w1']).toBeDefined();
  });

  it('LoRA: only the adapters train (1 of every few hundred parameters), and generate merges them', async () => {
    const r = train(loraModel, 'lora', '--init', ckpt('pre'));
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/fine-tuning: 2,048 of [\d,]+ parameters train \(0\.\d+%\)/);
    const before = await readCheckpoint(ckpt('pre'));
    const after = await readCheckpoint(ckpt('lora'));
    const base = Object.keys(before.tensors).filter((k) => !k.startsWith('opt.'));
    for (const name of base) expect(after.tensors[name]!.data, name).toEqual(before.tensors[name]!.data);
    const adapters = Object.keys(after.tensors).filter((k) => !k.startsWith('opt.') && (k.endsWith('.lora_a') || k.endsWith('.lora_b')));
    expect(adapters.sort()).toEqual(
      ['wq', 'wv'].flatMap((w) => [0, 1].flatMap((l) => [`Layer.${l}.Attention.${w}.lora_a`, `Layer.${l}.Attention.${w}.lora_b`])).sort(),
    );
    expect(Object.keys(after.tensors).filter((k) => k.startsWith('opt.m.'))).toHaveLength(adapters.length);
    // B moved off zero, so the merge changes the weights.
    expect([...(after.tensors['Layer.0.Attention.wq.lora_b']!.data as Float32Array)].some((x) => x !== 0)).toBe(true);

    // The oracle: w + (alpha/r)·A·B written out here (alpha/r = 2), into a checkpoint of the base model's tensors only.
    const merged: Record<string, { dtype: 'F32'; shape: readonly number[]; data: Float32Array }> = {};
    for (const name of base) {
      const t = after.tensors[name]!;
      const a = after.tensors[`${name}.lora_a`];
      const b = after.tensors[`${name}.lora_b`];
      let data = t.data as Float32Array;
      if (a && b) {
        const [rows, cols] = t.shape as [number, number];
        data = new Float32Array(rows * cols);
        for (let i = 0; i < rows; i++)
          for (let j = 0; j < cols; j++) {
            let s = 0;
            for (let k = 0; k < 2; k++) s += (a.data[i * 2 + k] as number) * (b.data[k * cols + j] as number);
            data[i * cols + j] = (t.data[i * cols + j] as number) + 2 * s;
          }
      }
      merged[name] = { dtype: 'F32', shape: t.shape, data };
    }
    await writeCheckpoint(join(dir, 'merged.safetensors'), merged);
    const gen = (model: string, weights: string) =>
      spawnSync(process.execPath, [...MDC_PROCESS, 'generate', model, ...TINY, '--weights', weights, '--prompt', 'the ', '--max-new-tokens', '6', '--json'], {
        encoding: 'utf8',
        timeout: 300_000,
      });
    const adapted = gen(loraModel, ckpt('lora'));
    const byHand = gen('samples/gpt2.model', join(dir, 'merged.safetensors'));
    expect(adapted.status, adapted.stdout + adapted.stderr).toBe(0);
    expect(byHand.status, byHand.stdout + byHand.stderr).toBe(0);
    const tokens = (stdout: string) => (JSON.parse(stdout) as { tokens: number[] }).tokens;
    expect(tokens(adapted.stdout)).toHaveLength(6);
    expect(tokens(adapted.stdout)).toEqual(tokens(byHand.stdout));
  });

  it('--init refuses a file missing a parameter, and --init with --resume', async () => {
    const ck = await readCheckpoint(ckpt('pre'));
    const { ['lnf_g']: _gone, ...rest } = ck.tensors;
    await writeCheckpoint(join(dir, 'partial.safetensors'), rest);
    const r = train('samples/gpt2.model', 'bad', '--init', join(dir, 'partial.safetensors'));
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(
      `--init ${join(dir, 'partial.safetensors')}: it has no tensor 'lnf_g' (the model's f32[128]); every parameter but LoRA adapters must be in it`,
    );
    const both = train('samples/gpt2.model', 'bad2', '--init', ckpt('pre'), '--resume', ckpt('pre'));
    expect(both.status).toBe(2);
    expect(both.stderr).toContain('--init starts a new run from weights and --resume continues a stopped one: give one of them');
  });
});
