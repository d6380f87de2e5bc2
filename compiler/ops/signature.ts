import type { Code, messages } from '../../diagnostics/messages.js';
import { dimConst, dimEquals, dimValue, type Dim } from '../dims.js';
import type { Attr } from '../ir.js';
import { printDim, printType, type DType, type TType } from '../types.js';

/**
 * Op classes as TVM uses them for fusion legality: injective (elementwise/broadcast/
 * index remapping), reduction, out-fusable (matmul-like: an epilogue can fuse into it),
 * opaque (everything else).
 */
export type OpClass = 'injective' | 'reduction' | 'out-fusable' | 'opaque';

export type ArgKind = 'tensor' | 'tensors' | 'int' | 'float' | 'bool' | 'str' | 'dim' | 'dims' | 'ints';
export interface ArgSpec {
  readonly name: string;
  readonly kind: ArgKind;
  /** Absent: required. `null`: optional with no value (an optional tensor). */
  readonly default?: Attr | null;
  readonly choices?: readonly string[];
  /** Keyword-only arguments cannot be given by position. */
  readonly kwOnly?: boolean;
  /** A 'float' that must be above zero (an epsilon under a square root, a frequency base). */
  readonly positive?: boolean;
}

export interface InferCtx {
  readonly op: string;
  tensor(name: string): TType;
  optTensor(name: string): TType | undefined;
  tensors(name: string): readonly TType[];
  int(name: string): number;
  dim(name: string): Dim;
  num(name: string): number;
  bool(name: string): boolean;
  str(name: string): string;
  dims(name: string): readonly Dim[];
  ints(name: string): readonly number[] | undefined;
  /** Records an attribute on the node (normalised axis, derived sizes). */
  set(name: string, value: Attr): void;
  error<C extends Code>(code: C, ...args: Parameters<(typeof messages)[C]>): undefined;
}

export const t = (dtype: DType, dims: readonly Dim[]): TType => ({ dtype, dims });

/** Normalises a possibly negative axis; reports MDC0204 when out of range. */
export function normAxis(c: InferCtx, axis: number, rank: number): number | undefined {
  const a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) return c.error('MDC0204', c.op, axis, rank);
  return a;
}

/** NumPy broadcasting of two shapes; reports MDC0202 naming both sides. */
export function broadcast(c: InferCtx, a: TType, b: TType): Dim[] | undefined {
  const n = Math.max(a.dims.length, b.dims.length);
  const out: Dim[] = [];
  for (let i = 0; i < n; i++) {
    const da = a.dims[a.dims.length - n + i] ?? dimConst(1);
    const db = b.dims[b.dims.length - n + i] ?? dimConst(1);
    if (dimEquals(da, db) || dimValue(db) === 1) out.push(da);
    else if (dimValue(da) === 1) out.push(db);
    else return c.error('MDC0202', printType(a), printType(b), printDim(da), printDim(db));
  }
  return out;
}

export function sameDtype(c: InferCtx, a: TType, b: TType): boolean {
  if (a.dtype !== b.dtype) {
    c.error('MDC0301', c.op, printType(a), printType(b));
    return false;
  }
  return true;
}

export function requireFloat(c: InferCtx, what: string, x: TType): boolean {
  if (x.dtype === 'i32' || x.dtype === 'bool') {
    c.error('MDC0303', c.op, what, printType(x));
    return false;
  }
  return true;
}

export function requireIntDtype(c: InferCtx, what: string, x: TType): boolean {
  if (x.dtype !== 'i32') {
    c.error('MDC0302', c.op, what, printType(x));
    return false;
  }
  return true;
}

export function requireRank(c: InferCtx, x: TType, min: number, what = 'a tensor'): boolean {
  if (x.dims.length < min) {
    c.error('MDC0201', c.op, `${what} of rank ≥ ${min}`, printType(x));
    return false;
  }
  return true;
}
