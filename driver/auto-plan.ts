/**
 * `mdc plan FILE --auto --devices N --hardware NAME [--memory-cap SIZE]`: the whole-plan search
 * (compiler/cost/plan-search.ts) fed from a one-layer copy of the model.
 *
 * The model's layer stack must be `repeat(NAME)` with NAME a config constant: the copy is the
 * model bound with NAME = 1, lowered for training (dropout live) once per micro-batch size and
 * partitioned once per tensor-parallel size over [dp: 1, tp: t] with the layouts its types
 * declare (the cheaper rule for repeated layers: the file's tensor-parallel layouts, e.g.
 * Megatron's column- then row-parallel pairs, are kept; the intra-op integer program of
 * `--auto` on a fixed mesh is not run per candidate). The global batch is the batch dim's rows
 * times the train section's micro-batches, as `mdc plan` plans the file.
 *
 * A fine-tuning run (`freeze`, `@lora`) is costed as its step runs: the copy gets its adapters,
 * and the frozen set is matched against the full stack's parameter names
 * (compiler/train/fine-tune.ts, as `mdc plan` does), so only what trains holds gradients and
 * optimizer state, is reduced over dp and updated. Its plans have no pipeline stages: mdc's
 * stages train every parameter, so it refuses them for fine-tuning (MDC0135).
 */
import type { Diagnostic } from '../diagnostics/messages.js';
import { check, lowerModel, type FrontendOptions } from '../compiler/compile.js';
import { bind, type Env } from '../compiler/bind.js';
import { parse } from '../grammar/parse.js';
import type { Graph } from '../compiler/ir.js';
import { flopsOf } from '../compiler/ops/registry.js';
import { numel } from '../layout/mesh.js';
import { dtypeBytes, shapeOf, type Mesh } from '../compiler/sharding/mesh.js';
import { partition } from '../compiler/sharding/partition.js';
import { trainingMemory } from '../compiler/train/memory.js';
import { trainSettings, type TrainSettings } from '../compiler/train/settings.js';
import { fineTuning } from '../compiler/train/fine-tune.js';
import { applyLora } from '../compiler/train/lora.js';
import { isFloat } from '../compiler/types.js';
import { layerOf } from '../compiler/train/recompute.js';
import { pipelineAnnotation } from '../compiler/annotations.js';
import { axisLinks, type Hardware, type Link } from '../compiler/cost/hardware.js';
import { programParts } from '../compiler/cost/step.js';
import {
  evaluateCandidate,
  POLICIES,
  searchPlans,
  type Candidate,
  type Evaluated,
  type LayerCost,
  type ParamSize,
  type Policy,
  type SearchProblem,
  type SearchResult,
} from '../compiler/cost/plan-search.js';
import { formatBytes } from '../compiler/report/plan.js';

/** The model cannot be searched this way, or nothing fits: the message says why and what to do. */
export class AutoPlanError extends Error {
  override name = 'AutoPlanError';
}

export interface AutoPlanOptions {
  readonly file: string;
  readonly source: string;
  /** --preset, --set, --dim, --model (a --mesh is ignored: the search chooses the mesh). */
  readonly frontend: FrontendOptions;
  readonly devices: number;
  readonly hardware: Hardware;
  readonly memoryCap?: number;
  /** Override the global batch (sequences per step). */
  readonly batch?: number;
}

export interface AutoPlan {
  readonly result: SearchResult;
  readonly layers: number;
  readonly batch: number;
  readonly devices: number;
  readonly seconds: number;
  /** The explanation `mdc plan` prints. */
  readonly lines: readonly string[];
  /** Costs the search's way for any given plan of this model (e.g. a published configuration). */
  readonly evaluate: (c: Candidate) => Evaluated | undefined;
  /** A fine-tuning run: the full model's parameter elements (adapters included) and those that train. */
  readonly fineTuning?: { readonly params: number; readonly trained: number };
}

