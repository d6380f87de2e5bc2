/**
 * Written-out attention (softmax(q @ transpose(k) · c) @ v) becomes the flash-style
 * `attention` op (compiler/fusion/attention.ts): random shapes and scale forms fused ==
 * unfused on the float64 oracle and on WebGPU (portable and subgroup kernels), and the
 * forms that must stay written out (a mask added to the scores, probabilities read
 * elsewhere, broadcast batch dims, a training graph) do.
 */
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import type { KernelTarget } from '../../codegen/kernels/kernel.js';
import { spmdPlanOf } from '../../driver/stages.js';
import { differentiate } from '../../compiler/autodiff/grad.js';
import { partition } from '../../compiler/sharding/partition.js';
import { fuse } from '../../compiler/fusion/fuse.js';
import type { Graph } from '../../compiler/ir.js';
import { interpret } from '../../compiler/reference/interpret.js';
import { verifyGraph } from '../../compiler/verify-ir.js';
import { randomInput } from '../../runtime/index.js';
import { adapterTarget, compareOutputs, compileOrThrow, destroySharedDevices, gpuStatus, runBoth } from '../support/gpu.js';

const T = (s: readonly number[]) => `f32[${s.join(', ')}]`;

interface AttnSpec {
  readonly batch: readonly number[];
  readonly Sq: number;
  readonly Sk: number;
  readonly D: number;
  readonly scale: number;
}
const SCALES = ['S', 'S * 0.125', '0.3 * S', 'S / 4.0'];
const attnArb: fc.Arbitrary<AttnSpec> = fc.record({
  batch: fc.constantFrom([], [3], [2, 3], [1, 4]),
  Sq: fc.constantFrom(1, 5, 16, 33, 64),
  Sk: fc.constantFrom(1, 7, 16, 40, 64),
  D: fc.constantFrom(1, 4, 8, 24, 64),
  scale: fc.nat(SCALES.length - 1),
});
const attnSource = (c: AttnSpec) => {
  const q = [...c.batch, c.Sq, c.D];
  const kv = [...c.batch, c.Sk, c.D];
  return `model A(q: ${T(q)}, k: ${T(kv)}, v: ${T(kv)}) -> ${T(q)} {\n  let s = q @ transpose(k)\n  let p = softmax(${SCALES[c.scale]!.replace('S', 's')})\n  return p @ v\n}\n`;
};

function onCpu(g: Graph, f: Graph): number {
  const size = (id: number) => g.values[id]!.type.dims.reduce((a, d) => a * [...d.terms.values()][0]!, 1);
  const inputs = Object.fromEntries(g.inputs.map((id) => [g.values[id]!.name!, randomInput('f32', size(id), 5, g.values[id]!.name!, 2)]));
  const a = interpret(g, inputs, () => []);
  const b = interpret(f, inputs, () => []);
  let worst = 0;
  for (const [name, t] of Object.entries(a)) {
    expect(b[name]!.shape).toEqual(t.shape);
    for (let i = 0; i < t.data.length; i++) worst = Math.max(worst, Math.abs(t.data[i]! - b[name]!.data[i]!) / Math.max(1, Math.abs(t.data[i]!)));
  }
  return worst;
}
const opsOf = (g: Graph) => g.nodes.map((n) => n.op);

