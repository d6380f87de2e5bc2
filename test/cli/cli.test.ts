import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MANIFEST } from '../../cli/output.js';
import { mdc } from '../support/cli.js';
import { usesRowKernels } from '../../codegen/kernels/index.js';
import type { KernelTarget } from '../../codegen/kernels/kernel.js';
import { matmulShapes, tuneTarget } from '../../codegen/tune/index.js';
import { compile } from '../../driver/compile.js';
import { PlanRunner, randomInput, type HostArray } from '../../runtime/index.js';
import { adapterTarget, destroySharedDevices, gpuStatus, sharedDevice } from '../support/gpu.js';

const gpuCli = await gpuStatus();
const SAMPLES = ['mlp', 'gpt2', 'bert-base', 'llama', 'vit-b16', 'mixtral'];

function tmp(): string {
  return mkdtempSync(join(tmpdir(), 'mdc-cli-'));
}

function readTree(dir: string, prefix = ''): Record<string, string> {
  const files: Record<string, string> = {};
  for (const e of readdirSync(join(dir, prefix), { withFileTypes: true })) {
    const rel = join(prefix, e.name);
    if (e.isDirectory()) Object.assign(files, readTree(dir, rel));
    else files[rel] = readFileSync(join(dir, rel), 'utf8');
  }
  return files;
}

