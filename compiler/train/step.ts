import { diag, type Diagnostic } from '../../diagnostics/messages.js';
import { differentiateInto } from '../autodiff/grad.js';
import { dimConst, dimValue } from '../dims.js';
import { extendGraph, type Graph, type Value } from '../ir.js';
import { Ctx } from '../ops/grad-ctx.js';
import { contrastiveLoss, mseLoss } from '../ops/loss.js';
import { splitCount } from '../../layout/mesh.js';
import { type Mesh } from '../sharding/mesh.js';
import { isFloat, printType, type Layout, type TType } from '../types.js';
import { applyRecompute, mapForwardValues } from './apply-recompute.js';
import { dataParallelAxes } from './data-parallel.js';
import { dropoutStepReplacer } from './dropout-step.js';
import { lowPrecision } from './precision.js';
import { optimizerUpdate } from './optimizer.js';
import { planRecompute, type RecomputePlan } from './recompute.js';
import { offloadConflicts, offloadTargetOf } from './offload.js';
import { frozenParams } from './freeze.js';
import { applyLora, loraA, loraB, loraTargets } from './lora.js';
import type { OptimizerSpec, RecomputeSetting, TrainSettings } from './settings.js';

/**
 * One training step as a graph: the model, its loss, the backward pass, gradient
 * clipping by global norm and the optimizer update. Optimizer state (AdamW's moments,
 * SGD's momentum) are parameters `opt.m.<name>` / `opt.v.<name>` initialised to zero;
 * the new parameter and state values are outputs `new.<name>`, which the plan's
 * `updates` copy over the parameters after each run, so everything stays on the device.
 *
 * Per-step scalars are inputs computed by the host: `lr` (the schedule's rate),
 * `bc1` and `bc2` (AdamW's bias corrections 1/(1-β1^t) and 1/(1-β2^t)), and with
 * training dropout the i32 `dropout_step` (a counter per run: train/dropout-step.ts).
 * Outputs: `loss`, `grad_norm` (before clipping), then the updates.
 */
export interface TrainingGraph {
  readonly graph: Graph;
  readonly updates: readonly { readonly output: string; readonly param: string }[];
  /** The model's parameters that train (not optimizer state), in order. */
  readonly params: readonly string[];
  /** Parameters frozen by `freeze` or @lora (train/freeze.ts): read by the step, never written. */
  readonly frozen?: readonly string[];
  /** `@offload(host)` parameters, whose update the host computes (the plan's `offload`). */
  readonly offload?: OffloadedUpdate;
  /** How many of the graph's first nodes are the forward pass (and loss); the backward pass and the update follow. */
  readonly forwardNodes: number;
}

/**
 * The update the graph leaves to the host for `@offload(host)` parameters: it outputs each
 * one's gradient (accumulated and unscaled, not clipped) as `grad.<name>` instead of
 * `new.<name>`, and keeps no optimizer state for it. The global norm still covers these
 * gradients; with clipping the graph outputs the factor it applied to the others,
 * `clip_scale`. The host applies the update in the kernels' order (runtime/host-optimizer.ts).
 */
export interface OffloadedUpdate {
  readonly params: readonly { readonly param: string; readonly grad: string; readonly decay: boolean }[];
  readonly clipScale?: string;
  readonly optimizer: OptimizerSpec;
}

/**
 * Sharded training (given a mesh): optimizer state and, under ZeRO, more are split over
 * the data-parallel axes (dataParallelAxes: those splitting some input's batch dim), by layout alone:
 * - ZeRO ≥ 1: optimizer state takes the parameter's layout plus the data-parallel axes on
 *   its first dim they divide; the update is computed there, so the gradient is
 *   reduce-scattered instead of all-reduced and the new parameter is all-gathered;
 * - ZeRO 3: parameters themselves are split that way, gathered where the forward uses them.
 * Each `new.*` output is constrained to its parameter's layout, so the plan's updates copy
 * blocks onto blocks.
 */
export interface ShardedTraining {
  readonly mesh: Mesh;
  readonly zero?: number;
}

