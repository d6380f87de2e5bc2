/**
 * Offsets for buffers with known lifetimes in as few, as small arenas as possible: the
 * offset-assignment half of static memory planning, independent of the IR.
 *
 * Finding the smallest arena is NP-hard (dynamic storage allocation), so this runs a
 * few greedy passes and keeps the smallest result, as TFLite's GPU delegate and MNN do.
 * A pass takes the buffers in one order (largest first; busiest step first; largest
 * size × lifetime first) and puts each into a gap among the already placed buffers whose
 * lifetimes overlap its own, or on top of them when no gap holds it (Pisarchyk & Lee
 * 2020, "Efficient Memory Management for Deep Neural Net Inference": greedy by size and
 * by breadth). Each order runs twice, taking the smallest gap that fits (best fit) and
 * the lowest (first fit): neither wins on every graph (on real backward graphs first fit
 * is up to 4% tighter for size order, best fit for breadth order).
 */

/** A buffer needing `bytes` from the start of step `start` to the end of step `end` (inclusive). */
export interface Lifetime {
  readonly bytes: number;
  readonly start: number;
  readonly end: number;
}

export interface ArenaOptions {
  /** Every offset and every buffer's reserved size is a multiple of this: WebGPU's minStorageBufferOffsetAlignment. */
  readonly alignment?: number;
  /** No arena grows past this: the device's maxStorageBufferBindingSize (or maxBufferSize when bindings are ranges). */
  readonly maxArenaBytes?: number;
}

export const DEFAULT_ALIGNMENT = 256;
/** 128 MiB: WebGPU's default maxStorageBufferBindingSize, and what llvmpipe reports. */
export const DEFAULT_MAX_ARENA_BYTES = 128 * 1024 * 1024;

export interface Placement {
  readonly arena: number;
  readonly offset: number;
  /** The reserved size: `bytes` rounded up to the alignment. */
  readonly size: number;
}

export interface ArenaPlan {
  readonly placements: readonly Placement[];
  /** Each arena's size in bytes, every one at most `maxArenaBytes`. */
  readonly arenas: readonly number[];
  /** All arenas together. */
  readonly peakBytes: number;
  /** The most aligned bytes live at one step: no assignment of offsets can do better. */
  readonly lowerBound: number;
  /** The sum of all reserved sizes, every buffer its own range (a plan without arenas): what planning saves against. */
  readonly noReuseBytes: number;
  /** The greedy pass that won: its order and fit. */
  readonly heuristic: string;
}

export class ArenaError extends Error {
  constructor(
    message: string,
    readonly item: number,
  ) {
    super(message);
  }
}

export const alignUp = (n: number, a: number) => Math.ceil(n / a) * a;

export function packArenas(items: readonly Lifetime[], opts: ArenaOptions = {}): ArenaPlan {
  const alignment = opts.alignment ?? DEFAULT_ALIGNMENT;
  const cap = opts.maxArenaBytes ?? DEFAULT_MAX_ARENA_BYTES;
  if (!(Number.isInteger(alignment) && alignment > 0)) throw new RangeError(`alignment must be a positive integer, not ${alignment}`);
  const sizes = items.map((it, i) => {
    if (!(it.bytes >= 0 && Number.isFinite(it.bytes)) || !Number.isInteger(it.start) || !Number.isInteger(it.end) || it.end < it.start) {
      throw new ArenaError(`buffer ${i} is malformed: ${JSON.stringify(it)}`, i);
    }
    const size = alignUp(Math.max(it.bytes, 1), alignment);
    if (size > cap) throw new ArenaError(`buffer ${i} needs ${size} bytes (aligned to ${alignment}), more than one arena may hold (${cap})`, i);
    return size;
  });
  const lower = lowerBoundOf(items, sizes);
  const noReuse = sizes.reduce((a, b) => a + b, 0);
  let best: { placements: Placement[]; arenas: number[]; total: number; heuristic: string } = { placements: [], arenas: [], total: 0, heuristic: 'none' };
  search: for (const [heuristic, order] of orders(items, sizes))
    for (const policy of ['best', 'first'] as const) {
      const r = place(items, sizes, order, cap, policy);
      const total = r.arenas.reduce((a, b) => a + b, 0);
      if (best.heuristic === 'none' || total < best.total || (total === best.total && r.arenas.length < best.arenas.length))
        best = { ...r, total, heuristic: `${heuristic}, ${policy} fit` };
      if (total === lower) break search;
    }
  return { placements: best.placements, arenas: best.arenas, peakBytes: best.total, lowerBound: lower, noReuseBytes: noReuse, heuristic: best.heuristic };
}

function lowerBoundOf(items: readonly Lifetime[], sizes: readonly number[]): number {
  const events = new Map<number, number>();
  items.forEach((it, i) => {
    events.set(it.start, (events.get(it.start) ?? 0) + sizes[i]!);
    events.set(it.end + 1, (events.get(it.end + 1) ?? 0) - sizes[i]!);
  });
  let live = 0;
  let most = 0;
  for (const t of [...events.keys()].sort((a, b) => a - b)) {
    live += events.get(t)!;
    most = Math.max(most, live);
  }
  return most;
}

const length = (it: Lifetime) => it.end - it.start + 1;

/** The placement orders tried, best first on typical graphs. */
function* orders(items: readonly Lifetime[], sizes: readonly number[]): Generator<[string, number[]]> {
  const ids = items.map((_, i) => i);
  const tie = (a: number, b: number) => length(items[b]!) - length(items[a]!) || items[a]!.start - items[b]!.start || a - b;
  yield ['size', [...ids].sort((a, b) => sizes[b]! - sizes[a]! || tie(a, b))];
  yield ['breadth', byBreadth(items, sizes)];
  yield ['area', [...ids].sort((a, b) => sizes[b]! * length(items[b]!) - sizes[a]! * length(items[a]!) || sizes[b]! - sizes[a]! || a - b)];
}

