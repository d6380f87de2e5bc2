import type { Attrs, Node } from '../ir.js';
import {
  elementwiseInternalOps,
  elementwiseOps,
  type CastAttrs,
  type DropoutAttrs,
  type ExpandAttrs,
  type GeluAttrs,
  type MinmaxGradAttrs,
  type UnaryGradAttrs,
} from './elementwise.js';
import { attentionInternalOps, attentionOps, type AttentionAttrs, type RotaryAttrs } from './attention.js';
import { cacheInternalOps, type DecodeAttentionAttrs } from './cache.js';
import { collectiveOps, type CollectiveAttrs } from './collectives.js';
import { embeddingInternalOps, embeddingOps } from './embedding.js';
import { relativeInternalOps, relativeOps } from './relative.js';
import { linalgOps, type MatmulAttrs } from './linalg.js';
import { lossInternalOps, lossOps } from './loss.js';
import { moeInternalOps, moeOps, type DispatchAttrs, type MoeAttrs } from './moe.js';
import { normOps, type NormAttrs } from './norm.js';
import { type Elementwise, type OpFacets, type SurfaceOp } from './op.js';
import { reduceInternalOps, reduceOps, type AxisAttrs, type ReduceAttrs, type ReduceGradAttrs } from './reduce.js';
import { bodyFlops, numberMath } from './scalar.js';
import type { Shapes } from './sharding.js';
import { broadcastIndex, zeros, type RefOp } from './tensor.js';
import { precisionOps, type RoundAttrs } from './precision.js';
import { shapeInternalOps, shapeOps, type ConcatAttrs, type ReshapeAttrs, type SliceAttrs, type SliceGradAttrs, type TransposeAttrs } from './shape.js';
import { visionInternalOps, visionOps, type ConvAttrs, type PatchAttrs } from './vision.js';
import { numel } from '../../layout/mesh.js';

/** The ops of the surface language, by name. */
export const OPS: ReadonlyMap<string, SurfaceOp> = new Map<string, SurfaceOp>(
  [
    ...elementwiseOps,
    ...linalgOps,
    ...reduceOps,
    ...normOps,
    ...shapeOps,
    ...embeddingOps,
    ...attentionOps,
    ...relativeOps,
    ...moeOps,
    ...visionOps,
    ...lossOps,
  ].map((o) => [o.name, o]),
);

/**
 * Ops that only compiler passes make, with the same facets as surface ops: the backward
 * ops autodiff uses where composing forward ops would be wasteful or unstable (each
 * beside the op it differentiates), mixed precision's, and the collectives the
 * partitioner inserts.
 */
export const INTERNAL_OPS: ReadonlyMap<string, OpFacets> = new Map(
  [
    ...elementwiseInternalOps,
    ...reduceInternalOps,
    ...shapeInternalOps,
    ...embeddingInternalOps,
    ...attentionInternalOps,
    ...relativeInternalOps,
    ...moeInternalOps,
    ...visionInternalOps,
    ...lossInternalOps,
    ...precisionOps,
    ...collectiveOps,
    ...cacheInternalOps,
  ].map((o) => [o.name, o]),
);

/** Binary operators of the surface language and the ops they mean. */
export const OPERATOR_OPS = { '+': 'add', '-': 'sub', '*': 'mul', '/': 'div', '@': 'matmul', '**': 'pow' } as const;

/**
 * The attributes of each op that has some, as its definition reads them: for code outside
 * the op's file that reads a node's attributes (fusion's rewrites, the partitioner), so
 * that it reads `attrsOf(n, 'transpose').perm` instead of casting.
 */
