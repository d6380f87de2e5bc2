import { dimEquals } from '../dims.js';
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
