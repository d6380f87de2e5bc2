/**
 * An mdc forward graph (at concrete dims) as an ONNX model: each op maps to the ONNX
 * operator with the same meaning, or to a short standard decomposition (attention becomes
 * Reshape/Transpose/MatMul/Softmax with an additive causal mask, rotary a cos/sin table).
 * The table EXPORT below is the one place that says how an op exports; an op it lacks is
 * refused with MDC0601 at each place the model uses it, all of them at once.
 *
 * Parameters become initializers named by their dotted paths (`Layer.0.Attention.wq`);
 * inputs and outputs keep the model's names. f16 and bf16 values are exported as float:
 * mdc computes them in f32 and rounds on store, which ONNX Runtime does not, so such
 * models agree only to f16's precision.
 */
import { diag, type Diagnostic } from '../../diagnostics/messages.js';
import { dimValue, type Dim } from '../dims.js';
import type { Graph, Node, Value } from '../ir.js';
import { MASKED, relativeBucket, type RelativeBiasAttrs } from '../ops/relative.js';
import { attrFloat, attrInt, attrInts, attrStr, DT, encodeModel, type AttributeProto, type NodeProto, type TensorProto } from './proto.js';

/** Opset 20: LayerNormalization (17), Reduce* with axes as an input (18), Gelu with `approximate` (20). */
export const ONNX_OPSET = 20;

export interface OnnxExport {
  /** The serialised ModelProto, when every op mapped. */
  readonly bytes?: Uint8Array;
  /** ONNX operator types used, in order of first use. */
  readonly opTypes: readonly string[];
  /** MDC0601 for each op (and place) that has no ONNX form; empty when `bytes` is there. */
  readonly diagnostics: readonly Diagnostic[];
}

export interface ExportOptions {
  /** The source file, for the diagnostics' locations. */
  readonly file?: string;
  /** `producer_name` in the model (default: mdc). */
  readonly producer?: string;
  /**
   * Parameters that become graph inputs rather than initializers: a decode step's KV cache
   * (`cache.k.<n>`, `cache.v.<n>`), fed as past keys and values, whose updated values are the
   * graph's `new.cache.*` outputs. They need no entry in `params`.
   */
  readonly paramInputs?: readonly string[];
}

/** What an export rule may do: read a node's operands and emit ONNX nodes and constants. */
export interface ExportCtx {
  readonly ins: readonly string[];
  readonly outs: readonly string[];
  readonly vin: readonly Value[];
  readonly vout: readonly Value[];
  /** Emits a node writing `output`. */
  emit(opType: string, input: readonly string[], output: readonly string[], attribute?: AttributeProto[]): void;
  /** Emits a one-output node into a fresh name and returns it. */
  op(opType: string, input: readonly string[], attribute?: AttributeProto[]): string;
  f32(hint: string, dims: readonly number[], data: Float32Array): string;
  i64(hint: string, data: readonly number[]): string;
  i32(hint: string, data: readonly number[]): string;
}

/** How one mdc op becomes ONNX; returns a reason instead when this node's attributes have no ONNX form. */
type ExportRule = (x: ExportCtx, a: Node['attrs']) => void | string;

export const shapeOf = (v: Value) => v.type.dims.map((d: Dim) => dimValue(d)!);
const num = (a: Node['attrs'], k: string) => a[k] as number;

const same =
  (opType: string): ExportRule =>
  (x) =>
    x.emit(opType, x.ins, x.outs);

const reduce =
  (opType: string): ExportRule =>
  (x, a) =>
    x.emit(opType, [x.ins[0]!, x.i64('axes', [num(a, 'axis')])], x.outs, [attrInt('keepdims', a['keepdim'] ? 1 : 0)]);

/**
 * Every mdc op that exports, by name. Ops that only training or partitioning make
 * (gradients, collectives) never occur in a forward graph and are absent; the two a decode
 * step adds (kv_write, attention_decode) are here, so that the decode graph exports too.
 */