describe('mdc CLI', () => {
  it('prints help for every command and exits 0', async () => {
    for (const cmd of ['check', 'compile', 'fmt', 'run']) {
      const r = await mdc(cmd, '--help');
      expect(r.code).toBe(0);
      expect(r.out).toContain(`Usage: mdc ${cmd}`);
    }
    const top = await mdc('--help');
    expect(top.code).toBe(0);
    expect(top.out).toMatch(/Commands:/);
  });

  it('exits 2 on usage errors', async () => {
    expect((await mdc()).code).toBe(2);
    expect((await mdc('frobnicate')).code).toBe(2);
    expect((await mdc('check')).code).toBe(2);
    expect((await mdc('check', 'samples/mlp.model', '--bogus')).code).toBe(2);
    expect((await mdc('check', 'does/not/exist.model')).err).toContain("cannot read 'does/not/exist.model': no such file");
    expect((await mdc('run', 'samples/mlp.model', '--seed', '-3')).code).toBe(2);
    expect((await mdc('check', 'samples/mlp.model', '--set', 'hidden')).err).toContain('--set expects NAME=NUMBER');
  });

  it('checks every sample cleanly', async () => {
    for (const s of SAMPLES) {
      const r = await mdc('check', `samples/${s}.model`);
      expect(r.err).toBe('');
      expect(r.code).toBe(0);
    }
  });

  it('prints located, coded diagnostics with the source line and a caret, and exits 1', async () => {
    const dir = tmp();
    const f = join(dir, 'bad.model');
    writeFileSync(f, 'model M(x: f32[4, 8]) -> f32[4, 8] {\n  return x @ x\n}\n');
    const r = await mdc('check', f);
    expect(r.code).toBe(1);
    expect(r.err).toContain(`${f}:2:10: error MDC0203: matmul contraction dims differ: f32[4, 8] @ f32[4, 8] (8 ≠ 4)`);
    expect(r.err).toContain(' 2 |   return x @ x');
    expect(r.err).toMatch(/\|\s{10}\^/);
    const j = await mdc('check', f, '--json');
    expect(j.code).toBe(1);
    const parsed = JSON.parse(j.out) as { diagnostics: { code: string; line: number; col: number }[] };
    expect(parsed.diagnostics).toEqual([expect.objectContaining({ code: 'MDC0203', line: 2, col: 10 })]);
  });

  it('treats any file name like a .model file', async () => {
    const dir = tmp();
    copyFileSync('samples/mlp.model', join(dir, 'net.dsl'));
    copyFileSync('samples/mlp.model', join(dir, 'net.model'));
    expect((await mdc('compile', join(dir, 'net.dsl'), '-o', join(dir, 'a'))).code).toBe(0);
    expect((await mdc('compile', join(dir, 'net.model'), '-o', join(dir, 'b'))).code).toBe(0);
    const a = readTree(join(dir, 'a'));
    const b = readTree(join(dir, 'b'));
    expect(Object.keys(a).sort()).toEqual(Object.keys(b).sort());
    // The manifest and each plan's seal are hashes of files that differ by the file name they mention.
    // The host module inlines the plan as an escaped JSON string, seal included.
    const unsealed = (text: string) => text.replace(/\\?"integrity\\?": ?\\?"sha256-[0-9a-f]{64}\\?"/g, '"integrity": …');
    for (const k of Object.keys(a)) if (k !== MANIFEST) expect(unsealed(a[k]!.replaceAll('net.dsl', 'net.model'))).toBe(unsealed(b[k]!));
  });

  it('compiles every sample to kernels, a plan and a typed host module, byte-identically twice', async () => {
    for (const s of SAMPLES) {
      const dir = tmp();
      const r1 = await mdc('compile', `samples/${s}.model`, '-o', join(dir, '1'));
      const r2 = await mdc('compile', `samples/${s}.model`, '-o', join(dir, '2'));
      expect(r1.code, r1.err).toBe(0);
      expect(r2.code).toBe(0);
      const t1 = readTree(join(dir, '1'));
      const t2 = readTree(join(dir, '2'));
      expect(t2).toEqual(t1);
      const names = Object.keys(t1);
      expect(names.some((n) => n.endsWith('.plan.json'))).toBe(true);
      expect(names.some((n) => n.endsWith('.d.ts'))).toBe(true);
      expect(names.some((n) => /^kernels\/k\d{3}_\w+\.wgsl$/.test(n))).toBe(true);
    }
  });

  it('formats idempotently, and --check reports unformatted files', async () => {
    const dir = tmp();
    const f = join(dir, 'messy.model');
    writeFileSync(f, 'config C {a=1,b=2}  // sizes\nmodel M(x: f32[a,b])->f32[a,b]{return -(x+x)*x}\n');
    expect((await mdc('fmt', '--check', f)).code).toBe(1);
    const once = await mdc('fmt', f);
    writeFileSync(f, once.out + '\n');
    expect(once.out).toContain('// sizes');
    expect((await mdc('fmt', '--check', f)).code).toBe(0);
    for (const s of SAMPLES) expect((await mdc('fmt', '--check', `samples/${s}.model`)).code).toBe(0);
  });

  it('refuses to format a file with syntax errors and leaves it untouched', async () => {
    const dir = tmp();
    const f = join(dir, 'broken.model');
    const text = 'model M(x: f32[4]) -> f32[4] {\n  return x +\n}\n';
    writeFileSync(f, text);
    const r = await mdc('fmt', '--write', f);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/broken\.model:3:1: error MDC0002/);
    expect(readFileSync(f, 'utf8')).toBe(text);
  });

  it('gives garbage input exit code 1 and a coded diagnostic, never a stack trace', () => {
    const dir = tmp();
    const cases: Record<string, Buffer | string> = {
      'binary.model': Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919 + 13) % 256)),
      'nul.model': 'model M\u0000',
      'comment.model': 'config C { a = 1 }\n/* never closed',
      'deep.model': `config C { a = ${'('.repeat(5000)}1${')'.repeat(5000)} }`,
      'ident.model': `config C { ${'x'.repeat(100_000)} = }`,
    };
    for (const [name, data] of Object.entries(cases)) {
      writeFileSync(join(dir, name), data);
      const r = spawnSync(process.execPath, ['--import', 'tsx', 'cli/bin.ts', 'check', join(dir, name)], { encoding: 'utf8', timeout: 60_000 });
      expect(r.status, `${name}: ${r.stderr}`).toBe(1);
      expect(r.stderr).toMatch(new RegExp(`${name}:\\d+:\\d+: error MDC\\d{4}: `));
      expect(r.stderr).not.toMatch(/^\s+at /m);
    }
  });

  it('runs as a real process with the documented exit codes', () => {
    const ok = execFileSync(process.execPath, ['--import', 'tsx', 'cli/bin.ts', 'check', 'samples/gpt2.model'], { encoding: 'utf8' });
    expect(ok).toContain('samples/gpt2.model: ok');
    const usage = spawnSync(process.execPath, ['--import', 'tsx', 'cli/bin.ts', 'compile'], { encoding: 'utf8' });
    expect(usage.status).toBe(2);
  });
});

describe('mdc compile --no-fuse', () => {
  it('fuses by default and keeps one kernel per op with --no-fuse, each byte-identical run to run', async () => {
    const dir = tmp();
    const compile = async (out: string, ...flags: string[]) => {
      const r = await mdc('compile', 'samples/gpt2.model', '--preset', 'tiny', '-o', join(dir, out), '--json', ...flags);
      expect(r.code, r.err).toBe(0);
      const plan = readFileSync(join(dir, out, 'GPT2.plan.json'), 'utf8');
      return { summary: JSON.parse(r.out) as { kernels: number; steps: number; bytesBound: number }, plan, kernels: readdirSync(join(dir, out, 'kernels')) };
    };
    const fused = await compile('fused');
    const unfused = await compile('unfused', '--no-fuse');
    expect(fused.summary.steps).toBeLessThan(unfused.summary.steps);
    expect(fused.summary.bytesBound).toBeGreaterThan(0);
    expect(fused.summary.bytesBound).toBeLessThan(unfused.summary.bytesBound);
    expect(fused.kernels.some((k) => k.endsWith('_matmul_tiled_add_gelu.wgsl'))).toBe(true);
    expect(unfused.kernels.some((k) => k.includes('add_gelu'))).toBe(false);
    expect(unfused.plan).not.toContain('"op": "fused"');
    expect((await compile('fused2')).plan).toBe(fused.plan);
    expect((await compile('unfused2', '--no-fuse')).plan).toBe(unfused.plan);
  });

  it('both commands document the flag', async () => {
    for (const cmd of ['compile', 'run']) expect((await mdc(cmd, '--help')).out).toContain('--no-fuse');
  });
});

