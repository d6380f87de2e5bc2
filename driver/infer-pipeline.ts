/**
 * Pipeline-parallel decoding: the prefill and decode graphs (compiler/infer/decode.ts) of a
 * model whose layer stack says `@pipeline(stages = N)`, on a mesh with its pipeline axis,
 * cut into one prefill and one decode program per stage. The layers are split as for
 * training (compiler/pipeline/split.ts balances the forward graph; the decode graph takes
 * the same layer counts, so a layer's decode step runs on the stage that prefilled it), each
 * graph is partitioned over the rest of the mesh with the cache laid out as for
 * tensor-parallel decoding (driver/infer-partition.ts), and compiler/pipeline/cut.ts cuts
 * it: every node is a forward node of its stage, and a value one stage makes and a later one
 * reads (the hidden states) is a boundary, an output of the one and an input of the other.
 * A stage's programs hold its layers' weights and KV cache only (and a parameter read on
 * several stages, GPT-2's tied embedding, on each of them); the last stage makes the logits.
 */
import type { PipelineAnnotation } from '../compiler/annotations.js';
import type { InferenceGraphs } from '../compiler/infer/decode.js';
import type { Graph } from '../compiler/ir.js';
import { cutStages, CutError, type StageProgram } from '../compiler/pipeline/cut.js';
import { splitStages, SplitError } from '../compiler/pipeline/split.js';
import { unitSplits } from '../compiler/sharding/checks.js';
import type { Mesh } from '../compiler/sharding/mesh.js';
import { partition, type SpmdProgram } from '../compiler/sharding/partition.js';
import type { Layout } from '../compiler/types.js';
import { diag, type Diagnostic } from '../diagnostics/messages.js';
import { cacheLayouts, withCacheLayouts } from './infer-partition.js';
import { meshProblems } from './stages.js';

export interface InferenceStage {
  readonly stage: number;
  /** Its layers of the pipelined stack, [first, end). */
  readonly layers: readonly [number, number];
  readonly prefill: StageProgram;
  readonly decode: StageProgram;
  /** The cache entries (indices into InferenceGraphs.cache) whose keys and values it holds. */
  readonly cache: readonly number[];
}

export interface PipelinedInference {
  readonly axis: string;
  /** Devices along the pipeline axis; stage k runs on rank k % ranks. */
  readonly ranks: number;
  /** The mesh without the pipeline axis: each stage's programs are partitioned over it. */
  readonly stageMesh: Mesh;
  readonly stages: readonly InferenceStage[];
  /** The cache parameters' layouts over the stage mesh, by name. */
  readonly layouts: ReadonlyMap<string, Layout>;
}

/**
 * Per cache entry of `r`, the stage holding it: the stage of the layer whose attention
 * stores it, from the model's own split (without the partition and cut: `mdc plan`'s cache
 * report needs no more), or the split's refusal.
 */
export function cacheStages(forward: Graph, r: Pick<InferenceGraphs, 'prefill' | 'cache'>, ann: PipelineAnnotation): number[] | string {
  let stageOfNode: readonly number[];
  try {
    stageOfNode = splitStages(forward, ann).stageOfNode;
  } catch (e) {
    if (e instanceof SplitError) return e.message;
    throw e;
  }
  // The prefill graph is the forward graph with outputs added: its nodes are the forward's.
  const g = r.prefill;
  return r.cache.map((c) => stageOfNode[g.values[g.outputs[g.outputNames.indexOf(`new.${c.k}`)]!]!.producer!]!);
}

/** Cuts both graphs into stages over `mesh`'s pipeline axis, or says (at the @pipeline, or where the partition fails) why not. */
export function pipelineInference(
  forward: Graph,
  r: InferenceGraphs,
  ann: PipelineAnnotation,
  mesh: Mesh,
  file: string,
): PipelinedInference | { diagnostics: Diagnostic[] } {
  const fail = (detail: string) => ({ diagnostics: [diag(file, ann.span, 'MDC0135', detail)] });
  const ranks = mesh.axes.find((a) => a.name === ann.axis)!.size;
  const S = ann.stages;
  if (S % ranks !== 0)
    return fail(
      `${S} stages cannot be laid evenly on ${ann.axis} = ${ranks} for decoding: give a multiple of ${ranks} stages (each rank then holds stages/${ann.axis})`,
    );
  let split;
  try {
    split = splitStages(forward, ann);
  } catch (e) {
    if (e instanceof SplitError) return fail(e.message);
    throw e;
  }
  // The decode graph's layers follow the forward graph's split (its own FLOPs would balance differently).
  const sizes = split.layers.map(([lo, hi]) => hi - lo);
  const stageMesh: Mesh = { axes: mesh.axes.filter((a) => a.name !== ann.axis) };
  const layouts = cacheLayouts(r, stageMesh);
  const cut: StageProgram[][] = [];
  for (const g of [withCacheLayouts(r.prefill, layouts), withCacheLayouts(r.decode, layouts)]) {
    const stageOfNode = splitStages(g, { ...ann, layers: sizes }).stageOfNode;
    const idle = meshProblems(g, stageMesh, file);
    if (idle.length) return { diagnostics: idle };
    const spmd = partition(g, stageMesh);
    const unsplit = unitSplits(g, spmd).map((u) => diag(file, u.span, 'MDC0410', u.op, u.what, u.axes.join('×'), u.devices, u.type));
    if (unsplit.length) return { diagnostics: unsplit };
    try {
      cut.push(
        cutStages(
          spmd,
          stageOfNode.map((stage) => ({ stage, pass: 'F' as const })),
          { zeroBubble: false, updates: cacheUpdates(g, spmd, r, stageOfNode) },
        ).programs,
      );
    } catch (e) {
      if (e instanceof CutError) return fail(`the decoding graphs cannot be cut into stages: ${e.message}`);
      throw e;
    }
  }
  const [prefill, decode] = cut as [StageProgram[], StageProgram[]];
  const at = (progs: StageProgram[], s: number) => progs.find((p) => p.stage === s);
  const held = (p: StageProgram | undefined) => r.cache.flatMap((c, i) => (p?.spmd.local.outputNames.includes(`new.${c.k}`) ? [i] : []));
  const stages: InferenceStage[] = [];
  for (let s = 0; s < S; s++) {
    const pre = at(prefill, s);
    const dec = at(decode, s);
    // A stage of layers that make nothing (possible only in a degenerate model) would leave a rank idle: refused.
    if (!pre || !dec) return fail(`stage ${s} (layers ${split.layers[s]![0]}..${split.layers[s]![1] - 1}) has no work when decoding`);
    stages.push({ stage: s, layers: split.layers[s]!, prefill: pre, decode: dec, cache: held(pre) });
  }
  return { axis: ann.axis, ranks, stageMesh, stages, layouts };
}

/** The cache updates of `g` (prefill or decode) as cut.ts takes them: each with its stage and its parameter's id in the partitioned graph. */
function cacheUpdates(g: Graph, spmd: SpmdProgram, r: InferenceGraphs, stageOfNode: readonly number[]) {
  return r.updates.map((u) => {
    const made = g.values[g.outputs[g.outputNames.indexOf(u.output)]!]!.producer!;
    const paramId = spmd.local.values.findIndex((v) => v.kind === 'param' && v.name === u.param);
    return { ...u, stage: stageOfNode[made]!, paramId };
  });
}