/** The search, or diagnostics from the front end. */
export function autoPlan(o: AutoPlanOptions): AutoPlan | { diagnostics: readonly Diagnostic[] } {
  const t0 = performance.now();
  const { file, source } = o;
  const frontend: FrontendOptions = { ...o.frontend, concrete: false };
  delete (frontend as { mesh?: unknown }).mesh;
  // Binding alone gives the layer count and the train section; only the one-layer copy is elaborated.
  const parsed = parse(source, file);
  if (parsed.diagnostics.length) return { diagnostics: parsed.diagnostics };
  const first = bind(parsed.program, frontend);
  if (first.diagnostics.length) return { diagnostics: first.diagnostics };
  const stack = layerStack(first.env, o.frontend.model);
  const L = stack.layers;
  const settings = trainSettings(first.env, stack.model).settings;
  if (!settings) throw new AutoPlanError(`--devices searches training plans, and model ${stack.model} has no train section`);
  const batchRows = o.frontend.dims?.[stack.batchDim] ?? stack.defaultBatch;
  if (batchRows === undefined)
    throw new AutoPlanError(`give the batch dim with --dim ${stack.batchDim}=N (the rows of one micro-batch over all data-parallel replicas)`);
  const batch = o.batch ?? batchRows * (settings.microbatches ?? 1);
  const baseMesh = [{ name: stack.dataAxis, size: 1 }, ...(stack.tensorAxis ? [{ name: stack.tensorAxis, size: 1 }] : [])];
  // The model with one layer and with two: the second layer's difference is what a layer adds.
  const envWith = (n: number) => {
    const c = check(source, file, { ...frontend, overrides: { ...(frontend.overrides ?? {}), [stack.count]: n }, mesh: baseMesh });
    return c.diagnostics.length || !c.env ? { diagnostics: c.diagnostics } : { env: c.env };
  };
  const one = envWith(1);
  if (!one.env) return { diagnostics: one.diagnostics! };
  const envs = new Map<number, Env>([[1, one.env]]);
  const graphs = new Map<string, Graph | undefined>();
  const graphAt = (n: number, b: number) => {
    const k = `${n}:${b}`;
    if (!graphs.has(k)) {
      if (!envs.has(n)) envs.set(n, envWith(n).env!);
      const env = envs.get(n);
      const r = env && lowerModel(env, file, { ...frontend, dims: { ...(frontend.dims ?? {}), [stack.batchDim]: b }, mesh: baseMesh, training: true });
      // A fine-tuning step runs with its @lora adapters (their refusals come from `tuned` below first).
      graphs.set(k, r?.graph && settings.lora?.length ? applyLora(r.graph, settings.lora, file).graph : r?.graph);
    }
    return graphs.get(k);
  };
  const tuned = fineTuneStack(one.env, file, frontend, baseMesh, stack, settings);
  if ('diagnostics' in tuned) return { diagnostics: tuned.diagnostics };
  const frozen = tuned.frozen;
  const links = new Map<string, ReadonlyMap<string, Link>>();
  const linksOf = (d: number, p: number, t: number) => {
    const k = `${d}:${p}:${t}`;
    if (!links.has(k)) links.set(k, axisLinks(o.hardware, meshOf(d, p, t)) as ReadonlyMap<string, Link>);
    return links.get(k)!;
  };
  const memories = new Map<number, MemoryModel | undefined>();
  const memoryAt = (t: number) => {
    if (!memories.has(t)) memories.set(t, memoryModel(graphAt(1, 1), graphAt(2, 1), stack, t, settings));
    return memories.get(t);
  };
  const costs = new Map<string, LayerCost | undefined>();
  const layerCost = (t: number, b: number): LayerCost | undefined => {
    const k = `${t}:${b}`;
    if (!costs.has(k)) {
      const mem = memoryAt(t);
      costs.set(k, mem && oneLayerCost(graphAt(1, b), stack, t, o.hardware, mem, b, frozen));
    }
    return costs.get(k);
  };
  // Parameters split over the batch axis (experts over `ep`) are expert parallelism: not a choice this search makes.
  const g1 = graphAt(1, 1);
  const split = g1?.values.find((v) => v.kind === 'param' && v.type.layout?.axes.some((a) => a.includes(stack.dataAxis)));
  if (split)
    throw new AutoPlanError(
      `--devices does not search expert parallelism: parameter ${split.name} is split over '${stack.dataAxis}', the axis of the batch; plan a fixed mesh with --mesh`,
    );
  const problem: SearchProblem = {
    layers: L,
    devices: o.devices,
    batch,
    hardware: o.hardware,
    ...(o.memoryCap !== undefined ? { memoryCap: o.memoryCap } : {}),
    ...(stack.tensorAxis ? {} : { tensorSizes: [1] }),
    // mdc's pipeline stages train every parameter: fine-tuning with them is refused (MDC0135), so it is not searched.
    ...(frozen ? { pipelineSizes: [1] } : {}),
    layerCost,
    links: linksOf,
  };
  const result = searchPlans(problem);
  const seconds = (performance.now() - t0) / 1000;
  const counts = frozen && g1 ? trainedCounts(g1, stack, frozen) : undefined;
  const lines = explain(result, { devices: o.devices, layers: L, batch, hardware: o.hardware, seconds, ...(counts ? { fineTuning: counts } : {}) });
  return {
    result,
    layers: L,
    batch,
    devices: o.devices,
    seconds,
    lines,
    evaluate: (c) => evaluateCandidate(problem, c),
    ...(counts ? { fineTuning: counts } : {}),
  };
}

