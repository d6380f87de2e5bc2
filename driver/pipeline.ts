/**
 * Pipeline parallelism in the compile pipeline: a model whose layer stack says
 * `@pipeline(stages = N)`, compiled for a mesh with the pipeline axis (default `pp`), is
 *
 *   split (layers → stages) → training step, every node tagged with its stage and pass →
 *   partition over the rest of the mesh → cut into one program per stage and pass →
 *   optimize, memory plan and codegen per program → the schedule → one pipelined plan.
 *
 * Each stage program is an ordinary SPMD plan, so everything the one-program pipeline does
 * (layouts, ZeRO inside the stage's data-parallel group, fusion, arenas) holds per stage.
 */
import { coordsOf, deviceOf, meshDevices } from '../layout/mesh.js';
import type { Span } from '../diagnostics/span.js';
import { formatBytes } from '../compiler/report/plan.js';
import { dimValue, type Dim } from '../compiler/dims.js';
import type { PipelineAnnotation } from '../compiler/annotations.js';
import type { Graph } from '../compiler/ir.js';
import { cutStages, type Boundary, type StageProgram } from '../compiler/pipeline/cut.js';
import { makeSchedule, printSchedule, ScheduleError, simulate, type Schedule, type ScheduleKind } from '../compiler/pipeline/schedule.js';
import { replicateShared, splitStages, SplitError, type StageSplit } from '../compiler/pipeline/split.js';
import { pipelineTrainingGraph, type PipelineUpdate, type Tag } from '../compiler/pipeline/train.js';
import { printWithLayout, type Mesh } from '../compiler/sharding/mesh.js';
import { partition, type SpmdProgram } from '../compiler/sharding/partition.js';
import type { TrainSettings } from '../compiler/train/settings.js';
import { emitPlan, memoryPlanFor } from '../codegen/plan.js';
import { sealAny } from '../codegen/seal.js';
import type { KernelTarget } from '../codegen/kernels/kernel.js';
import { diag, type Diagnostic } from '../diagnostics/messages.js';
import { PIPELINE_FORMAT, PIPELINE_VERSION, type PipelinePlan } from '../runtime/pipeline-plan.js';
import type { PlanOptimizer } from '../runtime/plan.js';
import { offloadTargetOf } from '../compiler/train/offload.js';
import { narrowParams } from '../compiler/train/step.js';
import { codegenOrLimit, meshProblems, optimize } from './stages.js';
import { unitSplits } from '../compiler/sharding/checks.js';
import { orderForOverlap } from '../compiler/sharding/overlap.js';

export interface PipelineOptions {
  readonly file: string;
  readonly settings?: TrainSettings;
  readonly seed?: number;
  readonly fuse?: boolean;
  readonly target?: KernelTarget;
  /** Stop after the cut: no codegen (`mdc plan`). */
  readonly planOnly?: boolean;
  /** The forward graph is this many interleaved copies (compiler/train/copies.ts): each stage's collectives are hoisted to overlap them. */
  readonly copies?: number;
}

export interface PipelineCompiled {
  readonly split: StageSplit;
  readonly schedule: Schedule;
  /** The stage mesh: the mesh without the pipeline axis. */
  readonly stageMesh: Mesh;
  /** The whole step (or forward) partitioned over the stage mesh, before the cut. */
  readonly spmd: SpmdProgram;
  readonly programs: readonly StageProgram[];
  readonly boundaries: readonly Boundary[];
  readonly shared: ReadonlyMap<string, number[]>;
  readonly plan?: PipelinePlan;
}