describe('written-out attention on the CPU oracle', () => {
  // The op's reference computes the same softmax and sums in float64; the order of the
  // additions differs, so agreement is to rounding (1e-12 relative), not to the bit.
  it('random batch dims, lengths, head sizes and scale forms: one attention op, equal to the written-out form within 1e-12', () => {
    fc.assert(
      fc.property(attnArb, (spec) => {
        const src = attnSource(spec);
        const g = compileOrThrow(src);
        const f = fuse(g);
        expect(verifyGraph(f, true), src).toEqual([]);
        expect(
          opsOf(f).filter((o) => o === 'attention'),
          src,
        ).toHaveLength(1);
        expect(opsOf(f), src).not.toContain('softmax');
        expect(onCpu(g, f), src).toBeLessThanOrEqual(1e-12);
      }),
      { numRuns: 60, seed: 4 },
    );
  });

  const VIT = (ret: string, out: string) => `model A(x: f32[2, 16, 32], wq: f32[32, 32], wk: f32[32, 32], wv: f32[32, 32]) -> ${ret} {
  let q = transpose(reshape(x @ wq, [2, 16, 4, 8]), [0, 2, 1, 3])
  let k = transpose(reshape(x @ wk, [2, 16, 4, 8]), [0, 2, 1, 3])
  let v = transpose(reshape(x @ wv, [2, 16, 4, 8]), [0, 2, 1, 3])
  let p = softmax(q @ transpose(k) * 0.35355339)
  return ${out}
}
`;
  const dimsOf = (g: Graph, id: number) => g.values[id]!.type.dims.map((d) => [...d.terms.values()][0]);

  it('multi-head attention written with reshape and transpose (ViT style): the op reads the rows with heads = 4 and no copy is left', () => {
    const g = compileOrThrow(VIT('f32[2, 16, 32]', 'reshape(transpose(p @ v, [0, 2, 1, 3]), [2, 16, 32])'));
    const f = fuse(g);
    expect(verifyGraph(f, true)).toEqual([]);
    const att = f.nodes.find((n) => n.op === 'attention')!;
    expect(att.attrs).toMatchObject({ heads: 4, kv_heads: 4, causal: false, scale: 0.35355339 });
    expect(dimsOf(f, att.outputs[0]!)).toEqual([2, 16, 32]);
    expect(f.outputs).toEqual(att.outputs);
    expect(opsOf(f).filter((o) => o === 'transpose' || o === 'reshape')).toEqual([]);
    expect(opsOf(f).filter((o) => o === 'matmul')).toHaveLength(3);
    expect(onCpu(g, f)).toBeLessThanOrEqual(1e-12);
  });

  it('heads written out but returned split: the op reads the rows, one transpose splits its result again', () => {
    const g = compileOrThrow(VIT('f32[2, 4, 16, 8]', 'p @ v'));
    const f = fuse(g);
    expect(verifyGraph(f, true)).toEqual([]);
    expect(f.nodes.find((n) => n.op === 'attention')!.attrs).toMatchObject({ heads: 4 });
    expect(opsOf(f).filter((o) => o === 'transpose')).toHaveLength(1);
    expect(onCpu(g, f)).toBeLessThanOrEqual(1e-12);
  });

  it('a split head also read elsewhere is read through a view by that reader (no copy); the op still reads the rows', () => {
    const g = compileOrThrow(VIT('(f32[2, 16, 32], f32[2, 4, 16, 8])', 'reshape(transpose(p @ v, [0, 2, 1, 3]), [2, 16, 32]), q * 2.0'));
    const f = fuse(g);
    expect(verifyGraph(f, true)).toEqual([]);
    expect(f.nodes.find((n) => n.op === 'attention')!.attrs).toMatchObject({ heads: 4 });
    // The split's transpose became the view the multiply reads its input through.
    expect(opsOf(f).filter((o) => o === 'transpose')).toHaveLength(0);
    expect(f.nodes.filter((n) => n.body?.views?.some((v) => v))).toHaveLength(1);
    expect(onCpu(g, f)).toBeLessThanOrEqual(1e-12);
  });

  it('stays written out: a mask added to the scores, probabilities also returned, broadcast batch dims, a non-constant scale, a training graph', () => {
    const cases = {
      mask: 'model A(q: f32[4, 8], k: f32[6, 8], v: f32[6, 8], m: f32[4, 6]) -> f32[4, 8] {\n  return softmax(q @ transpose(k) + m) @ v\n}\n',
      probs: 'model A(q: f32[4, 8], k: f32[6, 8], v: f32[6, 8]) -> (f32[4, 8], f32[4, 6]) {\n  let p = softmax(q @ transpose(k))\n  return p @ v, p\n}\n',
      broadcast: 'model A(q: f32[2, 4, 8], k: f32[6, 8], v: f32[6, 8]) -> f32[2, 4, 8] {\n  return softmax(q @ transpose(k)) @ v\n}\n',
      tensorScale: 'model A(q: f32[4, 8], k: f32[6, 8], v: f32[6, 8], c: f32[1]) -> f32[4, 8] {\n  return softmax(q @ transpose(k) * c) @ v\n}\n',
      constantOverScores: 'model A(q: f32[4, 8], k: f32[6, 8], v: f32[6, 8]) -> f32[4, 8] {\n  return softmax(2.0 / (q @ transpose(k))) @ v\n}\n',
      notLastAxis: 'model A(q: f32[4, 8], k: f32[6, 8], v: f32[4, 8]) -> f32[6, 8] {\n  return transpose(softmax(q @ transpose(k), 0)) @ v\n}\n',
    };
    for (const [name, src] of Object.entries(cases)) {
      const g = compileOrThrow(src);
      const f = fuse(g);
      expect(opsOf(f), name).not.toContain('attention');
      expect(onCpu(g, f), name).toBeLessThanOrEqual(1e-12);
    }
    // The backward of the written-out form reads the probabilities: the gradient graph keeps it.
    const g = compileOrThrow(
      'model A(x: f32[4, 8], k: f32[6, 8], v: f32[6, 8]) -> f32[] {\n  param w: f32[8, 8] = normal(0, 0.1)\n  return mean(mean(softmax((x @ w) @ transpose(k)) @ v, -1), -1)\n}\n',
    );
    expect(opsOf(fuse(g))).toContain('attention');
    const train = fuse(differentiate(g));
    expect(opsOf(train)).not.toContain('attention');
    expect(opsOf(train)).toContain('softmax');
  });
});

