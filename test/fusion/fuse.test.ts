/**
 * The fusion pass on the CPU: fused == unfused on the float64 oracle for random
 * element-wise programs (broadcasting, matmul epilogues, DAGs, extra outputs), the IR
 * invariants after the pass, the legality rules (one matmul per group and no prologue,
 * values needed outside a group are written, no cycles through an outside node, at most
 * 8 storage buffers per kernel), the choice on the samples, and deterministic output.
 */
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { planOf } from '../../driver/stages.js';
import { lower } from '../../compiler/compile.js';
import { fuse, MAX_STORAGE_BUFFERS } from '../../compiler/fusion/fuse.js';
import type { Graph } from '../../compiler/ir.js';
import { interpret } from '../../compiler/reference/interpret.js';
import { verifyGraph } from '../../compiler/verify-ir.js';
import { initValues, planTraffic, randomInput } from '../../runtime/index.js';
import { chainArb, chainSource } from '../support/fusion-chains.js';
import { HANDWRITTEN_ROWS, rowArb, rowSource } from '../support/row-chains.js';
import { viewArb, viewSource } from '../support/view-chains.js';
import { compileOrThrow } from '../support/gpu.js';

const SAMPLES = ['mlp', 'gpt2', 'bert-base', 'llama', 'vit-b16', 'mixtral'];
const sample = (name: string, opts = {}) => {
  const r = lower(readFileSync(`samples/${name}.model`, 'utf8'), `${name}.model`, opts);
  if (!r.graph) throw new Error(r.diagnostics.map((d) => d.message).join('\n'));
  return r.graph;
};

/** The unfused and the fused graph on the CPU oracle, with the same seeded inputs and parameters. */
function bothOnCpu(g: Graph, f: Graph) {
  const size = (id: number) => g.values[id]!.type.dims.reduce((a, d) => a * [...d.terms.values()][0]!, 1);
  const inputs = Object.fromEntries(
    g.inputs.map((id) => {
      const v = g.values[id]!;
      return [v.name!, randomInput(v.type.dtype === 'i32' ? 'i32' : 'f32', size(id), 5, v.name!, 16)];
    }),
  );
  const params = (name: string, s: readonly number[]) =>
    initValues(
      g.values.find((v) => v.name === name)!.init!,
      s.reduce((a, b) => a * b, 1),
      9,
      name,
    );
  return { unfused: interpret(g, inputs, params), fused: interpret(f, inputs, params) };
}

const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!) / Math.max(1, Math.abs(a[i]!)));
  return m;
};
const fusedNodes = (g: Graph) => g.nodes.filter((n) => n.op === 'fused');
const ops = (g: Graph) => fusedNodes(g).map((n) => n.body!.steps.map((s) => s.op).join(' '));

