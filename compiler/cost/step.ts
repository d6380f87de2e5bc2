/**
 * The step-time model (docs/cost-model.md): how long one training step (or forward pass) of a
 * partitioned, possibly pipelined plan takes on a described cluster, and what that means in
 * Megatron-LM's terms.
 *
 *   per node of each device's program: compute from FLOPs at the kernel kind's achievable rate,
 *   or memory traffic at the achievable bandwidth, whichever is longer (a roofline); a collective
 *   from its ring bytes and its axis's link (bytes / bandwidth + hops · latency)
 *     → per layer: forward compute and forward communication (tensor parallel collectives are on
 *       the critical path, as in Megatron: not overlapped)
 *     → per stage: F, B (twice F's compute and the conjugate collectives, plus a forward again
 *       under recompute) and W for zero-bubble schedules
 *     → the schedule's discrete-event simulation with the pipeline sends as cross-rank latency
 *     → plus the data-parallel gradient reduction and the optimizer update after the flush.
 */
import type { Graph, Node } from '../ir.js';
import { flopsOf } from '../ops/registry.js';
import { numel } from '../../layout/mesh.js';
import { dtypeBytes, shapeOf, type Mesh } from '../sharding/mesh.js';
import type { SpmdProgram } from '../sharding/partition.js';
import { stepBytes, type StepKind } from '../sharding/redistribute.js';
import { makeSchedule, simulate, type ScheduleKind, type SimResult } from '../pipeline/schedule.js';
import { layerOf } from '../train/recompute.js';
import { axisLinks, peakOf, ringSeconds, type Hardware, type KernelKind } from './hardware.js';

export interface StepPipeline {
  readonly axis: string;
  readonly kind: ScheduleKind;
  readonly ranks: number;
  readonly virtual: number;
  /** Per stage, its layers [first, end) of the pipelined stack. */
  readonly layers: readonly (readonly [number, number])[];
  /** Bytes each device sends to the next stage per micro-batch (the largest boundary). */
  readonly sendBytes: number;
}

export interface StepInput {
  /** The forward graph, global shapes: the model FLOPs Megatron counts. */
  readonly graph: Graph;
  /** That graph partitioned over the stage mesh (the mesh without the pipeline axis). */
  readonly spmd: SpmdProgram;
  /** The whole mesh, the pipeline axis included. */
  readonly mesh: Mesh;
  readonly hardware: Hardware;
  /** Micro-batches per step (gradient accumulation steps without a pipeline). */
  readonly microbatches: number;
  /** Undefined for a forward pass. */
  readonly training?: {
    readonly recompute: 'none' | 'full' | 'selective' | 'auto';
    readonly zero: number;
    /** Mesh axes the gradients are reduced over. */
    readonly dataParallelAxes: readonly string[];
    /** Per-device training memory of the whole stack on the stage mesh (compiler/train/memory.ts): scaled to each pipeline rank's share. */
    readonly memory?: TrainingMemoryParts;
  };
  readonly pipeline?: StepPipeline;
}

export interface TrainingMemoryParts {
  readonly params: number;
  readonly grads: number;
  readonly optimizer: number;
  readonly activations: number;
}

/** What `mdc plan --hardware` reports as `predicted`. */
export interface Prediction {
  readonly stepSeconds: number;
  /** Model FLOPs per step (Megatron's count: 3 passes, 4 with full recompute) per device and second, in TFLOP/s. */
  readonly tflopsPerDevice: number;
  /** Idle over busy time of the pipeline ((p − 1)/m for 1F1B with uniform stages); 0 without a pipeline. */
  readonly bubbleFraction: number;
  /** Communication on the critical path: collectives inside passes, pipeline sends, the gradient reduction. */
  readonly commSeconds: number;
  readonly peakBytesPerDevice: number;
}

