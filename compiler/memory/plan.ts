import type { Graph, Value } from '../ir.js';
import { concreteShape, printType } from '../types.js';
import { ArenaError, DEFAULT_ALIGNMENT, DEFAULT_MAX_ARENA_BYTES, packArenas, type ArenaOptions, type ArenaPlan } from './arena.js';
import { liveRanges, type LivenessOptions } from './liveness.js';
import { numel } from '../../layout/mesh.js';

/**
 * Static memory planning ("global memory reuse", DESIGN §3 step 10): every value a
 * concrete graph computes gets an arena and a byte offset such that no two values live
 * at the same step share a byte, offsets are aligned for storage-buffer bindings, and no
 * arena exceeds the buffer size limit. For a partitioned program, plan the per-device
 * local graph: every device runs the same plan on its own arenas.
 *
 *   const plan = planMemory(graph, { params: 'external', maxArenaBytes: limits.maxStorageBufferBindingSize });
 *   plan.buffers[plan.bufferOf.get(valueId)!]  // { arena, offset, size, start, end, ... }
 *
 * The report compares `peakBytes` (all arenas together) with `lowerBound` (the most
 * aligned bytes live at one step), which no offset assignment can beat.
 */
export interface MemoryPlanOptions extends LivenessOptions, ArenaOptions {
  /**
   * A value's bytes. Default: its element count × 4 and at least 4, as codegen/plan.ts
   * sizes buffers without f16 storage (bf16 and bool are stored as 32-bit words). Codegen passes
   * its own, f16 storage included: codegen/plan.ts memoryOptionsFor.
   */
  readonly bytesOf?: (v: Value) => number;
}

export interface PlannedBuffer {
  /** The value owning the storage; `aliases` are views of it (reshapes) at the same offset. */
  readonly value: number;
  readonly aliases: readonly number[];
  readonly name: string;
  /** The bytes asked for, and the bytes reserved (rounded up to the alignment). */
  readonly bytes: number;
  readonly size: number;
  /** Live from node position `start` through `end`, inclusive. */
  readonly start: number;
  readonly end: number;
  readonly arena: number;
  readonly offset: number;
}

/** The arena summary of arena.ts (`arenas`, `peakBytes`, `lowerBound`, `noReuseBytes`, `heuristic`) with each value's buffer. */
export interface MemoryPlan extends Omit<ArenaPlan, 'placements'> {
  readonly alignment: number;
  readonly maxArenaBytes: number;
  /** Node positions; step `i` runs node `i`. */
  readonly steps: number;
  readonly buffers: readonly PlannedBuffer[];
  /** Value id (a root or a view) → index into `buffers`. Values outside the arena (`external`) are absent. */
  readonly bufferOf: ReadonlyMap<number, number>;
}

export class MemoryPlanError extends Error {}

export function planMemory(g: Graph, opts: MemoryPlanOptions = {}): MemoryPlan {
  const alignment = opts.alignment ?? DEFAULT_ALIGNMENT;
  const maxArenaBytes = opts.maxArenaBytes ?? DEFAULT_MAX_ARENA_BYTES;
  const bytesOf = opts.bytesOf ?? defaultBytes;
  const ranges = liveRanges(g, opts);
  const bytes = ranges.map((r) => bytesOf(g.values[r.value]!));
  let packed;
  try {
    packed = packArenas(
      ranges.map((r, i) => ({ bytes: bytes[i]!, start: r.start, end: r.end })),
      { alignment, maxArenaBytes },
    );
  } catch (e) {
    if (!(e instanceof ArenaError)) throw e;
    const v = g.values[ranges[e.item]!.value]!;
    throw new MemoryPlanError(
      `${valueName(g, v.id)} (${printType(v.type)}, ${fmt(bytes[e.item]!)} bytes) does not fit one buffer of at most ${fmt(maxArenaBytes)} bytes ` +
        `(maxArenaBytes, the device's maxStorageBufferBindingSize): split the value before planning memory, or keep it out of the arena`,
    );
  }
  const buffers: PlannedBuffer[] = ranges.map((r, i) => ({
    value: r.value,
    aliases: r.aliases,
    name: valueName(g, r.value),
    bytes: bytes[i]!,
    size: packed.placements[i]!.size,
    start: r.start,
    end: r.end,
    arena: packed.placements[i]!.arena,
    offset: packed.placements[i]!.offset,
  }));
  const bufferOf = new Map<number, number>();
  buffers.forEach((b, i) => {
    bufferOf.set(b.value, i);
    for (const a of b.aliases) bufferOf.set(a, i);
  });
  const { placements: _, ...summary } = packed;
  return { ...summary, alignment, maxArenaBytes, steps: g.nodes.length, buffers, bufferOf };
}

function defaultBytes(v: Value): number {
  const shape = concreteShape(v.type);
  if (!shape) throw new MemoryPlanError(`value ${v.id} (${printType(v.type)}) has a symbolic dim: plan memory for a lowered, concrete graph`);
  return Math.max(4, numel(shape) * 4);
}

/** Names as codegen/plan.ts names buffers: inputs and parameters by name, outputs by output name, the rest by scope/op+node. */
function valueName(g: Graph, id: number): string {
  const v = g.values[id]!;
  const out = g.outputs.indexOf(id);
  if (out >= 0) return g.outputNames[out]!;
  if (v.name) return v.name;
  if (v.kind === 'const') return `const${v.id}`;
  const n = g.nodes[v.producer!]!;
  return `${n.scope ? n.scope + '/' : ''}${n.op}${n.id}`;
}

const fmt = (n: number) => n.toLocaleString('en-US');
