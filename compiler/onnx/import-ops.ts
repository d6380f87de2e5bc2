/**
 * How each ONNX operator becomes `.model` source: the one table of the import direction
 * (export.ts holds the other). A rule reads its node's operands through an ImportCtx and
 * defines its outputs, either as an expression over names already in the source or, when
 * every operand is a constant (the shape arithmetic exporters leave in graphs), as a
 * constant folded here. A rule that meets a form mdc cannot express throws a Refusal
 * saying what it is; operators absent from the table are named as unsupported.
 */
import type { DType } from '../types.js';
import { attr, toNumber, DT, type NodeProto } from './proto.js';

export type Values = { readonly kind: 'float'; readonly data: Float32Array } | { readonly kind: 'int'; readonly data: readonly number[] };

/** A value while importing: its static shape and dtype, and its source expression or its constant values. */
export interface Operand {
  readonly shape: readonly number[];
  readonly dtype: DType;
  /** A name in the source (input, param or let) or a literal. */
  readonly expr?: string;
  /** Known at import time. */
  readonly k?: Values;
}

export class Refusal extends Error {}

export interface ImportCtx {
  readonly node: NodeProto;
  readonly opset: number;
  /** Input i, or undefined when absent (optional inputs are ''). */
  input(i: number): Operand | undefined;
  /** Input i as a tensor expression: a float constant becomes a param; an integer constant is refused. */
  tensor(i: number): string;
  /** Input i as a literal when it is a one-element float constant, else as tensor(i). */
  operand(i: number): string;
  /** Input i's integer values; it must be a constant. */
  ints(i: number, what: string): number[];
  int(name: string, dflt: number): number;
  float(name: string, dflt: number): number;
  str(name: string, dflt: string): string;
  intList(name: string): number[] | undefined;
  /** Defines output k as an expression (bound to a `let` named after the ONNX value). */
  out(expr: string, shape: readonly number[], dtype: DType, k?: number): void;
  /** Defines output k as another operand (Identity: no new source line). */
  alias(o: Operand, k?: number): void;
  /** Defines output k as a constant. */
  constant(values: Values, shape: readonly number[], k?: number): void;
}

export type ImportRule = (c: ImportCtx) => void;

const need = (o: Operand | undefined, what: string): Operand => {
  if (!o) throw new Refusal(`${what} is missing`);
  return o;
};
const numel = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);
const normAxis = (a: number, rank: number) => {
  const r = a < 0 ? a + rank : a;
  if (r < 0 || r >= Math.max(rank, 1)) throw new Refusal(`axis ${a} is out of range for rank ${rank}`);
  return r;
};
const list = (xs: readonly number[]) => `[${xs.join(', ')}]`;
/** Constants folded here are shape arithmetic: a few numbers. One past this is refused, never allocated. */
const MAX_FOLDED = 1 << 20;
const foldable = (n: number) => {
  if (!(n <= MAX_FOLDED)) throw new Refusal(`folding a constant of ${n} elements (at most ${MAX_FOLDED})`);
  return n;
};

/** NumPy broadcasting of two shapes. */
export function broadcast(a: readonly number[], b: readonly number[]): number[] {
  const r = Math.max(a.length, b.length);
  return Array.from({ length: r }, (_, i) => {
    const x = a[i - r + a.length] ?? 1;
    const y = b[i - r + b.length] ?? 1;
    if (x !== y && x !== 1 && y !== 1) throw new Refusal(`shapes ${list(a)} and ${list(b)} do not broadcast`);
    return x === 1 ? y : x;
  });
}

const unary =
  (fn: string): ImportRule =>
  (c) => {
    const x = need(c.input(0), 'input');
    c.out(`${fn}(${c.tensor(0)})`, x.shape, x.dtype);
  };

const INT_FOLD: Readonly<Record<string, (a: number, b: number) => number>> = {
  '+': (a, b) => a + b,
  '-': (a, b) => a - b,
  '*': (a, b) => a * b,
  '/': (a, b) => Math.trunc(a / b),
};

