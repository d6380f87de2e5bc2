/**
 * Pipeline schedules as data: for each pipeline rank, the passes it runs in order — forward
 * (F), backward (B) and, for zero-bubble, the weight-gradient half of the backward (W) — of
 * each micro-batch through each stage it holds. Nothing here knows about graphs or devices:
 * the stage cut decides what a stage computes, the runtime runs the lists; this module only
 * orders passes, checks an order and times it.
 *
 * Layout: `ranks` = p devices along the pipeline axis, `virtual` = v model chunks per rank,
 * S = p·v stages. Stage k lives on rank k % p as that rank's chunk ⌊k / p⌋, so chunk c of
 * rank r is stage c·p + r (the interleaved layout of Narayanan et al. 2021; with v = 1 stage
 * k is simply rank k).
 *
 * Dependencies: F(i, k) after F(i, k-1); B(i, k) after F(i, k) and B(i, k+1); W(i, k) after
 * B(i, k). Each rank runs its list strictly in order, one pass at a time.
 *
 * "In flight" on a rank counts the (micro-batch, stage) pairs whose forward has run and whose
 * activations are still held: until the W when the schedule splits the backward, else until
 * the B. With v = 1 that is the number of micro-batches; with interleaving each unit is one
 * chunk's activations (about 1/v of a whole rank's share of the model).
 */

export type ScheduleKind = 'gpipe' | '1f1b' | 'interleaved' | 'zb-h1';
export const SCHEDULE_KINDS: readonly ScheduleKind[] = ['gpipe', '1f1b', 'interleaved', 'zb-h1'];

export type Pass = 'F' | 'B' | 'W';

export interface PipelineAction {
  readonly pass: Pass;
  readonly microbatch: number;
  /** The global stage k (rank k % ranks, chunk ⌊k / ranks⌋). */
  readonly stage: number;
}

export interface Schedule {
  readonly kind: ScheduleKind;
  readonly ranks: number;
  readonly virtual: number;
  readonly microbatches: number;
  /** Per rank, the actions in the order that rank runs them. */
  readonly perRank: readonly (readonly PipelineAction[])[];
  /**
   * Per rank, the most (micro-batch, stage) activations the schedule keeps at once (see the
   * file comment): gpipe m; 1f1b min(m, p - r); interleaved min(m·v, 2(p - r - 1) + (v - 1)·p + 1);
   * zb-h1 min(m, p) on every rank. docs/pipeline.md derives each.
   */
  readonly inFlightBound: readonly number[];
}

export interface ScheduleRequest {
  readonly kind: ScheduleKind;
  readonly ranks: number;
  /** Model chunks per rank: 1 (the default) except for 'interleaved', which needs 2 or more. */
  readonly virtual?: number;
  readonly microbatches: number;
}

/** Pass durations for `simulate`, in any time unit; `comm` is the latency of a dependency between two ranks. */
export interface PassCost {
  readonly F?: number;
  readonly B?: number;
  readonly W?: number;
  readonly comm?: number;
}

export interface TimedAction extends PipelineAction {
  readonly start: number;
  readonly end: number;
}

export interface SimResult {
  /** The durations used, defaults filled in. */
  readonly cost: Required<PassCost>;
  /** Per rank, its actions in run order with their times. */
  readonly perRank: readonly (readonly TimedAction[])[];
  /** The end of the last action (every rank starts at time 0). */
  readonly makespan: number;
  /** Per rank, the time it spends running passes. */
  readonly busy: readonly number[];
  /** 1 - Σ busy / (ranks · makespan): the share of device time spent idle. */
  readonly bubbleFraction: number;
  /**
   * Idle time over busy time, Σ (makespan - busy) / Σ busy: Megatron's bubble time fraction
   * t_bubble / t_ideal ((p - 1)/m for GPipe and 1F1B, (p - 1)/(v·m) interleaved, with uniform
   * passes). Every schedule here gives each rank the same work, so it is also each rank's own ratio.
   */
  readonly bubbleRatio: number;
  /** Per rank, the most activations held at once (see the file comment). */
  readonly peakInFlight: readonly number[];
}

