/**
 * The backward-only ops (compiler/reference/grad-ops.ts) compiled to WGSL
 * (codegen/kernels/grad.ts) and run on WebGPU against their float64 CPU references, then
 * whole differentiated models on WebGPU against the CPU oracle.
 *
 * Op cases are one-node graphs built with GraphBuilder (a forward node first where the
 * backward op consumes its results: max before reduce_grad, topk before topk_grad), on
 * awkward shapes (1, 3, 5, 7, 17, 33, 1000) and the edge cases of each op: ties,
 * out-of-range ids and labels, masked and fully masked attention rows, Sq ≠ Sk, grouped KV
 * heads, one-element heads, overflowing expert capacity.
 *
 * Errors are ‖gpu − cpu‖₂ / ‖cpu‖₂ per output. Each tolerance says why it is what it is;
 * set MDC_REPORT_ERRORS=1 to print every observed error and time.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KERNELS } from '../../codegen/kernels/index.js';
import { differentiate } from '../../compiler/autodiff/grad.js';
import { dimConst } from '../../compiler/dims.js';
import { GraphBuilder, type Attrs, type Graph, type Value } from '../../compiler/ir.js';
import { UNARY_GRAD_FNS } from '../../compiler/ops/elementwise.js';
import { INTERNAL_OPS } from '../../compiler/ops/registry.js';
import type { DType } from '../../compiler/types.js';
import { NO_SPAN } from '../../diagnostics/span.js';
import type { HostArray } from '../../runtime/index.js';
import {
  compareOutputs,
  compileOrThrow,
  gpuStatus,
  runGraphBoth,
  sharedDevice,
  uniformF32,
  uniformI32,
  type BothResult,
  type ErrorStats,
} from '../support/gpu.js';
import { ACCUMULATED, expectAgreement as agree, ROUNDED, type Observed, type Tolerance } from '../support/tolerance.js';

// ------------------------------------------------------------------ tolerances and why

/** Gathers and selections move values without arithmetic (or add one term): bit-exact. */
const EXACT: Tolerance = { rel: 0, why: 'routing gradients and pure data movement must be bit-exact' };
/**
 * f'(x) through llvmpipe's exp/log/inverseSqrt (3 + 2|x| ulp for exp on |x| ≤ 6: ~1e-6),
 * tanh, and the Chebyshev erfc (relative error < 1.2e-7). An indexing or formula bug is O(1).
 */
const TRANSCENDENTAL: Tolerance = { rel: 1e-5, why: 'llvmpipe exp/log/inverseSqrt ulp error and the erfc approximation' };
// ROUNDED (one f32 product per element) and ACCUMULATED (embedding rows, softmax denominators, dot products, the statistics attention recomputes): test/support/tolerance.ts.
/**
 * attention_grad: the accumulated sums above, plus ds = p·(g·v − Σ p·(g·v)), a difference
 * of two accumulated sums, and p = exp(s − logsumexp) with exp's ulp error growing with
 * |s| (inputs ×3 here). Observed ≤ 3e-7; 1e-5 is the accumulation bound, and a wrong
 * index, mask or scale is O(1).
 */
const ATTENTION: Tolerance = { rel: 1e-5, why: 'accumulated sums, exp of recomputed scores and the cancellation in ds' };

// ------------------------------------------------------------------ one-node graphs

type Shape = readonly number[];
const ty = (dtype: DType, shape: Shape) => ({ dtype, dims: shape.map((d) => dimConst(d)) });
const numel = (s: Shape) => s.reduce((a, b) => a * b, 1);
const T = (dtype: string, shape: Shape) => `${dtype}[${shape.join(', ')}]`;

interface Builder {
  input(name: string, dtype: DType, shape: Shape): Value;
  node(op: string, ins: readonly Value[], outs: readonly (readonly [DType, Shape])[], attrs?: Attrs): Value[];
}

