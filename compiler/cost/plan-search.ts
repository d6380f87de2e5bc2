/**
 * Whole-plan search (`mdc plan --auto --devices N`, docs/cost-model.md "Whole-plan search"):
 * for a device count and a per-device memory, the data/pipeline/tensor sizes, stage
 * boundaries, micro-batch size and count, schedule, ZeRO stage and recompute policy with the
 * shortest predicted step that fits.
 *
 * Speed comes from costing one layer and multiplying: the caller (driver/auto-plan.ts) lowers
 * and partitions a one-layer copy of the model once per (tensor-parallel size, micro-batch
 * size) and hands its costs here as a `LayerCost`; a candidate is then arithmetic on those
 * parts plus a discrete-event run of its schedule, never a lowering of the whole stack. The
 * arithmetic mirrors `predictStep` (compiler/cost/step.ts) term by term; a test holds the two
 * together on plans both can cost.
 *
 * Candidates are ranked by a lower bound (the busiest rank's passes, the gradient reduction
 * and the update, no bubble) and simulated in that order; the search stops when the bound
 * passes the runner-up's step, so most candidates are never simulated.
 */
import type { Hardware, Link } from './hardware.js';
import { ringSeconds } from './hardware.js';
import { compute, passes, type Part } from './step.js';
import { dependencies, makeSchedule, type Pass, type Schedule, type ScheduleKind } from '../pipeline/schedule.js';

export type Policy = 'none' | 'selective' | 'full';
export const POLICIES: readonly Policy[] = ['none', 'selective', 'full'];

/** What one layer of the model costs on one device at a (tensor-parallel size, micro-batch size). */
export interface LayerCost {
  /** Forward seconds per device of one micro-batch: before the stack, one layer, after it. */
  readonly before: Part;
  readonly layer: Part;
  readonly after: Part;
  /** Per device: one layer's parameter elements and bytes, and those outside the stack. */
  readonly layerParams: { readonly elems: number; readonly bytes: number };
  readonly outsideParams: { readonly elems: number; readonly bytes: number };
  /** Gradient and optimizer bytes per parameter element (compiler/train/memory.ts's figures, without ZeRO). */
  readonly gradBytesPerElem: number;
  readonly optimizerBytesPerElem: number;
  /** Activation bytes per device one micro-batch keeps for the backward pass: per layer under each policy, and outside the stack. */
  readonly layerActivations: Readonly<Record<Policy, number>>;
  readonly outsideActivations: number;
  /** Bytes a policy needs once per device besides (the values rebuilt together in the backward). */
  readonly recomputeBuffer: Readonly<Record<Policy, number>>;
  /** Bytes per device sent from one stage to the next per micro-batch. */
  readonly sendBytes: number;
  /** Forward FLOPs of one micro-batch of one data-parallel replica (global shapes): one layer, and outside the stack. */
  readonly layerFlops: number;
  readonly outsideFlops: number;
  /**
   * Fine-tuning (compiler/train/fine-tune.ts): per device, the parameters that train, layer by
   * layer through the stack (index 0 first) and outside it. Only these hold gradients and
   * optimizer state, are reduced over dp and updated; frozen ones count in the parameters
   * alone. Absent: every parameter trains.
   */
  readonly trained?: { readonly layers: readonly ParamSize[]; readonly outside: ParamSize };
}

/** Parameter elements and their bytes. */
export interface ParamSize {
  readonly elems: number;
  readonly bytes: number;
}

export interface SearchProblem {
  readonly layers: number;
  readonly devices: number;
  /** Sequences per optimizer step (the global batch). */
  readonly batch: number;
  readonly hardware: Hardware;
  /** Bytes each device may hold (default: the hardware's memory). */
  readonly memoryCap?: number;
  /** Tensor-parallel sizes and micro-batch sizes to try (defaults: powers of two up to a node's devices, and 1, 2, 4, 8). */
  readonly tensorSizes?: readonly number[];
  readonly microBatchSizes?: readonly number[];
  /** Pipeline sizes to try (default: every size dividing the devices, up to the layers). */
  readonly pipelineSizes?: readonly number[];
  /** The one-layer costs at (t, b); undefined when the model cannot be split t ways. */
  readonly layerCost: (t: number, b: number) => LayerCost | undefined;
  /** The links of the mesh [dp, pp, tp] (compiler/cost/hardware.ts axisLinks): keyed by 'dp', 'pp', 'tp'. */
  readonly links: (d: number, p: number, t: number) => ReadonlyMap<string, Link>;
}

