import { dimToString, dimValue, type Dim } from './dims.js';

export type DType = 'f32' | 'f16' | 'bf16' | 'i32' | 'bool';
export const DTYPES: readonly DType[] = ['f32', 'f16', 'bf16', 'i32', 'bool'];
export const isFloat = (d: DType) => d === 'f32' || d === 'f16' || d === 'bf16';
export const isInt = (d: DType) => d === 'i32' || d === 'bool';

/** Per-dim mesh axes a tensor is split over, plus axes over which it is a pending sum. */
export interface Layout {
  readonly axes: readonly (readonly string[])[];
  readonly partial: readonly string[];
}

export interface TType {
  readonly dtype: DType;
  readonly dims: readonly Dim[];
  readonly layout?: Layout;
}

export function printDim(d: Dim): string {
  const s = dimToString(d);
  return d.terms.size > 1 ? `(${s})` : s;
}

/** The one way a type is printed: `f16[8@dp, 1024, 768@tp] partial(tp)`. */
export function printType(t: TType): string {
  const dims = t.dims.map((d, i) => {
    const axes = t.layout?.axes[i] ?? [];
    const tag = axes.length === 0 ? '' : axes.length === 1 ? `@${axes[0]}` : `@(${axes.join(',')})`;
    return printDim(d) + tag;
  });
  const partial = t.layout && t.layout.partial.length ? ` partial(${t.layout.partial.join(',')})` : '';
  return `${t.dtype}[${dims.join(', ')}]${partial}`;
}

export function concreteShape(t: TType): number[] | undefined {
  const out: number[] = [];
  for (const d of t.dims) {
    const v = dimValue(d);
    if (v === undefined) return undefined;
    out.push(v);
  }
  return out;
}