/** A graph whose outputs are the named values `f` returns. */
function graph(f: (b: Builder) => Record<string, Value>): Graph {
  const gb = new GraphBuilder();
  const outs = f({
    input: (name, dtype, shape) => gb.addValue({ type: ty(dtype, shape), kind: 'input', name }),
    node: (op, ins, outTypes, attrs = {}) =>
      gb.addNode(
        op,
        ins,
        outTypes.map(([d, s]) => ty(d, s)),
        attrs,
        NO_SPAN,
        '',
      ),
  });
  return gb.finish('G', Object.values(outs), Object.keys(outs));
}

/** The attributes elaboration gives a forward call (attention's kv_heads, scale, has_mask, ...). */
function forwardAttrs(op: string, args: Record<string, string>, ret: string, call: string): Attrs {
  const params = Object.entries(args)
    .map(([n, t]) => `${n}: ${t}`)
    .join(', ');
  const g = compileOrThrow(`model F(${params}) -> ${ret} {\n  return ${call}\n}\n`);
  const n = g.nodes.find((x) => x.op === op);
  if (!n) throw new Error(`no ${op} node in ${call}`);
  return n.attrs;
}

interface Case {
  readonly name: string;
  /** The backward op the case is about (for the coverage check). */
  readonly op: string;
  readonly graph: Graph;
  readonly inputs?: Readonly<Record<string, HostArray>>;
  /** One tolerance, or one per output. */
  readonly tol: Tolerance | Readonly<Record<string, Tolerance>>;
  readonly also?: (r: BothResult) => void;
}
const cases: Case[] = [];
const add = (c: Case) => cases.push(c);

/** Values from a few levels (k/2 for k in [lo, hi]): many exact ties. */
const levels = (n: number, seed: number, lo = 0, hi = 3) => Float32Array.from(uniformI32(n, lo, hi, seed), (v) => v / 2);

// --- unary_grad: every fn
for (const [k, fn] of UNARY_GRAD_FNS.entries()) {
  const s = [
    [17, 33],
    [3, 1000],
    [1, 7],
    [5, 17],
  ][k % 4]!;
  const positive = ['log', 'sqrt', 'rsqrt'].includes(fn);
  add({
    name: `unary_grad ${fn} ${T('f32', s)}${positive ? ' on positive inputs' : ' on [-6, 6)'}`,
    op: 'unary_grad',
    graph: graph((b) => {
      const g = b.input('g', 'f32', s);
      const x = b.input('x', 'f32', s);
      return { out: b.node('unary_grad', [g, x], [['f32', s]], { fn })[0]! };
    }),
    // ×6 reaches the saturating tails of tanh, sigmoid and GELU and exp's growth.
    inputs: { x: positive ? uniformF32(numel(s), 0.05, 3, 10 + k) : uniformF32(numel(s), -6, 6, 10 + k) },
    tol: TRANSCENDENTAL,
  });
}
{
  // Saturated tails: no NaN from ∞·0 or ∞/∞, and no digits lost to 1 − t² where t ≈ ±1.
  const far = Float32Array.of(-100, -50, -20, -9, -4, 4, 9, 20, 50, 100);
  const fns = ['gelu', 'gelu_tanh', 'silu', 'sigmoid', 'tanh'] as const;
  add({
    name: `unary_grad ${fns.join(', ')} in the saturated tails (|x| from 4 to 100)`,
    op: 'unary_grad',
    graph: graph((b) => {
      const g = b.input('g', 'f32', [far.length]);
      const x = b.input('x', 'f32', [far.length]);
      return Object.fromEntries(fns.map((fn) => [fn, b.node('unary_grad', [g, x], [['f32', [far.length]]], { fn })[0]!]));
    }),
    inputs: { g: new Float32Array(far.length).fill(1), x: far },
    tol: TRANSCENDENTAL,
  });
}
// 16 elements: the kernels take four per invocation (vec4), every derivative built on vectors.
for (const positive of [false, true]) {
  const fns = UNARY_GRAD_FNS.filter((fn) => ['log', 'sqrt', 'rsqrt'].includes(fn) === positive);
  add({
    name: `unary_grad ${fns.join(', ')} four elements at a time (f32[2, 8])`,
    op: 'unary_grad',
    graph: graph((b) => {
      const g = b.input('g', 'f32', [2, 8]);
      const x = b.input('x', 'f32', [2, 8]);
      return Object.fromEntries(fns.map((fn) => [fn, b.node('unary_grad', [g, x], [['f32', [2, 8]]], { fn })[0]!]));
    }),
    inputs: { x: positive ? uniformF32(16, 0.05, 3, 40) : uniformF32(16, -6, 6, 41) },
    tol: TRANSCENDENTAL,
  });
}
add({
  name: 'unary_grad relu and abs at exactly 0 (subgradient 0, like the reference)',
  op: 'unary_grad',
  graph: graph((b) => {
    const g = b.input('g', 'f32', [6]);
    const x = b.input('x', 'f32', [6]);
    return { relu: b.node('unary_grad', [g, x], [['f32', [6]]], { fn: 'relu' })[0]!, abs: b.node('unary_grad', [g, x], [['f32', [6]]], { fn: 'abs' })[0]! };
  }),
  inputs: { x: Float32Array.of(0, -0, 1, -1, 3, -3) },
  tol: EXACT,
});

