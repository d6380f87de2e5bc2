import type { Span } from '../../diagnostics/span.js';
import { dimConst, dimValue } from '../dims.js';
import { extendGraph, GraphBuilder, type Attrs, type Graph, type Node, type Value } from '../ir.js';
import { elementwiseOf, OPS } from '../ops/registry.js';
import type { InferCtx } from '../ops/signature.js';
import type { TType } from '../types.js';

/**
 * Incremental inference: a lowered model whose attention is causal becomes two graphs
 * that share a per-layer KV cache (parameters `cache.k.<n>` and `cache.v.<n>`, [B, M, W],
 * zero at first), M being the length the model was lowered at (max_seq):
 *
 * - prefill: the model itself over M positions (a prompt padded to M; causal attention
 *   keeps the padding out of every earlier position), which also outputs the keys and
 *   values of every attention as `new.cache.*`, copied over the cache after the run;
 * - decode: the model at one position per sequence. Its inputs are the model's inputs cut
 *   to length 1 along their sequence axis and `positions` (i32[B], the position each
 *   sequence's token is at). Each attention writes its new key and value row into the
 *   cache at that position (kv_write) and attends to the cache up to it
 *   (attention_decode); a slice of a table along the sequence (GPT-2's positional
 *   embedding `slice(wpe, 0, 0, S)`) becomes a gather of the rows at the positions, and a
 *   rotary embedding (LLaMA's) takes the positions as its input, turning each sequence's
 *   row by its own position's angle.
 *
 * The decode graph is derived node by node, following each value's sequence axis. Ops
 * that act position by position (element-wise, matmul over features, norms and softmax
 * over features, embedding lookups, transposes) carry it; anything that mixes positions
 * otherwise, or attention that is not causal or has a mask, cannot be decoded one position
 * at a time and is refused with its node's span.
 */

export interface CacheEntry {
  /** Parameter names of the layer's keys and values, `cache.k.<n>` / `cache.v.<n>`. */
  readonly k: string;
  readonly v: string;
  /** [B, M, W]. */
  readonly shape: readonly number[];
  readonly scope: string;
}

export interface InferenceGraphs {
  readonly prefill: Graph;
  readonly decode: Graph;
  readonly cache: readonly CacheEntry[];
  /** Parameter updates of both graphs: `new.cache.*` outputs over the cache (the decode plan runs its kv_writes in place instead, codegen/in-place.ts). */
  readonly updates: readonly { readonly output: string; readonly param: string }[];
  readonly maxSeq: number;
  readonly batch: number;
}

export interface DecodeProblem {
  readonly detail: string;
  readonly span?: Span;
}

/** The name of the decode graph's positions input. */
export const POSITIONS = 'positions';

/**
 * `seqAxes`: for each input of `g` by name, the axis that is its sequence (inputs not
 * named have none). `g` must be lowered at that axis's length M = maxSeq.
 */
export function inferenceGraphs(g: Graph, seqAxes: ReadonlyMap<string, number>, maxSeq: number): InferenceGraphs | DecodeProblem {
  const seqInput = g.inputs.find((i) => seqAxes.has(g.values[i]!.name!));
  if (seqInput === undefined) return { detail: 'no input of the model has a sequence axis' };
  const batch = dimValue(g.values[seqInput]!.type.dims[0]!)!;
  const d = new DecodeBuilder(g, seqAxes, maxSeq, batch);
  const problem = d.run();
  if (problem) return problem;
  return { prefill: prefillGraph(g, d.cache, d.cacheValues), decode: d.finish(), cache: d.cache, updates: d.updates(), maxSeq, batch };
}

