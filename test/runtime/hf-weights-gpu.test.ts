import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { lower } from '../../compiler/compile.js';
import { planOf } from '../../driver/stages.js';
import { PlanRunner } from '../../runtime/executor.js';
import { loadWeights } from '../../runtime/weights-node.js';
import { destroySharedDevices, gpuStatus, sharedDevice } from '../support/gpu.js';
import { gpt2Reference, hfGpt2File, hfGpt2Weights, relMaxError, type Gpt2Size } from '../support/hf-gpt2.js';

const status = await gpuStatus();
const SIZE: Gpt2Size = { vocab: 96, ctx: 16, d: 32, heads: 4, layers: 2, eps: 1e-5 };
const [B, S] = [2, 8];
const SET = ['--set', 'vocab=96', '--set', 'ctx=16', '--set', 'd=32', '--set', 'heads=4', '--set', 'layers=2', '--dim', 'B=2', '--dim', 'S=8'];
const dir = mkdtempSync(join(tmpdir(), 'mdc-hf-gpu-'));
const hf = hfGpt2Weights(SIZE, 5);
const path = join(dir, 'model.safetensors');
writeFileSync(path, hfGpt2File(hf, SIZE, { prefix: 'transformer.', maskBuffers: true }));
const tokens = Int32Array.from({ length: B * S }, (_, i) => (i * 37 + 11) % SIZE.vocab);
const reference = gpt2Reference(hf, SIZE, tokens, B, S);

const mdc = (args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', 'cli/bin.ts', ...args], { encoding: 'utf8', timeout: 180_000 });

describe.skipIf(status.skip)(status.title('Hugging Face GPT-2 weights on WebGPU'), () => {
  afterAll(() => destroySharedDevices());

  // f32 kernels against a float64 reference over 2 layers of width 32: the worst logit
  // measured is 2.7e-7 of the largest (llvmpipe); 1e-5 leaves room for other adapters' rounding and is
  // far below what a wrong weight gives (the CPU test's swapped q and k: > 1e-3).
  it('the GPT-2 sample with the loaded weights reproduces the reference logits on PlanRunner (max error < 1e-5 of the largest logit)', async () => {
    const { vocab, ctx, d, heads, layers } = SIZE;
    const r = lower(readFileSync('samples/gpt2.model', 'utf8'), 'gpt2.model', { overrides: { vocab, ctx, d, heads, layers }, dims: { B, S } });
    const plan = planOf(r.graph!, { seed: 1 });
    const params = await loadWeights(path, plan, 'gpt2');
    const runner = await PlanRunner.create(await sharedDevice(), plan, { params });
    try {
      const out = await runner.run({ tokens });
      expect(relMaxError(out['logits']!.data, reference)).toBeLessThan(1e-5);
    } finally {
      runner.destroy();
    }
  });

  it('mdc run --weights --weights-map gpt2 prints the reference logits; a model of another size is refused with its mismatches', () => {
    const inputs = join(dir, 'tokens.json');
    writeFileSync(inputs, JSON.stringify({ tokens: Array.from(tokens) }));
    const p = mdc(['run', 'samples/gpt2.model', ...SET, '--weights', path, '--weights-map', 'gpt2', '--inputs', inputs, '--json']);
    expect(p.status, p.stderr + p.stdout).toBe(0);
    const out = JSON.parse(p.stdout) as { outputs: { name: string; sum: number; first: number[] }[] };
    const logits = out.outputs.find((o) => o.name === 'logits')!;
    const scale = Math.max(...reference.map(Math.abs));
    for (let i = 0; i < 4; i++) expect(Math.abs(logits.first[i]! - reference[i]!)).toBeLessThan(1e-5 * scale);
    // The sum of 1536 logits, each within 1e-5 of the largest.
    expect(Math.abs(logits.sum - reference.reduce((a, b) => a + b, 0))).toBeLessThan(1e-5 * scale * reference.length);

    const q = mdc(['run', 'samples/gpt2.model', ...SET.map((a) => (a === 'd=32' ? 'd=64' : a)), '--weights', path, '--weights-map', 'gpt2']);
    expect(q.status).toBe(1);
    const lines = q.stderr.split('\n');
    expect(lines[0]).toBe(`mdc: error: ${path}: cannot load into GPT2: 28 problems:`);
    expect(lines[1]).toBe(`  tensor 'transformer.wte.weight' (F32[96, 32]) gives [96, 32], but parameter 'wte' is f32[96, 64] in GPT2`);
  });
});
