import { GraphBuilder, type Graph, type Node, type Value } from '../ir.js';
import type { StepKind } from './redistribute.js';

/** Every op the partitioner inserts (redistribute.ts): each becomes a host step of a mesh plan. */
const STEP_OPS: readonly StepKind[] = ['all_reduce', 'reduce_scatter', 'all_gather', 'all_to_all', 'shard_slice', 'partial_mask'];

/**
 * Reorders a partitioned graph so that each collective is followed by work that does not
 * wait for it, which the mesh runtime submits while the collective's blocks travel through
 * the host (MeshRunner defers them). A list schedule over the nodes in their order:
 *
 * - a collective is placed as soon as its input is made (the partitioner puts it right
 *   before its first consumer) unless its input is an input, parameter or constant
 *   (hoisting a ZeRO-3 gather to the start would keep the gathered parameter alive all
 *   step): those keep their place in the order;
 * - a collective placed is in flight until a node reading its output is placed; a node
 *   reading an output in flight is placed only when no other node is ready.
 *
 * With multi-copy (train/copies.ts), whose copies' nodes alternate, this runs one copy
 * ahead through its next segment while the other copy's collective is in flight, and then
 * the other way round: `mm_A ar_A mm_B ar_B add_A …A up to ar_A' add_B …B up to ar_B' …`.
 * Without collectives in flight the order is the graph's. `origin` (a FusedGraph's, per
 * value) follows the values to their new ids.
 */
export function orderForOverlap(g: Graph, origin: readonly number[]): { graph: Graph; origin: number[] } {
  const isStep = (n: Node) => (STEP_OPS as readonly string[]).includes(n.op);
  const eager = (n: Node) => isStep(n) && g.values[n.inputs[0]!]!.kind === 'op';
  const made = new Set<number>(g.values.filter((v) => v.kind !== 'op').map((v) => v.id));
  const inFlight = new Set<number>();
  const placed = new Set<number>();
  // Value → the eager collectives reading it, which become ready when it is made.
  const readers = new Map<number, Node[]>();
  for (const n of g.nodes) if (eager(n)) readers.set(n.inputs[0]!, [...(readers.get(n.inputs[0]!) ?? []), n]);
  const due: Node[] = [];
  const order: Node[] = [];
  const ready = (n: Node) => !placed.has(n.id) && n.inputs.every((i) => made.has(i));
  const blocked = (n: Node) => n.inputs.some((i) => inFlight.has(i));
  const place = (n: Node) => {
    order.push(n);
    placed.add(n.id);
    for (const i of n.inputs) inFlight.delete(i);
    for (const o of n.outputs) {
      made.add(o);
      if (isStep(n)) inFlight.add(o);
      due.push(...(readers.get(o) ?? []));
    }
  };
  // Nodes before `first` are all placed; the graph is in topological order, so the scan from it finds the ready ones.
  let first = 0;
  while (order.length < g.nodes.length) {
    while (placed.has(g.nodes[first]!.id)) first++;
    const now = due.findIndex((n) => !blocked(n));
    if (now >= 0) {
      place(due.splice(now, 1)[0]!);
      continue;
    }
    let fallback: Node | undefined;
    let pick: Node | undefined;
    for (let k = first; k < g.nodes.length && !pick; k++) {
      const n = g.nodes[k]!;
      if (eager(n) || !ready(n)) continue;
      if (!blocked(n)) pick = n;
      else fallback ??= n;
    }
    // Nothing else to do: wait for the oldest collective in flight (a blocked eager one, or the first blocked node).
    const next = pick ?? fallback ?? due[0]!;
    if (next === due[0]) due.shift();
    place(next);
  }

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
    const outs = b.copyNode(
      g,
      n,
      n.inputs.map((i) => map.get(i)!),
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
