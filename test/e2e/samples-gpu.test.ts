import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { dimValue } from '../../compiler/dims.js';
import { compareOutputs, gpuStatus, runBoth } from '../support/gpu.js';

const status = await gpuStatus();
const src = (s: string) => readFileSync(`samples/${s}.model`, 'utf8');

describe.skipIf(status.skip)(status.title('samples on WebGPU against the CPU oracle'), () => {
  // f32 kernels against a float64 oracle: sums of ≤ a few hundred products and one
  // softmax per row keep the relative L2 error near 1e-6; 1e-4 is the bar the spine sets.
  it.each(['mlp', 'gpt2', 'bert-base', 'llama', 'vit-b16', 'mixtral'])('%s (preset tiny) matches, relative error < 1e-4', async (name) => {
    const r = await runBoth(src(name), { preset: 'tiny' });
    const errs = compareOutputs(r);
    for (const [out, e] of Object.entries(errs)) {
      expect(e.nonFiniteMismatches, out).toBe(0);
      expect(e.rel, out).toBeLessThan(1e-4);
    }
  });

  it('GPT-2 with 2 layers at width 128 matches, relative error < 1e-4', async () => {
    const r = await runBoth(src('gpt2'), { overrides: { layers: 2, d: 128, heads: 4, vocab: 2048, ctx: 128 }, dims: { B: 2, S: 48 } });
    const d = r.graph.values.find((v) => v.name === 'wte')!.type.dims.map((x) => dimValue(x));
    expect(d).toEqual([2048, 128]);
    expect(r.graph.values.filter((v) => v.kind === 'param' && v.name!.startsWith('Layer.')).map((v) => v.name!.split('.')[1])).toContain('1');
    const e = compareOutputs(r)['logits']!;
    expect(e.rel).toBeLessThan(1e-4);
  });

  it('mdc run executes a sample end to end and prints a checksum', () => {
    const p = spawnSync(process.execPath, ['--import', 'tsx', 'cli/bin.ts', 'run', 'samples/mlp.model', '--preset', 'tiny', '--json'], {
      encoding: 'utf8',
      timeout: 120_000,
    });
    expect(p.status, p.stderr).toBe(0);
    const out = JSON.parse(p.stdout) as { outputs: { name: string; type: string; sum: number }[] };
    expect(out.outputs[0]!.type).toBe('f32[8, 10]');
    // Softmax rows sum to one: 8 rows.
    expect(out.outputs[0]!.sum).toBeCloseTo(8, 4);
  });

  it('mdc run takes given inputs from a JSON file and refuses ones of the wrong size', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mdc-run-'));
    const good = join(dir, 'in.json');
    writeFileSync(good, JSON.stringify({ x: Array.from({ length: 8 * 64 }, () => 0) }));
    const p = spawnSync(process.execPath, ['--import', 'tsx', 'cli/bin.ts', 'run', 'samples/mlp.model', '--preset', 'tiny', '--inputs', good, '--json'], {
      encoding: 'utf8',
      timeout: 120_000,
    });
    expect(p.status, p.stderr).toBe(0);
    const out = JSON.parse(p.stdout) as { outputs: { first: number[] }[] };
    // Zero input and zero biases: every logit is zero, so softmax is uniform over 10 classes.
    expect(out.outputs[0]!.first.map((x) => Number(x.toFixed(6)))).toEqual([0.1, 0.1, 0.1, 0.1]);
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ x: [1, 2, 3] }));
    const q = spawnSync(process.execPath, ['--import', 'tsx', 'cli/bin.ts', 'run', 'samples/mlp.model', '--preset', 'tiny', '--inputs', bad], {
      encoding: 'utf8',
      timeout: 120_000,
    });
    expect(q.status).toBe(2);
    expect(q.stderr.split('\n')[0]).toBe(`mdc: --inputs ${bad}: input 'x' has 3 values; f32[8, 64] needs 512`);
  });
});
