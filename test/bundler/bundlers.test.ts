/**
 * The bundler plugin in Vite (an SSR build), Rollup, esbuild and webpack: each builds a
 * fixture project whose entry imports samples/mlp.model; the bundle runs in Node on
 * WebGPU and must print exactly what the runtime computes on the plan `compile()` makes
 * from the same file with the same options (same plan, same seed: the same kernels on the
 * same adapter). The plan and the kernels must be emitted as assets, byte for byte as
 * `mdc compile` writes them; a broken `.model` must fail each build with its located diagnostic.
 */
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compile } from '../../driver/compile.js';
import { PlanRunner, type Plan } from '../../runtime/index.js';
import { destroySharedDevices, gpuStatus, sharedDevice } from '../support/gpu.js';
import { BUNDLERS, buildWith, INPUT_PATTERN, makeFixture, runBundle } from './fixture.js';

const gpu = await gpuStatus();
let dir = '';
let plan: Plan;
let expected: Record<string, { shape: number[]; data: number[] }>;

beforeAll(async () => {
  dir = await makeFixture();
  const source = readFileSync(join(dir, 'mlp.model'), 'utf8');
  const r = await compile(source, 'mlp.model', { preset: 'tiny', seed: 0 });
  expect(r.diagnostics).toEqual([]);
  plan = r.plan!;
});
afterAll(async () => {
  await destroySharedDevices();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('each bundler emits the compiled model and its assets', () => {
  for (const bundler of BUNDLERS) {
    it(`${bundler}: the plan and every kernel are assets under mdc/, as mdc compile writes them`, async () => {
      const r = await buildWith(bundler, dir, { preset: 'tiny' });
      if (!r.ok) throw new Error(`${bundler} build failed: ${r.message}`);
      expect(readFileSync(join(r.out, 'mdc/Mlp.plan.json'), 'utf8')).toBe(JSON.stringify(plan, null, 1) + '\n');
      expect(readdirSync(join(r.out, 'mdc/Mlp')).sort()).toEqual(plan.kernels.map((k) => k.file).sort());
      for (const k of plan.kernels) expect(readFileSync(join(r.out, 'mdc/Mlp', k.file), 'utf8')).toBe(k.wgsl);
      // The bundle holds the model's name relative to the project, never the temp dir's path.
      expect(readFileSync(r.bundle, 'utf8')).not.toContain(dir);
    });
  }
});

describe.skipIf(gpu.skip)(gpu.title('each bundle runs the model on WebGPU'), () => {
  beforeAll(async () => {
    const x = Float32Array.from({ length: 8 * 64 }, (_, i) => INPUT_PATTERN(i));
    const runner = await PlanRunner.create(await sharedDevice(), plan);
    const out = await runner.run({ x });
    runner.destroy();
    expected = Object.fromEntries(Object.entries(out).map(([k, t]) => [k, { shape: [...t.shape], data: Array.from(t.data) }]));
    expect(Object.keys(expected)).toEqual(['probs']);
    expect(expected['probs']!.shape).toEqual([8, 10]);
  });
  for (const bundler of BUNDLERS) {
    it(`${bundler}: the built bundle prints exactly the runtime's outputs on the same plan`, async () => {
      const r = await buildWith(bundler, dir, { preset: 'tiny' });
      if (!r.ok) throw new Error(`${bundler} build failed: ${r.message}`);
      expect(runBundle(r.bundle, dir)).toEqual(expected);
    });
  }
});

describe('a broken .model fails each build with its located diagnostic', () => {
  const HEAD = 'broken.model:20:23: error MDC0203: matmul contraction dims differ: f32[B, 32] @ f32[10, 32] (32 ≠ 10)';
  beforeAll(() => {
    const good = readFileSync(join(dir, 'mlp.model'), 'utf8');
    const bad = good.replace('param w2: f32[hidden, classes]', 'param w2: f32[classes, hidden]');
    expect(bad).not.toBe(good);
    writeFileSync(join(dir, 'broken.model'), bad);
    writeFileSync(join(dir, 'broken.js'), "import Model from './broken.model';\nconsole.log(Model);\n");
  });
  for (const bundler of BUNDLERS) {
    it(`${bundler}: the build fails with file:line:col, the code and the message`, async () => {
      const r = await buildWith(bundler, dir, { preset: 'tiny' }, 'broken.js');
      expect(r.ok).toBe(false);
      if (r.ok) return;
      // Each bundler prefixes the plugin's message with its own words; the diagnostic, its source line and caret follow whole.
      expect(r.message).toContain(`${HEAD}\n    |\n 20 |   let probs = softmax(h @ w2 + b2)\n    |                       ^^^^^^`);
      // Rollup and Vite keep the location as fields too (1-based line, 0-based column, Rollup's convention), esbuild as its location.
      if (bundler !== 'webpack') expect(r.loc).toEqual({ file: bundler === 'esbuild' ? 'broken.model' : join(dir, 'broken.model'), line: 20, column: 22 });
    });
  }
});
