import { dimValue } from '../dims.js';
import { printType } from '../types.js';
import { defineInternalOp, defineOp, type OpDef, type OpFacets } from './op.js';
import { dims, einsum, spec } from './sharding.js';
import { requireIntDtype, t } from './signature.js';
import { zeros, type RefOp } from './tensor.js';
import { numel } from '../../layout/mesh.js';

/**
 * Embedding lookup: rows of a table gathered by integer ids, and its backward scatter-add.
 *
 * Vocabulary parallelism: a table split over its rows (`f32[vocab@tp, d]`) is a
 * contraction over the vocabulary. Each device looks its ids up in its own block of rows
 * (ids outside it give zero rows), so the hidden states are a pending sum over the axis,
 * which one all-reduce completes; the table is never gathered. The backward pass likewise
 * adds each position's gradient into the local block only. Each device's program is told
 * where its block starts by an extra input, `start` (the partitioner's Letter.start).
 */

export interface EmbeddingAttrs {
  /** Set when the node has a `start` input: the table holds rows start .. start + V of the whole vocabulary. */
  readonly has_start?: boolean;
}

/** The first vocabulary row a (block of a) table holds: its `start` input, else 0. */
const startOf = (start: { data: ArrayLike<number> } | undefined) => (start ? start.data[0]! : 0);

const embeddingRef: RefOp<unknown> = ([table, ids, start], _a, [shape]) => {
  const [V, D] = table!.shape as [number, number];
  const out = zeros(shape!);
  const s = startOf(start);
  for (let r = 0; r < ids!.data.length; r++) {
    const id = ids!.data[r]! - s;
    if (id < 0 || id >= V) continue;
    for (let j = 0; j < D; j++) out.data[r * D + j] = table!.data[id * D + j]!;
  }
  return [out];
};

/** embedding: rows of g are added into the table rows their ids name (ids outside [0, V) add nothing). */
const embeddingGradRef: RefOp<unknown> = ([g, ids, start], _a, [shape]) => {
  const [V, D] = shape! as [number, number];
  const out = zeros(shape!);
  const s = startOf(start);
  for (let r = 0; r < ids!.data.length; r++) {
    const id = ids!.data[r]! - s;
    if (id < 0 || id >= V) continue;
    for (let j = 0; j < D; j++) out.data[id * D + j] += g!.data[r * D + j]!;
  }
  return [out];
};

export const embeddingOps: OpDef[] = [
  defineOp<unknown>({
    name: 'embedding',
    cls: 'injective',
    doc:
      'embedding(table, ids, start = 0): rows of table[V, D] gathered by integer ids[...] → [..., D]. Ids outside [0, V) give zero rows. ' +
      'With start (an i32[1]), the table holds rows start .. start + V of a larger vocabulary and ids are looked up there.',
    args: [
      { name: 'table', kind: 'tensor' },
      { name: 'ids', kind: 'tensor' },
      { name: 'start', kind: 'tensor', default: null, kwOnly: true },
    ],
    infer: (c) => {
      const table = c.tensor('table');
      const ids = c.tensor('ids');
      const start = c.optTensor('start');
      if (table.dims.length !== 2) return c.error('MDC0201', 'embedding', 'a table of rank 2 [V, D]', printType(table));
      if (!requireIntDtype(c, 'ids', ids)) return undefined;
      if (start && (start.dtype !== 'i32' || start.dims.length !== 1 || dimValue(start.dims[0]!) !== 1))
        return c.error('MDC0140', 'embedding', 'start', 'an i32[1]', printType(start));
      return [t(table.dtype, [...ids.dims, table.dims[1]!])];
    },
    reference: embeddingRef,
    // A gather: no arithmetic.
    flops: () => 0,
    // Rows of g added into the rows their ids name (embedding_grad); ids have no gradient.
    grad: (c, [table, ids, start], _o, [g]) => [
      g && (start ? c.op('embedding_grad', [g, ids!, start], table!.type, { has_start: true }) : c.op('embedding_grad', [g, ids!], table!.type)),
      undefined,
      undefined,
    ],
    // The vocabulary is a contraction: a device holding a block of rows gives the rows of
    // its ids and zeros for the others, a pending sum over the axis (see the top of this file).
    sharding: (a, [, ids]) => {
      // A table already given a start is looked up where it is.
      const why = (a as EmbeddingAttrs).has_start ? { v: 'this embedding is already given where its table starts' } : undefined;
      const letters = einsum([['v', 'e'], dims('d', ids!.length)], [[...dims('d', ids!.length), 'e']], {
        contract: true,
        starts: ['v'],
        ...(why ? { whole: why } : {}),
      });
      return spec(letters, 'none', why ?? {});
    },
    kernel: 'embedding',
  }),
];

export const embeddingInternalOps: OpFacets[] = [
  defineInternalOp<unknown>({
    name: 'embedding_grad',
    cls: 'opaque',
    doc: 'embedding_grad(g, ids): the table gradient: rows of g added into the rows their ids name.',
    reference: embeddingGradRef,
    // One add per element of g.
    flops: ([g]) => numel(g!),
    grad: 'none',
    // A sum over positions: splitting them leaves each device a partial table gradient. A
    // device holding a block of the table's rows adds only the positions whose ids fall in it.
    sharding: (a, [, ids]) => {
      const why = (a as EmbeddingAttrs).has_start ? { v: 'this gradient is already given where its table starts' } : undefined;
      const letters = einsum([[...dims('p', ids!.length), 'e'], dims('p', ids!.length)], [['v', 'e']], {
        contract: true,
        starts: ['v'],
        ...(why ? { whole: why } : {}),
      });
      return spec(letters, 'first', why ?? {});
    },
    kernel: 'embedding_grad',
  }),
];
