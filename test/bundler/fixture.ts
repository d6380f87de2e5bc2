/**
 * A fixture project in a temp dir for the bundler plugin's tests: a copy of
 * samples/mlp.model, an entry `main.js` that imports it, runs one forward pass and prints
 * the outputs as JSON, and a `node_modules/` holding `mdc` (only its runtime, built here
 * from runtime/*.ts with esbuild so it is never stale) and a link to the `webgpu` package.
 * Each bundler builds the project through its JS API with the plugin; the bundle then runs
 * in a child Node process, which makes its own WebGPU device.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuildApi from 'esbuild';
import { rollup as rollupApi, type RollupError } from 'rollup';
import { build as viteBuild } from 'vite';
import webpackApi from 'webpack';
import mdc, { type MdcPluginOptions } from '../../bundler/index.js';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const BUNDLERS = ['vite', 'rollup', 'esbuild', 'webpack'] as const;
export type Bundler = (typeof BUNDLERS)[number];

/** The inputs main.js feeds the model: a fixed pattern in [-0.5, 0.5), the same in the test's own run. */
export const INPUT_PATTERN = (i: number) => ((i * 37) % 101) / 101 - 0.5;

export const MAIN_JS = `import Model, { inputShapes } from './mlp.model';
import { nodeDevice } from 'mdc/runtime/node';

async function main() {
  const { device } = await nodeDevice();
  const n = inputShapes.x.reduce((a, b) => a * b, 1);
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) x[i] = ((i * 37) % 101) / 101 - 0.5;
  const model = await Model.load(device);
  const out = await model.run({ x });
  const result = {};
  for (const [name, t] of Object.entries(out)) result[name] = { shape: Array.from(t.shape), data: Array.from(t.data) };
  process.stdout.write(JSON.stringify(result));
  model.destroy();
  device.destroy();
}
main().catch((e) => {
  console.error(e);
  process.exit(1);
});
`;

/** A new fixture project; returns its folder. */
export async function makeFixture(): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'mdc-bundler-'));
  cpSync(join(ROOT, 'samples/mlp.model'), join(dir, 'mlp.model'));
  writeFileSync(join(dir, 'main.js'), MAIN_JS);
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'fixture', private: true, type: 'module' }));
  const pkg = join(dir, 'node_modules/mdc');
  mkdirSync(join(pkg, 'runtime'), { recursive: true });
  writeFileSync(
    join(pkg, 'package.json'),
    JSON.stringify({ name: 'mdc', type: 'module', exports: { './runtime': './runtime/index.js', './runtime/node': './runtime/node.js' } }),
  );
  await esbuildApi.build({
    entryPoints: [join(ROOT, 'runtime/index.ts'), join(ROOT, 'runtime/node.ts')],
    outdir: join(pkg, 'runtime'),
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    external: ['webgpu'],
    logLevel: 'silent',
  });
  symlinkSync(join(ROOT, 'node_modules/webgpu'), join(dir, 'node_modules/webgpu'), 'dir');
  return dir;
}

/** What a build made: the bundle to run, or the error the bundler reported (its message, and its location where the bundler keeps one). */
export type BuildResult =
  | { readonly ok: true; readonly bundle: string; readonly out: string }
  | { readonly ok: false; readonly message: string; readonly loc?: { readonly file?: string; readonly line: number; readonly column: number } };

/** Builds `dir/<entry>` with one bundler into `dir/out-<bundler>/`, the runtime left to Node (Vite, Rollup) or bundled (esbuild, webpack). */
export async function buildWith(bundler: Bundler, dir: string, options: MdcPluginOptions, entry = 'main.js'): Promise<BuildResult> {
  const out = join(dir, `out-${bundler}`);
  const bundle = join(out, 'main.mjs');
  try {
    switch (bundler) {
      case 'vite':
        await viteBuild({
          root: dir,
          configFile: false,
          logLevel: 'silent',
          plugins: [mdc.vite(options)],
          build: {
            ssr: join(dir, entry),
            ssrEmitAssets: true,
            outDir: out,
            emptyOutDir: true,
            rollupOptions: { output: { format: 'es', entryFileNames: 'main.mjs' } },
          },
        });
        return { ok: true, bundle, out };
      case 'rollup': {
        const b = await rollupApi({ input: join(dir, entry), plugins: [mdc.rollup({ root: dir, ...options })], external: [/^mdc\//, 'webgpu'] });
        await b.write({ dir: out, format: 'es', entryFileNames: 'main.mjs' });
        await b.close();
        return { ok: true, bundle, out };
      }
      case 'esbuild': {
        const r = await esbuildApi.build({
          absWorkingDir: dir,
          entryPoints: { main: entry },
          outdir: out,
          outExtension: { '.js': '.mjs' },
          bundle: true,
          platform: 'node',
          format: 'esm',
          external: ['webgpu'],
          plugins: [mdc.esbuild(options)],
          logLevel: 'silent',
        });
        if (r.errors.length) return { ok: false, message: r.errors[0]!.text };
        return { ok: true, bundle, out };
      }
      case 'webpack':
        return await new Promise((resolve, reject) => {
          webpackApi(webpackConfig(dir, out, entry, options)).run((err, stats) => {
            if (err) return reject(err);
            if (stats?.hasErrors()) return resolve({ ok: false, message: stats.compilation.errors.map((e) => e.message).join('\n') });
            resolve({ ok: true, bundle, out });
          });
        });
    }
  } catch (e) {
    const err = e as RollupError & { errors?: esbuildApi.Message[] };
    const first = err.errors?.[0];
    if (first)
      return {
        ok: false,
        message: first.text,
        ...(first.location ? { loc: { file: first.location.file, line: first.location.line, column: first.location.column } } : {}),
      };
    return { ok: false, message: err.message, ...(err.loc ? { loc: err.loc } : {}) };
  }
}

export function webpackConfig(dir: string, out: string, entry: string, options: MdcPluginOptions): webpackApi.Configuration {
  return {
    context: dir,
    mode: 'none',
    target: 'node20',
    entry: `./${entry}`,
    output: { path: out, filename: 'main.mjs', module: true, chunkFormat: 'module', library: { type: 'module' } },
    experiments: { outputModule: true },
    externalsType: 'module',
    externals: { webgpu: 'webgpu' },
    plugins: [mdc.webpack(options)],
    infrastructureLogging: { level: 'none' },
  };
}

/** Runs a built bundle in a child Node process; its outputs by name. */
export function runBundle(bundle: string, cwd: string): Record<string, { shape: number[]; data: number[] }> {
  const r = spawnSync(process.execPath, [bundle], { cwd, encoding: 'utf8', timeout: 120_000 });
  if (r.status !== 0) throw new Error(`${bundle} exited with ${r.status}: ${r.stderr}`);
  return JSON.parse(r.stdout) as Record<string, { shape: number[]; data: number[] }>;
}
