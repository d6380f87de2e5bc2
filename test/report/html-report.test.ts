/**
 * `mdc plan --report`: the page opened in headless Chromium (test/support/chromium.ts) from a
 * file:// URL with every other request refused, screenshotted, and read through the DOM.
 * Expected values come from outside the page: device counts from the mesh (hand-derived), the
 * peak, step time and communication bytes from the same run's `--json` report, and the bubble
 * from 1F1B's (p − 1)/m.
 *
 * Under CI a missing Chromium fails; locally it skips with the reason.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mdc } from '../support/cli.js';
import { UNDER_CI } from '../support/ci.js';
import { CHROMIUM, launchChromium, type Chromium } from '../support/chromium.js';

const dir = mkdtempSync(join(tmpdir(), 'mdc-report-'));
const GPT2 = ['plan', 'samples/gpt2.model', '--preset', 'tiny'];
const skip = !existsSync(CHROMIUM) && !UNDER_CI;
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const title = (name: string) => (skip ? `${name} [SKIPPED: ${CHROMIUM} is missing]` : name);

/** `mdc plan ARGS --json --report FILE`: the JSON report and the page's path. */
async function plan(name: string, ...args: string[]) {
  const file = join(dir, `${name}.html`);
  const r = await mdc(...GPT2, ...args, '--json', '--report', file);
  expect(r.code, r.err).toBe(0);
  return { json: JSON.parse(r.out), file };
}

interface PageFacts {
  peak: number;
  rows: { device: number; segments: { kind: string; start: number; end: number }[] }[];
  bars: { device: number; total: number; parts: { part: string; bytes: number; width: number }[] }[];
  comm: { axis: string; bytes: number; gradientBytes: number }[];
  requests: string[];
}

