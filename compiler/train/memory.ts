import type { Graph } from '../ir.js';
import { flopsOf } from '../sharding/auto.js';
import { axisSize, dtypeBytes, localShape, shapeOf } from '../sharding/mesh.js';
import type { SpmdProgram } from '../sharding/partition.js';
import { ATTENTION_CORE, layerOf } from './recompute.js';

/**
 * Per-device memory of a training step, from the partitioned forward program:
 * - params: each device's parameter blocks; under ZeRO-3 also split over data parallel
 *   (plus one layer's worth gathered at a time);
 * - grads: one f32 gradient per parameter element the device holds; split over data
 *   parallel under ZeRO-2 and 3 (reduce-scattered instead of all-reduced);
 * - optimizer: AdamW's two f32 moments (SGD: one); split over data parallel under ZeRO 1-3;
 * - activations: what the backward pass reads, i.e. every forward value each device
 *   holds, except what the recompute policy drops: `full` keeps only each layer's input
 *   (and rebuilds one layer at a time), `selective` drops the attention core's values
 *   (softmax probabilities, attention outputs and the dropout on them), as Megatron does.
 * peak is their sum (a static upper bound; the memory planner's arena is the exact one).
 */
export type Recompute = 'none' | 'full' | 'selective';

export interface TrainingMemory {
  readonly zero: number;
  readonly recompute: Recompute;
  readonly dataParallel: number;
  readonly memory: { readonly params: number; readonly grads: number; readonly optimizer: number; readonly activations: number; readonly peak: number };
  readonly activationBytesPerLayer: Readonly<Record<string, number>>;
  readonly paramCount: number;
  readonly flopsPerStep: number;
}


export function trainingMemory(g: Graph, p: SpmdProgram, opts: { zero?: number; recompute?: Recompute; optimizer?: 'adamw' | 'sgd' } = {}): TrainingMemory {
  const zero = opts.zero ?? 0;
  const recompute = opts.recompute ?? 'none';
  // The data-parallel degree: the axes that split the batch (dim 0) of the first input.
  const first = p.local.inputs[0];
  const dpAxes = first === undefined ? [] : [...(p.layouts[first]!.axes[0] ?? [])];
  const dp = dpAxes.reduce((n, a) => n * axisSize(p.mesh, a), 1);
  const local = (id: number) => localShape(p.mesh, shapeOf(p.globalTypes[id]!), p.layouts[id]!).reduce((a, b) => a * b, 1);
  let paramElems = 0;
  let paramBytes = 0;
  const layerParams = new Map<string, number>();
  for (const v of p.local.values) {
    if (v.kind !== 'param') continue;
    const n = local(v.id);
    paramElems += n;
    paramBytes += n * dtypeBytes(v.type.dtype);
    const layer = layerOf(v.name!);
    if (layer) layerParams.set(layer, (layerParams.get(layer) ?? 0) + n * dtypeBytes(v.type.dtype));
  }
  const perLayer: Record<string, number> = {};
  let activations = 0;
  let layerInputs = 0;
  const seenLayer = new Set<string>();
  for (const n of p.local.nodes) {
    const layer = layerOf(n.scope) ?? '(outside layers)';
    for (const o of n.outputs) {
      const bytes = local(o) * dtypeBytes(p.local.values[o]!.type.dtype);
      perLayer[layer] = (perLayer[layer] ?? 0) + bytes;
      if (recompute === 'selective' && ATTENTION_CORE.has(n.op)) continue;
      if (recompute === 'full' && layer !== '(outside layers)') {
        // Only the first value each layer produces from its input is kept: the layer's checkpoint.
        if (!seenLayer.has(layer)) { seenLayer.add(layer); layerInputs += bytes; }
        continue;
      }
      activations += bytes;
    }
  }
  if (recompute === 'full') activations += layerInputs + Math.max(0, ...Object.entries(perLayer).filter(([k]) => k !== '(outside layers)').map(([, b]) => b));
  const params = zero >= 3 ? paramBytes / dp + Math.max(0, ...layerParams.values()) : paramBytes;
  const grads = (zero >= 2 ? paramElems / dp : paramElems) * 4;
  const optimizer = ((opts.optimizer ?? 'adamw') === 'adamw' ? 2 : 1) * paramElems * 4 / (zero >= 1 ? dp : 1);
  const flops = 3 * g.nodes.reduce((n, node) => n + flopsOf(node.op, node.inputs.map((i) => shapeOf(g.values[i]!.type)), node.outputs.map((o) => shapeOf(g.values[o]!.type))), 0);
  const paramCount = g.values.filter((v) => v.kind === 'param').reduce((n, v) => n + shapeOf(v.type).reduce((a, b) => a * b, 1), 0);
  const round = Math.round;
  return {
    zero, recompute, dataParallel: dp,
    memory: { params: round(params), grads: round(grads), optimizer: round(optimizer), activations: round(activations), peak: round(params + grads + optimizer + activations) },
    activationBytesPerLayer: perLayer, paramCount, flopsPerStep: flops,
  };
}