// --- minmax_grad: both ops, both sides, broadcasting both ways, with ties
for (const [k, [op, side]] of (
  [
    ['maximum', 0],
    ['maximum', 1],
    ['minimum', 0],
    ['minimum', 1],
  ] as const
).entries()) {
  const [as, bs, os] =
    k % 2 === 0
      ? [
          [3, 1, 17],
          [5, 1],
          [3, 5, 17],
        ]
      : [
          [1, 7],
          [33, 1],
          [33, 7],
        ];
  add({
    name: `minmax_grad ${op} side ${side}: a${T('', as)} b${T('', bs)} → ${T('', os)}, ties to a`,
    op: 'minmax_grad',
    graph: graph((b) => {
      const g = b.input('g', 'f32', os);
      const x = b.input('a', 'f32', as);
      const y = b.input('b', 'f32', bs);
      return { out: b.node('minmax_grad', [g, x, y], [['f32', os]], { op, side })[0]! };
    }),
    inputs: { a: levels(numel(as), 20 + k), b: levels(numel(bs), 30 + k) },
    tol: EXACT,
  });
}

// --- reduce_grad: max and min, any axis, keepdim or not, ties (the first extreme wins)
for (const [op, xs, axis, keepdim] of [
  ['max', [5, 7, 3], 1, true],
  ['min', [5, 7, 3], 1, false],
  ['max', [17, 3], 0, false],
  ['min', [3, 1000], 1, true],
  ['max', [1, 1], 0, false],
] as const) {
  const ys = keepdim ? xs.map((d, i) => (i === axis ? 1 : d)) : xs.filter((_, i) => i !== axis);
  add({
    name: `reduce_grad ${op} over axis ${axis} of ${T('f32', xs)}${keepdim ? ', keepdim' : ''}, with ties`,
    op: 'reduce_grad',
    graph: graph((b) => {
      const x = b.input('x', 'f32', xs);
      const g = b.input('g', 'f32', ys);
      const [y] = b.node(op, [x], [['f32', ys]], { axis, keepdim });
      return { out: b.node('reduce_grad', [g, x, y!], [['f32', xs]], { op, axis })[0]! };
    }),
    inputs: { x: levels(numel(xs), 40 + axis) },
    tol: EXACT,
  });
}