/** One point of the search space. */
export interface Candidate {
  readonly dp: number;
  readonly pp: number;
  readonly tp: number;
  readonly microBatchSize: number;
  readonly microbatches: number;
  readonly schedule: ScheduleKind;
  /** Model chunks per pipeline rank (interleaved), else 1. */
  readonly virtual: number;
  readonly zero: number;
  readonly recompute: Policy;
}

export interface Evaluated extends Candidate {
  /** Layers per stage, stage k on rank k % pp. */
  readonly stageLayers: readonly number[];
  readonly stepSeconds: number;
  readonly tflopsPerDevice: number;
  readonly bubbleSeconds: number;
  readonly bubbleFraction: number;
  /** The busiest rank's passes (compute and the collectives inside them, sends excluded). */
  readonly busySeconds: number;
  readonly tensorCommSeconds: number;
  readonly dataParallelSeconds: number;
  readonly optimizerSeconds: number;
  readonly peakBytesPerDevice: number;
}

export interface SearchResult {
  /** Undefined when nothing fits: then `smallest` is the plan needing the least memory. */
  readonly winner?: Evaluated;
  /** The best plan with another (dp, pp, tp) than the winner's, when there is one. */
  readonly runnerUp?: Evaluated;
  readonly smallest?: Evaluated;
  readonly memoryCap: number;
  /** Candidates ranked, and those simulated before the bound stopped the search. */
  readonly candidates: number;
  readonly simulated: number;
}

const scale = (p: Part, k: number): Part => ({ matmul: p.matmul * k, attention: p.attention * k, other: p.other * k, comm: p.comm * k });
const plus = (a: Part, b: Part): Part => ({
  matmul: a.matmul + b.matmul,
  attention: a.attention + b.attention,
  other: a.other + b.other,
  comm: a.comm + b.comm,
});

/**
 * Layers per stage for `stages` stages of a `layers`-deep stack: uniform under interleaving (the
 * caller only asks when it divides), else the split that minimises the longest stage when the
 * first stage also runs what precedes the stack and the last what follows it (a layer costs
 * `unit`, the ends `first` and `last` in the same unit). Every stage keeps at least one layer.
 */
export function stageBoundaries(layers: number, stages: number, unit: number, first: number, last: number, uniform = false): number[] {
  if (stages === 1) return [layers];
  if (uniform || unit <= 0) {
    const base = Math.floor(layers / stages);
    const extra = layers % stages;
    // The remainder goes to the middle stages, away from the ends' extra work.
    const lo = Math.floor((stages - extra) / 2);
    return Array.from({ length: stages }, (_, k) => base + (k >= lo && k < lo + extra ? 1 : 0));
  }
  const fits = (T: number) => {
    const n = Array.from({ length: stages }, (_, k) => Math.floor((T - (k === 0 ? first : 0) - (k === stages - 1 ? last : 0)) / unit + 1e-9));
    return n.every((x) => x >= 1) && n.reduce((a, b) => a + b, 0) >= layers ? n : undefined;
  };
  // The smallest longest-stage time T (in whole layers) with a split: try T = j·unit + end costs by increasing j.
  for (let j = Math.ceil(layers / stages); j <= layers; j++) {
    for (const T of [j * unit, j * unit + first, j * unit + last].sort((a, b) => a - b)) {
      const n = fits(T);
      if (!n) continue;
      // Trim the surplus from the stages that carry the ends first, then from the last stages.
      let surplus = n.reduce((a, b) => a + b, 0) - layers;
      for (const k of [0, stages - 1, ...Array.from({ length: stages }, (_, i) => stages - 1 - i)]) {
        const cut = Math.min(surplus, n[k]! - 1);
        n[k]! -= cut;
        surplus -= cut;
      }
      return n;
    }
  }
  return stageBoundaries(layers, stages, 0, 0, 0, true);
}

export interface FastSim {
  readonly makespan: number;
  readonly busy: readonly number[];
  readonly peakInFlight: readonly number[];
}

const scheduleCache = new Map<string, Schedule>();
function scheduleOf(kind: ScheduleKind, ranks: number, virtual: number, microbatches: number): Schedule {
  const k = `${kind}:${ranks}:${virtual}:${microbatches}`;
  let s = scheduleCache.get(k);
  if (!s) {
    if (scheduleCache.size > 256) scheduleCache.clear();
    s = makeSchedule({ kind, ranks, virtual, microbatches });
    scheduleCache.set(k, s);
  }
  return s;
}

