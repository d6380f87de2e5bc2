/**
 * Incremental inference from source: the model lowered at its KV cache's length, the
 * prefill and decode graphs (compiler/infer/decode.ts), and a plan for each. The two plans
 * share the cache's parameters by name; runtime/generate.ts runs them on one device with
 * the same buffers, or, partitioned over a mesh (driver/infer-partition.ts), on one device
 * per mesh device, each with its block of the cache.
 */
import type { KernelTarget } from '../codegen/kernels/kernel.js';
import { check, lowerModel, type FrontendOptions } from '../compiler/compile.js';
import { inferenceGraphs, POSITIONS, type CacheEntry } from '../compiler/infer/decode.js';
import { inferSettings, type InferSettings } from '../compiler/infer/settings.js';
import type { Graph } from '../compiler/ir.js';
import { dimValue } from '../compiler/dims.js';
import type { Mesh } from '../compiler/sharding/mesh.js';
import { diag, type Diagnostic } from '../diagnostics/messages.js';
import type { Plan } from '../runtime/plan.js';
import type { InferencePlans } from '../runtime/generate.js';
import type { InferencePipeline } from '../runtime/generate-pipeline.js';
import { checkFrontendNames, OptionError } from './frontend.js';
import { pipelineAnnotation } from '../compiler/annotations.js';

export interface InferOptions extends FrontendOptions {
  /** Overrides the infer section's max_seq. */
  readonly maxSeq?: number;
  /** Overrides the infer section's batch. */
  readonly batch?: number;
  readonly target?: KernelTarget;
  readonly seed?: number;
  readonly fuse?: boolean;
  /** Stop after the prefill and decode graphs (no plans): `mdc plan`'s cache report. */
  readonly graphsOnly?: boolean;
  /**
   * Tensor-parallel decoding: the mesh to decode on, e.g. `[tp: 4]` (`mesh`, as `--mesh` gives
   * it, means the same). The file's mesh axes it does not name run at size 1. Absent, or
   * every axis at 1: one device. The pipeline axis of a `@pipeline` stack (`[pp: 2]`, `[pp: 2, tp: 2]`)
   * cuts both plans into its stages (driver/infer-pipeline.ts), each partitioned over the other axes.
   */
  readonly partition?: Mesh;
}

export interface InferCompiled {
  readonly diagnostics: readonly Diagnostic[];
  readonly settings?: InferSettings;
  /** The model at max_seq, as lowered (the prefill graph is this with the cache outputs). */
  readonly forward?: Graph;
  readonly prefillGraph?: Graph;
  readonly decodeGraph?: Graph;
  readonly cache?: readonly CacheEntry[];
  /** Decoding on a mesh: the mesh, and each cache entry's block on one device (its shape there). */
  readonly mesh?: Mesh;
  readonly cacheBlocks?: readonly (readonly number[])[];
  /** Decoding on a mesh with the model's pipeline axis: per cache entry, the stage holding it (driver/infer-pipeline.ts). */
  readonly cacheStages?: readonly number[];
  /** The plans and what generation needs to know about them. */
  readonly plans?: InferencePlans;
}

const NOWHERE = { start: 0, end: 0, line: 1, col: 1, endLine: 1, endCol: 1 };