// --- embedding_grad: repeated ids and ids outside [0, V)
{
  const ids = Int32Array.from(uniformI32(34, -2, 35, 50), (v, i) => (i % 5 === 0 ? 7 : v)); // id 7 five times or more; -2, -1, 33, 34, 35 ignored
  add({
    name: 'embedding_grad V = 33, D = 7 from ids i32[2, 17] (repeats, out-of-range ids add nothing)',
    op: 'embedding_grad',
    graph: graph((b) => {
      const g = b.input('g', 'f32', [2, 17, 7]);
      const id = b.input('ids', 'i32', [2, 17]);
      return { out: b.node('embedding_grad', [g, id], [['f32', [33, 7]]])[0]! };
    }),
    inputs: { ids },
    tol: ACCUMULATED,
  });
  add({
    name: 'embedding_grad V = 1000, D = 3 from ids i32[5] (mostly zero rows)',
    op: 'embedding_grad',
    graph: graph((b) => ({ out: b.node('embedding_grad', [b.input('g', 'f32', [5, 3]), b.input('ids', 'i32', [5])], [['f32', [1000, 3]]])[0]! })),
    inputs: { ids: Int32Array.of(999, 0, 999, 1000, 5) },
    tol: ACCUMULATED,
  });
}

// --- relative_position_bias_grad: many pairs per bucket (long offsets), and a causal one whose masked pairs add nothing
for (const [NB, H, Sq, Sk, attrs] of [
  [32, 3, 17, 33, { bidirectional: true, max_distance: 20, causal: false }],
  [9, 2, 33, 33, { bidirectional: false, max_distance: 128, causal: true }],
] as const) {
  add({
    name: `relative_position_bias_grad ${NB} buckets × ${H} heads from g [${H}, ${Sq}, ${Sk}]${attrs.causal ? ', causal' : ''}`,
    op: 'relative_position_bias_grad',
    graph: graph((b) => ({ out: b.node('relative_position_bias_grad', [b.input('g', 'f32', [H, Sq, Sk])], [['f32', [NB, H]]], attrs)[0]! })),
    tol: ACCUMULATED,
  });
}

// --- topk_grad: indices from a real topk with ties
for (const [xs, K] of [
  [[17, 7], 3],
  [[3, 5], 5],
  [[1000], 1],
  [[2, 3, 33], 4],
] as const) {
  const vs = [...xs.slice(0, -1), K];
  add({
    name: `topk_grad k = ${K} of ${T('f32', xs)} with ties`,
    op: 'topk_grad',
    graph: graph((b) => {
      const x = b.input('x', 'f32', xs);
      const g = b.input('g', 'f32', vs);
      const [, idx] = b.node(
        'topk',
        [x],
        [
          ['f32', vs],
          ['i32', vs],
        ],
        { k: K },
      );
      return { out: b.node('topk_grad', [g, idx!], [['f32', xs]])[0]! };
    }),
    inputs: { x: levels(numel(xs), 60 + K) },
    tol: EXACT,
  });
}

// --- slice_grad
for (const [gs, xs, axis, start] of [
  [[2, 13, 5], [2, 17, 5], 1, 3],
  [[1, 3], [1000, 3], 0, 999],
  [[3, 2], [3, 7], 1, 5],
  [[3, 7], [3, 7], 1, 0],
  [[4, 1], [4, 33], 1, 0],
] as const) {
  add({
    name: `slice_grad ${T('f32', gs)} into ${T('f32', xs)} at axis ${axis}, start ${start}`,
    op: 'slice_grad',
    graph: graph((b) => ({ out: b.node('slice_grad', [b.input('g', 'f32', gs)], [['f32', xs]], { axis, start })[0]! })),
    tol: EXACT,
  });
}

// --- cross_entropy_grad
for (const [ls, labels, note] of [
  [[7, 17], Int32Array.of(3, -1, 16, 17, 0, 100, 5), 'labels -1, 17, 100 ignored'],
  [[2, 3, 1000], undefined, 'V = 1000'],
  [[1000, 3], uniformI32(1000, -1, 3, 70), 'rows over several workgroups, each counting the valid labels'],
  [[3, 5], Int32Array.of(-1, 5, 9), 'every label ignored: zero'],
] as const) {
  add({
    name: `cross_entropy_grad ${T('f32', ls)} (${note})`,
    op: 'cross_entropy_grad',
    graph: graph((b) => {
      const g = b.input('g', 'f32', []);
      const lg = b.input('logits', 'f32', ls);
      const lb = b.input('labels', 'i32', ls.slice(0, -1));
      return { out: b.node('cross_entropy_grad', [g, lg, lb], [['f32', ls]])[0]! };
    }),
    inputs: { g: Float32Array.of(1.75), logits: uniformF32(numel(ls), -4, 4, 71), ...(labels ? { labels } : {}) },
    tol: ACCUMULATED,
  });
}

