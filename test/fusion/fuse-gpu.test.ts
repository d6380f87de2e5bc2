/**
 * Fused kernels on WebGPU: random element-wise programs (broadcasting, matmul epilogues
 * in every matmul kernel family, DAGs, extra outputs) compiled with fusion match the
 * float64 CPU oracle of the unfused graph, and fused plans match unfused ones on the
 * device. Every kernel is created on the adapter, so each also passes WebGPU validation.
 */
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import type { KernelTarget } from '../../codegen/kernels/kernel.js';
import { MAX_STORAGE_BUFFERS } from '../../compiler/fusion/fuse.js';
import { chainArb, chainSource } from '../support/fusion-chains.js';
import { HANDWRITTEN_ROWS, rowArb, rowSource } from '../support/row-chains.js';
import { viewArb, viewShape, viewSource } from '../support/view-chains.js';
import { adapterTarget, compareOutputs, destroySharedDevices, errorStats, gpuStatus, runBoth, uniformI32, type BothResult } from '../support/gpu.js';

const status = await gpuStatus();
const adapter = await adapterTarget();

/**
 * Chains of up to 8 element-wise steps after a matmul over K ≤ 16: a handful of f32
 * roundings per element, llvmpipe's exp/log/pow error (a few ulp, amplified ≤ 3× by a
 * cube) and the 1.5e-7 erf approximation keep the relative L2 error near 1e-6; 1e-5
 * leaves headroom and still fails any wrong index, operand or formula (errors of O(1)).
 */
const TOL = 1e-5;

/** Matmul kernel families the epilogue must work in; forced configurations fall back to the default where they do not fit. */
const TARGETS: KernelTarget[] = [
  {},
  { matmul: { kind: 'plain' } },
  { matmul: { kind: 'tiled', tm: 2, tn: 4, wgx: 4, wgy: 8, tk: 8, raster: 'g' } },
  { matmul: { kind: 'gemv', wg: 32 } },
  ...(adapter.subgroupSize ? [adapter, { ...adapter, matmul: { kind: 'subgroup', tm: 4, tn: 2, raster: 'n' } } as KernelTarget] : []),
];

const fusedSteps = (r: BothResult) => r.plan.steps.filter((s) => s.kind !== 'collective' && s.op === 'fused').length;
let worst = 0;
function expectClose(r: BothResult, what: string) {
  for (const [out, e] of Object.entries(compareOutputs(r))) {
    worst = Math.max(worst, e.rel);
    expect(e.nonFiniteMismatches, `${out}\n${what}`).toBe(0);
    expect(e.rel, `${out}\n${what}`).toBeLessThan(TOL);
  }
}

