/**
 * `mdc plan --report FILE`: gathers what the plan command has built (its JSON report, the
 * partition, the training memory, the pipeline and, with --hardware, the predicted step) into
 * compiler/report/timeline.ts's timeline and renders compiler/report/html.ts's page.
 *
 * With a prediction the page shows the simulator's own times and memory, so its peak is
 * `predicted.peakBytesPerDevice`. Without one, the schedule is drawn in unit slots and the
 * memory is the plan's: `memory.peak` (training) or `paramBytesPerDevice` without a pipeline,
 * and with one each rank's share of the training state plus the micro-batches its schedule keeps
 * in flight, as the prediction splits it (compiler/cost/step.ts `memoryByRank`).
 */
import type { SpmdProgram } from '../compiler/sharding/partition.js';
import type { Graph } from '../compiler/ir.js';
import type { Mesh } from '../compiler/sharding/mesh.js';
import { dataParallelAxes } from '../compiler/train/data-parallel.js';
import type { TrainingMemory } from '../compiler/train/memory.js';
import { makeSchedule, simulate, type Schedule, type ScheduleKind, type SimResult } from '../compiler/pipeline/schedule.js';
import { memoryByRank, rankMemoryTotal, rankParamShare, type RankMemory, type StepBreakdown } from '../compiler/cost/step.js';
import type { Hardware } from '../compiler/cost/hardware.js';
import { planHtml, type HtmlReportInput } from '../compiler/report/html.js';
import { planTimeline, simulateForward, type Timeline } from '../compiler/report/timeline.js';
import { formatBytes } from '../compiler/report/plan.js';
import { formatPrediction } from './predict.js';
import type { PipelineReport } from './pipeline.js';

export interface PlanPageInput {
  /** The forward graph the plan partitions and the whole mesh (the pipeline axis included): the data-parallel axes come from them. */
  readonly graph: Graph;
  readonly mesh: Mesh;
  /** The report as `mdc plan --json` prints it (without `predicted`). */
  readonly report: HtmlReportInput['report'];
  /** The plan over the stage mesh (the whole mesh without a pipeline). */
  readonly spmd: SpmdProgram;
  /** Training memory per device, for a model with a train section. */
  readonly training?: TrainingMemory;
  /** Micro-batches per step without a pipeline (the train section's), default 1. */
  readonly microbatches?: number;
  readonly pipeline?: PipelineReport;
  readonly prediction?: StepBreakdown;
  readonly hardware?: Hardware;
}

/** The page, as text. */
export function planPage(x: PlanPageInput): string {
  const { timeline, peak } = x.prediction ? predictedTimeline(x, x.prediction) : slotTimeline(x);
  const r = x.report;
  const pipe = x.pipeline?.pipeline;
  const summary = [
    `${r.file}: ${r.paramCount.toLocaleString('en-US')} parameters (${formatBytes(r.paramBytes)}), ${formatBytes(r.paramBytesPerDevice)} per device` +
      (x.training ? `; training with ZeRO ${x.training.zero}, recompute ${x.training.recompute}` : '; forward pass'),
    pipe
      ? `pipeline over ${pipe.axis}: ${pipe.stages} stages on ${pipe.ranks} ranks${pipe.virtual > 1 ? ` (${pipe.virtual} per rank)` : ''}, ` +
        `${pipe.microbatches} micro-batch${pipe.microbatches === 1 ? '' : 'es'}, schedule ${x.pipeline!.schedule.kind}`
      : `no pipeline: every device runs the whole model, ${x.microbatches ?? 1} micro-batch${(x.microbatches ?? 1) === 1 ? '' : 'es'} per step`,
    ...(x.prediction && x.hardware ? formatPrediction(x.prediction, x.hardware).filter((l) => l.trim()) : []),
  ];
  return planHtml({
    report: r,
    timeline,
    peak,
    summary,
    ...(x.hardware ? { hardware: { name: x.hardware.name, memoryBytes: x.hardware.memoryBytes } } : {}),
    ...(x.training ? { gradientReduction: gradientReduction(x, x.training) } : {}),
  });
}

/**
 * Bytes each device sends reducing its gradients after the flush, per data-parallel axis, as
 * compiler/cost/step.ts counts them: a ring all-reduce (2(n − 1)/n of the block) over each
 * axis in turn, of the largest pipeline rank's parameter bytes, on a block that shrinks by the
 * axis's size under ZeRO (a reduce-scatter moves the same bytes as an all-reduce's first half).
 */
