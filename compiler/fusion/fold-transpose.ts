/**
 * Transpose folding: a matmul whose b operand is a transpose of the last two dims
 * (`x @ transpose(w)`, a tied embedding's logits, keys in attention scores) reads w as
 * it is stored, with the attribute `transpose_b`, and the transpose, whose result only
 * such matmuls read, is never made. The matmul kernels then read b's columns along its
 * rows (codegen/kernels/matmul: MatmulShape.transB).
 */
import { extendGraph, originOf, type Graph, type Node } from '../ir.js';
import { attrsOf } from '../ops/registry.js';
import { isFloat } from '../types.js';

export interface Folded {
  readonly graph: Graph;
  /** The id each value of `graph` has in the input graph. */
  readonly origin: readonly number[];
}

/** Whether `perm` swaps the last two dims and keeps the others in place. */
const swapsLastTwo = (perm: readonly number[]) => {
  const r = perm.length;
  return r >= 2 && perm[r - 1] === r - 2 && perm[r - 2] === r - 1 && perm.slice(0, -2).every((p, i) => p === i);
};

export function foldTransposes(g: Graph): Folded {
  const users = new Map<number, Node[]>();
  for (const n of g.nodes) for (const v of new Set(n.inputs)) (users.get(v) ?? users.set(v, []).get(v)!).push(n);
  const outputs = new Set(g.outputs);
  const floats = (n: Node) => [...n.inputs, ...n.outputs].every((v) => isFloat(g.values[v]!.type.dtype));
  // Transposes every reader of which is a float matmul taking it as b only.
  const folded = new Set<number>();
  for (const t of g.nodes) {
    if (t.op !== 'transpose' || !swapsLastTwo(attrsOf(t, 'transpose').perm)) continue;
    const out = t.outputs[0]!;
    const readers = users.get(out) ?? [];
    if (outputs.has(out) || !readers.length) continue;
    if (readers.every((m) => m.op === 'matmul' && !m.attrs['transpose_b'] && m.inputs[1] === out && m.inputs[0] !== out && floats(m))) folded.add(t.id);
  }
  if (!folded.size) return { graph: g, origin: g.values.map((v) => v.id) };

  const transposeOf = new Map([...folded].map((id) => [g.nodes[id]!.outputs[0]!, g.nodes[id]!]));
  const { builder, map } = extendGraph(g, undefined, (n, b, map) => {
    if (folded.has(n.id)) return true;
    const t = n.op === 'matmul' ? transposeOf.get(n.inputs[1]!) : undefined;
    if (!t) return false;
    const [o] = b.addNode(
      'matmul',
      [map.get(n.inputs[0]!)!, map.get(t.inputs[0]!)!],
      [g.values[n.outputs[0]!]!.type],
      { ...n.attrs, transpose_b: true },
      n.span,
      n.scope,
    );
    map.set(n.outputs[0]!, o!);
    return true;
  });
  return {
    graph: builder.finish(
      g.name,
      g.outputs.map((o) => map.get(o)!),
      g.outputNames,
    ),
    origin: originOf(builder, map),
  };
}
