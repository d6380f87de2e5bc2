import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MDC_PROCESS, TRAIN_GPT2_TINY, TRAIN_TEXT } from '../support/cli.js';
import { gpuStatus } from '../support/gpu.js';

/**
 * `mdc train` end to end on WebGPU: a run killed with SIGKILL and resumed from its last
 * checkpoint gives bit-identical losses to an uninterrupted run (batches depend only on
 * (seed, step), parameters and optimizer state are restored exactly); corrupt or
 * mismatched checkpoints are refused without touching anything.
 */
const status = await gpuStatus();
const base = [
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
  '--microbatches',
  '1',
];
const run = (...extra: string[]) => spawnSync(process.execPath, [...base, ...extra], { encoding: 'utf8', timeout: 300_000 });
const losses = (stdout: string) => (JSON.parse(stdout.slice(stdout.indexOf('{'))) as { losses: number[] }).losses;

describe.skipIf(status.skip)(status.title('mdc train'), () => {
  const dir = mkdtempSync(join(tmpdir(), 'mdc-train-'));
  let full: number[] = [];

  it('trains, writes a checkpoint, losses.json and an SVG loss curve', () => {
    const r = run('--out', join(dir, 'full'), '--json');
    expect(r.status, r.stderr).toBe(0);
    full = losses(r.stdout);
    expect(full).toHaveLength(6);
    expect(full[0]).toBeGreaterThan(Math.log(256) - 0.3);
    expect(full.at(-1)!).toBeLessThan(full[0]! - 0.5);
    for (const f of ['checkpoint.safetensors', 'losses.json', 'loss.svg']) expect(existsSync(join(dir, 'full', f))).toBe(true);
    expect(readFileSync(join(dir, 'full', 'loss.svg'), 'utf8')).toMatch(/^<svg [^>]*>[\s\S]*<polyline[\s\S]*<\/svg>\n$/);
  });

  it('a run killed after its step-3 checkpoint and resumed gives the same losses, bit for bit', async () => {
    const out = join(dir, 'killed');
    await new Promise<void>((resolve, reject) => {
      const child = spawn(process.execPath, [...base, '--out', out], { stdio: ['ignore', 'pipe', 'ignore'] });
      let text = '';
      child.stdout.on('data', (b: Buffer) => {
        text += b.toString();
        // Two steps before the end, so that a kill that lands late still leaves steps to resume (a checkpoint at the last step has none).
        if (text.includes('step 4/6')) child.kill('SIGKILL');
      });
      child.on('exit', (code, signal) => (signal === 'SIGKILL' ? resolve() : reject(new Error(`exited ${code} before it could be killed:\n${text}`))));
    });
    const resumed = run('--out', out, '--resume', join(out, 'checkpoint.safetensors'), '--json');
    expect(resumed.status, resumed.stderr).toBe(0);
    expect(losses(resumed.stdout)).toEqual(full);
  });

  it('refuses a truncated checkpoint and a mismatched one, and writes nothing', () => {
    const out = join(dir, 'bad');
    cpSync(join(dir, 'full'), out, { recursive: true });
    const ck = join(out, 'checkpoint.safetensors');
    truncateSync(ck, 1000);
    const before = readFileSync(ck);
    const log = readFileSync(join(out, 'losses.json'));
    const r = run('--out', out, '--resume', ck);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/mdc: error: cannot resume from '.*checkpoint\.safetensors': /);
    expect(readFileSync(ck).equals(before)).toBe(true);
    expect(readFileSync(join(out, 'losses.json')).equals(log)).toBe(true);
    const other = run('--out', join(dir, 'other'), '--resume', join(dir, 'full', 'checkpoint.safetensors'), '--seed', '9');
    expect(other.status).toBe(1);
    expect(other.stderr).toContain('it was written with seed = 0, this run has 9');
  });

  it('usage errors: no --data, a model without a token input, a vocabulary under 256', () => {
    const noData = spawnSync(process.execPath, ['--import', 'tsx', 'cli/bin.ts', 'train', 'samples/gpt2.model'], { encoding: 'utf8' });
    expect(noData.status).toBe(2);
    expect(noData.stderr).toContain('train needs --data');
    const small = spawnSync(process.execPath, [...MDC_PROCESS, 'train', 'samples/mlp.model', '--preset', 'tiny', '--data', TRAIN_TEXT], {
      encoding: 'utf8',
    });
    expect(small.status).toBe(2);
    expect(small.stderr).toContain('needs a model with one i32 token input');
    const vocab = spawnSync(process.execPath, [...MDC_PROCESS, 'train', 'samples/gpt2.model', '--preset', 'tiny', '--set', 'vocab=128', '--data', TRAIN_TEXT], {
      encoding: 'utf8',
    });
    expect(vocab.status).toBe(2);
    expect(vocab.stderr).toContain('needs a vocabulary of at least 256');
  });
});

describe.skipIf(status.skip)(status.title('mdc train options'), () => {
  const dir = mkdtempSync(join(tmpdir(), 'mdc-train-options-'));
  const three = (...extra: string[]) => {
    const r = spawnSync(
      process.execPath,
      [...MDC_PROCESS, ...TRAIN_GPT2_TINY, '--steps', '3', '--batch', '4', '--seq', '16', '--lr', '3e-3', '--json', ...extra],
      { encoding: 'utf8', timeout: 300_000 },
    );
    expect(r.status, r.stderr).toBe(0);
    return losses(r.stdout);
  };

  it('--recompute rebuilds activations without changing a loss: none, selective, full and auto give the same losses bit for bit', () => {
    const none = three('--microbatches', '1', '--recompute', 'none', '--out', join(dir, 'none'));
    for (const p of ['selective', 'full']) expect(three('--microbatches', '1', '--recompute', p, '--out', join(dir, p)), p).toEqual(none);
    expect(three('--microbatches', '1', '--recompute', 'auto', '--memory-budget', '1MiB', '--out', join(dir, 'auto'))).toEqual(none);
  });

  it('--microbatches 2 accumulates gradients: the losses of one batch of 4 rows, within 1e-5', () => {
    const one = three('--microbatches', '1', '--out', join(dir, 'm1'));
    const two = three('--microbatches', '2', '--out', join(dir, 'm2'));
    two.forEach((l, i) => expect(Math.abs(l - one[i]!), `step ${i + 1}`).toBeLessThan(1e-5 * one[i]!));
  });
});
