/**
 * The compile pipeline, one function per stage, each a pure function of the previous
 * stage's result:
 *
 *   parse → bind/check → lower → training step → partition → optimize → memory plan → codegen
 *
 * `compile()` runs them on a source text; `compileGraph()` runs the back half (from the
 * training step on, driver/stages.ts) on a graph someone already has (tests,
 * benchmarks). The CLI, the benchmarks and the tests call these two instead of
 * assembling stages themselves, so they always agree. With `verify`, every stage's
 * invariants (driver/verify.ts) are checked after it runs and a broken one throws
 * `VerifyError` naming the stage. The back half is loaded only when a compile reaches
 * it, so `mdc check` loads the front end alone.
 */
import type { KernelTarget } from '../codegen/kernels/kernel.js';
import { check, lowerModel, type CheckResult, type FrontendOptions } from '../compiler/compile.js';
import type { FusedGraph } from '../compiler/fusion/fuse.js';
import type { Graph } from '../compiler/ir.js';
import type { MemoryPlan } from '../compiler/memory/plan.js';
import type { Mesh } from '../compiler/sharding/mesh.js';
import type { SpmdProgram } from '../compiler/sharding/partition.js';
import { trainSettings, type TrainSettings } from '../compiler/train/settings.js';
import type { RecomputePlan } from '../compiler/train/recompute.js';
import type { TrainingGraph } from '../compiler/train/step.js';
import type { Layout } from '../compiler/types.js';
import type { Diagnostic } from '../diagnostics/messages.js';
import type { Plan } from '../runtime/plan.js';
import { checkFrontendNames } from './frontend.js';
import { pipelineAnnotation } from '../compiler/annotations.js';
import type { PipelineCompiled } from './pipeline.js';
import { pipelineAxisOf } from './pipeline-axis.js';
import { verifyStage, type Stage } from './verify.js';
import { copiesSetting } from '../compiler/train/settings.js';
import type { Env } from '../compiler/bind.js';
import { splitIntoCopies } from '../compiler/train/copies.js';
import { dimValue } from '../compiler/dims.js';
import { diag } from '../diagnostics/messages.js';
import type { Span } from '../diagnostics/span.js';

export type { Stage } from './verify.js';

export interface CompileOptions extends FrontendOptions {
  /** Stop after this stage (default: codegen). */
  readonly until?: Stage;
  /**
   * Compile a training step (loss, backward pass, optimizer update) instead of a forward
   * pass: the model's train section, with these settings overriding it.
   */
  readonly train?: boolean | Partial<TrainSettings>;
  /** Partition over this mesh (SPMD); absent: one device, layouts ignored. */
  readonly partition?: Mesh;
  /** Layouts for every value of the graph partitioned (from `plan --auto`); default: completion from the annotations. */
  readonly layouts?: readonly Layout[];
  /** Fusion, the attention rewrite and transpose folding (default true; `--no-fuse` is false). */
  readonly fuse?: boolean;
  /** What the kernels may assume about the device. */
  readonly target?: KernelTarget;
  readonly seed?: number;
  /** Check every stage's invariants (`mdc compile --verify`, and the tests). */
  readonly verify?: boolean;
}

/** Everything the pipeline made, stage by stage; a stage that did not run leaves its field absent. */
export interface Compiled {
  readonly diagnostics: readonly Diagnostic[];
  readonly checked: CheckResult;
  /** The model lowered to the graph IR at concrete dims, repeats unrolled. */
  readonly forward?: Graph;
  readonly settings?: TrainSettings;
  /** The activations the training step does not keep but rebuilds (its `recompute` setting). */
  readonly recompute?: RecomputePlan;
  readonly training?: TrainingGraph;
  readonly spmd?: SpmdProgram;
  /** The graph codegen reads: the (local) graph optimized, with each value's origin in the graph before optimizing. */
  readonly optimized?: FusedGraph;
  readonly memory?: MemoryPlan;
  readonly plan?: Plan;
  /** `copies = N` applied: `forward` is N interleaved copies (compiler/train/copies.ts); pass it on to compileGraph as `copies`. */
  readonly copies?: number;
  /** A pipelined model on a mesh with its pipeline axis: the stage programs and the pipelined plan (driver/pipeline.ts) instead of `plan`. */
  readonly pipeline?: PipelineCompiled;
}

export const ORDER: readonly Stage[] = ['check', 'lower', 'train', 'partition', 'optimize', 'memory', 'codegen'];
export const reached = (until: Stage | undefined, s: Stage) => ORDER.indexOf(s) <= ORDER.indexOf(until ?? 'codegen');

