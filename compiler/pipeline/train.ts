import { differentiateInto } from '../autodiff/grad.js';
import { dimConst, dimValue } from '../dims.js';
import type { Graph, Value } from '../ir.js';
import { Ctx } from '../ops/grad-ctx.js';
import type { Mesh } from '../sharding/mesh.js';
import { addAxes, dataParallelAxes, trainingLossGraph } from '../train/step.js';
import type { TrainSettings } from '../train/settings.js';
import { optimizerUpdate } from '../train/optimizer.js';
import type { Layout, TType } from '../types.js';

/** The passes of one pipeline stage, in the order they run for a micro-batch (U1 and U2 once per step). */
export const PASSES = ['F', 'B', 'W', 'U1', 'U2'] as const;
export type Pass = (typeof PASSES)[number];

/** Where a node runs: its stage, and the pass of that stage. */
export interface Tag {
  readonly stage: number;
  readonly pass: Pass;
}

/**
 * A pipelined training step as one graph whose every node is tagged with its stage and
 * pass (compiler/pipeline/cut.ts cuts it into programs after partitioning):
 * - F: the stage's forward nodes (the last stage's include the loss, output `loss`);
 * - B: its backward nodes (cut.ts moves those that only feed weight gradients to W for
 *   the zero-bubble schedule);
 * - W: adding this micro-batch's gradients, over 1/m, into `acc.<name>` (an update);
 * - U1 (once per step): the sum of squares of the stage's accumulated gradients, output
 *   `sumsq.<stage>` (the host adds the stages' sums: the global norm);
 * - U2 (once per step): from input `sumsq` (that total), the norm, clipping and the
 *   optimizer update of the stage's parameters, and `acc.<name>` reset to zero.
 * A parameter read on several stages has a copy on each (split.ts replicateShared);
 * copies share the name, so their `acc` sums are added across those stages before U1.
 */
export interface PipelineTraining {
  readonly graph: Graph;
  readonly tags: readonly Tag[];
  readonly updates: readonly PipelineUpdate[];
  /** The model's parameters (not optimizer state), each once, in order. */
  readonly params: readonly string[];
}

/** An update of the step: output `output` (value `outputId`) copied over parameter `param` (value `paramId`) after stage `stage` runs it. */
export interface PipelineUpdate {
  readonly output: string;
  readonly param: string;
  readonly stage: number;
  readonly outputId: number;
  readonly paramId: number;
}

