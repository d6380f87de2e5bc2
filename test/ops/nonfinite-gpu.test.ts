/**
 * NaN and ±Infinity through the kernels, against the CPU oracle position by position
 * (docs/kernels.md, "NaN and infinity"): relu, maximum, minimum and the max/min row
 * reductions propagate NaN; a float max starts from -Infinity and a min from +Infinity;
 * softmax follows IEEE arithmetic (a row of -Infinity or one holding NaN or +Infinity is
 * NaN); attention gives 0 for a row that sees no key with a score above -Infinity.
 * Each reduction runs per invocation, through a workgroup tree and, where the adapter has
 * subgroups, through subgroupMax/subgroupMin, unfused and fused.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KernelTarget } from '../../codegen/kernels/kernel.js';
import { adapterTarget, destroySharedDevices, errorStats, gpuStatus, runBoth, sharedDevice, type BothResult, type RunOptions } from '../support/gpu.js';
import { ACCUMULATED, expectAgreement, ROUNDED, type Observed, type Tolerance } from '../support/tolerance.js';

const EXACT: Tolerance = { rel: 0, why: 'max, min and relu choose one operand: bit-exact' };
const TRANSCENDENTAL: Tolerance = { rel: 1e-5, why: 'llvmpipe exp/log ulp error (as in ops-gpu.test.ts)' };

const NaN_ = Number.NaN;
const INF = Number.POSITIVE_INFINITY;

/**
 * Eight rows of `len`: all -Inf; finite with one NaN; finite with +Inf; finite with some
 * -Inf; all +Inf; finite; NaN last; -Inf and +Inf mixed.
 */
function rows(len: number): Float32Array {
  const x = new Float32Array(8 * len);
  for (let r = 0; r < 8; r++)
    for (let j = 0; j < len; j++) {
      const finite = Math.sin(r * 31 + j * 7) * 3;
      const at = r * len + j;
      x[at] = [
        -INF,
        j === len >> 1 ? NaN_ : finite,
        j === 1 ? INF : finite,
        j % 3 === 0 ? -INF : finite,
        INF,
        finite,
        j === len - 1 ? NaN_ : finite,
        j % 2 ? INF : -INF,
      ][r]!;
    }
  return x;
}

/** What the max and min of each of the eight rows must be, written out (not computed by the oracle). */
const ROW_MAX = (finiteMax: (r: number) => number) => [-INF, NaN_, INF, finiteMax(3), INF, finiteMax(5), NaN_, INF];
const ROW_MIN = (finiteMin: (r: number) => number) => [-INF, NaN_, finiteMin(2), -INF, INF, finiteMin(5), NaN_, -INF];

const model = (x: string, ret: string, body: string) => `model T(x: ${x}) -> ${ret} {\n  return ${body}\n}\n`;

it('a comparison that expects NaN/±Infinity still fails where the device differs from the oracle there (no GPU needed)', () => {
  const expected = { nonFinite: 'expected' } as const;
  // NaN where the oracle has NaN, the same infinity where it has one: agreement.
  expect(errorStats(Float32Array.of(NaN_, INF, -INF, 1), Float64Array.of(NaN_, INF, -INF, 1), expected).rel).toBe(0);
  // A finite value where the oracle has NaN, NaN where it has -Infinity, +Infinity for -Infinity: no tolerance passes.
  for (const [got, want] of [
    [1, NaN_],
    [NaN_, -INF],
    [INF, -INF],
    [3.4028234663852886e38, INF],
  ]) {
    const e = errorStats(Float32Array.of(got!, 1), Float64Array.of(want!, 1), expected);
    expect([e.nonFiniteMismatches, e.rel, e.maxAbs], `${got} against the oracle's ${want}`).toEqual([1, NaN_, NaN_]);
  }
});

const gpu = await gpuStatus();
const observed: Observed[] = [];
const agree = (name: string, r: BothResult, tol: Tolerance) => expectAgreement(name, r, tol, observed, { nonFinite: 'expected' });

