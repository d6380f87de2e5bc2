/**
 * A LoRA checkpoint (`<w>.lora_a`, `<w>.lora_b` beside `<w>`, with the adapters' optimizer
 * state, as `mdc train` writes it) given to `mdc run`, `mdc export` and `mdc generate` with
 * `--weights`: the adapters are merged into their weights, w + (alpha/r)·A·B, with alpha and
 * r from the model's `@lora`. The oracles are independent of the merge: a float64 forward
 * pass written out here on weights merged here, and the same commands on the base model
 * given a checkpoint merged here. A model without the `@lora` is refused, naming the tensors.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { lower } from '../../compiler/compile.js';
import { dimValue } from '../../compiler/dims.js';
import { writeCheckpoint } from '../../runtime/checkpoint-node.js';
import type { CheckpointTensor } from '../../runtime/checkpoint.js';
import { MDC_PROCESS } from '../support/cli.js';
import { gpuStatus } from '../support/gpu.js';
import { mulberry32 } from '../support/random.js';

const status = await gpuStatus();
const dir = mkdtempSync(join(tmpdir(), 'mdc-lora-weights-'));
const mdc = (...args: string[]) => spawnSync(process.execPath, [...MDC_PROCESS, ...args], { encoding: 'utf8', timeout: 300_000 });

type Tensors = Record<string, CheckpointTensor>;
const f32 = (shape: number[], data: Float32Array): CheckpointTensor => ({ dtype: 'F32', shape, data });
const random = (seed: number, n: number, scale: number) => {
  const g = mulberry32(seed);
  return Float32Array.from({ length: n }, () => scale * (2 * g() - 1));
};

/** w + scale·A·B as this test computes it: each element's A·B summed in float64, added to w, rounded to f32 once. */
function mergeByHand(w: Float32Array, a: Float32Array, b: Float32Array, rows: number, cols: number, rank: number, scale: number): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let i = 0; i < rows; i++)
    for (let j = 0; j < cols; j++) {
      let s = 0;
      for (let k = 0; k < rank; k++) s += a[i * rank + k]! * b[k * cols + j]!;
      out[i * cols + j] = w[i * cols + j]! + scale * s;
    }
  return out;
}

/** The base model and the same model with @lora(rank = 2, alpha = 3) on w1: scale 1.5. */
const base = `model M(x: f32[2, 8]) -> f32[2, 4] {
  param w1: f32[8, 6] = normal(0, 0.1)
  param w2: f32[6, 4] = normal(0, 0.1)
  let y = relu(x @ w1) @ w2
  return y
}
`;
const adapted = base.replace('normal(0, 0.1)\n', 'normal(0, 0.1) @lora(rank = 2, alpha = 3)\n');