export interface OpAttrs {
  gelu: GeluAttrs;
  expand: ExpandAttrs;
  cast: CastAttrs;
  dropout: DropoutAttrs;
  matmul: MatmulAttrs;
  sum: ReduceAttrs;
  mean: ReduceAttrs;
  max: ReduceAttrs;
  min: ReduceAttrs;
  softmax: AxisAttrs;
  log_softmax: AxisAttrs;
  layer_norm: NormAttrs;
  rms_norm: NormAttrs;
  reshape: ReshapeAttrs;
  transpose: TransposeAttrs;
  slice: SliceAttrs;
  concat: ConcatAttrs;
  rotary: RotaryAttrs;
  attention: AttentionAttrs;
  moe_dispatch: DispatchAttrs;
  moe_combine: MoeAttrs;
  patchify: PatchAttrs;
  conv2d: ConvAttrs;
  unary_grad: UnaryGradAttrs;
  minmax_grad: MinmaxGradAttrs;
  reduce_grad: ReduceGradAttrs;
  slice_grad: SliceGradAttrs;
  attention_grad: AttentionAttrs;
  moe_combine_grad: MoeAttrs;
  patchify_grad: PatchAttrs;
  conv2d_grad: ConvAttrs;
  round_to: RoundAttrs;
  all_reduce: CollectiveAttrs;
  reduce_scatter: CollectiveAttrs;
  all_gather: CollectiveAttrs;
  all_to_all: CollectiveAttrs;
  shard_slice: CollectiveAttrs;
  partial_mask: CollectiveAttrs;
  attention_decode: DecodeAttentionAttrs;
}

/** A node's attributes as op `op` reads them; throws for a node of another op. */
export function attrsOf<K extends keyof OpAttrs>(n: Pick<Node, 'op' | 'attrs'>, op: K): OpAttrs[K] {
  if (n.op !== op) throw new Error(`attributes of '${op}' asked of a '${n.op}' node`);
  return n.attrs as unknown as OpAttrs[K];
}

/** The facets of the op a node of `op` has: a surface op's or an internal op's; undefined for any other name. */
export function facetsOf(op: string): OpFacets | undefined {
  const d = OPS.get(op);
  return d && !('lowersTo' in d) ? d : INTERNAL_OPS.get(op);
}

/** The element-wise body a node computes, when its op has one that applies to its attributes. */
export function elementwiseOf(op: string, attrs: Attrs): Elementwise<Attrs> | undefined {
  const e = facetsOf(op)?.elementwise;
  return e && (!e.when || e.when(attrs)) ? e : undefined;
}

/**
 * The scalar function of an element-wise node with result dtype `dtype`, in float64 (the
 * CPU reference of it and of each step of a fused body: compiler/reference); undefined
 * for a node with no element-wise body.
 */
export function scalarFunction(op: string, attrs: Attrs, dtype: string): ((args: readonly number[]) => number) | undefined {
  const e = elementwiseOf(op, attrs);
  if (!e) return undefined;
  const m = numberMath(dtype);
  return (args) => e.body(m, args, attrs);
}

/**
 * The CPU reference of op `op`: its facet (compiler/ops), or for an element-wise op its
 * body at every element (operands at their broadcast index) where the body applies.
 */
export function referenceOf(op: string): RefOp<Attrs> | undefined {
  const d = facetsOf(op);
  if (!d) return undefined;
  const own = d.reference;
  if (!d.elementwise) return own;
  return (ins, attrs, shapes, dtypes, id, block) => {
    if (!elementwiseOf(op, attrs)) return own!(ins, attrs, shapes, dtypes, id, block);
    const f = scalarFunction(op, attrs, dtypes[0]!)!;
    const shape = shapes[0]!;
    const out = zeros(shape);
    const idx = ins.map((t) => broadcastIndex(shape, t.shape));
    const vals = new Array<number>(ins.length);
    for (let i = 0; i < out.data.length; i++) {
      for (let k = 0; k < ins.length; k++) vals[k] = ins[k]!.data[idx[k]![i]!]!;
      out.data[i] = f(vals);
    }
    return [out];
  };
}

/**
 * FLOPs of one node on global shapes, as its op states them (an element-wise op: its
 * body's operations per output element).
 */
export function flopsOf(n: Pick<Node, 'op' | 'attrs'>, ins: Shapes, outs: Shapes): number {
  const d = facetsOf(n.op);
  if (!d) throw new Error(`no FLOP count for '${n.op}': not an op of the registry`);
  if (d.flops) return d.flops(ins, outs, n.attrs);
  return bodyFlops(d.elementwise!.body, ins.length, n.attrs) * numel(outs[0] ?? []);
}
