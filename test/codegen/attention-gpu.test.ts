/**
 * Flash attention on WebGPU against the float64 CPU oracle, for both shapes of the kernel
 * (codegen/kernels/attention.ts): the portable one (key blocks staged in workgroup memory)
 * and, where the adapter offers subgroups, the subgroup one (key blocks across lanes).
 * Shapes are random (seeded) over what breaks blocked kernels: sequence lengths that are
 * not block multiples, Sq ≠ Sk both ways, head sizes below, between and above the lane
 * count (and above the unrolling limit, 130), grouped KV heads, causal and padding masks
 * with fully masked batches.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { subgroupRows } from '../../codegen/kernels/attention.js';
import { planOf } from '../../driver/stages.js';
import { adapterTarget, compareOutputs, compileOrThrow, destroySharedDevices, gpuStatus, runBoth, seededRandom, sharedDevice } from '../support/gpu.js';

const gpu = await gpuStatus();
const device = await adapterTarget();

/**
 * f32 dot products over the head size (≤ 130 terms) and an online softmax over ≤ 70 keys,
 * against float64: errors random-walk to a few 1e-7; exp is within a few ulp on Vulkan.
 * 1e-5 leaves > 10× headroom; a wrong index, mask or rescaling gives O(1e-1) or worse.
 */
const TOL = 1e-5;

interface Case {
  readonly B: number;
  readonly Sq: number;
  readonly Sk: number;
  readonly H: number;
  readonly KVH: number;
  readonly D: number;
  readonly causal: boolean;
  readonly mask: boolean;
}

const name = (c: Case) =>
  `B ${c.B}, Sq ${c.Sq}, Sk ${c.Sk}, ${c.H} heads of ${c.D}${c.KVH !== c.H ? `, ${c.KVH} kv heads` : ''}${c.causal ? ', causal' : ''}${c.mask ? ', padding mask' : ''}`;

function source(c: Case): string {
  const T = (s: number, w: number) => `f32[${c.B}, ${s}, ${w}]`;
  const args = [`q: ${T(c.Sq, c.H * c.D)}`, `k: ${T(c.Sk, c.KVH * c.D)}`, `v: ${T(c.Sk, c.KVH * c.D)}`, ...(c.mask ? [`m: i32[${c.B}, ${c.Sk}]`] : [])];
  const call = `attention(q * 2.0, k, v${c.mask ? ', m' : ''}, heads = ${c.H}${c.KVH !== c.H ? `, kv_heads = ${c.KVH}` : ''}${c.causal ? ', causal = true' : ''})`;
  return `model T(${args.join(', ')}) -> ${T(c.Sq, c.H * c.D)} {\n  return ${call}\n}\n`;
}

/** Batch b keeps key j with probability 0.7; the last batch (when B > 1) keeps none. */
function maskOf(c: Case, seed: number): Int32Array {
  const { next } = seededRandom(seed);
  return Int32Array.from({ length: c.B * c.Sk }, (_, i) => (c.B > 1 && i >= (c.B - 1) * c.Sk ? 0 : next() < 0.7 ? 1 : 0));
}

function randomCases(n: number, seed: number): Case[] {
  const { pick, next } = seededRandom(seed);
  return Array.from({ length: n }, () => {
    const KVH = pick([1, 2, 3]);
    const H = KVH * pick([1, 2]);
    const Sk = pick([1, 3, 8, 9, 17, 33, 70]);
    const Sq = pick([Sk, Sk, 1, 5, 19, 40]);
    return { B: pick([1, 2]), Sq, Sk, H, KVH, D: pick([1, 3, 8, 12, 17, 64]), causal: next() < 0.6, mask: next() < 0.4 };
  });
}

const CASES: Case[] = [
  { B: 1, Sq: 40, Sk: 40, H: 2, KVH: 2, D: 64, causal: true, mask: false },
  { B: 2, Sq: 33, Sk: 33, H: 4, KVH: 2, D: 16, causal: true, mask: true },
  { B: 1, Sq: 9, Sk: 21, H: 1, KVH: 1, D: 130, causal: true, mask: false },
  { B: 1, Sq: 21, Sk: 9, H: 3, KVH: 1, D: 5, causal: true, mask: false },
  ...randomCases(24, 2026),
];

const targets = [{ label: 'portable', target: {} }, ...(device.subgroupSize ? [{ label: `subgroups of ${device.subgroupSize}`, target: device }] : [])];

it('the target picks the kernel: workgroup memory without subgroups, lanes with them (no GPU needed)', () => {
  const c = CASES[0]!;
  const portable = planOf(compileOrThrow(source(c)), { fuse: false }).kernels.find((k) => k.name === 'attention')!;
  expect(portable.wgsl).toContain('var<workgroup> Ks');
  expect(portable.wgsl).not.toContain('subgroup');
  const sub = planOf(compileOrThrow(source(c)), { target: { subgroupSize: 8 }, fuse: false }).kernels.find((k) => k.name === 'attention')!;
  expect(sub.wgsl).toContain('subgroupMax');
  expect(sub.wgsl).not.toContain('var<workgroup>');
});

it('subgroup rows per workgroup shrink with the head size and with short sequences', () => {
  expect(subgroupRows(1024, 64, 8)).toBe(16);
  expect(subgroupRows(5, 64, 8)).toBe(8);
  expect(subgroupRows(1024, 768, 8)).toBe(1);
  expect(subgroupRows(1024, 128, 32)).toBe(16);
});

describe.skipIf(gpu.skip)(gpu.title('flash attention on WebGPU vs the float64 CPU oracle'), () => {
  beforeAll(async () => {
    await sharedDevice();
  });
  afterAll(destroySharedDevices);

  for (const { label, target } of targets) {
    for (const [i, c] of CASES.entries()) {
      it(`${label}: ${name(c)}`, async () => {
        const r = await runBoth(source(c), { target, inputSeed: i + 1, ...(c.mask ? { inputs: { m: maskOf(c, i + 7) } } : {}) });
        const e = compareOutputs(r)['output0']!;
        expect(e.nonFiniteMismatches).toBe(0);
        expect(e.rel, `‖gpu−cpu‖₂/‖cpu‖₂ must be ≤ ${TOL}`).toBeLessThanOrEqual(TOL);
        if (c.mask && c.B > 1) {
          const rows = r.gpu['output0']!.data.subarray((c.B - 1) * c.Sq * c.H * c.D);
          expect(
            rows.every((x) => x === 0),
            'a fully masked batch gives zero rows',
          ).toBe(true);
        }
      });
    }
  }
});