export const EXPORT: Readonly<Record<string, ExportRule>> = {
  neg: same('Neg'),
  abs: same('Abs'),
  relu: same('Relu'),
  exp: same('Exp'),
  log: same('Log'),
  sqrt: same('Sqrt'),
  tanh: same('Tanh'),
  sigmoid: same('Sigmoid'),
  softplus: same('Softplus'),
  add: same('Add'),
  sub: same('Sub'),
  mul: same('Mul'),
  div: same('Div'),
  pow: same('Pow'),
  maximum: same('Max'),
  minimum: same('Min'),
  matmul: same('MatMul'),
  sum: reduce('ReduceSum'),
  mean: reduce('ReduceMean'),
  max: reduce('ReduceMax'),
  min: reduce('ReduceMin'),
  rsqrt: (x) => x.emit('Reciprocal', [x.op('Sqrt', x.ins)], x.outs),
  silu: (x) => x.emit('Mul', [x.ins[0]!, x.op('Sigmoid', x.ins)], x.outs),
  gelu: (x, a) => x.emit('Gelu', x.ins, x.outs, [attrStr('approximate', a['approximate'] === 'tanh' ? 'tanh' : 'none')]),
  fast_gelu: (x) => x.emit('Gelu', x.ins, x.outs, [attrStr('approximate', 'tanh')]),
  softmax: (x, a) => x.emit('Softmax', x.ins, x.outs, [attrInt('axis', num(a, 'axis'))]),
  log_softmax: (x, a) => x.emit('LogSoftmax', x.ins, x.outs, [attrInt('axis', num(a, 'axis'))]),
  dropout: (x, a) => (a['training'] ? 'dropout in training mode' : x.emit('Identity', x.ins, x.outs)),
  cast: (x, a) => {
    const to = ELEM[a['dtype'] as string];
    if (to === undefined) return `cast to ${String(a['dtype'])}`;
    x.emit('Cast', x.ins, x.outs, [attrInt('to', to)]);
  },
  where: (x) => {
    // ONNX wants a bool condition; mdc reads any nonzero element as true.
    const cond = x.vin[0]!.type.dtype === 'bool' ? x.ins[0]! : x.op('Cast', [x.ins[0]!], [attrInt('to', DT.BOOL)]);
    x.emit('Where', [cond, x.ins[1]!, x.ins[2]!], x.outs);
  },
  expand: (x) => x.emit('Expand', [x.ins[0]!, x.i64('shape', shapeOf(x.vout[0]!))], x.outs),
  layer_norm: (x, a) => {
    const d = shapeOf(x.vin[0]!).at(-1)!;
    let k = 1;
    const scale = a['has_weight'] ? x.ins[k++]! : x.f32('ones', [d], new Float32Array(d).fill(1));
    const bias = a['has_bias'] ? [x.ins[k++]!] : [];
    x.emit('LayerNormalization', [x.ins[0]!, scale, ...bias], x.outs, [attrInt('axis', -1), attrFloat('epsilon', num(a, 'eps'))]);
  },
  rms_norm: (x, a) => {
    const eps = x.f32('eps', [], Float32Array.of(num(a, 'eps')));
    const ms = x.op('ReduceMean', [x.op('Mul', [x.ins[0]!, x.ins[0]!]), x.i64('axes', [-1])], [attrInt('keepdims', 1)]);
    const normed = x.op('Mul', [x.ins[0]!, x.op('Reciprocal', [x.op('Sqrt', [x.op('Add', [ms, eps])])])]);
    x.emit(a['has_weight'] ? 'Mul' : 'Identity', a['has_weight'] ? [normed, x.ins[1]!] : [normed], x.outs);
  },
  embedding: (x) => {
    // The `start` operand only appears on a vocabulary-split table, after partitioning.
    if (x.ins.length > 2) return 'an embedding with a start row';
    x.emit('Gather', x.ins, x.outs, [attrInt('axis', 0)]);
  },
  slice: (x, a) => {
    const start = dimValue(a['start'] as Dim)!;
    const end = dimValue(a['end'] as Dim)!;
    x.emit('Slice', [x.ins[0]!, x.i64('starts', [start]), x.i64('ends', [end]), x.i64('axes', [num(a, 'axis')])], x.outs);
  },
  transpose: (x, a) => x.emit('Transpose', x.ins, x.outs, [attrInts('perm', a['perm'] as number[])]),
  reshape: (x) => x.emit('Reshape', [x.ins[0]!, x.i64('shape', shapeOf(x.vout[0]!))], x.outs),
  concat: (x, a) => x.emit('Concat', x.ins, x.outs, [attrInt('axis', num(a, 'axis'))]),
  conv2d: (x, a) => {
    const p = num(a, 'padding');
    const s = num(a, 'stride');
    x.emit('Conv', x.ins, x.outs, [attrInts('strides', [s, s]), attrInts('pads', [p, p, p, p])]);
  },
  patchify: (x, a) => {
    const [B, C, H, W] = shapeOf(x.vin[0]!) as [number, number, number, number];
    const p = num(a, 'patch');
    const blocks = x.op('Reshape', [x.ins[0]!, x.i64('shape', [B, C, H / p, p, W / p, p])]);
    const ordered = x.op('Transpose', [blocks], [attrInts('perm', [0, 2, 4, 1, 3, 5])]); // [B, gh, gw, C, p, p]
    x.emit('Reshape', [ordered, x.i64('shape', shapeOf(x.vout[0]!))], x.outs);
  },
  topk: (x, a) => {
    // ONNX's TopK also puts the lower index first among equal values; its indices are int64.
    const indices = `${x.outs[1]!}_i64`;
    x.emit('TopK', [x.ins[0]!, x.i64('k', [num(a, 'k')])], [x.outs[0]!, indices], [attrInt('axis', -1), attrInt('largest', 1), attrInt('sorted', 1)]);
    x.emit('Cast', [indices], [x.outs[1]!], [attrInt('to', DT.INT32)]);
  },
  rotary: (x, a) => rotary(x, a),
  attention: (x, a) => attention(x, a),
  kv_write: (x) => kvWrite(x),
  attention_decode: (x, a) => attentionDecode(x, a),
  relative_position_bias: (x, a) => relativeBias(x, a as unknown as RelativeBiasAttrs),
};