describe('fusion on the CPU oracle', () => {
  // The fused body runs each step's own float64 scalar function, element by element at
  // the broadcast index; the unfused reference runs the same functions tensor by
  // tensor. Both are float64 with the same operations in the same order, so they agree
  // exactly; 1e-12 (relative) only allows for nothing.
  it('random element-wise chains: fused equals unfused within 1e-12, and the fused graph is well formed', () => {
    let fusedSome = 0;
    fc.assert(
      fc.property(chainArb, (spec) => {
        const src = chainSource(spec);
        const g = compileOrThrow(src);
        const f = fuse(g);
        expect(verifyGraph(f, true), src).toEqual([]);
        if (fusedNodes(f).length) fusedSome++;
        for (const n of fusedNodes(f)) expect(n.inputs.length + n.outputs.length, src).toBeLessThanOrEqual(MAX_STORAGE_BUFFERS);
        const { unfused, fused } = bothOnCpu(g, f);
        for (const [name, t] of Object.entries(unfused)) {
          expect(fused[name]!.shape, src).toEqual(t.shape);
          expect(maxDiff(fused[name]!.data, t.data), `${name}\n${src}`).toBeLessThanOrEqual(1e-12);
        }
      }),
      { numRuns: 150, seed: 5 },
    );
    // The property must not hold vacuously.
    expect(fusedSome).toBeGreaterThan(100);
  });

  it('random programs around reductions over the last axis: fused equals unfused within 1e-12, rows bodies well formed', () => {
    let rows = 0;
    fc.assert(
      fc.property(rowArb, (spec) => {
        const src = rowSource(spec);
        const g = compileOrThrow(src);
        const f = fuse(g);
        expect(verifyGraph(f, true), src).toEqual([]);
        for (const n of fusedNodes(f)) {
          expect(n.inputs.length + n.outputs.length, src).toBeLessThanOrEqual(MAX_STORAGE_BUFFERS);
          if (n.body!.kind !== 'rows') continue;
          rows++;
          // Every output has the domain's shape or one value per row of it.
          const rowCount = n.body!.domain!.slice(0, -1).reduce((a, b) => a * b, 1);
          for (const o of n.outputs) {
            const size = f.values[o]!.type.dims.reduce((a, d) => a * [...d.terms.values()][0]!, 1);
            expect([rowCount, rowCount * n.body!.domain!.at(-1)!], src).toContain(size);
          }
        }
        const { unfused, fused } = bothOnCpu(g, f);
        for (const [name, t] of Object.entries(unfused)) {
          expect(fused[name]!.shape, src).toEqual(t.shape);
          expect(maxDiff(fused[name]!.data, t.data), `${name}\n${src}`).toBeLessThanOrEqual(1e-12);
        }
      }),
      { numRuns: 150, seed: 8 },
    );
    expect(rows).toBeGreaterThan(100);
  });

  it('every sample, tiny and full size: fused equals unfused (tiny) and no fused node binds more than 8 buffers', () => {
    for (const name of SAMPLES) {
      const g = sample(name, { preset: 'tiny' });
      const f = fuse(g);
      expect(verifyGraph(f, true), name).toEqual([]);
      expect(fusedNodes(f).length, name).toBeGreaterThan(0);
      const { unfused, fused } = bothOnCpu(g, f);
      for (const [out, t] of Object.entries(unfused)) expect(maxDiff(fused[out]!.data, t.data), `${name}.${out}`).toBeLessThanOrEqual(1e-12);
      for (const n of fusedNodes(fuse(sample(name)))) expect(n.inputs.length + n.outputs.length, name).toBeLessThanOrEqual(MAX_STORAGE_BUFFERS);
    }
  });
});

