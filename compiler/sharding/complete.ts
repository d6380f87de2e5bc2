import type { Graph } from '../ir.js';
import type { Layout } from '../types.js';
import { numel, splitCount } from '../../layout/mesh.js';
import { normLayout, shapeOf, withoutUnitAxes, type Mesh } from './mesh.js';
import type { Letter, OpSpec } from '../ops/sharding.js';
import { opSpec } from './specs.js';

/**
 * Sharding completion: layouts flow from the annotated values to the rest of the graph,
 * forward and backward through each op's letters (GSPMD-style), until nothing changes.
 *
 * - Annotated inputs, params and constrained values are fixed: never overridden.
 *   Unannotated model inputs are fixed replicated (the caller feeds them whole);
 *   unannotated params and op results are free. An `open` constraint (a block
 *   signature's layout) fixes only the axes it names: its unsplit dims may still take
 *   other axes, so `f32[B, S@tp, d]` inside a model split over dp keeps the dp split.
 * - Size-1 mesh axes are dropped from every layout: they split nothing.
 * - A free value's dim takes the axes of the first split it meets, in a fixed order
 *   (forward sweep: inputs before outputs; backward sweep: outputs before inputs), only
 *   if the split is legal there (axis unused in the value, count divides the dim and the
 *   letter's unit). Dims never lose axes, so the sweeps terminate.
 * - What stays unsplit at the end is replicated.
 *
 * Only splits propagate; pending sums (`partial`) arise when partitioning.
 */
export interface Completion {
  /** Per value id: its completed layout (partial only where a constraint says so). */
  readonly layouts: readonly Layout[];
  readonly fixed: readonly boolean[];
  readonly specs: readonly OpSpec[];
  readonly sweeps: number;
}

export function complete(g: Graph, mesh: Mesh, constraints: ReadonlyMap<number, Layout> = new Map(), open: ReadonlySet<number> = new Set()): Completion {
  const shapes = g.values.map((v) => shapeOf(v.type));
  const layouts: Layout[] = g.values.map((v) => {
    const c = constraints.get(v.id);
    if (c) return withoutUnitAxes(mesh, normLayout(c, v.type.dims.length));
    return withoutUnitAxes(mesh, normLayout(v.kind === 'op' ? undefined : v.type.layout, v.type.dims.length));
  });
  const fixed = g.values.map(
    (v) =>
      (constraints.has(v.id) && !(open.has(v.id) && v.kind === 'op')) || v.kind === 'input' || v.kind === 'const' || (v.kind === 'param' && !!v.type.layout),
  );
  const specs = g.nodes.map((n) =>
    opSpec(
      n,
      n.inputs.map((i) => shapes[i]!),
      n.outputs.map((o) => shapes[o]!),
    ),
  );

  const setDim = (vid: number, dim: number, axes: readonly string[]): boolean => {
    if (fixed[vid]) return false;
    const l = layouts[vid]!;
    if (l.axes[dim]!.length) return false;
    const used = new Set([...l.axes.flat(), ...l.partial]);
    if (axes.some((a) => used.has(a))) return false;
    if (shapes[vid]![dim]! % splitCount(mesh, axes) !== 0) return false;
    layouts[vid] = { axes: l.axes.map((x, i) => (i === dim ? [...axes] : x)), partial: l.partial };
    return true;
  };

  const visit = (ni: number, outputsFirst: boolean): boolean => {
    const n = g.nodes[ni]!;
    const spec = specs[ni]!;
    const cands: Candidate[] = [];
    spec.letters.forEach((letter, order) => {
      if (!letter.splittable) return;
      const pairs = letterDims(letter, n.inputs, n.outputs, outputsFirst);
      const withAxes = pairs.filter(([v, d]) => layouts[v]!.axes[d]!.length > 0);
      // A parameter's split is the strongest hint; otherwise the first in sweep order.
      const best = withAxes.find(([v]) => g.values[v]!.kind === 'param') ?? withAxes[0];
      if (!best) return;
      const [v, d] = best;
      cands.push({ letter, axes: layouts[v]!.axes[d]!, param: g.values[v]!.kind === 'param', weight: numel(shapes[v]!), order });
    });
    let changed = false;
    for (const [letter, axes] of pickLetters(cands, (l, axes) =>
      legalSplit(
        mesh,
        l,
        letterDims(l, n.inputs, n.outputs, false).map(([v, d]) => shapes[v]![d]!),
        axes,
      ),
    )) {
      for (const [v, d] of letterDims(letter, n.inputs, n.outputs, outputsFirst)) if (setDim(v, d, axes)) changed = true;
    }
    return changed;
  };

  let sweeps = 0;
  const limit = 4 + 2 * g.values.length;
  for (let changed = true; changed && sweeps < limit;) {
    changed = false;
    for (let i = 0; i < g.nodes.length; i++) if (visit(i, false)) changed = true;
    for (let i = g.nodes.length - 1; i >= 0; i--) if (visit(i, true)) changed = true;
    sweeps++;
  }
  return { layouts, fixed, specs, sweeps };
}

/** The (value, dim) pairs a letter names, in sweep order. */
export function letterDims(l: Letter, inputs: readonly number[], outputs: readonly number[], outputsFirst: boolean): [number, number][] {
  const ins = l.ins.flatMap((d, i): [number, number][] => (d >= 0 ? [[inputs[i]!, d]] : []));
  const outs = l.outs.flatMap((d, i): [number, number][] => (d >= 0 ? [[outputs[i]!, d]] : []));
  return outputsFirst ? [...outs, ...ins] : [...ins, ...outs];
}

/** A split of a letter is legal when it divides every dim the letter names and its unit. */
export function legalSplit(mesh: Mesh, l: Letter, extents: readonly number[], axes: readonly string[]): boolean {
  if (!l.splittable) return false;
  const n = splitCount(mesh, axes);
  if (l.unit !== undefined && l.unit % n !== 0) return false;
  return extents.every((e) => e % n === 0);
}

export interface Candidate {
  readonly letter: Letter;
  readonly axes: readonly string[];
  /** The split comes from a parameter: parameters stay where the user put them. */
  readonly param: boolean;
  /** Elements of the value the split comes from: the bigger one is costlier to gather. */
  readonly weight: number;
  readonly order: number;
}

/**
 * Chooses splits for an op's letters when candidates compete for the same mesh axis:
 * parameter splits first, then the split of the largest value, then letter order.
 */
export function pickLetters(cands: readonly Candidate[], legal: (l: Letter, axes: readonly string[]) => boolean): [Letter, string[]][] {
  const sorted = [...cands].sort((a, b) => Number(b.param) - Number(a.param) || b.weight - a.weight || a.order - b.order);
  const used = new Set<string>();
  const out: [Letter, string[]][] = [];
  for (const c of sorted) {
    if (!c.axes.length || c.axes.some((a) => used.has(a)) || !legal(c.letter, c.axes)) continue;
    c.axes.forEach((a) => used.add(a));
    out.push([c.letter, [...c.axes]]);
  }
  return out;
}

/**
 * The layout an `open` constraint asks for, given the layout `have` the value was completed
 * with: the constraint's own splits and sums, and on each dim it leaves whole, the axes
 * `have` splits it by that the constraint does not name.
 */
export function openTarget(want: Layout, have: Layout): Layout {
  const named = new Set([...want.axes.flat(), ...want.partial]);
  return {
    axes: want.axes.map((a, d) => (a.length ? [...a] : (have.axes[d] ?? []).filter((x) => !named.has(x) && !want.axes.some((w) => w.includes(x))))),
    partial: [...want.partial],
  };
}
