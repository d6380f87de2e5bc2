import { GraphBuilder, type Graph, type Node, type Value } from '../ir.js';
import type { StepKind } from './redistribute.js';

/** Every op the partitioner inserts (redistribute.ts): each becomes a host step of a mesh plan. */
const STEP_OPS: readonly StepKind[] = ['all_reduce', 'reduce_scatter', 'all_gather', 'all_to_all', 'shard_slice', 'partial_mask'];

/**
 * Reorders a partitioned graph so that each collective comes right after the node that
 * makes its input, instead of right before its first consumer where the partitioner puts
 * it. Nothing else moves. With multi-copy (train/copies.ts), whose copies' nodes
 * alternate, one copy's collective is then followed by the other copy's compute, which
 * the mesh runtime submits while it waits for the collective. A collective of an input,
 * parameter or constant stays where it is (moving it to the start would keep its result
 * alive the whole step, as a ZeRO-3 parameter gather would). `origin` (a FusedGraph's,
 * per value) follows the values to their new ids.
 */
export function hoistCollectives(g: Graph, origin: readonly number[]): { graph: Graph; origin: number[] } {
  const isStep = (n: Node) => (STEP_OPS as readonly string[]).includes(n.op) && n.inputs.length === 1;
  // Producer node → the collectives to place right after it, in their order.
  const after = new Map<number, Node[]>();
  const moved = new Set<number>();
  for (const n of g.nodes) {
    const p = g.values[n.inputs[0]!]?.producer;
    if (!isStep(n) || p === undefined) continue;
    after.set(p, [...(after.get(p) ?? []), n]);
    moved.add(n.id);
  }
  const order: Node[] = [];
  const place = (n: Node) => {
    order.push(n);
    for (const c of after.get(n.id) ?? []) place(c);
  };
  for (const n of g.nodes) if (!moved.has(n.id)) place(n);

  const b = new GraphBuilder();
  const map = new Map<number, Value>();
  const newOrigin: number[] = [];
  for (const v of g.values) {
    if (v.kind === 'op') continue;
    const { id: _id, ...rest } = v;
    const nv = b.addValue(rest);
    map.set(v.id, nv);
    newOrigin[nv.id] = origin[v.id]!;
  }
  for (const n of order) {
    const outs = b.addNode(
      n.op,
      n.inputs.map((i) => map.get(i)!),
      n.outputs.map((o) => g.values[o]!.type),
      n.attrs,
      n.span,
      n.scope,
      n.body,
    );
    n.outputs.forEach((o, k) => {
      map.set(o, outs[k]!);
      newOrigin[outs[k]!.id] = origin[o]!;
    });
  }
  for (const c of g.constraints) b.constraints.set(map.get(c.value)!.id, { ...c, value: map.get(c.value)!.id });
  return {
    graph: b.finish(
      g.name,
      g.outputs.map((o) => map.get(o)!),
      g.outputNames,
    ),
    origin: newOrigin,
  };
}