const ELEM: Readonly<Record<string, number>> = { f32: DT.FLOAT, f16: DT.FLOAT, bf16: DT.FLOAT, i32: DT.INT32, bool: DT.BOOL };

/**
 * Rotary embedding as x·cos + rotate_half(x)·sin per head, with rotate_half(x) = [−x₂, x₁]
 * on each head's halves and the cos/sin tables computed here in float64 from the formula.
 * A decode step's rotary (input 1: each sequence's position) computes its angles at run
 * time instead: (position + row + offset) · θ^(−2j/Dh).
 */
function rotary(x: ExportCtx, a: Node['attrs']) {
  const shape = shapeOf(x.vin[0]!);
  const [S, W] = shape.slice(-2) as [number, number];
  const H = num(a, 'heads');
  const Dh = W / H;
  const half = Dh / 2;
  const freq = (c: number) => Math.pow(num(a, 'theta'), (-2 * ((c % Dh) % half)) / Dh);
  let cosT: string;
  let sinT: string;
  if (x.ins.length > 1) {
    const pos = x.op('Cast', [x.ins[1]!], [attrInt('to', DT.FLOAT)]);
    const at = x.op('Reshape', [pos, x.i64('shape', [...shape.slice(0, -2), 1, 1])]);
    const rowPositions = Float32Array.from({ length: S }, (_, r) => r + num(a, 'offset'));
    const freqs = Float32Array.from({ length: W }, (_, c) => freq(c));
    const angle = x.op('Mul', [x.op('Add', [at, x.f32('rows', [S, 1], rowPositions)]), x.f32('freq', [W], freqs)]);
    [cosT, sinT] = [x.op('Cos', [angle]), x.op('Sin', [angle])];
  } else {
    const cos = new Float32Array(S * W);
    const sin = new Float32Array(S * W);
    for (let s = 0; s < S; s++) {
      for (let c = 0; c < W; c++) {
        const angle = (s + num(a, 'offset')) * freq(c);
        cos[s * W + c] = Math.cos(angle);
        sin[s * W + c] = Math.sin(angle);
      }
    }
    [cosT, sinT] = [x.f32('cos', [S, W], cos), x.f32('sin', [S, W], sin)];
  }
  const input = x.ins[0]!;
  const halves = x.op('Reshape', [input, x.i64('shape', [...shape.slice(0, -1), H, 2, half])]);
  const x1 = x.op('Slice', [halves, x.i64('starts', [0]), x.i64('ends', [1]), x.i64('axes', [-2])]);
  const x2 = x.op('Slice', [halves, x.i64('starts', [1]), x.i64('ends', [2]), x.i64('axes', [-2])]);
  const rotated = x.op('Reshape', [x.op('Concat', [x.op('Neg', [x2]), x1], [attrInt('axis', -2)]), x.i64('shape', shape)]);
  const c = x.op('Mul', [input, cosT]);
  const s = x.op('Mul', [rotated, sinT]);
  x.emit('Add', [c, s], x.outs);
}