/**
 * `dropped`: forward values the backward pass does not keep (train/recompute.ts), as value
 * ids of the step's loss graph, `trainingLossGraph(forward, settings, file, sharded)`; what
 * `planTrainingRecompute` returns. They are rebuilt where the backward pass reads them
 * (train/apply-recompute.ts) by the same ops on the same inputs, so every output is the
 * same as without recompute (bit for bit on the CPU reference).
 */
export function trainingGraph(
  forward: Graph,
  settings: TrainSettings,
  file: string,
  sharded?: ShardedTraining,
  dropped?: ReadonlySet<number>,
): { result?: TrainingGraph; diagnostics: Diagnostic[] } {
  const dp = sharded ? dataParallelAxes(forward, sharded.mesh) : [];
  const zero = sharded ? (sharded.zero ?? settings.zero ?? 0) : 0;
  const withDp = (t: TType): Layout | undefined => (sharded && dp.length ? addAxes(sharded.mesh, t, dp) : t.layout);
  const precision = settings.precision ?? 'f32';
  const offloadTargets = settings.offload ?? [];
  const conflicts = offloadConflicts(file, offloadTargets, precision, zero);
  if (conflicts.length) return { diagnostics: conflicts };
  const narrow = narrowParams(forward, file);
  if (narrow.length) return { diagnostics: narrow };
  const loss = trainingLossGraph(forward, settings, file, sharded);
  if (!loss.graph) return { diagnostics: loss.diagnostics };
  // Mixed precision: the loss is multiplied by `loss_scale` before the backward pass and
  // the gradients by `inv_loss_scale` after it; a step whose gradients overflowed changes nothing.
  // Fine-tuning: parameters frozen by `freeze`, or by @lora adapters (everything else), get no gradient, state or update.
  const adapters = new Set(loraTargets(forward, settings.lora ?? []).flatMap((t) => [loraA(t.param), loraB(t.param)]));
  const fz = frozenParams(loss.graph, settings.freeze ?? [], settings.trainAlso ?? [], adapters, file);
  if (fz.diagnostics.length) return { diagnostics: fz.diagnostics };
  const scaled = precision === 'f32' ? loss.graph : scaleLoss(loss.graph);
  const d = differentiateInto(scaled, fz.frozen.size ? { frozen: fz.frozen } : {});
  const b = d.builder;
  const node = loss.graph.nodes[loss.graph.nodes.length - 1]!;
  const c = new Ctx(b, node);
  const f32 = (dims: readonly number[] = []): TType => ({ dtype: 'f32', dims: dims.map(dimConst) });
  const lr = b.addValue({ type: f32(), kind: 'input', name: 'lr' });
  const opt = settings.optimizer;
  const bc1 = opt.kind === 'adamw' ? b.addValue({ type: f32(), kind: 'input', name: 'bc1' }) : undefined;
  const bc2 = opt.kind === 'adamw' ? b.addValue({ type: f32(), kind: 'input', name: 'bc2' }) : undefined;

  // Global gradient norm: sqrt of the sum of every gradient's squares.
  let total: Value | undefined;
  const invScale = precision === 'f32' ? undefined : b.addValue({ type: f32(), kind: 'input', name: 'inv_loss_scale' });
  const stateType = (p: Value): TType => (zero >= 1 ? { dtype: p.type.dtype, dims: p.type.dims, ...layoutPart(withDp(p.type)) } : p.type);
  const state = (prefix: string, p: Value, type = stateType(p)) =>
    b.addValue({ type, kind: 'param', name: `${prefix}${p.name}`, init: { kind: 'constant', value: 0 } });
  // Gradient accumulation (`microbatches = N`): the graph runs once per micro-batch; each
  // run adds its gradients, divided by N, into `acc.<name>` (a mean of N micro-batch
  // means is the big batch's mean when they are equal in size). Only the run given
  // `apply` = 1, the last, updates parameters and optimizer state from the sum and
  // resets it; the others change nothing else. The sum keeps the parameter's layout.
  const microbatches = settings.microbatches ?? 1;
  const apply = microbatches > 1 ? b.addValue({ type: f32(), kind: 'input', name: 'apply' }) : undefined;
  const sums: { name: string; sum: Value; acc: Value }[] = [];
  const unscaled = d.grads.map((x) => {
    const grad = invScale ? c.bin('mul', x.grad, invScale) : x.grad;
    if (!apply) return { ...x, grad };
    const acc = state('acc.', x.param, x.param.type);
    const sum = c.bin('add', acc, c.bin('mul', grad, c.scalar(1 / microbatches, 'f32')));
    sums.push({ name: x.name, sum, acc });
    return { ...x, grad: sum };
  });
  for (const { grad } of unscaled) {
    const n = grad.type.dims.reduce((a, x) => a * dimValue(x)!, 1);
    // The norm in f32 whatever the gradient's type: squares of f16 values overflow f16.
    const wide = grad.type.dtype === 'f32' ? grad : c.op('cast', [grad], { dtype: 'f32', dims: grad.type.dims }, { dtype: 'f32' });
    const sq = c.bin('mul', wide, wide);
    const flat = c.op('reshape', [sq], f32([n]), { shape: [dimConst(n)] });
    const s = c.op('sum', [flat], f32(), { axis: 0, keepdim: false });
    total = total ? c.bin('add', total, s) : s;
  }
  const norm = c.op('sqrt', [total ?? c.scalar(0, 'f32')], f32());
  const ok = invScale ? c.op('all_finite', [norm], f32()) : undefined;
  let scale: Value | undefined;
  if (settings.gradClip !== undefined && settings.gradClip > 0) {
    scale = c.bin('minimum', c.scalar(1, 'f32'), c.bin('div', c.scalar(settings.gradClip, 'f32'), c.bin('add', norm, c.scalar(1e-6, 'f32'))));
  }

  const outs: Value[] = [invScale ? c.bin('mul', d.loss, invScale) : d.loss, norm];
  const names = ['loss', 'grad_norm'];
  const updates: { output: string; param: string }[] = [];
  // After an overflow (non-finite gradients), and on a micro-batch that only accumulates, the step keeps every old value.
  const keep = ok && apply ? c.bin('mul', ok, apply) : (ok ?? apply);
  const emit = (name: string, v0: Value, like: TType, old: Value) => put(name, keep ? c.op('where', [keep, v0, old], v0.type) : v0, like);
  const put = (name: string, v: Value, like: TType) => {
    outs.push(v);
    names.push(`new.${name}`);
    updates.push({ output: `new.${name}`, param: name });
    if (sharded && like.layout) b.constraints.set(v.id, { value: v.id, layout: like.layout, span: node.span });
  };

  const hosted: OffloadedUpdate['params'][number][] = [];
  for (const { name, param, grad } of unscaled) {
    const decay = param.type.dims.length >= 2 && opt.weightDecay > 0;
    if (offloadTargets.length && offloadTargetOf(offloadTargets, name)) {
      outs.push(grad);
      names.push(`grad.${name}`);
      if (sharded && param.type.layout) b.constraints.set(grad.id, { value: grad.id, layout: param.type.layout, span: node.span });
      hosted.push({ param: name, grad: `grad.${name}`, decay });
      continue;
    }
    const g = scale ? c.bin('mul', grad, scale) : grad;
    for (const u of optimizerUpdate(c, opt, name, param, g, { lr, bc1, bc2 }, state)) emit(u.name, u.value, u.like, u.old);
  }
  if (hosted.length && scale) {
    outs.push(scale);
    names.push('clip_scale');
  }
  // The sum starts again after the step that used it (also after an overflow, which skipped it).
  for (const { name, sum, acc } of sums) put(`acc.${name}`, c.op('where', [apply!, c.scalar(0, 'f32'), sum], sum.type), acc.type);
  let graph = b.finish(forward.name, outs, names);
  if (dropped?.size) graph = applyRecompute(graph, mapForwardValues(loss.graph, graph, dropped), scaled.nodes.length);
  const offload: OffloadedUpdate | undefined = hosted.length ? { params: hosted, ...(scale ? { clipScale: 'clip_scale' } : {}), optimizer: opt } : undefined;
  return {
    result: {
      graph,
      updates,
      params: d.grads.map((x) => x.name),
      ...(fz.frozen.size ? { frozen: [...fz.frozen] } : {}),
      ...(offload ? { offload } : {}),
      forwardNodes: scaled.nodes.length,
    },
    diagnostics: [],
  };
}

