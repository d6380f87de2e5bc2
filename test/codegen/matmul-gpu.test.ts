/**
 * The matmul family on WebGPU against the float64 CPU oracle: every configuration the
 * tuner may pick (plain, tiled, GEMV, subgroup) on tile multiples and on awkward sizes
 * (1, 3, 17, 1000), batched with broadcast batch dims, and M = 1 decode shapes. The
 * subgroup kernels run where the adapter offers `subgroups` (llvmpipe does, 8 lanes);
 * without an adapter, or without subgroups, the suite is skipped, except under CI where it fails.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { candidates, configName, defaultConfig, defaultTiled, type MatmulConfig } from '../../codegen/kernels/matmul/config.js';
import type { MatmulShape } from '../../codegen/kernels/matmul/shape.js';
import { planOf } from '../../driver/stages.js';
import { PlanRunner } from '../../runtime/index.js';
import {
  adapterTarget,
  compareOutputs,
  compileOrThrow,
  describeWithFeature,
  destroySharedDevices,
  featureStatus,
  gpuStatus,
  runBoth,
  sharedDevice,
} from '../support/gpu.js';

const T = (shape: readonly number[]) => `f32[${shape.join(', ')}]`;
const source = (a: number[], b: number[], o: number[]) => `model T(a: ${T(a)}, b: ${T(b)}) -> ${T(o)} {\n  return a @ b\n}\n`;

/** `all`: every candidate the tuner may choose; otherwise the fallback, the defaults and one kernel of each family that fits. */
interface Case {
  readonly a: number[];
  readonly b: number[];
  readonly why: string;
  readonly all?: boolean;
}
const CASES: Case[] = [
  { a: [64, 64], b: [64, 64], why: 'one 64 × 64 tile exactly' },
  { a: [128, 32], b: [32, 96], why: 'tile multiples in every dim', all: true },
  { a: [17, 1000], b: [1000, 3], why: 'K = 1000, N = 3: the K tail and scalar columns', all: true },
  { a: [33, 7], b: [7, 1000], why: 'N = 1000 (four-wide), K = 7 below every tile depth', all: true },
  { a: [200, 24], b: [24, 40], why: '13 blocks of 16 rows: a full raster group of 8 and a partial one', all: true },
  { a: [3, 17], b: [17, 1], why: 'N = 1' },
  { a: [1000, 1], b: [1, 17], why: 'K = 1, M = 1000' },
  { a: [1, 1000], b: [1000, 36], why: 'GEMV: M = 1, four-wide', all: true },
  { a: [1, 17], b: [17, 3], why: 'GEMV: M = 1, one-wide, K not a multiple of 4' },
  { a: [2, 1, 17, 5], b: [4, 5, 12], why: 'batch dims broadcast both ways → [2, 4, 17, 12]' },
  { a: [3, 1, 8], b: [3, 8, 20], why: 'batched GEMV' },
  { a: [1, 19, 33], b: [5, 33, 2], why: "a's batch of 1 broadcasts, N = 2" },
];

const outShape = (a: number[], b: number[]) => {
  const ba = a.slice(0, -2);
  const bb = b.slice(0, -2);
  const n = Math.max(ba.length, bb.length);
  const batch = Array.from({ length: n }, (_, i) => {
    const x = ba[ba.length - n + i] ?? 1;
    const y = bb[bb.length - n + i] ?? 1;
    return x === 1 ? y : x;
  });
  return [...batch, a[a.length - 2]!, b[b.length - 1]!];
};
const shapeOf = (a: number[], b: number[]): MatmulShape => {
  const o = outShape(a, b);
  const batch = o.slice(0, -2);
  const pad = (s: number[]) => [...new Array<number>(batch.length - (s.length - 2)).fill(1), ...s.slice(0, -2)];
  return { M: o[o.length - 2]!, N: o[o.length - 1]!, K: a[a.length - 1]!, batch, aBatch: pad(a), bBatch: pad(b) };
};

const gpu = await gpuStatus();
const subgroups = await featureStatus('subgroups');
const device = await adapterTarget();
const FAMILY: Record<MatmulConfig['kind'], string> = { plain: 'matmul', tiled: 'matmul_tiled', subgroup: 'matmul_subgroup', gemv: 'matmul_gemv' };

/**
 * f32 dot products of up to 1000 terms against float64: the error random-walks to about
 * √K·u ≈ 2e-6; 1e-5 leaves 5× headroom, and any indexing or edge bug gives O(1).
 */
const TOL = 1e-5;

it('without a target, codegen picks the portable defaults: tiled, or GEMV for one row', () => {
  const kernelOf = (a: number[], b: number[]) => planOf(compileOrThrow(source(a, b, outShape(a, b)))).kernels[0]!;
  expect(kernelOf([128, 32], [32, 96]).name).toBe('matmul_tiled');
  expect(kernelOf([1, 1000], [1000, 36]).name).toBe('matmul_gemv');
  const plan = planOf(compileOrThrow(source([128, 32], [32, 96], [128, 96])), { target: { subgroupSize: 8 } });
  expect(plan.kernels[0]!.name).toBe('matmul_subgroup');
  expect(plan.features).toEqual(['subgroups']);
  expect(planOf(compileOrThrow(source([128, 32], [32, 96], [128, 96]))).features).toBeUndefined();
});

