/**
 * The playground in headless Chromium: built with Vite's JS API into a temp dir, served
 * from http://127.0.0.1, opened in Debian's Chromium with WebGPU (test/support/chromium.ts).
 * The test types a model with a mistake into the editor, sees the diagnostic the language
 * server (lsp/server.ts, in a web worker) publishes, as `mdc check` words it, fixes it, presses Run, and reads the
 * outputs the page computed on its WebGPU; they are compared with the float64 CPU oracle
 * on the same seeded inputs and parameters. A screenshot of the page is saved in the temp dir.
 *
 * Under CI=true a missing chromium or adapter fails; locally it skips with the reason.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { extname, join, normalize } from 'node:path';
import { build, type InlineConfig } from 'vite';
import { afterAll, describe, expect, it } from 'vitest';
import config from '../../playground/vite.config.js';
import { interpret } from '../../compiler/reference/interpret.js';
import { compile } from '../../driver/compile.js';
import { formatDiagnostic } from '../../diagnostics/format.js';
import { initValues, numel, randomInput, type HostArray } from '../../runtime/index.js';
import { launchChromium, probeAdapter, type Chromium } from '../support/chromium.js';
import { errorStats, GPU_REQUIRED } from '../support/gpu.js';

const FILE = 'playground.model';
const SEED = 3;
/** A small MLP whose last line names a parameter that does not exist (`w3`). */
const BROKEN = `model Net(x: f32[B, 16]) -> f32[B, 8] where B = 4 {
  param w1: f32[16, 32] = normal(0, 0.5)
  param b1: f32[32] = normal(0, 0.1)
  param w2: f32[32, 8] = normal(0, 0.5)
  let h = tanh(x @ w1 + b1)
  return h @ w3
}
`;
const FIXED = BROKEN.replace('h @ w3', 'h @ w2');

const TYPES: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.svg': 'image/svg+xml' };