// --- attention_grad: the forward cases and the one-element head
{
  const att = (name: string, q: Shape, kv: Shape, call: string, mask?: Int32Array) => {
    const args = { q: T('f32', q), k: T('f32', kv), v: T('f32', kv), ...(mask ? { m: T('i32', [q[0]!, kv[1]!]) } : {}) };
    const attrs = forwardAttrs('attention', args, T('f32', q), call);
    add({
      name: `attention_grad ${name}: q${T('', q)} k/v${T('', kv)}`,
      op: 'attention_grad',
      graph: graph((b) => {
        const ins = [
          b.input('g', 'f32', q),
          b.input('q', 'f32', q),
          b.input('k', 'f32', kv),
          b.input('v', 'f32', kv),
          ...(mask ? [b.input('m', 'i32', [q[0]!, kv[1]!])] : []),
        ];
        const [dq, dk, dv] = b.node(
          'attention_grad',
          ins,
          [
            ['f32', q],
            ['f32', kv],
            ['f32', kv],
          ],
          attrs,
        );
        return { dq: dq!, dk: dk!, dv: dv! };
      }),
      // ×3 sharpens the softmax so that the probabilities are far from uniform.
      inputs: { q: uniformF32(numel(q), -3, 3, 80), ...(mask ? { m: mask } : {}) },
      tol: ATTENTION,
    });
  };
  att('causal, 4 heads of 5', [2, 17, 20], [2, 17, 20], 'attention(q, k, v, heads = 4, causal = true)');
  att('non-causal, 1 head, Sk = 1', [3, 5, 7], [3, 1, 7], 'attention(q, k, v, heads = 1)');
  att('grouped kv: 6 heads share 2 kv heads', [2, 7, 18], [2, 7, 6], 'attention(q, k, v, heads = 6, kv_heads = 2, causal = true)');
  att('causal with Sq < Sk', [1, 3, 12], [1, 17, 12], 'attention(q, k, v, heads = 3, causal = true)');
  att('causal with Sq > Sk (the first queries see no key)', [1, 5, 8], [1, 3, 8], 'attention(q, k, v, heads = 2, causal = true)');
  att('explicit scale', [2, 5, 8], [2, 7, 8], 'attention(q, k, v, heads = 2, scale = 0.9)');
  att('heads of one element (the statistics are recomputed, not stored)', [2, 5, 3], [2, 5, 3], 'attention(q, k, v, heads = 3, causal = true)');
  att('Dh = 1 with grouped kv heads and a mask', [1, 4, 4], [1, 6, 2], 'attention(q, k, v, m, heads = 4, kv_heads = 2)', Int32Array.of(1, 0, 1, 1, 0, 1));
  // Batch 0 attends to a subset of keys; batch 1 has every key masked: all its gradients are zero.
  const mask = Int32Array.from({ length: 2 * 17 }, (_, i) => (i < 17 ? [1, 0, 1, 1, 0][i % 5]! : 0));
  att(
    'padding mask (one batch fully masked) + causal + grouped',
    [2, 17, 8],
    [2, 17, 4],
    'attention(q, k, v, m, heads = 4, kv_heads = 2, causal = true)',
    mask,
  );
}

// --- patchify_grad
for (const [xs, p] of [
  [[2, 3, 8, 12], 4],
  [[1, 1, 5, 5], 5],
  [[1, 1, 5, 5], 1],
  [[3, 2, 6, 3], 3],
] as const) {
  const [B, C, H, W] = xs;
  const gs = [B, (H / p) * (W / p), C * p * p];
  add({
    name: `patchify_grad ${T('f32', gs)} back to ${T('f32', xs)}, patch ${p}`,
    op: 'patchify_grad',
    graph: graph((b) => ({ out: b.node('patchify_grad', [b.input('g', 'f32', gs)], [['f32', xs]], { patch: p })[0]! })),
    tol: EXACT,
  });
}

