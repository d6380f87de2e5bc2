import { dimAdd, dimConst, dimDiv, dimEquals, dimMul, dimSub, dimValue, type Dim } from '../dims.js';
import { printDim, printType } from '../types.js';
import { defineInternalOp, defineOp, type LoweredOp, type OpDef, type OpFacets } from './op.js';
import { dims, einsum, spec, type OpSpec } from './sharding.js';
import { normAxis, requireRank, t } from './signature.js';
import { forEachCoord, zeros, type RefOp } from './tensor.js';
import { numel, stridesOf } from '../../layout/mesh.js';

/**
 * Layout ops: the same elements in another shape or order, or a part of them. They move
 * data and compute nothing (0 FLOPs); reshape moves nothing at all (its output aliases its
 * input's buffer).
 */

const product = (ds: readonly Dim[]) => ds.reduce((a, b) => dimMul(a, b), dimConst(1));

export type ReshapeAttrs = { readonly shape: readonly Dim[] };
/** `perm` is normalised by the shape rule (no negative axes, a default filled in). */
export type TransposeAttrs = { readonly perm: readonly number[] };
export type SliceAttrs = { readonly axis: number; readonly start: Dim; readonly end: Dim };
export type ConcatAttrs = { readonly axis: number };
export type SliceGradAttrs = { readonly axis: number; readonly start: number };

const transposeRef: RefOp<TransposeAttrs> = ([x], a, [shape]) => {
  const st = stridesOf(x!.shape);
  const out = zeros(shape!);
  forEachCoord(shape!, (c, i) => {
    let off = 0;
    for (let d = 0; d < c.length; d++) off += c[d]! * st[a.perm[d]!]!;
    out.data[i] = x!.data[off]!;
  });
  return [out];
};

const sliceRef: RefOp<SliceAttrs> = ([x], a, [shape]) => {
  const start = dimValue(a.start)!;
  const st = stridesOf(x!.shape);
  const out = zeros(shape!);
  forEachCoord(shape!, (c, i) => {
    let off = 0;
    for (let d = 0; d < c.length; d++) off += (d === a.axis ? c[d]! + start : c[d]!) * st[d]!;
    out.data[i] = x!.data[off]!;
  });
  return [out];
};

const concatRef: RefOp<ConcatAttrs> = (ins, a, [shape]) => {
  const ost = stridesOf(shape!);
  const out = zeros(shape!);
  let offset = 0;
  for (const x of ins) {
    forEachCoord(x.shape, (c, i) => {
      let off = 0;
      for (let d = 0; d < c.length; d++) off += (d === a.axis ? c[d]! + offset : c[d]!) * ost[d]!;
      out.data[off] = x.data[i]!;
    });
    offset += x.shape[a.axis]!;
  }
  return [out];
};

/** Data movement: no arithmetic. */
const noFlops = () => 0;

/**
 * Reshape groups input and output dims into runs with equal products. Within a run only
 * the leading (major) dim may be split, and the split carries over to the run's leading
 * output dim: `[B, S, h·hd@tp] → [B, S, h@tp, hd]`.
 */
function reshapeSpec(inS: readonly number[], outS: readonly number[]): OpSpec {
  const inN: (string | null)[] = inS.map((_, i) => `i${i}`);
  const outN: (string | null)[] = outS.map((_, i) => `o${i}`);
  const whole: Record<string, string> = {};
  let i = 0;
  let j = 0;
  while (i < inS.length || j < outS.length) {
    // Size-1 dims form runs of their own and take no split.
    if (i < inS.length && inS[i] === 1) {
      whole[`i${i}`] = 'a size-1 dim';
      i++;
      continue;
    }
    if (j < outS.length && outS[j] === 1) {
      whole[`o${j}`] = 'a size-1 dim';
      j++;
      continue;
    }
    const i0 = i;
    const j0 = j;
    let pi = inS[i++] ?? 1;
    let po = outS[j++] ?? 1;
    while (pi !== po && (i < inS.length || j < outS.length)) {
      if (pi < po) pi *= inS[i++] ?? 1;
      else po *= outS[j++] ?? 1;
    }
    // The run's leading dims share one letter; the rest stay whole.
    if (i0 < inS.length && j0 < outS.length) outN[j0] = inN[i0]!;
    for (let k = i0 + 1; k < i; k++) whole[`i${k}`] = 'reshape merges it with a more major dim';
    for (let k = j0 + 1; k < j; k++) whole[`o${k}`] = 'reshape splits it off a more major dim';
  }
  return { letters: einsum([inN], [outN], { whole }), linear: 'joint', why: whole };
}

