/**
 * The back half of the compile pipeline (driver/compile.ts runs the front half and loads
 * this on first use): training step → partition → optimize → memory plan → codegen, and
 * the pieces tests and benchmarks call on graphs they build themselves.
 */
import { BindingCountError } from '../codegen/kernels/kernel.js';
import { emitPlan, memoryPlanFor, type PlanOptions } from '../codegen/plan.js';
import { fuseWithOrigin, type FusedGraph } from '../compiler/fusion/fuse.js';
import type { Graph } from '../compiler/ir.js';
import { unitSplits, unusedMeshAxes } from '../compiler/sharding/checks.js';
import type { Mesh } from '../compiler/sharding/mesh.js';
import { partition, type SpmdProgram } from '../compiler/sharding/partition.js';
import { orderForOverlap } from '../compiler/sharding/overlap.js';
import type { RecomputePlan } from '../compiler/train/recompute.js';
import { planTrainingRecompute, trainingGraph, type OffloadedUpdate, type TrainingGraph } from '../compiler/train/step.js';
import type { Plan, PlanOffload } from '../runtime/plan.js';
import { diag, messages, type Diagnostic } from '../diagnostics/messages.js';
import { reached, type Compiled, type GraphOptions } from './compile.js';
import { OptionError } from './frontend.js';
import { verifyStage, type Stage } from './verify.js';

/** The back half of the pipeline, from a lowered forward graph (see compileGraph in driver/compile.ts). */
export async function backHalf(forward: Graph, opts: GraphOptions = {}): Promise<Omit<Compiled, 'checked'>> {
  const file = opts.file ?? '<graph>';
  const verify = (stage: Stage, g: Graph, extra?: Parameters<typeof verifyStage>[2]) => {
    if (opts.verify) verifyStage(stage, g, extra);
  };

  // Training step: loss, precision, recompute plan, backward pass (rebuilding what the
  // plan drops), optimizer update and gradient accumulation.
  let training: TrainingGraph | undefined;
  let recompute: RecomputePlan | undefined;
  const settings = opts.train || undefined;
  if (settings) {
    const sharded = opts.partition ? { mesh: opts.partition } : undefined;
    recompute = await planTrainingRecompute(forward, settings, file, sharded);
    const t = trainingGraph(forward, settings, file, sharded, recompute?.dropped);
    if (!t.result) return { diagnostics: t.diagnostics, forward, settings };
    training = t.result;
    verify('train', training.graph);
  }
  const step = training?.graph ?? forward;
  const done = { diagnostics: [], forward, ...(settings ? { settings } : {}), ...(recompute ? { recompute } : {}), ...(training ? { training } : {}) };
  if (!reached(opts.until, 'partition')) return done;

  // SPMD partition: local shapes, collectives where layouts change.
  if (opts.partition) {
    const idle = meshProblems(step, opts.partition, file);
    if (idle.length) return { ...done, diagnostics: idle };
  }
  const spmd = opts.partition
    ? partition(step, opts.partition, { ...(opts.layouts ? { layouts: opts.layouts } : {}), ...(training ? { forwardNodes: training.forwardNodes } : {}) })
    : undefined;
  if (spmd) verify('partition', spmd.local, { spmd });
  const unsplit = spmd ? unitSplits(step, spmd).map((u) => diag(file, u.span, 'MDC0410', u.op, u.what, u.axes.join('×'), u.devices, u.type)) : [];
  if (unsplit.length) return { ...done, diagnostics: unsplit };
  const local = spmd?.local ?? step;
  if (!reached(opts.until, 'optimize')) return { ...done, ...(spmd ? { spmd } : {}) };

  // Optimize: written-out attention, transpose folding, fusion.
  const optimized =
    spmd && (opts.copies ?? 1) > 1 ? orderForOverlap(...withOrigin(optimize(local, opts.fuse !== false))) : optimize(local, opts.fuse !== false);
  verify('optimize', optimized.graph);
  if (!reached(opts.until, 'memory')) return { ...done, ...(spmd ? { spmd } : {}), optimized };

  // Memory plan: static offsets in arenas from liveness.
  const memory = memoryPlanFor(
    optimized.graph,
    { ...(opts.target ? { target: opts.target } : {}), ...(training ? { updates: training.updates } : {}) },
    !!spmd,
  );
  if (!reached(opts.until, 'codegen')) return { ...done, ...(spmd ? { spmd } : {}), optimized, memory };

  // Codegen: kernels from the kernel IR, buffers and steps.
  const planOpts: PlanOptions = {
    seed: opts.seed ?? 0,
    source: baseName(file),
    ...(opts.target ? { target: opts.target } : {}),
    ...(training ? { updates: training.updates } : {}),
    ...(training?.offload ? { offload: planOffload(training.offload) } : {}),
  };
  const plan = codegenOrLimit(() => emitPlan(optimized, spmd, { ...planOpts, memory }), file);
  if ('diagnostics' in plan) return { ...done, ...(spmd ? { spmd } : {}), optimized, memory, diagnostics: plan.diagnostics };
  return { ...done, ...(spmd ? { spmd } : {}), optimized, memory, plan: plan.plan };
}

