import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { differentiate } from '../../compiler/autodiff/grad.js';
import { lower } from '../../compiler/compile.js';
import { dimValue } from '../../compiler/dims.js';
import type { Graph } from '../../compiler/ir.js';
import { OPS } from '../../compiler/ops/registry.js';
import { interpret } from '../../compiler/reference/interpret.js';
import { verifyGraph } from '../../compiler/verify-ir.js';
import { mulberry32 } from '../support/random.js';

/**
 * Every op's gradient against central finite differences, both in float64 on the CPU
 * reference. Each case is a tiny model whose output is reduced to a scalar loss with a
 * fixed random weighting (so every output element matters differently); for every
 * parameter, a few random entries are perturbed by ±h and (L(p+h) − L(p−h)) / 2h is
 * compared with the autodiff gradient.
 *
 * Tolerance: central differences have truncation error O(h²·f''') and rounding error
 * O(ε/h); with h = 1e-5 both stay below 1e-8 relative for these smooth, O(1)-scaled
 * functions, so |fd − ad| ≤ 1e-6 · max(|fd|, |ad|, 1e-2) leaves two orders of margin while
 * any wrong rule (a missing factor, a wrong transpose or axis) is off by O(1).
 */

const H = 1e-5;
const TOL = 1e-6;

const shapeOf = (g: Graph, id: number) => g.values[id]!.type.dims.map((d) => dimValue(d)!);

/** Lowers `source` (whose model returns one scalar `loss`), differentiates it and compares with finite differences. */
function checkGradients(
  source: string,
  opts: {
    inputs?: Record<string, number[]>;
    training?: boolean;
    samples?: number;
    seed?: number;
    preset?: string;
    dims?: Record<string, number>;
    h?: number;
    tol?: number;
  } = {},
) {
  const r = lower(source, 'grad.model', {
    training: !!opts.training,
    ...(opts.preset ? { preset: opts.preset } : {}),
    ...(opts.dims ? { dims: opts.dims } : {}),
  });
  expect(r.diagnostics.map((d) => `${d.span.line}:${d.span.col} ${d.message}`)).toEqual([]);
  const g = r.graph!;
  const dg = differentiate(g);
  expect(verifyGraph(dg, true)).toEqual([]);
  const rand = mulberry32(opts.seed ?? 1);
  const params = new Map<string, Float64Array>();
  for (const v of g.values) {
    if (v.kind !== 'param') continue;
    const n = shapeOf(g, v.id).reduce((a, b) => a * b, 1);
    params.set(
      v.name!,
      Float64Array.from({ length: n }, () => rand() * 2 - 1),
    );
  }
  const inputs = opts.inputs ?? {};
  const loss = () => interpret(g, inputs, (name) => params.get(name)!)['loss']!.data[0]!;
  const grads = interpret(dg, inputs, (name) => params.get(name)!);
  expect(grads['loss']!.data[0]).toBeCloseTo(loss(), 12);
  let checked = 0;
  for (const [name, p] of params) {
    const gv = grads[`grad.${name}`]!;
    expect(gv.data.length).toBe(p.length);
    const picks = new Set<number>();
    const want = Math.min(p.length, opts.samples ?? 6);
    while (picks.size < want) picks.add(Math.floor(rand() * p.length));
    for (const i of picks) {
      const x = p[i]!;
      const h = opts.h ?? H;
      p[i] = x + h;
      const up = loss();
      p[i] = x - h;
      const down = loss();
      p[i] = x;
      const fd = (up - down) / (2 * h);
      const ad = gv.data[i]!;
      const scale = Math.max(Math.abs(fd), Math.abs(ad), 1e-2);
      if (!(Math.abs(fd - ad) <= (opts.tol ?? TOL) * scale)) throw new Error(`d loss / d ${name}[${i}]: finite difference ${fd}, autodiff ${ad}`);
      checked++;
    }
  }
  return checked;
}

function model(body: string, inputs = ''): string {
  return `model M(${inputs}) -> f32[] {\n${body}\n}\n`;
}