function gradientReduction(x: PlanPageInput, t: TrainingMemory): { axis: string; bytes: number }[] {
  const pipe = x.pipeline?.pipeline;
  const share = pipe ? Math.max(...rankParamShare(x.spmd, pipe.layers, pipe.ranks)) : 1;
  let block = x.spmd.paramBytesPerDevice * share;
  return dataParallelAxes(x.graph, x.mesh).map((axis) => {
    const n = x.mesh.axes.find((a) => a.name === axis)!.size;
    const bytes = (2 * (n - 1) * block) / n;
    if (t.zero >= 1) block /= n;
    return { axis, bytes: Math.round(bytes) };
  });
}

/** Per rank, the mesh devices that run it: the pipeline report's, or every device on one rank. */
const rankDevices = (x: PlanPageInput): number[][] =>
  x.pipeline ? x.pipeline.schedule.ranks.map((r) => [...r.devices]) : [Array.from({ length: x.report.devices }, (_, d) => d)];

/** The schedule a simulation ran, rebuilt around its per-rank order (the pipeline report's kind and shape). */
function scheduleOf(x: PlanPageInput, perRank: Schedule['perRank'], kind: ScheduleKind): Schedule {
  const p = x.pipeline?.pipeline;
  return { kind, ranks: perRank.length, virtual: p?.virtual ?? 1, microbatches: p?.microbatches ?? x.microbatches ?? 1, perRank, inFlightBound: [] };
}

function predictedTimeline(x: PlanPageInput, p: StepBreakdown): { timeline: Timeline; peak: HtmlReportInput['peak'] } {
  const t = p.timeline;
  const kind = (x.pipeline?.schedule.kind ?? '1f1b') as ScheduleKind;
  const timeline = planTimeline({
    schedule: scheduleOf(x, t.sim.perRank, kind),
    sim: t.sim,
    unit: 'seconds',
    devices: rankDevices(x),
    memory: t.memory,
    stageComm: t.stageComm,
    sendSeconds: t.sendSeconds,
    reduceSeconds: p.dataParallelSeconds,
    optimizerSeconds: p.optimizerSeconds,
  });
  return { timeline, peak: { bytes: Math.round(p.peakBytesPerDevice), source: 'predicted.peakBytesPerDevice: the busiest device' } };
}

function slotTimeline(x: PlanPageInput): { timeline: Timeline; peak: HtmlReportInput['peak'] } {
  const pipe = x.pipeline;
  const train = !!x.training;
  let schedule: Schedule;
  if (pipe) {
    // Training: the schedule the pipeline compiler made (driver/pipeline.ts); a forward pass: the report's order of F passes.
    const { kind, ranks, virtual, microbatches } = { ...pipe.pipeline, kind: pipe.schedule.kind as ScheduleKind };
    schedule = train
      ? makeSchedule({ kind, ranks, virtual, microbatches })
      : scheduleOf(
          x,
          pipe.schedule.ranks.map((r) => r.actions.map((a) => ({ pass: 'F' as const, microbatch: a.microbatch, stage: a.stage }))),
          kind,
        );
  } else {
    const m = x.microbatches ?? 1;
    schedule = train
      ? makeSchedule({ kind: '1f1b', ranks: 1, microbatches: m })
      : scheduleOf(x, [Array.from({ length: m }, (_, i) => ({ pass: 'F' as const, microbatch: i, stage: 0 }))], '1f1b');
  }
  const sim: SimResult = train ? simulate(schedule) : simulateForward(schedule);
  const mem = x.training?.memory;
  let memory: RankMemory[];
  let peak: HtmlReportInput['peak'];
  if (pipe && mem) {
    const layers = pipe.pipeline.layers;
    const L = layers.reduce((e, [, hi]) => Math.max(e, hi), 0);
    const share = rankParamShare(x.spmd, layers, pipe.pipeline.ranks);
    memory = memoryByRank({ spmd: x.spmd, training: { memory: mem }, pipeline: pipe }, sim.peakInFlight, share, layers, L);
    peak = {
      bytes: Math.round(Math.max(...memory.map(rankMemoryTotal))),
      source:
        "the busiest pipeline rank: its share of the training state and the micro-batches its schedule keeps in flight, as --hardware's prediction counts them",
    };
  } else if (mem) {
    // The report's parts are each rounded; the activations take up the rounding so the bar ends at memory.peak exactly.
    memory = [{ params: mem.params, grads: mem.grads, optimizer: mem.optimizer, activations: mem.peak - mem.params - mem.grads - mem.optimizer, inFlight: 0 }];
    peak = { bytes: mem.peak, source: 'memory.peak of the training step' };
  } else {
    memory = [{ params: x.spmd.paramBytesPerDevice, grads: 0, optimizer: 0, activations: 0, inFlight: 0 }];
    peak = { bytes: x.spmd.paramBytesPerDevice, source: 'paramBytesPerDevice: a forward pass counts its parameters' };
  }
  const timeline = planTimeline({ schedule, sim, unit: 'slots', devices: rankDevices(x), memory });
  return { timeline, peak };
}
