import { differentiate } from '../../compiler/autodiff/grad.js';
import { dimConst } from '../../compiler/dims.js';
import { extendGraph, type Graph, type Value } from '../../compiler/ir.js';

/**
 * The real backward graph of a sample as compiler/autodiff builds it, with the sum of
 * the first output as the loss (a sample's `train` section names a loss over labels; for
 * memory only the shape of the backward pass matters, which any scalar loss gives).
 */
export function withAutodiff(fwd: Graph): Graph {
  const { builder: b, map } = extendGraph(fwd);
  let loss = map.get(fwd.outputs[0]!)!;
  const span = fwd.nodes.at(-1)!.span;
  for (let axis = 0; axis < loss.type.dims.length; axis++) {
    const dims = loss.type.dims.map((d, j) => (j === axis ? dimConst(1) : d));
    loss = b.addNode('sum', [loss], [{ dtype: loss.type.dtype, dims }], { axis, keepdim: true }, span, 'loss')[0]!;
  }
  return differentiate(b.finish(fwd.name, [loss], ['loss']));
}

/**
 * A forward graph followed by a mirrored backward pass that keeps every activation the
 * forward pass made until its gradient is taken (no closed-form rules that save less,
 * unlike withAutodiff): the longest lifetimes a training step can have. For each forward node in reverse, a `grad_<op>` node reads the
 * gradients of its outputs and the activations it consumed (kept from the forward pass,
 * as reverse-mode autodiff keeps them) and produces a gradient for each of its
 * non-constant inputs; gradients of a value used twice are summed with `add`. The
 * outputs are the forward outputs and every parameter's gradient. Only lifetimes and
 * sizes matter here, not the numerics.
 */
export function withMirroredBackward(fwd: Graph): Graph {
  const { builder: b, map } = extendGraph(fwd);
  const grad = new Map<number, Value>();
  const accumulate = (id: number, g: Value, span: Graph['nodes'][number]['span'], scope: string) => {
    const had = grad.get(id);
    grad.set(id, had ? b.addNode('add', [had, g], [g.type], {}, span, scope)[0]! : g);
  };
  for (const o of fwd.outputs) {
    if (!grad.has(o)) grad.set(o, b.addValue({ kind: 'input', name: `d_${fwd.outputNames[fwd.outputs.indexOf(o)]}`, type: fwd.values[o]!.type }));
  }
  for (const n of [...fwd.nodes].reverse()) {
    const dOuts = n.outputs.map((o) => grad.get(o)).filter((g): g is Value => !!g);
    if (!dOuts.length) continue;
    const wanted = n.inputs.filter((i) => fwd.values[i]!.kind !== 'const' && fwd.values[i]!.kind !== 'input');
    const ins = [...dOuts, ...n.inputs.map((i) => map.get(i)!)];
    const gs = b.addNode(
      `grad_${n.op}`,
      ins,
      wanted.map((i) => fwd.values[i]!.type),
      {},
      n.span,
      n.scope,
    );
    wanted.forEach((i, k) => accumulate(i, gs[k]!, n.span, n.scope));
  }
  const params = fwd.values.filter((v) => v.kind === 'param' && grad.has(v.id));
  const outs = [...fwd.outputs.map((o) => map.get(o)!), ...params.map((p) => grad.get(p.id)!)];
  return b.finish(`${fwd.name}Train`, outs, [...fwd.outputNames, ...params.map((p) => `grad.${p.name}`)]);
}