/** Source text → runtime plan (or diagnostics). */
export async function compile(source: string, file: string, given: CompileOptions = {}): Promise<Compiled> {
  // A partition's mesh is the mesh the front end checks layouts against (as --mesh is): an axis a
  // layout names and the mesh lacks is MDC0403 at the layout, not an exception in the partitioner.
  const opts: CompileOptions = given.partition && !given.mesh ? { ...given, mesh: given.partition.axes } : given;
  // `mdc check` also elaborates every model at its concrete dims; otherwise lowering does that, once.
  const checked = check(source, file, { ...opts, concrete: opts.concrete ?? opts.until === 'check', training: !!opts.train });
  // Options that name nothing in the file are the caller's mistake, not the source's: refused before any diagnostic.
  if (!checked.parsed.diagnostics.length) checkFrontendNames(checked.parsed.program, opts);
  if (checked.diagnostics.length || !checked.env || !reached(opts.until, 'lower')) return { diagnostics: checked.diagnostics, checked };
  const model = lowerModel(checked.env, file, { ...opts, training: !!opts.train });
  if (!model.graph) return { diagnostics: model.diagnostics, checked };
  const forward = model.graph;
  if (opts.verify) verifyStage('lower', forward);
  if (!reached(opts.until, 'train')) return { diagnostics: [], checked, forward };
  let settings: TrainSettings | undefined;
  if (opts.train) {
    const s = trainSettings(checked.env, forward.name);
    if (!s.settings) return { diagnostics: s.diagnostics, checked, forward };
    settings = { ...s.settings, ...(opts.train === true ? {} : opts.train) };
  }
  // Multi-copy (train/copies.ts): the forward graph becomes interleaved copies before the training step and the partition.
  const copied = applyCopies(checked.env, forward, file, opts.partition, settings);
  if ('diagnostics' in copied) return { checked, diagnostics: copied.diagnostics, forward };
  // A pipelined model on a mesh with its pipeline axis: stage programs and a pipelined plan (driver/pipeline.ts).
  const ann = pipelineAnnotation(checked.env, checked.env.models.get(forward.name)!);
  if (opts.partition && pipelineAxisOf(ann, opts.partition) && reached(opts.until, 'partition')) {
    const { compilePipeline } = await import('./pipeline.js');
    const p = compilePipeline(copied.graph, ann!, opts.partition, {
      file,
      ...(settings ? { settings } : {}),
      ...(opts.seed !== undefined ? { seed: opts.seed } : {}),
      ...(opts.fuse !== undefined ? { fuse: opts.fuse } : {}),
      ...(opts.target ? { target: opts.target } : {}),
      copies: copied.copies,
      planOnly: !reached(opts.until, 'codegen'),
    });
    return { checked, diagnostics: p.diagnostics, forward, ...(settings ? { settings } : {}), ...(p.result ? { pipeline: p.result } : {}) };
  }
  const graphOpts: GraphOptions = {
    ...opts,
    file,
    ...(settings ? { train: settings } : { train: false }),
    ...(copied.copies > 1 ? { copies: copied.copies } : {}),
  };
  return { checked, ...(await compileGraph(copied.graph, graphOpts)), ...(copied.copies > 1 ? { copies: copied.copies } : {}) };
}

/**
 * The forward graph as the interleaved copies its train section's `copies` (or `settings`)
 * asks for, with that count (1: the graph itself); or MDC0511 at the setting when the
 * graph cannot be split (an op mixing rows) or a device's block of the batch cannot (each
 * copy must take the same number of each device's rows, or the split would move data).
 */
export function applyCopies(
  env: Env,
  g: Graph,
  file: string,
  mesh?: Mesh,
  settings?: TrainSettings,
): { graph: Graph; copies: number } | { diagnostics: Diagnostic[] } {
  const setting = copiesSetting(env, g.name);
  const copies = settings?.copies ?? setting?.copies ?? 1;
  const span = setting?.span;
  if (copies === 1) return { graph: g, copies: 1 };
  // Copies given as an option (compile's `train`) have no setting to point at: the model's first node stands for it.
  const where = span ?? g.nodes[0]?.span ?? { start: 0, end: 0, line: 1, col: 1, endLine: 1, endCol: 1 };
  const bad = (detail: string, at?: Span) => ({ diagnostics: [diag(file, where, 'MDC0511', at ? `${detail} (line ${at.line})` : detail)] });
  for (const i of mesh ? g.inputs : []) {
    const t = g.values[i]!.type;
    const rows = t.dims[0] ? (dimValue(t.dims[0]) ?? 0) : 0;
    const axes = (t.layout?.axes[0] ?? []).filter((a) => mesh!.axes.some((m) => m.name === a));
    const devices = axes.reduce((n, a) => n * mesh!.axes.find((m) => m.name === a)!.size, 1);
    if ((rows / devices) % copies !== 0)
      return bad(
        `${copies} copies need each device's block of the batch to divide into ${copies}, but ${g.values[i]!.name} has ${rows} rows over ${axes.join('×')} (${devices} devices)`,
      );
  }
  const r = splitIntoCopies(g, copies);
  return 'graph' in r ? { graph: r.graph, copies } : bad(r.problem, r.span);
}

export interface GraphOptions extends Omit<CompileOptions, 'train'> {
  /** The source file's name, for diagnostics and the plan's `source`. */
  readonly file?: string;
  /** Train with these settings (the train section, already read). */
  readonly train?: TrainSettings | false;
  /** The graph is this many interleaved copies (compiler/train/copies.ts): a partitioned step is ordered so the copies' collectives overlap (compiler/sharding/overlap.ts). */
  readonly copies?: number;
}

/** The back half of the pipeline, from a lowered forward graph (driver/stages.ts, loaded on first use). */
export async function compileGraph(forward: Graph, opts: GraphOptions = {}): Promise<Omit<Compiled, 'checked'>> {
  return (await import('./stages.js')).backHalf(forward, opts);
}
