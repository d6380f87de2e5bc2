/**
 * Training dropout in a partitioned program: element-wise, so it adds no collective; each
 * device draws its block of the mask from the global indices of its elements. Checked on
 * the plan (`mdc plan` and the training step's partition), on the CPU simulation of the
 * mesh against the unpartitioned reference, and on the runtime plan's `coords` buffer.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { lower } from '../../compiler/compile.js';
import type { Mesh } from '../../compiler/sharding/mesh.js';
import { partition } from '../../compiler/sharding/partition.js';
import { simulate } from '../../compiler/sharding/simulate.js';
import { withDropoutStep } from '../../compiler/train/dropout-step.js';
import { interpret } from '../../compiler/reference/interpret.js';
import { compile } from '../../driver/compile.js';
import { spmdPlanOf } from '../../driver/stages.js';
import { initValues, PLAN_VERSION_COORDS, validatePlan } from '../../runtime/index.js';
import { mdc } from '../support/cli.js';

const mesh = (spec: Record<string, number>): Mesh => ({ axes: Object.entries(spec).map(([name, size]) => ({ name, size })) });

/** The GPT-2 sample with dropout on both residual branches of every layer (p = 0.1), as GPT-2 trains. */
const gpt2 = readFileSync('samples/gpt2.model', 'utf8');
const attn = 'let h = x + Attention(layer_norm(x, ln1_g, ln1_b, eps))';
const mlp = 'return h + Mlp(layer_norm(h, ln2_g, ln2_b, eps))';
const gpt2Dropout = gpt2
  .replace(attn, 'let h = x + dropout(Attention(layer_norm(x, ln1_g, ln1_b, eps)), 0.1)')
  .replace(mlp, 'return h + dropout(Mlp(layer_norm(h, ln2_g, ln2_b, eps)), 0.1)');

describe('training dropout on the plan', () => {
  it('the fixture has the dropouts (the sample still reads as the replacements expect)', () => {
    expect(gpt2).toContain(attn);
    expect(gpt2).toContain(mlp);
    expect(gpt2Dropout.match(/dropout\(/g)).toHaveLength(2);
  });

  it("GPT-2 tiny's training step on [dp: 2, tp: 4]: dropout adds no collective", async () => {
    const step = async (src: string) => {
      const r = await compile(src, 'gpt2.model', { preset: 'tiny', train: true, partition: mesh({ dp: 2, tp: 4 }), until: 'partition' });
      expect(r.diagnostics).toEqual([]);
      return r.spmd!;
    };
    const [plain, dropped] = [await step(gpt2), await step(gpt2Dropout)];
    // Two per layer forward, and the backward pass's copy of each (the same mask on the gradient).
    const drops = dropped.local.nodes.filter((n) => n.op === 'dropout' && n.attrs['training'] === true);
    expect(drops).toHaveLength(8);
    // Each runs on its block: the batch split over dp, nothing gathered for it.
    for (const n of drops) expect(dropped.layouts[n.outputs[0]!]!.axes[0]).toEqual(['dp']);
    expect(dropped.collectives.filter((c) => /dropout/.test(c.reason))).toEqual([]);
    expect(dropped.collectives.length).toBe(plain.collectives.length);
    expect(dropped.collectives.map((c) => `${c.kind}(${c.axis})`)).toEqual(plain.collectives.map((c) => `${c.kind}(${c.axis})`));
  });

  it('mdc plan lowers a model that trains with its dropout live, and lists the same collectives as without it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mdc-dropout-'));
    const file = join(dir, 'gpt2-dropout.model');
    writeFileSync(file, gpt2Dropout);
    const plan = async (f: string) => {
      const r = await mdc('plan', f, '--preset', 'tiny', '--json');
      expect(r.code, r.err).toBe(0);
      return JSON.parse(r.out) as { collectives: { kind: string; axis: string; reason: string }[]; flopsPerStep: number };
    };
    const [plain, dropped] = [await plan('samples/gpt2.model'), await plan(file)];
    // Live dropout costs one multiply per element: 4 dropouts over [B, S, d] = [2, 64, 128],
    // counted 3× as every FLOP of the report (forward and backward). Off, it is free.
    expect(dropped.flopsPerStep - plain.flopsPerStep).toBe(3 * 4 * 2 * 64 * 128);
    expect(dropped.collectives.filter((c) => /dropout/.test(c.reason))).toEqual([]);
    expect(dropped.collectives.map((c) => `${c.kind}(${c.axis})`)).toEqual(plain.collectives.map((c) => `${c.kind}(${c.axis})`));
  });
});

/**
 * Dropouts over blocks of every kind: split on two dims (`a`), one dim split over both
 * axes, tp major (`s`), split on the features after a column-parallel matmul (`h`), a
 * pending sum after a row-parallel one (`p`, which passes through: dropout is linear and
 * every device of the partial axis holds the same block), and a whole tensor (`r`).
 */