/**
 * Codegen, with a kernel that would need more storage bindings than the target allows
 * (values split into windows over the binding-size limit: codegen/kernels/kernel.ts)
 * reported as MDC0901 at the op instead of thrown.
 */
export function codegenOrLimit(make: () => Plan, file: string): { plan: Plan } | { diagnostics: Diagnostic[] } {
  try {
    return { plan: make() };
  } catch (e) {
    if (!(e instanceof BindingCountError)) throw e;
    const at = e.at ?? { line: 1, col: 1 };
    const span = { start: 0, end: 0, line: at.line, col: at.col, endLine: at.line, endCol: at.col + 1 };
    return { diagnostics: [diag(file, span, 'MDC0901', e.message)] };
  }
}

const withOrigin = (f: FusedGraph): [Graph, readonly number[]] => [f.graph, f.origin];

/** The optimize stage alone: the graph codegen reads, and where each of its values came from. */
export function optimize(g: Graph, fuse = true): FusedGraph {
  return fuse ? fuseWithOrigin(g) : { graph: g, origin: g.values.map((v) => v.id) };
}

/** Options of `planOf` and `spmdPlanOf`: codegen's, plus whether to optimize and to verify. */
export type PlanOfOptions = PlanOptions & { readonly fuse?: boolean; readonly verify?: boolean };

/** The plan of a graph as the pipeline makes it (optimize, then codegen), for tests and benchmarks holding a graph. */
export function planOf(g: Graph, opts: PlanOfOptions = {}): Plan {
  const optimized = optimize(g, opts.fuse !== false);
  if (opts.verify) verifyStage('optimize', optimized.graph);
  return emitPlan(optimized, undefined, { ...opts, memory: opts.memory ?? memoryPlanFor(optimized.graph, opts, false) });
}

/** The plan of an SPMD program as the pipeline makes it. */
export function spmdPlanOf(p: SpmdProgram, opts: PlanOfOptions = {}): Plan {
  const optimized = optimize(p.local, opts.fuse !== false);
  if (opts.verify) verifyStage('optimize', optimized.graph);
  return emitPlan(optimized, p, { ...opts, memory: opts.memory ?? memoryPlanFor(optimized.graph, opts, true) });
}

/** The plan's form of the host's update (runtime/plan.ts PlanOffload). */
function planOffload(o: OffloadedUpdate): PlanOffload {
  const { kind, beta1, beta2, eps, weightDecay, momentum } = o.optimizer;
  return {
    optimizer: { kind, beta1, beta2, eps, weightDecay, momentum },
    ...(o.clipScale ? { clipScale: o.clipScale } : {}),
    params: o.params.map((p) => ({ param: p.param, grad: p.grad, decay: p.decay })),
  };
}

/**
 * A mesh axis nothing splits (compiler/sharding/checks.ts): MDC0411 at its declaration, or
 * for a mesh from `--mesh`, which has no place in the source, an OptionError the CLI words
 * as a usage error. An error rather than a warning: the devices along it would all repeat
 * one computation, which no one asks for on purpose, and a pipeline axis never reaches here.
 */
export function meshProblems(g: Graph, mesh: Mesh, file: string): Diagnostic[] {
  const out: Diagnostic[] = [];
  for (const name of unusedMeshAxes(g, mesh)) {
    const axis = mesh.axes.find((a) => a.name === name)!;
    if (!axis.span) throw new OptionError('mesh', `${name}=${axis.size}`, messages.MDC0411(name, axis.size));
    out.push(diag(file, axis.span, 'MDC0411', name, axis.size));
  }
  return out;
}

function baseName(file: string): string {
  return file.slice(file.lastIndexOf('/') + 1);
}