export interface StepBreakdown extends Prediction {
  readonly bubbleSeconds: number;
  readonly computeSeconds: number;
  readonly dataParallelSeconds: number;
  readonly optimizerSeconds: number;
  readonly modelFlopsPerStep: number;
  /** Per pipeline stage, the pass durations used (seconds). */
  readonly stages: readonly { readonly F: number; readonly B: number; readonly W: number }[];
  /** What the step's pictures are drawn from (mdc plan --report): the simulated schedule and the memory of each pipeline rank. */
  readonly timeline: StepTimeline;
}

export interface StepTimeline {
  /** The schedule's simulation: per rank, each pass's start and end (seconds from the step's start). */
  readonly sim: SimResult;
  /** Seconds of a send between pipeline ranks (the latency on each cross-rank dependency). */
  readonly sendSeconds: number;
  /** Per stage, the seconds of each pass spent in collectives on the critical path (part of `stages`' durations). */
  readonly stageComm: readonly { readonly F: number; readonly B: number; readonly W: number }[];
  /** Per pipeline rank (one entry without a pipeline), its bytes per device; `peakBytesPerDevice` is the largest total. */
  readonly memory: readonly RankMemory[];
}

/** One device's memory by what it holds; the parts sum to the device's peak. */
export interface RankMemory {
  readonly params: number;
  readonly grads: number;
  readonly optimizer: number;
  /** Activations of the one micro-batch (chunk) the device is working on. */
  readonly activations: number;
  /** Activations of the other micro-batches the schedule keeps in flight at once. */
  readonly inFlight: number;
}

export const rankMemoryTotal = (m: RankMemory) => m.params + m.grads + m.optimizer + m.activations + m.inFlight;

const COLLECTIVES = new Set<string>(['all_reduce', 'reduce_scatter', 'all_gather', 'all_to_all']);
/** Data movement the kernels read through (views), costing neither FLOPs nor a pass over memory. */
const VIEWS = new Set(['reshape', 'transpose', 'slice', 'broadcast', 'shard_slice', 'partial_mask', 'identity']);

const kindOf = (op: string): KernelKind => (op === 'matmul' || op === 'linear' ? 'matmul' : op.includes('attention') ? 'attention' : 'elementwise');

/** Forward seconds of one piece of the program, split by what the backward does with it. */
export interface Part {
  /** Matmul compute: the backward does it twice (input and weight gradients). */
  matmul: number;
  /** Attention core compute (what selective recompute redoes). */
  attention: number;
  /** Every other kernel. */
  other: number;
  /** Collectives on the critical path; the backward has the conjugate ones. */
  comm: number;
}
const zero = (): Part => ({ matmul: 0, attention: 0, other: 0, comm: 0 });
const add = (a: Part, b: Part): Part => ({
  matmul: a.matmul + b.matmul,
  attention: a.attention + b.attention,
  other: a.other + b.other,
  comm: a.comm + b.comm,
});
export const compute = (p: Part) => p.matmul + p.attention + p.other;

/** Seconds of one node of the local program (its local shapes), by kind. */
function nodeCost(n: Node, p: SpmdProgram, hw: Hardware, links: ReturnType<typeof axisLinks>): Part {
  const g = p.local;
  const part = zero();
  if (VIEWS.has(n.op)) return part;
  const bytesOf = (id: number) => numel(shapeOf(g.values[id]!.type)) * dtypeBytes(g.values[id]!.type.dtype);
  if (COLLECTIVES.has(n.op)) {
    const axis = String(n.attrs['axis']);
    const link = links.get(axis);
    const size = p.mesh.axes.find((a) => a.name === axis)?.size ?? 1;
    if (!link || size <= 1) return part;
    const sent = stepBytes(p.mesh, { kind: n.op as StepKind, axis, after: { axes: [], partial: [] } }, bytesOf(n.inputs[0]!));
    part.comm = ringSeconds(link, sent, (n.op === 'all_reduce' ? 2 : 1) * (size - 1));
    return part;
  }
  const ins = n.inputs.map((i) => shapeOf(g.values[i]!.type));
  const outs = n.outputs.map((o) => shapeOf(g.values[o]!.type));
  const flops = flopsOf(n, ins, outs);
  const kind = kindOf(n.op);
  const dtype = g.values[n.outputs[0]!]!.type.dtype;
  const traffic = [...n.inputs, ...n.outputs].reduce((s, id) => s + bytesOf(id), 0);
  const stream = hw.memoryBandwidth * hw.memoryEfficiency;
  let seconds = Math.max(flops / (peakOf(hw, dtype) * hw.efficiency[kind]), traffic / stream) + hw.kernelLatency;
  if (kind === 'attention' && hw.attentionScoresInMemory && typeof n.attrs['heads'] === 'number' && ins.length >= 2) {
    // batch × heads × queries × keys scores, streamed four times besides the products' own traffic.
    const [q, k] = [ins[0]!, ins[1]!];
    const scores = q.slice(0, -2).reduce((a, x) => a * x, 1) * n.attrs['heads'] * q[q.length - 2]! * k[k.length - 2]!;
    seconds += (4 * scores * dtypeBytes(dtype)) / stream;
  }
  part[kind === 'matmul' ? 'matmul' : kind === 'attention' ? 'attention' : 'other'] = seconds;
  return part;
}