// --- conv2d_grad: the forward cases
for (const [xs, ws, stride, padding] of [
  [[2, 3, 9, 11], [5, 3, 3, 3], 2, 1],
  [[1, 1, 7, 7], [1, 1, 1, 1], 1, 0],
  [[1, 2, 17, 5], [3, 2, 5, 5], 3, 2],
  [[2, 17, 4, 4], [3, 17, 4, 4], 1, 0],
] as const) {
  const os = [xs[0], ws[0], Math.floor((xs[2] + 2 * padding - ws[2]) / stride) + 1, Math.floor((xs[3] + 2 * padding - ws[3]) / stride) + 1];
  add({
    name: `conv2d_grad x${T('', xs)} w${T('', ws)} stride ${stride} padding ${padding}`,
    op: 'conv2d_grad',
    graph: graph((b) => {
      const [dx, dw] = b.node(
        'conv2d_grad',
        [b.input('g', 'f32', os), b.input('x', 'f32', xs), b.input('w', 'f32', ws)],
        [
          ['f32', xs],
          ['f32', ws],
        ],
        { stride, padding },
      );
      return { dx: dx!, dw: dw! };
    }),
    tol: ACCUMULATED,
  });
}

// --- moe_combine_grad: choices of no expert (-1) and past capacity, empty slots
for (const [k, [Tn, D, K, E, cap, groups]] of [
  [17, 3, 2, 5, 2, 1],
  [12, 7, 1, 3, 1, 3],
  [64, 33, 2, 4, 40, 1],
  [33, 5, 3, 2, 4, 11],
].entries()) {
  const C = cap * groups;
  add({
    name: `moe_combine_grad: ${Tn} tokens of width ${D}, top-${K} of ${E} experts, capacity ${cap} × ${groups} groups`,
    op: 'moe_combine_grad',
    graph: graph((b) => {
      const ins = [b.input('g', 'f32', [Tn, D]), b.input('y', 'f32', [E, C, D]), b.input('choice', 'i32', [Tn, K]), b.input('gates', 'f32', [Tn, K])];
      const [dy, dg] = b.node(
        'moe_combine_grad',
        ins,
        [
          ['f32', [E, C, D]],
          ['f32', [Tn, K]],
        ],
        { groups },
      );
      return { dy: dy!, dgates: dg! };
    }),
    inputs: { choice: uniformI32(Tn * K, -1, E, 90 + k) },
    // dy is one gate × one g (a single rounding); dgates is a dot product over D.
    tol: { dy: ROUNDED, dgates: ACCUMULATED },
  });
}

// ------------------------------------------------------------------ whole models

/**
 * A sample turned into a model with a scalar loss: cross-entropy of `out` against a new
 * `labels` input, or, for models without labels, the sum of `out` weighted by a random
 * `probe` input (a plain sum would make MLP's softmax loss the constant B and its
 * gradients zero, and would hide transposed gradients).
 */
function lossModel(file: string, out: string, loss: 'cross_entropy' | 'weighted_sum'): string {
  const src = readFileSync(`samples/${file}.model`, 'utf8');
  const sig = /(model \w+\([^)]*)\) -> f32\[([^\]]*)\]/.exec(src);
  if (!sig) throw new Error(`no model signature in ${file}`);
  const dims = sig[2]!.split(',').map((d) => d.replace(/@\w+/, '').trim());
  const [extra, expr] =
    loss === 'cross_entropy'
      ? ['labels: i32[B, S]', `cross_entropy(${out}, labels)`]
      : [`probe: f32[${dims.join(', ')}]`, `sum(reshape(${out} * probe, [${dims.join(' * ')}]), axis = 0)`];
  const ret = `  return ${out}\n}`;
  if (!src.includes(ret)) throw new Error(`${file} does not end its model with 'return ${out}'`);
  // A train section names outputs this variant no longer returns: it goes.
  return src
    .replace(sig[0], `${sig[1]}, ${extra}) -> f32[]`)
    .replace(ret, `  let loss = ${expr}\n  return loss\n}`)
    .replace(/\ntrain \w+ \{[\s\S]*?\n\}\n/, '\n');
}