describe('written-out attention in a partitioned program', () => {
  it("the rewrite runs on each device's local graph and the plan keeps global types for inputs and outputs", () => {
    const src =
      'mesh M = [dp: 2]\n\nmodel A(q: f32[4@dp, 3, 16, 8], k: f32[4@dp, 3, 16, 8], v: f32[4@dp, 3, 16, 8]) -> f32[4@dp, 3, 16, 8] {\n  return softmax(q @ transpose(k) * 0.5) @ v\n}\n';
    const plan = spmdPlanOf(partition(compileOrThrow(src), { axes: [{ name: 'dp', size: 2 }] }), { seed: 1 });
    expect(plan.steps.map((s) => s.op)).toContain('attention');
    for (const io of [...plan.inputs, ...plan.outputs]) expect(io.global?.shape, io.name).toEqual([4, 3, 16, 8]);
    expect(plan.inputs.map((io) => io.shape)).toEqual([
      [2, 3, 16, 8],
      [2, 3, 16, 8],
      [2, 3, 16, 8],
    ]);
  });
});

const status = await gpuStatus();
const adapter = await adapterTarget();

describe.skipIf(status.skip)(status.title('written-out attention on WebGPU'), () => {
  afterAll(destroySharedDevices);
  // The flash kernel's online softmax in f32 against the float64 oracle of the
  // written-out form: sums of up to 64 products and exponentials, relative L2 near 1e-7.
  it('multi-head attention written out (ViT style, heads absorbed) equals the CPU oracle on both kernels (relative error < 1e-5)', async () => {
    const src = `model A(x: f32[2, 40, 64], wq: f32[64, 64], wk: f32[64, 64], wv: f32[64, 64]) -> f32[2, 40, 64] {
  let q = transpose(reshape(x @ wq, [2, 40, 4, 16]), [0, 2, 1, 3])
  let k = transpose(reshape(x @ wk, [2, 40, 4, 16]), [0, 2, 1, 3])
  let v = transpose(reshape(x @ wv, [2, 40, 4, 16]), [0, 2, 1, 3])
  return reshape(transpose(softmax(q @ transpose(k) / 4.0) @ v, [0, 2, 1, 3]), [2, 40, 64])
}
`;
    for (const target of [{}, ...(adapter.subgroupSize ? [adapter] : [])] as KernelTarget[]) {
      const r = await runBoth(src, { target });
      expect(r.plan.steps.map((s) => s.op)).not.toContain('transpose');
      for (const [out, e] of Object.entries(compareOutputs(r))) expect(e.rel, `${out} ${JSON.stringify(target)}`).toBeLessThan(1e-5);
    }
  });

  it('random shapes, portable and subgroup kernels: the fused plan equals the CPU oracle (relative error < 1e-5)', async () => {
    const targets: KernelTarget[] = [{}, ...(adapter.subgroupSize ? [adapter] : [])];
    await fc.assert(
      fc.asyncProperty(attnArb, fc.nat(targets.length - 1), async (spec, t) => {
        const src = attnSource(spec);
        const r = await runBoth(src, { target: targets[t]! });
        expect(
          r.plan.steps.map((s) => s.op),
          src,
        ).toContain('attention');
        for (const [out, e] of Object.entries(compareOutputs(r))) {
          expect(e.nonFiniteMismatches, `${out}\n${src}`).toBe(0);
          expect(e.rel, `${out}\n${src}`).toBeLessThan(1e-5);
        }
      }),
      { numRuns: 24, seed: 6 },
    );
  });
});
