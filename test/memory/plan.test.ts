import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { lower } from '../../compiler/compile.js';
import { dimConst, dimSym } from '../../compiler/dims.js';
import { GraphBuilder, type Graph, type Value } from '../../compiler/ir.js';
import { packArenas } from '../../compiler/memory/arena.js';
import type { Residency } from '../../compiler/memory/liveness.js';
import { MemoryPlanError, planMemory, type MemoryPlanOptions } from '../../compiler/memory/plan.js';
import { verifyGraph } from '../../compiler/verify-ir.js';
import { NO_SPAN } from '../../diagnostics/span.js';
import { memoryPlanProblems } from '../support/memory-check.js';
import { withAutodiff, withMirroredBackward } from '../support/training-like.js';

const f32 = (n: number) => ({ dtype: 'f32' as const, dims: [dimConst(n)] });
const MiB = 1024 * 1024;

/** A random DAG: inputs and parameters, then nodes reading 1–3 earlier values, some of them reshapes (views). */
const graphArb = fc.record({
  leaves: fc.array(fc.record({ kind: fc.constantFrom('input' as const, 'param' as const), n: fc.integer({ min: 1, max: 4096 }) }), {
    minLength: 1,
    maxLength: 4,
  }),
  nodes: fc.array(
    fc.record({
      picks: fc.array(fc.nat(), { minLength: 1, maxLength: 3 }),
      outs: fc.array(fc.integer({ min: 1, max: 20_000 }), { minLength: 1, maxLength: 2 }),
      view: fc.boolean(),
    }),
    { minLength: 0, maxLength: 40 },
  ),
  outputs: fc.array(fc.nat(), { minLength: 1, maxLength: 3 }),
});

function randomGraph(r: typeof graphArb extends fc.Arbitrary<infer T> ? T : never): Graph {
  const b = new GraphBuilder();
  const vals: Value[] = r.leaves.map((l, i) =>
    b.addValue(
      l.kind === 'param'
        ? { kind: 'param', name: `p${i}`, type: f32(l.n), init: { kind: 'constant', value: 0 } }
        : { kind: 'input', name: `x${i}`, type: f32(l.n) },
    ),
  );
  for (const n of r.nodes) {
    const ins = n.picks.map((p) => vals[p % vals.length]!);
    const outs = n.view ? b.addNode('reshape', [ins[0]!], [ins[0]!.type], {}, NO_SPAN, '') : b.addNode('op', ins, n.outs.map(f32), {}, NO_SPAN, 's');
    vals.push(...outs);
  }
  const outs = [...new Set(r.outputs.map((o) => vals[o % vals.length]!))];
  return b.finish(
    'Random',
    outs,
    outs.map((o) => `y${o.id}`),
  );
}

const optionsArb = fc.record({
  inputs: fc.constantFrom<Residency>('step', 'uses', 'external'),
  params: fc.constantFrom<Residency>('step', 'uses', 'external'),
  outputs: fc.constantFrom<Residency>('step', 'uses', 'external'),
  alignment: fc.constantFrom(4, 256),
  /** A cap in multiples of the largest value: 1 forces one value per arena at its peak, 0 means none. */
  capFactor: fc.constantFrom(0, 1, 2, 3),
  /** Values kept out of the arena by id (codegen keeps out values read twice by a node, and values larger than an arena). */
  external: fc.array(fc.nat(50), { maxLength: 4 }),
});

const src = (s: string) => readFileSync(`samples/${s}.model`, 'utf8');
const SAMPLES = ['mlp', 'gpt2', 'bert-base', 'llama', 'vit-b16', 'mixtral'];