/** Compiles a pipelined model, or says (located at its @pipeline) why it cannot be. */
export function compilePipeline(
  forward: Graph,
  ann: PipelineAnnotation,
  mesh: Mesh,
  opts: PipelineOptions,
): { result?: PipelineCompiled; diagnostics: Diagnostic[] } {
  const fail = (detail: string) => ({ diagnostics: [diag(opts.file, ann.span, 'MDC0135', detail)] });
  const p = mesh.axes.find((a) => a.name === ann.axis)!.size;
  const S = ann.stages;
  if (S % p !== 0)
    return fail(`${S} stages cannot be laid evenly on ${ann.axis} = ${p}: give a multiple of ${p} stages (each rank then holds stages/${ann.axis} of them)`);
  const v = S / p;
  const settings = opts.settings;
  const kind: ScheduleKind = settings?.schedule ?? (v > 1 ? 'interleaved' : '1f1b');
  if (v > 1 && kind !== 'interleaved')
    return fail(`${S} stages on ${ann.axis} = ${p} put ${v} on each rank, which only schedule = interleaved runs; set it, or stages = ${p}`);
  if (kind === 'interleaved' && v < 2)
    return fail(`schedule = interleaved needs at least 2 stages per rank: set stages = ${2 * p} (2 per rank on ${ann.axis} = ${p}), or another schedule`);
  // `mdc plan` models runs this runtime cannot make yet (a Megatron-style f16 run): only a
  // plan that will run refuses what its runner does not support.
  if (settings && !opts.planOnly) {
    if (settings.precision && settings.precision !== 'f32')
      return fail(`mixed precision (${settings.precision}) with pipeline stages is not supported yet: train in f32`);
    if (settings.recompute && settings.recompute.policy !== 'none')
      return fail(`recompute (${settings.recompute.policy}) with pipeline stages is not supported yet: remove it, or the pipeline`);
  }
  // The stages differentiate every parameter (compiler/pipeline/train.ts): a frozen one would still be updated.
  if (settings?.freeze?.length || settings?.lora?.length)
    return fail(`freezing parameters (freeze = [...]) and @lora adapters with pipeline stages are not supported yet: train without ${ann.axis} in the mesh`);
  const m = settings ? (settings.microbatches ?? 1) : 1;
  let schedule: Schedule;
  let split: StageSplit;
  try {
    schedule = settings ? makeSchedule({ kind, ranks: p, virtual: v, microbatches: m }) : forwardSchedule(p, v, m);
    split = splitStages(forward, ann);
  } catch (e) {
    if (e instanceof ScheduleError || e instanceof SplitError) return fail(e.message);
    throw e;
  }
  const stageMesh: Mesh = { axes: mesh.axes.filter((a) => a.name !== ann.axis) };
  let graph = forward;
  let tags: Tag[];
  let updates: PipelineUpdate[] | undefined;
  let shared = new Map<string, number[]>();
  let offloaded: string[] = [];
  if (settings) {
    const narrow = opts.planOnly ? [] : narrowParams(forward, opts.file);
    if (narrow.length) return { diagnostics: narrow };
    const rep = replicateShared(forward, split.stageOfNode);
    shared = rep.shared;
    const targets = settings.offload ?? [];
    const t = pipelineTrainingGraph(rep.graph, rep.stageOfNode, S, settings, opts.file, stageMesh, (name) => !!offloadTargetOf(targets, name));
    offloaded = t.params.filter((name) => offloadTargetOf(targets, name));
    graph = t.graph;
    tags = [...t.tags];
    updates = [...t.updates];
  } else tags = split.stageOfNode.map((stage) => ({ stage, pass: 'F' }));
  // The stage mesh's own checks, as for any partition: an axis nothing splits, heads a split cannot divide.
  const idle = meshProblems(graph, stageMesh, opts.file);
  if (idle.length) return { diagnostics: idle };
  let spmd = partition(graph, stageMesh);
  const localId = localIds(graph);
  if (updates?.length) {
    // Each update copies blocks onto blocks: its output takes the layout the partition gave
    // its parameter (a parameter without one is free, and may have been split).
    const first = spmd;
    const extra = updates.map((u) => ({ value: u.outputId, layout: first.layouts[localId[u.paramId]!]!, span: ann.span }));
    const held = new Set(extra.map((e) => e.value));
    spmd = partition({ ...graph, constraints: [...graph.constraints.filter((c) => !held.has(c.value)), ...extra] }, stageMesh);
  }
  const unsplit = unitSplits(graph, spmd).map((u) => diag(opts.file, u.span, 'MDC0410', u.op, u.what, u.axes.join('×'), u.devices, u.type));
  if (unsplit.length) return { diagnostics: unsplit };
  const local = updates?.map((u) => ({ ...u, paramId: localId[u.paramId]! }));
  const { programs, boundaries } = cutStages(spmd, tags, { zeroBubble: kind === 'zb-h1', ...(local ? { updates: local } : {}) });
  const result = { split, schedule, stageMesh, spmd, programs, boundaries, shared };
  if (opts.planOnly) return { result, diagnostics: [] };

  const seed = opts.seed ?? 0;
  const source = opts.file.slice(opts.file.lastIndexOf('/') + 1);
  const plans: PipelinePlan['programs'][number][] = [];
  for (const prog of programs) {
    const plain = optimize(prog.spmd.local, opts.fuse !== false);
    const optimized = (opts.copies ?? 1) > 1 && stageMesh.axes.length ? orderForOverlap(plain.graph, plain.origin) : plain;
    const memory = memoryPlanFor(optimized.graph, { ...(opts.target ? { target: opts.target } : {}), updates: prog.updates }, true);
    const target = opts.target ? { target: opts.target } : {};
    const made = codegenOrLimit(() => emitPlan(optimized, prog.spmd, { seed, source, ...target, updates: prog.updates, memory }), opts.file);
    if ('diagnostics' in made) return made;
    plans.push({ stage: prog.stage, pass: prog.pass, plan: made.plan });
  }
  const micro = (shape: readonly number[]) => shape.map((k, i) => (i === 0 ? k * m : k));
  const inputs = forward.inputs.map((id) => forward.values[id]!);
  const dataInputs = [
    ...inputs.map((x) => ({ name: x.name!, dtype: x.type.dtype, shape: micro(x.type.dims.map(dimOf)), batchDim: 0 })),
    ...(settings && (settings.loss.kind === 'cross_entropy' || settings.loss.kind === 'mse') ? [labelsInput(forward, settings, micro)] : []),
  ];
  const plan: PipelinePlan = {
    format: PIPELINE_FORMAT,
    version: PIPELINE_VERSION,
    model: forward.name,
    source,
    seed,
    mesh: { axes: mesh.axes.map((a) => ({ name: a.name, size: a.size })), devices: meshDevices(mesh) },
    axis: ann.axis,
    ranks: p,
    virtual: v,
    stages: S,
    microbatches: m,
    training: !!settings,
    layers: split.layers,
    schedule: { kind: schedule.kind, perRank: schedule.perRank },
    programs: plans,
    boundaries: boundaries.map((b) => ({
      name: b.name,
      from: b.from,
      to: b.to,
      bytes: b.bytes,
      shape: b.shape,
      global: { shape: b.global.dims.map(dimOf), layout: { axes: b.layout.axes.map((a) => [...a]), partial: [...b.layout.partial] } },
      line: b.span.line,
      scope: b.scope,
    })),
    shared: [...shared].map(([param, stages]) => ({ param, stages })),
    inputs: dataInputs,
    outputs: settings
      ? []
      : forward.outputs.map((id, i) => ({
          name: forward.outputNames[i]!,
          dtype: forward.values[id]!.type.dtype,
          shape: micro(forward.values[id]!.type.dims.map(dimOf)),
        })),
    ...(settings && offloaded.length
      ? {
          offload: {
            optimizer: planOptimizer(settings),
            params: offloaded.map((param) => ({ param, decay: rankOf(forward, param) >= 2 && settings.optimizer.weightDecay > 0 })),
          },
        }
      : {}),
  };
  return { result: { ...result, plan: sealAny(plan) }, diagnostics: [] };
}