describe.skipIf(gpu.skip)(gpu.title('NaN and ±Infinity on WebGPU vs the CPU oracle'), () => {
  let sub: KernelTarget = {};
  beforeAll(async () => {
    await sharedDevice();
    sub = await adapterTarget();
  });
  afterAll(destroySharedDevices);

  /** The targets a row kernel is tried on: one invocation per row, a workgroup tree, and a subgroup when the adapter has one. */
  const targets = (): [string, KernelTarget][] => [
    ['per invocation', { rowUnits: 1 << 20 }],
    ['workgroup tree', { rowUnits: 1 }],
    ...(sub.subgroupSize ? ([['subgroup', { subgroupSize: sub.subgroupSize, rowUnits: 1 }]] as [string, KernelTarget][]) : []),
  ];

  it('relu, maximum and minimum propagate NaN and keep ±Infinity, four-wide and one-wide', async () => {
    for (const n of [8, 7]) {
      const a = Float32Array.from({ length: 2 * n }, (_, i) => [NaN_, INF, -INF, -1, 2, 0, NaN_, -INF][i % 8]!);
      const b = Float32Array.from({ length: 2 * n }, (_, i) => [1, NaN_, 5, -INF, INF, NaN_, NaN_, -3][(i + 3) % 8]!);
      const t = `f32[2, ${n}]`;
      const relu = await runBoth(model(t, t, 'relu(x)'), { inputs: { x: a } });
      agree(`relu ${t}`, relu, EXACT);
      // relu of [NaN, +Inf, -Inf, -1, 2, 0, NaN, -Inf], repeated.
      expect([...relu.gpu['output0']!.data]).toEqual(Array.from(a, (_, i) => [NaN_, INF, 0, 0, 2, 0, NaN_, 0][i % 8]));
      for (const op of ['maximum', 'minimum']) {
        const src = `model T(a: ${t}, b: ${t}) -> ${t} {\n  return ${op}(a, b)\n}\n`;
        const r = await runBoth(src, { inputs: { a, b } });
        agree(`${op} ${t}`, r, EXACT);
        // Wherever either side is NaN the result is NaN.
        const out = r.gpu['output0']!.data;
        for (let i = 0; i < a.length; i++) if (Number.isNaN(a[i]!) || Number.isNaN(b[i]!)) expect(out[i], `${op} ${t} at ${i}`).toBeNaN();
      }
    }
  });

  for (const len of [8, 40, 64]) {
    it(`row max and min of f32[8, ${len}]: from ∓Infinity, NaN propagates (every row kernel shape)`, async () => {
      const x = rows(len);
      const finite = (r: number, f: (a: number, b: number) => number) =>
        x.subarray(r * len, (r + 1) * len).reduce((m, v) => (Number.isFinite(v) ? f(m, v) : m), f === Math.max ? -INF : INF);
      const want = {
        max: ROW_MAX((r) => finite(r, Math.max)),
        min: ROW_MIN((r) => finite(r, Math.min)),
      };
      for (const [where, target] of targets()) {
        for (const op of ['max', 'min'] as const) {
          const r = await runBoth(model(`f32[8, ${len}]`, 'f32[8]', `${op}(x)`), { inputs: { x }, target });
          agree(`${op} f32[8, ${len}] (${where})`, r, EXACT);
          expect([...r.gpu['output0']!.data], `${op} (${where})`).toEqual(want[op]);
        }
        // Fused with the element-wise ops around it (a rows body).
        const fused = await runBoth(model(`f32[8, ${len}]`, 'f32[8]', 'max(x * 2.0) + 1.0'), { inputs: { x }, target });
        agree(`max(x * 2) + 1 fused f32[8, ${len}] (${where})`, fused, EXACT);
        expect([...fused.gpu['output0']!.data].map((v, k) => (k === 3 || k === 5 ? 'finite' : v))).toEqual([
          -INF,
          NaN_,
          INF,
          'finite',
          INF,
          'finite',
          NaN_,
          INF,
        ]);
      }
    });

    it(`softmax and log_softmax of f32[8, ${len}] with NaN and ±Infinity follow the oracle`, async () => {
      const x = rows(len);
      for (const [where, target] of targets()) {
        for (const op of ['softmax', 'log_softmax']) {
          const t = `f32[8, ${len}]`;
          const r = await runBoth(model(t, t, `${op}(x)`), { inputs: { x }, target });
          agree(`${op} ${t} (${where})`, r, TRANSCENDENTAL);
          const out = r.gpu['output0']!.data;
          const row = (k: number) => [...out.subarray(k * len, (k + 1) * len)];
          // A row of -Infinity, one holding NaN and one of +Infinity are NaN throughout (IEEE: -Inf - -Inf, Inf - Inf).
          for (const k of [0, 1, 4, 6]) expect(row(k).every(Number.isNaN), `${op} row ${k} (${where})`).toBe(true);
          // -Infinity entries of a row with a finite max are masked out: probability 0, log-probability -Infinity.
          expect(
            row(3).filter((_, j) => j % 3 === 0),
            `${op} row 3 (${where})`,
          ).toEqual(new Array<number>(Math.ceil(len / 3)).fill(op === 'softmax' ? 0 : -INF));
        }
        // Written out, the softmax is fused into one rows body with the same numerics.
        const t = `f32[8, ${len}]`;
        const fused = await runBoth(model(t, t, 'exp(x - max(x, keepdim = true)) / sum(exp(x - max(x, keepdim = true)), keepdim = true)'), {
          inputs: { x },
          target,
        });
        agree(`written-out softmax ${t} (${where})`, fused, ACCUMULATED);
      }
    });
  }

  it('max and softmax over a leading axis (the one-invocation-per-row kernels) propagate NaN', async () => {
    const x = Float32Array.of(-INF, 1, NaN_, -INF, -INF, 3, -INF, INF, 4);
    const opts: RunOptions = { inputs: { x } };
    const r = await runBoth(model('f32[3, 3]', 'f32[3]', 'max(x, axis = 0)'), opts);
    agree('max over axis 0', r, EXACT);
    expect([...r.gpu['output0']!.data]).toEqual([-INF, INF, NaN_]);
    const s = await runBoth(model('f32[3, 3]', 'f32[3, 3]', 'softmax(x, axis = 0)'), opts);
    agree('softmax over axis 0', s, ROUNDED);
  });

  it('attention: a row whose visible scores are all -Infinity gives 0; NaN and +Infinity scores give NaN', async () => {
    const src = `model T(q: f32[2, 4, 4], k: f32[2, 4, 4], v: f32[2, 4, 4]) -> f32[2, 4, 4] {\n  return attention(q, k, v, heads = 1, causal = true)\n}\n`;
    const k = Float32Array.from({ length: 32 }, (_, i) => 0.5 + (i % 5) * 0.25);
    const v = Float32Array.from({ length: 32 }, (_, i) => Math.cos(i));
    // Batch 0: row 0 scores -Inf (q = -Inf against positive keys), row 1 holds NaN, row 2 +Inf, row 3 finite; batch 1 finite.
    const q = Float32Array.from({ length: 32 }, (_, i) => (i < 4 ? -INF : i === 5 ? NaN_ : i === 8 ? INF : Math.sin(i)));
    for (const [where, target] of [['portable', {}] as [string, KernelTarget], ...(sub.subgroupSize ? [['subgroup', sub] as [string, KernelTarget]] : [])]) {
      const r = await runBoth(src, { inputs: { q, k, v }, target });
      agree(`attention (${where})`, r, ACCUMULATED);
      const out = r.gpu['output0']!.data;
      expect([...out.subarray(0, 4)], `the -Infinity row is 0 (${where})`).toEqual([0, 0, 0, 0]);
      expect([...out.subarray(4, 12)].every(Number.isNaN), `the NaN and +Infinity rows (${where})`).toBe(true);
    }
  });
});