/**
 * T5's bias as a Gather of the table's rows by a constant bucket index per (query, key),
 * computed here by the op's own bucket rule, then heads first; a causal bias puts −1e9 on
 * later keys with Where, as the op does (replaced, not added).
 */
function relativeBias(x: ExportCtx, a: RelativeBiasAttrs) {
  const [H, Sq, Sk] = shapeOf(x.vout[0]!) as [number, number, number];
  const NB = shapeOf(x.vin[0]!)[0]!;
  const ids: number[] = [];
  const later: number[] = [];
  for (let i = 0; i < Sq; i++)
    for (let j = 0; j < Sk; j++) {
      ids.push(relativeBucket(j - i, NB, a));
      later.push(j > i ? 1 : 0);
    }
  const rows = x.op('Gather', [x.ins[0]!, x.i64('buckets', ids)], [attrInt('axis', 0)]);
  const bias = x.op('Reshape', [rows, x.i64('shape', [Sq, Sk, H])]);
  if (!a.causal) return x.emit('Transpose', [bias], x.outs, [attrInts('perm', [2, 0, 1])]);
  const heads = x.op('Transpose', [bias], [attrInts('perm', [2, 0, 1])]);
  const mask = x.op('Cast', [x.op('Reshape', [x.i64('later', later), x.i64('shape', [Sq, Sk])])], [attrInt('to', DT.BOOL)]);
  x.emit('Where', [mask, x.f32('masked', [], Float32Array.of(MASKED)), heads], x.outs);
}

/**
 * Scaled dot-product attention, grouped-query form: heads are split as (kv_heads, group)
 * so that one MatMul broadcasts each KV head over its group of query heads.
 */
function attention(x: ExportCtx, a: Node['attrs']) {
  const [B, Sq] = shapeOf(x.vin[0]!) as [number, number];
  const Sk = shapeOf(x.vin[1]!)[1]!;
  const masks: string[] = [];
  if (a['causal']) {
    // Query i sits at position i + Sk − Sq; it may see keys j ≤ that position.
    const mask = new Float32Array(Sq * Sk);
    for (let i = 0; i < Sq; i++) for (let j = 0; j < Sk; j++) mask[i * Sk + j] = j <= i + Sk - Sq ? 0 : -Infinity;
    masks.push(x.f32('causal_mask', [Sq, Sk], mask));
  }
  if (a['has_mask']) {
    // mask[B, Sk]: keys with 0 get −∞ before the softmax.
    const zero = x.vin[3]!.type.dtype === 'i32' ? x.i32('zero', [0]) : x.f32('zero', [], Float32Array.of(0));
    const blocked = x.op('Equal', [x.ins[3]!, zero]);
    const additive = x.op('Where', [blocked, x.f32('neg_inf', [], Float32Array.of(-Infinity)), x.f32('zero_f', [], Float32Array.of(0))]);
    masks.push(x.op('Reshape', [additive, x.i64('shape', [B, 1, 1, 1, Sk])]));
  }
  x.emit('Reshape', [headsAttention(x, x.ins[0]!, x.ins[1]!, x.ins[2]!, a, masks), x.i64('shape', shapeOf(x.vout[0]!))], x.outs);
}

/**
 * softmax(q·kᵀ·scale + masks)·v over heads; returns [B, Sq, KVH, G, Dh] for the caller to
 * reshape to [B, Sq, W]. `masks` are additive and broadcast against [B, KVH, G, Sq, Sk].
 */