const dimOf = (d: Dim) => dimValue(d)!;

/** The optimizer's hyper-parameters as the runtime's host update reads them. */
function planOptimizer(settings: TrainSettings): PlanOptimizer {
  const o = settings.optimizer;
  return { kind: o.kind, beta1: o.beta1, beta2: o.beta2, eps: o.eps, weightDecay: o.weightDecay, momentum: o.momentum };
}

const rankOf = (g: Graph, name: string) => g.values.find((v) => v.kind === 'param' && v.name === name)?.type.dims.length ?? 0;

/**
 * Per value of `g`, the local id the partition gives it when it is an input, parameter or
 * constant (the partition makes those local values first, in g's order); -1 for op results.
 */
function localIds(g: Graph): number[] {
  let next = 0;
  return g.values.map((v) => (v.kind === 'op' ? -1 : next++));
}

/** The labels input the loss adds: for cross-entropy, i32 of the logits' shape without the class dim; for mse, f32 of the output's shape. */
function labelsInput(forward: Graph, settings: TrainSettings, micro: (s: readonly number[]) => number[]) {
  const idx = Math.max(0, forward.outputNames.indexOf(settings.loss.output));
  const out = forward.values[forward.outputs[idx]!]!;
  const mse = settings.loss.kind === 'mse';
  return { name: 'labels', dtype: mse ? 'f32' : 'i32', shape: micro((mse ? out.type.dims : out.type.dims.slice(0, -1)).map(dimOf)), batchDim: 0 };
}

/** A forward-only pipeline: each rank runs its stages' forward passes, micro-batch by micro-batch. */
function forwardSchedule(p: number, v: number, m: number): Schedule {
  const perRank = Array.from({ length: p }, (_, r) => {
    const acts = [];
    for (let i = 0; i < m; i++) for (let c = 0; c < v; c++) acts.push({ pass: 'F' as const, microbatch: i, stage: c * p + r });
    return acts;
  });
  return { kind: '1f1b', ranks: p, virtual: v, microbatches: m, perRank, inFlightBound: perRank.map(() => 0) };
}

