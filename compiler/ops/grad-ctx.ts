import { dimConst, dimValue, type Dim } from '../dims.js';
import type { Attrs, GraphBuilder, Node, Value } from '../ir.js';
import type { TType } from '../types.js';

/**
 * The vocabulary of gradient rules (an op's `grad` facet; reverse-mode autodiff runs them,
 * compiler/autodiff/grad.ts). A rule gets the forward node's inputs and outputs (as values
 * of the backward graph), the gradient of each output (undefined when nothing reaches it)
 * and the node's attributes, and returns the gradient of each input (undefined: none), as
 * nodes it builds through `Ctx`, with the IR's own ops.
 */
export type GradRule<A = never> = (
  c: Ctx,
  ins: readonly Value[],
  outs: readonly Value[],
  gOut: readonly (Value | undefined)[],
  attrs: A,
) => (Value | undefined)[];

/** Builds backward nodes at the span and scope of the forward node they differentiate. */
export class Ctx {
  constructor(
    private readonly b: GraphBuilder,
    private readonly node: Node,
  ) {}

  op(name: string, inputs: readonly Value[], out: TType, attrs: Attrs = {}): Value {
    return this.b.addNode(name, inputs, [out], attrs, this.node.span, this.node.scope)[0]!;
  }

  ops(name: string, inputs: readonly Value[], outs: readonly TType[], attrs: Attrs = {}): Value[] {
    return this.b.addNode(name, inputs, outs, attrs, this.node.span, this.node.scope);
  }

  /** A scalar constant, broadcast to `dims` when given (an expand node). */
  scalar(x: number, dtype: TType['dtype'], dims: readonly Dim[] = []): Value {
    const c = this.b.addValue({ type: { dtype, dims: [] }, kind: 'const', scalar: x });
    return dims.length ? this.op('expand', [c], { dtype, dims }, { shape: dims }) : c;
  }

  /** Sums a broadcast gradient back to `t`'s shape (NumPy broadcasting in reverse). */
  sumTo(v: Value, t: TType): Value {
    let cur = v;
    while (cur.type.dims.length > t.dims.length)
      cur = this.op('sum', [cur], { dtype: cur.type.dtype, dims: cur.type.dims.slice(1) }, { axis: 0, keepdim: false });
    cur.type.dims.forEach((d, i) => {
      if (dimValue(t.dims[i]!) === 1 && dimValue(d) !== 1) {
        cur = this.op('sum', [cur], { dtype: cur.type.dtype, dims: cur.type.dims.map((x, j) => (j === i ? dimConst(1) : x)) }, { axis: i, keepdim: true });
      }
    });
    return cur;
  }

  bin(op: string, a: Value, b: Value): Value {
    return this.op(op, [a, b], { dtype: a.type.dtype, dims: broadcastDims(a.type.dims, b.type.dims) });
  }

  /** `axis` reduced with keepdim. */
  reduceKeep(op: 'sum' | 'mean', x: Value, axis: number): Value {
    return this.op(op, [x], { dtype: x.type.dtype, dims: x.type.dims.map((d, i) => (i === axis ? dimConst(1) : d)) }, { axis, keepdim: true });
  }

  unaryGrad(fn: string, g: Value, x: Value): Value {
    return this.op('unary_grad', [g, x], x.type, { fn });
  }
}

/** NumPy broadcasting of two (valid) shapes. */
export function broadcastDims(a: readonly Dim[], b: readonly Dim[]): Dim[] {
  const n = Math.max(a.length, b.length);
  return Array.from({ length: n }, (_, i) => {
    const x = a[a.length - n + i];
    const y = b[b.length - n + i];
    if (!x) return y!;
    if (!y) return x;
    return dimValue(x) === 1 ? y : x;
  });
}
