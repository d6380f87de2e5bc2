/**
 * Every forward op, compiled to WGSL and run on WebGPU (llvmpipe here), against the float64
 * CPU oracle on the same inputs and parameters. Models are tiny and built as source text,
 * so each case also exercises the front end; shapes come from a seeded generator over
 * awkward sizes (1, 3, 5, 7, 17, 33, and 1000 where it matters), never only powers of two.
 *
 * Errors are measured as ‖gpu − cpu‖₂ / ‖cpu‖₂ over each output. Each tolerance below says
 * why it is what it is; set MDC_REPORT_ERRORS=1 to print the error every case observed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lower } from '../../compiler/compile.js';
import { dimConst } from '../../compiler/dims.js';
import { GraphBuilder, type Graph } from '../../compiler/ir.js';
import { OPS } from '../../compiler/ops/registry.js';
import type { DType } from '../../compiler/types.js';
import { NO_SPAN } from '../../diagnostics/span.js';
import {
  compileOrThrow,
  errorStats,
  gpuStatus,
  runBoth,
  runGraphBoth,
  seededRandom,
  sharedDevice,
  uniformF32,
  uniformI32,
  type BothResult,
  type RunOptions,
} from '../support/gpu.js';
import { ACCUMULATED, expectAgreement as agree, ROUNDED, type Observed, type Tolerance } from '../support/tolerance.js';

// ------------------------------------------------------------------ tolerances and why

/** Integer arithmetic, copies, gathers, casts and selections compute nothing inexact: bit-exact. */
const EXACT: Tolerance = { rel: 0, why: 'integer ops and pure data movement must be bit-exact' };
/**
 * Vulkan lets exp/log be off by 3 + 2|x| ulp and inverseSqrt by 2 ulp; pow is exp2(y·log2 x),
 * which amplifies that by |y·log2 x|; tanh is computed through exp and erf by a 1.5e-7
 * approximation. All stay well under 1e-5 relative; an indexing or formula bug gives O(1).
 */
const TRANSCENDENTAL: Tolerance = { rel: 1e-5, why: 'llvmpipe exp/log/pow ulp error and the erf/tanh approximations' };
// ROUNDED and ACCUMULATED: test/support/tolerance.ts.

// ------------------------------------------------------------------ source helpers

const T = (dtype: string, shape: readonly number[]) => `${dtype}[${shape.join(', ')}]`;

/** `model T(a: f32[..], ...) -> ret { body }`; `body` may span several lines. */
function model(args: Record<string, string>, ret: string | readonly string[], body: string): string {
  const params = Object.entries(args)
    .map(([n, t]) => `${n}: ${t}`)
    .join(', ');
  const rets = typeof ret === 'string' ? ret : `(${ret.join(', ')})`;
  return `model T(${params}) -> ${rets} {\n  ${body.split('\n').join('\n  ')}\n}\n`;
}

const numel = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);
function broadcastShape(a: readonly number[], b: readonly number[]): number[] {
  const n = Math.max(a.length, b.length);
  return Array.from({ length: n }, (_, i) => {
    const x = a[a.length - n + i] ?? 1;
    const y = b[b.length - n + i] ?? 1;
    return x === 1 ? y : x;
  });
}

// ------------------------------------------------------------------ the cases

interface Case {
  readonly name: string;
  readonly source: string;
  readonly tol: Tolerance;
  readonly opts?: RunOptions;
  /** Extra checks beyond agreement (e.g. that a case really had ties or ignored labels). */
  readonly also?: (r: BothResult) => void;
  /** The case is about NaN/±∞ results: they must be there, at the oracle's positions (any other case fails on them). */
  readonly nonFinite?: 'expected';
}

const rng = seededRandom(20241128);
const AWKWARD = [1, 3, 5, 7, 17, 33] as const;
const shape2 = () => [rng.pick(AWKWARD), rng.pick(AWKWARD)];
const cases: Case[] = [];
const add = (c: Case) => cases.push(c);

// --- unary elementwise (f32)
const positive = (n: number) => uniformF32(n, 0.05, 3, 101);
for (const op of ['neg', 'abs', 'relu'] as const) {
  const s = shape2();
  add({ name: `${op} f32${T('', s)}`, source: model({ x: T('f32', s) }, T('f32', s), `return ${op}(x)`), tol: EXACT });
}
for (const op of ['exp', 'tanh', 'sigmoid', 'silu', 'fast_gelu'] as const) {
  const s = shape2();
  // ×6 spreads [-1, 1) to [-6, 6): the saturating tails of tanh/sigmoid and exp's growth.
  add({ name: `${op} f32${T('', s)}`, source: model({ x: T('f32', s) }, T('f32', s), `return ${op}(x * 6.0)`), tol: TRANSCENDENTAL });
}
for (const op of ['log', 'sqrt', 'rsqrt'] as const) {
  const s = shape2();
  add({
    name: `${op} f32${T('', s)} on positive inputs`,
    source: model({ x: T('f32', s) }, T('f32', s), `return ${op}(x)`),
    opts: { inputs: { x: positive(numel(s)) } },
    tol: TRANSCENDENTAL,
  });
}
add({
  // ×30: both tails, where the stable form matters (x itself for large x, e^x for very negative x).
  name: 'softplus f32[7, 33] (inputs ×30)',
  source: model({ x: T('f32', [7, 33]) }, T('f32', [7, 33]), 'return softplus(x * 30.0)'),
  tol: TRANSCENDENTAL,
});
add({ name: 'gelu (exact, erf) f32[17, 1000]', source: model({ x: T('f32', [17, 1000]) }, T('f32', [17, 1000]), 'return gelu(x * 4.0)'), tol: TRANSCENDENTAL });
add({
  name: 'gelu (tanh) f32[33, 7]',
  source: model({ x: T('f32', [33, 7]) }, T('f32', [33, 7]), 'return gelu(x * 4.0, approximate = "tanh")'),
  tol: TRANSCENDENTAL,
});
add({
  name: 'sqrt of negatives is NaN on both sides',
  source: model({ x: T('f32', [2, 3]) }, T('f32', [2, 3]), 'return sqrt(x)'),
  opts: { inputs: { x: Float32Array.of(1, -1, 4, 0, 9, -0.5) } },
  tol: TRANSCENDENTAL,
  nonFinite: 'expected',
});