/** The model with each attention's keys and values as extra outputs, and the cache parameters they update. */
function prefillGraph(g: Graph, cache: readonly CacheEntry[], kv: readonly [number, number][]): Graph {
  const { builder, map } = extendGraph(g);
  for (const c of cache) {
    for (const name of [c.k, c.v]) builder.addValue({ kind: 'param', name, type: f32(c.shape), init: { kind: 'constant', value: 0 } });
  }
  const outs = [...g.outputs.map((o) => map.get(o)!), ...kv.flatMap(([k, v]) => [map.get(k)!, map.get(v)!])];
  const names = [...g.outputNames, ...cache.flatMap((c) => [`new.${c.k}`, `new.${c.v}`])];
  return builder.finish(g.name, outs, names);
}

const f32 = (shape: readonly number[]): TType => ({ dtype: 'f32', dims: shape.map(dimConst) });
const i32 = (shape: readonly number[]): TType => ({ dtype: 'i32', dims: shape.map(dimConst) });
const shapeOf = (t: TType) => t.dims.map((x) => dimValue(x)!);
const unlaid = (t: TType): TType => ({ dtype: t.dtype, dims: t.dims });

/** Ops that act on each position alone when their reduced or contracted axis is not the sequence's. */
const ROW_OPS = new Set(['layer_norm', 'rms_norm']);
const AXIS_OPS = new Set(['softmax', 'log_softmax']);

interface Mapped {
  readonly v: Value;
  /** The value's sequence axis in the decode graph, or -1. */
  readonly axis: number;
}

class DecodeBuilder {
  private readonly b = new GraphBuilder();
  private readonly map = new Map<number, Mapped>();
  private positions!: Value;
  readonly cache: CacheEntry[] = [];
  /** Per cache entry: the forward graph's k and v values (the prefill's extra outputs). */
  readonly cacheValues: [number, number][] = [];
  private readonly written: Value[] = [];

  constructor(
    private readonly g: Graph,
    private readonly seqAxes: ReadonlyMap<string, number>,
    private readonly M: number,
    private readonly B: number,
  ) {}

  run(): DecodeProblem | undefined {
    const { g, b } = this;
    for (const v of g.values) {
      if (v.kind === 'op') continue;
      const { id: _id, ...rest } = v;
      const axis = v.kind === 'input' ? (this.seqAxes.get(v.name!) ?? -1) : -1;
      if (axis >= 0 && dimValue(v.type.dims[axis]!) !== this.M)
        return { detail: `input ${v.name} has ${dimValue(v.type.dims[axis]!)} positions, not the ${this.M} the model was lowered at` };
      const type = axis >= 0 ? unlaid({ ...v.type, dims: v.type.dims.map((x, k) => (k === axis ? dimConst(1) : x)) }) : v.type;
      this.map.set(v.id, { v: b.addValue({ ...rest, type }), axis });
    }
    this.positions = b.addValue({ kind: 'input', name: POSITIONS, type: i32([this.B]) });
    for (const n of g.nodes) {
      const p = this.node(n);
      if (p) return { detail: p, span: n.span };
    }
    for (const [k, o] of g.outputs.entries()) {
      if (this.map.get(o)!.axis < 0) return { detail: `output ${g.outputNames[k]} has no sequence axis, so it is not one row per position` };
    }
    return undefined;
  }

  finish(): Graph {
    const outs = [...this.g.outputs.map((o) => this.map.get(o)!.v), ...this.written];
    const names = [...this.g.outputNames, ...this.cache.flatMap((c) => [`new.${c.k}`, `new.${c.v}`])];
    return this.b.finish(this.g.name, outs, names);
  }

  updates() {
    return this.cache.flatMap((c) => [c.k, c.v].map((p) => ({ output: `new.${p}`, param: p })));
  }

  private add(n: Node, op: string, ins: readonly Value[], types: readonly TType[], attrs: Attrs): Value[] {
    return this.b.addNode(op, ins, types, attrs, n.span, n.scope);
  }