/** The busiest step's buffers first, largest first; then the next busiest step's unplaced ones. */
function byBreadth(items: readonly Lifetime[], sizes: readonly number[]): number[] {
  const steps = new Map<number, number[]>();
  items.forEach((it, i) => {
    for (let t = it.start; t <= it.end; t++) {
      let l = steps.get(t);
      if (!l) steps.set(t, (l = []));
      l.push(i);
    }
  });
  const breadth = (l: number[]) => l.reduce((s, i) => s + sizes[i]!, 0);
  const busiest = [...steps.entries()].map(([t, l]) => ({ t, l, b: breadth(l) })).sort((a, b) => b.b - a.b || a.t - b.t);
  const seen = new Set<number>();
  const out: number[] = [];
  for (const { l } of busiest) {
    for (const i of [...l].sort((a, b) => sizes[b]! - sizes[a]! || a - b)) {
      if (!seen.has(i)) {
        seen.add(i);
        out.push(i);
      }
    }
  }
  return out;
}

/**
 * Best fit in `order`: the smallest gap among time-overlapping placed buffers, else the lowest growth.
 * The overlapping buffers come from an interval query (PlacedIntervals), not a scan of
 * every placed buffer, so a pass costs about n · (buffers live at once) · log n, not n².
 */
function place(items: readonly Lifetime[], sizes: readonly number[], order: readonly number[], cap: number, policy: 'best' | 'first') {
  const placements: Placement[] = new Array(items.length);
  const arenas: number[] = [];
  const placed = new PlacedIntervals(items);
  for (const i of order) {
    const it = items[i]!;
    const size = sizes[i]!;
    const busyIn = new Map<number, number[]>();
    for (const j of placed.overlapping(it.start, it.end)) {
      const a = placements[j]!.arena;
      (busyIn.get(a) ?? busyIn.set(a, []).get(a)!).push(j);
    }
    let choice: { arena: number; offset: number; gap: number; growth: number } | undefined;
    for (let a = 0; a < arenas.length; a++) {
      const busy = (busyIn.get(a) ?? []).sort((x, y) => placements[x]!.offset - placements[y]!.offset);
      let top = 0;
      let fit: { offset: number; gap: number } | undefined;
      for (const j of busy) {
        const gap = placements[j]!.offset - top;
        if (gap >= size && (!fit || (policy === 'best' && gap < fit.gap))) fit = { offset: top, gap };
        top = Math.max(top, placements[j]!.offset + sizes[j]!);
      }
      if (!fit && top + size <= cap) fit = { offset: top, gap: Infinity };
      if (!fit) continue;
      const growth = Math.max(0, fit.offset + size - arenas[a]!);
      if (!choice || growth < choice.growth || (growth === choice.growth && fit.gap < choice.gap)) choice = { arena: a, ...fit, growth };
    }
    if (!choice) {
      arenas.push(0);
      choice = { arena: arenas.length - 1, offset: 0, gap: Infinity, growth: size };
    }
    placements[i] = { arena: choice.arena, offset: choice.offset, size };
    placed.add(i);
    arenas[choice.arena] = Math.max(arenas[choice.arena]!, choice.offset + size);
  }
  return { placements, arenas };
}

/**
 * The placed buffers among a fixed set of lifetimes, queried by time: the lifetimes sorted
 * by start, under a segment tree holding the latest end of the placed ones in each range
 * (-1 where none is placed). A query visits only subtrees holding an overlapping buffer.
 */
class PlacedIntervals {
  private readonly byStart: number[];
  private readonly position: Int32Array;
  private readonly width: number;
  private readonly maxEnd: Float64Array;

  constructor(private readonly items: readonly Lifetime[]) {
    this.byStart = items.map((_, i) => i).sort((a, b) => items[a]!.start - items[b]!.start || a - b);
    this.position = new Int32Array(items.length);
    this.byStart.forEach((i, p) => (this.position[i] = p));
    let w = 1;
    while (w < items.length) w *= 2;
    this.width = w;
    this.maxEnd = new Float64Array(2 * w).fill(-1);
  }

  add(i: number): void {
    let node = this.width + this.position[i]!;
    this.maxEnd[node] = this.items[i]!.end;
    for (node >>= 1; node >= 1; node >>= 1) this.maxEnd[node] = Math.max(this.maxEnd[2 * node]!, this.maxEnd[2 * node + 1]!);
  }

  /** The placed buffers live at some step of [start, end]. */
  overlapping(start: number, end: number): number[] {
    // Only buffers starting by `end` can overlap: the first `count` in start order.
    let lo = 0;
    let hi = this.byStart.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.items[this.byStart[mid]!]!.start <= end) lo = mid + 1;
      else hi = mid;
    }
    const count = lo;
    const found: number[] = [];
    // Subtrees are [first, first + span) in sorted positions; a worklist, not recursion.
    const work: [number, number, number][] = [[1, 0, this.width]];
    while (work.length) {
      const [node, first, span] = work.pop()!;
      if (first >= count || this.maxEnd[node]! < start) continue;
      if (span === 1) {
        found.push(this.byStart[first]!);
        continue;
      }
      const half = span >> 1;
      work.push([2 * node, first, half], [2 * node + 1, first + half, half]);
    }
    return found;
  }
}