// --- binary elementwise (f32) with broadcasting
const BROADCASTS: [number[], number[]][] = [
  [
    [3, 1, 17],
    [5, 1],
  ], // both sides broadcast, ranks differ
  [
    [1, 7],
    [33, 1],
  ],
  [[1000], [3, 1]],
  [[5, 7], []], // a scalar input
];
for (const [k, op] of (['add', 'sub', 'mul', 'div', 'maximum', 'minimum'] as const).entries()) {
  const [a, b] = BROADCASTS[k % BROADCASTS.length]!; // every pattern meets at least one op
  const o = broadcastShape(a, b);
  add({
    name: `${op} f32${T('', a)} with f32${T('', b)} → ${T('', o)}`,
    source: model({ a: T('f32', a), b: T('f32', b) }, T('f32', o), `return ${op}(a, b)`),
    // Divisors in [0.5, 2) keep division away from 0: the case is about broadcasting, not poles.
    opts: op === 'div' ? { inputs: { b: uniformF32(numel(b), 0.5, 2, 5) } } : {},
    tol: ROUNDED,
  });
}
add({
  name: 'operators + - * / with scalar literals',
  source: model({ x: T('f32', [7, 17]), y: T('f32', [17]) }, T('f32', [7, 17]), 'return (x + 1.5) * y - x / 3.0 + 2'),
  tol: ROUNDED,
});
add({
  name: 'pow f32[17, 5] ** f32[5] (positive bases)',
  source: model({ a: T('f32', [17, 5]), b: T('f32', [5]) }, T('f32', [17, 5]), 'return a ** b'),
  opts: { inputs: { a: positive(85), b: uniformF32(5, -2, 3, 3) } },
  tol: TRANSCENDENTAL,
});
add({
  name: 'pow with negative bases: integral exponents keep the sign rule, others give NaN',
  source: model({ a: T('f32', [3, 4]), b: T('f32', [4]) }, T('f32', [3, 4]), 'return a ** b'),
  opts: { inputs: { a: uniformF32(12, -3, 3, 4), b: Float32Array.of(2, 3, -1, 0.5) } },
  tol: TRANSCENDENTAL,
  nonFinite: 'expected',
  also: (r) => expect([...r.cpu['output0']!.data].some(Number.isNaN), 'the case includes NaN results').toBe(true),
});

// --- i32 elementwise: bit-exact
const ints = (n: number, seed: number, lo = -9, hi = 9) => uniformI32(n, lo, hi, seed);
for (const op of ['add', 'sub', 'mul', 'div', 'maximum', 'minimum'] as const) {
  add({
    name: `${op} i32[5, 17] with i32[17]${op === 'div' ? ' (truncating, x/0 = 0)' : ''}`,
    source: model({ a: T('i32', [5, 17]), b: T('i32', [17]) }, T('i32', [5, 17]), `return ${op}(a, b)`),
    // Every fifth divisor is 0: integer x / 0 is defined as 0 on both sides.
    opts: { inputs: { a: ints(85, 1), b: Int32Array.from(ints(17, 2), (v, i) => (i % 5 === 0 ? 0 : v)) } },
    tol: EXACT,
  });
}
add({
  name: 'neg, abs, relu on i32[3, 33]',
  source: model(
    { x: T('i32', [3, 33]) },
    [T('i32', [3, 33]), T('i32', [3, 33]), T('i32', [3, 33])],
    'let n = neg(x)\nlet a = abs(x)\nlet r = relu(x)\nreturn n, a, r',
  ),
  opts: { inputs: { x: ints(99, 3) } },
  tol: EXACT,
});
add({
  name: 'pow i32[4, 9] ** i32[9] (exponents 0..4, negative bases)',
  source: model({ a: T('i32', [4, 9]), b: T('i32', [9]) }, T('i32', [4, 9]), 'return a ** b'),
  opts: { inputs: { a: ints(36, 4, -5, 5), b: ints(9, 5, 0, 4) } },
  tol: EXACT,
});
add({
  name: 'i32 with integer literals',
  source: model({ x: T('i32', [7, 3]) }, T('i32', [7, 3]), 'return (x * 3 - 1) / 2'),
  opts: { inputs: { x: ints(21, 6) } },
  tol: EXACT,
});

