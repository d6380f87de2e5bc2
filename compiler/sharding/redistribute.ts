import type { Layout } from '../types.js';
import { axisSize } from '../../layout/mesh.js';
import { type Mesh } from './mesh.js';

/**
 * One step of a layout conversion, over a single mesh axis. Splits of one dim are
 * ordered major to minor, so only the minor-most axis of a dim can be gathered and new
 * axes are appended as the minor-most; this keeps every intermediate layout a plain
 * block layout.
 *
 * - all_reduce: sum a pending sum over `axis`; every device gets the total.
 * - reduce_scatter: sum over `axis` and keep only this device's block of `dim`.
 * - all_gather: concatenate the blocks of `dim` held along `axis`.
 * - all_to_all: trade a split of `dim` for a split of `to` over `axis`.
 * - shard_slice: keep this device's block of `dim` (local, no traffic).
 * - partial_mask: turn a whole value into a pending sum (device 0 of the axis keeps it,
 *   the others hold zeros; local, no traffic).
 */
export type StepKind = 'all_reduce' | 'reduce_scatter' | 'all_gather' | 'all_to_all' | 'shard_slice' | 'partial_mask';

export interface Step {
  readonly kind: StepKind;
  readonly axis: string;
  readonly dim?: number;
  readonly to?: number;
  /** The layout after this step. */
  readonly after: Layout;
}

const clone = (l: Layout): { axes: string[][]; partial: string[] } => ({ axes: l.axes.map((a) => [...a]), partial: [...l.partial] });
const isPrefix = (p: readonly string[], full: readonly string[]) => p.length <= full.length && p.every((a, i) => full[i] === a);

/** The steps that turn layout `from` into `to` (both for the same rank), cheapest first. */
export function redistribute(from: Layout, to: Layout): Step[] {
  const cur = clone(from);
  const steps: Step[] = [];
  const push = (kind: StepKind, axis: string, extra: { dim?: number; to?: number } = {}) => steps.push({ kind, axis, ...extra, after: clone(cur) });
  /** The dim of `to` where `axis` is the next one to append, given the current axes. */
  const nextHome = (axis: string): number | undefined => {
    for (let d = 0; d < to.axes.length; d++) {
      const want = to.axes[d]!;
      if (isPrefix(cur.axes[d]!, want) && want[cur.axes[d]!.length] === axis) return d;
    }
    return undefined;
  };

  // 1. Pending sums first, while the value is smallest; into a split when the target wants one.
  for (const p of from.partial) {
    if (to.partial.includes(p)) continue;
    cur.partial = cur.partial.filter((x) => x !== p);
    const home = cur.axes.flat().includes(p) ? undefined : nextHome(p);
    if (home !== undefined) {
      cur.axes[home]!.push(p);
      push('reduce_scatter', p, { dim: home });
    } else push('all_reduce', p);
  }
  // 2. Drop splits the target does not have, minor-most first; move them when the target wants them elsewhere.
  for (let d = 0; d < cur.axes.length; d++) {
    while (!isPrefix(cur.axes[d]!, to.axes[d]!)) {
      const axis = cur.axes[d]!.pop()!;
      const home = nextHome(axis);
      if (home !== undefined && home !== d) {
        cur.axes[home]!.push(axis);
        push('all_to_all', axis, { dim: d, to: home });
      } else push('all_gather', axis, { dim: d });
    }
  }
  // 3. Add the target's splits (local slices).
  for (let d = 0; d < cur.axes.length; d++) {
    while (cur.axes[d]!.length < to.axes[d]!.length) {
      const axis = to.axes[d]![cur.axes[d]!.length]!;
      cur.axes[d]!.push(axis);
      push('shard_slice', axis, { dim: d });
    }
  }
  // 4. Pending sums the target asks for.
  for (const p of to.partial) {
    if (cur.partial.includes(p)) continue;
    cur.partial.push(p);
    push('partial_mask', p);
  }
  return steps;
}

/**
 * Bytes each device sends for one step on ring algorithms, from the bytes it holds
 * before the step (`local`): all-reduce 2(n−1)/n, all-gather (n−1), reduce-scatter and
 * all-to-all (n−1)/n, local steps 0.
 */
export function stepBytes(mesh: Mesh, s: Step, local: number): number {
  const n = axisSize(mesh, s.axis);
  switch (s.kind) {
    case 'all_reduce':
      return Math.round((2 * (n - 1) * local) / n);
    case 'all_gather':
      return (n - 1) * local;
    case 'reduce_scatter':
    case 'all_to_all':
      return Math.round(((n - 1) * local) / n);
    default:
      return 0;
  }
}
