/**
 * The runtime in a real browser: headless Chromium (Debian's package at /usr/bin/chromium,
 * driven by playwright-core, never a downloaded browser build) loads the built runtime
 * (dist/runtime/*.js) as plain ES modules from a local http://127.0.0.1 server, asks
 * `navigator.gpu` for an adapter and a device, and runs a compiled plan with PlanRunner.
 * The outputs are compared with the float64 CPU oracle on the same inputs and the same
 * seeded parameters. Chromium's launch and flags are in test/support/chromium.ts.
 *
 * Under CI=true a missing chromium or a missing adapter fails the suite; locally it is
 * skipped with the reason in the suite's title.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { afterAll, describe, expect, it } from 'vitest';
import { planOf } from '../../driver/stages.js';
import { interpret } from '../../compiler/reference/interpret.js';
import { initValues, randomInput, type HostArray, type Plan } from '../../runtime/index.js';
import { launchChromium, probeAdapter, type Chromium } from '../support/chromium.js';
import { compileOrThrow, errorStats, GPU_REQUIRED } from '../support/gpu.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
// ---------------------------------------------------------------- the built runtime

/** The folders the browser loads: the runtime and the layout arithmetic it imports (browser-safe, no Node imports). */
const BROWSER_FOLDERS = ['runtime', 'layout'];

/** The runtime's modules are fresh when every runtime/*.ts and layout/*.ts has a newer dist/…/*.js. */
function staleRuntimeFiles(): string[] {
  return BROWSER_FOLDERS.flatMap((folder) =>
    readdirSync(join(ROOT, folder))
      .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))
      .map((f) => `${folder}/${f}`)
      .filter((f) => {
        const js = join(ROOT, 'dist', f.replace(/\.ts$/, '.js'));
        return !existsSync(js) || statSync(js).mtimeMs < statSync(join(ROOT, f)).mtimeMs;
      }),
  );
}

/** Builds dist/ when the runtime's modules there are missing or older than their sources. */
function ensureBuiltRuntime() {
  if (staleRuntimeFiles().length === 0) return;
  const r = spawnSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 120_000,
  });
  // tsc emits despite type errors elsewhere; what matters here is that the runtime is fresh.
  const still = staleRuntimeFiles();
  if (still.length) throw new Error(`npm run build did not produce fresh dist/runtime files (${still.join(', ')}):\n${r.stdout}${r.stderr}`);
}

/**
 * The imports reachable from dist/runtime/index.js that a browser cannot resolve (bare
 * package names, node: modules). The page would fail to load on them anyway; this says why.
 */