export const shapeOps: (OpDef | LoweredOp)[] = [
  defineOp<ReshapeAttrs>({
    name: 'reshape',
    cls: 'injective',
    doc: 'reshape(x, [d0, d1, ...]): same elements, new shape; one dim may be -1 (inferred).',
    args: [
      { name: 'x', kind: 'tensor' },
      { name: 'shape', kind: 'dims' },
    ],
    infer: (c) => {
      const x = c.tensor('x');
      const shape = [...c.dims('shape')];
      const total = product(x.dims);
      const hole = shape.findIndex((d) => dimValue(d) === -1);
      if (shape.filter((d) => dimValue(d) === -1).length > 1) return c.error('MDC0211', 'reshape', 'at most one dim may be -1');
      for (const d of shape) {
        const v = dimValue(d);
        if (v !== undefined && v <= 0 && v !== -1) return c.error('MDC0210', 'reshape dim', String(v));
      }
      const target = `[${shape.map(printDim).join(', ')}]`;
      if (hole >= 0) {
        const rest = product(shape.filter((_, i) => i !== hole));
        const q = dimDiv(total, rest);
        if (!q) return c.error('MDC0205', printType(x), target);
        shape[hole] = q;
      }
      if (!dimEquals(product(shape), total)) return c.error('MDC0205', printType(x), target);
      return [t(x.dtype, shape)];
    },
    reference: ([x], _a, [shape]) => [{ shape: shape!, data: x!.data }],
    flops: noFlops,
    grad: (c, [x], _o, [g]) => [g && c.op('reshape', [g], x!.type, { shape: x!.type.dims })],
    sharding: (_a, [i], [o]) => reshapeSpec(i!, o!),
    kernel: 'alias',
  }),
  defineOp<TransposeAttrs>({
    name: 'transpose',
    cls: 'injective',
    doc: 'transpose(x, [p0, p1, ...]): permute dims; without a permutation, swaps the last two.',
    args: [
      { name: 'x', kind: 'tensor' },
      { name: 'perm', kind: 'ints', default: null },
    ],
    infer: (c) => {
      const x = c.tensor('x');
      const r = x.dims.length;
      let perm = c.ints('perm');
      if (!perm) {
        if (!requireRank(c, x, 2)) return undefined;
        perm = [...Array(r).keys()].map((i) => (i === r - 2 ? r - 1 : i === r - 1 ? r - 2 : i));
      }
      const norm = perm.map((p) => (p < 0 ? p + r : p));
      if (norm.length !== r || new Set(norm).size !== r || norm.some((p) => p < 0 || p >= r)) {
        return c.error('MDC0213', `[${perm.join(', ')}]`, r);
      }
      c.set('perm', norm);
      return [
        t(
          x.dtype,
          norm.map((p) => x.dims[p]!),
        ),
      ];
    },
    reference: transposeRef,
    view: (a, src, shape) => ({ shape, strides: a.perm.map((p) => stridesOf(src)[p]!), offset: 0 }),
    flops: noFlops,
    grad: (c, [x], _o, [g], a) => (g ? [c.op('transpose', [g], x!.type, { perm: a.perm.map((_, i) => a.perm.indexOf(i)) })] : []),
    sharding: (a, _i, [o]) => {
      const names = dims('d', o!.length);
      return spec(einsum([names], [a.perm.map((p) => names[p]!)]), 'joint');
    },
    kernel: 'transpose',
  }),
  defineOp<SliceAttrs>({
    name: 'slice',
    cls: 'injective',
    doc: 'slice(x, axis, start, end): elements start ≤ i < end along one axis.',
    args: [
      { name: 'x', kind: 'tensor' },
      { name: 'axis', kind: 'int' },
      { name: 'start', kind: 'dim' },
      { name: 'end', kind: 'dim' },
    ],
    infer: (c) => {
      const x = c.tensor('x');
      const axis = normAxis(c, c.int('axis'), x.dims.length);
      if (axis === undefined) return undefined;
      const start = c.dim('start');
      const end = c.dim('end');
      const len = dimSub(end, start);
      const size = x.dims[axis]!;
      const s = dimValue(start);
      const l = dimValue(len);
      const n = dimValue(size);
      const e = dimValue(end);
      if ((s !== undefined && s < 0) || (l !== undefined && l <= 0) || (e !== undefined && n !== undefined && e > n)) {
        return c.error('MDC0212', `[${printDim(start)}, ${printDim(end)}) on a dim of size ${printDim(size)}`);
      }
      c.set('axis', axis);
      return [
        t(
          x.dtype,
          x.dims.map((d, i) => (i === axis ? len : d)),
        ),
      ];
    },
    reference: sliceRef,
    view: (a, src, shape) => ({ shape, strides: stridesOf(src), offset: dimValue(a.start)! * stridesOf(src)[a.axis]! }),
    flops: noFlops,
    grad: (c, [x], _o, [g], a) => [g && c.op('slice_grad', [g], x!.type, { axis: a.axis, start: dimValue(a.start)! })],
    sharding: (a, _i, [o]) => {
      const r = o!.length;
      const why = { [`d${a.axis}`]: 'slice cuts along it' };
      return spec(einsum([dims('d', r)], [dims('d', r)], { whole: why }), 'joint', why);
    },
    kernel: 'slice',
  }),
  {
    // One slice per part.
    lowersTo: 'slice',
    lower: (c, [x], parts, a) => {
      const axis = a['axis'] as number;
      let start = dimConst(0);
      return parts.map((p) => {
        const end = dimAdd(start, p.dims[axis]!);
        const [o] = c.node('slice', [x!], [p], { axis, start, end });
        start = end;
        return o!;
      });
    },
    name: 'split',
    cls: 'injective',
    doc: 'split(x, n, axis = -1): n equal parts along an axis, as a tuple: let q, k, v = split(qkv, 3).',
    args: [
      { name: 'x', kind: 'tensor' },
      { name: 'n', kind: 'int' },
      { name: 'axis', kind: 'int', default: -1 },
    ],
    infer: (c) => {
      const x = c.tensor('x');
      const n = c.int('n');
      if (!(n >= 1)) return c.error('MDC0210', 'split count', String(n));
      const axis = normAxis(c, c.int('axis'), x.dims.length);
      if (axis === undefined) return undefined;
      const part = dimDiv(x.dims[axis]!, dimConst(n));
      if (!part) return c.error('MDC0206', 'split', printDim(x.dims[axis]!), String(n));
      c.set('axis', axis);
      return Array.from({ length: n }, () =>
        t(
          x.dtype,
          x.dims.map((d, i) => (i === axis ? part : d)),
        ),
      );
    },
  },
  defineOp<ConcatAttrs>({
    name: 'concat',
    cls: 'injective',
    doc: 'concat([a, b, ...], axis = 0): join along an axis; other dims must match.',
    args: [
      { name: 'xs', kind: 'tensors' },
      { name: 'axis', kind: 'int', default: 0 },
    ],
    infer: (c) => {
      const xs = c.tensors('xs');
      if (xs.length === 0) return c.error('MDC0211', 'concat', 'needs at least one tensor');
      const first = xs[0]!;
      const axis = normAxis(c, c.int('axis'), first.dims.length);
      if (axis === undefined) return undefined;
      let total = dimConst(0);
      for (const x of xs) {
        if (x.dtype !== first.dtype) return c.error('MDC0301', 'concat', printType(first), printType(x));
        if (x.dims.length !== first.dims.length || x.dims.some((d, i) => i !== axis && !dimEquals(d, first.dims[i]!))) {
          return c.error('MDC0214', 'concat', printType(first), printType(x), `all dims but axis ${axis} must match`);
        }
        total = dimAdd(total, x.dims[axis]!);
      }
      c.set('axis', axis);
      return [
        t(
          first.dtype,
          first.dims.map((d, i) => (i === axis ? total : d)),
        ),
      ];
    },
    reference: concatRef,
    flops: noFlops,
    // Each input's part of g, sliced back out.
    grad: (c, ins, _o, [g], a) => {
      if (!g) return [];
      let start = 0;
      return ins.map((x) => {
        const size = dimValue(x.type.dims[a.axis]!)!;
        const part = c.op('slice', [g], x.type, { axis: a.axis, start: dimConst(start), end: dimConst(start + size) });
        start += size;
        return part;
      });
    },
    sharding: (a, ins, [o]) => {
      const r = o!.length;
      const why = { [`d${a.axis}`]: 'concat joins along it' };
      return spec(
        einsum(
          ins.map(() => dims('d', r)),
          [dims('d', r)],
          { whole: why },
        ),
        'joint',
        why,
      );
    },
    kernel: 'concat',
  }),
];

