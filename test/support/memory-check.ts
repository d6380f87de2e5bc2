import type { Graph } from '../../compiler/ir.js';
import type { Residency } from '../../compiler/memory/liveness.js';
import type { MemoryPlan, MemoryPlanOptions } from '../../compiler/memory/plan.js';

/**
 * An independent check of a memory plan against the graph it was made for: works out
 * from the nodes which values must be in memory at each step, then that no two of them
 * share a byte, every offset is aligned, every arena is within the cap, nothing the
 * graph reads or writes is missing, and the reported lower bound is the most bytes
 * needed at one step. Returns the problems found (empty when the plan is sound).
 */
export function memoryPlanProblems(g: Graph, plan: MemoryPlan, opts: MemoryPlanOptions = {}): string[] {
  const problems: string[] = [];
  const views = new Set(opts.aliasOps ?? ['reshape']);
  const root = new Map<number, number>();
  const rootOf = (v: number): number => (root.has(v) ? rootOf(root.get(v)!) : v);
  for (const n of g.nodes) if (views.has(n.op) && n.outputs.length === 1) root.set(n.outputs[0]!, n.inputs[0]!);

  const kept = new Set([...(opts.externalValues ?? [])].filter((v) => v < g.values.length).map(rootOf));
  const residencyOf = (r: number): Residency => {
    if (kept.has(r)) return 'external';
    const v = g.values[r]!;
    const own: Residency =
      v.kind === 'input' ? (opts.inputs ?? 'step') : v.kind === 'param' ? (opts.params ?? 'step') : v.kind === 'const' ? (opts.consts ?? 'step') : 'uses';
    const isOutput = g.outputs.some((o) => rootOf(o) === r);
    const asOutput: Residency = isOutput ? (opts.outputs ?? 'step') : 'uses';
    return own === 'external' || asOutput === 'external' ? 'external' : own === 'step' || asOutput === 'step' ? 'step' : 'uses';
  };

  const steps = Math.max(1, g.nodes.length);
  const first = new Map<number, number>();
  const last = new Map<number, number>();
  const touch = (v: number, t: number) => {
    const r = rootOf(v);
    if (!first.has(r)) first.set(r, g.values[r]!.kind === 'op' ? t : 0);
    last.set(r, Math.max(last.get(r) ?? 0, t));
  };
  for (const v of g.values) if (v.kind !== 'op') touch(v.id, 0);
  g.nodes.forEach((n, t) => [...n.inputs, ...n.outputs].forEach((v) => touch(v, t)));

  const alignment = opts.alignment ?? 256;
  const cap = opts.maxArenaBytes ?? 128 * 1024 * 1024;
  const needed: number[][] = Array.from({ length: steps }, () => []);
  for (const [r, f] of first) {
    const res = residencyOf(r);
    const b = plan.bufferOf.get(r);
    if (res === 'external') {
      if (b !== undefined) problems.push(`value ${r} is external but has a buffer`);
      continue;
    }
    if (b === undefined) {
      problems.push(`value ${r} is used but has no buffer`);
      continue;
    }
    const to = res === 'step' ? steps - 1 : last.get(r)!;
    for (let t = f; t <= to; t++) needed[t]!.push(b);
  }
  for (const v of g.values) {
    const b = plan.bufferOf.get(v.id);
    if (b !== undefined && b !== plan.bufferOf.get(rootOf(v.id))) problems.push(`view ${v.id} and its root ${rootOf(v.id)} have different buffers`);
  }

  plan.buffers.forEach((b, i) => {
    if (b.offset % alignment !== 0) problems.push(`buffer ${i} offset ${b.offset} is not a multiple of ${alignment}`);
    if (b.size % alignment !== 0 || b.size < b.bytes) problems.push(`buffer ${i} reserves ${b.size} bytes for ${b.bytes}`);
    if (b.offset < 0 || b.offset + b.size > (plan.arenas[b.arena] ?? -1))
      problems.push(`buffer ${i} [${b.offset}, ${b.offset + b.size}) is outside arena ${b.arena}`);
  });
  plan.arenas.forEach((a, i) => {
    if (a > cap) problems.push(`arena ${i} is ${a} bytes, over the cap ${cap}`);
  });
  if (plan.peakBytes !== plan.arenas.reduce((x, y) => x + y, 0)) problems.push('peak is not the sum of the arenas');

  let most = 0;
  needed.forEach((bs, t) => {
    most = Math.max(
      most,
      bs.reduce((s, b) => s + plan.buffers[b]!.size, 0),
    );
    const sorted = [...bs].sort((x, y) => plan.buffers[x]!.arena - plan.buffers[y]!.arena || plan.buffers[x]!.offset - plan.buffers[y]!.offset);
    for (let k = 1; k < sorted.length; k++) {
      const a = plan.buffers[sorted[k - 1]!]!;
      const b = plan.buffers[sorted[k]!]!;
      if (a.arena === b.arena && a.offset + a.size > b.offset) {
        problems.push(`step ${t}: ${a.name} [${a.offset}, ${a.offset + a.size}) and ${b.name} [${b.offset}, ${b.offset + b.size}) overlap in arena ${a.arena}`);
      }
    }
  });
  if (plan.lowerBound !== most) problems.push(`lower bound ${plan.lowerBound} is not the most bytes needed at one step (${most})`);
  if (plan.peakBytes < plan.lowerBound) problems.push(`peak ${plan.peakBytes} is below the lower bound ${plan.lowerBound}`);
  return problems;
}