/** The index of the repeated layer a scope belongs to ('Layer.3.Mlp' → 3), or undefined outside layers. */
function layerIndex(scope: string): number | undefined {
  const l = layerOf(scope);
  if (!l) return undefined;
  const k = Number(l.slice(l.lastIndexOf('.') + 1));
  return Number.isInteger(k) ? k : undefined;
}

/**
 * The program's forward cost cut into what comes before the layer stack, each layer, and what
 * comes after it. Loss and its gradient are not in the forward graph: one read of the output and
 * one write of its gradient stand for them (`lossBytes`).
 */
export function programParts(p: SpmdProgram, hw: Hardware, links: ReturnType<typeof axisLinks>) {
  const layers: Part[] = [];
  let before = zero();
  let after = zero();
  let seenLayer = false;
  for (const n of p.local.nodes) {
    const c = nodeCost(n, p, hw, links);
    const k = layerIndex(n.scope);
    if (k !== undefined) {
      seenLayer = true;
      layers[k] = add(layers[k] ?? zero(), c);
    } else if (seenLayer) after = add(after, c);
    else before = add(before, c);
  }
  for (let k = 0; k < layers.length; k++) layers[k] ??= zero();
  const out = p.local.outputs.reduce((s, id) => s + numel(shapeOf(p.local.values[id]!.type)) * dtypeBytes(p.local.values[id]!.type.dtype), 0);
  after = add(after, { ...zero(), other: (2 * out) / (hw.memoryBandwidth * hw.memoryEfficiency) });
  return { before, layers, after };
}

/** Stage pass durations from its forward part: the backward twice the compute, collectives once more, a forward again under recompute. */
export function passes(part: Part, layersPart: Part, recompute: string, split: boolean): { F: number; B: number; W: number } {
  const F = compute(part) + part.comm;
  const again = recompute === 'full' ? compute(layersPart) + layersPart.comm : recompute === 'selective' ? layersPart.attention : 0;
  const backward = 2 * compute(part) + part.comm + again;
  // Zero-bubble: the weight-gradient half of each matmul's backward moves to W.
  return split ? { F, B: backward - part.matmul, W: part.matmul } : { F, B: backward, W: 0 };
}

/**
 * The schedule's discrete-event simulation with each stage's pass durations (stage k on rank
 * k % ranks) and `send` seconds on every dependency between ranks.
 */
export function pipelineTime(
  kind: ScheduleKind,
  ranks: number,
  virtual: number,
  microbatches: number,
  stages: readonly { readonly F: number; readonly B: number; readonly W: number }[],
  send = 0,
): SimResult {
  return simulate(makeSchedule({ kind, ranks, virtual, microbatches }), { F: 1, B: 1, W: 1, comm: send }, stages);
}

