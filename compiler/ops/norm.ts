import { dimConst, dimEquals } from '../dims.js';
import type { Value } from '../ir.js';
import { printType, type TType } from '../types.js';
import type { GradRule } from './grad-ctx.js';
import { defineOp, type OpDef } from './op.js';
import { dims, einsum, spec } from './sharding.js';
import { requireFloat, requireRank, t, type InferCtx } from './signature.js';
import { zeros, type RefOp } from './tensor.js';
import { numel } from '../../layout/mesh.js';

/** Layer norm and RMS norm over the last dim, with an optional affine weight (and bias). */

/** `has_weight` and `has_bias` are set by elaboration for the optional tensors given; they follow x as inputs 1 and 2. */
export type NormAttrs = { readonly eps: number; readonly has_weight?: boolean; readonly has_bias?: boolean };

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

const normRef =
  (rms: boolean): RefOp<NormAttrs> =>
  (ins, a) => {
    const x = ins[0]!;
    let k = 1;
    const w = a.has_weight ? ins[k++] : undefined;
    const b = a.has_bias ? ins[k++] : undefined;
    const d = x.shape[x.shape.length - 1]!;
    const out = zeros(x.shape);
    for (let r = 0; r < x.data.length / d; r++) {
      const row = x.data.subarray(r * d, r * d + d);
      let mean = 0;
      if (!rms) {
        for (const v of row) mean += v;
        mean /= d;
      }
      let v2 = 0;
      for (const v of row) v2 += (v - mean) * (v - mean);
      const inv = 1 / Math.sqrt(v2 / d + a.eps);
      for (let j = 0; j < d; j++) out.data[r * d + j] = (row[j]! - mean) * inv * (w ? w.data[j]! : 1) + (b ? b.data[j]! : 0);
    }
    return [out];
  };

/** Closed-form backward of layer norm and RMS norm, recomputing the row statistics. */
const normGrad =
  (rms: boolean): GradRule<NormAttrs> =>
  (c, ins, _outs, [g], a) => {
    if (!g) return [];
    const x = ins[0]!;
    let k = 1;
    const w = a.has_weight ? ins[k++] : undefined;
    const bias = a.has_bias ? ins[k++] : undefined;
    const ax = x.type.dims.length - 1;
    const eps = c.scalar(a.eps, x.type.dtype);
    const xc = rms ? x : c.bin('sub', x, c.reduceKeep('mean', x, ax));
    const rstd = c.op('rsqrt', [c.bin('add', c.reduceKeep('mean', c.bin('mul', xc, xc), ax), eps)], {
      dtype: x.type.dtype,
      dims: x.type.dims.map((d, i) => (i === ax ? dimConst(1) : d)),
    });
    const xhat = c.bin('mul', xc, rstd);
    const gh = w ? c.bin('mul', g, w) : g;
    let inner = c.bin('mul', xhat, c.reduceKeep('mean', c.bin('mul', gh, xhat), ax));
    if (!rms) inner = c.bin('add', inner, c.reduceKeep('mean', gh, ax));
    const gx = c.bin('mul', rstd, c.bin('sub', gh, inner));
    const out: (Value | undefined)[] = [gx];
    if (w) out.push(c.sumTo(c.bin('mul', g, xhat), w.type));
    if (bias) out.push(c.sumTo(g, bias.type));
    return out;
  };

const norm = (name: string, rms: boolean, doc: string, eps: number): OpDef =>
  defineOp<NormAttrs>({
    name,
    cls: 'reduction',
    doc,
    args: [
      { name: 'x', kind: 'tensor' },
      { name: 'weight', kind: 'tensor', default: null },
      ...(rms ? [] : [{ name: 'bias', kind: 'tensor', default: null } as const]),
      { name: 'eps', kind: 'float', default: eps, positive: true },
    ],
    infer: (c) => {
      const x = c.tensor('x');
      if (!requireRank(c, x, 1) || !requireFloat(c, 'x', x)) return undefined;
      if (!checkAffine(c, x, c.optTensor('weight'), 'weight') || (!rms && !checkAffine(c, x, c.optTensor('bias'), 'bias'))) return undefined;
      return [t(x.dtype, x.dims)];
    },
    reference: normRef(rms),
    // Per element: the square and the variance's add, the normalising multiply, and for
    // layer norm the mean's add and the centring subtract; the weight's multiply, the bias's add.
    flops: ([x], _o, a) => ((rms ? 3 : 5) + (a.has_weight ? 1 : 0) + (a.has_bias ? 1 : 0)) * numel(x!),
    grad: normGrad(rms),
    sharding: (_a, ins, [o]) => {
      const r = o!.length;
      const last = `d${r - 1}`;
      const why = { [last]: `${name} normalises along it` };
      return spec(
        einsum(
          ins.map((s, i) => (i === 0 ? dims('d', r) : s.length === 1 ? [last] : dims(`w${i}_`, s.length))),
          [dims('d', r)],
          { whole: why },
        ),
        'none',
        why,
      );
    },
    kernel: 'norm',
  });

export const normOps: OpDef[] = [
  norm('layer_norm', false, 'layer_norm(x, weight, bias, eps = 1e-5): normalise over the last dim, then scale and shift.', 1e-5),
  norm('rms_norm', true, 'rms_norm(x, weight, eps = 1e-6): x / sqrt(mean(x²) + eps) · weight over the last dim (LLaMA).', 1e-6),
];