  /** Adds `n`'s decode form; a problem's text when there is none. */
  private node(n: Node): string | undefined {
    const ins = n.inputs.map((i) => this.map.get(i)!);
    const set = (outs: readonly Value[], axis: number) => n.outputs.forEach((o, k) => this.map.set(o, { v: outs[k]!, axis }));
    const seq = ins.filter((x) => x.axis >= 0);
    if (n.op === 'slice' && !seq.length && this.positional(n)) return this.positionalSlice(n, ins[0]!.v, set);
    if (!seq.length) {
      set(
        this.add(
          n,
          n.op,
          ins.map((x) => x.v),
          n.outputs.map((o) => this.g.values[o]!.type),
          n.attrs,
        ),
        -1,
      );
      return undefined;
    }
    if (n.op === 'attention') return this.attention(n, ins, set);
    if (n.op === 'rotary') return this.rotary(n, ins[0]!, set);
    const outRank = (types: readonly TType[]) => types[0]!.dims.length;
    const rightAligned = (types: readonly TType[]) => {
      const at = new Set(seq.map((x) => outRank(types) - (x.v.type.dims.length - x.axis)));
      return at.size === 1 ? [...at][0]! : undefined;
    };
    let axis: number | undefined;
    const types = this.infer(n, ins);
    if (typeof types === 'string') return types;
    const last = (x: Mapped) => x.axis === x.v.type.dims.length - 1;
    if (elementwiseOf(n.op, n.attrs) || n.op === 'dropout' || n.op === 'cast') axis = rightAligned(types);
    else if (n.op === 'matmul') axis = ins[1]!.axis < 0 && !last(ins[0]!) ? rightAligned(types) : undefined;
    else if (ROW_OPS.has(n.op)) axis = ins[0]!.axis >= 0 && !last(ins[0]!) && seq.length === 1 ? ins[0]!.axis : undefined;
    else if (AXIS_OPS.has(n.op)) axis = (n.attrs['axis'] as number) !== ins[0]!.axis ? ins[0]!.axis : undefined;
    else if (n.op === 'embedding') axis = ins[0]!.axis < 0 ? ins[1]!.axis : undefined;
    else if (n.op === 'transpose') axis = (n.attrs['perm'] as readonly number[]).indexOf(ins[0]!.axis);
    if (axis === undefined || axis < 0) return `${n.op} mixes positions here (only position-wise ops and causal attention decode one position at a time)`;
    set(
      this.add(
        n,
        n.op,
        ins.map((x) => x.v),
        types,
        n.attrs,
      ),
      axis,
    );
    return undefined;
  }

  /** A slice of a table (no sequence axis) whose result has M rows along its axis: the rows at the positions. */
  private positional(n: Node): boolean {
    const out = this.g.values[n.outputs[0]!]!.type;
    return dimValue(out.dims[n.attrs['axis'] as number]!) === this.M;
  }

  private positionalSlice(n: Node, table: Value, set: (outs: readonly Value[], axis: number) => void): string | undefined {
    const start = dimValue(n.attrs['start'] as never);
    if (table.type.dims.length !== 2 || n.attrs['axis'] !== 0 || start === undefined)
      return 'a slice along the sequence is decoded as a gather of rows of a [rows, width] table along dim 0 only';
    let ids = this.add(n, 'reshape', [this.positions], [i32([this.B, 1])], { shape: [dimConst(this.B), dimConst(1)] })[0]!;
    if (start !== 0) {
      const k = this.b.addValue({ kind: 'const', type: i32([]), scalar: start });
      ids = this.add(n, 'add', [ids, k], [i32([this.B, 1])], {})[0]!;
    }
    const width = dimValue(table.type.dims[1]!)!;
    set(this.add(n, 'embedding', [table, ids], [{ dtype: table.type.dtype, dims: [dimConst(this.B), dimConst(1), dimConst(width)] }], {}), 1);
    return undefined;
  }