/**
 * The loss graph a training step differentiates (after mixed precision and ZeRO-3's
 * parameter layouts): plan recompute on this graph, so the dropped ids are the ones
 * trainingGraph expects.
 */
export function trainingLossGraph(
  forward: Graph,
  settings: TrainSettings,
  file: string,
  sharded?: ShardedTraining,
): { graph?: Graph; diagnostics: Diagnostic[] } {
  const dp = sharded ? dataParallelAxes(forward, sharded.mesh) : [];
  const zero = sharded ? (sharded.zero ?? settings.zero ?? 0) : 0;
  const withDp = (t: TType): Layout | undefined => (sharded && dp.length ? addAxes(sharded.mesh, t, dp) : t.layout);
  const precision = settings.precision ?? 'f32';
  const adapted = settings.lora?.length ? applyLora(forward, settings.lora, file) : { graph: forward, diagnostics: [] };
  if (!adapted.graph) return { diagnostics: adapted.diagnostics };
  const fwd = precision === 'f32' ? adapted.graph : lowPrecision(adapted.graph, precision);
  return lossGraph(fwd, settings, file, zero >= 3 ? (v) => (v.kind === 'param' ? { ...v.type, ...layoutPart(withDp(v.type)) } : v.type) : undefined);
}

/**
 * Plans recompute for a training step: `recompute` (default: the train section's
 * `recompute` and `memory_budget`, settings.recompute) on trainingLossGraph. Undefined when
 * no policy is set or the loss graph fails (trainingGraph reports why). Pass the plan's
 * `dropped` to trainingGraph with the same forward, settings, file and sharding:
 *
 *   const plan = await planTrainingRecompute(forward, settings, file, sharded);
 *   const step = trainingGraph(forward, settings, file, sharded, plan?.dropped);
 *
 * Throws RecomputeError when `auto` has no budget or no plan fits it.
 */