/** Element-wise with broadcasting; integer constants on both sides fold (shape arithmetic). */
const binary =
  (operator: string, fn?: string): ImportRule =>
  (c) => {
    const a = need(c.input(0), 'input A');
    const b = need(c.input(1), 'input B');
    const shape = broadcast(a.shape, b.shape);
    if (a.k?.kind === 'int' && b.k?.kind === 'int' && INT_FOLD[operator]) {
      const f = INT_FOLD[operator]!;
      const av = a.k.data;
      const bv = b.k.data;
      // Shape arithmetic is on scalars and equal-length lists; other broadcasts are not indexed this simply.
      if (av.length !== 1 && bv.length !== 1 && a.shape.join() !== b.shape.join()) throw new Refusal(`folding ${list(a.shape)} ${operator} ${list(b.shape)}`);
      return c.constant({ kind: 'int', data: Array.from({ length: foldable(numel(shape)) }, (_, i) => f(av[i % av.length]!, bv[i % bv.length]!)) }, shape);
    }
    const dtype = a.expr !== undefined || a.k?.kind === 'float' ? a.dtype : b.dtype;
    const [x, y] = [c.operand(0), c.operand(1)];
    c.out(fn ? `${fn}(${x}, ${y})` : `${x} ${operator} ${y}`, shape, dtype);
  };

const reduce =
  (fn: string): ImportRule =>
  (c) => {
    const x = need(c.input(0), 'input');
    const keep = c.int('keepdims', 1) === 1;
    const given = c.input(1) ? c.ints(1, 'axes') : c.intList('axes');
    if (!given?.length && c.int('noop_with_empty_axes', 0)) return c.alias(x);
    const axes = [...new Set((given?.length ? given : x.shape.map((_, i) => i)).map((a) => normAxis(a, x.shape.length)))].sort((p, q) => q - p);
    // Several axes: one reduction per axis, the last first, so the others keep their positions.
    let expr = c.tensor(0);
    let shape = [...x.shape];
    for (const a of axes) {
      expr = `${fn}(${expr}, ${a}${keep ? ', keepdim = true' : ''})`;
      shape = keep ? shape.map((d, i) => (i === a ? 1 : d)) : shape.filter((_, i) => i !== a);
    }
    c.out(expr, shape, x.dtype);
  };

/** Reshape-like ops on constants just relabel the data; on tensors they are `reshape`. */
function reshapeTo(c: ImportCtx, x: Operand, shape: readonly number[]) {
  if (numel(shape) !== numel(x.shape)) throw new Refusal(`cannot reshape ${list(x.shape)} (${numel(x.shape)} elements) to ${list(shape)}`);
  if (x.k) return c.constant(x.k, shape);
  c.out(shape.join() === x.shape.join() ? c.tensor(0) : `reshape(${c.tensor(0)}, ${list(shape)})`, shape, x.dtype);
}

const ONNX_DTYPE: Readonly<Record<number, DType>> = { [DT.FLOAT]: 'f32', [DT.FLOAT16]: 'f16', [DT.INT64]: 'i32', [DT.INT32]: 'i32', [DT.BOOL]: 'bool' };

/** Matmul's result shape (NumPy rules, both operands at least 2-D). */
function matmulShape(a: readonly number[], b: readonly number[]): number[] {
  if (a.length < 2 || b.length < 2) throw new Refusal(`a matmul of ${list(a)} by ${list(b)}: mdc needs both operands of rank ≥ 2`);
  if (a.at(-1) !== b.at(-2)) throw new Refusal(`a matmul of ${list(a)} by ${list(b)}: contraction dims differ`);
  return [...broadcast(a.slice(0, -2), b.slice(0, -2)), a.at(-2)!, b.at(-1)!];
}

/** Slices along each axis (steps of 1), on a constant or as `slice` calls. */
function sliceRule(c: ImportCtx) {
  const x = need(c.input(0), 'data');
  const starts = c.ints(1, 'starts');
  const ends = c.ints(2, 'ends');
  const axes = c.input(3) ? c.ints(3, 'axes') : starts.map((_, i) => i);
  const steps = c.input(4) ? c.ints(4, 'steps') : starts.map(() => 1);
  if (steps.some((s) => s !== 1)) throw new Refusal(`steps ${list(steps)}: mdc slices with step 1 only`);
  const shape = [...x.shape];
  const cuts = axes.map((a, i) => {
    const ax = normAxis(a, shape.length);
    const n = shape[ax]!;
    const clamp = (v: number) => Math.min(Math.max(v < 0 ? v + n : v, 0), n);
    const s = clamp(starts[i]!);
    const e = Math.max(clamp(ends[i]!), s);
    shape[ax] = e - s;
    return { ax, s, e };
  });
  // Shape arithmetic folds; a float constant (a weight) is sliced in the source like any tensor.
  if (x.k?.kind === 'int') {
    if (x.shape.length !== 1) throw new Refusal('slicing an integer constant of rank > 1');
    const { s, e } = cuts[0]!;
    return c.constant({ kind: 'int', data: x.k.data.slice(s, e) }, shape);
  }
  let expr = c.tensor(0);
  for (const { ax, s, e } of cuts) if (s !== 0 || e !== x.shape[ax]) expr = `slice(${expr}, ${ax}, ${s}, ${e})`;
  c.out(expr, shape, x.dtype);
}

