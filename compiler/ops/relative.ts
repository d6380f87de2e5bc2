import { printType } from '../types.js';
import { defineInternalOp, defineOp, type OpDef, type OpFacets } from './op.js';
import { einsum, spec } from './sharding.js';
import { requireFloat, t } from './signature.js';
import { zeros, type RefOp } from './tensor.js';

/**
 * T5's relative position bias: one learned table [buckets, heads] gives every (query i,
 * key j) pair the entry of the bucket its offset j − i falls in, as an additive bias on
 * the attention scores, [heads, Sq, Sk]. Offsets below half the buckets (a quarter when
 * bidirectional) get a bucket each; longer ones share buckets spaced logarithmically up to
 * `max_distance`, beyond which they share the last.
 */

export type RelativeBiasAttrs = {
  readonly bidirectional: boolean;
  readonly max_distance: number;
  /** Keys after the query get −1e9 instead (a decoder's causal mask, folded into the bias as T5 implementations do). */
  readonly causal: boolean;
};

/** Far below any score but finite in f32, so softmax's max-subtraction stays exact and a row's masked terms underflow to 0. */
export const MASKED = -1e9;

/** The bucket of offset `rel` = j − i among `buckets` (T5's formula, evaluated in float64). */
export function relativeBucket(rel: number, buckets: number, a: RelativeBiasAttrs): number {
  let nb = buckets;
  let base = 0;
  let n: number;
  if (a.bidirectional) {
    nb = Math.floor(nb / 2);
    if (rel > 0) base = nb;
    n = Math.abs(rel);
  } else n = Math.max(-rel, 0);
  const exact = Math.floor(nb / 2);
  if (n < exact) return base + n;
  const large = exact + Math.floor((Math.log(n / exact) / Math.log(a.max_distance / exact)) * (nb - exact));
  return base + Math.min(large, nb - 1);
}

/**
 * The distances up to `maxN` at which the logarithmic part of the bucket steps up: the
 * bucket of a distance n ≥ exact is exact + the number of these ≤ n. Kernels use them so
 * that the GPU never evaluates the logarithm (f32 rounding would move offsets whose
 * float64 value is a whole number to the bucket below).
 */
export function bucketSteps(buckets: number, a: RelativeBiasAttrs, maxN: number): { exact: number; half: number; steps: number[] } {
  const half = a.bidirectional ? Math.floor(buckets / 2) : buckets;
  const exact = Math.floor(half / 2);
  const one = { ...a, bidirectional: false };
  const steps: number[] = [];
  for (let n = exact + 1; n <= maxN; n++) if (relativeBucket(-n, half, one) > relativeBucket(-(n - 1), half, one)) steps.push(n);
  return { exact, half, steps };
}

const relativeBiasRef: RefOp<RelativeBiasAttrs> = ([table], a, [shape]) => {
  const [NB, H] = table!.shape as [number, number];
  const [, Sq, Sk] = shape! as [number, number, number];
  const out = zeros(shape!);
  for (let i = 0; i < Sq; i++)
    for (let j = 0; j < Sk; j++) {
      const masked = a.causal && j > i;
      const bk = relativeBucket(j - i, NB, a);
      for (let h = 0; h < H; h++) out.data[(h * Sq + i) * Sk + j] = masked ? MASKED : table!.data[bk * H + h]!;
    }
  return [out];
};

/** relative_position_bias: each (i, j)'s gradient added into its bucket's entry; masked pairs add nothing. */
const relativeBiasGradRef: RefOp<RelativeBiasAttrs> = ([g], a, [shape]) => {
  const [NB, H] = shape! as [number, number];
  const [, Sq, Sk] = g!.shape as [number, number, number];
  const out = zeros(shape!);
  for (let i = 0; i < Sq; i++)
    for (let j = 0; j < Sk; j++) {
      if (a.causal && j > i) continue;
      const bk = relativeBucket(j - i, NB, a);
      for (let h = 0; h < H; h++) out.data[bk * H + h] += g!.data[(h * Sq + i) * Sk + j]!;
    }
  return [out];
};

/** Heads split as they are (each device its own table columns); the positions are whole, since a bucket depends on the global offset. */
const why = { i: 'a bucket depends on the global query position', j: 'a bucket depends on the global key position', n: 'every bucket is read' };

export const relativeOps: OpDef[] = [
  defineOp<RelativeBiasAttrs>({
    name: 'relative_position_bias',
    cls: 'opaque',
    doc:
      'relative_position_bias(table, queries, keys, bidirectional = true, max_distance = 128, causal = false): T5 attention bias ' +
      '[heads, queries, keys] from table[buckets, heads] by the bucketed offset key − query; causal puts −1e9 on keys after the query.',
    args: [
      { name: 'table', kind: 'tensor' },
      { name: 'queries', kind: 'dim' },
      { name: 'keys', kind: 'dim' },
      { name: 'bidirectional', kind: 'bool', default: true, kwOnly: true },
      { name: 'max_distance', kind: 'int', default: 128, kwOnly: true },
      { name: 'causal', kind: 'bool', default: false, kwOnly: true },
    ],
    infer: (c) => {
      const table = c.tensor('table');
      if (table.dims.length !== 2) return c.error('MDC0201', 'relative_position_bias', 'a table of rank 2 [buckets, heads]', printType(table));
      if (!requireFloat(c, 'table', table)) return undefined;
      const md = c.int('max_distance');
      if (!(md >= 1)) return c.error('MDC0210', 'relative_position_bias max_distance', String(md));
      return [t(table.dtype, [table.dims[1]!, c.dim('queries'), c.dim('keys')])];
    },
    reference: relativeBiasRef,
    // A gather: no arithmetic.
    flops: () => 0,
    grad: (c, [table], _o, [g], a) => [g && c.op('relative_position_bias_grad', [g], table!.type, a)],
    sharding: () => spec(einsum([['n', 'h']], [['h', 'i', 'j']], { whole: why }), 'none', why),
    kernel: 'relative_position_bias',
  }),
];

export const relativeInternalOps: OpFacets[] = [
  defineInternalOp<RelativeBiasAttrs>({
    name: 'relative_position_bias_grad',
    cls: 'opaque',
    doc: 'relative_position_bias_grad(g): the table gradient: each (query, key) gradient added into its bucket, per head.',
    reference: relativeBiasGradRef,
    // One add per element of g.
    flops: ([g]) => g!.reduce((x, y) => x * y, 1),
    grad: 'none',
    sharding: () => spec(einsum([['h', 'i', 'j']], [['n', 'h']], { whole: why }), 'none', why),
    kernel: 'relative_position_bias_grad',
  }),
];