describe.skipIf(skip)(title('mdc plan --report in headless Chromium'), () => {
  let chromium: Chromium;
  beforeAll(async () => {
    chromium = await launchChromium();
  }, 60_000);
  afterAll(async () => {
    await chromium?.close();
  });

  /** Opens the page (nothing but the file itself may load), saves a screenshot beside it and reads its charts. */
  async function open(file: string): Promise<PageFacts> {
    const page = await chromium.context.newPage();
    const requests: string[] = [];
    const self = pathToFileURL(file).href;
    await page.route('**/*', (route) => {
      if (route.request().url() === self) return route.continue();
      requests.push(route.request().url());
      return route.abort();
    });
    try {
      await page.goto(self);
      const png = await page.screenshot({ fullPage: true });
      writeFileSync(file.replace(/\.html$/, '.png'), png);
      expect(png.subarray(1, 4).toString()).toBe('PNG');
      const facts = await page.evaluate(() => {
        const num = (e: Element, a: string) => Number(e.getAttribute(a));
        return {
          peak: num(document.querySelector('main')!, 'data-peak-bytes'),
          rows: [...document.querySelectorAll('svg.gantt g.gantt-row')].map((g) => ({
            device: num(g, 'data-device'),
            segments: [...g.querySelectorAll('rect.seg')].map((r) => ({
              kind: r.getAttribute('data-kind')!,
              start: num(r, 'data-start'),
              end: num(r, 'data-end'),
            })),
          })),
          bars: [...document.querySelectorAll('svg.memory g.mem-bar')].map((g) => ({
            device: num(g, 'data-device'),
            total: num(g, 'data-total'),
            parts: [...g.querySelectorAll('rect[data-part]')].map((r) => ({
              part: r.getAttribute('data-part')!,
              bytes: num(r, 'data-bytes'),
              width: (r as SVGRectElement).getBoundingClientRect().width,
            })),
          })),
          comm: [...document.querySelectorAll('svg.comm g.comm-axis')].map((g) => ({
            axis: g.getAttribute('data-axis')!,
            bytes: num(g, 'data-bytes'),
            gradientBytes: num(g, 'data-gradient-bytes'),
          })),
        };
      });
      return { ...facts, requests };
    } finally {
      await page.close();
    }
  }

  /** Each bar's parts add up to its total, and every bar is drawn at the same bytes-per-pixel scale. */
  function expectBarsConsistent(bars: PageFacts['bars']) {
    const scales: number[] = [];
    for (const b of bars) {
      expect(b.parts.map((p) => p.part)).toEqual(['params', 'grads', 'optimizer', 'activations', 'inFlight']);
      expect(b.parts.reduce((s, p) => s + p.bytes, 0)).toBe(b.total);
      scales.push(b.parts.reduce((s, p) => s + p.width, 0) / b.total);
    }
    // Widths are rounded to 0.01 px per part: five parts of a bar hundreds of pixels long agree to 0.1%.
    for (const s of scales) expect(Math.abs(s / scales[0]! - 1)).toBeLessThan(1e-3);
  }

  it('a pipelined plan on a100-80gb: one row per device, the predicted step, memory bars summing to the predicted peak', async () => {
    const { json, file } = await plan('pp-a100', '--mesh', 'pp=2,dp=1,tp=2', '--hardware', 'a100-80gb');
    const f = await open(file);
    expect(f.requests).toEqual([]);
    // pp=2 × dp=1 × tp=2: four devices, each its own row.
    expect(f.rows.map((r) => r.device).sort()).toEqual([0, 1, 2, 3]);
    for (const r of f.rows) {
      expect(r.segments.filter((s) => s.kind === 'forward')).toHaveLength(2); // one F per micro-batch (microbatches = 2 in the sample)
      expect(r.segments.filter((s) => s.kind === 'backward')).toHaveLength(2);
      expect(r.segments.some((s) => s.kind === 'comm')).toBe(true); // tp's all-reduces inside the passes
      // Segments tile the row without overlap, and the row ends where the predicted step does.
      for (let i = 1; i < r.segments.length; i++) expect(r.segments[i]!.start).toBeGreaterThanOrEqual(r.segments[i - 1]!.end - 1e-12);
      expect(Math.abs(r.segments.at(-1)!.end / json.predicted.stepSeconds - 1)).toBeLessThan(1e-9);
    }
    expect(f.bars).toHaveLength(4);
    expectBarsConsistent(f.bars);
    expect(f.peak).toBe(json.predicted.peakBytesPerDevice);
    expect(Math.max(...f.bars.map((b) => b.total))).toBe(json.predicted.peakBytesPerDevice);
    // 1F1B keeps two micro-batches on rank 0 and one on rank 1: only rank 0's devices have in-flight activations.
    const inFlight = (d: number) => f.bars.find((b) => b.device === d)!.parts.find((p) => p.part === 'inFlight')!.bytes;
    expect(inFlight(0)).toBeGreaterThan(0);
    expect([inFlight(2), inFlight(3)]).toEqual([0, 0]);
    // Communication per axis adds up to the report's bytes per device (sends once per micro-batch).
    expect(f.comm.map((c) => c.axis)).toEqual(Object.keys(json.mesh));
    expect(f.comm.reduce((s, c) => s + c.bytes, 0)).toBe(json.commBytesPerDevice);
  }, 120_000);

  it('without --hardware: slots whose bubble is (p − 1)/m of the busy time, and an unpipelined plan whose bars end at memory.peak', async () => {
    const pp = await open((await plan('pp-slots', '--mesh', 'pp=2,dp=1,tp=1')).file);
    expect(pp.rows.map((r) => r.device).sort()).toEqual([0, 1]);
    for (const r of pp.rows) {
      const time = (k: string) => r.segments.filter((s) => s.kind === k).reduce((t, s) => t + s.end - s.start, 0);
      // 1F1B over p = 2 ranks with m = 2 micro-batches and uniform passes: idle / busy = (2 − 1)/2.
      expect(time('bubble') / (time('forward') + time('backward'))).toBeCloseTo(1 / 2, 12);
    }
    const { json, file } = await plan('dp-tp', '--mesh', 'dp=2,tp=2');
    const flat = await open(file);
    expect(flat.rows.map((r) => r.device).sort()).toEqual([0, 1, 2, 3]);
    expectBarsConsistent(flat.bars);
    for (const b of flat.bars) expect(b.total).toBe(json.memory.peak);
    expect(flat.peak).toBe(json.memory.peak);
    for (const [i, part] of (['params', 'grads', 'optimizer'] as const).entries()) expect(flat.bars[0]!.parts[i]!.bytes).toBe(json.memory[part]);
    // The gradient reduction over dp = 2: a ring all-reduce sends 2·(2 − 1)/2 of each device's parameter bytes; tp reduces none.
    expect(flat.comm).toEqual([
      { axis: 'dp', bytes: 0, gradientBytes: json.paramBytesPerDevice },
      { axis: 'tp', bytes: json.commBytesPerDevice, gradientBytes: 0 },
    ]);
  }, 120_000);
});

