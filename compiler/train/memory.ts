import type { Graph } from '../ir.js';
import { facetsOf, flopsOf } from '../ops/registry.js';
import { isFloat } from '../types.js';
import { localShape, numel, splitCount } from '../../layout/mesh.js';
import { dtypeBytes, shapeOf } from '../sharding/mesh.js';
import type { SpmdProgram } from '../sharding/partition.js';
import { dataParallelAxes } from './data-parallel.js';
import type { Precision } from './precision.js';
import { layerOf, policyDrops, recomputeProblem } from './recompute.js';
import { savedForBackward } from './saved.js';

/**
 * Per-device memory of a training step as a mixed-precision run lays it out, from the
 * partitioned forward program (Ψ: the parameter elements a device holds before ZeRO; N_d:
 * the data-parallel degree, the axes ZeRO splits state over, train/data-parallel.ts):
 * - params: the parameters in the compute precision, 2Ψ in mixed precision (bf16/f16:
 *   the train section's `precision`, or parameters declared in a 16-bit type), else 4Ψ;
 *   under ZeRO-3 split over N_d, plus the largest layer's parameters gathered at a time;
 * - grads: one gradient per parameter in the compute precision (2Ψ or 4Ψ), split over N_d
 *   under ZeRO 2 and 3;
 * - optimizer: AdamW's two f32 moments (SGD: one), plus in mixed precision the f32 master
 *   weights: 12Ψ for mixed-precision AdamW, the ZeRO paper's K = 12; split over N_d under
 *   ZeRO 1-3. So ZeRO 0-3 give (4 + K)Ψ, 4Ψ + KΨ/N_d, 2Ψ + (2 + K)Ψ/N_d and
 *   (4 + K)Ψ/N_d (plus ZeRO-3's gathered layer), Rajbhandari et al.'s figures;
 * - activations: what the backward pass reads (train/saved.ts: each differentiated node's
 *   gradient rule, run on stand-ins), stored in the compute precision, minus what the
 *   recompute policy drops, plus what rebuilding dropped values reads, plus the largest
 *   layer's rebuilt values (a layer is rebuilt at a time). A reshape's output is its
 *   input's buffer. An activation the forward all-gathers (a sequence-split norm's output)
 *   counts as its block before the gather: the step gathers it again for the backward
 *   (partition's `forwardNodes`). Other conversions are shared by forward and backward
 *   readers, so a value read in a converted layout counts in that layout. Dropout masks cost nothing: mdc's dropout redraws its mask from a
 *   hash of (seed, mask id, counter, element) (compiler/ops/elementwise.ts); with
 *   `dropoutMasks: 'stored'` each kept dropout counts a byte per element instead, as
 *   Megatron-LM stores them (for comparison with Korthikanti et al.; docs/training.md).
 * Fine-tuning (`frozen`: train/freeze.ts's frozen parameters, every weight beside `@lora`
 * adapters among them): a frozen parameter counts in params only. The step computes no
 * gradient for it and keeps no moments, and in mixed precision it needs no f32 master copy:
 * nothing updates it, so its compute-precision copy is all a run keeps.
 * activationBytesPerLayer: the kept activations by the layer whose backward reads them
 * (a layer's input belongs to the layer that reads it); values outside repeated layers
 * under '(outside layers)'. peak is the sum of the four (a static upper bound; the memory
 * planner's arena is the exact one).
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

export interface TrainingMemoryOptions {
  readonly zero?: number;
  readonly recompute?: Recompute;
  readonly optimizer?: 'adamw' | 'sgd';
  /** Under recompute 'auto': the planned dropped values (planRecompute on `p.local`). */
  readonly dropped?: ReadonlySet<number>;
  /** The train section's precision; absent: mixed precision exactly when every float parameter is declared in a 16-bit type. */
  readonly precision?: Precision;
  /** 'regenerated' (mdc's dropout, the default): masks cost nothing; 'stored': a byte per element of each kept dropout. */
  readonly dropoutMasks?: 'regenerated' | 'stored';
  /** Parameters the step does not train (by name, as in `g`): no gradient and no optimizer state. */
  readonly frozen?: ReadonlySet<string>;
}

