import { dimValue } from '../dims.js';
import type { Graph } from '../ir.js';
import { evalFused } from './fused.js';
import type { RefTensor } from '../ops/tensor.js';
import { referenceOf } from '../ops/registry.js';

const shape = (g: Graph, id: number) => g.values[id]!.type.dims.map((d) => dimValue(d)!);

/**
 * The numerical oracle: runs a concrete graph on the CPU in float64. `params` maps
 * parameter names to values (use the runtime's `initValues` to match a plan's seed).
 */
export function interpret(
  g: Graph,
  inputs: Readonly<Record<string, ArrayLike<number>>>,
  params: (name: string, shape: readonly number[]) => ArrayLike<number>,
): Record<string, RefTensor> {
  const env = new Map<number, RefTensor>();
  for (const v of g.values) {
    const s = shape(g, v.id);
    if (v.kind === 'input') {
      const data = inputs[v.name!];
      if (!data) throw new Error(`missing input '${v.name}'`);
      env.set(v.id, { shape: s, data: Float64Array.from(data) });
    } else if (v.kind === 'param') env.set(v.id, { shape: s, data: Float64Array.from(params(v.name!, s)) });
    else if (v.kind === 'const') env.set(v.id, { shape: s, data: Float64Array.of(v.scalar!) });
  }
  for (const n of g.nodes) {
    const ins = n.inputs.map((i) => env.get(i)!);
    let outs: RefTensor[];
    if (n.op === 'fused') {
      outs = evalFused(
        n.body!,
        ins,
        n.outputs.map((o) => shape(g, o)),
      );
    } else {
      const f = referenceOf(n.op);
      if (!f) throw new Error(`no reference implementation for '${n.op}'`);
      outs = f(
        ins,
        n.attrs,
        n.outputs.map((o) => shape(g, o)),
        n.outputs.map((o) => g.values[o]!.type.dtype),
        n.id,
      );
    }
    n.outputs.forEach((o, i) => env.set(o, outs[i]!));
  }
  const result: Record<string, RefTensor> = {};
  g.outputs.forEach((o, i) => (result[g.outputNames[i]!] = env.get(o)!));
  return result;
}
