import { dimValue } from '../dims.js';
import { extendGraph, GraphBuilder, type Graph, type Value } from '../ir.js';
import { Ctx } from '../ops/grad-ctx.js';
import { facetsOf } from '../ops/registry.js';
import { isFloat } from '../types.js';

/**
 * Reverse-mode autodiff over the graph IR: a new graph that computes the forward pass,
 * a scalar loss and the gradient of the loss with respect to every floating-point
 * parameter not frozen (GradOptions.frozen) (outputs `loss`, then `grad.<param name>` in parameter order).
 *
 * Each op states its vector–Jacobian rule (its `grad` facet, compiler/ops), written with
 * the IR's own ops plus a few backward-only ops (`*_grad`, internal ops beside the ops
 * they differentiate) where composing forward ops would be wasteful or unstable:
 * attention (rows recomputed, no score matrix kept), the fused softmax + cross-entropy,
 * embedding's scatter-add, max/min routing. Softmax, layer norm and RMS norm use their
 * closed forms, not the chain of primitives. An op whose rule is 'none' (a backward op, a
 * flag) is refused. Only nodes between a parameter and the loss are differentiated.
 */
export interface GradOptions {
  /** The graph output that is the loss (default: the first); it must be a float scalar. */
  readonly loss?: string;
  /**
   * Forward values (ids in g) not kept for the backward pass: where a backward rule reads
   * one, its producer is run again from kept values (recursively), once per value, just
   * before the first backward use. Gradients are unchanged; only lifetimes shrink.
   */
  readonly recompute?: ReadonlySet<number>;
  /**
   * Parameters (by name) that get no gradient: frozen for fine-tuning (train/freeze.ts).
   * They are not differentiated through: a node whose only path to a trainable parameter
   * runs through them is skipped, and a gradient rule's results for them (a matmul's
   * weight gradient beside the input gradient still needed) are dropped from the graph.
   */
  readonly frozen?: ReadonlySet<string>;
}

export class AutodiffError extends Error {}

export function differentiate(g: Graph, opts: GradOptions = {}): Graph {
  const d = differentiateInto(g, opts);
  return d.builder.finish(g.name, [d.loss, ...d.grads.map((x) => x.grad)], ['loss', ...d.grads.map((x) => `grad.${x.name}`)]);
}

/** The parts of a differentiated graph, before it is frozen: a builder to extend (optimizers) and the loss and gradient values in it. */
export interface Differentiated {
  readonly builder: GraphBuilder;
  readonly loss: Value;
  /** One per floating-point parameter that is not frozen, in parameter order. */
  readonly grads: readonly { readonly name: string; readonly param: Value; readonly grad: Value }[];
  /**
   * Per node of the builder past g's own: the index of g's node whose gradient rule (or
   * gradient sum) made it, or -1 for the zero gradients of parameters the loss does not reach.
   */
  readonly origin: readonly number[];
}