// --- expand, cast, dropout
add({
  name: 'expand f32[2, 1, 3] → [5, 2, 4, 3]',
  source: model({ x: T('f32', [2, 1, 3]) }, T('f32', [5, 2, 4, 3]), 'return expand(x, [5, 2, 4, 3])'),
  tol: EXACT,
});
add({ name: 'expand f32[1, 1] → [1, 1000]', source: model({ x: T('f32', [1, 1]) }, T('f32', [1, 1000]), 'return expand(x, [1, 1000])'), tol: EXACT });
add({
  // Cast the input itself: a product computed first would round differently in f32 and f64.
  name: 'cast f32 → i32 truncates toward zero',
  source: model({ x: T('f32', [3, 17]) }, T('i32', [3, 17]), 'return cast(x, "i32")'),
  tol: EXACT,
  opts: { inputs: { x: uniformF32(51, -7, 7, 12) } },
  also: (r) =>
    expect(
      [...r.cpu['output0']!.data].some((v) => v < 0),
      'negative values were truncated',
    ).toBe(true),
});
add({
  name: 'cast i32 → f32',
  source: model({ x: T('i32', [5, 7]) }, T('f32', [5, 7]), 'return cast(x, "f32")'),
  opts: { inputs: { x: ints(35, 7, -100000, 100000) } },
  tol: EXACT,
});
add({
  name: 'cast f32 and i32 → bool',
  source: model(
    { x: T('f32', [4, 5]), y: T('i32', [4, 5]) },
    [T('bool', [4, 5]), T('bool', [4, 5])],
    'let a = cast(x, "bool")\nlet b = cast(y, "bool")\nreturn a, b',
  ),
  opts: { inputs: { x: Float32Array.from({ length: 20 }, (_, i) => (i % 3 === 0 ? 0 : i - 10.5)), y: ints(20, 8, -1, 1) } },
  tol: EXACT,
});
add({ name: 'cast bool → i32', source: model({ x: T('bool', [3, 7]) }, T('i32', [3, 7]), 'return cast(x, "i32")'), tol: EXACT });
add({ name: 'dropout in inference is the identity', source: model({ x: T('f32', [3, 1000]) }, T('f32', [3, 1000]), 'return dropout(x, 0.3)'), tol: EXACT });
add({
  name: 'dropout in training: same mask as the oracle, kept values scaled by 1/(1-p)',
  source: model({ x: T('f32', [3, 1000]) }, T('f32', [3, 1000]), 'return dropout(x, 0.25, seed = 5)'),
  opts: { training: true },
  tol: ROUNDED,
  also: (r) => {
    const zeros = [...r.gpu['output0']!.data].filter((v) => v === 0).length / 3000;
    // 3000 Bernoulli(0.25) draws: the dropped fraction is 0.25 ± 0.008 (1σ); ±0.04 is 5σ.
    expect(Math.abs(zeros - 0.25)).toBeLessThan(0.04);
  },
});

// --- matmul
const MATMULS: [number[], number[]][] = [
  [
    [3, 1000],
    [1000, 5],
  ], // K = 1000
  [
    [17, 3],
    [3, 1],
  ], // N = 1
  [
    [1, 7],
    [7, 17],
  ], // M = 1
  [
    [2, 1, 3, 5],
    [4, 5, 7],
  ], // batch dims broadcast both ways → [2, 4, 3, 7]
  [
    [5, 7, 1],
    [1, 33],
  ], // K = 1, rank 3 @ rank 2
  [
    [1, 3, 17],
    [5, 17, 2],
  ], // a's batch of 1 broadcasts
];
for (const [a, b] of MATMULS) {
  const o = [...broadcastShape(a.slice(0, -2), b.slice(0, -2)), a[a.length - 2]!, b[b.length - 1]!];
  add({
    name: `matmul f32${T('', a)} @ f32${T('', b)} → ${T('', o)}`,
    source: model({ a: T('f32', a), b: T('f32', b) }, T('f32', o), 'return a @ b'),
    tol: ACCUMULATED,
  });
}
add({
  name: "matmul f32[2049, 1] @ f32[1, 2049]: 4.2M outputs, K = 1 (the plain kernel's 2-D grid fold: test/codegen/matmul-gpu.test.ts)",
  source: model({ a: T('f32', [2049, 1]), b: T('f32', [1, 2049]) }, T('f32', [2049, 2049]), 'return a @ b'),
  tol: ROUNDED,
});
add({
  name: 'matmul with a parameter initialised by the runtime',
  source: `model T(x: f32[5, 17]) -> f32[5, 3] {\n  param w: f32[17, 3] = normal(0, 0.5)\n  return x @ w\n}\n`,
  tol: ACCUMULATED,
});

// --- reductions
for (const op of ['sum', 'mean', 'max', 'min'] as const) {
  add({ name: `${op} over the last axis of f32[3, 1000]`, source: model({ x: T('f32', [3, 1000]) }, T('f32', [3]), `return ${op}(x)`), tol: ACCUMULATED });
  add({ name: `${op} over axis 0 of f32[17, 5, 3]`, source: model({ x: T('f32', [17, 5, 3]) }, T('f32', [5, 3]), `return ${op}(x, 0)`), tol: ACCUMULATED });
  add({
    name: `${op} over axis 1 of f32[5, 7, 3], keepdim`,
    source: model({ x: T('f32', [5, 7, 3]) }, T('f32', [5, 1, 3]), `return ${op}(x, 1, keepdim = true)`),
    tol: ACCUMULATED,
  });
}
// The dims after the axis hold a multiple of 4 elements: four rows per invocation (reduce.ts).
add({
  name: 'max over axis 0 of f32[17, 5, 8], four rows at a time',
  source: model({ x: T('f32', [17, 5, 8]) }, T('f32', [5, 8]), 'return max(x, 0)'),
  tol: EXACT,
});
add({
  name: 'mean over axis 1 of f32[3, 33, 4], four rows at a time',
  source: model({ x: T('f32', [3, 33, 4]) }, T('f32', [3, 4]), 'return mean(x, 1)'),
  tol: ACCUMULATED,
});
add({
  name: 'sum over axis 0 of i32[7, 12], four rows at a time',
  source: model({ x: T('i32', [7, 12]) }, T('i32', [12]), 'return sum(x, 0)'),
  opts: { inputs: { x: ints(84, 16, -50, 50) } },
  tol: EXACT,
});
add({ name: 'sum of f32[1000] to a scalar', source: model({ x: T('f32', [1000]) }, T('f32', []), 'return sum(x)'), tol: ACCUMULATED });
add({ name: 'sum over an axis of size 1', source: model({ x: T('f32', [3, 1, 5]) }, T('f32', [3, 5]), 'return sum(x, 1)'), tol: EXACT });
add({
  name: 'sum, max, min of i32 are exact',
  source: model(
    { x: T('i32', [3, 17]) },
    [T('i32', [17]), T('i32', [3]), T('i32', [3])],
    'let s = sum(x, 0)\nlet hi = max(x)\nlet lo = min(x)\nreturn s, hi, lo',
  ),
  opts: { inputs: { x: ints(51, 9, -50, 50) } },
  tol: EXACT,
});

