import type { Span } from '../../diagnostics/span.js';
import { dimConst } from '../dims.js';
import { GraphBuilder, type Attrs, type Graph, type Value } from '../ir.js';
import { shapeOf } from '../sharding/mesh.js';
import { opSpec } from '../sharding/specs.js';
import type { TType } from '../types.js';

/**
 * Multi-copy (the seed's 多副本并行): a forward graph at batch B becomes `copies` copies of
 * the model at batch B/copies each, sharing every parameter, with their nodes interleaved
 * (copy 0's node i, copy 1's node i, …, then node i + 1). Once partitioned, one copy's
 * collective can run while the next copy computes something that does not depend on it
 * (orderForOverlap in compiler/sharding/overlap.ts places each collective where its input
 * is ready and the other copy's work after it, and the mesh runtime defers waiting for it).
 *
 * Copy c takes the rows r of the batch with r mod copies = c (each input is reshaped to
 * [B/copies, copies, …] and sliced along the new dim), not the block [c·B/copies, (c+1)·B/copies):
 * under a batch split over mesh axes (`B@dp`) each device's contiguous block of rows is then
 * dealt out among the copies on the device itself, so the split moves no data. Outputs are
 * put back the same way (reshape, concat, reshape), so callers see the graph they had.
 *
 * The batch dim is dim 0 of every input; it is followed through each op's sharding
 * signature (compiler/ops, the same letters the partitioner splits). An op that needs the
 * batch whole (a sum or mean over it, a softmax across rows) or mixes it with a tensor that
 * does not come from the inputs' rows refuses the transform: the copies would not compute
 * what the whole batch computes.
 */