function unresolvableImports(): string[] {
  const bad: string[] = [];
  const seen = new Set<string>();
  const todo = ['runtime/index.js'];
  while (todo.length) {
    const f = todo.pop()!;
    if (seen.has(f)) continue;
    seen.add(f);
    const [folder] = f.split('/');
    const text = readFileSync(join(ROOT, 'dist', f), 'utf8');
    for (const m of text.matchAll(/(?:^|\n)\s*(?:import|export)\b[^'"]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g)) {
      const spec = m[1] ?? m[2]!;
      const same = /^\.\/([\w-]+\.js)$/.exec(spec);
      const other = /^\.\.\/([\w-]+)\/([\w-]+\.js)$/.exec(spec);
      if (same) todo.push(`${folder}/${same[1]}`);
      else if (other && BROWSER_FOLDERS.includes(other[1]!)) todo.push(`${other[1]}/${other[2]}`);
      else bad.push(`${f} imports '${spec}'`);
    }
  }
  return bad;
}

// ---------------------------------------------------------------- the page's server

/**
 * The page loads the runtime as ES modules and publishes it as `window.mdcRuntime` (a
 * dynamic import() inside page.evaluate would be rewritten by vitest's transform).
 */
const PAGE = `<!doctype html><meta charset="utf-8"><title>mdc runtime in the browser</title>
<script type="module">
  import * as runtime from '/runtime/index.js';
  window.mdcRuntime = runtime;
</script>`;

type RuntimeModule = typeof import('../../runtime/index.js');

/** Serves the page at / and the built runtime at /runtime/NAME.js (and /layout/NAME.js); nothing else. */
async function startServer(): Promise<{ server: Server; origin: string }> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    if (path === '/') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(PAGE);
      return;
    }
    if (path === '/favicon.ico') {
      res.writeHead(204).end();
      return;
    }
    const m = /^\/([a-z]+)\/([a-z0-9-]+\.js)$/.exec(path);
    const file = m && BROWSER_FOLDERS.includes(m[1]!) ? join(ROOT, 'dist', m[1]!, m[2]!) : undefined;
    if (file && existsSync(file)) {
      res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8', 'cache-control': 'no-store' }).end(readFileSync(file));
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' }).end(`not found: ${path}`);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return { server, origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

// ---------------------------------------------------------------- browser and adapter probe

interface Browser {
  readonly chromium?: Chromium;
  readonly page?: Page;
  readonly server?: Server;
  /** The adapter's description, when there is one. */
  readonly adapter?: string;
  /** Why there is no adapter. */
  readonly reason?: string;
  /** Page errors and console errors, for failure messages. */
  readonly log: string[];
}

async function openBrowser(): Promise<Browser> {
  let browser: Chromium | undefined;
  let server: Server | undefined;
  try {
    ensureBuiltRuntime();
    const bad = unresolvableImports();
    if (bad.length) return { log: [], reason: `the built runtime has imports a browser cannot resolve: ${bad.join('; ')}` };
    const s = await startServer();
    server = s.server;
    browser = await launchChromium();
    const { page, log } = browser;
    await page.goto(`${s.origin}/`);
    const loaded = await page
      .waitForFunction(() => 'mdcRuntime' in window, undefined, { timeout: 10_000 })
      .then(
        () => true,
        () => false,
      );
    if (!loaded) return { chromium: browser, server, log, reason: `the page did not load the runtime modules:\n${log.join('\n')}` };
    return { chromium: browser, page, server, log, ...(await probeAdapter(page)) };
  } catch (e) {
    return { chromium: browser, server, log: browser?.log ?? [], reason: `chromium failed: ${(e as Error).message.split('\n')[0]}` };
  }
}

let closed = false;
async function closeBrowser(b: Browser) {
  if (closed) return;
  closed = true;
  await b.chromium?.close();
  await new Promise<void>((resolve) => (b.server ? b.server.close(() => resolve()) : resolve()));
}

const browser = await openBrowser();
// Without an adapter nothing needs the browser; close it now, since vitest runs no
// afterAll for a file whose tests are all skipped.
if (!browser.adapter) await closeBrowser(browser);
const skip = !browser.adapter && !GPU_REQUIRED;
const title = (name: string) => (skip ? `${name} [SKIPPED: no WebGPU in Chromium: ${browser.reason}]` : name);

afterAll(() => closeBrowser(browser));

// ---------------------------------------------------------------- running a sample in the page

interface WireArray {
  readonly dtype: 'f32' | 'i32';
  readonly values: number[];
}
interface PageResult {
  readonly outputs: Record<string, { shape: number[]; values: number[] }>;
  readonly ms: number;
}

const count = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/** Runs `plan` in the page: adapter, device (largest buffer limits, as runtime/node.ts asks), PlanRunner. */
async function runInPage(page: Page, plan: Plan, inputs: Record<string, HostArray>): Promise<PageResult> {
  const wire: Record<string, WireArray> = {};
  for (const [k, v] of Object.entries(inputs)) wire[k] = { dtype: v instanceof Int32Array ? 'i32' : 'f32', values: Array.from(v) };
  return page.evaluate(
    async ({ plan, wire }) => {
      const { PlanRunner } = (window as unknown as { mdcRuntime: RuntimeModule }).mdcRuntime;
      const adapter = await navigator.gpu.requestAdapter();
      if (!adapter) throw new Error('requestAdapter() returned null');
      const device = await adapter.requestDevice({
        requiredLimits: {
          maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize,
          maxBufferSize: adapter.limits.maxBufferSize,
        },
      });
      const t0 = performance.now();
      const ins: Record<string, Float32Array | Int32Array> = {};
      for (const [k, v] of Object.entries(wire)) ins[k] = v.dtype === 'i32' ? Int32Array.from(v.values) : Float32Array.from(v.values);
      const runner = await PlanRunner.create(device, plan);
      try {
        const out = await runner.run(ins);
        const outputs: Record<string, { shape: number[]; values: number[] }> = {};
        for (const [k, t] of Object.entries(out)) outputs[k] = { shape: [...t.shape], values: Array.from(t.data) };
        return { outputs, ms: performance.now() - t0 };
      } finally {
        runner.destroy();
        device.destroy();
      }
    },
    { plan, wire },
  );
}

/**
 * Compiles a sample in Node, runs it in the page and on the CPU oracle with the same seeded
 * inputs (as test/support/gpu.ts `runBoth` makes them) and the parameters the runner
 * initialises itself from the plan's seed. Returns each output's relative L2 error.
 */
async function sampleInBrowser(name: string) {
  const graph = compileOrThrow(readFileSync(join(ROOT, 'samples', `${name}.model`), 'utf8'), { preset: 'tiny' });
  const plan = planOf(graph, { seed: 7 });
  const inputs: Record<string, HostArray> = {};
  for (const io of plan.inputs) inputs[io.name] = randomInput(plan.buffers[io.buffer]!.type, count(io.shape), 11, io.name, io.max ?? 2);
  const params = new Map<string, Float32Array>();
  for (const b of plan.buffers) if (b.role === 'param') params.set(b.name, initValues(b.init!, count(b.shape), plan.seed, b.name));

  const page = browser.page;
  if (!page || !browser.adapter) throw new Error(`no WebGPU in Chromium${GPU_REQUIRED ? ' and CI=true requires it' : ''}: ${browser.reason}`);
  let gpu: PageResult;
  try {
    gpu = await runInPage(page, plan, inputs);
  } catch (e) {
    throw new Error(`${(e as Error).message}\n${browser.log.join('\n')}`, { cause: e });
  }
  const cpu = interpret(graph, inputs, (n) => params.get(n)!);
  const errors: Record<string, ReturnType<typeof errorStats>> = {};
  for (const [out, ref] of Object.entries(cpu)) {
    const g = gpu.outputs[out];
    if (!g) throw new Error(`the page returned no output '${out}'`);
    expect(g.shape, out).toEqual([...ref.shape]);
    errors[out] = errorStats(g.values, ref.data);
  }
  return { errors, ms: gpu.ms };
}

describe.skipIf(skip)(title('the runtime in headless Chromium through navigator.gpu'), () => {
  it('Chromium exposes a WebGPU adapter to a page on http://127.0.0.1', () => {
    expect(browser.reason, `${browser.reason}\n${browser.log.join('\n')}`).toBeUndefined();
    expect(browser.adapter).toBeTruthy();
    console.info(`browser WebGPU adapter: ${browser.adapter}`);
  });

  // The same bar as test/e2e/samples-gpu.test.ts: f32 kernels against the float64 oracle,
  // relative L2 error (‖gpu − cpu‖₂ / ‖cpu‖₂) below 1e-4 for every output.
  it.each(['mlp', 'gpt2'])('%s (preset tiny) runs in the page and matches the CPU oracle, relative error < 1e-4', async (name) => {
    const { errors, ms } = await sampleInBrowser(name);
    for (const [out, e] of Object.entries(errors)) {
      expect(e.count, out).toBeGreaterThan(0);
      expect(e.nonFiniteMismatches, out).toBe(0);
      expect(e.rel, out).toBeLessThan(1e-4);
    }
    console.info(
      `browser ${name}: ${Object.entries(errors)
        .map(([o, e]) => `${o} rel ${e.rel.toExponential(2)} maxAbs ${e.maxAbs.toExponential(2)}`)
        .join(', ')}; page run ${ms.toFixed(0)} ms`,
    );
  });
});