interface ModelCase {
  readonly name: string;
  readonly source: string;
  readonly dims: Readonly<Record<string, number>>;
  readonly overrides?: Readonly<Record<string, number>>;
}
const MODELS: ModelCase[] = [
  { name: 'GPT-2 tiny, cross-entropy', source: lossModel('gpt2', 'logits', 'cross_entropy'), dims: { B: 2, S: 17 } },
  { name: 'MLP tiny, weighted sum of the probabilities', source: lossModel('mlp', 'probs', 'weighted_sum'), dims: { B: 3 } },
  { name: 'LLaMA tiny (rotary, grouped KV, SwiGLU), cross-entropy', source: lossModel('llama', 'logits', 'cross_entropy'), dims: { B: 2, S: 9 } },
  { name: 'ViT-B/16 tiny (no labels in the sample: weighted sum of the logits)', source: lossModel('vit-b16', 'logits', 'weighted_sum'), dims: { B: 2 } },
  // Capacity 1 per group: many top-2 choices overflow, so dropped tokens are part of the test.
  {
    name: 'Mixtral tiny (topk routing, experts over capacity), cross-entropy',
    source: lossModel('mixtral', 'logits', 'cross_entropy'),
    dims: { B: 4, S: 4 },
    overrides: { capacity: 1 },
  },
];

/**
 * Whole-model gradients: relative L2 error < 1e-4 per parameter. The GPU runs the forward
 * pass in f32 too, so each gradient carries the forward's rounding as well as the
 * backward's: ~40 ops deep, through layer norm, softmax and attention, each adding ~1e-6
 * (the op tolerances above); observed errors are ~1e-6, so 1e-4 leaves two orders of
 * headroom, while a wrong kernel gives O(1e-2) or more.
 */
const MODEL_REL = 1e-4;
/**
 * A gradient that is zero in exact arithmetic (GPT-2's key biases: softmax ignores a shift
 * of all scores, so Σ_j ds_ij = 0) is f32 noise on the GPU and has no relative error:
 * when the float64 gradient is below 1e-9 of the model's largest, the GPU's must be below
 * 1e-6 of it (the noise is ~2e-10 of it; the query biases' gradients are 6e-4 to 2e-3 of it).
 */
const VANISHING = 1e-9;
const VANISHING_GPU = 1e-6;

// ------------------------------------------------------------------ the suite

it('every backward-only op has a kernel and a case above (no GPU needed)', () => {
  const backward = [...INTERNAL_OPS.keys()].filter((op) => op.endsWith('_grad'));
  expect(backward.length).toBeGreaterThan(0);
  expect(backward.filter((op) => !KERNELS.has(op))).toEqual([]);
  expect(backward.filter((op) => !cases.some((c) => c.op === op))).toEqual([]);
  for (const c of cases)
    expect(
      c.graph.nodes.some((n) => n.op === c.op),
      c.name,
    ).toBe(true);
});

const gpu = await gpuStatus();
const observed: Observed[] = [];
const expectAgreement = (name: string, r: BothResult, tol: Case['tol']) => agree(name, r, tol, observed);

function norm(x: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i]! * x[i]!;
  return Math.sqrt(s);
}