function headsAttention(x: ExportCtx, qIn: string, kIn: string, vIn: string, a: Node['attrs'], masks: readonly string[]): string {
  const [B, Sq, W] = shapeOf(x.vin[0]!) as [number, number, number];
  const Sk = shapeOf(x.vin[1]!)[1]!;
  const H = num(a, 'heads');
  const KVH = num(a, 'kv_heads');
  const G = H / KVH;
  const Dh = W / H;
  const reshape = (v: string, s: number[]) => x.op('Reshape', [v, x.i64('shape', s)]);
  const transpose = (v: string, perm: number[]) => x.op('Transpose', [v], [attrInts('perm', perm)]);
  const q = transpose(reshape(qIn, [B, Sq, KVH, G, Dh]), [0, 2, 3, 1, 4]); // [B, KVH, G, Sq, Dh]
  const kT = transpose(reshape(kIn, [B, Sk, KVH, 1, Dh]), [0, 2, 3, 4, 1]); // [B, KVH, 1, Dh, Sk]
  const v = transpose(reshape(vIn, [B, Sk, KVH, 1, Dh]), [0, 2, 3, 1, 4]); // [B, KVH, 1, Sk, Dh]
  let scores = x.op('Mul', [x.op('MatMul', [q, kT]), x.f32('scale', [], Float32Array.of(num(a, 'scale')))]);
  for (const m of masks) scores = x.op('Add', [scores, m]);
  const p = x.op('Softmax', [scores], [attrInt('axis', -1)]);
  return transpose(x.op('MatMul', [p, v]), [0, 3, 1, 2, 4]); // [B, Sq, KVH, G, Dh]
}

/** The positions [B] as [B, 1, 1] beside a constant 0..M−1 as [1, M, 1]: compared, they pick each sequence's cache rows. */
function positionGrid(x: ExportCtx, B: number, M: number): { pos: string; rows: string } {
  const pos = x.op('Reshape', [x.ins.at(-1)!, x.i64('shape', [B, 1, 1])]);
  const rows = x.op('Reshape', [
    x.i32(
      'rows',
      Array.from({ length: M }, (_, j) => j),
    ),
    x.i64('shape', [1, M, 1]),
  ]);
  return { pos, rows };
}

/**
 * kv_write(cache[B, M, W], row[B, 1, W], pos[B]) as Where(m = pos[b], row, cache): the whole
 * cache is rewritten, as mdc's kernel does, and a position outside [0, M) matches no row, so
 * it writes nothing, as the op says.
 */
function kvWrite(x: ExportCtx) {
  const [B, M] = shapeOf(x.vin[0]!) as [number, number];
  const { pos, rows } = positionGrid(x, B, M);
  x.emit('Where', [x.op('Equal', [rows, pos]), x.ins[1]!, x.ins[0]!], x.outs);
}

/**
 * attention_decode(q[B, 1, W], k, v[B, M, KW], pos[B]): attention with keys m > pos[b]
 * masked to −∞. A negative position sees nothing and gives zeros, as mdc's kernel does
 * (the all-masked softmax is NaN, which the final Where replaces).
 */
function attentionDecode(x: ExportCtx, a: Node['attrs']) {
  const [B, , W] = shapeOf(x.vin[0]!) as [number, number, number];
  const M = shapeOf(x.vin[1]!)[1]!;
  const { pos, rows } = positionGrid(x, B, M);
  const later = x.op('Reshape', [x.op('Greater', [rows, pos]), x.i64('shape', [B, 1, 1, 1, M])]);
  const mask = x.op('Where', [later, x.f32('neg_inf', [], Float32Array.of(-Infinity)), x.f32('zero_f', [], Float32Array.of(0))]);
  const o = x.op('Reshape', [headsAttention(x, x.ins[0]!, x.ins[1]!, x.ins[2]!, a, [mask]), x.i64('shape', [B, 1, W])]);
  const seen = x.op('GreaterOrEqual', [pos, x.i32('zero', [0])]);
  x.emit('Where', [seen, o, x.f32('zero_f', [], Float32Array.of(0))], x.outs);
}

