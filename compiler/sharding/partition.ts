import type { Span } from '../../diagnostics/span.js';
import { dimConst } from '../dims.js';
import { GraphBuilder, type Attrs, type Graph, type LayoutConstraint, type Value } from '../ir.js';
import type { Layout, TType } from '../types.js';
import { complete, legalSplit, letterDims, openTarget, pickLetters, type Candidate, type Completion } from './complete.js';
import { localShape, meshDevices, numel, splitCount } from '../../layout/mesh.js';
import { dtypeBytes, layoutKey, normLayout, printWithLayout, shapeOf, withoutUnitAxes, type Mesh } from './mesh.js';
import { redistribute, stepBytes, type StepKind } from './redistribute.js';
import type { Letter } from '../ops/sharding.js';

/** A communication (or local re-slicing) step inserted by the partitioner. */
export interface Collective {
  readonly kind: StepKind;
  readonly axis: string;
  /** Bytes each device sends on ring algorithms. */
  readonly bytesPerDevice: number;
  /** Bytes of the value each device holds before the step. */
  readonly bytes: number;
  /** Elements of the value each device holds before the step. */
  readonly elements: number;
  readonly from: string;
  readonly to: string;
  readonly reason: string;
  readonly span: Span;
  readonly scope: string;
}

type Constraint = LayoutConstraint;

/**
 * The SPMD program: one graph every device runs on its own block of each tensor, with
 * collectives inserted. `global` and `layouts` give, per local value id, the value's
 * global type and its layout over the mesh.
 */
export interface SpmdProgram {
  readonly mesh: Mesh;
  readonly devices: number;
  readonly local: Graph;
  readonly globalTypes: readonly TType[];
  readonly layouts: readonly Layout[];
  readonly collectives: readonly Collective[];
  readonly paramBytesPerDevice: number;
  readonly paramBytes: number;
  readonly completion: Completion;
  /**
   * Per local node: the index of the node of the partitioned graph it belongs to (a
   * collective inserted for a node's inputs belongs to that node; one converting a
   * node's output, to the node that produced it; one for a graph output, to the last node).
   */
  readonly origin: readonly number[];
}

/**
 * Partitions a concrete graph over `mesh`, honouring its annotations and layout constraints.
 * `forwardNodes`: in a training step, the number of leading nodes that are the forward pass.
 * An activation the forward gathered (all_gather) is gathered again for the backward's readers
 * instead of reusing the forward's copy, which then dies with the forward, as Megatron-LM's
 * sequence parallelism does (train/memory.ts counts it so).
 */
