import { extendGraph, type Graph, type GraphBuilder, type Node, type Value } from '../ir.js';
import { RecomputeError } from './recompute.js';

/**
 * Applies a recompute plan to a training step: forward values in `dropped` are no longer
 * read by the backward pass. Where a backward node (position ≥ `forwardNodes`) reads a
 * dropped value, its producer is cloned just before that node, from kept values and,
 * recursively, clones of other dropped values; that node and every later backward reader
 * read the clone. Each dropped value is rebuilt at most once. The forward original is
 * then dead after its last forward use, so the memory plan can reuse its bytes.
 *
 * A clone is the same op with the same attributes on bit-identical inputs, so it computes
 * bit-identical results; a dropout clone draws the same mask, which comes from (seed,
 * `mask_id`, element) (a node without `mask_id` gets the original's node id, its mask's
 * default). Forward nodes keep their positions, so node ids below `forwardNodes` and
 * value ids that are their outputs map across with `mapForwardValues`; other value ids
 * may change (extendGraph puts every non-op value first).
 *
 * `step`: a graph whose first `forwardNodes` nodes are the forward pass (trainingGraph's,
 * or autodiff's); `dropped`: ids in `step` of op values those nodes produce, not outputs.
 */
export function applyRecompute(step: Graph, dropped: ReadonlySet<number>, forwardNodes: number): Graph {
  if (!dropped.size) return step;
  const outputs = new Set(step.outputs);
  for (const id of dropped) {
    const v = step.values[id];
    if (!v || v.kind !== 'op' || v.producer! >= forwardNodes)
      throw new RecomputeError(`value ${id} is not computed by the forward pass (its first ${forwardNodes} nodes): only forward values can be recomputed`);
    if (outputs.has(id)) throw new RecomputeError(`value ${id} is an output of the step: it cannot be dropped`);
  }
  const rebuilt = new Map<number, Value>();
  const read = (id: number, b: GraphBuilder, map: Map<number, Value>): Value => {
    if (!dropped.has(id)) return map.get(id)!;
    const hit = rebuilt.get(id);
    if (hit) return hit;
    const n = step.nodes[step.values[id]!.producer!]!;
    const attrs = n.op === 'dropout' && n.attrs['mask_id'] === undefined ? { ...n.attrs, mask_id: n.id } : n.attrs;
    const outs = b.addNode(
      n.op,
      n.inputs.map((i) => read(i, b, map)),
      n.outputs.map((o) => step.values[o]!.type),
      attrs,
      n.span,
      n.scope,
      n.body,
    );
    n.outputs.forEach((o, k) => rebuilt.set(o, outs[k]!));
    return rebuilt.get(id)!;
  };
  const replace = (n: Node, b: GraphBuilder, map: Map<number, Value>): boolean => {
    if (n.id < forwardNodes || !n.inputs.some((i) => dropped.has(i))) return false;
    const ins = n.inputs.map((i) => read(i, b, map));
    const outs = b.copyNode(step, n, ins);
    n.outputs.forEach((o, k) => map.set(o, outs[k]!));
    return true;
  };
  const { builder, map } = extendGraph(step, undefined, replace);
  return builder.finish(
    step.name,
    step.outputs.map((o) => map.get(o)!),
    step.outputNames,
  );
}

/**
 * Value ids of `from` computed by its first `forwardNodes` nodes, as ids of `to`, where
 * `to` starts with the same nodes in the same order (extendGraph without replacements,
 * differentiateInto, applyRecompute keep node positions; value ids can move).
 */
export function mapForwardValues(from: Graph, to: Graph, ids: Iterable<number>, forwardNodes = from.nodes.length): Set<number> {
  const out = new Set<number>();
  for (const id of ids) {
    const v = from.values[id];
    if (!v || v.kind !== 'op' || v.producer! >= forwardNodes) throw new RecomputeError(`value ${id} is not computed by the first ${forwardNodes} nodes`);
    const n = from.nodes[v.producer!]!;
    const m = to.nodes[n.id];
    if (!m || m.op !== n.op || m.outputs.length !== n.outputs.length)
      throw new RecomputeError(`node ${n.id} (${n.op}) has no counterpart at the same position`);
    out.add(m.outputs[n.outputs.indexOf(id)]!);
  }
  return out;
}