// --- softmax, log_softmax
for (const op of ['softmax', 'log_softmax'] as const) {
  add({
    name: `${op} over the last axis of f32[3, 1000] (inputs ×20)`,
    source: model({ x: T('f32', [3, 1000]) }, T('f32', [3, 1000]), `return ${op}(x * 20.0)`),
    tol: ACCUMULATED,
  });
  add({
    name: `${op} over axis 0 of f32[17, 3, 2]`,
    source: model({ x: T('f32', [17, 3, 2]) }, T('f32', [17, 3, 2]), `return ${op}(x * 5.0, 0)`),
    tol: ACCUMULATED,
  });
  add({
    name: `${op} over axis 1 of f32[2, 33, 5]`,
    source: model({ x: T('f32', [2, 33, 5]) }, T('f32', [2, 33, 5]), `return ${op}(x * 5.0, 1)`),
    tol: ACCUMULATED,
  });
}
add({
  name: 'softmax over axis 1 of f32[2, 33, 12], four rows at a time',
  source: model({ x: T('f32', [2, 33, 12]) }, T('f32', [2, 33, 12]), 'return softmax(x * 5.0, 1)'),
  tol: ACCUMULATED,
});
add({
  name: 'log_softmax over axis 0 of f32[5, 8], four rows at a time',
  source: model({ x: T('f32', [5, 8]) }, T('f32', [5, 8]), 'return log_softmax(x * 5.0, 0)'),
  tol: ACCUMULATED,
});
add({ name: 'softmax over an axis of size 1 is all ones', source: model({ x: T('f32', [7, 1]) }, T('f32', [7, 1]), 'return softmax(x)'), tol: EXACT });

// --- norms
add({
  name: 'layer_norm f32[5, 1000] with weight and bias',
  source: model({ x: T('f32', [5, 1000]), w: T('f32', [1000]), b: T('f32', [1000]) }, T('f32', [5, 1000]), 'return layer_norm(x * 3.0 + 1.0, w, b, 1e-5)'),
  tol: ACCUMULATED,
});
add({
  name: 'layer_norm f32[2, 3, 17] without affine, eps = 0.1',
  source: model({ x: T('f32', [2, 3, 17]) }, T('f32', [2, 3, 17]), 'return layer_norm(x, eps = 0.1)'),
  tol: ACCUMULATED,
});
add({
  name: 'layer_norm over a dim of size 3',
  source: model({ x: T('f32', [33, 3]), w: T('f32', [3]) }, T('f32', [33, 3]), 'return layer_norm(x, w)'),
  tol: ACCUMULATED,
});
add({
  name: 'rms_norm f32[3, 1000] with weight',
  source: model({ x: T('f32', [3, 1000]), w: T('f32', [1000]) }, T('f32', [3, 1000]), 'return rms_norm(x, w, 1e-6)'),
  tol: ACCUMULATED,
});
add({ name: 'rms_norm f32[2, 5, 7] without weight', source: model({ x: T('f32', [2, 5, 7]) }, T('f32', [2, 5, 7]), 'return rms_norm(x)'), tol: ACCUMULATED });

