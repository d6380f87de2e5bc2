import { dimConst, dimValue } from '../dims.js';
import type { Value } from '../ir.js';
import type { Ctx, GradRule } from './grad-ctx.js';
import { defineInternalOp, defineOp, type OpDef, type OpFacets, type RowFold } from './op.js';
import { dims, einsum, spec, type Names } from './sharding.js';
import { normAxis, requireFloat, requireRank, t } from './signature.js';
import { around, zeros, type RefOp } from './tensor.js';
import { numel } from '../../layout/mesh.js';

/** Reductions along one axis (sum, mean, max, min) and softmax / log_softmax along one axis. */

export type ReduceAttrs = { readonly axis: number; readonly keepdim?: boolean };
export type AxisAttrs = { readonly axis: number };

/** How sum, mean, max and min fold a row, in order from `init` (mean divides by the length after). */
const FOLD: Readonly<Record<string, RowFold>> = {
  sum: { init: 0, f: (a, v) => a + v },
  mean: { init: 0, f: (a, v) => a + v, mean: true },
  max: { init: -Infinity, f: Math.max },
  min: { init: Infinity, f: Math.min },
};

const reduceRef = (fold: RowFold): RefOp<ReduceAttrs> => {
  return ([x], a, [shape]) => {
    const { outer, len, inner } = around(x!.shape, a.axis);
    const out = zeros(shape!);
    for (let o = 0; o < outer; o++) {
      for (let k = 0; k < inner; k++) {
        let acc = fold.init;
        for (let j = 0; j < len; j++) acc = fold.f(acc, x!.data[o * len * inner + j * inner + k]!);
        out.data[o * inner + k] = fold.mean ? acc / len : acc;
      }
    }
    return [out];
  };
};

/** The gradient of a sum over `axis`: g with the axis restored (keepdim), expanded back to x's shape. */
function expandBack(c: Ctx, g: Value, x: Value, a: ReduceAttrs): Value {
  const keep = { dtype: g.type.dtype, dims: x.type.dims.map((d, i) => (i === a.axis ? dimConst(1) : d)) };
  const gk = a.keepdim ? g : c.op('reshape', [g], keep, { shape: keep.dims });
  return c.op('expand', [gk], x.type, { shape: x.type.dims });
}

const REDUCE_GRAD: Readonly<Record<string, GradRule<ReduceAttrs>>> = {
  sum: (c, [x], _o, [g], a) => [g && expandBack(c, g, x!, a)],
  mean: (c, [x], _o, [g], a) => {
    if (!g) return [];
    const n = dimValue(x!.type.dims[a.axis]!)!;
    return [c.bin('mul', expandBack(c, g, x!, a), c.scalar(1 / n, x!.type.dtype))];
  },
  // The gradient goes to the first position that attains the extreme.
  max: (c, [x], [y], [g], a) => [g && c.op('reduce_grad', [g, x!, y!], x!.type, { op: 'max', axis: a.axis })],
  min: (c, [x], [y], [g], a) => [g && c.op('reduce_grad', [g, x!, y!], x!.type, { op: 'min', axis: a.axis })],
};

const reduction = (name: string, doc: string): OpDef =>
  defineOp<ReduceAttrs>({
    name,
    cls: 'reduction',
    doc,
    args: [
      { name: 'x', kind: 'tensor' },
      { name: 'axis', kind: 'int', default: -1 },
      { name: 'keepdim', kind: 'bool', default: false, kwOnly: true },
    ],
    infer: (c) => {
      const x = c.tensor('x');
      if (!requireRank(c, x, 1)) return undefined;
      // An integer mean would have to round: ask for a cast instead of guessing how.
      if (name === 'mean' && !requireFloat(c, 'x', x)) return undefined;
      const axis = normAxis(c, c.int('axis'), x.dims.length);
      if (axis === undefined) return undefined;
      c.set('axis', axis);
      const dims = c.bool('keepdim') ? x.dims.map((d, i) => (i === axis ? dimConst(1) : d)) : x.dims.filter((_, i) => i !== axis);
      return [t(x.dtype, dims)];
    },
    reference: reduceRef(FOLD[name]!),
    // Over the last axis, fusion puts it in a rows body with the element-wise ops around it.
    fold: FOLD[name]!,
    // One add or comparison per input element.
    flops: ([x]) => numel(x!),
    grad: REDUCE_GRAD[name]!,
    // A split axis leaves sum (and mean, which is linear too) a pending sum; max and min need it whole.
    sharding: (a, [x]) => {
      const names = dims('d', x!.length);
      const outNames: Names = a.keepdim ? names.map((n, i) => (i === a.axis ? null : n)) : names.filter((_, i) => i !== a.axis);
      const sumLike = name === 'sum';
      const why = sumLike ? {} : { [`d${a.axis}`]: `${name} reduces along it` };
      return spec(einsum([names], [outNames], { contract: sumLike, ...(sumLike ? {} : { whole: why }) }), sumLike || name === 'mean' ? 'joint' : 'none', why);
    },
    kernel: 'reduce',
  });

