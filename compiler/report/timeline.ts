/**
 * What `mdc plan --report` draws, as plain data: each pipeline rank's step as timed segments
 * (its passes, the collectives inside them, the waits for other ranks, the gradient reduction
 * and the optimizer update after the flush) and each rank's memory by what it holds.
 * compiler/report/html.ts turns it into the page; nothing here knows about HTML.
 */
import { actionLabel, dependencies, type Schedule, type SimResult, type TimedAction } from '../pipeline/schedule.js';
import { rankMemoryTotal, type RankMemory } from '../cost/step.js';

export type SegmentKind = 'forward' | 'backward' | 'weight' | 'comm' | 'send' | 'bubble' | 'reduce' | 'optimizer';

export interface Segment {
  readonly kind: SegmentKind;
  readonly start: number;
  readonly end: number;
  /** `F3` or `F3c1` for passes (micro-batch, chunk), else empty. */
  readonly label: string;
  /** The global pipeline stage of a pass and of the collectives inside it. */
  readonly stage?: number;
}

/** One pipeline rank (the whole mesh without a pipeline): the devices that run it and what they do, in time order. */
export interface RankRow {
  readonly rank: number;
  readonly devices: readonly number[];
  readonly segments: readonly Segment[];
  readonly memory: RankMemory;
}

export interface Timeline {
  /** 'seconds' from a hardware description; 'slots' without one (F = 1, B = 2, or B = W = 1 for zb-h1). */
  readonly unit: 'seconds' | 'slots';
  /** The end of the last segment of any rank. */
  readonly end: number;
  readonly rows: readonly RankRow[];
}

export interface TimelineInput {
  readonly schedule: Schedule;
  /** The schedule simulated with the durations the timeline shows. */
  readonly sim: SimResult;
  readonly unit: Timeline['unit'];
  /** Per rank, the mesh devices that run it. */
  readonly devices: readonly (readonly number[])[];
  /** Per rank, its memory (one device's). */
  readonly memory: readonly RankMemory[];
  /** Per stage, the seconds of each pass spent in collectives (drawn at the pass's end). */
  readonly stageComm?: readonly { readonly F: number; readonly B: number; readonly W: number }[];
  /** Latency of a send between ranks: the last part of a wait for another rank. */
  readonly sendSeconds?: number;
  /** After the flush, every rank reduces its gradients over data parallel, then updates its parameters. */
  readonly reduceSeconds?: number;
  readonly optimizerSeconds?: number;
}

const PASS_KIND = { F: 'forward', B: 'backward', W: 'weight' } as const;

export function planTimeline(x: TimelineInput): Timeline {
  const s = x.schedule;
  const makespan = x.sim.makespan;
  const send = x.sendSeconds ?? 0;
  const rows = x.sim.perRank.map((actions, r): RankRow => {
    const segments: Segment[] = [];
    let now = 0;
    const push = (kind: SegmentKind, start: number, end: number, label = '', stage?: number) => {
      if (end > start) segments.push({ kind, start, end, label, ...(stage !== undefined ? { stage } : {}) });
    };
    for (const a of actions) {
      if (a.start > now) {
        // A wait: its last `send` seconds are the message from another rank on the way.
        const remote = dependencies(s, a).some((d) => d.stage % s.ranks !== r);
        const sendStart = remote && send > 0 ? Math.max(now, a.start - send) : a.start;
        push('bubble', now, sendStart);
        push('send', sendStart, a.start);
      }
      passSegments(s, a, x.stageComm, push);
      now = Math.max(now, a.end);
    }
    push('bubble', now, makespan);
    let t = makespan;
    push('reduce', t, (t += x.reduceSeconds ?? 0));
    push('optimizer', t, (t += x.optimizerSeconds ?? 0));
    return { rank: r, devices: x.devices[r] ?? [], segments, memory: x.memory[r] ?? x.memory[0]! };
  });
  const end = rows.reduce((e, row) => row.segments.reduce((m, g) => Math.max(m, g.end), e), 0);
  return { unit: x.unit, end, rows };
}

/** A pass as its compute and, at its end, the collectives inside it. */
function passSegments(
  s: Schedule,
  a: TimedAction,
  stageComm: TimelineInput['stageComm'],
  push: (kind: SegmentKind, start: number, end: number, label?: string, stage?: number) => void,
) {
  const label = actionLabel(s, a);
  const comm = Math.min(a.end - a.start, stageComm?.[a.stage]?.[a.pass] ?? 0);
  push(PASS_KIND[a.pass], a.start, a.end - comm, label, a.stage);
  push('comm', a.end - comm, a.end, label, a.stage);
}

/**
 * A forward-only schedule (inference through a pipeline) timed with unit passes: each F
 * starts when its rank is free and the previous stage has handed over its micro-batch.
 * (The simulator wants every pass of a training schedule.)
 */
export function simulateForward(s: Schedule): SimResult {
  const ends = new Map<string, number>();
  const free = Array.from({ length: s.ranks }, () => 0);
  const perRank: TimedAction[][] = s.perRank.map(() => []);
  const order = s.perRank.flat().sort((a, b) => a.microbatch - b.microbatch || a.stage - b.stage);
  for (const a of order) {
    const r = a.stage % s.ranks;
    const start = Math.max(free[r]!, ends.get(`${a.microbatch}:${a.stage - 1}`) ?? 0);
    ends.set(`${a.microbatch}:${a.stage}`, start + 1);
    free[r] = start + 1;
    perRank[r]!.push({ ...a, start, end: start + 1 });
  }
  const makespan = Math.max(0, ...free);
  const busy = perRank.map((l) => l.length);
  const total = busy.reduce((p, q) => p + q, 0);
  const idle = s.ranks * makespan - total;
  return {
    cost: { F: 1, B: 0, W: 0, comm: 0 },
    perRank,
    makespan,
    busy,
    bubbleFraction: makespan > 0 ? idle / (s.ranks * makespan) : 0,
    bubbleRatio: total > 0 ? idle / total : 0,
    peakInFlight: perRank.map(() => 0),
  };
}

/** The parts of a device's memory in bar order, rounded so that they add up to the rounded total exactly. */
export function memoryParts(m: RankMemory): { part: keyof RankMemory; bytes: number }[] {
  const order: (keyof RankMemory)[] = ['params', 'grads', 'optimizer', 'activations', 'inFlight'];
  let sum = 0;
  let shown = 0;
  return order.map((part) => {
    sum += m[part];
    const upTo = Math.round(sum);
    const bytes = upTo - shown;
    shown = upTo;
    return { part, bytes };
  });
}

export const memoryTotal = (m: RankMemory) => Math.round(rankMemoryTotal(m));