describe('memory plan', () => {
  it('never lets two values live at the same step share a byte, keeps offsets aligned and the peak at or above the lower bound (random graphs)', () => {
    fc.assert(
      fc.property(graphArb, optionsArb, (r, o) => {
        const g = randomGraph(r);
        expect(verifyGraph(g, true)).toEqual([]);
        const largest = Math.max(...g.values.map((v) => Math.ceil(Math.max(4, v.type.dims[0]!.terms.get('')! * 4) / o.alignment) * o.alignment));
        const opts: MemoryPlanOptions = {
          inputs: o.inputs,
          params: o.params,
          outputs: o.outputs,
          alignment: o.alignment,
          maxArenaBytes: o.capFactor ? largest * o.capFactor : Infinity,
          externalValues: new Set(o.external),
        };
        const plan = planMemory(g, opts);
        expect(memoryPlanProblems(g, plan, opts)).toEqual([]);
        if (o.capFactor) expect(plan.arenas.every((a) => a <= largest * o.capFactor)).toBe(true);
        else expect(plan.arenas.length).toBeLessThanOrEqual(1);
      }),
      { numRuns: 400, seed: 4 },
    );
  });

  it('packs raw lifetimes soundly too (random sizes and lifetimes, no graph)', () => {
    const item = fc.record({ bytes: fc.integer({ min: 0, max: 1 << 20 }), start: fc.integer({ min: 0, max: 30 }), len: fc.integer({ min: 0, max: 30 }) });
    fc.assert(
      fc.property(fc.array(item, { maxLength: 60 }), (raw) => {
        const items = raw.map((x) => ({ bytes: x.bytes, start: x.start, end: x.start + x.len }));
        const p = packArenas(items, { maxArenaBytes: 4 * MiB });
        for (let i = 0; i < items.length; i++) {
          const a = p.placements[i]!;
          expect(a.offset % 256).toBe(0);
          expect(a.offset + a.size).toBeLessThanOrEqual(p.arenas[a.arena]!);
          for (let j = i + 1; j < items.length; j++) {
            const b = p.placements[j]!;
            const together = items[i]!.start <= items[j]!.end && items[j]!.start <= items[i]!.end;
            if (together && a.arena === b.arena) expect(a.offset + a.size <= b.offset || b.offset + b.size <= a.offset).toBe(true);
          }
        }
        expect(p.peakBytes).toBeGreaterThanOrEqual(p.lowerBound);
        expect(p.arenas.every((a) => a <= 4 * MiB)).toBe(true);
      }),
      { numRuns: 300, seed: 5 },
    );
  });

  // Activations, inputs and outputs in the arena; parameters in their own buffers (an
  // optimizer updates them). No cap here: the ratio measures the packing, and full-size
  // GPT-2's tied head (154 MB) exceeds llvmpipe's 128 MiB binding on its own.
  describe.each(SAMPLES)('%s', (name) => {
    for (const [size, opts] of [
      ['full', {}],
      ['tiny', { preset: 'tiny' }],
    ] as const) {
      it(`${size}: forward, autodiff and mirrored-backward graphs plan within 1.1× of the lower bound`, () => {
        const fwd = lower(src(name), name, opts).graph!;
        const trainFwd = lower(src(name), name, { ...opts, training: true }).graph!;
        const mirrored = withMirroredBackward(trainFwd);
        expect(verifyGraph(mirrored, true)).toEqual([]);
        for (const g of [fwd, withAutodiff(trainFwd), mirrored]) {
          const o: MemoryPlanOptions = { params: 'external', maxArenaBytes: Infinity };
          const plan = planMemory(g, o);
          expect(memoryPlanProblems(g, plan, o)).toEqual([]);
          expect(plan.peakBytes / plan.lowerBound).toBeLessThanOrEqual(1.1);
        }
      });
    }
  });

  it('splits into several arenas under the cap when the live bytes exceed it', () => {
    const g = withMirroredBackward(lower(src('bert-base'), 'bert-base', {}).graph!);
    const o: MemoryPlanOptions = { params: 'external', maxArenaBytes: 128 * MiB };
    const plan = planMemory(g, o);
    expect(plan.lowerBound).toBeGreaterThan(128 * MiB);
    expect(plan.arenas.length).toBeGreaterThan(1);
    expect(memoryPlanProblems(g, plan, o)).toEqual([]);
    expect(plan.peakBytes / plan.lowerBound).toBeLessThanOrEqual(1.1);
  });

  it('refuses a value larger than one buffer, naming it', () => {
    const g = lower(src('gpt2'), 'gpt2', {}).graph!;
    expect(() => planMemory(g, { params: 'external' })).toThrow(
      new MemoryPlanError(
        'transpose220 (f32[768, 50257], 154,389,504 bytes) does not fit one buffer of at most 134,217,728 bytes ' +
          "(maxArenaBytes, the device's maxStorageBufferBindingSize): split the value before planning memory, or keep it out of the arena",
      ),
    );
  });

  it('refuses a graph with symbolic dims', () => {
    const b = new GraphBuilder();
    const x = b.addValue({ kind: 'input', name: 'x', type: { dtype: 'f32', dims: [dimSym('S')] } });
    const g = b.finish('Sym', [x], ['x']);
    expect(() => planMemory(g)).toThrow('value 0 (f32[S]) has a symbolic dim: plan memory for a lowered, concrete graph');
  });

  it("reuses a dead value's bytes, keeps views at their root's offset and step-resident inputs whole", () => {
    // x → a → reshape → b → c: a dies at b's step, so c can take a's bytes; x stays (inputs: step).
    const b = new GraphBuilder();
    const x = b.addValue({ kind: 'input', name: 'x', type: f32(1024) });
    const [a] = b.addNode('op', [x], [f32(1024)], {}, NO_SPAN, '');
    const [r] = b.addNode('reshape', [a!], [f32(1024)], {}, NO_SPAN, '');
    const [y] = b.addNode('op', [r!], [f32(1024)], {}, NO_SPAN, '');
    const [z] = b.addNode('op', [y!], [f32(1024)], {}, NO_SPAN, '');
    const g = b.finish('Chain', [z!], ['z']);
    const plan = planMemory(g);
    const at = (v: Value) => plan.buffers[plan.bufferOf.get(v.id)!]!;
    expect(plan.bufferOf.get(r!.id)).toBe(plan.bufferOf.get(a!.id));
    expect(at(z!).offset).toBe(at(a!).offset);
    expect(at(x).end).toBe(3);
    expect([plan.lowerBound, plan.peakBytes, plan.noReuseBytes]).toEqual([3 * 4096, 3 * 4096, 4 * 4096]);
    expect(memoryPlanProblems(g, plan)).toEqual([]);
    const uses = planMemory(g, { inputs: 'uses' });
    expect([uses.lowerBound, uses.peakBytes]).toEqual([2 * 4096, 2 * 4096]);

    // The checker itself: moving y onto x (both live at step 2) or off the alignment must be caught.
    const moved = { ...plan, buffers: plan.buffers.map((p, i) => (i === plan.bufferOf.get(y!.id) ? { ...p, offset: at(x).offset } : p)) };
    expect(memoryPlanProblems(g, moved)).toContain('step 2: x [0, 4096) and op2 [0, 4096) overlap in arena 0');
    const misaligned = { ...plan, buffers: plan.buffers.map((p) => ({ ...p, offset: p.offset + 4 })) };
    expect(memoryPlanProblems(g, misaligned).some((p) => p.includes('is not a multiple of 256'))).toBe(true);
  });
});