export function splitIntoCopies(g: Graph, copies: number): { graph: Graph } | { problem: string; span?: Span } {
  if (copies === 1) return { graph: g };
  const shapes = g.values.map((v) => shapeOf(v.type));
  const batchDim = new Array<number>(g.values.length).fill(-1);
  if (!g.inputs.length) return { problem: `${g.name} has no inputs to split` };
  const B = shapes[g.inputs[0]!]![0];
  for (const i of g.inputs) {
    const s = shapes[i]!;
    const name = g.values[i]!.name ?? `input ${i}`;
    if (!s.length || s[0] !== B) return { problem: `every input's first dim is the batch, but ${name} has shape [${s.join(', ')}] and the batch is ${B}` };
    batchDim[i] = 0;
  }
  if (B === undefined || B % copies !== 0) return { problem: `${copies} copies do not divide the batch of ${B ?? 0}` };

  // Follow the batch dim through every node.
  for (const n of g.nodes) {
    const spec = opSpec(
      n,
      n.inputs.map((i) => shapes[i]!),
      n.outputs.map((o) => shapes[o]!),
    );
    const carried = n.inputs.map((v, k) => [k, batchDim[v]!] as const).filter(([, d]) => d >= 0);
    if (!carried.length) continue;
    const where = `'${n.op}'${n.scope ? ` in ${n.scope}` : ''}`;
    const letters = new Set(carried.map(([k, d]) => spec.letters.find((l) => l.ins[k] === d)));
    const letter = [...letters][0];
    if (letters.size !== 1 || !letter) return { problem: `${where} does not keep the rows of the batch apart`, span: n.span };
    if (!letter.splittable || letter.unit !== undefined || letter.start)
      return { problem: `${where} needs the batch whole${spec.why[letter.name] ? ` (${spec.why[letter.name]})` : ''}`, span: n.span };
    const strays = letter.ins.map((d, k) => (d >= 0 && batchDim[n.inputs[k]!]! !== d ? k : -1)).filter((k) => k >= 0);
    if (strays.length) return { problem: `${where} mixes the batch with a tensor that has no rows of it`, span: n.span };
    if (letter.outs.some((d) => d < 0)) return { problem: `${where} sums over the batch`, span: n.span };
    n.outputs.forEach((o, j) => (batchDim[o] = letter.outs[j]!));
  }
  const outDims = g.outputs.map((o) => batchDim[o]!);
  const lost = outDims.findIndex((d) => d < 0);
  if (lost >= 0) return { problem: `output ${g.outputNames[lost]} has no batch dim to put the copies' rows back into` };

  const part = B / copies;
  const b = new GraphBuilder();
  const span = g.nodes[0]?.span ?? NO_SPAN;
  // Parameters and constants once, shared by the copies; inputs whole.
  const whole = new Map<number, Value>();
  for (const v of g.values) {
    if (v.kind === 'op') continue;
    const { id: _id, ...rest } = v;
    whole.set(v.id, b.addValue(rest));
  }
  const halve = (t: TType, d: number): TType => ({ dtype: t.dtype, dims: t.dims.map((x, i) => (i === d ? dimConst(part) : x)) });
  const shaped = (t: TType, s: readonly number[]): TType => ({ dtype: t.dtype, dims: s.map(dimConst) });
  // Per copy: value id in g → the copy's value.
  const maps = Array.from({ length: copies }, () => new Map(whole));
  for (const i of g.inputs) {
    const t = g.values[i]!.type;
    const rest = shapes[i]!.slice(1);
    const [dealt] = b.addNode('reshape', [whole.get(i)!], [shaped(t, [part, copies, ...rest])], { shape: [part, copies, ...rest].map(dimConst) }, span, '');
    for (let c = 0; c < copies; c++) {
      const [row] = b.addNode('slice', [dealt!], [shaped(t, [part, 1, ...rest])], { axis: 1, start: dimConst(c), end: dimConst(c + 1) }, span, '');
      const [x] = b.addNode('reshape', [row!], [shaped(t, [part, ...rest])], { shape: [part, ...rest].map(dimConst) }, span, '');
      maps[c]!.set(i, x!);
    }
  }
  for (const n of g.nodes) {
    for (let c = 0; c < copies; c++) {
      const m = maps[c]!;
      const outTypes = n.outputs.map((o) => (batchDim[o]! >= 0 ? halve(g.values[o]!.type, batchDim[o]!) : g.values[o]!.type));
      const attrs: Record<string, Attrs[string]> = { ...n.attrs };
      // Shape attributes follow the copy's output (reshape, expand), as the partitioner does for a device's block.
      if ((n.op === 'reshape' || n.op === 'expand') && outTypes[0]) attrs['shape'] = outTypes[0].dims;
      const outs = b.addNode(
        n.op,
        n.inputs.map((v) => m.get(v)!),
        outTypes,
        attrs,
        n.span,
        n.scope,
        n.body,
      );
      n.outputs.forEach((o, j) => m.set(o, outs[j]!));
    }
  }
  // Outputs: the copies' rows dealt back in the order the inputs were dealt out.
  const outs = g.outputs.map((o, k) => {
    const d = outDims[k]!;
    const t = g.values[o]!.type;
    const s = shapes[o]!;
    const lifted = (x: Value) =>
      b.addNode(
        'reshape',
        [x],
        [shaped(t, [...s.slice(0, d), part, 1, ...s.slice(d + 1)])],
        { shape: [...s.slice(0, d), part, 1, ...s.slice(d + 1)].map(dimConst) },
        span,
        '',
      )[0]!;
    const parts = maps.map((m) => lifted(m.get(o)!));
    const joinedShape = [...s.slice(0, d), part, copies, ...s.slice(d + 1)];
    const [joined] = b.addNode('concat', parts, [shaped(t, joinedShape)], { axis: d + 1 }, span, '');
    return b.addNode('reshape', [joined!], [t], { shape: t.dims }, span, '')[0]!;
  });
  // Layout constraints: the inputs keep theirs, each copy's value gets its original's, and an output's goes to the value put back together.
  for (const con of g.constraints) {
    const isInput = g.values[con.value]!.kind !== 'op';
    if (isInput) b.constraints.set(whole.get(con.value)!.id, { ...con, value: whole.get(con.value)!.id });
    else for (const m of maps) b.constraints.set(m.get(con.value)!.id, { ...con, value: m.get(con.value)!.id });
    const k = g.outputs.indexOf(con.value);
    if (k >= 0 && !isInput) b.constraints.set(outs[k]!.id, { ...con, value: outs[k]!.id });
  }
  return { graph: b.finish(g.name, outs, g.outputNames) };
}

const NO_SPAN: Span = { start: 0, end: 0, line: 1, col: 1, endLine: 1, endCol: 1 };