export function differentiateInto(g: Graph, opts: GradOptions = {}): Differentiated {
  const lossIndex = opts.loss === undefined ? 0 : g.outputNames.indexOf(opts.loss);
  if (lossIndex < 0) throw new AutodiffError(`no output named '${opts.loss}' to use as the loss (outputs: ${g.outputNames.join(', ')})`);
  const lossId = g.outputs[lossIndex]!;
  const lossType = g.values[lossId]!.type;
  if (lossType.dims.some((d) => dimValue(d) !== 1) || !isFloat(lossType.dtype)) {
    throw new AutodiffError(`the loss must be a float scalar, but '${g.outputNames[lossIndex]}' is ${lossType.dtype}[${lossType.dims.length} dims]`);
  }

  const { builder: b, map } = extendGraph(g);

  // Which values lie between a parameter and the loss.
  const frozen = opts.frozen ?? new Set<string>();
  const trainable = (v: Value) => v.kind === 'param' && isFloat(v.type.dtype) && !frozen.has(v.name!);
  const fromParam = new Set<number>(g.values.filter(trainable).map((v) => v.id));
  for (const n of g.nodes) if (n.inputs.some((i) => fromParam.has(i))) n.outputs.forEach((o) => fromParam.add(o));
  const toLoss = new Set<number>([lossId]);
  for (let i = g.nodes.length - 1; i >= 0; i--) {
    const n = g.nodes[i]!;
    if (n.outputs.some((o) => toLoss.has(o))) n.inputs.forEach((x) => toLoss.add(x));
  }

  // Recomputation: a dropped forward value is rebuilt (with its dropped inputs) on first backward use.
  const dropped = opts.recompute ?? new Set<number>();
  const rebuilt = new Map<number, Value>();
  const fwd = (vid: number): Value => {
    if (!dropped.has(vid) || g.values[vid]!.kind !== 'op') return map.get(vid)!;
    const hit = rebuilt.get(vid);
    if (hit) return hit;
    const n = g.nodes[g.values[vid]!.producer!]!;
    const outs = b.addNode(
      n.op,
      n.inputs.map(fwd),
      n.outputs.map((o) => g.values[o]!.type),
      n.attrs,
      n.span,
      n.scope,
    );
    n.outputs.forEach((o, i) => rebuilt.set(o, outs[i]!));
    return rebuilt.get(vid)!;
  };
  const grads = new Map<number, Value>();
  const accumulate = (vid: number, gv: Value | undefined, ctx: Ctx) => {
    if (!gv || !fromParam.has(vid) || !toLoss.has(vid) || !isFloat(g.values[vid]!.type.dtype)) return;
    const prev = grads.get(vid);
    grads.set(vid, prev ? ctx.op('add', [prev, gv], prev.type) : gv);
  };

  const origin: number[] = [];
  const own = (node: number) => {
    while (g.nodes.length + origin.length < b.nodeCount) origin.push(node);
  };
  const seedCtx = new Ctx(b, g.nodes[g.values[lossId]!.producer ?? 0]!);
  grads.set(lossId, seedCtx.scalar(1, lossType.dtype, lossType.dims));
  own(g.values[lossId]!.producer ?? 0);
  for (let i = g.nodes.length - 1; i >= 0; i--) {
    const n = g.nodes[i]!;
    if (!n.outputs.some((o) => grads.has(o)) || !n.inputs.some((x) => fromParam.has(x))) continue;
    const rule = facetsOf(n.op)?.grad;
    if (rule === 'none') throw new AutodiffError(`'${n.op}' has no gradient (at line ${n.span.line})`);
    if (!rule) throw new AutodiffError(`no gradient rule for '${n.op}' (at line ${n.span.line})`);
    const ctx = new Ctx(b, n);
    const ins = n.inputs.map((x) => fwd(x));
    const outs = n.outputs.map((o) => fwd(o));
    const gOut = n.outputs.map((o) => grads.get(o));
    const gIn = rule(ctx, ins, outs, gOut, n.attrs);
    n.inputs.forEach((x, k) => accumulate(x, gIn[k], ctx));
    own(i);
  }

  const params = g.values.filter(trainable);
  const zeroCtx = new Ctx(b, g.nodes[0]!);
  // A parameter the loss does not depend on gets a zero gradient.
  const out = params.map((p) => ({
    name: p.name!,
    param: map.get(p.id)!,
    grad: grads.get(p.id) ?? zeroCtx.op('mul', [map.get(p.id)!, zeroCtx.scalar(0, p.type.dtype)], p.type),
  }));
  own(-1);
  const result = { builder: b, loss: map.get(lossId)!, grads: out, origin };
  return frozen.size ? withoutDeadBackward(result, g.nodes.length) : result;
}

/**
 * The differentiated graph without the backward nodes nothing reads: gradient rules
 * compute every input's gradient, and with frozen parameters some are never used. The
 * forward nodes (the first `forwardNodes`) and every non-op value stay, in their order and
 * with their ids; backward values are renumbered.
 */
function withoutDeadBackward(d: Differentiated, forwardNodes: number): Differentiated {
  const b = d.builder;
  const live = new Set<number>();
  const work = [d.loss.id, ...d.grads.map((x) => x.grad.id)];
  for (let id = work.pop(); id !== undefined; id = work.pop()) {
    const p = b.value(id).producer;
    if (p === undefined || p < forwardNodes || live.has(p)) continue;
    live.add(p);
    work.push(...b.node(p).inputs);
  }
  const out = new GraphBuilder();
  const map = new Map<number, Value>();
  const origin: number[] = [];
  for (let id = 0; id < b.valueCount; id++) {
    const v = b.value(id);
    if (v.kind !== 'op') {
      const { id: _id, ...rest } = v;
      map.set(id, out.addValue(rest));
      continue;
    }
    const n = b.node(v.producer!);
    if (n.outputs[0] !== id || (n.id >= forwardNodes && !live.has(n.id))) continue;
    const outs = out.addNode(
      n.op,
      n.inputs.map((i) => map.get(i)!),
      n.outputs.map((o) => b.value(o).type),
      n.attrs,
      n.span,
      n.scope,
      n.body,
    );
    n.outputs.forEach((o, i) => map.set(o, outs[i]!));
    if (n.id >= forwardNodes) origin.push(d.origin[n.id - forwardNodes]!);
  }
  for (const c of b.constraints.values()) out.constraints.set(map.get(c.value)!.id, { ...c, value: map.get(c.value)!.id });
  return {
    builder: out,
    loss: map.get(d.loss.id)!,
    grads: d.grads.map((x) => ({ name: x.name, param: map.get(x.param.id)!, grad: map.get(x.grad.id)! })),
    origin,
  };
}
