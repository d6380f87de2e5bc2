import type { Graph } from '../ir.js';
import { flopsOf } from '../ops/registry.js';
import { localShape, numel, splitCount } from '../../layout/mesh.js';
import { dtypeBytes, shapeOf } from '../sharding/mesh.js';
import type { SpmdProgram } from '../sharding/partition.js';
import { dataParallelAxes } from './data-parallel.js';
import { layerOf, modelBytes, policyDrops, recomputeProblem } from './recompute.js';

/**
 * Per-device memory of a training step, from the partitioned forward program:
 * - params: each device's parameter blocks; under ZeRO-3 also split over data parallel
 *   (plus one layer's worth gathered at a time);
 * - grads: one f32 gradient per parameter element the device holds; split over data
 *   parallel under ZeRO-2 and 3 (reduce-scattered instead of all-reduced);
 * - optimizer: AdamW's two f32 moments (SGD: one); split over data parallel under ZeRO 1-3;
 * - activations: what the backward pass reads, i.e. every forward value each device
 *   holds, except what the recompute policy drops, plus the largest run of dropped values
 *   rebuilt together within a layer. The policies and that model are train/recompute.ts's
 *   (`policyDrops`, `modelBytes`), applied to the local program: `full` keeps only what
 *   crosses a layer boundary, `selective` drops the attention core (`attentionCore`),
 *   and `auto` drops what `dropped` says: a plan of planRecompute on `p.local`, whose
 *   value ids it names.
 * peak is their sum (a static upper bound; the memory planner's arena is the exact one).
 */
export type Recompute = 'none' | 'full' | 'selective' | 'auto';

export interface TrainingMemory {
  readonly zero: number;
  readonly recompute: Recompute;
  readonly dataParallel: number;
  readonly memory: { readonly params: number; readonly grads: number; readonly optimizer: number; readonly activations: number; readonly peak: number };
  readonly activationBytesPerLayer: Readonly<Record<string, number>>;
  readonly paramCount: number;
  readonly flopsPerStep: number;
}

export function trainingMemory(
  g: Graph,
  p: SpmdProgram,
  opts: { zero?: number; recompute?: Recompute; optimizer?: 'adamw' | 'sgd'; dropped?: ReadonlySet<number> } = {},
): TrainingMemory {
  const zero = opts.zero ?? 0;
  const recompute = opts.recompute ?? 'none';
  // The data-parallel degree: the axes ZeRO splits state over (train/step.ts).
  const dp = splitCount(p.mesh, dataParallelAxes(g, p.mesh));
  const local = (id: number) => numel(localShape(p.mesh, shapeOf(p.globalTypes[id]!), p.layouts[id]!));
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
  let all = 0;
  for (const n of p.local.nodes) {
    const layer = layerOf(n.scope) ?? '(outside layers)';
    for (const o of n.outputs) {
      const bytes = local(o) * dtypeBytes(p.local.values[o]!.type.dtype);
      perLayer[layer] = (perLayer[layer] ?? 0) + bytes;
      all += bytes;
    }
  }
  // Recompute candidates count as the planner models them; everything else is kept.
  const problem = recomputeProblem(p.local);
  const candidates = problem.items.reduce((n, it) => n + it.bytes * it.values.length, 0);
  if (recompute === 'auto' && !opts.dropped) throw new Error("trainingMemory: recompute 'auto' needs the planned dropped values");
  const dropped = opts.dropped;
  const drops = dropped
    ? problem.items.map((it) => it.values.every((v) => dropped.has(v)))
    : policyDrops(p.local, problem, recompute as Exclude<Recompute, 'auto'>);
  const activations = all - candidates + modelBytes(problem, drops);
  const params = zero >= 3 ? paramBytes / dp + [...layerParams.values()].reduce((a, b) => Math.max(a, b), 0) : paramBytes;
  const grads = (zero >= 2 ? paramElems / dp : paramElems) * 4;
  const optimizer = (((opts.optimizer ?? 'adamw') === 'adamw' ? 2 : 1) * paramElems * 4) / (zero >= 1 ? dp : 1);
  const flops =
    3 *
    g.nodes.reduce(
      (n, node) =>
        n +
        flopsOf(
          node,
          node.inputs.map((i) => shapeOf(g.values[i]!.type)),
          node.outputs.map((o) => shapeOf(g.values[o]!.type)),
        ),
      0,
    );
  const paramCount = g.values.filter((v) => v.kind === 'param').reduce((n, v) => n + numel(shapeOf(v.type)), 0);
  const round = Math.round;
  return {
    zero,
    recompute,
    dataParallel: dp,
    memory: {
      params: round(params),
      grads: round(grads),
      optimizer: round(optimizer),
      activations: round(activations),
      peak: round(params + grads + optimizer + activations),
    },
    activationBytesPerLayer: perLayer,
    paramCount,
    flopsPerStep: flops,
  };
}