/** A parameter of the one-layer copy under its name in layer i of the full stack (outside the stack: its own name). */
function stackName(name: string, i: number): string {
  const layer = layerOf(name);
  return layer ? `${layer.replace(/\d+$/, String(i))}${name.slice(layer.length)}` : name;
}

/**
 * The frozen parameters of the full model, by its names, matched on the one-layer copy as
 * `mdc plan` and the training step match them (compiler/train/fine-tune.ts); `frozen` is
 * absent when everything trains.
 */
function fineTuneStack(
  env: Env,
  file: string,
  frontend: FrontendOptions,
  mesh: readonly { name: string; size: number }[],
  stack: Stack,
  settings: TrainSettings,
): { frozen?: ReadonlySet<string> } | { diagnostics: readonly Diagnostic[] } {
  if (!settings.lora?.length && !settings.freeze?.length) return {};
  const r = lowerModel(env, file, { ...frontend, dims: { ...(frontend.dims ?? {}), [stack.batchDim]: 1 }, mesh, training: true });
  if (!r.graph) return { diagnostics: r.diagnostics };
  const expand = (name: string) => (layerOf(name) ? Array.from({ length: stack.layers }, (_, i) => stackName(name, i)) : [name]);
  const t = fineTuning(r.graph, settings, file, expand);
  if ('diagnostics' in t) return { diagnostics: t.diagnostics };
  return t.frozen ? { frozen: t.frozen } : {};
}

/** The full model's float parameter elements and those that train, from the one-layer copy. */
function trainedCounts(g: Graph, stack: Stack, frozen: ReadonlySet<string>) {
  let params = 0;
  let trained = 0;
  for (const v of g.values) {
    if (v.kind !== 'param' || !isFloat(v.type.dtype)) continue;
    const n = numel(shapeOf(v.type));
    const copies = layerOf(v.name!) ? stack.layers : 1;
    for (let i = 0; i < copies; i++) {
      params += n;
      if (!frozen.has(stackName(v.name!, i))) trained += n;
    }
  }
  return { params, trained };
}

interface Stack {
  readonly model: string;
  /** The config constant the repeat counts with, and its value. */
  readonly count: string;
  readonly layers: number;
  readonly batchDim: string;
  readonly defaultBatch?: number;
  readonly dataAxis: string;
  readonly tensorAxis?: string;
  readonly pipelineAxis: string;
}