describe('what fuses', () => {
  it("GPT-2: each projection takes its bias, the MLP's first matmul bias and GELU, the second bias and the residual; norms and attention stay", () => {
    const f = fuse(sample('gpt2', { preset: 'tiny' }));
    const layer0 = fusedNodes(f).filter((n) => n.scope.startsWith('Layer.0'));
    expect(layer0.map((n) => `${n.scope}: ${n.body!.steps.map((s) => s.op).join(' ')}`)).toEqual([
      'Layer.0.Attention: matmul add',
      'Layer.0.Attention: matmul add',
      'Layer.0.Attention: matmul add',
      'Layer.0: matmul add add',
      'Layer.0.Mlp: matmul add gelu',
      'Layer.0: matmul add add',
    ]);
    // Two layers of two layer norms and one attention, and the final layer norm.
    expect(f.nodes.filter((n) => n.op === 'layer_norm' || n.op === 'attention').length).toBe(2 * 3 + 1);
  });

  it('LLaMA: SiLU(x W1) ⊙ (x W3) is one matmul with a silu·mul epilogue reading the other product', () => {
    expect(ops(fuse(sample('llama', { preset: 'tiny' })))).toContain('matmul silu mul');
  });

  it('a value needed outside its group is written as a second output of the fused node', () => {
    const g = compileOrThrow(
      'model T(x: f32[4, 8], y: f32[8]) -> (f32[4, 8], f32[4, 8]) {\n  let t = exp(x) + y\n  let s = softmax(t)\n  return relu(t) * 2.0, s\n}\n',
    );
    const f = fuse(g);
    const [n] = fusedNodes(f);
    expect(n!.body!.steps.map((s) => s.op)).toEqual(['exp', 'add', 'relu', 'mul']);
    expect(n!.outputs.length).toBe(2);
    expect(f.nodes.find((m) => m.op === 'softmax')!.inputs[0]).toBe(n!.outputs[0]);
    // The scalar 2.0 is inlined, not bound.
    expect(n!.body!.steps[3]!.args[1]).toEqual({ k: 'scalar', value: 2, dtype: 'f32' });
  });

  it('refuses a merge that would make a cycle through a node outside the group', () => {
    // a = exp(x); b = softmax(a) (not fusible); c = a + b. Fusing a with c would need b
    // before and after the group.
    const f = fuse(compileOrThrow('model T(x: f32[4, 8]) -> f32[4, 8] {\n  let a = exp(x)\n  return a + softmax(a)\n}\n'));
    expect(fusedNodes(f)).toEqual([]);
    expect(verifyGraph(f, true)).toEqual([]);
  });

  it('never puts two matmuls in a group and never fuses into a matmul operand (no prologue)', () => {
    const f = fuse(compileOrThrow('model T(x: f32[8, 8], w: f32[8, 8], v: f32[8, 8]) -> f32[8, 8] {\n  return relu(x * 2.0) @ w + x @ v\n}\n'));
    // relu(x * 2.0) fuses on its own and is written: it is the first matmul's operand.
    expect(ops(f)).toEqual(['mul relu', 'matmul add']);
    expect(f.nodes.map((n) => n.op)).toEqual(['fused', 'matmul', 'fused']);
  });

  it('a matmul epilogue does not grow the domain: an add that broadcasts the product stays outside', () => {
    const f = fuse(compileOrThrow('model T(x: f32[8, 4], w: f32[4, 8], y: f32[3, 8, 8]) -> f32[3, 8, 8] {\n  return relu(x @ w) + y\n}\n'));
    expect(ops(f)).toEqual(['matmul relu']);
  });

  it('splits a chain that would bind more than 8 storage buffers', () => {
    const n = 12;
    const args = Array.from({ length: n }, (_, i) => `x${i}: f32[64]`).join(', ');
    const sum = Array.from({ length: n }, (_, i) => `x${i}`).join(' + ');
    const g = compileOrThrow(`model T(${args}) -> f32[64] {\n  return ${sum}\n}\n`);
    const f = fuse(g);
    expect(fusedNodes(f).length).toBeGreaterThan(1);
    for (const node of fusedNodes(f)) expect(node.inputs.length + node.outputs.length).toBeLessThanOrEqual(MAX_STORAGE_BUFFERS);
    const plan = planOf(g);
    expect(plan.kernels.every((k) => k.bindings.length <= MAX_STORAGE_BUFFERS)).toBe(true);
    expect(plan.steps.length).toBeLessThan(n - 1);
  });

  it('dead code: a fused node writes only values of its domain, and something even when nothing reads it', () => {
    // a = exp(y) [8]; b = a + x [4, 8] and d = a * 3 [8] are unused. {a, b} would have to
    // write a (d reads it) of another shape than b's domain, so a fuses with d instead and
    // is written; b, alone, stays an add.
    const g = compileOrThrow('model T(x: f32[4, 8], y: f32[8]) -> f32[4, 8] {\n  let a = exp(y)\n  let b = a + x\n  let d = a * 3.0\n  return relu(x)\n}\n');
    const f = fuse(g);
    expect(verifyGraph(f, true)).toEqual([]);
    expect(ops(f)).toEqual(['exp mul']);
    const [n] = fusedNodes(f);
    expect(n!.outputs.map((o) => f.values[o]!.type.dims.length)).toEqual([1]);
    expect(f.nodes.map((m) => m.op)).toEqual(['fused', 'add', 'relu']);
    // A dead chain of its own writes its last value, of the full domain.
    const dead = fuse(compileOrThrow('model T(x: f32[4, 8], y: f32[8]) -> f32[4, 8] {\n  let b = exp(y) + x\n  return relu(x)\n}\n'));
    expect(fusedNodes(dead).map((m) => m.outputs.map((o) => dead.values[o]!.type.dims.length))).toEqual([[2]]);
  });

  it('hand-written layer norm, RMS norm, softmax and log-softmax are one rows kernel each and equal the ops (float64, 1e-12)', () => {
    for (const [name, { source, ops: expected }] of Object.entries(HANDWRITTEN_ROWS)) {
      const g = compileOrThrow(source);
      const f = fuse(g);
      // The hand-written one is one fused node; the op it spells out stays itself.
      expect(
        f.nodes.map((n) => n.op),
        name,
      ).toEqual(['fused', name]);
      expect(f.nodes[0]!.body!.kind, name).toBe('rows');
      expect(ops(f), name).toEqual([expected]);
      const { unfused, fused } = bothOnCpu(g, f);
      expect(maxDiff(fused['hand']!.data, unfused['op']!.data), name).toBeLessThanOrEqual(1e-12);
    }
  });

  it('transposes and slices read by element-wise chains become views of their inputs: fused equals unfused (1e-12, i32 exactly), a view also returned keeps its kernel', () => {
    let viewed = 0;
    fc.assert(
      fc.property(viewArb, (spec) => {
        const src = viewSource(spec);
        const g = compileOrThrow(src);
        const f = fuse(g);
        expect(verifyGraph(f, true), src).toEqual([]);
        const withViews = f.nodes.filter((n) => n.body?.views?.some((v) => v));
        if (spec.alsoReturned) {
          // The view is written for the host, so it keeps its own kernel and the chain reads the copy.
          expect(withViews, src).toHaveLength(0);
          expect(
            f.nodes.map((n) => n.op),
            src,
          ).toContain(spec.view.kind);
        } else {
          expect(
            f.nodes.map((n) => n.op),
            src,
          ).toEqual(['fused']);
          expect(
            withViews[0]!.body!.views!.filter((v) => v),
            src,
          ).toHaveLength(1);
          viewed++;
        }
        const { unfused, fused } = bothOnCpu(g, f);
        for (const k of Object.keys(unfused)) expect(maxDiff(fused[k]!.data, unfused[k]!.data), `${k}\n${src}`).toBeLessThanOrEqual(spec.int ? 0 : 1e-12);
      }),
      { numRuns: 200, seed: 21 },
    );
    expect(viewed).toBeGreaterThan(50);
  });

  it("a transpose of the last two dims read only as matmuls' b is folded into them (transpose_b), with or without an epilogue; other transposes stay (float64, 1e-12)", () => {
    const model = (sig: string, body: string) => compileOrThrow(`model T${sig} {\n  ${body}\n}\n`);
    const matmuls = (g: Graph) => g.nodes.flatMap((n) => (n.op === 'matmul' ? [n.attrs] : n.body?.kind === 'matmul' ? [n.body.steps[0]!.attrs] : []));
    const cases: Record<string, [Graph, string[], boolean[]]> = {
      // GPT-2's logits: the tied embedding read transposed.
      logits: [model('(h: f32[2, 5, 8], wte: f32[30, 8]) -> f32[2, 5, 30]', 'return h @ transpose(wte, [1, 0])'), ['matmul'], [true]],
      // Batched, with an epilogue, and the same transpose read by two matmuls.
      batched: [
        model(
          '(x: f32[3, 4, 6], y: f32[3, 2, 6], w: f32[3, 7, 6], b: f32[7]) -> (f32[3, 4, 7], f32[3, 2, 7])',
          'let t = transpose(w, [0, 2, 1])\n  return relu(x @ t + b), y @ t',
        ),
        ['fused', 'matmul'],
        [true, true],
      ],
      // Read as a: stays a transpose.
      asA: [model('(w: f32[6, 4], x: f32[6, 5]) -> f32[4, 5]', 'return transpose(w, [1, 0]) @ x'), ['transpose', 'matmul'], [false]],
      // Also read by an element-wise op: the copy stays for it (which reads it as a view is not possible: the matmul needs it too).
      shared: [
        model('(x: f32[4, 6], w: f32[5, 6]) -> (f32[4, 5], f32[6, 5])', 'let t = transpose(w, [1, 0])\n  return x @ t, exp(t)'),
        ['transpose', 'matmul', 'exp'],
        [false],
      ],
      // Not the last two dims.
      otherPerm: [model('(x: f32[2, 4, 6], w: f32[6, 2, 5]) -> f32[2, 4, 5]', 'return x @ transpose(w, [1, 0, 2])'), ['transpose', 'matmul'], [false]],
    };
    for (const [name, [g, ops, trans]] of Object.entries(cases)) {
      const f = fuse(g);
      expect(verifyGraph(f, true), name).toEqual([]);
      expect(
        f.nodes.map((n) => n.op),
        name,
      ).toEqual(ops);
      expect(
        matmuls(f).map((a) => !!a['transpose_b']),
        name,
      ).toEqual(trans);
      const { unfused, fused } = bothOnCpu(g, f);
      for (const k of Object.keys(unfused)) expect(maxDiff(fused[k]!.data, unfused[k]!.data), `${name} ${k}`).toBeLessThanOrEqual(1e-12);
    }
  });

  it('views: one read through a transpose and one plain read of the same input are two bindings; a view read by two kernels stays a copy', () => {
    const both = fuse(compileOrThrow('model T(x: f32[4, 4]) -> f32[4, 4] {\n  return x * transpose(x, [1, 0])\n}\n'));
    expect(both.nodes.map((n) => n.op)).toEqual(['fused']);
    expect(both.nodes[0]!.inputs).toHaveLength(2);
    expect(both.nodes[0]!.body!.views).toEqual([undefined, { shape: [4, 4], strides: [1, 4], offset: 0 }]);
    // Read by an element-wise chain and by a matmul: the copy stays for the matmul, and the chain reads it.
    const shared = fuse(
      compileOrThrow('model T(x: f32[4, 6], w: f32[4, 4]) -> (f32[6, 4], f32[6, 4]) {\n  let t = transpose(x, [1, 0])\n  return exp(t), t @ w\n}\n'),
    );
    expect(shared.nodes.map((n) => n.op)).toEqual(['transpose', 'exp', 'matmul']);
    // A view broadcast along a middle dim and along the last one (four-wide domain: loaded once, splatted).
    for (const src of [
      'model T(x: f32[4, 3, 8], y: f32[4, 5, 8]) -> f32[4, 3, 8] {\n  return x * slice(y, 1, 2, 3)\n}\n',
      'model T(x: f32[4, 8], y: f32[4, 5]) -> f32[4, 8] {\n  return x + slice(y, 1, 2, 3)\n}\n',
    ]) {
      const g = compileOrThrow(src);
      const f = fuse(g);
      expect(
        f.nodes.map((n) => n.op),
        src,
      ).toEqual(['fused']);
      const { unfused, fused } = bothOnCpu(g, f);
      expect(maxDiff(fused['output0']!.data, unfused['output0']!.data), src).toBeLessThanOrEqual(1e-12);
    }
    // GPT-2's position embeddings: a slice [8, 16] added to [1, 8, 16], the same size; the domain is the higher rank.
    const pos = fuse(compileOrThrow('model T(e: f32[1, 8, 16], p: f32[20, 16]) -> f32[1, 8, 16] {\n  return e + slice(p, 0, 0, 8)\n}\n'));
    expect(pos.nodes.map((n) => n.op)).toEqual(['fused']);
    expect(fuse(compileOrThrow('model T(x: f32[8, 16], y: f32[1, 8, 16]) -> f32[1, 8, 16] {\n  return relu(x) + y\n}\n')).nodes.map((n) => n.op)).toEqual([
      'fused',
    ]);
    // A slice on the last axis, of a value a matmul makes: offset start, row stride of the source.
    const sliced = fuse(compileOrThrow('model T(x: f32[3, 5], w: f32[5, 10]) -> f32[3, 4] {\n  return relu(slice(x @ w, 1, 6, 10))\n}\n'));
    expect(sliced.nodes.map((n) => n.op)).toEqual(['matmul', 'fused']);
    expect(sliced.nodes[1]!.body!.views).toEqual([{ shape: [3, 4], strides: [10, 1], offset: 6 }]);
  });

  it('sibling reductions of one value with nothing between them are one rows kernel, unless a path outside joins them', () => {
    const model = (sig: string, body: string) => compileOrThrow(`model T(x: f32[5, 72], w: f32[72, 40]) -> ${sig} {\n  ${body}\n}\n`);
    const stats = fuse(model('(f32[5], f32[5], f32[5, 1])', 'return max(x), min(x), mean(x * x, -1, keepdim = true)'));
    expect(ops(stats)).toEqual(['max min mul mean']);
    expect(stats.nodes.map((n) => n.op)).toEqual(['fused']);
    // Of a matmul's result: the matmul stays apart, its two reductions go together.
    const ofMatmul = fuse(model('(f32[5], f32[5])', 'let y = x @ w\n  return sum(y), max(y)'));
    expect(ofMatmul.nodes.map((n) => n.op)).toEqual(['matmul', 'fused']);
    expect(ops(ofMatmul)).toEqual(['sum max']);
    // Reductions of different values that both add one bias share no read of their domain: they stay apart.
    expect(ops(fuse(compileOrThrow('model T(x: f32[5, 72], y: f32[5, 72], b: f32[72]) -> (f32[5], f32[5]) {\n  return sum(x + b), max(y + b)\n}\n')))).toEqual([
      'add sum',
      'add max',
    ]);
    // An element-wise reader is a pass of its own either way: it stays apart.
    expect(ops(fuse(model('(f32[5, 1], f32[5, 72])', 'return mean(x, -1, keepdim = true), exp(x)')))).toEqual([]);
    // Both read x, but the sum reaches the max through a softmax (a kernel of its own): one kernel would wait for itself.
    const joined = fuse(
      compileOrThrow('model T(x: f32[4, 8]) -> f32[4, 1] {\n  let s = softmax(sum(x, -1, keepdim = true))\n  return max(x + s, -1, keepdim = true)\n}\n'),
    );
    expect(joined.nodes.map((n) => n.op)).toEqual(['sum', 'softmax', 'fused']);
    expect(ops(joined)).toEqual(['add max']);
    for (const g of [stats, ofMatmul, joined]) expect(verifyGraph(g, true)).toEqual([]);
    const src = model('(f32[5], f32[5], f32[5, 1])', 'return max(x), min(x), mean(x * x, -1, keepdim = true)');
    const { unfused, fused } = bothOnCpu(src, fuse(src));
    for (const k of Object.keys(unfused)) expect(maxDiff(fused[k]!.data, unfused[k]!.data), k).toBeLessThanOrEqual(1e-12);
  });

  it('rows legality: no matmul with a reduction, one reduced shape per group, a result without keepdim is not read inside', () => {
    // The product is written for the sum: a matmul never takes a reduction as epilogue.
    expect(ops(fuse(compileOrThrow('model T(x: f32[4, 8], w: f32[8, 40]) -> f32[4, 1] {\n  return exp(sum(relu(x @ w), -1, keepdim = true))\n}\n')))).toEqual([
      'matmul relu',
      'sum exp',
    ]);
    // Reductions of [4, 40] and of [4, 1, 40] (the second broadcasting) stay apart.
    const two = fuse(
      compileOrThrow(
        'model T(x: f32[4, 40], y: f32[3, 4, 40]) -> f32[3, 4, 40] {\n  let a = x - max(x, -1, keepdim = true)\n  return y * a - sum(y * a, -1, keepdim = true)\n}\n',
      ),
    );
    expect(verifyGraph(two, true)).toEqual([]);
    expect(ops(two)).toEqual(['max sub', 'mul mul sum sub']);
    // s has no keepdim: [4] would broadcast along the last axis, not along the rows, so the sub reading it stays out.
    const flat = fuse(compileOrThrow('model T(x: f32[4, 4]) -> f32[4, 4] {\n  let s = sum(exp(x), -1)\n  return x - s\n}\n'));
    expect(ops(flat)).toEqual(['exp sum']);
    expect(flat.nodes.map((n) => n.op)).toEqual(['fused', 'sub']);
    // Axes other than the last keep their own kernels.
    expect(ops(fuse(compileOrThrow('model T(x: f32[4, 40]) -> f32[1, 40] {\n  return exp(sum(exp(x), 0, keepdim = true))\n}\n')))).toEqual([]);
  });

  it('training dropout (mask drawn by its own element index) stays unfused', () => {
    const g = compileOrThrow('model T(x: f32[4, 8]) -> f32[4, 8] {\n  return relu(dropout(exp(x), 0.5))\n}\n', { training: true });
    expect(fusedNodes(fuse(g))).toEqual([]);
  });
});

