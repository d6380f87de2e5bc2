import { dimAdd, dimConst, dimDiv, dimEquals, dimMul, dimSub, dimValue, type Dim } from '../dims.js';
import { printDim, printType } from '../types.js';
import { normAxis, requireRank, t, type OpDef } from './signature.js';

const product = (ds: readonly Dim[]) => ds.reduce((a, b) => dimMul(a, b), dimConst(1));

export const shapeOps: OpDef[] = [
  {
    name: 'reshape', cls: 'injective',
    doc: 'reshape(x, [d0, d1, ...]): same elements, new shape; one dim may be -1 (inferred).',
    args: [{ name: 'x', kind: 'tensor' }, { name: 'shape', kind: 'dims' }],
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
  },
  {
    name: 'transpose', cls: 'injective',
    doc: 'transpose(x, [p0, p1, ...]): permute dims; without a permutation, swaps the last two.',
    args: [{ name: 'x', kind: 'tensor' }, { name: 'perm', kind: 'ints', default: null }],
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
      return [t(x.dtype, norm.map((p) => x.dims[p]!))];
    },
  },
  {
    name: 'slice', cls: 'injective',
    doc: 'slice(x, axis, start, end): elements start ≤ i < end along one axis.',
    args: [{ name: 'x', kind: 'tensor' }, { name: 'axis', kind: 'int' }, { name: 'start', kind: 'dim' }, { name: 'end', kind: 'dim' }],
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
      return [t(x.dtype, x.dims.map((d, i) => (i === axis ? len : d)))];
    },
  },
  {
    name: 'split', cls: 'injective',
    doc: 'split(x, n, axis = -1): n equal parts along an axis, as a tuple: let q, k, v = split(qkv, 3).',
    args: [{ name: 'x', kind: 'tensor' }, { name: 'n', kind: 'int' }, { name: 'axis', kind: 'int', default: -1 }],
    infer: (c) => {
      const x = c.tensor('x');
      const n = c.int('n');
      if (!(n >= 1)) return c.error('MDC0210', 'split count', String(n));
      const axis = normAxis(c, c.int('axis'), x.dims.length);
      if (axis === undefined) return undefined;
      const part = dimDiv(x.dims[axis]!, dimConst(n));
      if (!part) return c.error('MDC0206', 'split', printDim(x.dims[axis]!), String(n));
      c.set('axis', axis);
      return Array.from({ length: n }, () => t(x.dtype, x.dims.map((d, i) => (i === axis ? part : d))));
    },
  },
  {
    name: 'concat', cls: 'injective',
    doc: 'concat([a, b, ...], axis = 0): join along an axis; other dims must match.',
    args: [{ name: 'xs', kind: 'tensors' }, { name: 'axis', kind: 'int', default: 0 }],
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
      return [t(first.dtype, first.dims.map((d, i) => (i === axis ? total : d)))];
    },
  },
];