/** What the search needs to know of the model's layer stack and batch. */
function layerStack(env: Env, name: string | undefined): Stack {
  const models = [...env.models.values()];
  const model = name ? env.models.get(name) : models[models.length - 1];
  if (!model) throw new AutoPlanError(`no model${name ? ` named ${name}` : ''} to plan`);
  let count: string | undefined;
  for (const s of model.body) if (s.kind === 'let' && s.value.kind === 'repeat' && s.value.count.kind === 'name') count = s.value.count.name;
  const c = count === undefined ? undefined : env.consts.get(count);
  if (!count || !c || c.kind !== 'int')
    throw new AutoPlanError(
      `--devices costs one layer and multiplies, so model ${model.name.name} needs a layer stack repeat(NAME) whose NAME is a config constant (e.g. layers = 24)`,
    );
  const dim = model.params[0]?.type.dims[0];
  if (!dim || dim.size.kind !== 'name' || !dim.axes.length)
    throw new AutoPlanError(`--devices needs the model's first input split over a data-parallel axis on its batch dim, e.g. tokens: i32[B@dp, S]`);
  const batchDim = dim.size.name;
  const dataAxis = dim.axes[0]!.name;
  const where = model.where.find((e) => e.name.name === batchDim)?.value;
  const pipelineAxis = pipelineAnnotation(env, model)?.axis ?? 'pp';
  const tensorAxes = [...env.meshAxes.keys()].filter((a) => a !== dataAxis && a !== pipelineAxis);
  if (tensorAxes.length > 1) throw new AutoPlanError(`--devices searches one tensor-parallel axis, and the file's meshes declare ${tensorAxes.join(', ')}`);
  return {
    model: model.name.name,
    count,
    layers: c.value,
    batchDim,
    ...(where?.kind === 'num' ? { defaultBatch: where.value } : {}),
    dataAxis,
    ...(tensorAxes[0] ? { tensorAxis: tensorAxes[0] } : {}),
    pipelineAxis,
  };
}

/** The mesh [dp, pp, tp] the links are read from (tp innermost: inside a node first), under the search's axis names. */
function meshOf(d: number, p: number, t: number): Mesh {
  return {
    axes: [
      { name: 'dp', size: d },
      { name: 'pp', size: p },
      { name: 'tp', size: t },
    ],
  };
}

/** Training memory of the stack as compiler/train/memory.ts counts it, per micro-batch row: what one layer adds, and the rest. */
interface MemoryModel {
  readonly gradBytesPerElem: number;
  readonly optimizerBytesPerElem: number;
  /** Activation bytes one more layer adds, per policy. */
  readonly perLayer: Readonly<Record<Policy, number>>;
  /** Activations outside the stack (kept per micro-batch in flight). */
  readonly outside: number;
  /** What a policy needs once besides (the values rebuilt together during the backward). */
  readonly buffer: Readonly<Record<Policy, number>>;
}

function partitionOver(g: Graph, stack: Stack, t: number) {
  const mesh: Mesh = { axes: [{ name: stack.dataAxis, size: 1 }, ...(stack.tensorAxis ? [{ name: stack.tensorAxis, size: t }] : [])] };
  try {
    return partition(g, mesh);
  } catch {
    return undefined;
  }
}

/**
 * From the one- and two-layer models at micro-batch 1 on [dp: 1, tp: t]: the activations one
 * more layer adds under each policy (the difference), the rest of the no-recompute count (what
 * lies outside the stack) and each policy's excess over that rest (its rebuild buffer).
 */
function memoryModel(g1: Graph | undefined, g2: Graph | undefined, stack: Stack, t: number, settings: TrainSettings): MemoryModel | undefined {
  if (!g1 || !g2 || (t > 1 && !stack.tensorAxis)) return undefined;
  const [p1, p2] = [partitionOver(g1, stack, t), partitionOver(g2, stack, t)];
  if (!p1 || !p2) return undefined;
  // Per-element rates with nothing frozen (oneLayerCost applies them to what trains), for the train section's optimizer and precision.
  const opts = { zero: 0, optimizer: settings.optimizer.kind, ...(settings.precision ? { precision: settings.precision } : {}) };
  const one = POLICIES.map((policy) => trainingMemory(g1, p1, { ...opts, recompute: policy }));
  const two = POLICIES.map((policy) => trainingMemory(g2, p2, { ...opts, recompute: policy }));
  const perLayer = POLICIES.map((_, i) => Math.max(0, two[i]!.memory.activations - one[i]!.memory.activations));
  const rest = POLICIES.map((_, i) => one[i]!.memory.activations - perLayer[i]!);
  const record = (xs: number[]) => Object.fromEntries(POLICIES.map((policy, i) => [policy, xs[i]!])) as Record<Policy, number>;
  // memory.ts gives float parameters gradients and state.
  const elems = p1.local.values.filter((v) => v.kind === 'param' && isFloat(v.type.dtype)).reduce((n, v) => n + numel(shapeOf(v.type)), 0);
  return {
    gradBytesPerElem: elems ? one[0]!.memory.grads / elems : 0,
    optimizerBytesPerElem: elems ? one[0]!.memory.optimizer / elems : 0,
    perLayer: record(perLayer),
    outside: Math.max(0, rest[0]!),
    buffer: record(rest.map((r) => Math.max(0, r - rest[0]!))),
  };
}

