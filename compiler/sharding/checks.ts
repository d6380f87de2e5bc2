import type { Span } from '../../diagnostics/span.js';
import type { Graph } from '../ir.js';
import { splitCount } from '../../layout/mesh.js';
import { shapeOf, printWithLayout, type Mesh } from './mesh.js';
import type { SpmdProgram } from './partition.js';
import { letterDims } from './complete.js';

/**
 * Requests the partitioner would meet by quietly replicating work: a mesh axis nothing
 * splits (every device along it repeats the whole model) and heads that a split cannot
 * divide (the op runs unsplit). The driver turns them into diagnostics (driver/stages.ts).
 */

/**
 * The mesh axes of more than one device that no layout of `g` names: no input, parameter
 * or annotated value is split or summed over them, so every device along such an axis
 * would compute exactly what its neighbours do. A size-1 axis costs nothing and is not
 * reported. Callers that keep an axis for themselves (a pipeline axis) pass the mesh
 * without it.
 */
export function unusedMeshAxes(g: Graph, mesh: Mesh): string[] {
  const named = new Set<string>();
  const note = (l: { readonly axes: readonly (readonly string[])[]; readonly partial: readonly string[] } | undefined) => {
    if (!l) return;
    for (const a of l.axes) for (const x of a) named.add(x);
    for (const x of l.partial) named.add(x);
  };
  for (const v of g.values) note(v.type.layout);
  for (const c of g.constraints) note(c.layout);
  return mesh.axes.filter((a) => a.size > 1 && !named.has(a.name)).map((a) => a.name);
}

/** An op whose whole-unit letter (attention's heads) is split, by the layouts it meets, into a count that does not divide it. */
export interface UnitSplit {
  readonly op: string;
  /** `heads = 6`: the attribute that counts the units, and its value. */
  readonly what: string;
  readonly axes: readonly string[];
  readonly devices: number;
  /** The input the split comes from, with its layout. */
  readonly type: string;
  readonly span: Span;
}

/**
 * Ops of the partitioned graph that run unsplit because a split reaching them does not
 * divide their units: each device must hold whole heads, so the partitioner gathers the
 * split instead (one entry per source location).
 */
export function unitSplits(g: Graph, p: SpmdProgram): UnitSplit[] {
  const out = new Map<string, UnitSplit>();
  const { layouts, specs } = p.completion;
  g.nodes.forEach((n, ni) => {
    for (const letter of specs[ni]?.letters ?? []) {
      if (letter.unit === undefined || !letter.splittable) continue;
      for (const [v, d] of letterDims(letter, n.inputs, [], false)) {
        const axes = layouts[v]?.axes[d] ?? [];
        const count = splitCount(p.mesh, axes);
        if (count <= 1 || letter.unit % count === 0 || shapeOf(g.values[v]!.type)[d]! % count !== 0) continue;
        const attr = letter.localAttrs?.find((a) => n.attrs[a] === letter.unit) ?? letter.localAttrs?.[0] ?? 'units';
        const key = `${n.span.start}:${n.span.end}`;
        if (!out.has(key))
          out.set(key, {
            op: n.op.replace(/_grad$/, ''),
            what: `${attr} = ${letter.unit}`,
            axes,
            devices: count,
            type: printWithLayout(g.values[v]!.type, layouts[v]!),
            span: n.span,
          });
        break;
      }
    }
  });
  return [...out.values()];
}