/**
 * The schedule's run with per-stage pass durations and `send` seconds on each dependency
 * between ranks: the same list scheduling as compiler/pipeline/schedule.ts's `simulate`
 * (each rank runs its actions in order, each as soon as its rank is free and its inputs have
 * arrived), without its checks and timelines, for the search's many runs.
 */
export function runSchedule(s: Schedule, stages: readonly { readonly F: number; readonly B: number; readonly W: number }[], send: number): FastSim {
  const { ranks: p, virtual: v, microbatches: m } = s;
  const S = p * v;
  const idx: Record<Pass, number> = { F: 0, B: 1, W: 2 };
  const end = new Float64Array(3 * m * S).fill(-1);
  const key = (pass: Pass, i: number, k: number) => (idx[pass] * m + i) * S + k;
  const ran = new Array<number>(p).fill(0);
  const free = new Array<number>(p).fill(0);
  const busy = new Array<number>(p).fill(0);
  let makespan = 0;
  for (let progressed = true; progressed;) {
    progressed = false;
    for (let r = 0; r < p; r++) {
      const list = s.perRank[r]!;
      for (; ran[r]! < list.length; ran[r]!++) {
        const a = list[ran[r]!]!;
        let start = free[r]!;
        let ready = true;
        for (const d of dependencies(s, a)) {
          const t = end[key(d.pass, d.microbatch, d.stage)]!;
          if (t < 0) {
            ready = false;
            break;
          }
          start = Math.max(start, t + (d.stage % p === r ? 0 : send));
        }
        if (!ready) break;
        const dur = stages[a.stage]![a.pass];
        end[key(a.pass, a.microbatch, a.stage)] = start + dur;
        free[r] = start + dur;
        busy[r]! += dur;
        makespan = Math.max(makespan, start + dur);
        progressed = true;
      }
    }
  }
  const frees: Pass = s.kind === 'zb-h1' ? 'W' : 'B';
  const peakInFlight = s.perRank.map((list) => {
    let now = 0;
    let peak = 0;
    for (const a of list) {
      if (a.pass === 'F') peak = Math.max(peak, ++now);
      else if (a.pass === frees) now--;
    }
    return peak;
  });
  return { makespan, busy, peakInFlight };
}

/**
 * The schedule's makespan for m micro-batches, simulated in full when m ≤ 4p, else from two
 * runs at 2p and 3p micro-batches and the steady state between them: past the warm-up every
 * p more micro-batches add the same time (each rank's order repeats), so the makespan is
 * affine in m there. In-flight counts are those of the longer run (they stop growing once m
 * passes the warm-up; GPipe's, which grow with m, are scaled). A test checks this against
 * the direct simulation.
 */
export function scheduleTime(
  kind: ScheduleKind,
  p: number,
  v: number,
  m: number,
  stages: readonly { readonly F: number; readonly B: number; readonly W: number }[],
  send: number,
): FastSim {
  if (m <= 4 * p || p === 1) return runSchedule(scheduleOf(kind, p, v, m), stages, send);
  const [ma, mb] = [2 * p, 3 * p];
  const a = runSchedule(scheduleOf(kind, p, v, ma), stages, send);
  const b = runSchedule(scheduleOf(kind, p, v, mb), stages, send);
  const per = (b.makespan - a.makespan) / (mb - ma);
  return {
    makespan: b.makespan + per * (m - mb),
    busy: b.busy.map((x) => (x * m) / mb),
    peakInFlight: kind === 'gpipe' ? b.peakInFlight.map((x) => Math.round((x * m) / mb)) : b.peakInFlight,
  };
}