const softmaxRef =
  (log: boolean): RefOp<AxisAttrs> =>
  ([x], a) => {
    const { outer, len, inner } = around(x!.shape, a.axis);
    const out = zeros(x!.shape);
    for (let o = 0; o < outer; o++) {
      for (let k = 0; k < inner; k++) {
        const at = (j: number) => o * len * inner + j * inner + k;
        let m = -Infinity;
        for (let j = 0; j < len; j++) m = Math.max(m, x!.data[at(j)]!);
        let s = 0;
        for (let j = 0; j < len; j++) s += Math.exp(x!.data[at(j)]! - m);
        for (let j = 0; j < len; j++) out.data[at(j)] = log ? x!.data[at(j)]! - m - Math.log(s) : Math.exp(x!.data[at(j)]! - m) / s;
      }
    }
    return [out];
  };

const softmaxLike = (name: string, doc: string, log: boolean, grad: GradRule<AxisAttrs>): OpDef =>
  defineOp<AxisAttrs>({
    name,
    cls: 'reduction',
    doc,
    args: [
      { name: 'x', kind: 'tensor' },
      { name: 'axis', kind: 'int', default: -1 },
    ],
    infer: (c) => {
      const x = c.tensor('x');
      if (!requireRank(c, x, 1) || !requireFloat(c, 'x', x)) return undefined;
      const axis = normAxis(c, c.int('axis'), x.dims.length);
      if (axis === undefined) return undefined;
      c.set('axis', axis);
      return [t(x.dtype, x.dims)];
    },
    reference: softmaxRef(log),
    // Per element: the max's comparison, x - max, exp, the sum's add, and the divide (softmax) or subtract (log_softmax).
    flops: ([x]) => 5 * numel(x!),
    grad,
    sharding: (a, _i, [o]) => {
      const r = o!.length;
      const why = { [`d${a.axis}`]: `${name} normalises along it` };
      return spec(einsum([dims('d', r)], [dims('d', r)], { whole: why }), 'none', why);
    },
    kernel: 'softmax',
  });

export const reduceOps: OpDef[] = [
  reduction('sum', 'sum(x, axis = -1, keepdim = false): sum along one axis.'),
  reduction('mean', 'mean(x, axis = -1, keepdim = false): mean along one axis.'),
  reduction('max', 'max(x, axis = -1, keepdim = false): maximum along one axis.'),
  reduction('min', 'min(x, axis = -1, keepdim = false): minimum along one axis.'),
  // Closed forms: y·(g − Σ g·y) and g − exp(y)·Σ g.
  softmaxLike('softmax', 'softmax(x, axis = -1): exp(x - max) / sum, numerically stable.', false, (c, _i, [y], [g], a) => {
    if (!g) return [];
    return [c.bin('mul', y!, c.bin('sub', g, c.reduceKeep('sum', c.bin('mul', g, y!), a.axis)))];
  }),
  softmaxLike('log_softmax', 'log_softmax(x, axis = -1): x - max - log(sum(exp(x - max))).', true, (c, _i, [y], [g], a) => {
    if (!g) return [];
    return [c.bin('sub', g, c.bin('mul', c.op('exp', [y!], y!.type), c.reduceKeep('sum', g, a.axis)))];
  }),
];

export type ReduceGradAttrs = { readonly op: 'max' | 'min'; readonly axis: number };

/** max/min along `axis`: g (reduced shape, keepdim or not) goes to the first position that attains the extreme. */
const reduceGradRef: RefOp<ReduceGradAttrs> = ([g, x, y], a) => {
  const shape = x!.shape;
  const { outer, len: n, inner } = around(shape, a.axis);
  const out = zeros(shape);
  for (let o = 0; o < outer; o++) {
    for (let r = 0; r < inner; r++) {
      const want = y!.data[o * inner + r]!;
      for (let j = 0; j < n; j++) {
        const idx = (o * n + j) * inner + r;
        if (x!.data[idx] === want || (Number.isNaN(want) && Number.isNaN(x!.data[idx]!))) {
          out.data[idx] = g!.data[o * inner + r]!;
          break;
        }
      }
    }
  }
  return [out];
};

export const reduceInternalOps: OpFacets[] = [
  defineInternalOp<ReduceGradAttrs>({
    name: 'reduce_grad',
    cls: 'opaque',
    doc: 'reduce_grad(g, x, y, op, axis): the gradient of y = max/min(x, axis): g at the first position of each row that attains y.',
    reference: reduceGradRef,
    // A comparison per element of x.
    flops: ([, x]) => numel(x!),
    grad: 'none',
    sharding: (a, [g], [o]) => {
      const r = o!.length;
      const names = dims('d', r);
      const gn = g!.length === r ? names.map((n, i) => (i === a.axis ? null : n)) : names.filter((_, i) => i !== a.axis);
      const why = { [`d${a.axis}`]: 'the gradient of max/min goes to one position along it' };
      return spec(einsum([gn, names, gn], [names], { whole: why }), 'first', why);
    },
    kernel: 'reduce_grad',
  }),
];