/** A schedule that cannot be made or run; the message says what to change. */
export class ScheduleError extends Error {
  override name = 'ScheduleError';
}

// ---------------------------------------------------------------------------------------------
// Making schedules

export function makeSchedule(req: ScheduleRequest): Schedule {
  const { kind, ranks: p, microbatches: m } = req;
  const v = req.virtual ?? 1;
  validate(kind, p, v, m);
  const perRank: PipelineAction[][] = [];
  for (let r = 0; r < p; r++) perRank.push(rankOrder(kind, p, v, m, r));
  const inFlightBound = perRank.map((_, r) => boundOf(kind, p, v, m, r));
  return { kind, ranks: p, virtual: v, microbatches: m, perRank, inFlightBound };
}

const isCount = (n: number) => Number.isInteger(n) && n >= 1;

function validate(kind: ScheduleKind, p: number, v: number, m: number): void {
  if (!SCHEDULE_KINDS.includes(kind)) throw new ScheduleError(`unknown pipeline schedule '${String(kind)}': choose one of ${SCHEDULE_KINDS.join(', ')}`);
  if (!isCount(p)) throw new ScheduleError(`ranks must be a whole number of devices along the pipeline axis, 1 or more; got ${p}`);
  if (!isCount(m)) throw new ScheduleError(`microbatches must be a whole number, 1 or more; got ${m}`);
  if (!isCount(v)) throw new ScheduleError(`virtual (model chunks per rank) must be a whole number, 1 or more; got ${v}`);
  if (kind !== 'interleaved' && v !== 1)
    throw new ScheduleError(
      `${kind} runs one model chunk per rank, but virtual is ${v}: leave virtual at 1, or use kind 'interleaved' for several chunks per rank`,
    );
  if (kind === 'interleaved' && v < 2)
    throw new ScheduleError(
      `interleaved needs at least 2 model chunks per rank (virtual ≥ 2), got ${v}: pass virtual: 2 or more, or use kind '1f1b' for one chunk`,
    );
  if (kind === 'interleaved' && m % p !== 0) {
    const below = Math.floor(m / p) * p;
    const choices = below > 0 ? `${below} or ${below + p}` : `${p}`;
    throw new ScheduleError(
      `interleaved needs the number of micro-batches to be a multiple of ranks (${p}), got ${m}: each chunk runs the micro-batches in groups of one per rank, ` +
        `and a partial last group would break that order; use ${choices} micro-batches, or kind '1f1b'`,
    );
  }
}

const act = (pass: Pass, microbatch: number, stage: number): PipelineAction => ({ pass, microbatch, stage });

/**
 * Every schedule here (W aside) is "warm up, then alternate, then cool down" over two fixed
 * sequences per rank: `fwd` (the forwards in the order the rank starts them) and `bwd` (the
 * backwards likewise). The rank runs the first `warmup` forwards, then one forward and one
 * backward in turn while forwards remain, then the remaining backwards.
 */
function warmupThenAlternate(fwd: readonly PipelineAction[], bwd: readonly PipelineAction[], warmup: number): PipelineAction[] {
  const out = fwd.slice(0, warmup);
  for (let i = 0; warmup + i < fwd.length; i++) out.push(fwd[warmup + i]!, bwd[i]!);
  out.push(...bwd.slice(fwd.length - warmup));
  return out;
}

