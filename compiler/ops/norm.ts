import { dimEquals } from '../dims.js';
import { printType, type TType } from '../types.js';
import { requireFloat, requireRank, t, type InferCtx, type OpDef } from './signature.js';

function checkAffine(c: InferCtx, x: TType, w: TType | undefined, what: string): boolean {
  if (!w) return true;
  const last = x.dims[x.dims.length - 1]!;
  if (w.dims.length !== 1 || !dimEquals(w.dims[0]!, last)) {
    c.error('MDC0214', c.op, printType(x), printType(w), `${what} must be 1-D of the last dim's size`);
    return false;
  }
  if (w.dtype !== x.dtype) {
    c.error('MDC0301', c.op, printType(x), printType(w));
    return false;
  }
  return true;
}

export const normOps: OpDef[] = [
  {
    name: 'layer_norm', cls: 'reduction',
    doc: 'layer_norm(x, weight, bias, eps = 1e-5): normalise over the last dim, then scale and shift.',
    args: [{ name: 'x', kind: 'tensor' }, { name: 'weight', kind: 'tensor', default: null }, { name: 'bias', kind: 'tensor', default: null }, { name: 'eps', kind: 'float', default: 1e-5 }],
    infer: (c) => {
      const x = c.tensor('x');
      if (!requireRank(c, x, 1) || !requireFloat(c, 'x', x)) return undefined;
      if (!checkAffine(c, x, c.optTensor('weight'), 'weight') || !checkAffine(c, x, c.optTensor('bias'), 'bias')) return undefined;
      return [t(x.dtype, x.dims)];
    },
  },
  {
    name: 'rms_norm', cls: 'reduction',
    doc: 'rms_norm(x, weight, eps = 1e-6): x / sqrt(mean(x²) + eps) · weight over the last dim (LLaMA).',
    args: [{ name: 'x', kind: 'tensor' }, { name: 'weight', kind: 'tensor', default: null }, { name: 'eps', kind: 'float', default: 1e-6 }],
    infer: (c) => {
      const x = c.tensor('x');
      if (!requireRank(c, x, 1) || !requireFloat(c, 'x', x)) return undefined;
      if (!checkAffine(c, x, c.optTensor('weight'), 'weight')) return undefined;
      return [t(x.dtype, x.dims)];
    },
  },
];