describe.skipIf(gpu.skip)(gpu.title('backward ops and differentiated models on WebGPU vs the float64 CPU oracle'), () => {
  beforeAll(async () => {
    await sharedDevice();
  });
  afterAll(() => {
    if (!process.env['MDC_REPORT_ERRORS']) return;
    const rows = observed.map(
      (o) => `${o.rel.toExponential(2).padStart(9)} ${o.maxAbs.toExponential(2).padStart(9)} ${o.ms.toFixed(0).padStart(6)}ms  ${o.name} [${o.output}]`,
    );
    console.log(`   rel L2    maxAbs     gpu  case\n${rows.join('\n')}`);
  });

  for (const c of cases) {
    it(c.name, async () => {
      const r = await runGraphBoth(c.graph, { inputs: c.inputs ?? {} });
      expectAgreement(c.name, r, c.tol);
      c.also?.(r);
    });
  }

  it('attention_grad of a fully masked batch is zero, and Sq > Sk rows without keys get zero dq', async () => {
    const mask = Int32Array.from({ length: 2 * 3 }, (_, i) => (i < 3 ? 1 : 0));
    const attrs = forwardAttrs(
      'attention',
      { q: T('f32', [2, 5, 4]), k: T('f32', [2, 3, 4]), v: T('f32', [2, 3, 4]), m: T('i32', [2, 3]) },
      T('f32', [2, 5, 4]),
      'attention(q, k, v, m, heads = 2, causal = true)',
    );
    const g = graph((b) => {
      const ins = [
        b.input('g', 'f32', [2, 5, 4]),
        b.input('q', 'f32', [2, 5, 4]),
        b.input('k', 'f32', [2, 3, 4]),
        b.input('v', 'f32', [2, 3, 4]),
        b.input('m', 'i32', [2, 3]),
      ];
      const [dq, dk, dv] = b.node(
        'attention_grad',
        ins,
        [
          ['f32', [2, 5, 4]],
          ['f32', [2, 3, 4]],
          ['f32', [2, 3, 4]],
        ],
        attrs,
      );
      return { dq: dq!, dk: dk!, dv: dv! };
    });
    const r = await runGraphBoth(g, { inputs: { m: mask } });
    expectAgreement('attention_grad zero rows', r, ATTENTION);
    // Batch 1 is fully masked; in batch 0 the first two queries see no key (Sq − Sk = 2).
    for (const out of ['dq', 'dk', 'dv'])
      expect(
        [...r.gpu[out]!.data.subarray(r.gpu[out]!.data.length / 2)].every((v) => v === 0),
        `${out} of the masked batch`,
      ).toBe(true);
    expect(
      [...r.gpu['dq']!.data.subarray(0, 2 * 4)].every((v) => v === 0),
      'dq of queries that see no key',
    ).toBe(true);
  });

  for (const m of MODELS) {
    it(`whole-model gradient: ${m.name}`, async () => {
      const fwd = compileOrThrow(m.source, { preset: 'tiny', dims: m.dims, ...(m.overrides ? { overrides: m.overrides } : {}) });
      const dg = differentiate(fwd);
      const r = await runGraphBoth(dg);
      const errs: Record<string, ErrorStats> = compareOutputs(r);
      const largest = Math.max(...dg.outputNames.filter((n) => n !== 'loss').map((n) => norm(r.cpu[n]!.data)));
      let vanishing = 0;
      for (const [name, e] of Object.entries(errs)) {
        expect(e.nonFiniteMismatches, `${name}: NaN/∞ at different positions`).toBe(0);
        const ref = norm(r.cpu[name]!.data);
        if (name !== 'loss' && ref < VANISHING * largest) {
          vanishing++;
          observed.push({ name: m.name, output: `${name} (vanishing: |gpu|/largest)`, rel: norm(r.gpu[name]!.data) / largest, maxAbs: e.maxAbs, ms: r.gpuMs });
          expect(norm(r.gpu[name]!.data), `${name} is zero in exact arithmetic`).toBeLessThan(VANISHING_GPU * largest);
          continue;
        }
        observed.push({ name: m.name, output: name, rel: e.rel, maxAbs: e.maxAbs, ms: r.gpuMs });
        expect(e.rel, `${m.name} [${name}]: relative error must be < ${MODEL_REL}`).toBeLessThan(MODEL_REL);
      }
      // Only GPT-2's key biases vanish: anything else near zero would mean a dead gradient.
      expect(vanishing).toBe(m.name.startsWith('GPT-2') ? 2 : 0);
      expect(Object.keys(errs).length).toBeGreaterThan(1);
    }, 600_000);
  }
});