describe('plans', () => {
  it('planTraffic counts dispatches and the bytes bound to them, each binding once per step', () => {
    // x f32[4, 8] (128 B), b f32[8] (32 B); every intermediate is f32[4, 8].
    const g = compileOrThrow('model T(x: f32[4, 8], b: f32[8]) -> f32[4, 8] {\n  return relu(x + b) * x\n}\n');
    // Fused: one kernel binding x, b and the output.
    expect(planTraffic(planOf(g))).toEqual({ dispatches: 1, bytes: 128 + 32 + 128 });
    // Unfused: add (x, b, t), relu (t, r), mul (r, x, out).
    expect(planTraffic(planOf(g, { fuse: false }))).toEqual({ dispatches: 3, bytes: 128 + 32 + 128 + (128 + 128) + (128 + 128 + 128) });
  });

  it('buildPlan fuses by default, keeps one kernel per op with fuse: false, and is deterministic', () => {
    const g = sample('gpt2', { preset: 'tiny' });
    const fused = planOf(g, { seed: 1 });
    const unfused = planOf(g, { seed: 1, fuse: false });
    expect(fused.steps.length).toBeLessThan(unfused.steps.length);
    expect(unfused.steps.map((s) => s.op)).not.toContain('fused');
    expect(fused.kernels.map((k) => k.name)).toContain('matmul_tiled_add_gelu');
    expect(JSON.stringify(planOf(sample('gpt2', { preset: 'tiny' }), { seed: 1 }))).toBe(JSON.stringify(fused));
    for (const name of SAMPLES) {
      for (const k of planOf(sample(name, { preset: 'tiny' })).kernels) expect(k.bindings.length, `${name} ${k.name}`).toBeLessThanOrEqual(MAX_STORAGE_BUFFERS);
    }
  });
});