/** What `mdc plan` adds for a pipelined model: the stages, the schedule per rank and the transfers between stages. */
export interface PipelineReport {
  readonly pipeline: {
    readonly axis: string;
    readonly ranks: number;
    readonly virtual: number;
    readonly stages: number;
    readonly microbatches: number;
    /** Per stage, its layers [first, end) and forward GFLOPs (what the split balanced). */
    readonly layers: readonly (readonly [number, number])[];
    readonly stageFlops: readonly number[];
    /** Idle over busy time of the schedule with passes timed by the stages' FLOPs (backward 2× forward). */
    readonly bubbleRatio: number;
  };
  readonly schedule: {
    readonly kind: string;
    /** Per pipeline rank: the mesh devices that run it and its passes in order. */
    readonly ranks: readonly {
      readonly rank: number;
      readonly devices: readonly number[];
      readonly actions: readonly { pass: string; microbatch: number; stage: number }[];
    }[];
    readonly text: string;
  };
  /** The sends between stages, as collectives (kind send_recv on the pipeline axis), once per micro-batch. */
  readonly transfers: readonly {
    readonly kind: 'send_recv';
    readonly axis: string;
    readonly bytesPerDevice: number;
    readonly bytes: number;
    readonly elements: number;
    readonly from: string;
    readonly to: string;
    readonly reason: string;
    readonly perStep: number;
    readonly span: Span;
    readonly scope: string;
  }[];
}

export function pipelineReport(c: PipelineCompiled, ann: PipelineAnnotation, mesh: Mesh): PipelineReport {
  const s = c.schedule;
  const timed = simulate(s, { F: 1, B: 2, W: 1 });
  const transfers = c.boundaries
    .filter((b) => b.to.some((t) => t.stage !== b.from.stage))
    .map((b) => {
      const to = [...new Set(b.to.filter((t) => t.stage !== b.from.stage).map((t) => t.stage))];
      const backward = b.from.pass !== 'F';
      const what = backward ? 'gradient' : 'activation';
      return {
        kind: 'send_recv' as const,
        axis: ann.axis,
        bytesPerDevice: b.bytes,
        bytes: b.bytes,
        elements: b.shape.reduce((x, k) => x * k, 1),
        from: `stage ${b.from.stage} ${printWithLayout(b.global, b.layout)}`,
        to: `stage ${to.join(', ')}`,
        reason: `the ${what} ${b.scope ? `of ${b.scope} ` : ''}${backward ? 'flows back' : 'flows on'} from stage ${b.from.stage} to stage ${to.join(', ')} (pipeline cut)`,
        perStep: s.microbatches,
        span: b.span,
        scope: b.scope,
      };
    });
  const ranks = s.perRank.map((actions, rank) => ({
    rank,
    devices: Array.from({ length: meshDevices(c.stageMesh) }, (_, j) => deviceOf(mesh, { ...coordsOf(c.stageMesh, j), [ann.axis]: rank })),
    actions: actions.map((a) => ({ pass: a.pass, microbatch: a.microbatch, stage: a.stage })),
  }));
  return {
    pipeline: {
      axis: ann.axis,
      ranks: s.ranks,
      virtual: s.virtual,
      stages: c.split.stages,
      microbatches: s.microbatches,
      layers: c.split.layers,
      stageFlops: c.split.flops,
      bubbleRatio: timed.bubbleRatio,
    },
    schedule: { kind: s.kind, ranks, text: printSchedule(s) },
    transfers,
  };
}

/** The report's lines for the pipeline, after the plan's own. */
export function formatPipelineReport(r: PipelineReport): string[] {
  const p = r.pipeline;
  const lines = [
    '',
    `pipeline over ${p.axis}: ${p.stages} stages on ${p.ranks} ranks${p.virtual > 1 ? ` (${p.virtual} per rank, interleaved)` : ''}, ` +
      `${p.microbatches} micro-batch${p.microbatches === 1 ? '' : 'es'}, schedule ${r.schedule.kind}, bubble ${(100 * p.bubbleRatio).toFixed(1)}% of busy time`,
  ];
  p.layers.forEach(([lo, hi], k) =>
    lines.push(`  stage ${k} (rank ${k % p.ranks}): layers ${lo}..${hi - 1}, ${(p.stageFlops[k]! / 1e9).toFixed(3)} GFLOP forward`),
  );
  const bytes = r.transfers.reduce((n, t) => n + t.bytesPerDevice, 0);
  lines.push(`transfers between stages: ${r.transfers.length} send_recv above, ${formatBytes(bytes)} per device and micro-batch`);
  lines.push('schedule (F forward, B backward, W weight gradients; digits are micro-batches):');
  for (const l of r.schedule.text.trimEnd().split('\n')) lines.push(`  ${l}`);
  return lines;
}