/** Structural candidates: mesh shapes, micro-batching and schedules (ZeRO and recompute are chosen per structure). */
function* structures(pr: SearchProblem): Generator<Omit<Candidate, 'zero' | 'recompute'>> {
  const N = pr.devices;
  const L = pr.layers;
  const node = pr.hardware.links[0]?.devices ?? 8;
  const tps = pr.tensorSizes ?? [1, 2, 4, 8, 16].filter((t) => t <= Math.max(1, node));
  const mbss = pr.microBatchSizes ?? [1, 2, 4, 8];
  for (const tp of tps) {
    if (N % tp) continue;
    for (let pp = 1; pp <= Math.min(L, N / tp); pp++) {
      if ((N / tp) % pp || (pr.pipelineSizes && !pr.pipelineSizes.includes(pp))) continue;
      const dp = N / (tp * pp);
      if (pr.batch % dp) continue;
      for (const b of mbss) {
        if ((pr.batch / dp) % b) continue;
        const m = pr.batch / dp / b;
        if (pp === 1) {
          yield { dp, pp, tp, microBatchSize: b, microbatches: m, schedule: '1f1b', virtual: 1 };
          continue;
        }
        yield { dp, pp, tp, microBatchSize: b, microbatches: m, schedule: '1f1b', virtual: 1 };
        yield { dp, pp, tp, microBatchSize: b, microbatches: m, schedule: 'zb-h1', virtual: 1 };
        // Interleaving as Megatron-LM runs it: whole chunks of layers, micro-batches in groups of p.
        for (const v of [2, 3, 4, 6, 8])
          if (L % (pp * v) === 0 && m % pp === 0) yield { dp, pp, tp, microBatchSize: b, microbatches: m, schedule: 'interleaved', virtual: v };
      }
    }
  }
}

interface Shape {
  readonly c: Omit<Candidate, 'zero' | 'recompute'>;
  readonly cost: LayerCost;
  readonly stageLayers: number[];
  readonly info: Map<Policy, StageInfo>;
}

/** The step of one candidate, given its schedule run (undefined: only the lower bound, no bubble). */
interface StageInfo {
  readonly stages: readonly { readonly F: number; readonly B: number; readonly W: number }[];
  readonly send: number;
  readonly rankLayers: readonly number[];
  readonly rankElems: readonly number[];
  readonly rankBytes: readonly number[];
  /** Per rank, the parameters that train (all of them unless fine-tuning): elements and bytes. */
  readonly rankTrainedElems: readonly number[];
  readonly rankTrainedBytes: readonly number[];
  readonly rankOutside: readonly number[];
  /** Per rank, its passes' time (compute and the collectives inside them) and those collectives alone, per micro-batch. */
  readonly rankBusy: readonly number[];
  readonly rankComm: readonly number[];
}

/** The stages' passes and each rank's share, once per shape and policy (the ZeRO stages share them). */
function stageInfo(pr: SearchProblem, sh: Shape, recompute: Policy): StageInfo {
  const cached = sh.info.get(recompute);
  if (cached) return cached;
  const { c, cost, stageLayers } = sh;
  const pp = c.pp;
  const S = stageLayers.length;
  const rankLayers = new Array<number>(pp).fill(0);
  const rankElems = new Array<number>(pp).fill(0);
  const rankBytes = new Array<number>(pp).fill(0);
  const rankTrainedElems = new Array<number>(pp).fill(0);
  const rankTrainedBytes = new Array<number>(pp).fill(0);
  const rankOutside = new Array<number>(pp).fill(0);
  const rankBusy = new Array<number>(pp).fill(0);
  const rankComm = new Array<number>(pp).fill(0);
  let firstLayer = 0;
  const stages = stageLayers.map((n, k) => {
    const r = k % pp;
    const layersPart = scale(cost.layer, n);
    let whole = layersPart;
    if (k === 0) whole = plus(whole, cost.before);
    if (k === S - 1) whole = plus(whole, cost.after);
    const x = passes(whole, layersPart, recompute, c.schedule === 'zb-h1');
    // Per rank: its layers, its share of the parameters (the ends' split between first and last stage, as step.ts does).
    const ends = S === 1 ? 1 : k === 0 || k === S - 1 ? 0.5 : 0;
    rankLayers[r]! += n;
    rankElems[r]! += n * cost.layerParams.elems + ends * cost.outsideParams.elems;
    rankBytes[r]! += n * cost.layerParams.bytes + ends * cost.outsideParams.bytes;
    // Stage k runs the next n layers of the stack: under fine-tuning, each brings what of it trains.
    const trained = trainedParams(cost, firstLayer, n, ends);
    firstLayer += n;
    rankTrainedElems[r]! += trained.elems;
    rankTrainedBytes[r]! += trained.bytes;
    if (k === 0 || k === S - 1) rankOutside[r] = 1;
    rankBusy[r]! += x.F + x.B + x.W;
    rankComm[r]! += 3 * whole.comm + (recompute === 'full' ? layersPart.comm : 0);
    return x;
  });
  const ppLink = pr.links(c.dp, pp, c.tp).get('pp');
  const send = pp > 1 && ppLink ? ringSeconds(ppLink, cost.sendBytes, 1) : 0;
  const info = { stages, send, rankLayers, rankElems, rankBytes, rankTrainedElems, rankTrainedBytes, rankOutside, rankBusy, rankComm };
  sh.info.set(recompute, info);
  return info;
}