/** slice: g placed back at [start, start + size) along `axis` of a zero tensor of the input's shape. */
const sliceGradRef: RefOp<SliceGradAttrs> = ([g], a, [shape]) => {
  const out = zeros(shape!);
  const inner = numel(shape!.slice(a.axis + 1));
  const outer = numel(shape!.slice(0, a.axis));
  const n = shape![a.axis]!;
  const m = g!.shape[a.axis]!;
  for (let o = 0; o < outer; o++) out.data.set(g!.data.subarray(o * m * inner, (o + 1) * m * inner), (o * n + a.start) * inner);
  return [out];
};

export const shapeInternalOps: OpFacets[] = [
  defineInternalOp<SliceGradAttrs>({
    name: 'slice_grad',
    cls: 'injective',
    doc: "slice_grad(g, axis, start): g placed at [start, start + its size) along axis of zeros of the sliced input's shape.",
    reference: sliceGradRef,
    flops: noFlops,
    grad: 'none',
    sharding: (a, _i, [o]) => {
      const r = o!.length;
      const why = { [`i${a.axis}`]: 'slice_grad scatters along it', [`o${a.axis}`]: 'slice_grad scatters along it' };
      const inNames = dims('d', r).map((n, i) => (i === a.axis ? `i${a.axis}` : n));
      const outNames = dims('d', r).map((n, i) => (i === a.axis ? `o${a.axis}` : n));
      return spec(einsum([inNames], [outNames], { whole: why }), 'first', why);
    },
    kernel: 'slice_grad',
  }),
];