function rankOrder(kind: ScheduleKind, p: number, v: number, m: number, r: number): PipelineAction[] {
  const byMicrobatch = (pass: Pass) => Array.from({ length: m }, (_, i) => act(pass, i, r));
  switch (kind) {
    // All forwards, then all backwards, both in micro-batch order.
    case 'gpipe':
      return warmupThenAlternate(byMicrobatch('F'), byMicrobatch('B'), m);
    // The last rank can start its first backward right after its first forward; rank r is
    // p - 1 - r forwards further from the loss, so it warms up with that many.
    case '1f1b':
      return warmupThenAlternate(byMicrobatch('F'), byMicrobatch('B'), Math.min(m, p - r - 1));
    case 'interleaved':
      return interleavedOrder(p, v, m, r);
    case 'zb-h1':
      return zeroBubbleH1Order(p, m, r);
  }
}

/**
 * Interleaved 1F1B. The forwards visit the rank's chunks in groups of p micro-batches: chunk 0
 * for micro-batches 0..p-1, chunk 1 for the same p, ..., chunk v-1, then the next p
 * micro-batches from chunk 0. The backwards follow the same groups with the chunks in reverse.
 * Warm-up: a forward of chunk c on rank r reaches the last stage after (v - 1 - c)·p + p - 1 - r
 * more stages, and its backward comes back the same way; (v - 1)·p + 2(p - 1 - r) forwards keep
 * the rank busy until its first backward can start, capped at all m·v of them.
 */
function interleavedOrder(p: number, v: number, m: number, r: number): PipelineAction[] {
  const group = p * v;
  const nth = (pass: Pass, j: number) => {
    const within = j % group;
    const chunk = Math.floor(within / p);
    const microbatch = Math.floor(j / group) * p + (within % p);
    return act(pass, microbatch, (pass === 'F' ? chunk : v - 1 - chunk) * p + r);
  };
  const total = m * v;
  const fwd = Array.from({ length: total }, (_, j) => nth('F', j));
  const bwd = Array.from({ length: total }, (_, j) => nth('B', j));
  return warmupThenAlternate(fwd, bwd, Math.min(total, interleavedWarmup(p, v, r)));
}

const interleavedWarmup = (p: number, v: number, r: number) => (v - 1) * p + 2 * (p - 1 - r);

/**
 * ZB-H1 (Qi et al. 2024): 1F1B's order of F and B, with each B's weight-gradient half W split
 * off and postponed. Activations stay until W, so postponing W keeps more in flight; ZB-H1
 * lets every rank hold as many as 1F1B's first rank does, p. Rank r warms up with p - 1 - r
 * forwards as in 1F1B, and so may put off r W's: in the steady phase it runs F B for its first r
 * steps and F B W after that (in flight reaches p right before each W). In the cool-down each
 * remaining B is followed by one postponed W, which fills the slot the rank would otherwise
 * wait in for the next B from the rank after it; the last postponed W's end the list.
 */
function zeroBubbleH1Order(p: number, m: number, r: number): PipelineAction[] {
  const warmup = Math.min(m, p - r - 1);
  const out: PipelineAction[] = [];
  for (let i = 0; i < warmup; i++) out.push(act('F', i, r));
  let nextW = 0;
  for (let i = 0; warmup + i < m; i++) {
    out.push(act('F', warmup + i, r), act('B', i, r));
    if (i >= r) out.push(act('W', nextW++, r));
  }
  for (let i = m - warmup; i < m; i++) out.push(act('B', i, r), act('W', nextW++, r));
  while (nextW < m) out.push(act('W', nextW++, r));
  return out;
}

function boundOf(kind: ScheduleKind, p: number, v: number, m: number, r: number): number {
  switch (kind) {
    case 'gpipe':
      return m;
    case '1f1b':
      return Math.min(m, p - r);
    case 'interleaved':
      return Math.min(m * v, interleavedWarmup(p, v, r) + 1);
    case 'zb-h1':
      return Math.min(m, p);
  }
}

// ---------------------------------------------------------------------------------------------
// Running an order: shared by the checker (which only asks whether it finishes) and the simulator

