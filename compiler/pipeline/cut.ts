import type { Span } from '../../diagnostics/span.js';
import { GraphBuilder, type Value } from '../ir.js';
import { dtypeBytes, shapeOf } from '../sharding/mesh.js';
import type { SpmdProgram } from '../sharding/partition.js';
import type { Layout, TType } from '../types.js';
import { PASSES, type Pass, type Tag } from './train.js';

/** One pass of one stage: an SPMD program over the stage's devices (the mesh without the pipeline axis). */
export interface StageProgram {
  readonly stage: number;
  readonly pass: Pass;
  readonly spmd: SpmdProgram;
  /** Its parameter updates (training): output → parameter, copied after each run. */
  readonly updates: readonly { readonly output: string; readonly param: string }[];
}

/**
 * A value one program makes and others read, for the same micro-batch: an input of each
 * reader and an output of its maker, both named `name`. Between stages it is a
 * point-to-point transfer along the pipeline axis (each device sends its block to the
 * device at the same place of the other stage's group); within a stage it is kept from
 * one pass to a later one (a stash).
 */
export interface Boundary {
  readonly name: string;
  readonly from: Tag;
  readonly to: readonly Tag[];
  /** The block each device holds, and its bytes. */
  readonly shape: readonly number[];
  readonly bytes: number;
  readonly dtype: string;
  /** The whole value's type and layout, for reports. */
  readonly global: TType;
  readonly layout: Layout;
  readonly span: Span;
  readonly scope: string;
}

export class CutError extends Error {
  override name = 'CutError';
}

const order = (p: Pass) => PASSES.indexOf(p);

/**
 * Cuts a partitioned pipelined step into its stage programs. `tags` gives each node of
 * the partitioned graph its stage and pass (local nodes follow `spmd.origin`).
 * `zeroBubble`: a stage's backward nodes that feed only its weight gradients move from
 * B to W (ZB-H1's split); otherwise W joins B. Every boundary must go where the
 * schedules guarantee order: forward to a later stage's forward or any backward,
 * backward to an earlier stage's backward or weight pass, a pass to a later pass of the
 * same stage, and nothing out of the once-per-step passes U1 and U2.
 */