describe('mdc compile --subgroup-size', () => {
  it('compiles subgroup kernels for that lane count, lists the feature, and stays byte-identical run to run', async () => {
    const dir = tmp();
    const compile = async (out: string, ...flags: string[]) => {
      const r = await mdc('compile', 'samples/gpt2.model', '--preset', 'tiny', '-o', join(dir, out), ...flags);
      expect(r.code, r.err).toBe(0);
      return { plan: readFileSync(join(dir, out, 'GPT2.plan.json'), 'utf8'), kernels: readdirSync(join(dir, out, 'kernels')) };
    };
    const portable = await compile('portable');
    const sub = await compile('sub', '--subgroup-size', '8');
    expect((JSON.parse(sub.plan) as { features?: string[] }).features).toEqual(['subgroups']);
    expect((JSON.parse(portable.plan) as { features?: string[] }).features).toBeUndefined();
    expect(sub.kernels.some((k) => k.includes('matmul_subgroup'))).toBe(true);
    expect(portable.kernels.some((k) => k.includes('subgroup'))).toBe(false);
    expect((await compile('sub2', '--subgroup-size', '8')).plan).toBe(sub.plan);
  });

  it('refuses a lane count that is not a power of two from 4 to 128', async () => {
    for (const bad of ['6', '2', '256', 'eight']) {
      const r = await mdc('compile', 'samples/mlp.model', '--subgroup-size', bad, '-o', tmp());
      expect(r.code, bad).toBe(2);
      expect(r.err).toContain('--subgroup-size must be a power of two from 4 to 128');
    }
  });
});

it('mdc run refuses an unknown --target before opening a device, naming the choices', async () => {
  const r = await mdc('run', 'samples/mlp.model', '--target', 'gpu');
  expect(r.code).toBe(2);
  expect(r.err).toContain('--target must be portable, adapter or tuned');
});

