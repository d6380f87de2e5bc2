/** CPU reference tensors: float64 everywhere (integers included), so the oracle is more precise than any device. */
export interface RefTensor { readonly shape: readonly number[]; readonly data: Float64Array }

export const numelOf = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);
export const zeros = (shape: readonly number[]): RefTensor => ({ shape, data: new Float64Array(numelOf(shape)) });
export function strides(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length).fill(1);
  for (let i = shape.length - 2; i >= 0; i--) s[i] = s[i + 1]! * shape[i + 1]!;
  return s;
}

/** Offset into `inShape` for each flat index of `outShape` under NumPy broadcasting. */
export function broadcastIndex(outShape: readonly number[], inShape: readonly number[], view?: { readonly strides: readonly number[]; readonly offset: number }): Int32Array | Float64Array {
  const n = numelOf(outShape);
  const r = outShape.length;
  const pad = [...new Array<number>(r - inShape.length).fill(1), ...inShape];
  // Through a view (compiler/ir.ts InputView) the strides are its own, from its offset.
  const st = view ? [...new Array<number>(r - inShape.length).fill(0), ...view.strides] : strides(pad);
  const out = new Float64Array(n);
  const c = new Array<number>(r).fill(0);
  for (let i = 0; i < n; i++) {
    let off = view?.offset ?? 0;
    for (let d = 0; d < r; d++) if (pad[d] !== 1) off += c[d]! * st[d]!;
    out[i] = off;
    for (let d = r - 1; d >= 0; d--) {
      if (++c[d]! < outShape[d]!) break;
      c[d] = 0;
    }
  }
  return out;
}
