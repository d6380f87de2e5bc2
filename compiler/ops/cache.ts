import { defineInternalOp, type OpFacets } from './op.js';
import { einsum, spec } from './sharding.js';
import { zeros, type RefOp, type RefTensor } from './tensor.js';

/**
 * The two ops of a decode step (compiler/infer/decode.ts), which only that transform makes:
 * - kv_write(cache[B, M, W], row[B, 1, W], pos[B]): the cache with row b written at
 *   position pos[b] of sequence b (a position outside [0, M) writes nothing);
 * - attention_decode(q[B, 1, H·Dh], k[B, M, KVH·Dh], v[B, M, KVH·Dh], pos[B]): one query row
 *   per sequence attending to the cached keys 0..pos[b] (causal attention at position pos[b]).
 * Both index by the positions at run time, so one plan serves every step.
 */
export type DecodeAttentionAttrs = { readonly heads: number; readonly kv_heads: number; readonly scale: number };

/** Position b of `pos`, clamped to [−1, M − 1]: −1 sees (and writes) nothing. */
const posOf = (pos: RefTensor, b: number, M: number) => {
  const p = pos.data[b]!;
  return p < 0 ? -1 : Math.min(p, M - 1);
};

const kvWriteRef: RefOp<unknown> = ([cache, row, pos]) => {
  const [B, M, W] = cache!.shape as [number, number, number];
  const out = zeros(cache!.shape);
  out.data.set(cache!.data);
  for (let b = 0; b < B; b++) {
    const p = pos!.data[b]!;
    if (p < 0 || p >= M) continue;
    for (let w = 0; w < W; w++) out.data[(b * M + p) * W + w] = row!.data[b * W + w]!;
  }
  return [out];
};

const decodeAttentionRef: RefOp<DecodeAttentionAttrs> = ([q, k, v, pos], a) => {
  const [B, , W] = q!.shape as [number, number, number];
  const M = k!.shape[1]!;
  const Dh = W / a.heads;
  const KW = a.kv_heads * Dh;
  const out = zeros(q!.shape);
  const s = new Float64Array(M);
  for (let b = 0; b < B; b++) {
    const last = posOf(pos!, b, M);
    for (let h = 0; h < a.heads; h++) {
      const kvh = Math.floor(h / (a.heads / a.kv_heads));
      let m = -Infinity;
      for (let j = 0; j <= last; j++) {
        let dot = 0;
        for (let d = 0; d < Dh; d++) dot += q!.data[b * W + h * Dh + d]! * k!.data[(b * M + j) * KW + kvh * Dh + d]!;
        s[j] = dot * a.scale;
        m = Math.max(m, s[j]!);
      }
      let sum = 0;
      for (let j = 0; j <= last; j++) sum += s[j] = Math.exp(s[j]! - m);
      for (let j = 0; j <= last; j++) for (let d = 0; d < Dh; d++) out.data[b * W + h * Dh + d] += (s[j]! / sum) * v!.data[(b * M + j) * KW + kvh * Dh + d]!;
    }
  }
  return [out];
};

// Tensor-parallel decoding keeps the cache split with the heads: the width (heads·Dh) and the batch may be
// split, while every position of the cache stays on each device because the positions index it at run time.
const CACHE_WHY = { m: 'the cache is indexed by position at run time', r: 'a decode step has one row per sequence' };

export const cacheInternalOps: OpFacets[] = [
  defineInternalOp<unknown>({
    name: 'kv_write',
    cls: 'opaque',
    doc: 'kv_write(cache[B, M, W], row[B, 1, W], pos[B]): the cache with each sequence’s row written at its position.',
    reference: kvWriteRef,
    // A copy: no arithmetic.
    flops: () => 0,
    grad: 'none',
    sharding: () => spec(einsum([['b', 'm', 'w'], ['b', 'r', 'w'], ['b']], [['b', 'm', 'w']], { whole: CACHE_WHY }), 'none', CACHE_WHY),
    kernel: 'kv_write',
  }),
  defineInternalOp<DecodeAttentionAttrs>({
    name: 'attention_decode',
    cls: 'opaque',
    doc: 'attention_decode(q[B, 1, H·Dh], k, v[B, M, KVH·Dh], pos[B]): causal attention of one query row per sequence over its cached keys 0..pos.',
    reference: decodeAttentionRef,
    // At most: scores and the weighted sum over all M cached keys, 2 · 2·M·Dh per head.
    flops: ([q, k]) => 4 * q![0]! * k![1]! * q![2]!,
    grad: 'none',
    // Heads split whole (grouped KV heads by kv_heads), as attention's rule.
    sharding: (a) =>
      spec(
        einsum([['b', 'r', 'w'], ['b', 'm', 'w'], ['b', 'm', 'w'], ['b']], [['b', 'r', 'w']], {
          whole: CACHE_WHY,
          units: { w: { unit: a.kv_heads, attrs: ['heads', 'kv_heads'] } },
        }),
        'none',
        CACHE_WHY,
      ),
    kernel: 'attention_decode',
  }),
];