/** Weighted sum of `y` (named in the body) as the scalar loss. */
const lossOf = (y: string, shape: number[]) =>
  `  param probe: f32[${shape.join(', ')}] = normal(0, 1)\n  let loss = sum(reshape(${y} * probe, [${shape.reduce((a, b) => a * b, 1)}]), axis = 0)\n  return loss`;

const P = (name: string, shape: number[]) => `  param ${name}: f32[${shape.join(', ')}] = normal(0, 1)`;

interface Case {
  name: string;
  source: string;
  opts?: Parameters<typeof checkGradients>[1];
}
const cases: Case[] = [];
const add = (c: Case) => cases.push(c);

// --- elementwise unary (log, sqrt, rsqrt on positive arguments)
for (const [op, arg] of [
  ['neg', 'a'],
  ['exp', 'a'],
  ['log', 'a * a + 0.5'],
  ['sqrt', 'a * a + 0.5'],
  ['rsqrt', 'a * a + 0.5'],
  ['tanh', 'a'],
  ['sigmoid', 'a'],
  ['relu', 'a'],
  ['silu', 'a'],
  ['abs', 'a'],
  ['fast_gelu', 'a'],
  ['softplus', 'a * 4.0'],
] as const) {
  add({ name: `${op}`, source: model(`${P('a', [3, 5])}\n  let y = ${op}(${arg})\n${lossOf('y', [3, 5])}`) });
}
add({ name: 'gelu exact', source: model(`${P('a', [7])}\n  let y = gelu(a)\n${lossOf('y', [7])}`) });
add({ name: 'gelu tanh', source: model(`${P('a', [7])}\n  let y = gelu(a, approximate = "tanh")\n${lossOf('y', [7])}`) });
// --- binary with broadcasting on both sides
for (const op of ['+', '-', '*', '/']) {
  add({
    name: `a ${op} b with broadcasting`,
    source: model(`${P('a', [2, 1, 4])}\n${P('b', [3, 1])}\n  let y = a ${op} (b * b + 1.0)\n${lossOf('y', [2, 3, 4])}`),
  });
}
add({ name: 'pow', source: model(`${P('a', [3, 4])}\n${P('b', [4])}\n  let y = (a * a + 0.5) ** b\n${lossOf('y', [3, 4])}`) });
add({ name: 'maximum and minimum', source: model(`${P('a', [3, 4])}\n${P('b', [4])}\n  let y = maximum(a, b) + minimum(a, b) * 2.0\n${lossOf('y', [3, 4])}`) });
add({
  name: 'where',
  source: model(`${P('a', [3, 4])}\n${P('b', [4])}\n  let y = where(c, a, b)\n${lossOf('y', [3, 4])}`, 'c: i32[3, 4]'),
  opts: { inputs: { c: [1, 0, 0, 1, 1, 1, 0, 0, 0, 1, 0, 1] } },
});
// cast rounds to f32 in the reference (steps of ~6e-8 relative), so a small h would measure
// the rounding: cast is linear, so h = 1e-2 has no truncation error and rounding ≤ 1e-5.
add({ name: 'cast f32 → f32', source: model(`${P('a', [3, 4])}\n  let y = cast(a * 3.0, "f32")\n${lossOf('y', [3, 4])}`), opts: { h: 1e-2, tol: 1e-4 } });
add({ name: 'expand', source: model(`${P('a', [1, 4])}\n  let y = expand(a, [3, 4])\n${lossOf('y', [3, 4])}`) });
add({
  name: 'dropout in training (same mask forward and backward)',
  source: model(`${P('a', [4, 8])}\n  let y = dropout(a, 0.3, seed = 5)\n${lossOf('y', [4, 8])}`),
  opts: { training: true },
});
// --- matmul: plain, batched, broadcast batch
add({ name: 'matmul [5, 3] @ [3, 4]', source: model(`${P('a', [5, 3])}\n${P('b', [3, 4])}\n  let y = a @ b\n${lossOf('y', [5, 4])}`) });
add({
  name: 'matmul [2, 5, 3] @ [3, 4] (shared weight)',
  source: model(`${P('a', [2, 5, 3])}\n${P('b', [3, 4])}\n  let y = a @ b\n${lossOf('y', [2, 5, 4])}`),
});
add({
  name: 'matmul [2, 1, 5, 3] @ [3, 3, 2] (both batch dims broadcast)',
  source: model(`${P('a', [2, 1, 5, 3])}\n${P('b', [3, 3, 2])}\n  let y = a @ b\n${lossOf('y', [2, 3, 5, 2])}`),
});
// --- reductions
for (const [op, keep] of [
  ['sum', false],
  ['mean', true],
  ['max', false],
  ['min', true],
] as const) {
  const out = keep ? [3, 1, 5] : [3, 5];
  add({
    name: `${op} over axis 1${keep ? ' (keepdim)' : ''}`,
    source: model(`${P('a', [3, 4, 5])}\n  let y = ${op}(a, axis = 1${keep ? ', keepdim = true' : ''})\n${lossOf('y', out)}`),
  });
}
add({ name: 'softmax over axis 0', source: model(`${P('a', [4, 3])}\n  let y = softmax(a, axis = 0)\n${lossOf('y', [4, 3])}`) });
add({ name: 'log_softmax', source: model(`${P('a', [3, 6])}\n  let y = log_softmax(a)\n${lossOf('y', [3, 6])}`) });
add({
  name: 'layer_norm with weight and bias',
  source: model(`${P('a', [3, 7])}\n${P('w', [7])}\n${P('b', [7])}\n  let y = layer_norm(a, w, b, 1e-5)\n${lossOf('y', [3, 7])}`),
});
add({ name: 'layer_norm without weight', source: model(`${P('a', [2, 3, 5])}\n  let y = layer_norm(a)\n${lossOf('y', [2, 3, 5])}`) });
add({ name: 'rms_norm with weight', source: model(`${P('a', [3, 6])}\n${P('w', [6])}\n  let y = rms_norm(a, w, 1e-6)\n${lossOf('y', [3, 6])}`) });
// --- model building blocks
add({
  name: 'embedding (repeated and out-of-range ids)',
  source: model(`${P('t', [5, 4])}\n  let y = embedding(t, ids)\n${lossOf('y', [2, 3, 4])}`, 'ids: i32[2, 3]'),
  opts: { inputs: { ids: [1, 3, 1, 0, 7, 4] }, samples: 20 },
});
add({
  name: 'relative_position_bias, bidirectional (pairs sharing buckets)',
  source: model(`${P('t', [8, 2])}\n  let y = relative_position_bias(t, 5, 11, max_distance = 6)\n${lossOf('y', [2, 5, 11])}`),
});
add({
  // Through softmax, as attention uses it: a loss weighting the −1e9 entries directly would drown the finite differences in rounding.
  name: 'relative_position_bias, causal, through softmax',
  source: model(
    `${P('t', [6, 3])}\n  let y = softmax(relative_position_bias(t, 7, 7, bidirectional = false, causal = true), axis = -1)\n${lossOf('y', [3, 7, 7])}`,
  ),
});
add({ name: 'rotary', source: model(`${P('a', [2, 3, 8])}\n  let y = rotary(a, 2, 100.0, offset = 1)\n${lossOf('y', [2, 3, 8])}`) });
add({
  name: 'attention, causal, grouped KV heads',
  source: model(
    `${P('q', [2, 3, 8])}\n${P('k', [2, 4, 4])}\n${P('v', [2, 4, 4])}\n  let y = attention(q, k, v, heads = 4, kv_heads = 2, causal = true)\n${lossOf('y', [2, 3, 8])}`,
  ),
  opts: { samples: 10 },
});
add({
  name: 'attention with a padding mask',
  source: model(
    `${P('q', [2, 3, 4])}\n${P('k', [2, 3, 4])}\n${P('v', [2, 3, 4])}\n  let y = attention(q, k, v, mask, heads = 2)\n${lossOf('y', [2, 3, 4])}`,
    'mask: i32[2, 3]',
  ),
  opts: { inputs: { mask: [1, 1, 0, 1, 0, 1] }, samples: 10 },
});
add({ name: 'topk values', source: model(`${P('a', [3, 6])}\n  let v, i = topk(a, 2)\n${lossOf('v', [3, 2])}`) });
add({
  name: 'slice, split and concat',
  source: model(`${P('a', [3, 6])}\n  let p, q = split(a, 2, axis = 1)\n  let y = concat([slice(a, 1, 0, 3), p * q], axis = 0)\n${lossOf('y', [6, 3])}`),
});
add({ name: 'reshape and transpose', source: model(`${P('a', [2, 3, 4])}\n  let y = transpose(reshape(a, [6, 4]), [1, 0])\n${lossOf('y', [4, 6])}`) });
add({
  name: 'cross_entropy (one label out of range)',
  source: model(`${P('a', [4, 5])}\n  let loss = cross_entropy(a * 2.0, labels)\n  return loss`, 'labels: i32[4]'),
  opts: { inputs: { labels: [1, 4, -1, 0] } },
});
add({ name: 'patchify', source: model(`${P('a', [1, 2, 4, 4])}\n  let y = patchify(a, 2)\n${lossOf('y', [1, 4, 8])}`) });
add({
  name: 'conv2d with stride and padding',
  source: model(`${P('x', [1, 2, 5, 5])}\n${P('w', [3, 2, 3, 3])}\n  let y = conv2d(x, w, stride = 2, padding = 1)\n${lossOf('y', [1, 3, 3, 3])}`),
  opts: { samples: 10 },
});
add({
  name: 'moe_dispatch and moe_combine (gates and experts; a choice overflows)',
  source: model(
    `${P('x', [6, 3])}\n${P('gates', [6, 2])}\n${P('w', [3, 3, 3])}\n  let h = moe_dispatch(x, choice, experts = 3, capacity = 2, groups = 2)\n  let y = moe_combine(h @ w, choice, gates, groups = 2)\n${lossOf('y', [6, 3])}`,
    'choice: i32[6, 2]',
  ),
  opts: { inputs: { choice: [0, 1, 0, 2, 0, 1, 2, 2, 1, 0, 2, 1] }, samples: 12 },
});