export function predictStep(input: StepInput): StepBreakdown {
  const { spmd, hardware: hw, mesh } = input;
  const links = axisLinks(hw, mesh);
  const parts = programParts(spmd, hw, links);
  const L = parts.layers.length;
  const pipe = input.pipeline;
  const stageLayers = pipe ? pipe.layers : [[0, L] as const];
  const S = stageLayers.length;
  const training = input.training;
  const recompute = training?.recompute ?? 'none';
  const kind: ScheduleKind = pipe ? pipe.kind : '1f1b';
  const split = kind === 'zb-h1';
  const m = input.microbatches;
  const stageParts = stageLayers.map(([lo, hi], k) => {
    let layersPart = zero();
    for (let i = lo; i < hi; i++) layersPart = add(layersPart, parts.layers[i] ?? zero());
    let whole = layersPart;
    if (k === 0) whole = add(whole, parts.before);
    if (k === S - 1) whole = add(whole, parts.after);
    return { whole, layersPart };
  });
  const stages = stageParts.map(({ whole, layersPart }) =>
    training ? passes(whole, layersPart, recompute, split) : { F: compute(whole) + whole.comm, B: 0, W: 0 },
  );
  const ranks = pipe?.ranks ?? 1;
  const virtual = pipe?.virtual ?? 1;
  const ppLink = pipe ? links.get(pipe.axis) : undefined;
  const send = pipe && ppLink && ranks > 1 ? ringSeconds(ppLink, pipe.sendBytes, 1) : 0;
  const sim = pipelineTime(training ? kind : 'gpipe', ranks, virtual, m, stages, send);
  // After the flush: each rank reduces the gradients of its stages' parameters over data parallel, then updates them.
  const dpAxes = training?.dataParallelAxes.filter((a) => (mesh.axes.find((x) => x.name === a)?.size ?? 1) > 1) ?? [];
  const paramShare = rankParamShare(spmd, stageLayers, ranks);
  const paramBytes = spmd.local.values.filter((v) => v.kind === 'param').reduce((s, v) => s + numel(shapeOf(v.type)) * dtypeBytes(v.type.dtype), 0);
  const paramElems = spmd.local.values.filter((v) => v.kind === 'param').reduce((s, v) => s + numel(shapeOf(v.type)), 0);
  let dataParallelSeconds = 0;
  let optimizerSeconds = 0;
  if (training) {
    const share = Math.max(...paramShare);
    // Rings over each data-parallel axis in turn, on a block that shrinks by each axis under ZeRO's reduce-scatter (same bytes as all-reduce).
    let bytes = paramBytes * share;
    for (const a of dpAxes) {
      const n = mesh.axes.find((x) => x.name === a)!.size;
      dataParallelSeconds += ringSeconds(links.get(a)!, (2 * (n - 1) * bytes) / n, 2 * (n - 1));
      bytes /= training.zero >= 1 ? n : 1;
    }
    const dp = dpAxes.reduce((s, a) => s * mesh.axes.find((x) => x.name === a)!.size, 1);
    // AdamW with f32 master weights and moments: read and write three f32 values, read the gradient, write the parameter.
    const updated = (paramElems * share) / (training.zero >= 1 ? dp : 1);
    optimizerSeconds = (updated * 30) / (hw.memoryBandwidth * hw.memoryEfficiency);
  }
  const stepSeconds = sim.makespan + dataParallelSeconds + optimizerSeconds;
  const forwardFlops = input.graph.nodes.reduce(
    (s, n) =>
      s +
      flopsOf(
        n,
        n.inputs.map((i) => shapeOf(input.graph.values[i]!.type)),
        n.outputs.map((o) => shapeOf(input.graph.values[o]!.type)),
      ),
    0,
  );
  const passesCounted = training ? (recompute === 'full' ? 4 : 3) : 1;
  const modelFlopsPerStep = forwardFlops * m * passesCounted;
  const devices = mesh.axes.reduce((s, a) => s * a.size, 1);
  // The busiest rank's communication inside its passes, its sends, and the gradient reduction.
  const commOf = (k: number) => {
    const w = stageParts[k]!.whole;
    const again = recompute === 'full' ? stageParts[k]!.layersPart.comm : 0;
    return training ? 3 * w.comm + again : w.comm;
  };
  const rankComm = Array.from({ length: ranks }, (_, r) => {
    let s = 0;
    for (let c = 0; c < virtual; c++) s += commOf(c * ranks + r);
    return m * (s + (ranks > 1 ? (training ? 2 : 1) * virtual * send : 0));
  });
  const commSeconds = Math.max(...rankComm) + dataParallelSeconds;
  const busiest = Math.max(...sim.busy);
  const memory = memoryByRank(input, sim.peakInFlight, paramShare, stageLayers, L);
  const stageComm = stageParts.map(({ whole, layersPart }) => ({
    F: whole.comm,
    B: training ? whole.comm + (recompute === 'full' ? layersPart.comm : 0) : 0,
    W: 0,
  }));
  return {
    stepSeconds,
    tflopsPerDevice: modelFlopsPerStep / devices / stepSeconds / 1e12,
    bubbleFraction: ranks > 1 ? sim.bubbleRatio : 0,
    commSeconds,
    peakBytesPerDevice: Math.max(...memory.map(rankMemoryTotal)),
    bubbleSeconds: Math.max(0, sim.makespan - busiest),
    computeSeconds: busiest - Math.max(...rankComm) + m * (ranks > 1 ? (training ? 2 : 1) * virtual * send : 0),
    dataParallelSeconds,
    optimizerSeconds,
    modelFlopsPerStep,
    stages,
    timeline: { sim, sendSeconds: send, stageComm, memory },
  };
}

