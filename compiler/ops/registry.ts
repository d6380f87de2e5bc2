import type { Attrs, Node } from '../ir.js';
import { elementwiseInternalOps, elementwiseOps } from './elementwise.js';
import { linalgOps } from './linalg.js';
import { nnOps } from './nn.js';
import { normOps } from './norm.js';
import { numel, type Elementwise, type OpFacets, type SurfaceOp } from './op.js';
import { reduceInternalOps, reduceOps } from './reduce.js';
import { bodyFlops, numberMath } from './scalar.js';
import type { Shapes } from './sharding.js';
import { shapeInternalOps, shapeOps } from './shape.js';
import type { OpDef as Legacy } from './signature.js';

/** The ops of the surface language, by name. */
export const OPS: ReadonlyMap<string, SurfaceOp | Legacy> = new Map(
  [...elementwiseOps, ...linalgOps, ...reduceOps, ...normOps, ...shapeOps, ...nnOps].map((o) => [o.name, o]),
);

/**
 * Ops that only compiler passes make, with the same facets as surface ops: the backward
 * ops autodiff uses where composing forward ops would be wasteful or unstable.
 */
export const INTERNAL_OPS: ReadonlyMap<string, OpFacets> = new Map([...elementwiseInternalOps, ...reduceInternalOps, ...shapeInternalOps].map((o) => [o.name, o]));

/** Binary operators of the surface language and the ops they mean. */
export const OPERATOR_OPS = { '+': 'add', '-': 'sub', '*': 'mul', '/': 'div', '@': 'matmul', '**': 'pow' } as const;

/** The facets of the op a node of `op` has: a surface op's or an internal op's; undefined for any other name. */
export function facetsOf(op: string): OpFacets | undefined {
  const d = OPS.get(op);
  if (d && 'kernel' in d) return d;
  return INTERNAL_OPS.get(op);
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
 * FLOPs of one node on global shapes, as its op states them (an element-wise op: its
 * body's operations per output element).
 */
export function flopsOf(n: Pick<Node, 'op' | 'attrs'>, ins: Shapes, outs: Shapes): number {
  const d = facetsOf(n.op);
  if (d?.flops) return d.flops(ins, outs, n.attrs);
  if (d?.elementwise) return bodyFlops(d.elementwise.body, ins.length, n.attrs) * numel(outs[0] ?? []);
  // Not migrated yet.
  const out = numel(outs[0] ?? []);
  switch (n.op) {
    case 'attention': { const [b, sq, w] = ins[0]!; const sk = ins[1]![1]!; return 4 * b! * sq! * sk * w!; }
    case 'conv2d': { const w = ins[1]!; return 2 * out * w[1]! * w[2]! * w[3]!; }
    default: return 4 * out;
  }
}
