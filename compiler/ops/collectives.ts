import { defineInternalOp, type GroupRef, type OpFacets } from './op.js';
import { wholeAll } from './sharding.js';
import { block, concatAlong } from './tensor.js';
import { numel } from '../../layout/mesh.js';

/**
 * Collectives: the communication (and local re-slicing) steps the partitioner inserts
 * where a value's layout changes (compiler/sharding/partition.ts; the runtime runs them,
 * runtime/collectives.ts). Each runs over the devices of one mesh axis (`axis`); its
 * reference exchanges the blocks of a group of them (compiler/sharding/simulate.ts).
 * They exist only in partitioned programs, after sharding and autodiff: no sharding
 * signature of their own (every dim whole) and no gradient.
 */

export type CollectiveAttrs = { readonly axis: string; readonly dim?: number; readonly to?: number; readonly axis_size?: number };

const sum = (xs: readonly { readonly shape: readonly number[]; readonly data: Float64Array }[]) => {
  const data = new Float64Array(xs[0]!.data.length);
  for (const x of xs) x.data.forEach((v, i) => (data[i] += v));
  return { shape: xs[0]!.shape, data };
};

const collective = (name: string, doc: string, across: GroupRef<CollectiveAttrs>, flops: (n: number) => number): OpFacets =>
  defineInternalOp<CollectiveAttrs>({
    name,
    cls: 'opaque',
    doc,
    across,
    flops: ([x]) => flops(numel(x!)),
    grad: 'none',
    sharding: (_a, ins, outs) => wholeAll(ins, outs, `${name} is inserted after layouts are chosen`),
    kernel: 'collective',
  });

/** Data movement: no arithmetic. */
const none = () => 0;

export const collectiveOps: OpFacets[] = [
  collective(
    'all_reduce',
    'all_reduce(x, axis): the sum of a pending sum over the axis, on every device of it.',
    (xs) => {
      const s = sum(xs);
      return xs.map(() => ({ shape: s.shape, data: s.data.slice() }));
    },
    // The sum's adds.
    (n) => n,
  ),
  collective(
    'reduce_scatter',
    'reduce_scatter(x, axis, dim): the sum over the axis, each device keeping its block of dim.',
    (xs, a) => {
      const s = sum(xs);
      return xs.map((_, k) => block(s, a.dim!, k, xs.length));
    },
    (n) => n,
  ),
  collective(
    'all_gather',
    'all_gather(x, axis, dim): the blocks of dim joined, on every device of the axis.',
    (xs, a) => {
      const whole = concatAlong(xs, a.dim!);
      return xs.map(() => ({ shape: whole.shape, data: whole.data.slice() }));
    },
    none,
  ),
  collective(
    'all_to_all',
    'all_to_all(x, axis, dim, to): a split of dim traded for a split of to over the axis.',
    (xs, a) => {
      const whole = concatAlong(xs, a.dim!);
      return xs.map((_, k) => block(whole, a.to!, k, xs.length));
    },
    none,
  ),
  collective(
    'shard_slice',
    'shard_slice(x, axis, dim, axis_size): each device keeps its block of dim (local, no traffic).',
    (xs, a) => xs.map((x, k) => block(x, a.dim!, k, a.axis_size!)),
    none,
  ),
  collective(
    'partial_mask',
    'partial_mask(x, axis): a whole value as a pending sum over the axis (device 0 of it keeps the value, the others zeros).',
    (xs) => xs.map((x, k) => (k === 0 ? x : { shape: x.shape, data: new Float64Array(x.data.length) })),
    none,
  ),
];
