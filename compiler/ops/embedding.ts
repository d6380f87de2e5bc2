import { printType } from '../types.js';
import { defineInternalOp, defineOp, type OpDef, type OpFacets } from './op.js';
import { dims, einsum, spec } from './sharding.js';
import { requireIntDtype, t } from './signature.js';
import { zeros, type RefOp } from './tensor.js';
import { numel } from '../../layout/mesh.js';

/** Embedding lookup: rows of a table gathered by integer ids, and its backward scatter-add. */

const embeddingRef: RefOp<unknown> = ([table, ids], _a, [shape]) => {
  const [V, D] = table!.shape as [number, number];
  const out = zeros(shape!);
  for (let r = 0; r < ids!.data.length; r++) {
    const id = ids!.data[r]!;
    if (id < 0 || id >= V) continue;
    for (let j = 0; j < D; j++) out.data[r * D + j] = table!.data[id * D + j]!;
  }
  return [out];
};

/** embedding: rows of g are added into the table rows their ids name (ids outside [0, V) add nothing). */
const embeddingGradRef: RefOp<unknown> = ([g, ids], _a, [shape]) => {
  const [V, D] = shape! as [number, number];
  const out = zeros(shape!);
  for (let r = 0; r < ids!.data.length; r++) {
    const id = ids!.data[r]!;
    if (id < 0 || id >= V) continue;
    for (let j = 0; j < D; j++) out.data[id * D + j] += g!.data[r * D + j]!;
  }
  return [out];
};

export const embeddingOps: OpDef[] = [
  defineOp<unknown>({
    name: 'embedding',
    cls: 'injective',
    doc: 'embedding(table, ids): rows of table[V, D] gathered by integer ids[...] → [..., D]. Ids outside [0, V) give zero rows.',
    args: [
      { name: 'table', kind: 'tensor' },
      { name: 'ids', kind: 'tensor' },
    ],
    infer: (c) => {
      const table = c.tensor('table');
      const ids = c.tensor('ids');
      if (table.dims.length !== 2) return c.error('MDC0201', 'embedding', 'a table of rank 2 [V, D]', printType(table));
      if (!requireIntDtype(c, 'ids', ids)) return undefined;
      return [t(table.dtype, [...ids.dims, table.dims[1]!])];
    },
    reference: embeddingRef,
    // A gather: no arithmetic.
    flops: () => 0,
    // Rows of g added into the rows their ids name (embedding_grad); ids have no gradient.
    grad: (c, [table, ids], _o, [g]) => [g && c.op('embedding_grad', [g, ids!], table!.type), undefined],
    sharding: (_a, [, ids]) => {
      const why = { v: 'embedding looks rows up by id across the whole vocabulary' };
      return spec(einsum([['v', 'e'], dims('d', ids!.length)], [[...dims('d', ids!.length), 'e']], { whole: why }), 'none', why);
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
    // A sum over positions: splitting them leaves each device a partial table gradient.
    sharding: (_a, [, ids]) => {
      const why = { v: 'the table gradient is indexed by id across the vocabulary' };
      return spec(einsum([[...dims('p', ids!.length), 'e'], dims('p', ids!.length)], [['v', 'e']], { whole: why, contract: true }), 'first', why);
    },
    kernel: 'embedding_grad',
  }),
];