/** Source → prefill and decode plans, or diagnostics. */
export async function compileInference(source: string, file: string, given: InferOptions = {}): Promise<InferCompiled> {
  // A mesh given for decoding sizes the file's axes; the file is checked against its own mesh.
  const { mesh: asked, partition: wanted, ...opts } = given;
  const sizes = new Map((wanted?.axes ?? asked ?? []).map((a) => [a.name, a.size]));
  const first = check(source, file, { ...opts, concrete: false });
  if (!first.parsed.diagnostics.length) checkFrontendNames(first.parsed.program, opts);
  if (first.diagnostics.length || !first.env) return { diagnostics: first.diagnostics };
  const models = [...first.env.models.values()];
  const model = opts.model ? first.env.models.get(opts.model) : models[models.length - 1];
  if (!model) return { diagnostics: lowerModel(first.env, file, opts).diagnostics };
  const { settings, diagnostics } = inferSettings(first.env, model.name.name);
  if (diagnostics.length) return { diagnostics };
  const at = settings.span ?? model.name.span;
  const refuse = (detail: string, span = at) => ({ settings, diagnostics: [diag(file, span ?? NOWHERE, 'MDC0520', model.name.name, detail)] });
  // The sequence axis of each input: where its type names the seq dim.
  const seqAxes = new Map<string, number>();
  for (const p of model.params) {
    const axis = p.type.dims.findIndex((d) => d.size.kind === 'name' && d.size.name === settings.seq);
    if (axis >= 0) seqAxes.set(p.name.name, axis);
  }
  if (!seqAxes.size) return refuse(`no input has the sequence dim ${settings.seq} (name it with seq = ... in the infer section)`);
  // The decoding mesh: the axes asked for at their sizes, the file's others at 1, so layouts such as B@dp take any batch.
  const fileAxes = [...first.env.meshAxes.keys()];
  const mesh = [...fileAxes, ...[...sizes.keys()].filter((a) => !fileAxes.includes(a))].map((name) => ({ name, size: sizes.get(name) ?? 1 }));
  // Its sizes come from the caller, not the file, so a problem with one is the option's (no span).
  const decodeMesh: Mesh | undefined = mesh.some((a) => a.size > 1) ? { axes: mesh } : undefined;
  const front = { ...opts, ...(mesh.length ? { mesh } : {}) };
  const checked = mesh.length ? check(source, file, { ...front, concrete: false }) : first;
  if (checked.diagnostics.length || !checked.env) return { diagnostics: checked.diagnostics };
  const batchName = (() => {
    const p = model.params.find((x) => seqAxes.has(x.name.name))!;
    const d = p.type.dims[0]!.size;
    return d.kind === 'name' ? d.name : undefined;
  })();
  let maxSeq = opts.maxSeq ?? settings.maxSeq;
  if (maxSeq === undefined) {
    const probe = lowerModel(checked.env, file, front);
    if (!probe.graph) return { diagnostics: probe.diagnostics };
    const [name, axis] = [...seqAxes][0]!;
    const input = probe.graph.inputs.map((i) => probe.graph!.values[i]!).find((v) => v.name === name)!;
    maxSeq = dimValue(input.type.dims[axis]!)!;
  }
  const batch = opts.batch ?? settings.batch;
  const dims = { ...(opts.dims ?? {}), [settings.seq]: maxSeq, ...(batch !== undefined && batchName ? { [batchName]: batch } : {}) };
  const lowered = lowerModel(checked.env, file, { ...front, dims });
  if (!lowered.graph) return { settings, diagnostics: lowered.diagnostics };
  const forward = lowered.graph;
  const r = inferenceGraphs(forward, seqAxes, maxSeq);
  if ('detail' in r) return refuse(r.detail, r.span);
  const { cacheLayouts, cacheBlock, partitionInference } = await import('./infer-partition.js');
  // A pipelined stack on a mesh whose pipeline axis is above 1: stages along it, each partitioned over the rest.
  const ann = pipelineAnnotation(checked.env, checked.env.models.get(forward.name)!);
  const ppAxis = ann && decodeMesh?.axes.some((a) => a.name === ann.axis && a.size > 1) ? ann.axis : undefined;
  const blockMesh = ppAxis ? { axes: decodeMesh!.axes.filter((a) => a.name !== ppAxis) } : decodeMesh;
  const laid = blockMesh ? cacheLayouts(r, blockMesh) : undefined;
  const cacheBlocks = r.cache.map((c) => (laid ? cacheBlock(blockMesh!, c.shape, laid.get(c.k)!) : c.shape));
  const piped = ppAxis ? await import('./infer-pipeline.js') : undefined;
  const cacheStages = piped && ann ? piped.cacheStages(forward, r, ann) : undefined;
  if (typeof cacheStages === 'string') return { settings, diagnostics: [diag(file, ann!.span, 'MDC0135', cacheStages)] };
  const onMesh = decodeMesh ? { mesh: decodeMesh, cacheBlocks, ...(cacheStages ? { cacheStages } : {}) } : {};
  if (opts.graphsOnly) return { diagnostics: [], settings, forward, prefillGraph: r.prefill, decodeGraph: r.decode, cache: r.cache, ...onMesh };
  const staged = piped ? piped.pipelineInference(forward, r, ann!, decodeMesh!, file) : undefined;
  if (staged && 'diagnostics' in staged) return { settings, diagnostics: staged.diagnostics };
  const spmd = decodeMesh && !staged ? withPipelineHint(() => partitionInference(r, decodeMesh, file), !ann) : undefined;
  if (spmd && 'diagnostics' in spmd) return { settings, diagnostics: spmd.diagnostics };
  const { planOf, spmdPlanOf } = await import('./stages.js');
  const planOpts = {
    seed: opts.seed ?? 0,
    source: file.slice(file.lastIndexOf('/') + 1),
    updates: r.updates,
    ...(opts.target ? { target: opts.target } : {}),
    ...(opts.fuse !== undefined ? { fuse: opts.fuse } : {}),
  };
  // Each stage's plans make its own cache updates.
  const pipeline: InferencePipeline | undefined = staged && {
    axis: staged.axis,
    mesh: { axes: decodeMesh!.axes.map((a) => ({ name: a.name, size: a.size })), devices: decodeMesh!.axes.reduce((n, a) => n * a.size, 1) },
    ranks: staged.ranks,
    stages: staged.stages.map((s) => ({
      prefill: spmdPlanOf(s.prefill.spmd, { ...planOpts, updates: s.prefill.updates }),
      decode: spmdPlanOf(s.decode.spmd, { ...planOpts, updates: s.decode.updates }),
      layers: s.layers,
    })),
  };
  const prefill: Plan = pipeline ? pipeline.stages[0]!.prefill : spmd ? spmdPlanOf(spmd.prefill, planOpts) : planOf(r.prefill, planOpts);
  const decode: Plan = pipeline ? pipeline.stages[0]!.decode : spmd ? spmdPlanOf(spmd.decode, planOpts) : planOf(r.decode, planOpts);
  const logits = forward.outputNames[0]!;
  const tokens = [...seqAxes.keys()][0]!;
  const vocab = dimValue(forward.values[forward.outputs[0]!]!.type.dims.at(-1)!)!;
  const plans: InferencePlans = {
    prefill,
    decode,
    ...(pipeline ? { pipeline } : {}),
    maxSeq,
    batch: r.batch,
    vocab,
    tokens,
    positions: POSITIONS,
    logits,
    cache: r.cache.map((c, i) => ({ k: c.k, v: c.v, shape: c.shape, block: cacheBlocks[i]!, ...(cacheStages ? { stage: cacheStages[i]! } : {}) })),
    defaults: {
      ...(settings.maxNewTokens !== undefined ? { maxNewTokens: settings.maxNewTokens } : {}),
      ...(settings.temperature !== undefined ? { temperature: settings.temperature } : {}),
      ...(settings.topK !== undefined ? { topK: settings.topK } : {}),
      ...(settings.topP !== undefined ? { topP: settings.topP } : {}),
      ...(settings.seed !== undefined ? { seed: settings.seed } : {}),
    },
  };
  return { diagnostics: [], settings, forward, prefillGraph: r.prefill, decodeGraph: r.decode, cache: r.cache, ...onMesh, plans };
}

/** Bytes the KV cache takes on each device (f32 keys and values of every layer). */
export function cacheBytes(cache: readonly { readonly shape: readonly number[] }[]): number {
  return cache.reduce((a, c) => a + 2 * 4 * c.shape.reduce((x, y) => x * y, 1), 0);
}

/**
 * An idle mesh axis (MDC0411) of a decoding mesh, on a model with no @pipeline: the usual advice (split a dim over it) is
 * rarely what a user decoding with `--mesh pp=N` wants, so the refusal also says how to pipeline the decode.
 */
function withPipelineHint<T>(partition: () => T, noPipeline: boolean): T {
  try {
    return partition();
  } catch (e) {
    if (!(e instanceof OptionError) || !noPipeline || !e.detail.includes('splits nothing')) throw e;
    const axis = e.value.slice(0, e.value.indexOf('='));
    const hint = `; to decode pipeline-parallel over it, declare @pipeline(stages = N, axis = ${axis}) on the model's repeat stack`;
    throw new OptionError(e.option, e.value, e.detail + hint);
  }
}