describe.skipIf(gpuCli.skip)(gpuCli.title('mdc run --target'), () => {
  type RunJson = { target: string; outputs: { name: string; sum: number; meanAbs: number; first: number[] }[] };
  const run = async (sample: string, ...flags: string[]) => {
    const r = await mdc('run', `samples/${sample}.model`, '--preset', 'tiny', '--json', ...flags);
    expect(r.code, r.err).toBe(0);
    return { json: JSON.parse(r.out) as RunJson, err: r.err };
  };
  afterAll(destroySharedDevices);

  /**
   * `mdc run --json` prints checksums only (a sum, mean |x| and four values; on a softmax
   * the sum is just the row count). So each CLI run is repeated here through the runtime
   * API as `mdc run` does it (same compile options, seed 0, the same seeded inputs, the
   * same target), its full outputs kept; `matchesCli` ties each repeat to the CLI's
   * checksums, and `expectSame` compares the full outputs element by element.
   */
  const direct = async (sample: string, target: KernelTarget) => {
    const file = `samples/${sample}.model`;
    const r = await compile(readFileSync(file, 'utf8'), file, { preset: 'tiny', seed: 0, target });
    expect(r.diagnostics).toEqual([]);
    const plan = r.plan!;
    const inputs: Record<string, HostArray> = {};
    for (const i of plan.inputs)
      inputs[i.name] = randomInput(
        plan.buffers[i.buffer]!.type,
        i.shape.reduce((a, b) => a * b, 1),
        0,
        i.name,
        i.max,
      );
    const runner = await PlanRunner.create(await sharedDevice(), plan);
    try {
      const outs = await runner.run(inputs);
      return { plan, outputs: plan.outputs.map((o) => Float64Array.from(outs[o.name]!.data)) };
    } finally {
      runner.destroy();
    }
  };
  /** The same plan, inputs and kernels on the same adapter as the CLI's run: the same numbers up to summation order in the checksum. */
  const matchesCli = (cli: RunJson, d: { outputs: Float64Array[] }) => {
    expect(d.outputs.length).toBe(cli.outputs.length);
    cli.outputs.forEach((o, k) => {
      const x = d.outputs[k]!;
      const meanAbs = x.reduce((a, v) => a + Math.abs(v), 0) / x.length;
      expect(Math.abs(x.reduce((a, v) => a + v, 0) - o.sum), `${o.name}: sum`).toBeLessThanOrEqual(1e-9 * x.length * meanAbs);
      expect(Math.abs(meanAbs - o.meanAbs), `${o.name}: mean |x|`).toBeLessThanOrEqual(1e-9 * meanAbs);
      expect(Array.from(x.slice(0, 4)), `${o.name}: first values`).toEqual(o.first);
    });
  };
  /**
   * Different kernels (portable, subgroup, tuned tiles) sum in different orders: f32
   * rounding only. Each element must agree within 1e-4 of the output's mean |x| plus 1e-4
   * of its own size: the dot products here have K ≤ 512 terms, so reordering moves a value
   * by about √K·2⁻²⁴ ≈ 1.3e-6 relative to its terms (measured on llvmpipe: at most 2.7e-6 of
   * mean|x| + |x| on GPT-2 tiny's 131072 logits), while a wrong kernel (a dropped tile, a
   * wrong index, two elements swapped) moves elements by O(mean |x|).
   */
  const TOL = 1e-4;
  const expectSame = (a: { outputs: Float64Array[] }, b: { outputs: Float64Array[] }) => {
    expect(b.outputs.length).toBe(a.outputs.length);
    a.outputs.forEach((x, k) => {
      const y = b.outputs[k]!;
      expect(y.length).toBe(x.length);
      expect(x.every(Number.isFinite), `output ${k} is finite`).toBe(true);
      const meanAbs = x.reduce((s, v) => s + Math.abs(v), 0) / x.length;
      const bad = [...x.keys()].filter((i) => !(Math.abs(x[i]! - y[i]!) <= TOL * (meanAbs + Math.abs(x[i]!))));
      expect(
        bad.slice(0, 5).map((i) => `[${i}] ${x[i]} vs ${y[i]}`),
        `output ${k}: ${bad.length} of ${x.length} elements differ by more than ${TOL}·(mean|x| + |x|)`,
      ).toEqual([]);
    });
  };

  it('the adapter target (subgroup kernels here) computes what the portable one does', async () => {
    const portable = await run('gpt2');
    expect(portable.json.target).toBe('portable');
    const adapter = await run('gpt2', '--target', 'adapter');
    expect(adapter.json.target).toBe('adapter');
    const target = await adapterTarget();
    const [p, a] = [await direct('gpt2', {}), await direct('gpt2', target)];
    expect(
      a.plan.kernels.some((k) => k.name.includes('subgroup')),
      'the adapter target uses subgroup kernels here',
    ).toBe(!!target.subgroupSize);
    matchesCli(portable.json, p);
    matchesCli(adapter.json, a);
    expectSame(p, a);
  }, 300_000);

  it('the tuned target tunes each matmul shape class once, caches the winners and computes the same', async () => {
    const cache = tmp();
    const prev = process.env['MDC_CACHE_DIR'];
    process.env['MDC_CACHE_DIR'] = cache;
    try {
      const portable = await run('mlp');
      const tuned = await run('mlp', '--target', 'tuned');
      expect(tuned.err, 'the first tuned run tunes each matmul shape class').toMatch(/tuned m\d+n\d+k\d+/);
      expect(readdirSync(cache)).toContain('tuning.json');
      const again = await run('mlp', '--target', 'tuned');
      expect(again.err, 'the second reads the cache').not.toMatch(/tuned m/);
      // The tuned target the CLI used, rebuilt from its cache (nothing is tuned again).
      const file = 'samples/mlp.model';
      const local = (await compile(readFileSync(file, 'utf8'), file, { preset: 'tiny', until: 'optimize' })).optimized!.graph;
      const { classes, rows, target } = await tuneTarget(await sharedDevice(), gpuCli.detail, await adapterTarget(), matmulShapes(local), {
        rows: usesRowKernels(local),
      });
      expect(
        [...classes.values()].filter((c) => c.run),
        'every class comes from the cache',
      ).toEqual([]);
      expect(rows.run).toBeUndefined();
      const [p, t] = [await direct('mlp', {}), await direct('mlp', target)];
      matchesCli(portable.json, p);
      matchesCli(tuned.json, t);
      matchesCli(again.json, t);
      expectSame(p, t);
    } finally {
      if (prev === undefined) delete process.env['MDC_CACHE_DIR'];
      else process.env['MDC_CACHE_DIR'] = prev;
    }
  }, 300_000);
});
