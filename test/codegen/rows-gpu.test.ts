/**
 * The workgroup-per-row reductions (codegen/kernels/rows.ts) on WebGPU against the
 * float64 CPU oracle, with the portable target (a tree in workgroup memory), one
 * invocation per row (KernelTarget.rowUnits) and, where
 * the adapter offers subgroups, the subgroup target (subgroupAdd / subgroupMax): row
 * lengths under 32 (always an invocation per row), at and just past the threshold, not
 * multiples of four, and long rows; one row and many.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KernelTarget } from '../../codegen/kernels/kernel.js';
import { adapterTarget, compareOutputs, destroySharedDevices, gpuStatus, runBoth, sharedDevice, uniformI32 } from '../support/gpu.js';

const T = (dtype: string, s: readonly number[]) => `${dtype}[${s.join(', ')}]`;
const model = (args: Record<string, string>, ret: string, body: string) =>
  `model T(${Object.entries(args)
    .map(([n, t]) => `${n}: ${t}`)
    .join(', ')}) -> ${ret} {\n  ${body}\n}\n`;

interface Case {
  readonly name: string;
  readonly source: string;
  readonly ints?: readonly [string, number];
  readonly short?: boolean;
}
const cases: Case[] = [];
// Rows under 32 elements take an invocation each on every target (3; 19 is 19 units, past the default threshold of 16).
for (const [rows, len] of [
  [4, 3],
  [6, 19],
  [3, 32],
  [17, 33],
  [1, 1000],
  [5, 1024],
] as const) {
  const x = T('f32', [rows, len]);
  cases.push(
    { name: `softmax ${x}`, source: model({ x }, x, 'return softmax(x * 20.0)'), short: len < 32 },
    { name: `log_softmax ${x}`, source: model({ x }, x, 'return log_softmax(x * 5.0)'), short: len < 32 },
    {
      name: `layer_norm ${x} with weight and bias`,
      source: model({ x, w: T('f32', [len]), b: T('f32', [len]) }, x, 'return layer_norm(x * 3.0 + 1.0, w, b, 1e-5)'),
      short: len < 32,
    },
    { name: `rms_norm ${x} without weight`, source: model({ x }, x, 'return rms_norm(x)'), short: len < 32 },
  );
  for (const op of ['sum', 'mean', 'max', 'min'])
    cases.push({ name: `${op} ${x}`, source: model({ x }, T('f32', [rows]), `return ${op}(x)`), short: len < 32 });
}
cases.push({ name: 'max of i32[3, 40] (negative values)', source: model({ x: T('i32', [3, 40]) }, T('i32', [3]), 'return max(x)'), ints: ['x', 120] });
cases.push({ name: 'sum of i32[2, 77]', source: model({ x: T('i32', [2, 77]) }, T('i32', [2]), 'return sum(x)'), ints: ['x', 154] });

const gpu = await gpuStatus();
const device = await adapterTarget();
// rowUnits 4096: every row here takes one invocation (tuning on llvmpipe picks 256, which covers most of them).
const targets: [string, KernelTarget][] = [
  ['workgroup tree', {}],
  ['one invocation per row', { rowUnits: 4096 }],
  ...(device.subgroupSize ? [['subgroup', device] as [string, KernelTarget]] : []),
];

/** f32 accumulation over up to 1024 terms (~√n·u = 2e-6) and exp/log ulp error: 1e-5, as in the op suite. */
const TOL = 1e-5;

describe.skipIf(gpu.skip)(gpu.title('row reductions on WebGPU vs the float64 CPU oracle'), () => {
  beforeAll(async () => {
    await sharedDevice();
  });
  afterAll(destroySharedDevices);
  for (const [label, target] of targets) {
    for (const c of cases) {
      it(`${label}: ${c.name}`, async () => {
        const inputs = c.ints ? { [c.ints[0]]: uniformI32(c.ints[1], -1000, 1000, 5) } : {};
        const r = await runBoth(c.source, { target, inputs });
        const rowKernels = r.plan.kernels.filter((k) => k.name.endsWith('_rows'));
        expect(rowKernels.length, 'the row kernel is used').toBeGreaterThan(0);
        if (c.short) for (const k of rowKernels) expect(k.wgsl, 'a short row takes one invocation').toContain('one invocation per row');
        for (const [out, e] of Object.entries(compareOutputs(r))) {
          expect(e.nonFiniteMismatches, out).toBe(0);
          expect(e.rel, out).toBeLessThanOrEqual(c.ints ? 0 : TOL);
        }
      });
    }
  }
});