const bytesOf = (a: Float32Array | Int32Array | BigInt64Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/**
 * mdc graph → ONNX model. `params` holds every parameter's values by name (those the
 * device would use: seeded or loaded). Refuses, with a diagnostic per op and place, a
 * graph using ops that have no ONNX form; nothing is serialised then.
 */
export function exportOnnx(g: Graph, params: ReadonlyMap<string, Float32Array>, opts: ExportOptions = {}): OnnxExport {
  const diagnostics: Diagnostic[] = [];
  const seen = new Set<string>();
  for (const n of g.nodes) {
    const why = EXPORT[n.op] ? undefined : 'it has no ONNX mapping';
    const key = `${n.op}@${n.span.start}`;
    if (why && !seen.has(key)) {
      seen.add(key);
      diagnostics.push(diag(opts.file ?? g.name, n.span, 'MDC0601', n.op, 'onnx', why));
    }
  }
  if (diagnostics.length) return { opTypes: [], diagnostics };
  const fed = new Set(opts.paramInputs ?? []);
  for (const name of fed) if (!g.values.some((v) => v.kind === 'param' && v.name === name)) throw new Error(`ONNX export: no param '${name}' to make an input`);
  for (const v of g.values) {
    if (v.kind === 'param' && !fed.has(v.name!) && !params.has(v.name!)) throw new Error(`ONNX export: no value for param '${v.name}'`);
    if (ELEM[v.type.dtype] === undefined) throw new Error(`ONNX export: dtype ${v.type.dtype} has no ONNX form`);
  }

  const nodes: NodeProto[] = [];
  const inits: TensorProto[] = [];
  const names = new Map<number, string>();
  let fresh = 0;
  const tmp = (hint: string) => `${hint}_${fresh++}`;
  const name = (id: number) => names.get(id) ?? `v${id}`;
  const f32 = (n: string, dims: readonly number[], data: Float32Array) => {
    inits.push({ name: n, dims: [...dims], dataType: DT.FLOAT, rawData: bytesOf(data) });
    return n;
  };
  const emit = (opType: string, input: readonly string[], output: readonly string[], attribute: AttributeProto[] = []) =>
    void nodes.push({ opType, input: [...input], output: [...output], attribute, name: `${opType}_${nodes.length}` });
  const ctxBase = {
    emit,
    op: (opType: string, input: readonly string[], attribute: AttributeProto[] = []) => {
      const out = tmp(opType.toLowerCase());
      emit(opType, input, [out], attribute);
      return out;
    },
    f32: (hint: string, dims: readonly number[], data: Float32Array) => f32(tmp(hint), dims, data),
    i64: (hint: string, data: readonly number[]) => {
      const n = tmp(hint);
      inits.push({ name: n, dims: [data.length], dataType: DT.INT64, rawData: bytesOf(BigInt64Array.from(data, (x) => BigInt(x))) });
      return n;
    },
    i32: (hint: string, data: readonly number[]) => {
      const n = tmp(hint);
      inits.push({ name: n, dims: data.length === 1 ? [] : [data.length], dataType: DT.INT32, rawData: bytesOf(Int32Array.from(data)) });
      return n;
    },
  };

  for (const v of g.values) {
    if (v.kind === 'input' || (v.kind === 'param' && fed.has(v.name!))) names.set(v.id, v.name!);
    else if (v.kind === 'param') names.set(v.id, f32(v.name!, shapeOf(v), params.get(v.name!)!));
    else if (v.kind === 'const') {
      const n = `const${v.id}`;
      if (v.type.dtype === 'i32') inits.push({ name: n, dims: [], dataType: DT.INT32, rawData: bytesOf(Int32Array.of(v.scalar!)) });
      else f32(n, [], Float32Array.of(v.scalar!));
      names.set(v.id, n);
    }
  }
  g.outputs.forEach((id, i) => names.set(id, g.outputNames[i]!));

  for (const n of g.nodes) {
    const x: ExportCtx = {
      ...ctxBase,
      ins: n.inputs.map(name),
      outs: n.outputs.map(name),
      vin: n.inputs.map((id) => g.values[id]!),
      vout: n.outputs.map((id) => g.values[id]!),
    };
    const why = EXPORT[n.op]!(x, n.attrs);
    if (typeof why === 'string') diagnostics.push(diag(opts.file ?? g.name, n.span, 'MDC0601', n.op, 'onnx', why));
  }
  if (diagnostics.length) return { opTypes: [], diagnostics };

  const info = (id: number) => {
    const v = g.values[id]!;
    return { name: name(id), type: { tensorType: { elemType: ELEM[v.type.dtype]!, shape: { dim: shapeOf(v).map((d) => ({ dimValue: d })) } } } };
  };
  const inputs = [...g.inputs, ...g.values.filter((v) => v.kind === 'param' && fed.has(v.name!)).map((v) => v.id)];
  const bytes = encodeModel({
    irVersion: 9,
    producerName: opts.producer ?? 'mdc',
    opsetImport: [{ domain: '', version: ONNX_OPSET }],
    graph: { name: g.name, node: nodes, initializer: inits, input: inputs.map(info), output: g.outputs.map(info) },
  });
  return { bytes, opTypes: [...new Set(nodes.map((x) => x.opType!))], diagnostics };
}