export function partition(g: Graph, mesh: Mesh, opts: { readonly layouts?: readonly Layout[]; readonly forwardNodes?: number } = {}): SpmdProgram {
  const constraints = new Map<number, Constraint>(g.constraints.map((c) => [c.value, c]));
  const open = new Set(g.constraints.filter((c) => c.open).map((c) => c.value));
  const completed = complete(g, mesh, new Map([...constraints].map(([k, c]) => [k, c.layout])), open);
  // A strategy search (auto) supplies every value's layout; constraints still apply on top.
  const completion: Completion = opts.layouts ? { ...completed, layouts: opts.layouts.map((l) => withoutUnitAxes(mesh, l)) } : completed;
  const shapes = g.values.map((v) => shapeOf(v.type));
  const b = new GraphBuilder();
  const globalTypes: TType[] = [];
  const layouts: Layout[] = [];
  const collectives: Collective[] = [];
  const origin: number[] = [];
  // The node of g being partitioned: every local node made meanwhile belongs to it.
  let at = 0;
  const own = () => {
    while (origin.length < b.nodeCount) origin.push(at);
  };

  const addLocal = (t: TType, l: Layout, make: (lt: TType) => Value): Value => {
    const lt: TType = { dtype: t.dtype, dims: localShape(mesh, shapeOf(t), l).map(dimConst) };
    const v = make(lt);
    globalTypes[v.id] = { dtype: t.dtype, dims: t.dims };
    layouts[v.id] = l;
    return v;
  };

  // value id in g → local value holding it in its current layout
  const current = new Map<number, Value>();
  // (global value id, layout key) → local value, so one conversion serves every consumer
  const converted = new Map<string, Value>();

  let paramBytes = 0;
  let paramBytesPerDevice = 0;
  for (const v of g.values) {
    if (v.kind === 'op') continue;
    const l = completion.layouts[v.id]!;
    const { id: _id, ...rest } = v;
    const lv = addLocal(v.type, l, (lt) => b.addValue({ ...rest, type: lt }));
    current.set(v.id, lv);
    if (v.kind === 'param') {
      const bytes = dtypeBytes(v.type.dtype);
      paramBytes += numel(shapes[v.id]!) * bytes;
      paramBytesPerDevice += numel(localShape(mesh, shapes[v.id]!, l)) * bytes;
    }
  }

  /** Converts global value `gid` to layout `want`, recording each step. */
  const convert = (gid: number, want: Layout, reason: (from: Layout, kind: StepKind, axis: string) => string, span: Span, scope: string): Value => {
    const have = current.get(gid)!;
    const from = layouts[have.id]!;
    if (layoutKey(from) === layoutKey(want)) return have;
    const steps = redistribute(from, want);
    const backward = opts.forwardNodes !== undefined && at >= opts.forwardNodes && g.values[gid]!.kind === 'op' && steps.some((s) => s.kind === 'all_gather');
    const key = `${gid}#${layoutKey(want)}${backward ? '#backward' : ''}`;
    const hit = converted.get(key);
    if (hit) return hit;
    let v = have;
    const t = g.values[gid]!.type;
    for (const s of steps) {
      const l = layouts[v.id]!;
      const elements = numel(localShape(mesh, shapes[gid]!, l));
      const bytes = elements * dtypeBytes(t.dtype);
      const attrs: Record<string, number | string> = { axis: s.axis, axis_size: splitCount(mesh, [s.axis]) };
      if (s.dim !== undefined) attrs['dim'] = s.dim;
      if (s.to !== undefined) attrs['to'] = s.to;
      const node = addStep(b, s.kind, v, t, s.after, attrs, span, scope, mesh, globalTypes, layouts);
      collectives.push({
        kind: s.kind,
        axis: s.axis,
        bytesPerDevice: stepBytes(mesh, s, bytes),
        bytes,
        elements,
        from: printWithLayout(t, l),
        to: printWithLayout(t, s.after),
        reason: reason(l, s.kind, s.axis),
        span,
        scope,
      });
      v = node;
    }
    converted.set(key, v);
    return v;
  };

  // (axes, block size) → each device's i32[1] first index of its block along those axes.
  const starts = new Map<string, Value>();
  /** The index each device's block starts at, for a dim of blocks of `block` split over `axes`: constants sliced per device (shard_slice, no traffic). */
  const blockStart = (axes: readonly string[], block: number, span: Span, scope: string): Value => {
    const key = `${axes.join(',')}#${block}`;
    const hit = starts.get(key);
    if (hit) return hit;
    const n = splitCount(mesh, axes);
    const i32 = (len?: number): TType => ({ dtype: 'i32', dims: len === undefined ? [] : [dimConst(len)] });
    const whole = (v: Value, t: TType) => {
      globalTypes[v.id] = t;
      layouts[v.id] = { axes: t.dims.map(() => []), partial: [] };
      return v;
    };
    const parts = Array.from({ length: n }, (_, k) => {
      const c = whole(b.addValue({ type: i32(), kind: 'const', scalar: k * block }), i32());
      return whole(b.addNode('reshape', [c], [i32(1)], { shape: [dimConst(1)] }, span, scope)[0]!, i32(1));
    });
    let v = whole(b.addNode('concat', parts, [i32(n)], { axis: 0 }, span, scope)[0]!, i32(n));
    axes.forEach((axis, i) => {
      const after: Layout = { axes: [axes.slice(0, i + 1)], partial: [] };
      v = addStep(b, 'shard_slice', v, i32(n), after, { axis, axis_size: splitCount(mesh, [axis]), dim: 0 }, span, scope, mesh, globalTypes, layouts);
    });
    starts.set(key, v);
    return v;
  };

  g.nodes.forEach((n, ni) => {
    at = ni;
    const spec = completion.specs[ni]!;
    const ranks = n.inputs.map((i) => shapes[i]!.length);
    // Output letters follow the completed output layouts; contractions follow the inputs as they are.
    const cands: Candidate[] = [];
    const isParam = (gid: number) => g.values[gid]!.kind === 'param';
    spec.letters.forEach((letter, order) => {
      const o = letter.outs.findIndex((d) => d >= 0);
      if (o >= 0) {
        const axes = completion.layouts[n.outputs[o]!]!.axes[letter.outs[o]!]!;
        const fromParam = letter.ins.some(
          (d, k) =>
            d >= 0 &&
            isParam(n.inputs[k]!) &&
            layoutKey({ axes: [layouts[current.get(n.inputs[k]!)!.id]!.axes[d]!], partial: [] }) === layoutKey({ axes: [axes], partial: [] }),
        );
        cands.push({ letter, axes, param: fromParam, weight: numel(shapes[n.outputs[o]!]!), order });
        return;
      }
      const k = letter.ins.findIndex((d, j) => d >= 0 && isParam(n.inputs[j]!) && layouts[current.get(n.inputs[j]!)!.id]!.axes[d]!.length > 0);
      const i = k >= 0 ? k : letter.ins.findIndex((d, j) => d >= 0 && layouts[current.get(n.inputs[j]!)!.id]!.axes[d]!.length > 0);
      if (i >= 0)
        cands.push({ letter, axes: layouts[current.get(n.inputs[i]!)!.id]!.axes[letter.ins[i]!]!, param: k >= 0, weight: numel(shapes[n.inputs[i]!]!), order });
    });
    const want = new Map<string, string[]>();
    const legal = (letter: Letter, axes: readonly string[]) =>
      legalSplit(
        mesh,
        letter,
        letterDims(letter, n.inputs, n.outputs, false).map(([v, d]) => shapes[v]![d]!),
        axes,
      );
    for (const [letter, axes] of pickLetters(cands, legal)) want.set(letter.name, axes);
    const used = new Set([...want.values()].flat());
    // Output j is a pending sum over the split letters it does not have (a contraction for it).
    const contractedFor = (j: number) =>
      spec.letters.filter((l) => l.outs[j]! < 0 && l.ins.some((d) => d >= 0) && want.has(l.name)).flatMap((l) => want.get(l.name)!);

    // Pending sums that may pass through this op.
    const partials = n.inputs.map((i) => layouts[current.get(i)!.id]!.partial);
    const isConst = n.inputs.map((i) => g.values[i]!.kind === 'const');
    let pass: string[] = [];
    const withP = partials.map((p, k) => (p.length ? k : -1)).filter((k) => k >= 0);
    const same = (k: number) => partials[k]!.join(',') === partials[withP[0]!]!.join(',');
    if (withP.length) {
      const p = partials[withP[0]!]!;
      const ok =
        spec.linear === 'joint'
          ? withP.length === n.inputs.length && withP.every(same) && !isConst.some(Boolean)
          : spec.linear === 'single'
            ? withP.length === 1
            : spec.linear === 'first'
              ? withP.length === 1 && withP[0] === 0
              : false;
      if (ok && !p.some((a) => used.has(a))) pass = [...p];
    }
    const passInputs = new Set(spec.linear === 'joint' ? n.inputs.map((_, k) => k) : withP);

    const inputs = n.inputs.map((gid, k) => {
      const req: Layout = {
        axes: Array.from({ length: ranks[k]! }, (_, d) => {
          const letter = spec.letters.find((l) => l.ins[k] === d);
          return letter ? [...(want.get(letter.name) ?? [])] : [];
        }),
        partial: pass.length && passInputs.has(k) ? pass : [],
      };
      const reason = (from: Layout, kind: StepKind, axis: string) => {
        if (kind === 'all_reduce' || kind === 'reduce_scatter') return `'${n.op}' needs the whole sum over ${axis}, not a partial one`;
        const d = from.axes.findIndex((a) => a.includes(axis));
        const letter = spec.letters.find((l) => l.ins[k] === d);
        const why = letter && spec.why[letter.name];
        if (why && (kind === 'all_gather' || kind === 'all_to_all')) return `'${n.op}' needs dim ${d} whole: ${why}`;
        return `'${n.op}' computes on ${printWithLayout(g.values[gid]!.type, req)}`;
      };
      return convert(gid, req, reason, n.span, n.scope);
    });

    const attrs: Record<string, Attrs[string]> = { ...n.attrs };
    for (const letter of spec.letters) {
      const axes = want.get(letter.name);
      if (axes && letter.localAttrs) for (const a of letter.localAttrs) attrs[a] = (attrs[a] as number) / splitCount(mesh, axes);
      if (axes && letter.start) {
        const [v, d] = letterDims(letter, n.inputs, n.outputs, false)[0]!;
        inputs.push(blockStart(axes, shapes[v]![d]! / splitCount(mesh, axes), n.span, n.scope));
        attrs['has_start'] = true;
      }
    }
    const outLayouts: Layout[] = n.outputs.map((o, j) => ({
      axes: shapes[o]!.map((_, d) => {
        const letter = spec.letters.find((l) => l.outs[j] === d);
        return letter ? [...(want.get(letter.name) ?? [])] : [];
      }),
      partial: sortAxes(mesh, [...pass, ...contractedFor(j)]),
    }));
    const outTypes = n.outputs.map((o, j) => localType(mesh, g.values[o]!.type, outLayouts[j]!));
    // A reshape's target is the block each device holds, as its output type says.
    if (n.op === 'reshape') attrs['shape'] = outTypes[0]!.dims;
    const outs = b.addNode(n.op, inputs, outTypes, attrs, n.span, n.scope);
    outs.forEach((v, j) => {
      const gid = n.outputs[j]!;
      globalTypes[v.id] = { dtype: g.values[gid]!.type.dtype, dims: g.values[gid]!.type.dims };
      layouts[v.id] = outLayouts[j]!;
      current.set(gid, v);
      const c = constraints.get(gid);
      if (c) {
        const exact = withoutUnitAxes(mesh, normLayout(c.layout, shapes[gid]!.length));
        const target = c.open ? openTarget(exact, completion.layouts[gid]!) : exact;
        const v2 = convert(
          gid,
          target,
          (_f, kind, axis) => `the annotation on line ${c.span.line} asks for ${printWithLayout(g.values[gid]!.type, target)} (${kind} over ${axis})`,
          c.span,
          n.scope,
        );
        current.set(gid, v2);
      }
    });
    own();
  });
  at = Math.max(0, g.nodes.length - 1);

  // Outputs leave whole sums (their splits are gathered by the host when it reads them).
  const outs = g.outputs.map((gid) => {
    const v = current.get(gid)!;
    const l = layouts[v.id]!;
    if (!l.partial.length || constraints.get(gid)?.layout.partial.length) return v;
    return convert(
      gid,
      { axes: l.axes, partial: [] },
      (_f, _k, axis) => `the model's output must be a whole sum, not partial over ${axis}`,
      g.nodes[v.producer ?? 0]?.span ?? NO,
      g.name,
    );
  });
  own();
  const local = b.finish(g.name, outs, g.outputNames);
  return {
    origin,
    mesh,
    devices: meshDevices(mesh),
    local,
    globalTypes,
    layouts,
    collectives,
    paramBytesPerDevice,
    paramBytes,
    completion,
  };
}

const NO: Span = { start: 0, end: 0, line: 1, col: 1, endLine: 1, endCol: 1 };

function sortAxes(mesh: Mesh, axes: readonly string[]): string[] {
  const order = mesh.axes.map((a) => a.name);
  return [...new Set(axes)].sort((a, b) => order.indexOf(a) - order.indexOf(b));
}

function localType(mesh: Mesh, t: TType, l: Layout): TType {
  return { dtype: t.dtype, dims: localShape(mesh, shapeOf(t), l).map(dimConst) };
}

function addStep(
  b: GraphBuilder,
  kind: StepKind,
  input: Value,
  t: TType,
  after: Layout,
  attrs: Attrs,
  span: Span,
  scope: string,
  mesh: Mesh,
  globalTypes: TType[],
  layouts: Layout[],
): Value {
  const [out] = b.addNode(kind, [input], [localType(mesh, t, after)], attrs, span, scope);
  globalTypes[out!.id] = { dtype: t.dtype, dims: t.dims };
  layouts[out!.id] = after;
  return out!;
}
