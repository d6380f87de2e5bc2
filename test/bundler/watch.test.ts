/**
 * Watch mode: the `.model` file is a watched dependency of the bundle. Rollup's `watch`,
 * Vite's `build.watch`, esbuild's `context().watch()` and webpack's `watch` each build the fixture, then the test edits the model
 * (10 classes → 12) and waits for the rebuild, whose plan and module show the new shape;
 * a broken edit is reported as the located diagnostic, and fixing it rebuilds again.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as esbuild from 'esbuild';
import { watch, type RollupWatcher, type RollupWatcherEvent } from 'rollup';
import { build as viteBuild } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import mdc from '../../bundler/index.js';
import type { Plan } from '../../runtime/index.js';
import webpack from 'webpack';
import { makeFixture, webpackConfig } from './fixture.js';

/** A queue of events with `next()`, which resolves to the first event not yet taken, so none is missed between awaits. */
class Events<T> {
  private readonly items: T[] = [];
  private readonly waiters: ((t: T) => void)[] = [];
  push(t: T): void {
    const w = this.waiters.shift();
    if (w) w(t);
    else this.items.push(t);
  }
  next(): Promise<T> {
    const t = this.items.shift();
    return t !== undefined ? Promise.resolve(t) : new Promise((resolve) => this.waiters.push(resolve));
  }
}

let dir = '';
let original = '';
beforeAll(async () => {
  dir = await makeFixture();
  original = readFileSync(join(dir, 'mlp.model'), 'utf8');
});
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const model = () => join(dir, 'mlp.model');
const withClasses = (n: number) => original.replace('classes = 10', `classes = ${n}`);
const outputShape = (out: string) => (JSON.parse(readFileSync(join(out, 'mdc/Mlp.plan.json'), 'utf8')) as Plan).outputs.map((o) => o.shape);
const BROKEN = 'mlp.model:20:23: error MDC0203: matmul contraction dims differ: f32[B, 32] @ f32[10, 32] (32 ≠ 10)';

/** The ends of a Rollup (or Vite) watcher's builds, in order: each build's error message, or undefined; every result is closed. */
function buildEnds(watcher: RollupWatcher): () => Promise<string | undefined> {
  const events = new Events<RollupWatcherEvent>();
  watcher.on('event', (e) => events.push(e));
  return async () => {
    for (;;) {
      const e = await events.next();
      if (e.code === 'BUNDLE_END') {
        await e.result.close();
        return undefined;
      }
      if (e.code === 'ERROR') {
        await e.result?.close();
        return e.error.message;
      }
    }
  };
}

/**
 * The edits every watcher is put through, each awaited as one build: the model as it is
 * (10 classes), 12 classes (then `afterEdit`), a broken edit (the located error), and the fix.
 */
async function expectRebuilds(built: () => Promise<string | undefined>, out: string, afterEdit?: () => void): Promise<void> {
  expect(await built()).toBeUndefined();
  expect(outputShape(out)).toEqual([[8, 10]]);
  writeFileSync(model(), withClasses(12));
  expect(await built()).toBeUndefined();
  expect(outputShape(out)).toEqual([[8, 12]]);
  afterEdit?.();
  writeFileSync(model(), original.replace('param w2: f32[hidden, classes]', 'param w2: f32[classes, hidden]'));
  expect(await built()).toContain(BROKEN);
  writeFileSync(model(), original);
  expect(await built()).toBeUndefined();
  expect(outputShape(out)).toEqual([[8, 10]]);
}

describe('watch mode rebuilds when the .model file changes', () => {
  it('rollup watch: an edit rebuilds with the new shapes; a broken edit is the located error; the fix rebuilds', async () => {
    writeFileSync(model(), original);
    const out = join(dir, 'out-rollup-watch');
    const watcher = watch({
      input: join(dir, 'main.js'),
      plugins: [mdc.rollup({ root: dir, preset: 'tiny' })],
      external: [/^mdc\//, 'webgpu'],
      output: { dir: out, format: 'es', entryFileNames: 'main.mjs' },
    });
    const built = buildEnds(watcher);
    try {
      await expectRebuilds(built, out, () =>
        // The module's inlined plan is the new one too (a JSON string inside the bundle).
        expect(readFileSync(join(out, 'main.mjs'), 'utf8')).toContain('\\"shape\\":[8,12]'),
      );
    } finally {
      await watcher.close();
    }
  });

  it('esbuild context().watch(): an edit rebuilds with the new shapes; a broken edit is the located error', async () => {
    writeFileSync(model(), original);
    const out = join(dir, 'out-esbuild-watch');
    const ends = new Events<esbuild.BuildResult>();
    const ctx = await esbuild.context({
      absWorkingDir: dir,
      entryPoints: { main: 'main.js' },
      outdir: out,
      outExtension: { '.js': '.mjs' },
      bundle: true,
      platform: 'node',
      format: 'esm',
      external: ['webgpu'],
      logLevel: 'silent',
      plugins: [mdc.esbuild({ preset: 'tiny' }), { name: 'ends', setup: (b) => b.onEnd((r) => ends.push(r)) }],
    });
    try {
      await ctx.watch();
      expect((await ends.next()).errors).toEqual([]);
      expect(outputShape(out)).toEqual([[8, 10]]);
      writeFileSync(model(), withClasses(12));
      expect((await ends.next()).errors).toEqual([]);
      expect(outputShape(out)).toEqual([[8, 12]]);
      writeFileSync(model(), original.replace('param w2: f32[hidden, classes]', 'param w2: f32[classes, hidden]'));
      const errors = (await ends.next()).errors;
      expect(errors.map((e) => [e.text.split('\n')[0], e.location?.file, e.location?.line, e.location?.column])).toEqual([[BROKEN, 'mlp.model', 20, 22]]);
    } finally {
      await ctx.dispose();
    }
  });

  it('webpack watch: an edit rebuilds with the new shapes; a broken edit is the located error; the fix rebuilds', async () => {
    writeFileSync(model(), original);
    const out = join(dir, 'out-webpack-watch');
    // Each build's end as { error } (an object: the queue takes undefined for "nothing yet").
    const ends = new Events<{ error?: string }>();
    const watching = webpack(webpackConfig(dir, out, 'main.js', { root: dir, preset: 'tiny' })).watch({ aggregateTimeout: 50 }, (err, stats) => {
      const error = err ? err.message : stats?.hasErrors() ? stats.compilation.errors.map((e) => e.message).join('\n') : undefined;
      ends.push(error === undefined ? {} : { error });
    });
    if (!watching) throw new Error('webpack did not start watching');
    const built = async () => (await ends.next()).error;
    try {
      await expectRebuilds(built, out);
    } finally {
      await new Promise<void>((resolve) => watching.close(() => resolve()));
    }
  });

  it('vite build --watch: an edit rebuilds with the new shapes; a broken edit is the located error; the fix rebuilds', async () => {
    writeFileSync(model(), original);
    const out = join(dir, 'out-vite-watch');
    const watcher = (await viteBuild({
      root: dir,
      configFile: false,
      logLevel: 'silent',
      plugins: [mdc.vite({ preset: 'tiny' })],
      build: {
        watch: {},
        ssr: join(dir, 'main.js'),
        ssrEmitAssets: true,
        outDir: out,
        emptyOutDir: true,
        rollupOptions: { output: { format: 'es', entryFileNames: 'main.mjs' } },
      },
    })) as RollupWatcher;
    const built = buildEnds(watcher);
    try {
      await expectRebuilds(built, out);
    } finally {
      await watcher.close();
    }
  });
});