  private attention(n: Node, ins: readonly Mapped[], set: (outs: readonly Value[], axis: number) => void): string | undefined {
    if (!n.attrs['causal']) return 'attention is not causal: every position attends to later ones, so a position cannot be computed before them';
    if (n.attrs['has_mask']) return 'attention with a mask is not decoded yet';
    const [q, k, v] = ins as [Mapped, Mapped, Mapped];
    if (q.axis !== 1 || k.axis !== 1 || v.axis !== 1) return 'attention whose queries, keys and values are not [B, S, width] along the sequence';
    const kShape = shapeOf(this.g.values[n.inputs[1]!]!.type);
    if (kShape[1] !== this.M || shapeOf(this.g.values[n.inputs[0]!]!.type)[1] !== this.M) return 'attention over a length other than the sequence';
    const idx = this.cache.length;
    const entry: CacheEntry = { k: `cache.k.${idx}`, v: `cache.v.${idx}`, shape: kShape, scope: n.scope };
    const ck = this.b.addValue({ kind: 'param', name: entry.k, type: f32(kShape), init: { kind: 'constant', value: 0 } });
    const cv = this.b.addValue({ kind: 'param', name: entry.v, type: f32(kShape), init: { kind: 'constant', value: 0 } });
    const kc = this.add(n, 'kv_write', [ck, k.v, this.positions], [ck.type], {})[0]!;
    const vc = this.add(n, 'kv_write', [cv, v.v, this.positions], [cv.type], {})[0]!;
    const attrs = { heads: n.attrs['heads']!, kv_heads: n.attrs['kv_heads']!, scale: n.attrs['scale']! };
    set(this.add(n, 'attention_decode', [q.v, kc, vc, this.positions], [unlaid(q.v.type)], attrs), 1);
    this.cache.push(entry);
    this.cacheValues.push([n.inputs[1]!, n.inputs[2]!]);
    this.written.push(kc, vc);
    return undefined;
  }

  /**
   * Rotary turns row r of its sequence axis by the angle of position r; at one position per
   * sequence, the angle is the sequence's own position, read from the step's positions.
   */
  private rotary(n: Node, x: Mapped, set: (outs: readonly Value[], axis: number) => void): string | undefined {
    const dims = x.v.type.dims;
    if (n.inputs.length !== 1) return 'rotary that already takes positions';
    if (dims.length !== 3 || x.axis !== 1 || dimValue(dims[0]!) !== this.B)
      return 'rotary whose input is not [B, S, width] along the sequence (its angles follow the axis before the width)';
    set(this.add(n, 'rotary', [x.v, this.positions], [unlaid(x.v.type)], n.attrs), 1);
    return undefined;
  }

  /** The node's result types at its decode inputs, from its op's shape rule; a problem's text when the rule refuses them. */
  private infer(n: Node, ins: readonly Mapped[]): readonly TType[] | string {
    const op = OPS.get(n.op);
    if (!op || !('infer' in op)) return `${n.op} has no shape rule to decode with`;
    const byName = new Map<string, number | number[]>();
    let i = 0;
    for (const a of op.args) {
      if (a.kind === 'tensors') {
        byName.set(
          a.name,
          ins.slice(i).map((_, k) => i + k),
        );
        i = ins.length;
      } else if (a.kind === 'tensor' && !(a.default === null && !n.attrs[`has_${a.name}`])) byName.set(a.name, i++);
    }
    let failed = '';
    const tensor = (k: string) => ins[byName.get(k) as number]!.v.type;
    const attr = (k: string) => n.attrs[k] as never;
    const ctx: InferCtx = {
      op: n.op,
      tensor,
      optTensor: (k) => (byName.has(k) ? tensor(k) : undefined),
      tensors: (k) => (byName.get(k) as number[]).map((j) => ins[j]!.v.type),
      int: attr,
      num: attr,
      bool: attr,
      str: attr,
      dim: attr,
      dims: attr,
      ints: attr,
      set: () => undefined,
      error: (code, ...args) => {
        failed = `${code} ${args.join(', ')}`;
        return undefined;
      },
    };
    const types = op.infer(ctx);
    if (!types || failed) return `${n.op} does not take its inputs at one position (${failed || 'no result'})`;
    return types.map(unlaid);
  }
}