export function trainingMemory(g: Graph, p: SpmdProgram, opts: TrainingMemoryOptions = {}): TrainingMemory {
  const zero = opts.zero ?? 0;
  const recompute = opts.recompute ?? 'none';
  const local = p.local;
  // The data-parallel degree: the axes ZeRO splits state over (train/step.ts).
  const dp = splitCount(p.mesh, dataParallelAxes(g, p.mesh));
  const elems = (id: number) => numel(localShape(p.mesh, shapeOf(p.globalTypes[id]!), p.layouts[id]!));
  const floatParams = local.values.filter((v) => v.kind === 'param' && isFloat(v.type.dtype));
  const mixed =
    opts.precision === 'bf16' ||
    opts.precision === 'f16' ||
    (opts.precision === undefined && floatParams.length > 0 && floatParams.every((v) => dtypeBytes(v.type.dtype) === 2));
  const floatBytes = mixed ? 2 : 4;
  const bytesOf = (id: number) => elems(id) * (isFloat(local.values[id]!.type.dtype) ? floatBytes : dtypeBytes(local.values[id]!.type.dtype));

  let paramElems = 0;
  let trainedElems = 0;
  const layerParams = new Map<string, number>();
  for (const v of floatParams) {
    const n = elems(v.id);
    paramElems += n;
    if (!opts.frozen?.has(v.name!)) trainedElems += n;
    const layer = layerOf(v.name!);
    if (layer) layerParams.set(layer, (layerParams.get(layer) ?? 0) + n * floatBytes);
  }
  const moments = (opts.optimizer ?? 'adamw') === 'adamw' ? 2 : 1;
  const params = zero >= 3 ? (paramElems * floatBytes) / dp + Math.max(0, ...layerParams.values()) : paramElems * floatBytes;
  const grads = (zero >= 2 ? trainedElems / dp : trainedElems) * floatBytes;
  const optimizer = ((moments + (mixed ? 1 : 0)) * 4 * trainedElems) / (zero >= 1 ? dp : 1);

  const { perLayer, activations } = activationBytes(local, recompute, opts, bytesOf, elems);

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

const OUTSIDE = '(outside layers)';

/** The value a chain of collectives with an all_gather in it converted into `id`, if it is one. */
function gatheredFrom(g: Graph, id: number): number | undefined {
  let gathered = false;
  let v = id;
  for (;;) {
    const val = g.values[v]!;
    const n = val.kind === 'op' ? g.nodes[val.producer!]! : undefined;
    if (!n || facetsOf(n.op)?.kernel !== 'collective') return gathered ? v : undefined;
    gathered ||= n.op === 'all_gather';
    v = n.inputs[0]!;
  }
}

/** Kept activation bytes per layer and in total (kept plus the largest layer's rebuilt values), on the local program. */
function activationBytes(
  local: Graph,
  recompute: Recompute,
  opts: TrainingMemoryOptions,
  bytesOf: (id: number) => number,
  elems: (id: number) => number,
): { perLayer: Record<string, number>; activations: number } {
  if (recompute === 'auto' && !opts.dropped) throw new Error("trainingMemory: recompute 'auto' needs the planned dropped values");
  const problem = recomputeProblem(local);
  const flags = opts.dropped ? undefined : policyDrops(local, problem, recompute as Exclude<Recompute, 'auto'>);
  const dropped = opts.dropped ?? new Set(problem.items.flatMap((it, i) => (flags![i] ? it.values : [])));
  const reads = savedForBackward(local);
  const activation = (id: number) => {
    const v = local.values[id]!;
    return v.kind === 'op' || (v.kind === 'input' && isFloat(v.type.dtype));
  };
  // Where a value is kept: the first node reading it for the backward pass (or for a rebuild).
  const kept = new Map<number, number>();
  for (const [id, nodes] of reads) if (!dropped.has(id) && activation(id)) kept.set(id, nodes[0]!);
  // Rebuilt: dropped values the backward reads and, recursively, the dropped inputs of their producers.
  const rebuilt = new Set<number>();
  const todo = [...reads.keys()].filter((id) => dropped.has(id));
  while (todo.length) {
    const id = todo.pop()!;
    if (rebuilt.has(id)) continue;
    rebuilt.add(id);
    const n = local.nodes[local.values[id]!.producer!]!;
    for (const i of n.inputs) {
      if (dropped.has(i)) todo.push(i);
      else if (activation(i) && !kept.has(i)) kept.set(i, n.id);
    }
  }
  // A reshape's output is its input's buffer: count the buffer once. An activation gathered for
  // the forward is gathered again for the backward (partition's forwardNodes): what stays is its
  // block before the gather.
  const buffer = (id: number): number => {
    const v = local.values[id]!;
    const n = v.kind === 'op' ? local.nodes[v.producer!]! : undefined;
    if (n && n.op === 'reshape') return buffer(n.inputs[0]!);
    const source = n && gatheredFrom(local, n.outputs[0]!);
    return source !== undefined && activation(source) ? buffer(source) : id;
  };
  const layerAt = (node: number, id: number) => {
    const v = local.values[id]!;
    return layerOf(local.nodes[node]!.scope) ?? (v.kind === 'op' ? layerOf(local.nodes[v.producer!]!.scope) : undefined) ?? OUTSIDE;
  };
  const perLayer: Record<string, number> = {};
  const counted = new Set<number>();
  for (const [id, node] of [...kept].sort((a, b) => a[1] - b[1])) {
    const buf = buffer(id);
    if (counted.has(buf)) continue;
    counted.add(buf);
    const layer = layerAt(node, id);
    perLayer[layer] = (perLayer[layer] ?? 0) + bytesOf(buf);
  }
  // The forward's float outputs feed the loss, whose backward reads them (cross-entropy's reads the logits).
  for (const id of local.outputs) {
    const buf = buffer(id);
    if (counted.has(buf) || !isFloat(local.values[id]!.type.dtype) || !activation(buf)) continue;
    counted.add(buf);
    perLayer[OUTSIDE] = (perLayer[OUTSIDE] ?? 0) + bytesOf(buf);
  }
  if (opts.dropoutMasks === 'stored') {
    for (const n of local.nodes) {
      if (n.op !== 'dropout' || !n.attrs['training'] || !((n.attrs['p'] as number) > 0) || dropped.has(n.outputs[0]!)) continue;
      const layer = layerOf(n.scope) ?? OUTSIDE;
      perLayer[layer] = (perLayer[layer] ?? 0) + elems(n.outputs[0]!);
    }
  }
  const rebuiltPerLayer = new Map<string, number>();
  const rebuiltBuffers = new Set<number>();
  for (const id of rebuilt) {
    const buf = buffer(id);
    if (rebuiltBuffers.has(buf) || counted.has(buf)) continue;
    rebuiltBuffers.add(buf);
    const layer = layerAt(local.values[id]!.producer!, id);
    rebuiltPerLayer.set(layer, (rebuiltPerLayer.get(layer) ?? 0) + bytesOf(buf));
  }
  const activations = Object.values(perLayer).reduce((a, b) => a + b, 0) + Math.max(0, ...rebuiltPerLayer.values());
  return { perLayer, activations };
}
