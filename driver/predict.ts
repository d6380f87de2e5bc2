/**
 * `mdc plan --hardware`: the step-time model (compiler/cost/step.ts) fed from what the plan
 * command has already built: the forward graph, its partition over the stage mesh, the training
 * settings and memory, and the pipeline report.
 */
import type { Graph } from '../compiler/ir.js';
import type { Mesh } from '../compiler/sharding/mesh.js';
import type { SpmdProgram } from '../compiler/sharding/partition.js';
import type { TrainingMemory } from '../compiler/train/memory.js';
import type { TrainSettings } from '../compiler/train/settings.js';
import { dataParallelAxes } from '../compiler/train/data-parallel.js';
import type { ScheduleKind } from '../compiler/pipeline/schedule.js';
import { predictStep, type StepBreakdown } from '../compiler/cost/step.js';
import type { Hardware } from '../compiler/cost/hardware.js';
import type { PipelineReport } from './pipeline.js';
import { formatBytes } from '../compiler/report/plan.js';

export interface PredictInput {
  readonly graph: Graph;
  readonly spmd: SpmdProgram;
  readonly mesh: Mesh;
  readonly hardware: Hardware;
  /** The train section's settings, when the model trains. */
  readonly settings?: TrainSettings;
  readonly recompute?: string;
  readonly memory?: TrainingMemory;
  readonly pipeline?: PipelineReport;
}

export function predictPlan(x: PredictInput): StepBreakdown {
  const pipe = x.pipeline;
  const sends = pipe?.transfers.filter((t) => !t.reason.includes('flows back')).map((t) => t.bytesPerDevice) ?? [];
  const recompute = (x.recompute ?? 'none') as 'none' | 'full' | 'selective' | 'auto';
  return predictStep({
    graph: x.graph,
    spmd: x.spmd,
    mesh: x.mesh,
    hardware: x.hardware,
    microbatches: pipe?.pipeline.microbatches ?? x.settings?.microbatches ?? 1,
    ...(x.settings
      ? {
          training: {
            recompute,
            zero: x.settings.zero ?? 0,
            dataParallelAxes: dataParallelAxes(x.graph, x.mesh),
            ...(x.memory ? { memory: x.memory.memory } : {}),
          },
        }
      : {}),
    ...(pipe
      ? {
          pipeline: {
            axis: pipe.pipeline.axis,
            kind: pipe.schedule.kind as ScheduleKind,
            ranks: pipe.pipeline.ranks,
            virtual: pipe.pipeline.virtual,
            layers: pipe.pipeline.layers,
            sendBytes: sends.reduce((a, b) => Math.max(a, b), 0),
          },
        }
      : {}),
  });
}

const fmtSeconds = (s: number) => (s >= 1 ? `${s.toFixed(3)} s` : s >= 1e-3 ? `${(s * 1e3).toFixed(3)} ms` : `${(s * 1e6).toFixed(1)} µs`);

/** The report's lines for the prediction. */
export function formatPrediction(p: StepBreakdown, hw: Hardware): string[] {
  const tflops = p.tflopsPerDevice >= 10 ? p.tflopsPerDevice.toFixed(1) : p.tflopsPerDevice.toPrecision(3);
  return [
    '',
    `predicted on ${hw.name}: step ${fmtSeconds(p.stepSeconds)}, ${tflops} TFLOP/s per device (model FLOPs as Megatron-LM counts them)`,
    `  pipeline bubble ${(100 * p.bubbleFraction).toFixed(1)}% of busy time (${fmtSeconds(p.bubbleSeconds)}), exposed communication ${fmtSeconds(p.commSeconds)} ` +
      `(gradient reduction ${fmtSeconds(p.dataParallelSeconds)}), optimizer ${fmtSeconds(p.optimizerSeconds)}`,
    `  peak memory per device ${formatBytes(p.peakBytesPerDevice)} of ${formatBytes(hw.memoryBytes)}${p.peakBytesPerDevice > hw.memoryBytes ? ' (does not fit)' : ''}`,
  ];
}