describe.skipIf(status.skip)(status.title('--weights with LoRA adapters (mdc run, export, generate)'), () => {
  const w1 = random(1, 48, 0.5);
  const w2 = random(2, 24, 0.5);
  const a = random(3, 16, 0.5);
  const b = random(4, 12, 0.5); // nonzero: the merge changes w1
  const x = random(5, 16, 1);
  const merged = mergeByHand(w1, a, b, 8, 6, 2, 1.5);
  const files = {
    base: join(dir, 'base.model'),
    lora: join(dir, 'lora.model'),
    ckpt: join(dir, 'lora.safetensors'),
    byHand: join(dir, 'merged.safetensors'),
    map: join(dir, 'map.json'),
    inputs: join(dir, 'in.json'),
  };
  writeFileSync(files.base, base);
  writeFileSync(files.lora, adapted);
  writeFileSync(
    files.map,
    JSON.stringify({ format: 'mdc.weights-map', version: 1, name: 'same', entries: ['w1', 'w2'].map((n) => ({ source: n, target: n })) }),
  );
  writeFileSync(files.inputs, JSON.stringify({ x: [...x] }));

  it('mdc run merges the adapters: outputs equal a float64 pass on weights merged by hand, and the base model given those weights', async () => {
    const tensors: Tensors = {
      w1: f32([8, 6], w1),
      w2: f32([6, 4], w2),
      'w1.lora_a': f32([8, 2], a),
      'w1.lora_b': f32([2, 6], b),
      // Optimizer state of the adapters, as mdc train saves it: not weights, dropped with them.
      'opt.m.w1.lora_a': f32([8, 2], a),
      'opt.m.w1.lora_b': f32([2, 6], b),
    };
    await writeCheckpoint(files.ckpt, tensors);
    await writeCheckpoint(files.byHand, { w1: f32([8, 6], merged), w2: f32([6, 4], w2) });
    const run = (model: string, weights: string) => {
      const r = mdc('run', model, '--weights', weights, '--weights-map', files.map, '--inputs', files.inputs, '--json');
      expect(r.status, r.stdout + r.stderr).toBe(0);
      return (JSON.parse(r.stdout) as { outputs: { sum: number; first: number[] }[] }).outputs[0]!;
    };
    const got = run(files.lora, files.ckpt);

    // float64 oracle: y = relu(x·W1')·W2 with W1' merged above.
    const y: number[] = [];
    for (let i = 0; i < 2; i++)
      for (let j = 0; j < 4; j++) {
        let s = 0;
        for (let k = 0; k < 6; k++) {
          let h = 0;
          for (let l = 0; l < 8; l++) h += x[i * 8 + l]! * merged[l * 6 + k]!;
          s += Math.max(h, 0) * w2[k * 4 + j]!;
        }
        y.push(s);
      }
    const scale = Math.max(...y.map(Math.abs));
    // f32 kernels over sums of 8 and 6 products: 1e-5 of the outputs' scale; the unmerged weights move them by O(0.1).
    for (let i = 0; i < 4; i++) expect(Math.abs(got.first[i]! - y[i]!)).toBeLessThan(1e-5 * scale);
    expect(Math.abs(got.sum - y.reduce((s, v) => s + v, 0))).toBeLessThan(1e-5 * 8 * scale);
    // The same plan on the same merged f32 weights: the same outputs, bit for bit.
    expect(run(files.base, files.byHand)).toEqual(got);

    // Without a map, a file with every parameter under the model's own names is read by them,
    // optimizer state passed over (here also w2's, as a train_also parameter would have).
    const own = join(dir, 'own.safetensors');
    await writeCheckpoint(own, { ...tensors, 'opt.m.w2': f32([6, 4], w2), 'opt.v.w2': f32([6, 4], w2) });
    const r = mdc('run', files.lora, '--weights', own, '--inputs', files.inputs, '--json');
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect((JSON.parse(r.stdout) as { outputs: unknown[] }).outputs[0]).toEqual(got);
  });

  it('mdc export --target onnx writes the merged weights: the same file as the base model with weights merged by hand', async () => {
    const out = (name: string) => join(dir, `${name}.onnx`);
    const lora = mdc('export', files.lora, '--target', 'onnx', '-o', out('lora'), '--weights', files.ckpt, '--weights-map', files.map);
    const byHand = mdc('export', files.base, '--target', 'onnx', '-o', out('base'), '--weights', files.byHand, '--weights-map', files.map);
    expect(lora.status, lora.stdout + lora.stderr).toBe(0);
    expect(byHand.status, byHand.stdout + byHand.stderr).toBe(0);
    expect(readFileSync(out('lora')).equals(readFileSync(out('base')))).toBe(true);
    // The weights reach the file: the adapters left out give another one.
    const plain = join(dir, 'plain.safetensors');
    await writeCheckpoint(plain, { w1: f32([8, 6], w1), w2: f32([6, 4], w2) });
    const r = mdc('export', files.base, '--target', 'onnx', '-o', out('plain'), '--weights', plain, '--weights-map', files.map);
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(readFileSync(out('plain')).equals(readFileSync(out('base')))).toBe(false);
  });

  it('a model that does not declare the @lora refuses the adapters by name (their scale is unknown)', () => {
    for (const cmd of [
      ['run', files.base],
      ['export', files.base, '--target', 'onnx', '-o', join(dir, 'x.onnx')],
    ]) {
      const r = mdc(...cmd, '--weights', files.ckpt, '--weights-map', files.map);
      expect(r.status).toBe(2);
      expect(r.stderr).toContain(
        `--weights ${files.ckpt} has LoRA adapters 'w1.lora_a', 'w1.lora_b' of 'w1', which M does not declare @lora(rank = r, alpha = a)`,
      );
    }
  });

  it('mdc generate decodes with the adapters merged: the tokens of the base model given weights merged by hand', async () => {
    // The gpt2 sample's tiny preset at vocabulary 256, @lora(rank = 2, alpha = 4) on every layer's wq: scale 2.
    const opts = { preset: 'tiny', overrides: { vocab: 256 } };
    const sample = readFileSync('samples/gpt2.model', 'utf8');
    const loraModel = join(dir, 'gpt-lora.model');
    writeFileSync(loraModel, sample.replace('param wq: f32[d, d@tp] = normal(0, 0.02)', 'param wq: f32[d, d@tp] = normal(0, 0.02) @lora(rank = 2, alpha = 4)'));
    const g = lower(sample, 'gpt2.model', opts).graph!;
    const ck: Tensors = {};
    const byHand: Tensors = {};
    let seed = 10;
    for (const v of g.values.filter((v) => v.kind === 'param')) {
      const shape = v.type.dims.map((d) => dimValue(d)!);
      const n = shape.reduce((p, d) => p * d, 1);
      // Norm gains at one, everything else small and random.
      const w = /_g$/.test(v.name!) ? new Float32Array(n).fill(1) : random(seed++, n, 0.1);
      ck[v.name!] = byHand[v.name!] = f32(shape, w);
      if (!v.name!.endsWith('.wq')) continue;
      const [rows, cols] = shape as [number, number];
      const A = random(seed++, rows * 2, 0.3);
      const B = random(seed++, 2 * cols, 0.3);
      ck[`${v.name!}.lora_a`] = f32([rows, 2], A);
      ck[`${v.name!}.lora_b`] = f32([2, cols], B);
      byHand[v.name!] = f32(shape, mergeByHand(w, A, B, rows, cols, 2, 2));
    }
    await writeCheckpoint(join(dir, 'gpt-lora.safetensors'), ck);
    await writeCheckpoint(join(dir, 'gpt-merged.safetensors'), byHand);
    const gen = (model: string, weights: string) => {
      const r = mdc('generate', model, '--preset', 'tiny', '--set', 'vocab=256', '--weights', weights, '--prompt', 'the ', '--max-new-tokens', '6', '--json');
      expect(r.status, r.stdout + r.stderr).toBe(0);
      return (JSON.parse(r.stdout) as { tokens: number[] }).tokens;
    };
    const tokens = gen(loraModel, join(dir, 'gpt-lora.safetensors'));
    expect(tokens).toHaveLength(6);
    expect(tokens).toEqual(gen('samples/gpt2.model', join(dir, 'gpt-merged.safetensors')));
    // The adapters matter here: the base weights alone decode other tokens.
    const plain = Object.fromEntries(Object.entries(ck).filter(([k]) => !k.endsWith('.lora_a') && !k.endsWith('.lora_b')));
    await writeCheckpoint(join(dir, 'gpt-plain.safetensors'), plain);
    expect(gen('samples/gpt2.model', join(dir, 'gpt-plain.safetensors'))).not.toEqual(tokens);
  });
});