/**
 * One layer's costs at tensor-parallel size t and micro-batch size b (activations: the memory
 * model's, b times); under fine-tuning, what of each layer of the stack trains (`frozen`: full-model names).
 */
function oneLayerCost(
  g: Graph | undefined,
  stack: Stack,
  t: number,
  hw: Hardware,
  mem: MemoryModel,
  b: number,
  frozen: ReadonlySet<string> | undefined,
): LayerCost | undefined {
  if (!g) return undefined;
  const p = partitionOver(g, stack, t);
  if (!p) return undefined;
  // The collectives of the tensor axis run on the link a [dp, pp, tp] mesh gives tp; name the axis as the program does.
  const base = axisLinks(hw, { axes: [{ name: 'tp', size: t }] });
  const links = new Map<string, Link>();
  if (stack.tensorAxis && base.get('tp')) links.set(stack.tensorAxis, base.get('tp')!);
  const parts = programParts(p, hw, links as ReturnType<typeof axisLinks>);
  if (parts.layers.length !== 1) return undefined;
  const layerParams = { elems: 0, bytes: 0 };
  const outsideParams = { elems: 0, bytes: 0 };
  const trainedLayers = Array.from({ length: frozen ? stack.layers : 0 }, () => ({ elems: 0, bytes: 0 }));
  const trainedOutside = { elems: 0, bytes: 0 };
  const add = (into: { elems: number; bytes: number }, n: number, bytes: number) => {
    into.elems += n;
    into.bytes += n * bytes;
  };
  for (const v of p.local.values) {
    if (v.kind !== 'param') continue;
    const n = numel(shapeOf(v.type));
    const inLayer = !!layerOf(v.name!);
    add(inLayer ? layerParams : outsideParams, n, dtypeBytes(v.type.dtype));
    if (!frozen || !isFloat(v.type.dtype)) continue;
    if (!inLayer) {
      if (!frozen.has(v.name!)) add(trainedOutside, n, dtypeBytes(v.type.dtype));
      continue;
    }
    trainedLayers.forEach((into, i) => {
      if (!frozen.has(stackName(v.name!, i))) add(into, n, dtypeBytes(v.type.dtype));
    });
  }
  const trained: { layers: ParamSize[]; outside: ParamSize } | undefined = frozen ? { layers: trainedLayers, outside: trainedOutside } : undefined;
  // What crosses from the layer to what follows it: the bytes a stage sends the next.
  const inLayer = new Set<number>();
  for (const n of p.local.nodes) if (layerOf(n.scope)) n.outputs.forEach((o) => inLayer.add(o));
  let sendBytes = 0;
  for (const n of p.local.nodes)
    if (!layerOf(n.scope))
      for (const i of n.inputs)
        if (inLayer.has(i)) sendBytes = Math.max(sendBytes, numel(shapeOf(p.local.values[i]!.type)) * dtypeBytes(p.local.values[i]!.type.dtype));
  let layerFlops = 0;
  let outsideFlops = 0;
  for (const n of g.nodes) {
    const f = flopsOf(
      n,
      n.inputs.map((i) => shapeOf(g.values[i]!.type)),
      n.outputs.map((o) => shapeOf(g.values[o]!.type)),
    );
    if (layerOf(n.scope)) layerFlops += f;
    else outsideFlops += f;
  }
  return {
    before: parts.before,
    layer: parts.layers[0]!,
    after: parts.after,
    layerParams,
    outsideParams,
    gradBytesPerElem: mem.gradBytesPerElem,
    optimizerBytesPerElem: mem.optimizerBytesPerElem,
    layerActivations: scaleRecord(mem.perLayer, b),
    outsideActivations: mem.outside * b,
    recomputeBuffer: scaleRecord(mem.buffer, b),
    sendBytes,
    layerFlops,
    outsideFlops,
    ...(trained ? { trained } : {}),
  };
}

