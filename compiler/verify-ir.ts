import { dimValue } from './dims.js';
import type { Graph } from './ir.js';

/**
 * Invariants of a graph, run by tests after every stage: SSA (each value defined
 * once, before use), ids dense, every node's outputs point back at it, outputs
 * exist; with `concrete`, every dim is a number (what codegen needs).
 */
export function verifyGraph(g: Graph, concrete = false): string[] {
  const errs: string[] = [];
  const defined = new Set<number>();
  g.values.forEach((v, i) => {
    if (v.id !== i) errs.push(`value ${i} has id ${v.id}`);
    if (v.kind !== 'op') defined.add(v.id);
    if (v.kind === 'param' && (!v.name || !v.init)) errs.push(`param value ${v.id} lacks a name or initialiser`);
    if (v.kind === 'const' && (v.scalar === undefined || v.type.dims.length !== 0)) errs.push(`const value ${v.id} is not a scalar`);
    if (concrete) for (const d of v.type.dims) if (dimValue(d) === undefined || dimValue(d)! < 1) errs.push(`value ${v.id} has a non-concrete dim`);
  });
  g.nodes.forEach((n, i) => {
    if (n.id !== i) errs.push(`node ${i} has id ${n.id}`);
    for (const inp of n.inputs) if (!defined.has(inp)) errs.push(`node ${n.id} (${n.op}) uses value ${inp} before it is defined`);
    for (const o of n.outputs) {
      const v = g.values[o];
      if (!v) errs.push(`node ${n.id} output ${o} does not exist`);
      else if (v.producer !== n.id) errs.push(`value ${o} does not name node ${n.id} as producer`);
      if (defined.has(o)) errs.push(`value ${o} defined twice`);
      defined.add(o);
    }
  });
  for (const o of g.outputs) if (!defined.has(o)) errs.push(`graph output ${o} is never defined`);
  if (g.outputNames.length !== g.outputs.length) errs.push('output names and outputs differ in count');
  if (!Object.isFrozen(g) || !Object.isFrozen(g.nodes)) errs.push('graph is not frozen');
  return errs;
}
