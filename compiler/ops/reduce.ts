import { dimConst } from '../dims.js';
import { normAxis, requireFloat, requireRank, t, type OpDef } from './signature.js';

function reduction(name: string, doc: string): OpDef {
  return {
    name, cls: 'reduction', doc,
    args: [{ name: 'x', kind: 'tensor' }, { name: 'axis', kind: 'int', default: -1 }, { name: 'keepdim', kind: 'bool', default: false, kwOnly: true }],
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
  };
}

function softmaxLike(name: string, doc: string): OpDef {
  return {
    name, cls: 'reduction', doc,
    args: [{ name: 'x', kind: 'tensor' }, { name: 'axis', kind: 'int', default: -1 }],
    infer: (c) => {
      const x = c.tensor('x');
      if (!requireRank(c, x, 1) || !requireFloat(c, 'x', x)) return undefined;
      const axis = normAxis(c, c.int('axis'), x.dims.length);
      if (axis === undefined) return undefined;
      c.set('axis', axis);
      return [t(x.dtype, x.dims)];
    },
  };
}

export const reduceOps: OpDef[] = [
  reduction('sum', 'sum(x, axis = -1, keepdim = false): sum along one axis.'),
  reduction('mean', 'mean(x, axis = -1, keepdim = false): mean along one axis.'),
  reduction('max', 'max(x, axis = -1, keepdim = false): maximum along one axis.'),
  reduction('min', 'min(x, axis = -1, keepdim = false): minimum along one axis.'),
  softmaxLike('softmax', 'softmax(x, axis = -1): exp(x - max) / sum, numerically stable.'),
  softmaxLike('log_softmax', 'log_softmax(x, axis = -1): x - max - log(sum(exp(x - max))).'),
];