// --- shape ops: pure data movement, bit-exact
add({
  name: 'reshape with -1, then an op on the aliased buffer',
  source: model({ x: T('f32', [6, 17]) }, T('f32', [3, 2, 17]), 'return reshape(x, [3, -1, 17]) * 2.0'),
  tol: EXACT,
});
add({ name: 'reshape as the model output', source: model({ x: T('f32', [5, 7]) }, T('f32', [7, 5]), 'return reshape(x + 1.0, [7, 5])'), tol: ROUNDED });
add({
  name: 'transpose (default: swap the last two) f32[3, 5, 17]',
  source: model({ x: T('f32', [3, 5, 17]) }, T('f32', [3, 17, 5]), 'return transpose(x)'),
  tol: EXACT,
});
add({
  name: 'transpose f32[2, 3, 5, 7] by [2, 0, 3, 1]',
  source: model({ x: T('f32', [2, 3, 5, 7]) }, T('f32', [5, 2, 7, 3]), 'return transpose(x, [2, 0, 3, 1])'),
  tol: EXACT,
});
add({
  name: 'transpose i32[17, 3]',
  source: model({ x: T('i32', [17, 3]) }, T('i32', [3, 17]), 'return transpose(x)'),
  opts: { inputs: { x: ints(51, 10) } },
  tol: EXACT,
});
add({
  name: 'slice f32[2, 17, 5] on axis 1 [3, 16)',
  source: model({ x: T('f32', [2, 17, 5]) }, T('f32', [2, 13, 5]), 'return slice(x, 1, 3, 16)'),
  tol: EXACT,
});
add({
  name: 'slice f32[1000, 3] on axis 0 [999, 1000)',
  source: model({ x: T('f32', [1000, 3]) }, T('f32', [1, 3]), 'return slice(x, 0, 999, 1000)'),
  tol: EXACT,
});
add({ name: 'slice on the last axis, negative axis', source: model({ x: T('f32', [3, 7]) }, T('f32', [3, 2]), 'return slice(x, -1, 5, 7)'), tol: EXACT });
add({
  name: 'split f32[3, 33] in 3 on the last axis',
  source: model({ x: T('f32', [3, 33]) }, [T('f32', [3, 11]), T('f32', [3, 11]), T('f32', [3, 11])], 'let a, b, c = split(x, 3)\nreturn a, b, c'),
  tol: EXACT,
});
add({
  name: 'split f32[34, 3] in 2 on axis 0',
  source: model({ x: T('f32', [34, 3]) }, [T('f32', [17, 3]), T('f32', [17, 3])], 'let a, b = split(x, 2, axis = 0)\nreturn a, b'),
  tol: EXACT,
});
add({
  name: 'concat three tensors on axis 1',
  source: model({ a: T('f32', [2, 3, 5]), b: T('f32', [2, 1, 5]), c: T('f32', [2, 17, 5]) }, T('f32', [2, 21, 5]), 'return concat([a, b, c], axis = 1)'),
  tol: EXACT,
});
add({
  name: 'concat on axis 0 and on the last axis',
  source: model(
    { a: T('f32', [3, 7]), b: T('f32', [1, 7]) },
    [T('f32', [4, 7]), T('f32', [3, 14])],
    'let r = concat([a, b])\nlet c = concat([a, a], axis = -1)\nreturn r, c',
  ),
  tol: EXACT,
});
// Copies that keep a last dim divisible by 4 move four elements per invocation (layout.ts).
add({
  name: 'transpose f32[3, 5, 8] by [1, 0, 2], four at a time',
  source: model({ x: T('f32', [3, 5, 8]) }, T('f32', [5, 3, 8]), 'return transpose(x, [1, 0, 2])'),
  tol: EXACT,
});
add({
  name: 'slice f32[3, 17, 12] on axis 1 [5, 16), four at a time',
  source: model({ x: T('f32', [3, 17, 12]) }, T('f32', [3, 11, 12]), 'return slice(x, 1, 5, 16)'),
  tol: EXACT,
});
add({
  name: 'concat i32[2, 3, 4] and i32[2, 5, 4] on axis 1, four at a time',
  source: model({ a: T('i32', [2, 3, 4]), b: T('i32', [2, 5, 4]) }, T('i32', [2, 8, 4]), 'return concat([a, b], axis = 1)'),
  opts: { inputs: { a: ints(24, 14), b: ints(40, 15) } },
  tol: EXACT,
});
add({
  name: 'concat i32',
  source: model({ a: T('i32', [3, 2]), b: T('i32', [3, 5]) }, T('i32', [3, 7]), 'return concat([a, b], axis = 1)'),
  opts: { inputs: { a: ints(6, 11), b: ints(15, 12) } },
  tol: EXACT,
});

// --- embedding, rotary
{
  const ids = Int32Array.from({ length: 17 }, (_, i) => [0, 999, -1, 1000, 5000, 3][i % 6]! + (i % 6 === 5 ? i : 0));
  add({
    // The ids pass through an op: as a model input, ids outside the table are refused
    // before the run (runtime/executor.ts), so the kernel's own guard is tested this way.
    name: 'embedding f32[1000, 7] by i32[17] with out-of-range ids (zero rows)',
    source: model({ t: T('f32', [1000, 7]), ids: T('i32', [17]) }, T('f32', [17, 7]), 'return embedding(t, ids * 1)'),
    opts: { inputs: { ids } },
    tol: EXACT,
    also: (r) =>
      expect(
        [...r.cpu['output0']!.data.subarray(2 * 7, 4 * 7)].every((v) => v === 0),
        'ids -1 and 1000 give zero rows',
      ).toBe(true),
  });
  add({
    name: 'embedding f32[1000, 8] by i32[17] with out-of-range ids (zero rows), four at a time',
    source: model({ t: T('f32', [1000, 8]), ids: T('i32', [17]) }, T('f32', [17, 8]), 'return embedding(t, ids * 1)'),
    opts: { inputs: { ids } },
    tol: EXACT,
    also: (r) =>
      expect(
        [...r.gpu['output0']!.data.subarray(2 * 8, 4 * 8)].every((v) => v === 0),
        'ids -1 and 1000 give zero rows',
      ).toBe(true),
  });
  add({
    name: 'embedding i32[1000, 7] by i32[17] with out-of-range ids (zero rows)',
    source: model({ t: T('i32', [1000, 7]), ids: T('i32', [17]) }, T('i32', [17, 7]), 'return embedding(t, ids * 1)'),
    opts: { inputs: { t: ints(7000, 13), ids } },
    tol: EXACT,
    also: (r) =>
      expect(
        [...r.gpu['output0']!.data.subarray(2 * 7, 4 * 7)].every((v) => v === 0),
        'ids -1 and 1000 give zero rows',
      ).toBe(true),
  });
}
add({
  name: 'embedding of a parameter table by i32[2, 5]',
  source: `model T(ids: i32[2, 5]) -> f32[2, 5, 3] {\n  param table: f32[33, 3] = uniform(-1, 1)\n  return embedding(table, ids)\n}\n`,
  tol: EXACT,
});
add({
  name: 'rotary f32[2, 17, 12], 2 heads, theta 10000',
  source: model({ x: T('f32', [2, 17, 12]) }, T('f32', [2, 17, 12]), 'return rotary(x, 2)'),
  tol: TRANSCENDENTAL,
});
add({
  name: 'rotary f32[3, 5, 2], 1 head, theta 500, offset 7',
  source: model({ x: T('f32', [3, 5, 2]) }, T('f32', [3, 5, 2]), 'return rotary(x, 1, 500, offset = 7)'),
  tol: TRANSCENDENTAL,
});
// T5's bias: offsets up to 32 cross several logarithmic buckets; max_distance 12 sends the far ones to the last bucket.
add({
  name: 'relative_position_bias f32[32, 3] over 17 queries × 33 keys, bidirectional',
  source: model({ t: T('f32', [32, 3]) }, T('f32', [3, 17, 33]), 'return relative_position_bias(t, 17, 33)'),
  tol: EXACT,
});
add({
  name: 'relative_position_bias f32[7, 2] over 33 × 33, causal, unidirectional, max_distance 12',
  source: model(
    { t: T('f32', [7, 2]) },
    T('f32', [2, 33, 33]),
    'return relative_position_bias(t, 33, 33, bidirectional = false, max_distance = 12, causal = true)',
  ),
  tol: EXACT,
});