function gatherRule(c: ImportCtx) {
  const data = need(c.input(0), 'data');
  const idx = need(c.input(1), 'indices');
  const axis = normAxis(c.int('axis', 0), data.shape.length);
  const shape = [...data.shape.slice(0, axis), ...idx.shape, ...data.shape.slice(axis + 1)];
  if (data.k?.kind === 'int' && idx.k?.kind === 'int' && data.shape.length === 1) {
    return c.constant({ kind: 'int', data: idx.k.data.map((i) => data.k!.data[i < 0 ? i + data.shape[0]! : i]!) }, shape);
  }
  if (idx.k?.kind === 'int') {
    // Constant indices that are a run (positions 0..S-1, or one row): a slice.
    const first = idx.k.data[0] ?? 0;
    const start = first < 0 ? first + data.shape[axis]! : first;
    if (idx.k.data.some((v, i) => v !== first + i)) throw new Refusal('constant indices that are not consecutive');
    const sliced = `slice(${c.tensor(0)}, ${axis}, ${start}, ${start + idx.k.data.length})`;
    c.out(numel(idx.shape) === idx.k.data.length && idx.shape.length === 1 ? sliced : `reshape(${sliced}, ${list(shape)})`, shape, data.dtype);
    return;
  }
  if (axis !== 0 || data.shape.length !== 2)
    throw new Refusal(`gathering along axis ${axis} of ${list(data.shape)}: mdc gathers rows of a 2-D table (embedding)`);
  c.out(`embedding(${c.tensor(0)}, ${c.tensor(1)})`, shape, data.dtype);
}

