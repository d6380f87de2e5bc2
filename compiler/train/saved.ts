import { GraphBuilder, type Graph, type Value } from '../ir.js';
import { Ctx } from '../ops/grad-ctx.js';
import { facetsOf } from '../ops/registry.js';
import { isFloat } from '../types.js';

/**
 * The forward values the backward pass reads: for each node autodiff differentiates
 * (compiler/autodiff/grad.ts: between a float parameter and an output), its op's gradient
 * rule is run on stand-ins for the node's inputs, outputs and output gradients in a
 * scratch graph, and a forward value counts when a stand-in for it is an ancestor of a
 * gradient autodiff keeps (an input that is itself computed from a parameter). Work a rule
 * builds only for gradients autodiff discards (the gradient of a constant scale, of a
 * model input) is dead in the step and reads nothing.
 *
 * Returns, per forward value id read, the nodes whose rules read it (in node order).
 * Nodes without a rule (collectives, which are inserted after autodiff) read nothing.
 * Works on any graph, in particular a partitioned local program, whose ids it returns.
 */
export function savedForBackward(g: Graph): Map<number, number[]> {
  const fromParam = new Set<number>(g.values.filter((v) => v.kind === 'param' && isFloat(v.type.dtype)).map((v) => v.id));
  for (const n of g.nodes) if (n.inputs.some((i) => fromParam.has(i))) n.outputs.forEach((o) => fromParam.add(o));
  const toOutput = new Set<number>(g.outputs);
  for (let i = g.nodes.length - 1; i >= 0; i--) {
    const n = g.nodes[i]!;
    if (n.outputs.some((o) => toOutput.has(o))) n.inputs.forEach((x) => toOutput.add(x));
  }
  const readers = new Map<number, number[]>();
  for (const n of g.nodes) {
    const rule = facetsOf(n.op)?.grad;
    if (!rule || rule === 'none') continue;
    if (!n.inputs.some((x) => fromParam.has(x)) || !n.outputs.some((o) => toOutput.has(o))) continue;
    const b = new GraphBuilder();
    const stand = new Map<number, Value>();
    const standIn = (id: number) => stand.get(id) ?? stand.set(id, b.addValue({ type: g.values[id]!.type, kind: 'input', name: `v${id}` })).get(id)!;
    const ins = n.inputs.map(standIn);
    const outs = n.outputs.map(standIn);
    const forwardOf = new Map<number, number>([...stand].map(([id, v]) => [v.id, id]));
    const gOut = n.outputs.map((o) => (isFloat(g.values[o]!.type.dtype) ? b.addValue({ type: g.values[o]!.type, kind: 'input', name: `d${o}` }) : undefined));
    const gIn = rule(new Ctx(b, n), ins, outs, gOut, n.attrs as never);
    // Walk back from the kept gradients through the scratch nodes to the stand-ins they read.
    const seen = new Set<number>();
    const stack = n.inputs.flatMap((x, k) => (fromParam.has(x) && isFloat(g.values[x]!.type.dtype) && gIn[k] ? [gIn[k]!.id] : []));
    while (stack.length) {
      const id = stack.pop()!;
      if (seen.has(id)) continue;
      seen.add(id);
      const v = b.value(id);
      const fwd = forwardOf.get(id);
      if (fwd !== undefined) {
        const list = readers.get(fwd) ?? readers.set(fwd, []).get(fwd)!;
        if (list[list.length - 1] !== n.id) list.push(n.id);
      }
      if (v.kind === 'op') stack.push(...b.node(v.producer!).inputs);
    }
  }
  return readers;
}
