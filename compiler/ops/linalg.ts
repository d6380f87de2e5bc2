import { dimConst, dimEquals, dimValue, type Dim } from '../dims.js';
import type { Value } from '../ir.js';
import { printDim, printType, type TType } from '../types.js';
import { broadcastDims } from './grad-ctx.js';
import { defineOp, type OpDef } from './op.js';
import { broadcastNames, dims, einsum, spec } from './sharding.js';
import { requireFloat, sameDtype, t } from './signature.js';
import { broadcastIndex, zeros, type RefOp } from './tensor.js';
import { numel } from '../../layout/mesh.js';

/** `transpose_b` is set by the fusion pass (compiler/fusion/fold-transpose.ts): b is read as [..., N, K]. */
export type MatmulAttrs = { readonly transpose_b?: boolean };

const matmulRef: RefOp<MatmulAttrs> = ([a, b], attrs, [shape]) => {
  const os = shape!;
  const M = os[os.length - 2]!;
  const N = os[os.length - 1]!;
  const K = a!.shape[a!.shape.length - 1]!;
  const batch = os.slice(0, -2);
  const nb = numel(batch);
  const aIdx = broadcastIndex(batch, a!.shape.slice(0, -2));
  const bIdx = broadcastIndex(batch, b!.shape.slice(0, -2));
  const out = zeros(os);
  for (let t = 0; t < nb; t++) {
    const ab = aIdx[t]! * M * K;
    const bb = bIdx[t]! * K * N;
    for (let i = 0; i < M; i++) {
      for (let j = 0; j < N; j++) {
        let acc = 0;
        if (attrs.transpose_b) for (let k = 0; k < K; k++) acc += a!.data[ab + i * K + k]! * b!.data[bb + j * K + k]!;
        else for (let k = 0; k < K; k++) acc += a!.data[ab + i * K + k]! * b!.data[bb + k * N + j]!;
        out.data[t * M * N + i * N + j] = acc;
      }
    }
  }
  return [out];
};

/** The permutation swapping a value's last two dims, and the type it gives. */
const swapLast = (v: Value): number[] => {
  const r = v.type.dims.length;
  return [...Array.from({ length: r - 2 }, (_, i) => i), r - 1, r - 2];
};
const transposeT = (v: Value, perm: readonly number[]): TType => ({ dtype: v.type.dtype, dims: perm.map((p) => v.type.dims[p]!) });

export const linalgOps: OpDef[] = [
  defineOp<MatmulAttrs>({
    name: 'matmul',
    cls: 'out-fusable',
    doc: 'matmul(a, b) or a @ b: [..., M, K] @ [..., K, N] → [..., M, N]; leading (batch) dims broadcast.',
    args: [
      { name: 'a', kind: 'tensor' },
      { name: 'b', kind: 'tensor' },
    ],
    infer: (c) => {
      const a = c.tensor('a');
      const b = c.tensor('b');
      if (a.dims.length < 2 || b.dims.length < 2) {
        return c.error('MDC0201', 'matmul', 'operands of rank ≥ 2', `${printType(a)} @ ${printType(b)}`);
      }
      if (!sameDtype(c, a, b) || !requireFloat(c, 'a', a)) return undefined;
      const ka = a.dims[a.dims.length - 1]!;
      const kb = b.dims[b.dims.length - 2]!;
      if (!dimEquals(ka, kb)) return c.error('MDC0203', printType(a), printType(b), printDim(ka), printDim(kb));
      const ba = a.dims.slice(0, -2);
      const bb = b.dims.slice(0, -2);
      const n = Math.max(ba.length, bb.length);
      const batch: Dim[] = [];
      for (let i = 0; i < n; i++) {
        const x = ba[ba.length - n + i] ?? dimConst(1);
        const y = bb[bb.length - n + i] ?? dimConst(1);
        if (dimEquals(x, y) || dimValue(y) === 1) batch.push(x);
        else if (dimValue(x) === 1) batch.push(y);
        else return c.error('MDC0202', printType(a), printType(b), printDim(x), printDim(y));
      }
      return [t(a.dtype, [...batch, a.dims[a.dims.length - 2]!, b.dims[b.dims.length - 1]!])];
    },
    reference: matmulRef,
    // A multiply and an add per output element and step of K (Megatron-LM's count).
    flops: ([a], [o]) => 2 * numel(o!) * a![a!.length - 1]!,
    // ga = g @ bᵀ, gb = aᵀ @ g, each summed back over the batch dims it was broadcast along.
    grad: (c, [a, b], _o, [g]) => {
      if (!g) return [];
      const bt = c.op('transpose', [b!], transposeT(b!, swapLast(b!)), { perm: swapLast(b!) });
      const at = c.op('transpose', [a!], transposeT(a!, swapLast(a!)), { perm: swapLast(a!) });
      const ga = c.op('matmul', [g, bt], { dtype: g.type.dtype, dims: [...g.type.dims.slice(0, -1), a!.type.dims.at(-1)!] });
      const gb = c.op('matmul', [at, g], {
        dtype: g.type.dtype,
        dims: [...broadcastDims(a!.type.dims.slice(0, -2), g.type.dims.slice(0, -2)), b!.type.dims.at(-2)!, g.type.dims.at(-1)!],
      });
      return [c.sumTo(ga, a!.type), c.sumTo(gb, b!.type)];
    },
    // Batch dims as the output's, M and N split as they are, K a contraction (a pending sum).
    sharding: (_a, [sa, sb], [o]) => {
      const batch = o!.length - 2;
      const an = [...broadcastNames(sa!.slice(0, -2), o!.slice(0, batch)), 'm', 'k'];
      const bn = [...broadcastNames(sb!.slice(0, -2), o!.slice(0, batch)), 'k', 'n'];
      return spec(einsum([an, bn], [[...dims('d', batch), 'm', 'n']], { contract: true }), 'single');
    },
    kernel: 'matmul',
  }),
];