export async function planTrainingRecompute(
  forward: Graph,
  settings: TrainSettings,
  file: string,
  sharded?: ShardedTraining,
  recompute: RecomputeSetting | undefined = settings.recompute,
): Promise<RecomputePlan | undefined> {
  if (!recompute) return undefined;
  const loss = trainingLossGraph(forward, settings, file, sharded).graph;
  if (!loss) return undefined;
  return planRecompute(loss, recompute.policy, recompute.budget !== undefined ? { budget: recompute.budget } : {});
}

/**
 * The forward graph with the train section's loss as its only output (adding an i32
 * `labels` input for cross_entropy), its training dropouts reading the step's dropout
 * counter (train/dropout-step.ts; the graph then takes an i32 `dropout_step` input).
 */
export function lossGraph(forward: Graph, settings: TrainSettings, file: string, retype?: (v: Value) => TType): { graph?: Graph; diagnostics: Diagnostic[] } {
  const span = forward.nodes.at(-1)?.span ?? { start: 0, end: 0, line: 1, col: 1, endLine: 1, endCol: 1 };
  const want = settings.loss.output || forward.outputNames[0]!;
  const idx = forward.outputNames.indexOf(want);
  if (idx < 0) return { diagnostics: [diag(file, span, 'MDC0506', want, forward.outputNames.join(', '))] };
  const out = forward.values[forward.outputs[idx]!]!;
  const { builder: b, map } = extendGraph(forward, retype, dropoutStepReplacer(forward));
  if (settings.loss.kind === 'output') {
    if (out.type.dims.some((x) => dimValue(x) !== 1) || !isFloat(out.type.dtype)) {
      return { diagnostics: [diag(file, span, 'MDC0507', want, printType(out.type))] };
    }
    return { graph: b.finish(forward.name, [map.get(out.id)!], ['loss']), diagnostics: [] };
  }
  const producer = forward.nodes[out.producer ?? forward.nodes.length - 1]!;
  if (settings.loss.kind === 'contrastive') {
    const other = forward.outputNames.indexOf(settings.loss.other);
    if (other < 0) return { diagnostics: [diag(file, span, 'MDC0506', settings.loss.other, forward.outputNames.join(', '))] };
    const ob = forward.values[forward.outputs[other]!]!;
    const same = out.type.dims.length === 2 && ob.type.dims.length === 2 && out.type.dims.every((d, i) => dimValue(d) === dimValue(ob.type.dims[i]!));
    if (!same || out.type.dtype !== 'f32' || ob.type.dtype !== 'f32')
      return { diagnostics: [diag(file, producer.span, 'MDC0542', want, printType(out.type), settings.loss.other, printType(ob.type))] };
    const c = new Ctx(b, producer);
    return { graph: b.finish(forward.name, [contrastiveLoss(c, map.get(out.id)!, map.get(ob.id)!)], ['loss']), diagnostics: [] };
  }
  if (settings.loss.kind === 'mse') {
    // Mean squared error against f32 `labels` of the output's shape (ops/loss.ts).
    const target = b.addValue({ type: { dtype: 'f32', dims: out.type.dims }, kind: 'input', name: 'labels' });
    return { graph: b.finish(forward.name, [mseLoss(new Ctx(b, producer), map.get(out.id)!, target)], ['loss']), diagnostics: [] };
  }
  const labels = b.addValue({ type: { dtype: 'i32', dims: out.type.dims.slice(0, -1) }, kind: 'input', name: 'labels' });
  const [l] = b.addNode('cross_entropy', [map.get(out.id)!, labels], [{ dtype: 'f32', dims: [] }], {}, producer.span, '');
  return { graph: b.finish(forward.name, [l!], ['loss']), diagnostics: [] };
}