/** Every ONNX operator (default domain) that imports, by op_type. */
export const IMPORT: Readonly<Record<string, ImportRule>> = {
  Neg: unary('neg'),
  Exp: unary('exp'),
  Log: unary('log'),
  Sqrt: unary('sqrt'),
  Tanh: unary('tanh'),
  Sigmoid: unary('sigmoid'),
  Relu: unary('relu'),
  Abs: unary('abs'),
  Softplus: unary('softplus'),
  Reciprocal: (c) => {
    const x = need(c.input(0), 'input');
    c.out(`1.0 / ${c.tensor(0)}`, x.shape, x.dtype);
  },
  Add: binary('+'),
  Sub: binary('-'),
  Mul: binary('*'),
  Div: binary('/'),
  Pow: binary('**'),
  Max: binary('', 'maximum'),
  Min: binary('', 'minimum'),
  Identity: (c) => c.alias(need(c.input(0), 'input')),
  Dropout: (c) => {
    if (c.input(2)?.k?.data[0]) throw new Refusal('dropout in training mode');
    c.alias(need(c.input(0), 'input'));
  },
  Gelu: (c) => {
    const x = need(c.input(0), 'input');
    const approx = c.str('approximate', 'none');
    c.out(approx === 'tanh' ? `gelu(${c.tensor(0)}, approximate = "tanh")` : `gelu(${c.tensor(0)})`, x.shape, x.dtype);
  },
  Where: (c) => {
    const [cond, a, b] = [0, 1, 2].map((i) => need(c.input(i), `input ${i}`));
    c.out(`where(${c.tensor(0)}, ${c.operand(1)}, ${c.operand(2)})`, broadcast(cond!.shape, broadcast(a!.shape, b!.shape)), a!.expr ? a!.dtype : b!.dtype);
  },
  Cast: (c) => {
    const x = need(c.input(0), 'input');
    const to = ONNX_DTYPE[c.int('to', 0)];
    if (!to) throw new Refusal(`a cast to ONNX type ${c.int('to', 0)}`);
    if (x.k)
      return c.constant(
        to === 'f32' || to === 'f16' ? { kind: 'float', data: Float32Array.from(x.k.data) } : { kind: 'int', data: [...x.k.data].map(Math.trunc) },
        x.shape,
      );
    c.out(to === x.dtype ? c.tensor(0) : `cast(${c.tensor(0)}, dtype = "${to}")`, x.shape, to);
  },
  MatMul: (c) => {
    const [a, b] = [need(c.input(0), 'A'), need(c.input(1), 'B')];
    c.out(`${c.tensor(0)} @ ${c.tensor(1)}`, matmulShape(a.shape, b.shape), a.dtype);
  },
  Gemm: (c) => {
    const [a, b] = [need(c.input(0), 'A'), need(c.input(1), 'B')];
    const ta = c.int('transA', 0) ? `transpose(${c.tensor(0)})` : c.tensor(0);
    const tb = c.int('transB', 0) ? `transpose(${c.tensor(1)})` : c.tensor(1);
    const shape = matmulShape(c.int('transA', 0) ? [...a.shape].reverse() : a.shape, c.int('transB', 0) ? [...b.shape].reverse() : b.shape);
    const [alpha, beta] = [c.float('alpha', 1), c.float('beta', 1)];
    let expr = `${ta} @ ${tb}${alpha !== 1 ? ` * ${alpha}` : ''}`;
    if (c.input(2)) expr += ` + ${c.tensor(2)}${beta !== 1 ? ` * ${beta}` : ''}`;
    c.out(expr, shape, a.dtype);
  },
  Softmax: (c) => softmaxLike(c, 'softmax'),
  LogSoftmax: (c) => softmaxLike(c, 'log_softmax'),
  LayerNormalization: (c) => {
    const x = need(c.input(0), 'X');
    if (normAxis(c.int('axis', -1), x.shape.length) !== x.shape.length - 1) throw new Refusal('normalising over more than the last axis');
    const bias = c.input(2) ? `, ${c.tensor(2)}` : '';
    c.out(`layer_norm(${c.tensor(0)}, ${c.tensor(1)}${bias}, eps = ${literal(c.float('epsilon', 1e-5))})`, x.shape, x.dtype);
  },
  ReduceMean: reduce('mean'),
  ReduceSum: reduce('sum'),
  ReduceMax: reduce('max'),
  ReduceMin: reduce('min'),
  Reshape: (c) => {
    const x = need(c.input(0), 'data');
    const want = c.ints(1, 'shape');
    const zero = c.int('allowzero', 0);
    const dims = want.map((d, i) => (d === 0 && !zero ? x.shape[i]! : d));
    const known = numel(dims.filter((d) => d !== -1));
    reshapeTo(
      c,
      x,
      dims.map((d) => (d === -1 ? numel(x.shape) / Math.max(known, 1) : d)),
    );
  },
  Flatten: (c) => {
    const x = need(c.input(0), 'input');
    const axis = c.int('axis', 1) < 0 ? c.int('axis', 1) + x.shape.length : c.int('axis', 1);
    reshapeTo(c, x, [numel(x.shape.slice(0, axis)), numel(x.shape.slice(axis))]);
  },
  Squeeze: (c) => {
    const x = need(c.input(0), 'data');
    const axes = (c.input(1) ? c.ints(1, 'axes') : (c.intList('axes') ?? x.shape.flatMap((d, i) => (d === 1 ? [i] : [])))).map((a) =>
      normAxis(a, x.shape.length),
    );
    reshapeTo(
      c,
      x,
      x.shape.filter((_, i) => !axes.includes(i)),
    );
  },
  Unsqueeze: (c) => {
    const x = need(c.input(0), 'data');
    const given = c.input(1) ? c.ints(1, 'axes') : (c.intList('axes') ?? []);
    const rank = x.shape.length + given.length;
    const axes = given.map((a) => normAxis(a, rank));
    const rest = [...x.shape];
    reshapeTo(
      c,
      x,
      Array.from({ length: rank }, (_, i) => (axes.includes(i) ? 1 : rest.shift()!)),
    );
  },
  Transpose: (c) => {
    const x = need(c.input(0), 'data');
    const perm = c.intList('perm') ?? x.shape.map((_, i) => x.shape.length - 1 - i);
    c.out(
      `transpose(${c.tensor(0)}, ${list(perm)})`,
      perm.map((p) => x.shape[p]!),
      x.dtype,
    );
  },
  Slice: sliceRule,
  Gather: gatherRule,
  Concat: (c) => {
    const ins = c.node.input!.map((_, i) => need(c.input(i), `input ${i}`));
    const axis = normAxis(c.int('axis', 0), ins[0]!.shape.length);
    const shape = ins[0]!.shape.map((d, i) => (i === axis ? ins.reduce((s, o) => s + o.shape[i]!, 0) : d));
    if (ins.every((o) => o.k?.kind === 'int')) return c.constant({ kind: 'int', data: ins.flatMap((o) => o.k!.data as number[]) }, shape);
    c.out(`concat([${ins.map((_, i) => c.tensor(i)).join(', ')}], ${axis})`, shape, ins[0]!.dtype);
  },
  Split: (c) => {
    const x = need(c.input(0), 'input');
    const axis = normAxis(c.int('axis', 0), x.shape.length);
    const n = c.node.output!.length;
    const sizes = c.input(1) ? c.ints(1, 'split') : (c.intList('split') ?? Array.from({ length: n }, () => Math.ceil(x.shape[axis]! / n)));
    let at = 0;
    sizes.forEach((size, k) => {
      const end = Math.min(at + size, x.shape[axis]!);
      c.out(
        `slice(${c.tensor(0)}, ${axis}, ${at}, ${end})`,
        x.shape.map((d, i) => (i === axis ? end - at : d)),
        x.dtype,
        k,
      );
      at = end;
    });
  },
  Expand: (c) => {
    const x = need(c.input(0), 'input');
    const shape = broadcast(x.shape, c.ints(1, 'shape'));
    c.out(shape.join() === x.shape.join() ? c.tensor(0) : `expand(${c.tensor(0)}, ${list(shape)})`, shape, x.dtype);
  },
  Shape: (c) => {
    const x = need(c.input(0), 'data');
    const r = x.shape.length;
    const clamp = (v: number) => Math.min(Math.max(v < 0 ? v + r : v, 0), r);
    const dims = x.shape.slice(clamp(c.int('start', 0)), clamp(c.int('end', r)));
    c.constant({ kind: 'int', data: dims }, [dims.length]);
  },
  Range: (c) => {
    const [start, limit, delta] = [0, 1, 2].map((i) => c.ints(i, ['start', 'limit', 'delta'][i]!)[0]!);
    if (!delta) throw new Refusal('a range with delta 0');
    const n = foldable(Math.max(Math.ceil((limit! - start!) / delta), 0));
    c.constant({ kind: 'int', data: Array.from({ length: n }, (_, i) => start! + i * delta) }, [n]);
  },
  Constant: (c) => {
    const f = attr(c.node, 'value_float');
    const fs = attr(c.node, 'value_floats');
    const i = attr(c.node, 'value_int');
    const is = attr(c.node, 'value_ints');
    if (f) return c.constant({ kind: 'float', data: Float32Array.of(f.f ?? 0) }, []);
    if (fs) return c.constant({ kind: 'float', data: Float32Array.from(fs.floats ?? []) }, [fs.floats?.length ?? 0]);
    if (i) return c.constant({ kind: 'int', data: [toNumber(i.i)] }, []);
    if (is) return c.constant({ kind: 'int', data: (is.ints ?? []).map(toNumber) }, [is.ints?.length ?? 0]);
    throw new Refusal('a Constant without value, value_float(s) or value_int(s)'); // `value` is handled with the initializers
  },
  Conv: (c) => {
    const [x, w] = [need(c.input(0), 'X'), need(c.input(1), 'W')];
    if (x.shape.length !== 4) throw new Refusal('a convolution that is not 2-D');
    const strides = c.intList('strides') ?? [1, 1];
    const pads = c.intList('pads') ?? [0, 0, 0, 0];
    if (c.int('group', 1) !== 1 || (c.intList('dilations') ?? [1, 1]).some((d) => d !== 1)) throw new Refusal('grouped or dilated convolution');
    if (strides[0] !== strides[1] || pads.some((p) => p !== pads[0])) throw new Refusal('unequal strides or padding');
    const [s, p] = [strides[0]!, pads[0]!];
    const shape = [x.shape[0]!, w.shape[0]!, ...[2, 3].map((i) => Math.floor((x.shape[i]! + 2 * p - w.shape[i]!) / s) + 1)];
    const bias = c.input(2) ? ` + reshape(${c.tensor(2)}, [1, ${w.shape[0]}, 1, 1])` : '';
    c.out(`conv2d(${c.tensor(0)}, ${c.tensor(1)}, ${s}, ${p})${bias}`, shape, x.dtype);
  },
};

function softmaxLike(c: ImportCtx, fn: string) {
  const x = need(c.input(0), 'input');
  const axis = normAxis(c.int('axis', c.opset >= 13 ? -1 : 1), x.shape.length);
  // Before opset 13 the axis meant "flatten from here": the same only for the last axis.
  if (c.opset < 13 && axis !== x.shape.length - 1) throw new Refusal('an opset < 13 softmax over more than the last axis');
  c.out(`${fn}(${c.tensor(0)}, axis = ${axis - x.shape.length})`, x.shape, x.dtype);
}

/** A float as a `.model` literal that reads back as the same f32. */
export function literal(v: number): string {
  const f = Math.fround(v);
  // The shortest decimal that rounds to the same f32 (1e-5, not 0.000009999999747378752).
  let s = String(f);
  for (let p = 1; p <= 9; p++) {
    const t = Number(f.toPrecision(p));
    if (Math.fround(t) === f) {
      s = String(t);
      break;
    }
  }
  const text = /[.eE]/.test(s) ? s : `${s}.0`;
  return v < 0 ? `(${text})` : text;
}