const BLOCKS = `
mesh M = [dp: 2, tp: 2]
config C { d = 8, f = 12 }
model Blocks(x: f32[B@dp, S, d@tp], y: f32[B, S@(tp,dp), d], z: f32[B, S, d]) -> (f32[B@dp, S, d@tp], f32[B, S@(tp,dp), d], f32[B, S, f@tp], f32[B, S, d], f32[B, S, d])
    where B = 4, S = 8 {
  param w: f32[d, f@tp] = normal(0, 0.5)
  param w2: f32[f@tp, d] = normal(0, 0.5)
  let a = dropout(x, 0.5, seed = 7)
  let s = dropout(y, 0.3, seed = 1)
  let h = dropout(z @ w, 0.5, seed = 3)
  let p = dropout(h @ w2, 0.2)
  let r = dropout(z, 0.25)
  return a, s, h, p, r
}`;

describe('training dropout in the CPU simulation of a mesh', () => {
  it('every block draws the unpartitioned mask, at every step counter: the simulated run equals the reference, masks bit for bit', () => {
    const lowered = lower(BLOCKS, 'blocks.model', { training: true });
    expect(lowered.diagnostics).toEqual([]);
    // As the training step has them: each dropout reads the step's counter (a replicated scalar).
    const g = withDropoutStep(lowered.graph!);
    const p = partition(g, mesh({ dp: 2, tp: 2 }));
    // Only the model's pending output is summed; no dropout gathers or reduces anything (nor the counter).
    expect(p.collectives.map((c) => `${c.kind}(${c.axis}): ${c.reason}`)).toEqual([
      "all_reduce(tp): the model's output must be a whole sum, not partial over tp",
    ]);
    const drops = p.local.nodes.filter((n) => n.op === 'dropout');
    expect(drops.map((n) => p.layouts[n.outputs[0]!])).toEqual([
      { axes: [['dp'], [], ['tp']], partial: [] },
      { axes: [[], ['tp', 'dp'], []], partial: [] },
      { axes: [[], [], ['tp']], partial: [] },
      { axes: [[], [], []], partial: ['tp'] },
      { axes: [[], [], []], partial: [] },
    ]);
    const ones = new Float64Array(4 * 8 * 8).fill(1);
    const params = (name: string, shape: readonly number[]) =>
      initValues(
        { kind: 'normal', mean: 0, std: 0.5 },
        shape.reduce((a, b) => a * b, 1),
        3,
        name,
      );
    const masks = new Map<string, boolean[]>();
    for (const counter of [0, 1, 2 ** 31 - 1]) {
      const inputs = { x: ones, y: ones, z: ones, dropout_step: [counter] };
      const want = interpret(g, inputs, params);
      const got = simulate(p, inputs, params);
      for (const name of ['a', 's', 'h', 'p', 'r']) {
        const [w, s] = [Array.from(want[name]!.data), Array.from(got[name]!.data)];
        const dropped = w.filter((v) => v === 0).length;
        expect(dropped, name).toBeGreaterThan(0);
        expect(dropped, name).toBeLessThan(w.length);
        expect(
          s.map((v) => v === 0),
          name,
        ).toEqual(w.map((v) => v === 0));
        // Dropout of the ones inputs is exact; after the matmuls only float64 summation order differs.
        for (let i = 0; i < w.length; i++) expect(Math.abs(s[i]! - w[i]!), `${name}[${i}]`).toBeLessThan(1e-12);
        // Each counter draws another mask.
        const mask = w.map((v) => v === 0);
        for (const [k, before] of masks) if (k.startsWith(`${name}@`)) expect(mask, `${name} at counters ${k} and ${counter}`).not.toEqual(before);
        masks.set(`${name}@${counter}`, mask);
      }
    }
  });
});

describe('the coords buffer of a partitioned plan', () => {
  const plan = () => {
    const g = lower(BLOCKS, 'blocks.model', { training: true }).graph!;
    return JSON.parse(JSON.stringify(spmdPlanOf(partition(g, mesh({ dp: 2, tp: 2 }))))) as Record<string, any>;
  };

  it('is i32 with one element per mesh axis, bound only by the dropouts of split blocks, in a version-4 plan', () => {
    const p = plan();
    expect(p['version']).toBe(PLAN_VERSION_COORDS);
    const coords = (p['buffers'] as { id: number; role: string; type: string; shape: number[] }[]).filter((b) => b.role === 'coords');
    expect(coords.map((b) => ({ type: b.type, shape: b.shape }))).toEqual([{ type: 'i32', shape: [2] }]);
    const binders = (p['steps'] as { buffers?: number[]; op: string }[]).filter((s) => s.buffers?.includes(coords[0]!.id)).map((s) => s.op);
    // a, s and h; p (a pending sum of whole blocks) and r (whole) have global indices without offsets.
    expect(binders).toEqual(['dropout', 'dropout', 'dropout']);
    expect(() => validatePlan(p)).not.toThrow();
  });

  it('is refused in a version-3 plan, or with another shape than the mesh has axes', () => {
    const old = { ...plan(), version: 3 };
    expect(() => validatePlan(old)).toThrow('is a coords buffer, which needs plan version 4');
    const p = plan();
    const b = (p['buffers'] as Record<string, unknown>[]).find((x) => x['role'] === 'coords')!;
    b['shape'] = [3];
    b['bytes'] = 12;
    expect(() => validatePlan(p)).toThrow('it must be i32 of shape [2], one element per mesh axis');
  });
});