/** Per pipeline rank, the share of the stack's parameter bytes its stages hold (by layer; what lies outside layers goes with the first and last stage). */
export function rankParamShare(p: SpmdProgram, stageLayers: readonly (readonly [number, number])[], ranks: number): number[] {
  const layerBytes = new Map<number, number>();
  let outside = 0;
  let total = 0;
  for (const v of p.local.values) {
    if (v.kind !== 'param') continue;
    const b = numel(shapeOf(v.type)) * dtypeBytes(v.type.dtype);
    total += b;
    const k = layerIndex(v.name!);
    if (k === undefined) outside += b;
    else layerBytes.set(k, (layerBytes.get(k) ?? 0) + b);
  }
  if (!total) return Array.from({ length: ranks }, () => 0);
  const S = stageLayers.length;
  const out = Array.from({ length: ranks }, () => 0);
  stageLayers.forEach(([lo, hi], k) => {
    let b = 0;
    for (let i = lo; i < hi; i++) b += layerBytes.get(i) ?? 0;
    if (S === 1) b += outside;
    else if (k === 0 || k === S - 1) b += outside / 2;
    out[k % ranks]! += b / total;
  });
  return out;
}

/**
 * The memory of each pipeline rank's devices (the most any device needs is the largest): its rank's share of parameters, gradients and optimizer
 * state, and its stages' activations for every micro-batch the schedule keeps in flight (a
 * chunk's in-flight unit holds that chunk's layers only).
 */
export function memoryByRank(
  input: { readonly spmd: SpmdProgram; readonly training?: { readonly memory?: TrainingMemoryParts }; readonly pipeline?: unknown },
  inFlight: readonly number[],
  share: readonly number[],
  stageLayers: readonly (readonly [number, number])[],
  L: number,
): RankMemory[] {
  const mem = input.training?.memory;
  if (!mem) return share.map(() => ({ params: input.spmd.paramBytesPerDevice, grads: 0, optimizer: 0, activations: 0, inFlight: 0 }));
  const ranks = share.length;
  const v = stageLayers.length / ranks;
  return share.map((s, r) => {
    let layers = 0;
    for (let c = 0; c < v; c++) {
      const [lo, hi] = stageLayers[c * ranks + r]!;
      layers += hi - lo;
    }
    // Activations of one micro-batch of the whole stack, per layer; a unit in flight is one chunk (layers / v of the rank's).
    const perUnit = ((mem.activations / Math.max(1, L)) * layers) / v;
    const units = Math.max(1, input.pipeline ? inFlight[r]! : 1);
    return { params: mem.params * s, grads: mem.grads * s, optimizer: mem.optimizer * s, activations: perUnit, inFlight: perUnit * (units - 1) };
  });
}