describe('mdc plan --report', () => {
  it('writes the same bytes twice, with no URL to load', async () => {
    const a = await plan('again-1', '--mesh', 'pp=2,dp=1,tp=2', '--hardware', 'a100-80gb');
    const b = await plan('again-2', '--mesh', 'pp=2,dp=1,tp=2', '--hardware', 'a100-80gb');
    const html = readFileSync(a.file, 'utf8');
    expect(readFileSync(b.file, 'utf8')).toBe(html);
    expect(html).not.toMatch(/\b(src|href)=|url\(|@import|<script/i);
  });

  it('refuses a path it cannot write, plainly', async () => {
    const r = await mdc(...GPT2, '--report', join(dir, 'no-such-dir', 'plan.html'));
    expect(r.code).toBe(2);
    expect(r.err).toContain(`--report: cannot write ${join(dir, 'no-such-dir', 'plan.html')}`);
  });
});

describe('planHtml past MAX_DEVICE_ROWS devices', () => {
  it('draws one row per pipeline rank, naming its devices', async () => {
    const { planHtml, MAX_DEVICE_ROWS } = await import('../../compiler/report/html.js');
    const devices = 2 * MAX_DEVICE_ROWS;
    const memory = { params: 10, grads: 20, optimizer: 30, activations: 5, inFlight: 5 };
    // Two ranks of 64 devices each (rank r holds devices 2i + r), one forward pass each.
    const rows = [0, 1].map((rank) => ({
      rank,
      devices: Array.from({ length: devices / 2 }, (_, i) => 2 * i + rank),
      segments: [{ kind: 'forward' as const, start: rank, end: rank + 1, label: 'F0', stage: rank }],
      memory,
    }));
    const report = {
      version: 1 as const,
      file: 'm.model',
      model: 'M',
      devices,
      mesh: { dp: devices / 2, pp: 2 },
      values: [],
      collectives: [],
      paramCount: 0,
      paramBytes: 0,
      paramBytesPerDevice: 10,
      commBytesPerDevice: 0,
    };
    const html = planHtml({ report, timeline: { unit: 'slots', end: 2, rows }, peak: { bytes: 70, source: 'hand-made' }, summary: [] });
    const gantt = [...html.matchAll(/<g class="gantt-row" data-rank="(\d)" data-devices="([\d ]+)">/g)];
    expect(gantt.map((m) => m[1])).toEqual(['0', '1']);
    expect(gantt[1]![2]!.split(' ').map(Number)).toEqual(rows[1]!.devices);
    expect(html.match(/class="gantt-row"/g)).toHaveLength(2);
    // 10 + 20 + 30 + 5 + 5 bytes.
    expect(html.match(/<g class="mem-bar" [^>]*data-total="70">/g)).toHaveLength(2);
  });
});