it('the runtime refuses a plan compiled for subgroups on a device without them, naming the feature', async () => {
  const plan = planOf(compileOrThrow(source([128, 32], [32, 96], [128, 96])), { target: { subgroupSize: 8 } });
  const device = { features: new Set<string>(), limits: { maxStorageBufferBindingSize: 2 ** 30 } } as unknown as GPUDevice;
  await expect(PlanRunner.create(device, plan)).rejects.toThrow("was compiled for a device with 'subgroups'; this device was not created with it");
});

describe.skipIf(gpu.skip)(gpu.title('matmul kernels on WebGPU vs the float64 CPU oracle'), () => {
  beforeAll(async () => {
    await sharedDevice();
  });
  afterAll(destroySharedDevices);

  for (const c of CASES) {
    const o = outShape(c.a, c.b);
    const s = shapeOf(c.a, c.b);
    const families: MatmulConfig[] = [
      defaultConfig(s, {}),
      defaultConfig(s, device),
      defaultTiled(s),
      ...(device.subgroupSize ? [{ kind: 'subgroup', tm: 8, tn: 1, raster: 'm' } as const] : []),
      ...(s.M === 1 ? [{ kind: 'gemv', wg: 64 } as const] : []),
    ];
    const configs: MatmulConfig[] = [{ kind: 'plain' } as MatmulConfig, ...(c.all ? candidates(s, device) : families)].filter(
      (x, i, all) => all.findIndex((y) => JSON.stringify(y) === JSON.stringify(x)) === i,
    );
    for (const config of configs) {
      it(`${T(c.a)} @ ${T(c.b)} (${c.why}): ${configName(config)}`, async () => {
        const r = await runBoth(source(c.a, c.b, o), { target: { ...device, matmul: config } });
        expect(r.plan.kernels.map((k) => k.name)).toEqual([FAMILY[config.kind]]);
        const e = compareOutputs(r)['output0']!;
        expect(e.nonFiniteMismatches).toBe(0);
        expect(e.rel, `‖gpu−cpu‖₂/‖cpu‖₂ must be ≤ ${TOL}`).toBeLessThanOrEqual(TOL);
      });
    }
  }

  it('plain: 4.2M outputs fold the grid into 2-D past 65535 workgroups', async () => {
    const r = await runBoth(source([2049, 1], [1, 2049], [2049, 2049]), { target: { matmul: { kind: 'plain' } } });
    expect(r.plan.steps[0]!.kind === 'collective' ? [] : r.plan.steps[0]!.dispatch[1]).toBeGreaterThan(1);
    // K = 1: one f32 rounding per product.
    expect(compareOutputs(r)['output0']!.rel).toBeLessThanOrEqual(1e-6);
  });

  // Without subgroups these skip, except under CI where they fail naming the feature (the
  // subgroup configurations above are then left out too, so CI must not pass without them).
  describeWithFeature(subgroups, `the adapter's subgroups (${device.subgroupSize ?? 'none'} lanes)`, () => {
    it('they are used by the default target for this adapter', async () => {
      const r = await runBoth(source([40, 24], [24, 72], [40, 72]), { target: device });
      expect(r.plan.kernels[0]!.name).toBe('matmul_subgroup');
      expect(compareOutputs(r)['output0']!.rel).toBeLessThanOrEqual(TOL);
    });

    it('the runtime refuses a plan compiled for another subgroup size, naming both', async () => {
      const other = device.subgroupSize === 32 ? 16 : 32;
      const plan = planOf(compileOrThrow(source([40, 24], [24, 72], [40, 72])), { target: { subgroupSize: other } });
      expect(plan.subgroupSize).toBe(other);
      await expect(PlanRunner.create(await sharedDevice(), plan)).rejects.toThrow(
        `compiled for subgroups of ${other} lanes; this device's subgroups have ${device.subgroupSize} lanes`,
      );
    });
  });

  it('infinities in an operand stay where the oracle has them (no padded product reaches a stored output)', async () => {
    const a = Float32Array.from({ length: 5 * 9 }, (_, i) => (i === 7 ? Infinity : (i % 5) - 2));
    const b = Float32Array.from({ length: 9 * 6 }, (_, i) => ((i * 3) % 7) - 3);
    const s = shapeOf([5, 9], [9, 6]);
    for (const config of [
      { kind: 'plain' } as const,
      defaultTiled(s),
      ...(device.subgroupSize ? [{ kind: 'subgroup', tm: 8, tn: 1, raster: 'm' } as const] : []),
    ]) {
      const r = await runBoth(source([5, 9], [9, 6], [5, 6]), { target: { ...device, matmul: config }, inputs: { a, b } });
      const e = compareOutputs(r, { nonFinite: 'expected' })['output0']!;
      expect(e.nonFinite, `${configName(config)}: a[0][7] = ∞ makes all of row 0 ±∞ or NaN (∞·0)`).toBe(6);
      expect(e.nonFiniteMismatches, configName(config)).toBe(0);
      expect(e.rel, `${configName(config)}: the finite rows`).toBeLessThanOrEqual(TOL);
    }
  });
});