describe.skipIf(status.skip)(status.title('fused kernels on WebGPU'), () => {
  afterAll(destroySharedDevices);
  // MDC_REPORT_ERRORS=1 prints the largest relative error observed, to keep TOL honest.
  afterAll(() => {
    if (process.env['MDC_REPORT_ERRORS']) console.log(`largest relative error: ${worst.toExponential(2)}`);
  });

  it(`random element-wise chains and matmul epilogues: fused kernels equal the CPU oracle (relative error < ${TOL})`, async () => {
    let fused = 0;
    await fc.assert(
      fc.asyncProperty(chainArb, fc.nat(TARGETS.length - 1), async (spec, t) => {
        const src = chainSource(spec);
        const r = await runBoth(src, { target: TARGETS[t]! });
        fused += fusedSteps(r);
        for (const k of r.plan.kernels) expect(k.bindings.length).toBeLessThanOrEqual(MAX_STORAGE_BUFFERS);
        expectClose(r, `${src}target ${JSON.stringify(TARGETS[t])}`);
      }),
      { numRuns: 80, seed: 11 },
    );
    expect(fused).toBeGreaterThan(60);
  });

  // Rows bodies sum up to 260 f32 values per reduction (partial sums per invocation, then
  // a tree or subgroupAdd: a different order than the oracle's) and feed a second
  // reduction or rsqrt with the result: relative L2 errors stay near 1e-6, as above.
  it(`random programs around reductions over the last axis: one rows kernel each, equal to the CPU oracle (relative error < ${TOL})`, async () => {
    const targets: KernelTarget[] = [{}, { rowUnits: 4096 }, ...(adapter.subgroupSize ? [adapter, { ...adapter, rowUnits: 64 }] : [])];
    let rows = 0;
    await fc.assert(
      fc.asyncProperty(rowArb, fc.nat(targets.length - 1), async (spec, t) => {
        const src = rowSource(spec);
        const r = await runBoth(src, { target: targets[t]! });
        rows += r.plan.kernels.filter((k) => k.name.startsWith('fused_') && k.name.endsWith('_rows')).length;
        expectClose(r, `${src}target ${JSON.stringify(targets[t])}`);
      }),
      { numRuns: 80, seed: 12 },
    );
    expect(rows).toBeGreaterThan(50);
  });

  it('hand-written layer norm, RMS norm, softmax and log-softmax: one rows kernel each, equal to the op on the device (relative error < 1e-5)', async () => {
    for (const target of [{}, { rowUnits: 4096 }, ...(adapter.subgroupSize ? [adapter] : [])] as KernelTarget[]) {
      for (const [name, { source }] of Object.entries(HANDWRITTEN_ROWS)) {
        const r = await runBoth(source, { target });
        expect(r.plan.steps.length, name).toBe(2);
        const e = errorStats(r.gpu['hand']!.data, r.gpu['op']!.data);
        expect(e.rel, `${name} ${JSON.stringify(target)}`).toBeLessThan(1e-5);
        expectClose(r, name);
      }
    }
  });

  // b read transposed changes only the order of b's loads; each product sums the same K terms in the same order.
  it(`matmuls of a transposed b read it in place in every kernel family (no transpose kernel), equal to the CPU oracle (relative error < ${TOL})`, async () => {
    const shapes: [number[], number, number, number, string][] = [
      [[], 1, 8, 5, 'gemv'],
      [[], 1, 8, 12, 'gemv four-wide'],
      [[], 7, 13, 9, 'odd'],
      [[], 16, 64, 32, 'aligned'],
      [[], 33, 12, 40, 'edges'],
      [[2], 5, 8, 12, 'batched'],
      [[3], 4, 4, 4, 'small batched'],
    ];
    for (const [batch, M, K, N, label] of shapes) {
      const B = batch.length ? `${batch.join(', ')}, ` : '';
      const perm = batch.length ? '[0, 2, 1]' : '[1, 0]';
      const src = `model T(x: f32[${B}${M}, ${K}], w: f32[${B}${N}, ${K}], b: f32[${N}]) -> f32[${B}${M}, ${N}] {\n  return relu(x @ transpose(w, ${perm}) + b)\n}\n`;
      for (const target of TARGETS) {
        const r = await runBoth(src, { target });
        const ops = r.plan.steps.map((st) => (st.kind !== 'collective' ? st.op : ''));
        expect(ops, `${label} ${JSON.stringify(target)}`).not.toContain('transpose');
        expect(
          r.plan.kernels.some((k) => k.wgsl.includes('@ transpose([')),
          `${label} ${JSON.stringify(target)}`,
        ).toBe(true);
        expectClose(r, `${label}\n${src}target ${JSON.stringify(target)}`);
      }
    }
  });

  // Views change only where an input is read: values are exact copies, so the error is
  // that of the chain (a few f32 roundings) and i32 chains are exact.
  it(`random transposes and slices read by element-wise chains: one kernel each, equal to the CPU oracle (relative error < ${TOL}, i32 exact)`, async () => {
    let viewed = 0;
    await fc.assert(
      fc.asyncProperty(viewArb, async (spec) => {
        const src = viewSource(spec);
        const inputs: Record<string, Int32Array> = spec.int
          ? {
              x: uniformI32(viewShape(spec).reduce((a, b) => a * b, 1) * (spec.lead[0] ?? 1), -50, 50, 3),
              y: uniformI32(
                spec.source.reduce((a, b) => a * b, 1),
                -50,
                50,
                4,
              ),
            }
          : {};
        const r = await runBoth(src, { inputs });
        if (!spec.alsoReturned) {
          expect(r.plan.steps, src).toHaveLength(1);
          viewed++;
        }
        for (const [out, e] of Object.entries(compareOutputs(r))) {
          expect(e.nonFiniteMismatches, `${out}\n${src}`).toBe(0);
          expect(e.rel, `${out}\n${src}`).toBeLessThanOrEqual(spec.int ? 0 : TOL);
        }
      }),
      { numRuns: 60, seed: 22 },
    );
    expect(viewed).toBeGreaterThan(15);
  });

  it('sibling reductions (max, min and a mean of squares of one input; a sum and a max of one matmul result): one rows kernel each, equal to the oracle', async () => {
    const src = `model T(x: f32[6, 200], w: f32[200, 40]) -> (f32[6], f32[6], f32[6, 1], f32[6], f32[6]) {
  let y = x @ w
  return max(x), min(x), mean(x * x, -1, keepdim = true), sum(y), max(y)
}
`;
    for (const target of [{}, { rowUnits: 4096 }, ...(adapter.subgroupSize ? [adapter] : [])] as KernelTarget[]) {
      const r = await runBoth(src, { target });
      // The matmul, then one kernel for x's three reductions and one for y's two.
      expect(r.plan.steps.map((st) => (st.kind !== 'collective' ? st.op : '')).sort(), JSON.stringify(target)).toEqual(['fused', 'fused', 'matmul']);
      expectClose(r, `siblings ${JSON.stringify(target)}`);
    }
  });

  it('integer chains fuse too, bit-exact: i32 add, mul, div by zero, neg, relu, pow and casts', async () => {
    const src = `model T(x: i32[5, 12], y: i32[12]) -> (i32[5, 12], f32[5, 12]) {
  let a = relu(neg(x * y + 3)) / (y - 2)
  let b = cast(a, dtype = "f32") * 0.5 + cast(x ** 2, dtype = "f32")
  return a, b
}
`;
    const r = await runBoth(src, {
      inputs: { x: Int32Array.from({ length: 60 }, (_, i) => (i % 11) - 5), y: Int32Array.from({ length: 12 }, (_, i) => i % 5) },
    });
    expect(fusedSteps(r)).toBeGreaterThan(0);
    for (const e of Object.values(compareOutputs(r))) expect(e.maxAbs).toBe(0);
  });

  it('GPT-2 (tiny) fused equals GPT-2 unfused on the device (relative error < 1e-5)', async () => {
    const src = readFileSync('samples/gpt2.model', 'utf8');
    const fused = await runBoth(src, { preset: 'tiny', target: adapter });
    const unfused = await runBoth(src, { preset: 'tiny', target: adapter, fuse: false });
    expect(fused.plan.steps.length).toBeLessThan(unfused.plan.steps.length);
    // Both sides are f32 with the same accumulation order; fusion only skips the round trip
    // of intermediates through memory (which stores f32 anyway), so they differ by far less than 1e-5.
    const e = errorStats(fused.gpu['logits']!.data, unfused.gpu['logits']!.data);
    expect(e.rel).toBeLessThan(1e-5);
    expectClose(fused, 'gpt2 tiny');
  });
});