/** The loss times an input `loss_scale`, as the graph's only output. */
function scaleLoss(g: Graph): Graph {
  const { builder: b, map } = extendGraph(g);
  const s = b.addValue({ type: { dtype: 'f32', dims: [] }, kind: 'input', name: 'loss_scale' });
  const loss = map.get(g.outputs[0]!)!;
  const node = g.nodes[g.values[g.outputs[0]!]!.producer!]!;
  const [out] = b.addNode('mul', [loss, s], [loss.type], {}, node.span, node.scope);
  return b.finish(g.name, [out!], ['loss']);
}

const layoutPart = (l: Layout | undefined) => (l ? { layout: l } : {});

export { dataParallelAxes };

/** `t`'s layout with `axes` appended (minor-most) on the first dim they divide and that does not use them already. */
export function addAxes(mesh: Mesh, t: TType, axes: readonly string[]): Layout | undefined {
  const base = t.layout ?? { axes: t.dims.map(() => []), partial: [] };
  const used = new Set(base.axes.flat());
  const add = axes.filter((a) => !used.has(a));
  if (!add.length) return t.layout;
  const n = splitCount(mesh, add);
  for (let d = 0; d < t.dims.length; d++) {
    const have = splitCount(mesh, base.axes[d] ?? []);
    const size = dimValue(t.dims[d]!)!;
    if (size % (have * n) === 0) return { axes: t.dims.map((_, i) => (i === d ? [...(base.axes[i] ?? []), ...add] : [...(base.axes[i] ?? [])])), partial: [] };
  }
  return t.layout;
}

/**
 * MDC0512 for each parameter declared in a low-precision float type: the optimizer's
 * arithmetic is f32 (mixed precision keeps f32 master weights, `precision = ...`), so an
 * f16 parameter would be updated by mixing f16 tensors with f32 scalars. Located at the
 * first node that reads it.
 */
export function narrowParams(forward: Graph, file: string): Diagnostic[] {
  const out: Diagnostic[] = [];
  for (const v of forward.values) {
    if (v.kind !== 'param' || !isFloat(v.type.dtype) || v.type.dtype === 'f32') continue;
    const reader = forward.nodes.find((n) => n.inputs.includes(v.id));
    out.push(diag(file, reader?.span ?? { start: 0, end: 0, line: 1, col: 1, endLine: 1, endCol: 1 }, 'MDC0512', v.name!, v.type.dtype));
  }
  return out;
}