const passIndex: Record<Pass, number> = { F: 0, B: 1, W: 2 };
const key = (s: Schedule, a: PipelineAction) => (passIndex[a.pass] * s.microbatches + a.microbatch) * s.ranks * s.virtual + a.stage;
const rankOf = (s: Schedule, stage: number) => stage % s.ranks;

/** The actions `a` waits for. */
export function dependencies(s: Schedule, a: PipelineAction): PipelineAction[] {
  const last = s.ranks * s.virtual - 1;
  const i = a.microbatch;
  if (a.pass === 'F') return a.stage > 0 ? [act('F', i, a.stage - 1)] : [];
  if (a.pass === 'B') return a.stage < last ? [act('F', i, a.stage), act('B', i, a.stage + 1)] : [act('F', i, a.stage)];
  return [act('B', i, a.stage)];
}

/** `F3` (v = 1) or `F3c1` (micro-batch 3, chunk 1) — the picture's label. */
export function actionLabel(s: Schedule, a: PipelineAction): string {
  return s.virtual === 1 ? `${a.pass}${a.microbatch}` : `${a.pass}${a.microbatch}c${Math.floor(a.stage / s.ranks)}`;
}
const describe = (a: PipelineAction) => `${a.pass}${a.microbatch} of stage ${a.stage}`;

interface Run {
  /** Start and end of every action that ran, by key. */
  readonly times: Map<number, [number, number]>;
  /** Per rank, how many of its actions ran. */
  readonly ran: number[];
}

/**
 * Runs each rank's list in order: an action starts when its rank is free and its dependencies
 * have ended (plus `comm` when one ran on another rank). Stops when no rank can go on; if some
 * lists are unfinished then, the order deadlocks (or waits for an action that never runs).
 */
function run(s: Schedule, duration: (a: PipelineAction) => number, comm: number): Run {
  const times = new Map<number, [number, number]>();
  const ran = s.perRank.map(() => 0);
  const free = s.perRank.map(() => 0);
  for (let progressed = true; progressed;) {
    progressed = false;
    s.perRank.forEach((list, r) => {
      for (; ran[r]! < list.length; ran[r]!++) {
        const a = list[ran[r]!]!;
        let start = free[r]!;
        for (const d of dependencies(s, a)) {
          const t = times.get(key(s, d));
          if (!t) return;
          start = Math.max(start, t[1] + (rankOf(s, d.stage) === r ? 0 : comm));
        }
        const end = start + duration(a);
        times.set(key(s, a), [start, end]);
        free[r] = end;
        progressed = true;
      }
    });
  }
  return { times, ran };
}

/** Per rank, the most activations held at once, counted along the rank's order. */
function peaks(s: Schedule): number[] {
  const frees: Pass = s.kind === 'zb-h1' ? 'W' : 'B';
  return s.perRank.map((list) => {
    let now = 0;
    let peak = 0;
    for (const a of list) {
      if (a.pass === 'F') peak = Math.max(peak, ++now);
      else if (a.pass === frees) now--;
    }
    return peak;
  });
}

// ---------------------------------------------------------------------------------------------
// Checking

const MAX_REPORTED = 20;

