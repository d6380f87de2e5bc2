import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { lower } from '../../compiler/compile.js';
import { GraphBuilder } from '../../compiler/ir.js';
import { dimConst } from '../../compiler/dims.js';
import { compile } from '../../driver/compile.js';
import { planOf } from '../../driver/stages.js';
import { stageProblems, verifyStage, VerifyError } from '../../driver/verify.js';

/**
 * The one pipeline (driver/compile.ts) with every stage's invariants checked after it
 * runs, on every sample: forward, training step, and partitioned over the sample's mesh.
 */

const samples = readdirSync('samples')
  .filter((f) => f.endsWith('.model'))
  .sort();
const read = (f: string) => readFileSync(`samples/${f}`, 'utf8');
const tiny = (src: string) => (src.includes('preset tiny') ? { preset: 'tiny' } : {});

describe('the compile pipeline', () => {
  for (const f of samples) {
    it(`${f}: forward, every stage verified`, async () => {
      const src = read(f);
      const r = await compile(src, f, { ...tiny(src), verify: true });
      expect(r.diagnostics).toEqual([]);
      expect(r.plan?.steps.length).toBeGreaterThan(0);
      expect(r.memory!.peakBytes).toBeGreaterThanOrEqual(r.memory!.lowerBound);
    });

    it(`${f}: partitioned over its mesh, every stage verified`, async () => {
      const src = read(f);
      const checked = await compile(src, f, { ...tiny(src), until: 'check' });
      // Samples without a mesh are partitioned over a one-device mesh: an axis of more devices
      // that nothing splits is refused (MDC0411, test/sharding/large-run-fixes.test.ts).
      const declared = [...checked.checked.env!.meshAxes].map(([name, size]) => ({ name, size }));
      const axes = declared.length ? declared : [{ name: 'dp', size: 1 }];
      const r = await compile(src, f, { ...tiny(src), partition: { axes }, verify: true });
      expect(r.diagnostics).toEqual([]);
      expect(r.plan?.mesh?.devices).toBe(axes.reduce((n, a) => n * a.size, 1));
    });
  }

  it('gpt2.model: a training step, alone and partitioned, every stage verified', async () => {
    const src = read('gpt2.model');
    const one = await compile(src, 'gpt2.model', { preset: 'tiny', train: true, verify: true });
    expect(one.diagnostics).toEqual([]);
    // AdamW: parameter, m and v, and the gradient sum of the sample's 2 micro-batches.
    expect(one.settings!.microbatches).toBe(2);
    expect(one.plan!.updates!.length).toBe(4 * one.training!.params.length);
    const sharded = await compile(src, 'gpt2.model', {
      preset: 'tiny',
      train: true,
      partition: {
        axes: [
          { name: 'dp', size: 2 },
          { name: 'tp', size: 4 },
        ],
      },
      verify: true,
    });
    expect(sharded.diagnostics).toEqual([]);
    expect(sharded.spmd!.collectives.length).toBeGreaterThan(0);
  });

  it('gives the plan the stages give when run one by one (byte-identical)', async () => {
    const src = read('gpt2.model');
    const whole = await compile(src, 'gpt2.model', { preset: 'tiny', seed: 3 });
    const staged = planOf(lower(src, 'gpt2.model', { preset: 'tiny' }).graph!, { seed: 3, source: 'gpt2.model' });
    expect(JSON.stringify(whole.plan)).toBe(JSON.stringify(staged));
  });

  it('stops after the stage asked for', async () => {
    const src = read('mlp.model');
    const r = await compile(src, 'mlp.model', { until: 'lower' });
    expect(r.forward).toBeDefined();
    expect(r.optimized).toBeUndefined();
    expect(r.plan).toBeUndefined();
    const c = await compile(src, 'mlp.model', { until: 'check' });
    expect(c.forward).toBeUndefined();
    expect(c.checked.env).toBeDefined();
  });

  it('returns diagnostics, not a plan, for a broken program', async () => {
    const r = await compile('model M(x: f32[4, 8]) -> f32[4, 8] {\n  param w: f32[16, 8] = zeros()\n  return x @ w\n}\n', 'bad.model');
    expect(r.diagnostics.map((d) => d.code)).toEqual(['MDC0203']);
    expect(r.plan).toBeUndefined();
  });
});

describe('stage invariants', () => {
  it('a node whose output type its shape rule does not give is reported, naming the stage', () => {
    const b = new GraphBuilder();
    const f32 = (...dims: number[]) => ({ dtype: 'f32' as const, dims: dims.map(dimConst) });
    const x = b.addValue({ type: f32(4, 8), kind: 'input', name: 'x' });
    const w = b.addValue({ type: f32(8, 3), kind: 'input', name: 'w' });
    const span = { start: 0, end: 0, line: 1, col: 1, endLine: 1, endCol: 1 };
    // matmul of [4, 8] and [8, 3] is [4, 3], not [4, 5].
    const [y] = b.addNode('matmul', [x, w], [f32(4, 5)], {}, span, '');
    const g = b.finish('Bad', [y!], ['y']);
    expect(stageProblems('lower', g)).toEqual(['node 0 (matmul) output 0 is f32[4, 5], but its shape rule gives f32[4, 3]']);
    expect(() => verifyStage('optimize', g)).toThrow(VerifyError);
    expect(() => verifyStage('optimize', g)).toThrow(/the optimize stage broke 1 invariant/);
  });

  it('a node whose inputs no longer type-check is reported', async () => {
    const b = new GraphBuilder();
    const f32 = (...dims: number[]) => ({ dtype: 'f32' as const, dims: dims.map(dimConst) });
    const x = b.addValue({ type: f32(4, 8), kind: 'input', name: 'x' });
    const w = b.addValue({ type: f32(7, 3), kind: 'input', name: 'w' });
    const span = { start: 0, end: 0, line: 1, col: 1, endLine: 1, endCol: 1 };
    const [y] = b.addNode('matmul', [x, w], [f32(4, 3)], {}, span, '');
    const g = b.finish('Bad', [y!], ['y']);
    expect(stageProblems('lower', g)).toEqual([expect.stringMatching(/^node 0 \(matmul\) no longer type-checks: MDC0203/)]);
  });

  it('a fused body reading a later step is reported', async () => {
    const src = 'model M(x: f32[4, 8]) -> f32[4, 8] {\n  return relu(x * 2.0 + 1.0)\n}\n';
    const r = await compile(src, 'm.model', { until: 'optimize' });
    const g = r.optimized!.graph;
    const fused = g.nodes.find((n) => n.body)!;
    expect(stageProblems('optimize', g)).toEqual([]);
    const steps = fused.body!.steps.map((s, i) => (i === 0 ? { ...s, args: [{ k: 'step' as const, i: 1 }] } : s));
    const broken = { ...g, nodes: g.nodes.map((n) => (n === fused ? { ...n, body: { ...n.body!, steps } } : n)) };
    expect(stageProblems('optimize', Object.freeze({ ...broken, nodes: Object.freeze(broken.nodes) }))).toEqual([
      expect.stringMatching(/step 0 reads step 1, which is not an earlier step/),
    ]);
  });
});