// --- attention
{
  const att = (name: string, q: number[], kv: number[], call: string, mask?: number[], opts: RunOptions = {}, also?: Case['also']) =>
    add({
      name: `attention ${name}: q${T('', q)} k/v${T('', kv)}`,
      source: model({ q: T('f32', q), k: T('f32', kv), v: T('f32', kv), ...(mask ? { m: T('i32', mask) } : {}) }, T('f32', q), `return ${call}`),
      tol: ACCUMULATED,
      opts,
      ...(also ? { also } : {}),
    });
  att('causal, 4 heads of 5', [2, 17, 20], [2, 17, 20], 'attention(q * 3.0, k, v, heads = 4, causal = true)');
  att('non-causal, 1 head, Sk = 1', [3, 5, 7], [3, 1, 7], 'attention(q, k, v, heads = 1)');
  att('grouped kv: 6 heads share 2 kv heads', [2, 7, 18], [2, 7, 6], 'attention(q * 3.0, k, v, heads = 6, kv_heads = 2, causal = true)');
  att('causal with Sq < Sk (queries are the last Sq positions)', [1, 3, 12], [1, 17, 12], 'attention(q, k, v, heads = 3, causal = true)');
  att('explicit scale', [2, 5, 8], [2, 7, 8], 'attention(q, k, v, heads = 2, scale = 0.9)');
  // Batch 0 attends to a random subset of keys; batch 1 has every key masked: its rows are zero.
  const mask = Int32Array.from({ length: 2 * 17 }, (_, i) => (i < 17 ? [1, 0, 1, 1, 0][i % 5]! : 0));
  att(
    'padding mask (one batch fully masked) + causal + grouped',
    [2, 17, 8],
    [2, 17, 4],
    'attention(q, k, v, m, heads = 4, kv_heads = 2, causal = true)',
    [2, 17],
    { inputs: { m: mask } },
    (r) =>
      expect(
        [...r.cpu['output0']!.data.subarray(17 * 8)].every((v) => v === 0),
        'the fully masked batch gives zeros',
      ).toBe(true),
  );
}

// --- topk
{
  // Values from {0, 0.5, 1, 1.5}: every row is full of ties, resolved to the lower index.
  const tied = (n: number, seed: number) => Float32Array.from(uniformI32(n, 0, 3, seed), (v) => v / 2);
  add({
    name: 'topk k = 3 of f32[17, 7] with many ties',
    source: model({ x: T('f32', [17, 7]) }, [T('f32', [17, 3]), T('i32', [17, 3])], 'let v, i = topk(x, 3)\nreturn v, i'),
    opts: { inputs: { x: tied(119, 1) } },
    tol: EXACT,
  });
  add({
    name: 'topk k = n (a full sort) of f32[3, 5]',
    source: model({ x: T('f32', [3, 5]) }, [T('f32', [3, 5]), T('i32', [3, 5])], 'let v, i = topk(x, 5)\nreturn v, i'),
    opts: { inputs: { x: tied(15, 2) } },
    tol: EXACT,
  });
  add({
    name: 'topk k = 1 of f32[1000]',
    source: model({ x: T('f32', [1000]) }, [T('f32', [1]), T('i32', [1])], 'let v, i = topk(x, 1)\nreturn v, i'),
    tol: EXACT,
  });
  add({
    name: 'topk with ±Infinity, two +Infinity tied',
    source: model({ x: T('f32', [2, 6]) }, [T('f32', [2, 4]), T('i32', [2, 4])], 'let v, i = topk(x, 4)\nreturn v, i'),
    opts: { inputs: { x: Float32Array.of(1, Infinity, 2, Infinity, -Infinity, 3, -Infinity, 0, -Infinity, 5, Infinity, -Infinity) } },
    tol: EXACT,
    nonFinite: 'expected',
  });
  add({
    name: 'topk k = 4 of f32[2, 3, 1000] with ties and -inf',
    source: model({ x: T('f32', [2, 3, 1000]) }, [T('f32', [2, 3, 4]), T('i32', [2, 3, 4])], 'let v, i = topk(x, 4)\nreturn v, i'),
    opts: { inputs: { x: Float32Array.from(tied(6000, 3), (v, i) => (i % 7 === 0 ? -Infinity : v)) } },
    tol: EXACT,
  });
}

