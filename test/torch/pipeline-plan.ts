/**
 * What each rank of a pipelined torch export must run, read off mdc's pipelined plan
 * (runtime/pipeline-plan.ts, the sealed plan `mdc compile` makes): per rank, for each action
 * of its schedule, the cross-stage values it receives, the collectives of the stage
 * program's sealed plan (its `collective` steps, in order) and the values it sends; then,
 * once per step, the tied gradient sums' exchange, U1's collectives, the exchange of the
 * stages' sums of squares and U2's collectives.
 */
import { coordsOf, deviceOf, groupOf, numel } from '../../layout/mesh.js';
import type { Mesh } from '../../compiler/sharding/mesh.js';
import type { Plan } from '../../runtime/plan.js';
import type { PipelinePlan } from '../../runtime/pipeline-plan.js';
import type { TraceEntry } from '../support/torchrun.js';

export interface Moved {
  readonly op: string;
  readonly axis: string | null;
  readonly group: readonly number[];
  readonly bytes: number;
}

const TRAFFIC = new Set(['all_reduce', 'reduce_scatter', 'all_gather', 'all_to_all', 'send', 'recv']);

/** A trace's entries that move data (collectives and transfers), as the expectation lists them. */
export const moved = (entries: readonly TraceEntry[]): Moved[] =>
  entries.filter((e) => TRAFFIC.has(e.op)).map((e) => ({ op: e.op, axis: e.axis, group: e.group, bytes: e.bytes }));

const BYTES: Readonly<Record<string, number>> = { f32: 4, i32: 4, f16: 2, bf16: 2 };

function collectivesOf(plan: Plan, mesh: Mesh, rank: number): Moved[] {
  const out: Moved[] = [];
  for (const s of plan.steps)
    if (s.kind === 'collective' && TRAFFIC.has(s.op))
      out.push({ op: s.op, axis: s.axis, group: groupOf(mesh, rank, s.axis), bytes: numel(s.shape) * BYTES[plan.buffers[s.input]!.dtype]! });
  return out;
}

/** The transfers and collectives global rank `rank` runs for `steps` steps (training) or one forward pass. */
export function expectedPipelineTrace(p: PipelinePlan, mesh: Mesh, rank: number, steps: number): Moved[] {
  const pr = coordsOf(mesh, rank)[p.axis]!;
  const at = (prank: number) => deviceOf(mesh, { ...coordsOf(mesh, rank), [p.axis]: prank });
  const prog = (stage: number, pass: string) => p.programs.find((x) => x.stage === stage && x.pass === pass)?.plan;
  const boundary = new Map(p.boundaries.map((b) => [b.name, b]));
  const one: Moved[] = [];
  const have = new Set<string>();
  for (const a of p.schedule.perRank[pr]!) {
    const plan = prog(a.stage, a.pass);
    if (!plan) continue;
    for (const io of plan.inputs) {
      const b = boundary.get(io.name);
      if (!b || b.from.stage % p.ranks === pr || have.has(`${b.name}#${a.microbatch}`)) continue;
      have.add(`${b.name}#${a.microbatch}`);
      one.push({ op: 'recv', axis: null, group: [at(b.from.stage % p.ranks), rank], bytes: b.bytes });
    }
    one.push(...collectivesOf(plan, mesh, rank));
    for (const o of plan.outputs) {
      const b = boundary.get(o.name);
      if (!b) continue;
      const to = [...new Set(b.to.map((t) => t.stage % p.ranks))].filter((r) => r !== pr).sort((x, y) => x - y);
      for (const r of to) one.push({ op: 'send', axis: null, group: [rank, at(r)], bytes: b.bytes });
    }
  }
  if (!p.training) return one;
  const mine = Array.from({ length: p.stages }, (_, k) => k).filter((k) => k % p.ranks === pr);
  for (const { param, stages } of p.shared) {
    const ranks = [...new Set(stages.map((k) => k % p.ranks))];
    if (!ranks.includes(pr)) continue;
    const stage = stages.find((k) => k % p.ranks === pr)!;
    const buf = p.programs
      .filter((x) => x.stage === stage)
      .flatMap((x) => x.plan.buffers)
      .find((b) => b.role === 'param' && b.name === `acc.${param}`)!;
    const bytes = numel(buf.shape) * BYTES[buf.dtype]!;
    for (const r of ranks) if (r !== pr) one.push({ op: 'send', axis: null, group: [rank, at(r)], bytes });
    for (const r of ranks) if (r !== pr) one.push({ op: 'recv', axis: null, group: [at(r), rank], bytes });
  }
  const passOf = (k: number, pass: string) => {
    const plan = prog(k, pass);
    return plan ? collectivesOf(plan, mesh, rank) : [];
  };
  for (const k of mine) one.push(...passOf(k, 'U1'));
  for (let r = 0; r < p.ranks; r++) if (r !== pr) one.push({ op: 'send', axis: null, group: [rank, at(r)], bytes: 4 * mine.length });
  for (let r = 0; r < p.ranks; r++) if (r !== pr) one.push({ op: 'recv', axis: null, group: [at(r), rank], bytes: 4 * p.virtual });
  for (const k of mine) one.push(...passOf(k, 'U2'));
  return Array.from({ length: steps }, () => one).flat();
}