/** Problems with the schedule's shape and action set: what must hold before it can run at all. */
function shapeProblems(s: Schedule): string[] {
  const { ranks: p, virtual: v, microbatches: m } = s;
  if (!SCHEDULE_KINDS.includes(s.kind)) return [`unknown schedule kind '${String(s.kind)}'`];
  if (![p, v, m].every(isCount)) return [`ranks, virtual and microbatches must be whole numbers ≥ 1 (got ${p}, ${v}, ${m})`];
  if (s.perRank.length !== p) return [`perRank has ${s.perRank.length} lists for ${p} ranks`];
  const problems: string[] = [];
  const stages = p * v;
  const passes: Pass[] = s.kind === 'zb-h1' ? ['F', 'B', 'W'] : ['F', 'B'];
  const seen = new Map<number, string>();
  s.perRank.forEach((list, r) =>
    list.forEach((a, n) => {
      const where = `rank ${r} action ${n}`;
      if (!passes.includes(a.pass)) problems.push(`${where}: pass ${a.pass} is not part of a ${s.kind} schedule (passes ${passes.join(', ')})`);
      else if (!Number.isInteger(a.microbatch) || a.microbatch < 0 || a.microbatch >= m)
        problems.push(`${where}: micro-batch ${a.microbatch} is outside 0..${m - 1}`);
      else if (!Number.isInteger(a.stage) || a.stage < 0 || a.stage >= stages) problems.push(`${where}: stage ${a.stage} is outside 0..${stages - 1}`);
      else if (rankOf(s, a.stage) !== r) problems.push(`${where}: ${describe(a)} belongs on rank ${rankOf(s, a.stage)}, not ${r}`);
      else {
        const k = key(s, a);
        const before = seen.get(k);
        if (before) problems.push(`${describe(a)} runs twice: ${before} and ${where}`);
        else seen.set(k, where);
      }
    }),
  );
  for (const pass of passes)
    for (let i = 0; i < m; i++)
      for (let k = 0; k < stages; k++) {
        const a = act(pass, i, k);
        if (!seen.has(key(s, a))) problems.push(`${describe(a)} is missing (rank ${rankOf(s, k)} never runs it)`);
      }
  if (s.inFlightBound.length !== p) problems.push(`inFlightBound has ${s.inFlightBound.length} entries for ${p} ranks`);
  return problems;
}

/** Problems with the order: a rank that needs its own later action, or ranks waiting on each other in a cycle. */
function orderProblems(s: Schedule): string[] {
  const problems: string[] = [];
  s.perRank.forEach((list, r) => {
    const position = new Map(list.map((a, n) => [key(s, a), n]));
    list.forEach((a, n) => {
      for (const d of dependencies(s, a)) {
        const at = position.get(key(s, d));
        if (at !== undefined && at > n) problems.push(`rank ${r} runs ${describe(a)} (action ${n}) before ${describe(d)} (action ${at}), which it needs`);
      }
    });
  });
  if (problems.length) return problems;
  const { times, ran } = run(s, () => 1, 0);
  const waits = s.perRank.flatMap((list, r) => {
    if (ran[r] === list.length) return [];
    const a = list[ran[r]!]!;
    const d = dependencies(s, a).find((d) => !times.has(key(s, d)))!;
    return [`rank ${r} waits at ${describe(a)} for ${describe(d)} on rank ${rankOf(s, d.stage)}`];
  });
  return waits.length ? [`the rank orders deadlock: ${waits.join('; ')}`] : [];
}

/**
 * Problems (empty when valid): a malformed schedule, missing, duplicate or misplaced actions, a
 * rank order that runs an action before one it needs or deadlocks, in-flight above the bound.
 */
export function checkSchedule(s: Schedule): string[] {
  const problems = shapeProblems(s);
  if (problems.length) return cap(problems);
  problems.push(...orderProblems(s));
  peaks(s).forEach((peak, r) => {
    if (peak > s.inFlightBound[r]!) problems.push(`rank ${r} holds ${peak} activations at once, above its bound of ${s.inFlightBound[r]}`);
  });
  return cap(problems);
}

const cap = (problems: string[]) =>
  problems.length > MAX_REPORTED ? [...problems.slice(0, MAX_REPORTED), `… and ${problems.length - MAX_REPORTED} more problems`] : problems;

// ---------------------------------------------------------------------------------------------
// Simulating

/**
 * Times every action: each rank runs its list in order, an action starting once its rank is
 * free and its dependencies have ended (plus `comm` across ranks). Default durations: F = 1,
 * B = 2 (a whole backward, about twice a forward), or B = 1 and W = 1 for zb-h1, comm = 0.
 * `perStage[k]`, when given, overrides the durations of stage k's passes (stages of unequal cost).
 * Throws ScheduleError when the schedule cannot run to the end.
 */
