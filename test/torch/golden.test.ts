import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { UNDER_CI } from '../support/ci.js';
import { mdc } from '../support/cli.js';
import { TORCH_PYTHON, torchAvailable } from '../support/torchrun.js';

/**
 * Golden cases of `mdc export --target torch`: test/torch/golden/<name>/input.model exported
 * with its own mesh gives expected.main.py byte for byte (refresh with UPDATE_SNAPSHOTS=1
 * locally, then read the diff: the expectation is reviewed, not pasted). The package
 * passes Python's syntax check and imports (torch, mdc_torch and every table and function
 * main.py defines) without running.
 */
const ROOT = 'test/torch/golden';
const update = process.env['UPDATE_SNAPSHOTS'] === '1';
if (update && UNDER_CI) throw new Error('UPDATE_SNAPSHOTS=1 is refused under CI: a rewritten expectation compares equal to itself');

async function exportTo(file: string, ...extra: string[]): Promise<{ dir: string; code: number; out: string; err: string }> {
  const dir = join(mkdtempSync(join(tmpdir(), 'mdc-torch-golden-')), 'pkg');
  return { dir, ...(await mdc('export', file, '--target', 'torch', '-o', dir, ...extra)) };
}

describe('mdc export --target torch: golden main.py', () => {
  for (const name of readdirSync(ROOT)) {
    it(
      name,
      async () => {
        const r = await exportTo(join(ROOT, name, 'input.model'));
        expect(r.err).toBe('');
        expect(r.code).toBe(0);
        const main = readFileSync(join(r.dir, 'main.py'), 'utf8');
        const again = await exportTo(join(ROOT, name, 'input.model'));
        expect(readFileSync(join(again.dir, 'main.py'), 'utf8'), 'deterministic').toBe(main);
        expect(readFileSync(join(r.dir, 'mdc_torch.py'), 'utf8')).toBe(readFileSync('runtime/torch/mdc_torch.py', 'utf8'));
        expect(main.split('\n').filter((l) => l.length > 120)).toEqual([]);
        const expected = join(ROOT, name, 'expected.main.py');
        if (update) writeFileSync(expected, main);
        else if (!existsSync(expected)) throw new Error(`${name}: no expected.main.py (run locally with UPDATE_SNAPSHOTS=1, review and commit it)`);
        expect(main).toBe(readFileSync(expected, 'utf8'));

        expect(torchAvailable(), 'Debian python3-torch (scripts/ensure-torch.sh)').toBe(true);
        const compiled = spawnSync(TORCH_PYTHON, ['-m', 'py_compile', join(r.dir, 'main.py'), join(r.dir, 'mdc_torch.py')], { encoding: 'utf8' });
        expect(compiled.status, compiled.stderr).toBe(0);
        const check = 'import main; assert callable(main.forward) and callable(main.train_step) and callable(main.run); print(len(main.TRAIN_PARAMS))';
        const imported = spawnSync(TORCH_PYTHON, ['-c', check], { cwd: r.dir, encoding: 'utf8', env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' } });
        expect(imported.status, imported.stderr).toBe(0);
        expect(Number(imported.stdout.trim())).toBeGreaterThan(0);
      },
      60_000,
    );
  }
});

describe('mdc export --target torch: what it refuses', () => {
  it('training dropout: MDC0601 at each use, and nothing is written', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mdc-torch-refuse-'));
    const file = join(dir, 'drop.model');
    writeFileSync(
      file,
      [
        'mesh M = [dp: 2]',
        'model Drop(x: f32[B@dp, 8]) -> f32[B@dp, 8] where B = 4 {',
        '  param w: f32[8, 8] = normal(0, 0.1)',
        '  let h = dropout(x @ w, 0.1)',
        '  let logits = dropout(h @ w, 0.2)',
        '  return logits',
        '}',
        'train Drop {',
        '  loss = cross_entropy(logits, labels)',
        '}',
        '',
      ].join('\n'),
    );
    const r = await exportTo(file);
    expect(r.code).toBe(1);
    expect(r.err.split('\n').filter((l) => l.includes(': error MDC'))).toEqual([
      `${file}:4:11: error MDC0601: dropout cannot be exported to torch: training dropout draws its mask from mdc kernel hashes, which the export does not reproduce yet`,
      `${file}:5:16: error MDC0601: dropout cannot be exported to torch: training dropout draws its mask from mdc kernel hashes, which the export does not reproduce yet`,
    ]);
    expect(existsSync(r.dir)).toBe(false);
  });

  it('a pipelined step with recompute: MDC0601 at the @pipeline annotation (pipelines themselves export: pipeline.test.ts)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mdc-torch-refuse-'));
    const file = join(dir, 'pp.model');
    writeFileSync(
      file,
      [
        'mesh M = [pp: 2, dp: 2]',
        'config C { layers = 2, d = 8 }',
        'block Layer(x: f32[B, d]) -> f32[B, d] {',
        '  param w: f32[d, d] = normal(0, 0.1)',
        '  return x @ w',
        '}',
        'model P(x: f32[B@dp, d]) -> f32[B@dp, d] where B = 4 {',
        '  let h = repeat(layers) Layer(x) @pipeline(stages = 2)',
        '  let logits = h',
        '  return logits',
        '}',
        'train P {',
        '  loss = cross_entropy(logits, labels)',
        '  recompute = "full"',
        '}',
        '',
      ].join('\n'),
    );
    const r = await exportTo(file);
    expect(r.code).toBe(1);
    expect(r.err).toContain(
      `${file}:8:35: error MDC0601: recompute = full cannot be exported to torch: recomputation with pipeline stages is not exported yet`,
    );
    expect(existsSync(r.dir)).toBe(false);
  });

  it('-o naming a file for torch, and --mesh for onnx, are usage errors', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mdc-torch-usage-'));
    const file = join(dir, 'x.py');
    writeFileSync(file, '');
    const a = await mdc('export', 'samples/gpt2.model', '--preset', 'tiny', '--target', 'torch', '-o', file);
    expect(a.code).toBe(2);
    expect(a.err).toContain(`-o ${file} is a file; --target torch writes a folder`);
    const b = await mdc('export', 'samples/gpt2.model', '--preset', 'tiny', '--target', 'onnx', '--mesh', 'dp=2', '-o', join(dir, 'm.onnx'));
    expect(b.code).toBe(2);
    expect(b.err).toContain('--mesh and --forward are for --target torch');
  });
});
