import { isFloat } from '../types.js';
import { GraphBuilder, type Graph, type Value } from '../ir.js';

/**
 * Mixed precision: a copy of the forward graph whose float parameters are read through
 * a rounding to `dtype` (the low-precision copy of the f32 master weights) and whose
 * float op results are rounded likewise (activations stored in low precision, each op
 * accumulating in f32, as tensor cores do). Autodiff passes gradients through the
 * roundings, rounded the same way. The master weights and the optimizer stay f32.
 */
export type Precision = 'f32' | 'bf16' | 'f16';

export function lowPrecision(g: Graph, dtype: 'bf16' | 'f16'): Graph {
  const b = new GraphBuilder();
  const map = new Map<number, Value>();
  const first = g.nodes[0];
  const round = (v: Value, span = first!.span, scope = first!.scope) => b.addNode('round_to', [v], [v.type], { dtype }, span, scope)[0]!;
  for (const v of g.values) {
    if (v.kind === 'op') continue;
    const { id: _id, ...rest } = v;
    const nv = b.addValue(rest);
    map.set(v.id, v.kind === 'param' && isFloat(v.type.dtype) && first ? round(nv) : nv);
  }
  for (const n of g.nodes) {
    const outs = b.addNode(
      n.op,
      n.inputs.map((i) => map.get(i)!),
      n.outputs.map((o) => g.values[o]!.type),
      n.attrs,
      n.span,
      n.scope,
    );
    n.outputs.forEach((o, i) => {
      const v = outs[i]!;
      // Views (reshape) and the loss (cross_entropy, f32 by definition) are not rounded again.
      map.set(o, isFloat(v.type.dtype) && n.op !== 'reshape' && n.op !== 'cross_entropy' ? round(v, n.span, n.scope) : v);
    });
  }
  for (const c of g.constraints) {
    const v = map.get(c.value)!;
    b.constraints.set(v.id, { ...c, value: v.id });
  }
  return b.finish(
    g.name,
    g.outputs.map((o) => map.get(o)!),
    g.outputNames,
  );
}