describe('gradients against central finite differences (float64, CPU reference)', () => {
  it.each(cases.map((c) => [c.name, c] as const))('%s', (_n, c) => {
    expect(checkGradients(c.source, c.opts)).toBeGreaterThan(0);
  });

  it('every forward op has a case above', () => {
    const covered = new Set<string>();
    for (const c of cases) {
      const r = lower(c.source, 'grad.model', { training: !!c.opts?.training });
      for (const n of r.graph?.nodes ?? []) covered.add(n.op);
      if (/\bsplit\(/.test(c.source)) covered.add('split');
    }
    expect([...OPS.keys()].filter((op) => !covered.has(op))).toEqual([]);
  });
});

describe('whole-model gradient', () => {
  // The 2-layer GPT sample at width 128 would take minutes of finite differences over
  // every parameter; instead a random subset of entries of every parameter is checked.
  it('2-layer GPT-2 (tiny preset, 16 tokens) with a cross-entropy loss', () => {
    const src = readFileSync('samples/gpt2.model', 'utf8')
      .replace(/model GPT2\(tokens: i32\[B@dp, S\]\) -> f32\[B@dp, S, vocab\]/, 'model GPT2(tokens: i32[B@dp, S], labels: i32[B, S]) -> f32[]')
      .replace('  return logits\n}', '  let loss = cross_entropy(logits, labels)\n  return loss\n}')
      // Its train section names the logits, which this variant no longer returns.
      .replace(/\ntrain GPT2 \{[\s\S]*?\n\}\n/, '\n');
    expect(src).toContain('cross_entropy(logits, labels)');
    expect(src).not.toContain('train GPT2');
    const tokens = Array.from({ length: 32 }, (_, i) => (i * 37) % 1024);
    const labels = Array.from({ length: 32 }, (_, i) => (i * 91 + 5) % 1024);
    expect(checkGradients(src, { preset: 'tiny', dims: { B: 2, S: 16 }, inputs: { tokens, labels }, samples: 2, seed: 3 })).toBeGreaterThan(60);
  });
});