const scaleRecord = (r: Readonly<Record<Policy, number>>, k: number) =>
  Object.fromEntries(POLICIES.map((policy) => [policy, r[policy] * k])) as Record<Policy, number>;

const fmtS = (s: number) => (s >= 1 ? `${s.toFixed(2)} s` : s >= 1e-3 ? `${(s * 1e3).toFixed(1)} ms` : `${(s * 1e6).toFixed(1)} µs`);

/** One line describing a plan. */
export function describePlan(e: Evaluated): string {
  const sched = e.pp === 1 ? 'no pipeline' : `${e.schedule}${e.virtual > 1 ? ` (v=${e.virtual})` : ''}, layers per stage ${stagesText(e.stageLayers)}`;
  return (
    `dp=${e.dp} pp=${e.pp} tp=${e.tp}, micro-batch ${e.microBatchSize} × ${e.microbatches}, ${sched}, ZeRO-${e.zero}, recompute ${e.recompute}: ` +
    `step ${fmtS(e.stepSeconds)}, ${e.tflopsPerDevice.toFixed(1)} TFLOP/s per device, peak ${formatBytes(e.peakBytesPerDevice)}`
  );
}

function stagesText(n: readonly number[]): string {
  return n.every((x) => x === n[0]) ? `${n[0]} × ${n.length}` : n.join('/');
}

/** The search's report: the winner, the runner-up and the few differences that decide between them; or why nothing fits. */
function explain(
  r: SearchResult,
  x: { devices: number; layers: number; batch: number; hardware: Hardware; seconds: number; fineTuning?: { params: number; trained: number } },
): string[] {
  const head =
    `auto plan for ${x.devices} devices of ${x.hardware.name} (${formatBytes(r.memoryCap)} each), ${x.layers} layers, batch ${x.batch}: ` +
    `${r.candidates} candidates ranked, ${r.simulated} schedules simulated, ${x.seconds.toFixed(2)} s`;
  const ft = x.fineTuning;
  const tuning = ft
    ? [
        `  fine-tuning: ${ft.trained.toLocaleString('en-US')} of ${ft.params.toLocaleString('en-US')} parameters train ` +
          `(${((100 * ft.trained) / ft.params).toFixed(2)}%); only they hold gradients and optimizer state and are reduced over dp; ` +
          `no pipeline stages (fine-tuning with them is refused, MDC0135)`,
      ]
    : [];
  if (!r.winner) {
    const s = r.smallest;
    throw new AutoPlanError(
      `no plan of ${x.devices} devices fits in ${formatBytes(r.memoryCap)} per device` +
        (s
          ? `: the smallest needs ${formatBytes(s.peakBytesPerDevice)} per device (${describePlan(s).replace(/: step.*/, '')}); ` +
            `raise --memory-cap to at least that, or plan on more devices`
          : ': no split of the model over this many devices is legal (the batch, the heads or the layers do not divide)'),
    );
  }
  const w = r.winner;
  const lines = [head, ...tuning, `  winner:    ${describePlan(w)}`];
  const u = r.runnerUp;
  if (!u) return [...lines, '  runner-up: none (no other mesh shape fits)'];
  lines.push(`  runner-up: ${describePlan(u)}`);
  const diffs = [
    { what: 'compute and tensor-parallel communication of the busiest rank', d: u.busySeconds - w.busySeconds },
    { what: 'pipeline bubble', d: u.bubbleSeconds - w.bubbleSeconds },
    { what: 'data-parallel gradient reduction', d: u.dataParallelSeconds - w.dataParallelSeconds },
    { what: 'optimizer update', d: u.optimizerSeconds - w.optimizerSeconds },
  ].sort((a, b) => Math.abs(b.d) - Math.abs(a.d));
  const gap = u.stepSeconds - w.stepSeconds;
  lines.push(
    `  why: the winner's step is ${fmtS(gap)} (${((100 * gap) / u.stepSeconds).toFixed(1)}%) shorter; ` +
      diffs
        .filter((d) => Math.abs(d.d) > 1e-4 * u.stepSeconds)
        .slice(0, 3)
        .map((d) => `${d.what} ${d.d >= 0 ? `${fmtS(d.d)} less` : `${fmtS(-d.d)} more`}`)
        .join(', '),
  );
  return lines;
}