// --- mixture-of-experts routing: dispatch and combine are pure data movement (combine adds
// at most k gated terms), with choices that overflow capacity, out-of-range experts and
// empty slots.
{
  const moe = (T_: number, D: number, k: number, E: number, cap: number, groups: number, seed: number) => {
    const choice = Int32Array.from(uniformI32(T_ * k, -1, E, seed)); // includes -1: no expert
    add({
      name: `moe_dispatch then moe_combine: ${T_} tokens of width ${D}, top-${k} of ${E} experts, capacity ${cap} × ${groups} groups`,
      source: model(
        { x: T('f32', [T_, D]), choice: T('i32', [T_, k]), gates: T('f32', [T_, k]) },
        [T('f32', [E, cap * groups, D]), T('f32', [T_, D])],
        `let h = moe_dispatch(x, choice, experts = ${E}, capacity = ${cap}, groups = ${groups})\nreturn h, moe_combine(h * 2.0, choice, gates, groups = ${groups})`,
      ),
      opts: { inputs: { choice } },
      tol: ROUNDED,
    });
  };
  moe(17, 3, 2, 5, 2, 1, 1);
  moe(12, 7, 1, 3, 1, 3, 2);
  moe(64, 33, 2, 4, 40, 1, 3);
  moe(33, 5, 3, 2, 4, 11, 4);
}

// --- patchify, conv2d
add({ name: 'patchify f32[2, 3, 8, 12] by 4', source: model({ x: T('f32', [2, 3, 8, 12]) }, T('f32', [2, 6, 48]), 'return patchify(x, 4)'), tol: EXACT });
add({
  name: 'patchify f32[1, 1, 5, 5] by 5 (one patch) and by 1',
  source: model({ x: T('f32', [1, 1, 5, 5]) }, [T('f32', [1, 1, 25]), T('f32', [1, 25, 1])], 'let a = patchify(x, 5)\nlet b = patchify(x, 1)\nreturn a, b'),
  tol: EXACT,
});
const conv = (x: number[], w: number[], s: number, p: number) => {
  const o = [x[0]!, w[0]!, Math.floor((x[2]! + 2 * p - w[2]!) / s) + 1, Math.floor((x[3]! + 2 * p - w[3]!) / s) + 1];
  add({
    name: `conv2d x${T('', x)} w${T('', w)} stride ${s} padding ${p} → ${T('', o)}`,
    source: model({ x: T('f32', x), w: T('f32', w) }, T('f32', o), `return conv2d(x, w, ${s}, ${p})`),
    tol: ACCUMULATED,
  });
};
conv([2, 3, 9, 11], [5, 3, 3, 3], 2, 1);
conv([1, 1, 7, 7], [1, 1, 1, 1], 1, 0);
conv([1, 2, 17, 5], [3, 2, 5, 5], 3, 2);
conv([2, 17, 4, 4], [3, 17, 4, 4], 1, 0); // the kernel covers the whole image: a dense layer

// --- cross_entropy
{
  const labels = Int32Array.from([3, -1, 16, 17, 0, 100, 5]); // -1, 17 and 100 are outside [0, 17): ignored
  add({
    name: 'cross_entropy f32[7, 17] with out-of-range labels ignored',
    source: model({ x: T('f32', [7, 17]), l: T('i32', [7]) }, T('f32', []), 'return cross_entropy(x * 4.0, l)'),
    opts: { inputs: { l: labels } },
    tol: ACCUMULATED,
  });
  add({
    name: 'cross_entropy f32[2, 3, 1000] (V = 1000)',
    source: model({ x: T('f32', [2, 3, 1000]), l: T('i32', [2, 3]) }, T('f32', []), 'return cross_entropy(x * 10.0, l)'),
    tol: ACCUMULATED,
  });
  add({
    name: "cross_entropy f32[1000, 3]: more rows than the kernel's 256 invocations",
    source: model({ x: T('f32', [1000, 3]), l: T('i32', [1000]) }, T('f32', []), 'return cross_entropy(x * 4.0, l)'),
    opts: { inputs: { l: uniformI32(1000, -1, 3, 15) } },
    tol: ACCUMULATED,
  });
  add({
    name: 'cross_entropy with every label ignored is 0',
    source: model({ x: T('f32', [3, 5]), l: T('i32', [3]) }, T('f32', []), 'return cross_entropy(x, l)'),
    opts: { inputs: { l: Int32Array.of(-1, 5, 9) } },
    tol: EXACT,
    also: (r) => expect(r.gpu['output0']!.data[0]).toBe(0),
  });
}

// ------------------------------------------------------------------ `where` (no surface syntax: see the known bugs)

function whereGraph(condType: DType, cond: number[], a: number[], b: number[]): Graph {
  const g = new GraphBuilder();
  const ty = (dtype: DType, s: number[]) => ({ dtype, dims: s.map((d) => dimConst(d)) });
  const c = g.addValue({ type: ty(condType, cond), kind: 'input', name: 'c' });
  const x = g.addValue({ type: ty('f32', a), kind: 'input', name: 'a' });
  const y = g.addValue({ type: ty('f32', b), kind: 'input', name: 'b' });
  const out = broadcastShape(cond, broadcastShape(a, b));
  const [o] = g.addNode('where', [c, x, y], [ty('f32', out)], {}, NO_SPAN, '');
  return g.finish('W', [o!], ['out']);
}

// ------------------------------------------------------------------ the suite

