/**
 * The pipelined plan: the contract between the compiler's pipeline split
 * (compiler/pipeline, driver/pipeline.ts) and the runtime's PipelineRunner. A pipelined
 * model is cut into stages along one mesh axis; each stage is a few ordinary plans (one
 * per pass: forward, backward, weight gradients, and the once-per-step norm and update)
 * partitioned over the rest of the mesh, and the schedule says, per pipeline rank, which
 * pass of which micro-batch runs when.
 */
import type { Plan, PlanLayout, PlanMesh, PlanOptimizer } from './plan.js';

export const PIPELINE_FORMAT = 'mdc.pipeline';
export const PIPELINE_VERSION = 1;

export type PipelinePass = 'F' | 'B' | 'W' | 'U1' | 'U2';

export interface PipelineTag {
  readonly stage: number;
  readonly pass: PipelinePass;
}

export interface PipelineProgram extends PipelineTag {
  /** A sealed plan over the stage's devices (the mesh without the pipeline axis). */
  readonly plan: Plan;
}

/**
 * A value one program makes and others read for the same micro-batch (an output of its
 * maker and an input of each reader, all named `name`). Between stages it is a send and
 * receive along the pipeline axis, each device's block going to the device at the same
 * place of the other stage's group; within a stage it is kept for a later pass.
 */
export interface PipelineBoundary {
  readonly name: string;
  readonly from: PipelineTag;
  readonly to: readonly PipelineTag[];
  /** Bytes of the block each device sends (or keeps). */
  readonly bytes: number;
  readonly shape: readonly number[];
  readonly global: { readonly shape: readonly number[]; readonly layout: PlanLayout };
  readonly line: number;
  readonly scope: string;
}

export interface PipelineAction {
  readonly pass: 'F' | 'B' | 'W';
  readonly microbatch: number;
  readonly stage: number;
}

/** A model input: the whole batch, split along `batchDim` into `microbatches` equal slices. */
export interface PipelineInput {
  readonly name: string;
  readonly dtype: string;
  readonly shape: readonly number[];
  readonly batchDim: number;
}

export interface PipelinePlan {
  readonly format: typeof PIPELINE_FORMAT;
  readonly version: typeof PIPELINE_VERSION;
  readonly model: string;
  readonly source: string;
  readonly seed: number;
  /** The whole mesh, the pipeline axis included. */
  readonly mesh: PlanMesh;
  readonly axis: string;
  /** Devices along the pipeline axis (p), model chunks per rank (v) and stages (p·v; stage k on rank k % p). */
  readonly ranks: number;
  readonly virtual: number;
  readonly stages: number;
  readonly microbatches: number;
  readonly training: boolean;
  /** Per stage, its layers of the pipelined stack, [first, end). */
  readonly layers: readonly (readonly [number, number])[];
  readonly schedule: { readonly kind: string; readonly perRank: readonly (readonly PipelineAction[])[] };
  readonly programs: readonly PipelineProgram[];
  readonly boundaries: readonly PipelineBoundary[];
  /** Parameters with a copy on several stages (a tied embedding): their gradient sums are added across them before the norm. */
  readonly shared: readonly { readonly param: string; readonly stages: readonly number[] }[];
  readonly inputs: readonly PipelineInput[];
  /** Forward plans: the outputs, whole batch (micro-batches concatenated along dim 0), made by the last stage. */
  readonly outputs: readonly { readonly name: string; readonly dtype: string; readonly shape: readonly number[] }[];
  /**
   * `@offload(host)` parameters: their stages keep no optimizer state for them; after U1 the
   * host reads each one's gradient sum `acc.<param>`, and after U2 (whose `clip_scale` it
   * applies when clipping) updates it and writes it to every stage holding it.
   */
  readonly offload?: { readonly optimizer: PlanOptimizer; readonly params: readonly { readonly param: string; readonly decay: boolean }[] };
  readonly integrity?: string;
}

/** Whether `raw` claims to be a pipelined plan (its format says so). */
export const isPipelinePlan = (raw: unknown): raw is PipelinePlan =>
  typeof raw === 'object' && raw !== null && (raw as { format?: unknown }).format === PIPELINE_FORMAT;
