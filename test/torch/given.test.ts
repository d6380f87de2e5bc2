import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { encodeCheckpoint, type CheckpointTensor } from '../../runtime/checkpoint.js';
import { mdc } from '../support/cli.js';
import { mulberry32 } from '../support/random.js';
import { runTorch, torchAvailable } from '../support/torchrun.js';
import { gather, referenceRun } from './oracle.js';

/**
 * main.py's --weights and --inputs: global tensors in safetensors files, each rank cutting
 * its block. The golden dp × tp classifier (4 ranks) with weights and inputs that are not
 * mdc's seeded ones: its forward pass, and 2 training steps from them, equal mdc's CPU
 * reference given the same tensors.
 */
it('--weights and --inputs: each rank cuts its block of the given global tensors', async () => {
  expect(torchAvailable(), 'Debian python3-torch (scripts/ensure-torch.sh)').toBe(true);
  const file = 'test/torch/golden/mlp/input.model';
  const dir = mkdtempSync(join(tmpdir(), 'mdc-torch-given-'));
  const r = await mdc('export', file, '--target', 'torch', '-o', join(dir, 'pkg'));
  expect(r.code, r.err).toBe(0);
  const rand = mulberry32(5);
  const f32 = (shape: number[], scale: number): CheckpointTensor => ({
    dtype: 'F32',
    shape,
    data: Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => (rand() * 2 - 1) * scale),
  });
  const weights: Record<string, CheckpointTensor> = {
    g: f32([8], 1),
    head: f32([8, 4], 0.5),
    'Ffn.w1': f32([8, 16], 0.3),
    'Ffn.b1': f32([16], 0.1),
    'Ffn.w2': f32([16, 8], 0.3),
  };
  const inputs: Record<string, CheckpointTensor> = {
    x: f32([4, 8], 2),
    labels: { dtype: 'I32', shape: [4], data: Int32Array.of(3, 0, 2, 1) },
  };
  writeFileSync(join(dir, 'w.safetensors'), encodeCheckpoint(weights));
  writeFileSync(join(dir, 'in.safetensors'), encodeCheckpoint(inputs));
  const as64 = (t: Record<string, CheckpointTensor>) => Object.entries(t).map(([k, v]) => [k, Float64Array.from(v.data)] as const);
  const oracle = await referenceRun(file, { seed: 0, steps: 2, weights: new Map(as64(weights)), inputs: Object.fromEntries(as64(inputs)) });
  const given = ['--weights', join(dir, 'w.safetensors'), '--inputs', join(dir, 'in.safetensors')];
  const maxAbs = (a: ArrayLike<number>, b: ArrayLike<number>) => Array.from(a).reduce((m, x, i) => Math.max(m, Math.abs(x - b[i]!)), 0);

  const fw = await runTorch({ dir: join(dir, 'pkg'), args: [...given, '--out', join(dir, 'fw')], nproc: 4, timeoutMs: 180_000 });
  expect(fw.code, fw.ranks[0]?.out ?? fw.stderr).toBe(0);
  // Logits of a width-8 model from values below 2: f32 against float64, measured ~1e-7.
  expect(maxAbs(gather(join(dir, 'fw'), 4).tensors.get('logits')!, oracle.forward['logits']!)).toBeLessThan(1e-5);

  const tr = await runTorch({ dir: join(dir, 'pkg'), args: [...given, '--steps', '2', '--out', join(dir, 'tr')], nproc: 4, timeoutMs: 180_000 });
  expect(tr.code, tr.stderr).toBe(0);
  const got = gather(join(dir, 'tr'), 4);
  got.losses!.forEach((l, i) => expect(Math.abs(l - oracle.losses[i]!)).toBeLessThan(1e-5));
  // AdamW at lr 1e-3 for 2 steps: an element moves at most ~lr a step; f32 noise bound 1e-4.
  for (const [name, want] of oracle.params) expect(maxAbs(got.tensors.get(name)!, want), name).toBeLessThan(1e-4);

  // A file that leaves an input out is refused, not completed with drawn values.
  writeFileSync(join(dir, 'x-only.safetensors'), encodeCheckpoint({ x: inputs['x']! }));
  const lacking = ['--inputs', join(dir, 'x-only.safetensors'), '--steps', '1'];
  const bad = await runTorch({ dir: join(dir, 'pkg'), args: [...lacking, '--out', join(dir, 'bad')], nproc: 4, timeoutMs: 180_000 });
  expect(bad.code).not.toBe(0);
  for (const r of bad.ranks) {
    expect(r.code).not.toBe(0);
    expect(r.out).toContain("main.py: --inputs: the file lacks ['labels']; it must hold every input: ['labels', 'x']");
  }

  // So is a weight file that lacks a model parameter (optimizer state it lacks would start fresh).
  const { head: _head, ...headless } = weights;
  writeFileSync(join(dir, 'headless.safetensors'), encodeCheckpoint(headless));
  const noHead = ['--weights', join(dir, 'headless.safetensors'), '--out', join(dir, 'bad2')];
  const bad2 = await runTorch({ dir: join(dir, 'pkg'), args: noHead, nproc: 4, timeoutMs: 180_000 });
  for (const r of bad2.ranks) {
    expect(r.code).not.toBe(0);
    expect(r.out).toContain("main.py: --weights: the file lacks 1 of the model's parameters: ['head']");
  }
}, 300_000);