/** Serves `dir` (the built playground) read-only; nothing outside it. */
async function serve(dir: string): Promise<{ server: Server; origin: string }> {
  const server = createServer((req, res) => {
    const path = decodeURIComponent((req.url ?? '/').split('?')[0]!);
    const file = join(dir, normalize(path === '/' ? '/index.html' : path));
    if (path === '/favicon.ico') {
      res.writeHead(204).end();
      return;
    }
    if (!file.startsWith(dir) || !existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end(`not found: ${path}`);
      return;
    }
    res.writeHead(200, { 'content-type': `${TYPES[extname(file)] ?? 'application/octet-stream'}; charset=utf-8`, 'cache-control': 'no-store' });
    res.end(readFileSync(file));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return { server, origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

interface Setup {
  readonly dir: string;
  readonly chromium?: Chromium;
  readonly server?: Server;
  readonly origin?: string;
  readonly adapter?: string;
  readonly reason?: string;
}

async function setUp(): Promise<Setup> {
  const dir = mkdtempSync(join(tmpdir(), 'mdc-playground-'));
  const out = join(dir, 'site');
  // The config object itself (configFile: false), so Vite writes no bundled config file next to it.
  const inline: InlineConfig = {
    ...config,
    configFile: false,
    logLevel: 'warn',
    cacheDir: join(dir, 'vite-cache'),
    build: { ...config.build, outDir: out, emptyOutDir: true },
  };
  await build(inline);
  let chromium: Chromium | undefined;
  try {
    const s = await serve(out);
    try {
      chromium = await launchChromium();
    } catch (e) {
      return { dir, server: s.server, reason: `chromium failed: ${(e as Error).message.split('\n')[0]}` };
    }
    await chromium.page.goto(`${s.origin}/`);
    return { dir, chromium, server: s.server, origin: s.origin, ...(await probeAdapter(chromium.page)) };
  } catch (e) {
    return { dir, ...(chromium ? { chromium } : {}), reason: (e as Error).message };
  }
}

const setup = await setUp();
const skip = !setup.adapter && !GPU_REQUIRED;
const title = (name: string) => (skip ? `${name} [SKIPPED: no WebGPU in Chromium: ${setup.reason}]` : name);

afterAll(async () => {
  await setup.chromium?.close();
  await new Promise<void>((resolve) => (setup.server ? setup.server.close(() => resolve()) : resolve()));
  rmSync(setup.dir, { recursive: true, force: true });
});

/** The CPU oracle's outputs for `source` at `seed`, with the inputs and parameters the page (and `mdc run`) make. */
async function oracle(source: string, seed: number) {
  const r = await compile(source, FILE, { seed });
  expect(r.diagnostics).toEqual([]);
  const plan = r.plan!;
  const inputs: Record<string, HostArray> = {};
  for (const io of plan.inputs) inputs[io.name] = randomInput(plan.buffers[io.buffer]!.type, numel(io.shape), seed, io.name, io.max);
  const params = new Map<string, Float32Array>();
  for (const b of plan.buffers) if (b.role === 'param') params.set(b.name, initValues(b.init!, numel(b.shape), plan.seed, b.name));
  return { plan, outputs: interpret(r.forward!, inputs, (n) => params.get(n)!) };
}

/** PNG width and height from its IHDR chunk, after checking the signature. */
function pngSize(png: Buffer): { width: number; height: number } {
  expect([...png.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  expect(png.subarray(12, 16).toString('latin1')).toBe('IHDR');
  return { width: png.readUInt32BE(16), height: png.readUInt32BE(20) };
}

describe.skipIf(skip)(title('the playground in headless Chromium'), () => {
  it('shows a typed mistake as the diagnostic mdc check gives, runs the fixed model on WebGPU and matches the CPU oracle', async () => {
    expect(setup.reason, `${setup.reason}\n${setup.chromium?.log.join('\n')}`).toBeUndefined();
    const page = setup.chromium!.page;
    const log = () => setup.chromium!.log.join('\n');
    const state = (s: string, timeout = 20_000) =>
      page
        .waitForFunction((want) => document.body.dataset['state'] === want, s, { timeout })
        .catch(async (e: Error) => {
          const now = await page.evaluate(
            () => `${document.body.dataset['state']}: ${document.getElementById('status')?.textContent} ${document.getElementById('diagnostics')?.textContent}`,
          );
          throw new Error(`the page never reached state '${s}' (it is ${now}): ${e.message}\n${log()}`);
        });

    // The page opens with samples/mlp.model, which checks clean.
    await state('checked');
    expect(await page.locator('#diagnostics li').count()).toBe(0);

    // Replace the text with the broken model, as a paste.
    await page.locator('.cm-content').click();
    await page.keyboard.press('Control+A');
    await page.keyboard.insertText(BROKEN);
    await state('diagnostics');
    const expected = (await compile(BROKEN, FILE, { until: 'check' })).diagnostics.map((d) => formatDiagnostic(d));
    expect(expected).toEqual([`${FILE}:6:14: error MDC0101: unknown name 'w3'; did you mean 'w1'?`]);
    const item = page.locator('#diagnostics li');
    expect(await item.allTextContents()).toEqual(expected);
    // Reported by the language server (lsp/server.ts) running in the page's worker.
    expect(await page.locator('#diagnostics').getAttribute('data-source')).toBe('lsp');
    expect(await item.first().getAttribute('data-code')).toBe('MDC0101');
    expect(await item.first().getAttribute('data-line')).toBe('6');
    // The editor marks the span too (CodeMirror's lint decoration over `w3`).
    await page.locator('.cm-lintRange-error').first().waitFor({ timeout: 5_000 });
    expect(await page.locator('.cm-lintRange-error').allTextContents()).toEqual(['w3']);

    // Fix it by typing: to the end of line 6 (the text ends with '}' and a newline), delete the '3', type '2'.
    await page.keyboard.press('Control+End');
    await page.keyboard.press('ArrowUp');
    await page.keyboard.press('ArrowUp');
    await page.keyboard.press('End');
    await page.keyboard.press('Backspace');
    await page.keyboard.type('2');
    await state('checked');
    expect(await page.evaluate(() => document.querySelector('.cm-content')!.textContent)).toBe(FIXED.replace(/\n/g, ''));
    expect(await page.locator('#diagnostics li').count()).toBe(0);

    // Run with seed 3, as `mdc run --seed 3` would.
    await page.locator('#seed').fill(String(SEED));
    await page.locator('#run').click();
    await state('ran', 40_000);

    const { plan, outputs } = await oracle(FIXED, SEED);
    const rows = page.locator('table.outputs tr[data-name]');
    expect(await rows.count()).toBe(1);
    const row = rows.first();
    expect(await row.getAttribute('data-name')).toBe('output0');
    expect(await row.locator('td').nth(1).textContent()).toBe('f32[4, 8]');
    const ref = outputs['output0']!;
    const first = JSON.parse((await row.getAttribute('data-first'))!) as number[];
    const sum = Number(await row.getAttribute('data-sum'));
    // f32 kernels against the float64 oracle: tanh and two 16/32-long dot products lose a
    // few ulps; 1e-5 absolute on values of order 1 and on a sum of 32 of them is the bar.
    expect(first.length).toBe(4);
    for (let i = 0; i < 4; i++) expect(Math.abs(first[i]! - ref.data[i]!), `value ${i}`).toBeLessThan(1e-5);
    const refSum = Array.from(ref.data).reduce((a, b) => a + b, 0);
    expect(Math.abs(sum - refSum)).toBeLessThan(1e-4);
    expect(errorStats(first, Array.from(ref.data.slice(0, 4))).nonFiniteMismatches).toBe(0);

    // The plan's summary names the plan the compiler makes in Node from the same source.
    const counts = await page.locator('.plan-counts').textContent();
    expect(counts).toMatch(new RegExp(`^Net: ${plan.kernels.length} kernels, ${plan.steps.length} steps, ${plan.buffers.length} buffers; `));
    expect(await page.locator('table.kernels tr').count()).toBe(plan.kernels.length + 1);
    expect(await page.locator('svg.arena-chart').count()).toBe(plan.arenas?.length ?? 0);

    // A screenshot of the page, and one of the output area alone.
    const shot = join(setup.dir, 'playground.png');
    const whole = pngSize(await page.screenshot({ path: shot }));
    expect(statSync(shot).size).toBeGreaterThan(1000);
    const viewport = page.viewportSize()!;
    expect(whole).toEqual(viewport);
    const box = (await page.locator('#output').boundingBox())!;
    expect(box.width).toBeGreaterThan(0);
    expect(box.x + box.width).toBeLessThanOrEqual(viewport.width);
    expect(box.y + box.height).toBeLessThanOrEqual(viewport.height);
    const area = pngSize(await page.locator('#output').screenshot({ path: join(setup.dir, 'output.png') }));
    expect(area.width).toBe(Math.round(box.width));
    expect(area.height).toBe(Math.round(box.height));
    console.info(`playground: ${await page.locator('#status').textContent()}; output0 sum ${sum} (oracle ${refSum}); adapter ${setup.adapter}`);

    // Hover: the language server's type of `h`, as the editor shows it.
    const spot = await page.evaluate(() => {
      const line = [...document.querySelectorAll('.cm-line')].find((l) => l.textContent!.includes('let h = tanh'))!;
      const walker = document.createTreeWalker(line, NodeFilter.SHOW_TEXT);
      for (let n = walker.nextNode(); n; n = walker.nextNode()) {
        const at = n.textContent!.indexOf('h = tanh');
        if (at < 0) continue;
        const range = document.createRange();
        range.setStart(n, at);
        range.setEnd(n, at + 1);
        const r = range.getBoundingClientRect();
        return { x: r.x + r.width / 2, y: r.y + r.height / 2 };
      }
      return undefined;
    });
    expect(spot).toBeDefined();
    await page.mouse.move(spot!.x, spot!.y);
    const hover = page.locator('.mdc-hover');
    await hover.waitFor({ timeout: 10_000 });
    expect(await hover.textContent()).toContain('let h: f32[B, 32]');

    // Completion: the server's names for a word being typed (focus: the hover tooltip may cover the text).
    await page.mouse.move(0, 0);
    await page.locator('.cm-content').focus();
    await page.keyboard.press('Control+End');
    await page.keyboard.type('ta');
    const options = page.locator('.cm-tooltip-autocomplete .cm-completionLabel');
    await options.first().waitFor({ timeout: 10_000 });
    expect(await options.allTextContents()).toContain('tanh');
  });
});