export function pipelineTrainingGraph(
  forward: Graph,
  stageOfNode: readonly number[],
  stages: number,
  settings: TrainSettings,
  file: string,
  mesh: Mesh,
  /** `@offload(host)` parameters: U2 resets their sums but leaves their update to the host, which reads the sums after U1. */
  offloaded: (name: string) => boolean = () => false,
): PipelineTraining {
  const zero = settings.zero ?? 0;
  const loss = trainingLossGraph(forward, settings, file, { mesh, zero }).graph!;
  const d = differentiateInto(loss);
  const b = d.builder;
  const tags: Tag[] = [];
  // Loss-graph nodes keep the forward's ids; the loss itself (cross_entropy) is on the last stage.
  loss.nodes.forEach((_, i) => tags.push({ stage: i < stageOfNode.length ? stageOfNode[i]! : stages - 1, pass: 'F' }));
  // A backward node runs on the stage of the forward node whose gradient rule made it; a
  // zero gradient (a parameter the loss does not reach) on its parameter's stage, below.
  const zeroGrads: number[] = [];
  d.origin.forEach((o) => {
    if (o < 0) zeroGrads.push(tags.length);
    tags.push({ stage: o < 0 ? 0 : tags[o]!.stage, pass: 'B' });
  });

  const owner = new Map<number, number>();
  loss.nodes.forEach((n, i) => {
    for (const x of n.inputs) if (loss.values[x]!.kind === 'param' && !owner.has(x)) owner.set(x, tags[i]!.stage);
  });
  const stageOf = (p: Value) => owner.get(p.id) ?? 0;
  for (const x of d.grads) {
    const p = x.grad.producer;
    if (p !== undefined && zeroGrads.includes(p)) tags[p] = { stage: stageOf(x.param), pass: 'B' };
  }
  const node = loss.nodes.at(-1)!;
  const c = new Ctx(b, node);
  const tagged = (stage: number, pass: Pass, make: () => void) => {
    make();
    while (tags.length < b.nodeCount) tags.push({ stage, pass });
  };
  const f32 = (dims: readonly number[] = []): TType => ({ dtype: 'f32', dims: dims.map(dimConst) });
  const m = settings.microbatches ?? 1;
  const dp = dataParallelAxes(forward, mesh);
  const withDp = (t: TType): Layout | undefined => (dp.length ? addAxes(mesh, t, dp) : t.layout);
  const stateType = (p: Value): TType => {
    const l = zero >= 1 ? withDp(p.type) : p.type.layout;
    return { dtype: p.type.dtype, dims: p.type.dims, ...(l ? { layout: l } : {}) };
  };
  const state = (prefix: string, p: Value, type = stateType(p)) =>
    b.addValue({ type, kind: 'param', name: `${prefix}${p.name}`, init: { kind: 'constant', value: 0 } });

  const outs: Value[] = [d.loss];
  const names = ['loss'];
  const updates: PipelineUpdate[] = [];
  const put = (name: string, v: Value, like: TType, stage: number, old: Value) => {
    outs.push(v);
    names.push(`new.${name}`);
    updates.push({ output: `new.${name}`, param: name, stage, outputId: v.id, paramId: old.id });
    if (like.layout) b.constraints.set(v.id, { value: v.id, layout: like.layout, span: node.span });
  };

  // W: acc += grad / m, per micro-batch.
  const accs = d.grads.map((x) => {
    const s = stageOf(x.param);
    const acc = state('acc.', x.param, x.param.type);
    tagged(s, 'W', () => put(`acc.${x.name}`, c.bin('add', acc, c.bin('mul', x.grad, c.scalar(1 / m, 'f32'))), acc.type, s, acc));
    return { ...x, acc, stage: s };
  });

  // U1: each stage's sum of squares; a parameter with copies counts once, on its first stage.
  const counted = new Set<string>();
  for (let s = 0; s < stages; s++) {
    let total: Value | undefined;
    tagged(s, 'U1', () => {
      for (const x of accs) {
        if (x.stage !== s || counted.has(x.name)) continue;
        counted.add(x.name);
        const n = x.acc.type.dims.reduce((a, k) => a * dimValue(k)!, 1);
        const wide = x.acc.type.dtype === 'f32' ? x.acc : c.op('cast', [x.acc], { dtype: 'f32', dims: x.acc.type.dims }, { dtype: 'f32' });
        const flat = c.op('reshape', [c.bin('mul', wide, wide)], f32([n]), { shape: [dimConst(n)] });
        const sq = c.op('sum', [flat], f32(), { axis: 0, keepdim: false });
        total = total ? c.bin('add', total, sq) : sq;
      }
    });
    if (total) {
      outs.push(total);
      names.push(`sumsq.${s}`);
    }
  }

  // U2: the norm from the stages' total, clipping, the optimizer, the sums reset.
  const sumsq = b.addValue({ type: f32(), kind: 'input', name: 'sumsq' });
  const lr = b.addValue({ type: f32(), kind: 'input', name: 'lr' });
  const opt = settings.optimizer;
  const bc1 = opt.kind === 'adamw' ? b.addValue({ type: f32(), kind: 'input', name: 'bc1' }) : undefined;
  const bc2 = opt.kind === 'adamw' ? b.addValue({ type: f32(), kind: 'input', name: 'bc2' }) : undefined;
  for (let s = 0; s < stages; s++) {
    tagged(s, 'U2', () => {
      const norm = c.op('sqrt', [sumsq], f32());
      if (s === 0) {
        outs.push(norm);
        names.push('grad_norm');
      }
      const clip = settings.gradClip;
      const scale =
        clip !== undefined && clip > 0
          ? c.bin('minimum', c.scalar(1, 'f32'), c.bin('div', c.scalar(clip, 'f32'), c.bin('add', norm, c.scalar(1e-6, 'f32'))))
          : undefined;
      if (s === 0 && scale) {
        outs.push(scale);
        names.push('clip_scale');
      }
      for (const { name, param, acc, stage } of accs) {
        if (stage !== s) continue;
        if (offloaded(name)) {
          put(`acc.${name}`, c.scalar(0, 'f32', acc.type.dims), acc.type, s, acc);
          continue;
        }
        const g = scale ? c.bin('mul', acc, scale) : acc;
        for (const u of optimizerUpdate(c, opt, name, param, g, { lr, bc1, bc2 }, (prefix, p) => state(prefix, p))) put(u.name, u.value, u.like, s, u.old);
        put(`acc.${name}`, c.scalar(0, 'f32', acc.type.dims), acc.type, s, acc);
      }
    });
  }
  const graph = b.finish(forward.name, outs, names);
  const params: string[] = [];
  for (const x of d.grads) if (!params.includes(x.name)) params.push(x.name);
  return { graph, tags, updates, params };
}