export function simulate(s: Schedule, cost: PassCost = {}, perStage?: readonly Partial<Record<Pass, number>>[]): SimResult {
  const split = s.kind === 'zb-h1';
  const full: Required<PassCost> = { F: cost.F ?? 1, B: cost.B ?? (split ? 1 : 2), W: cost.W ?? 1, comm: cost.comm ?? 0 };
  for (const [name, value] of Object.entries(full))
    if (!(Number.isFinite(value) && value >= 0)) throw new ScheduleError(`cost ${name} must be a finite number ≥ 0, got ${value}`);
  const problems = shapeProblems(s);
  if (!problems.length) problems.push(...orderProblems(s));
  if (problems.length) throw new ScheduleError(`cannot simulate this ${s.kind} schedule: ${cap(problems).join('; ')}`);
  for (const [k, c] of (perStage ?? []).entries())
    for (const [name, value] of Object.entries(c))
      if (!(Number.isFinite(value) && value >= 0)) throw new ScheduleError(`stage ${k}'s cost ${name} must be a finite number ≥ 0, got ${value}`);
  const { times } = run(s, (a) => perStage?.[a.stage]?.[a.pass] ?? full[a.pass], full.comm);
  const perRank = s.perRank.map((list) =>
    list.map((a): TimedAction => {
      const [start, end] = times.get(key(s, a))!;
      return { ...a, start, end };
    }),
  );
  const makespan = Math.max(0, ...perRank.flatMap((list) => list.map((a) => a.end)));
  const busy = perRank.map((list) => list.reduce((sum, a) => sum + a.end - a.start, 0));
  const total = busy.reduce((x, y) => x + y, 0);
  const idle = s.ranks * makespan - total;
  return {
    cost: full,
    perRank,
    makespan,
    busy,
    bubbleFraction: makespan > 0 ? idle / (s.ranks * makespan) : 0,
    bubbleRatio: total > 0 ? idle / total : 0,
    peakInFlight: peaks(s),
  };
}

// ---------------------------------------------------------------------------------------------
// Printing

export interface PrintOptions {
  /**
   * 'timeline' (the default): one column per time slot with every pass taking one slot and
   * `.` where the rank idles. 'order': each rank's list alone, without idle slots.
   */
  readonly form?: 'timeline' | 'order';
}

/** A text picture of the schedule, one line per rank after a heading line. */
export function printSchedule(s: Schedule, options: PrintOptions = {}): string {
  const chunks = s.virtual > 1 ? ` × ${s.virtual} chunks` : '';
  const form = options.form ?? 'timeline';
  const heading = `${s.kind}: ${s.ranks} rank${s.ranks > 1 ? 's' : ''}${chunks}, ${s.microbatches} micro-batch${s.microbatches > 1 ? 'es' : ''}`;
  const name = (r: number) => `rank ${String(r).padStart(String(s.ranks - 1).length)}:`;
  if (form === 'order')
    return [`${heading} (order)`, ...s.perRank.map((list, r) => `${name(r)} ${list.map((a) => actionLabel(s, a)).join(' ')}`)].join('\n') + '\n';
  const sim = simulate(s, { F: 1, B: 1, W: 1, comm: 0 });
  const width = Math.max(1, ...s.perRank.flatMap((list) => list.map((a) => actionLabel(s, a).length)));
  const lines = sim.perRank.map((list, r) => {
    const slots: string[] = Array.from({ length: sim.makespan }, () => '.');
    for (const a of list) slots[a.start] = actionLabel(s, a);
    return `${name(r)} ${slots.map((x) => x.padEnd(width)).join(' ')}`.trimEnd();
  });
  return [`${heading} (one slot per pass, . idle)`, ...lines].join('\n') + '\n';
}
