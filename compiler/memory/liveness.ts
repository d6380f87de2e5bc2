import type { Graph, ValueKind } from '../ir.js';

/**
 * How long a value the host touches stays in the arena:
 * - `step`: the whole step (the host writes it before the first node or reads it after the last);
 * - `uses`: from the start of the step (inputs, parameters, constants) or its producer
 *   (outputs) to its last use, after which its bytes may be reused;
 * - `external`: not in the arena at all (its own buffer, e.g. parameters an optimizer updates).
 */
export type Residency = 'step' | 'uses' | 'external';

export interface LivenessOptions {
  /** Default `step`. */
  readonly inputs?: Residency;
  /** Default `step`. */
  readonly params?: Residency;
  /** Default `step`. */
  readonly consts?: Residency;
  /** Default `step`: outputs are read back after the last node. */
  readonly outputs?: Residency;
  /** Ops whose single output is a view of their first input's bytes; default `reshape`, as codegen/plan.ts aliases it. */
  readonly aliasOps?: readonly string[];
  /**
   * Values kept out of the arena whatever their kind (`external`), e.g. one larger than
   * an arena may be: it keeps a buffer of its own. Naming a view keeps its root out.
   */
  readonly externalValues?: ReadonlySet<number>;
}

/** One storage in the arena: a value, every view of it, and the steps (node positions) it is live, inclusive. */
export interface LiveRange {
  readonly value: number;
  readonly aliases: readonly number[];
  readonly start: number;
  readonly end: number;
}

const RANK: Record<Residency, number> = { uses: 0, step: 1, external: 2 };

/**
 * Each value's live range from the topological node order: from its producer (or the
 * step's start, for what the host supplies) to its last consumer, widened per the
 * residency of inputs, parameters, constants and outputs. Views share their root's
 * storage, so a root lives as long as its longest-lived view. Step `i` is node `i`;
 * a node's inputs and outputs are live at its step together, so they never share bytes.
 */
export function liveRanges(g: Graph, opts: LivenessOptions = {}): LiveRange[] {
  const last = Math.max(0, g.nodes.length - 1);
  const aliasOps = new Set(opts.aliasOps ?? ['reshape']);
  const root = new Map<number, number>();
  const rootOf = (id: number): number => root.get(id) ?? id;
  const start = new Map<number, number>();
  const end = new Map<number, number>();
  const residency = new Map<number, Residency>();
  const widen = (r: number, s: number, e: number) => {
    start.set(r, Math.min(start.get(r) ?? s, s));
    end.set(r, Math.max(end.get(r) ?? e, e));
  };
  const demand = (r: number, res: Residency) => {
    const had = residency.get(r);
    if (had === undefined || RANK[res] > RANK[had]) residency.set(r, res);
  };
  const kindResidency = (k: ValueKind): Residency | undefined =>
    k === 'input' ? (opts.inputs ?? 'step') : k === 'param' ? (opts.params ?? 'step') : k === 'const' ? (opts.consts ?? 'step') : undefined;

  for (const v of g.values) {
    const res = kindResidency(v.kind);
    if (res) {
      widen(v.id, 0, 0);
      demand(v.id, res);
    }
  }
  g.nodes.forEach((n, t) => {
    for (const i of n.inputs) widen(rootOf(i), t, t);
    if (aliasOps.has(n.op) && n.outputs.length === 1 && n.inputs.length >= 1) root.set(n.outputs[0]!, rootOf(n.inputs[0]!));
    for (const o of n.outputs) widen(rootOf(o), t, t);
  });
  for (const o of g.outputs) demand(rootOf(o), opts.outputs ?? 'step');
  for (const v of opts.externalValues ?? []) if (start.has(rootOf(v))) demand(rootOf(v), 'external');

  const aliases = new Map<number, number[]>();
  for (const [v, r] of root) {
    let l = aliases.get(r);
    if (!l) aliases.set(r, (l = []));
    l.push(v);
  }
  const out: LiveRange[] = [];
  for (const v of g.values) {
    if (root.has(v.id) || !start.has(v.id)) continue;
    const res = residency.get(v.id) ?? 'uses';
    if (res === 'external') continue;
    out.push({ value: v.id, aliases: aliases.get(v.id) ?? [], start: start.get(v.id)!, end: res === 'step' ? last : end.get(v.id)! });
  }
  return out;
}