/** What trains of layers [from, from + n) of the stack and of `ends` (a share) of the parameters outside it. */
function trainedParams(cost: LayerCost, from: number, n: number, ends: number): ParamSize {
  const tr = cost.trained;
  if (!tr) return { elems: n * cost.layerParams.elems + ends * cost.outsideParams.elems, bytes: n * cost.layerParams.bytes + ends * cost.outsideParams.bytes };
  const layers = tr.layers.slice(from, from + n);
  return { elems: layers.reduce((a, x) => a + x.elems, ends * tr.outside.elems), bytes: layers.reduce((a, x) => a + x.bytes, ends * tr.outside.bytes) };
}

/** The step of one candidate, given its schedule run (undefined: only the lower bound, no bubble). */
function evaluate(pr: SearchProblem, sh: Shape, zero: number, recompute: Policy, sim?: FastSim): Evaluated {
  const { c, cost, stageLayers } = sh;
  const { dp, pp, tp, virtual: v, microbatches: m } = c;
  const links = pr.links(dp, pp, tp);
  const { rankLayers, rankBytes, rankTrainedElems, rankTrainedBytes, rankOutside, rankBusy, rankComm: commPerMicro } = stageInfo(pr, sh, recompute);
  const run = sim ?? { makespan: 0, busy: rankBusy.map((x) => m * x), peakInFlight: rankBusy.map(() => 1) };
  const busiest = Math.max(...run.busy);
  const makespan = sim ? sim.makespan : busiest;
  // The gradient reduction of the largest rank's trained parameters over dp, and the AdamW update
  // (30 bytes of traffic per trained element): a frozen parameter has no gradient and no update.
  const dpLink = links.get('dp');
  const maxBytes = Math.max(...rankBytes);
  const maxTrainedBytes = Math.max(...rankTrainedBytes);
  const maxElems = Math.max(...rankTrainedElems);
  let dataParallelSeconds = dp > 1 && dpLink ? ringSeconds(dpLink, (2 * (dp - 1) * maxTrainedBytes) / dp, 2 * (dp - 1)) : 0;
  // ZeRO-3 gathers the parameters again for the forward and the backward: one more all-gather's
  // worth each, frozen ones included (they are split like the rest).
  if (zero >= 3 && dp > 1 && dpLink) dataParallelSeconds += 2 * ringSeconds(dpLink, ((dp - 1) * maxBytes) / dp, dp - 1);
  const optimizerSeconds = ((maxElems / (zero >= 1 ? dp : 1)) * 30) / (pr.hardware.memoryBandwidth * pr.hardware.memoryEfficiency);
  const stepSeconds = makespan + dataParallelSeconds + optimizerSeconds;
  const passesCounted = recompute === 'full' ? 4 : 3;
  const modelFlops = (pr.layers * cost.layerFlops + cost.outsideFlops) * dp * m * passesCounted;
  // Memory per rank: state (ZeRO as compiler/train/memory.ts applies it; gradients and optimizer
  // state for the trained parameters only) and activations of the micro-batches in flight.
  const peak = Math.max(
    ...rankTrainedElems.map((elems, r) => {
      const paramBytes = zero >= 3 ? rankBytes[r]! / dp + cost.layerParams.bytes : rankBytes[r]!;
      const grads = (elems * cost.gradBytesPerElem) / (zero >= 2 ? dp : 1);
      const optimizer = (elems * cost.optimizerBytesPerElem) / (zero >= 1 ? dp : 1);
      const perUnit = (cost.layerActivations[recompute] * rankLayers[r]!) / v + rankOutside[r]! * cost.outsideActivations;
      return paramBytes + grads + optimizer + perUnit * Math.max(1, run.peakInFlight[r]!) + cost.recomputeBuffer[recompute];
    }),
  );
  const rankComm = m * Math.max(...commPerMicro);
  return {
    ...c,
    zero,
    recompute,
    stageLayers,
    stepSeconds,
    tflopsPerDevice: modelFlops / pr.devices / stepSeconds / 1e12,
    bubbleSeconds: Math.max(0, makespan - busiest),
    bubbleFraction: pp > 1 && busiest > 0 ? Math.max(0, makespan - busiest) / busiest : 0,
    busySeconds: busiest,
    tensorCommSeconds: rankComm,
    dataParallelSeconds,
    optimizerSeconds,
    peakBytesPerDevice: peak,
  };
}