it('every op in the registry is exercised by a case above (no GPU needed)', () => {
  const covered = new Set<string>();
  for (const c of cases) {
    for (const n of compileOrThrow(c.source, c.opts).nodes) covered.add(n.op);
    // `split` has no node of its own: it lowers to one slice per part.
    if (/\bsplit\(/.test(c.source)) covered.add('split');
  }
  for (const n of whereGraph('i32', [1], [1], [1]).nodes) covered.add(n.op);
  expect([...OPS.keys()].filter((op) => !covered.has(op))).toEqual([]);
});

it('the error measures fail on NaN/∞ unless a case expects them: all-NaN against all-NaN is no agreement (no GPU needed)', () => {
  const nan = new Float32Array(6).fill(NaN);
  const none = errorStats(nan, nan);
  expect(none.nonFinite).toBe(6);
  expect(none.rel, 'no tolerance check can pass on NaN').toBeNaN();
  expect(none.rel <= ROUNDED.rel).toBe(false);
  const partly = errorStats(Float32Array.of(1, Infinity, 3), Float64Array.of(1, Infinity, 3));
  expect([partly.nonFinite, partly.nonFiniteMismatches]).toEqual([1, 0]);
  expect(partly.rel).toBeNaN();
  // A case about them compares them position by position and the finite rest by the tolerance.
  const expected = errorStats(Float32Array.of(1, Infinity, NaN, 3), Float64Array.of(1, Infinity, NaN, 3 + 3e-7), { nonFinite: 'expected' });
  expect([expected.nonFinite, expected.nonFiniteMismatches]).toEqual([2, 0]);
  expect(expected.rel).toBeLessThanOrEqual(ROUNDED.rel);
  expect(errorStats(Float32Array.of(NaN, 1), Float64Array.of(-Infinity, 1), { nonFinite: 'expected' }).nonFiniteMismatches).toBe(1);
});

const gpu = await gpuStatus();
const observed: Observed[] = [];
const expectAgreement = (name: string, r: BothResult, tol: Tolerance, nonFinite?: 'expected') => agree(name, r, tol, observed, nonFinite ? { nonFinite } : {});

describe.skipIf(gpu.skip)(gpu.title('forward ops on WebGPU vs the float64 CPU oracle'), () => {
  beforeAll(async () => {
    await sharedDevice();
  });
  afterAll(() => {
    if (!process.env['MDC_REPORT_ERRORS']) return;
    const rows = observed.map(
      (o) => `${o.rel.toExponential(2).padStart(9)} ${o.maxAbs.toExponential(2).padStart(9)} ${o.ms.toFixed(0).padStart(5)}ms  ${o.name} [${o.output}]`,
    );
    console.log(`   rel L2    maxAbs   gpu  case\n${rows.join('\n')}`);
  });

  for (const c of cases) {
    it(c.name, async () => {
      const r = await runBoth(c.source, c.opts);
      expectAgreement(c.name, r, c.tol, c.nonFinite);
      c.also?.(r);
    });
  }

  it('where(cond, a, b) with an i32 condition, all three broadcasting', async () => {
    const name = 'where i32 cond[3, 1] f32[1, 7] f32[7]';
    const r = await runGraphBoth(whereGraph('i32', [3, 1], [1, 7], [7]), { inputs: { c: Int32Array.of(0, 5, -1) } });
    expectAgreement(name, r, EXACT);
  });

  it('where(cond, a, b) with an f32 condition', async () => {
    const name = 'where f32 cond[5, 17] f32[5, 17] f32[1]';
    const c = Float32Array.from(uniformF32(85, -1, 1, 9), (v) => (v > 0 ? v : 0));
    const r = await runGraphBoth(whereGraph('f32', [5, 17], [5, 17], [1]), { inputs: { c } });
    expectAgreement(name, r, EXACT);
  });

  // ---------------------------------------------------------------- once bugs, now fixed

  it('where(cond, a, b) is callable although `where` also opens a where-clause', async () => {
    const r = await runBoth(model({ c: T('i32', [3]), a: T('f32', [3]), b: T('f32', [3]) }, T('f32', [3]), 'return where(c, a, b)'), {
      inputs: { c: Int32Array.of(1, 0, 2) },
    });
    expectAgreement('where via the language', r, EXACT);
  });

  it('mean of i32 is refused: the rounding would be a guess', () => {
    const r = lower(model({ x: T('i32', [4, 7]) }, T('i32', [4]), 'return mean(x)'), 'mean.model');
    expect(r.diagnostics.map((d) => `${d.code} ${d.message}`)).toEqual(['MDC0303 mean: x must have a float dtype, got i32[4, 7]']);
  });

  it('a non-integer literal in an i32 op is refused instead of truncated', () => {
    const r = lower(model({ x: T('i32', [3, 5]) }, T('i32', [3, 5]), 'return x * 0.5'), 'lit.model');
    expect(r.diagnostics.map((d) => d.code)).toEqual(['MDC0120']);
    expect(r.diagnostics[0]!.message).toContain('an integer (the other operand is i32)');
  });

  it('i32 overflow wraps on the device and in the oracle alike', async () => {
    const r = await runBoth(model({ x: T('i32', [3]) }, T('i32', [3]), 'return x + 1'), { inputs: { x: Int32Array.of(2147483647, 5, -7) } });
    expectAgreement('i32 overflow', r, EXACT);
    expect(Array.from(r.gpu['output0']?.data ?? Object.values(r.gpu)[0]!.data)).toEqual([-2147483648, 6, -6]);
  });

  it('causal attention with Sq > Sk: the first queries see no key and give zero rows', async () => {
    const r = await runBoth(
      model(
        { q: T('f32', [1, 5, 8]), k: T('f32', [1, 3, 8]), v: T('f32', [1, 3, 8]) },
        T('f32', [1, 5, 8]),
        'return attention(q, k, v, heads = 2, causal = true)',
      ),
    );
    expectAgreement('attention Sq > Sk causal', r, ACCUMULATED);
  });
});