export function cutStages(
  spmd: SpmdProgram,
  tags: readonly Tag[],
  opts: {
    readonly zeroBubble: boolean;
    /** Updates, `paramId` the parameter's id in `spmd.local` (every program making an update's output holds its parameter). */
    readonly updates?: readonly { readonly output: string; readonly param: string; readonly stage: number; readonly paramId: number }[];
  },
): { programs: StageProgram[]; boundaries: Boundary[] } {
  const g = spmd.local;
  const tag: Tag[] = g.nodes.map((n) => tags[spmd.origin[n.id]!]!);
  const producer = (v: number) => g.values[v]!.producer;
  const readers = new Map<number, number[]>();
  for (const n of g.nodes) for (const x of n.inputs) if (producer(x) !== undefined) (readers.get(x) ?? readers.set(x, []).get(x)!).push(n.id);
  const same = (a: Tag, b: Tag) => a.stage === b.stage && a.pass === b.pass;

  if (opts.zeroBubble) {
    // B keeps what the earlier stages' gradients need; the rest of the backward is W.
    const keep = new Set<number>();
    const stack: number[] = [];
    for (const n of g.nodes) {
      if (tag[n.id]!.pass !== 'B') continue;
      if (n.outputs.some((o) => (readers.get(o) ?? []).some((r) => tag[r]!.stage !== tag[n.id]!.stage))) stack.push(n.id);
    }
    while (stack.length) {
      const id = stack.pop()!;
      if (keep.has(id)) continue;
      keep.add(id);
      for (const x of g.nodes[id]!.inputs) {
        const p = producer(x);
        if (p !== undefined && same(tag[p]!, tag[id]!)) stack.push(p);
      }
    }
    g.nodes.forEach((n) => {
      if (tag[n.id]!.pass === 'B' && !keep.has(n.id)) tag[n.id] = { stage: tag[n.id]!.stage, pass: 'W' };
    });
  } else g.nodes.forEach((n) => tag[n.id]!.pass === 'W' && (tag[n.id] = { stage: tag[n.id]!.stage, pass: 'B' }));

  // Boundaries, checked against what every schedule orders.
  const boundaries: Boundary[] = [];
  const boundaryOf = new Map<number, string>();
  for (const n of g.nodes) {
    const from = tag[n.id]!;
    for (const o of n.outputs) {
      const to: Tag[] = [];
      for (const r of readers.get(o) ?? []) if (!same(tag[r]!, from) && !to.some((t) => same(t, tag[r]!))) to.push(tag[r]!);
      if (!to.length) continue;
      for (const t of to) {
        const ok =
          from.pass === 'U1' || from.pass === 'U2'
            ? false
            : t.stage === from.stage
              ? order(t.pass) > order(from.pass)
              : from.pass === 'F'
                ? t.pass !== 'F' || t.stage > from.stage
                : t.stage < from.stage && (t.pass === 'B' || t.pass === 'W');
        if (!ok || ((t.pass === 'U1' || t.pass === 'U2') && from.pass !== 'U1'))
          throw new CutError(
            `${n.op} at line ${n.span.line} (${n.scope || 'model'}) runs in ${from.pass} of stage ${from.stage}, and ${t.pass} of stage ${t.stage} reads it: ` +
              `no schedule orders those two passes for one micro-batch`,
          );
      }
      const v = g.values[o]!;
      const shape = shapeOf(v.type);
      const name = `t${o}`;
      boundaryOf.set(o, name);
      boundaries.push({
        name,
        from,
        to,
        shape,
        bytes: shape.reduce((a, k) => a * k, 1) * dtypeBytes(v.type.dtype),
        dtype: v.type.dtype,
        global: spmd.globalTypes[o]!,
        layout: spmd.layouts[o]!,
        span: n.span,
        scope: n.scope,
      });
    }
  }

  // One graph per (stage, pass) that has nodes.
  const keys = new Map<string, Tag>();
  for (const n of g.nodes) keys.set(`${tag[n.id]!.stage}/${tag[n.id]!.pass}`, tag[n.id]!);
  const sorted = [...keys.values()].sort((a, b) => a.stage - b.stage || order(a.pass) - order(b.pass));
  const outputsAt = new Map<number, string[]>();
  g.outputs.forEach((o, i) => (outputsAt.get(o) ?? outputsAt.set(o, []).get(o)!).push(g.outputNames[i]!));
  const programs = sorted.map((t): StageProgram => {
    const b = new GraphBuilder();
    const map = new Map<number, Value>();
    const origin: number[] = [];
    const add = (from: number, v: Value) => {
      map.set(from, v);
      origin[v.id] = from;
      return v;
    };
    const valueOf = (x: number): Value => {
      const hit = map.get(x);
      if (hit) return hit;
      const v = g.values[x]!;
      if (v.kind !== 'op') {
        const { id: _id, ...rest } = v;
        return add(x, b.addValue(rest));
      }
      return add(x, b.addValue({ type: v.type, kind: 'input', name: boundaryOf.get(x)! }));
    };
    const outs: Value[] = [];
    const names: string[] = [];
    const nodeFrom: number[] = [];
    for (const n of g.nodes) {
      if (!same(tag[n.id]!, t)) continue;
      const ins = n.inputs.map(valueOf);
      const made = b.copyNode(g, n, ins);
      nodeFrom.push(n.id);
      n.outputs.forEach((o, i) => {
        add(o, made[i]!);
        for (const name of outputsAt.get(o) ?? []) {
          outs.push(made[i]!);
          names.push(name);
        }
        const bn = boundaryOf.get(o);
        if (bn) {
          outs.push(made[i]!);
          names.push(bn);
        }
      });
    }
    // A parameter an update overwrites is in the program even when nothing here reads it (a gradient sum reset to zero).
    const made = new Set(names);
    for (const u of opts.updates ?? []) if (u.stage === t.stage && made.has(u.output)) valueOf(u.paramId);
    const local = b.finish(g.name, outs, names);
    // Each value's and node's place in the partitioned step: its global type, layout and origin carry over.
    const from = local.values.map((v) => origin[v.id]!);
    const sub: SpmdProgram = {
      ...spmd,
      local,
      globalTypes: from.map((o) => spmd.globalTypes[o]!),
      layouts: from.map((o) => spmd.layouts[o]!),
      origin: nodeFrom.map((id) => spmd.origin[id]!),
      collectives: [],
    };
    const mine = new Set(names);
    // An output name says which update it is: W's `new.acc.*` and U2's reset share it, in different programs.
    const updates = [...new Map((opts.updates ?? []).filter((u) => u.stage === t.stage && mine.has(u.output)).map((u) => [u.output, u.param])).entries()].map(
      ([output, param]) => ({ output, param }),
    );
    return { stage: t.stage, pass: t.pass, spmd: sub, updates };
  });
  return { programs, boundaries };
}