/** The pipeline schedule's run for a shape under a recompute policy. */
function simulateShape(pr: SearchProblem, sh: Shape, recompute: Policy): FastSim {
  const { stages, send } = stageInfo(pr, sh, recompute);
  return scheduleTime(sh.c.schedule, sh.c.pp, sh.c.virtual, sh.c.microbatches, stages, send);
}

function shapeOf(pr: SearchProblem, c: Omit<Candidate, 'zero' | 'recompute'>): Shape | undefined {
  const cost = pr.layerCost(c.tp, c.microBatchSize);
  if (!cost) return undefined;
  const unit = compute(cost.layer) + cost.layer.comm;
  const ends = (p: Part) => compute(p) + p.comm;
  const stageLayers = stageBoundaries(pr.layers, c.pp * c.virtual, unit, ends(cost.before), ends(cost.after), c.virtual > 1);
  return { c, cost, stageLayers, info: new Map() };
}

/** One given plan costed as the search costs its candidates (e.g. a published configuration, to compare with the winner). */
export function evaluateCandidate(pr: SearchProblem, c: Candidate): Evaluated | undefined {
  const sh = shapeOf(pr, c);
  if (!sh) return undefined;
  return evaluate(pr, sh, c.zero, c.recompute, c.pp > 1 ? simulateShape(pr, sh, c.recompute) : undefined);
}

/** The search: every structure × ZeRO stage × recompute policy, ranked by lower bound, simulated until the bound passes the runner-up. */
export function searchPlans(pr: SearchProblem): SearchResult {
  const cap = pr.memoryCap ?? pr.hardware.memoryBytes;
  const ranked: { sh: Shape; zero: number; recompute: Policy; bound: Evaluated }[] = [];
  for (const c of structures(pr)) {
    const sh = shapeOf(pr, c);
    if (!sh) continue;
    for (const recompute of POLICIES)
      for (const zero of c.dp > 1 ? [0, 1, 2, 3] : [0]) ranked.push({ sh, zero, recompute, bound: evaluate(pr, sh, zero, recompute) });
  }
  ranked.sort((a, b) => a.bound.stepSeconds - b.bound.stepSeconds);
  const meshKey = (e: Candidate) => `${e.dp}x${e.pp}x${e.tp}`;
  const bestPerMesh = new Map<string, Evaluated>();
  const sims = new Map<string, FastSim>();
  let smallest: Evaluated | undefined;
  let simulated = 0;
  const top2 = () => [...bestPerMesh.values()].sort((a, b) => a.stepSeconds - b.stepSeconds).slice(0, 2);
  for (const r of ranked) {
    const two = top2();
    if (two.length === 2 && r.bound.stepSeconds > two[1]!.stepSeconds) break;
    // Memory with one micro-batch in flight is a floor: a candidate over the cap there is over it anyway.
    if (r.bound.peakBytesPerDevice > cap && smallest && r.bound.peakBytesPerDevice >= smallest.peakBytesPerDevice) continue;
    const c = r.sh.c;
    const simKey = `${c.schedule}:${c.pp}:${c.virtual}:${c.microbatches}:${c.tp}:${c.dp}:${c.microBatchSize}:${r.recompute}`;
    let sim = sims.get(simKey);
    if (!sim && c.pp > 1) {
      sim = simulateShape(pr, r.sh, r.recompute);
      sims.set(simKey, sim);
      simulated++;
    }
    const e = evaluate(pr, r.sh, r.zero, r.recompute, sim);
    if (!smallest || e.peakBytesPerDevice < smallest.peakBytesPerDevice) smallest = e;
    if (e.peakBytesPerDevice > cap) continue;
    const k = meshKey(e);
    const prev = bestPerMesh.get(k);
    if (!prev || e.stepSeconds < prev.stepSeconds) bestPerMesh.set(k, e);
  }
  const [winner, runnerUp] = top2();
  return {
    ...(winner ? { winner } : {}),
    ...(runnerUp ? { runnerUp } : {}),
    ...(smallest ? { smallest } : {}),
    memoryCap: cap,
    candidates: ranked.length,
    simulated,
  };
}
