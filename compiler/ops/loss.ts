import { dimConst, dimEquals, dimValue, type Dim } from '../dims.js';
import type { Value } from '../ir.js';
import type { Ctx } from './grad-ctx.js';
import type { TType } from '../types.js';
import { printType } from '../types.js';
import { defineInternalOp, defineOp, type OpDef, type OpFacets } from './op.js';
import { wholeAll } from './sharding.js';
import { requireFloat, requireIntDtype, requireRank, t } from './signature.js';
import { zeros, type RefOp } from './tensor.js';
import { numel } from '../../layout/mesh.js';

/** The cross-entropy loss (mean over the positions with a label in range) and its backward op. */

const crossEntropyRef: RefOp<unknown> = ([lg, lb]) => {
  const V = lg!.shape[lg!.shape.length - 1]!;
  let total = 0;
  let count = 0;
  for (let r = 0; r < lb!.data.length; r++) {
    const label = lb!.data[r]!;
    if (label < 0 || label >= V) continue;
    const row = lg!.data.subarray(r * V, r * V + V);
    let m = -Infinity;
    for (const v of row) m = Math.max(m, v);
    let s = 0;
    for (const v of row) s += Math.exp(v - m);
    total += Math.log(s) + m - row[label]!;
    count++;
  }
  return [{ shape: [], data: Float64Array.of(total / Math.max(count, 1)) }];
};

/** cross_entropy (mean over rows with a valid label): g · (softmax(logits) − onehot(label)) / count. */
const crossEntropyGradRef: RefOp<unknown> = ([g, lg, lb]) => {
  const V = lg!.shape[lg!.shape.length - 1]!;
  const out = zeros(lg!.shape);
  let count = 0;
  for (let r = 0; r < lb!.data.length; r++) if (lb!.data[r]! >= 0 && lb!.data[r]! < V) count++;
  const scale = g!.data[0]! / Math.max(count, 1);
  for (let r = 0; r < lb!.data.length; r++) {
    const label = lb!.data[r]!;
    if (label < 0 || label >= V) continue;
    const row = lg!.data.subarray(r * V, r * V + V);
    let m = -Infinity;
    for (const v of row) m = Math.max(m, v);
    let s = 0;
    for (const v of row) s += Math.exp(v - m);
    for (let j = 0; j < V; j++) out.data[r * V + j] = scale * (Math.exp(row[j]! - m) / s - (j === label ? 1 : 0));
  }
  return [out];
};

export const lossOps: OpDef[] = [
  defineOp<unknown>({
    name: 'cross_entropy',
    cls: 'reduction',
    doc: 'cross_entropy(logits, labels): mean over positions of -log softmax(logits)[label]; logits[..., V], labels i32[...].',
    args: [
      { name: 'logits', kind: 'tensor' },
      { name: 'labels', kind: 'tensor' },
    ],
    infer: (c) => {
      const lg = c.tensor('logits');
      const lb = c.tensor('labels');
      if (!requireRank(c, lg, 1) || !requireFloat(c, 'logits', lg) || !requireIntDtype(c, 'labels', lb)) return undefined;
      const lead = lg.dims.slice(0, -1);
      if (lb.dims.length !== lead.length || lb.dims.some((d, i) => !dimEquals(d, lead[i]!))) {
        return c.error('MDC0214', 'cross_entropy', printType(lg), printType(lb), 'labels must have the shape of logits without its last dim');
      }
      return [t('f32', [])];
    },
    reference: crossEntropyRef,
    // Per logit: the row's max comparison, x - max, exp and the sum's add.
    flops: ([lg]) => 4 * numel(lg!),
    // softmax − onehot per row, scaled by g over the count (cross_entropy_grad); labels have none.
    grad: (c, [lg, lb], _o, [g]) => [g && c.op('cross_entropy_grad', [g, lg!, lb!], lg!.type), undefined],
    sharding: (_a, ins, outs) => wholeAll(ins, outs, 'cross_entropy averages over every position'),
    kernel: 'cross_entropy',
  }),
];

export const lossInternalOps: OpFacets[] = [
  defineInternalOp<unknown>({
    name: 'cross_entropy_grad',
    cls: 'opaque',
    doc: 'cross_entropy_grad(g, logits, labels): g · (softmax(logits) − onehot(label)) / count, per row with a label in range.',
    reference: crossEntropyGradRef,
    // Per logit: the softmax recomputed (max, subtract, exp, add), its divide and the scale.
    flops: ([, lg]) => 6 * numel(lg!),
    grad: 'none',
    sharding: (_a, ins, outs) => wholeAll(ins, outs, 'the loss gradient divides by the global count of labels'),
    kernel: 'cross_entropy_grad',
  }),
];

// ---- Losses composed of other ops ----
// mse and contrastive are built from ops that already have a reference, a gradient and a
// kernel (element-wise ops, sums, matmul, transpose, exp, log), so autodiff differentiates
// them and codegen fuses them like any other graph: they need no op of their own.

/** mean((pred − target)²) over every element; pred and target of one shape. */
export function mseLoss(c: Ctx, pred: Value, target: Value): Value {
  const n = pred.type.dims.reduce((a, x) => a * dimValue(x)!, 1);
  const diff = c.bin('sub', pred, target);
  const flat = c.op('reshape', [c.bin('mul', diff, diff)], { dtype: 'f32', dims: [dimConst(n)] }, { shape: [dimConst(n)] });
  return c.bin('mul', c.op('sum', [flat], { dtype: 'f32', dims: [] }, { axis: 0, keepdim: false }), c.scalar(1 / n, 'f32'));
}

/** The temperature of the contrastive loss: cosine similarities in [-1, 1] become logits in [-10, 10]. */
export const CONTRASTIVE_TEMPERATURE = 0.1;

/**
 * InfoNCE in both directions (CLIP's loss) between rows of a and b, f32[B, D]: rows are
 * L2-normalised, S = a·bᵀ / τ, and the loss is the mean over i of
 * ½(log Σ_j exp S_ij + log Σ_j exp S_ji) − S_ii, so row i of a should match row i of b
 * and no other. |S| ≤ 1/τ = 10 keeps exp in range without subtracting a maximum.
 */
export function contrastiveLoss(c: Ctx, a: Value, bv: Value): Value {
  const [B, D] = a.type.dims as [Dim, Dim];
  const f32 = (...dims: Dim[]): TType => ({ dtype: 'f32', dims });
  const normed = (v: Value) => {
    const sq = c.op('sum', [c.bin('mul', v, v)], f32(B, dimConst(1)), { axis: 1, keepdim: true });
    return c.bin('div', v, c.op('sqrt', [c.bin('add', sq, c.scalar(1e-12, 'f32'))], f32(B, dimConst(1))));
  };
  const an = normed(a);
  const bn = normed(bv);
  const inv = c.scalar(1 / CONTRASTIVE_TEMPERATURE, 'f32');
  const s = c.bin('mul', c.op('matmul', [an, c.op('transpose', [bn], f32(D, B), { perm: [1, 0] })], f32(B, B)), inv);
  const e = c.op('exp', [s], s.type);
  const lse = (axis: number) => c.op('log', [c.op('sum', [e], f32(B), { axis, keepdim: false })], f32(B));
  const diagonal = c.bin('mul', c.op('sum', [c.bin('mul', an, bn)], f32(B), { axis: 1, keepdim: false }), inv);
  const per = c.bin('sub', c.bin('mul', c.bin('add', lse(1), lse(0)), c.scalar(0.5, 'f32')), diagonal);
  return c.op('mean', [per], f32(), { axis: 0, keepdim: false });
}
