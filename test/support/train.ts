import { dimValue } from '../../compiler/dims.js';
import type { Graph } from '../../compiler/ir.js';
import { interpret } from '../../compiler/reference/interpret.js';
import type { TrainingGraph } from '../../compiler/train/step.js';
import { initValues } from '../../runtime/init.js';

/** Runs a training graph on the CPU reference for `steps` steps, applying its updates to `params`. */
export function referenceTrain(
  tg: TrainingGraph,
  params: Map<string, Float64Array>,
  inputsAt: (t: number) => Record<string, ArrayLike<number>>,
  steps: number,
  from = 1,
): number[] {
  const losses: number[] = [];
  for (let t = from; t < from + steps; t++) {
    const out = interpret(tg.graph, inputsAt(t), (name) => params.get(name)!);
    losses.push(out['loss']!.data[0]!);
    for (const u of tg.updates) params.set(u.param, Float64Array.from(out[u.output]!.data));
  }
  return losses;
}

export function initialParams(g: Graph, seed: number): Map<string, Float64Array> {
  const m = new Map<string, Float64Array>();
  for (const v of g.values) {
    if (v.kind !== 'param') continue;
    const n = v.type.dims.reduce((a, d) => a * dimValue(d)!, 1);
    m.set(v.name!, Float64Array.from(initValues(v.init!, n, seed, v.name!)));
  }
  return m;
}
