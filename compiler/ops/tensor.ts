import { numel, stridesOf } from '../../layout/mesh.js';
/**
 * The vocabulary of CPU references (an op's `reference` facet): float64 tensors and the
 * index helpers references are written with. References are the numerical oracle, so
 * they compute in float64 everywhere (integers included), more precisely than any device.
 */
export interface RefTensor {
  readonly shape: readonly number[];
  readonly data: Float64Array;
}

/**
 * Where a device's block of a partitioned value lies in the whole tensor: the whole
 * shape, and the coordinates of the block's first element in it.
 */
export interface RefBlock {
  readonly global: readonly number[];
  readonly start: readonly number[];
}

/**
 * An op's CPU reference: its outputs from its inputs, attributes (typed as the op
 * declares them), output shapes and dtypes, and the id that seeds per-node randomness
 * (a node's `mask_id`, else its own id: dropout). `block`: in the simulation of a
 * partitioned program, where output 0 lies in its whole tensor (dropout draws its mask
 * by the global index); absent, the output is the whole tensor.
 */
export type RefOp<A = never> = (
  inputs: readonly RefTensor[],
  attrs: A,
  outShapes: readonly (readonly number[])[],
  outDtypes: readonly string[],
  nodeId: number,
  block?: RefBlock,
) => RefTensor[];

export const zeros = (shape: readonly number[]): RefTensor => ({ shape, data: new Float64Array(numel(shape)) });

/** Offset into `inShape` for each flat index of `outShape` under NumPy broadcasting. */
export function broadcastIndex(
  outShape: readonly number[],
  inShape: readonly number[],
  view?: { readonly strides: readonly number[]; readonly offset: number },
): Int32Array | Float64Array {
  const n = numel(outShape);
  const r = outShape.length;
  const pad = [...new Array<number>(r - inShape.length).fill(1), ...inShape];
  // Through a view (compiler/ir.ts InputView) the strides are its own, from its offset.
  const st = view ? [...new Array<number>(r - inShape.length).fill(0), ...view.strides] : stridesOf(pad);
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

/** Calls `f` with the coordinates and flat index of every element of `shape`, in order (the array is reused). */
export function forEachCoord(shape: readonly number[], f: (c: number[], i: number) => void) {
  const c = new Array<number>(shape.length).fill(0);
  const n = numel(shape);
  for (let i = 0; i < n; i++) {
    f(c, i);
    for (let d = shape.length - 1; d >= 0; d--) {
      if (++c[d]! < shape[d]!) break;
      c[d] = 0;
    }
  }
}

/** outer × len × inner view of a shape around one axis. */
export function around(shape: readonly number[], axis: number) {
  return { outer: numel(shape.slice(0, axis)), len: shape[axis]!, inner: numel(shape.slice(axis + 1)) };
}

/** Block `k` of `parts` along `dim`. */
export function block(x: RefTensor, dim: number, k: number, parts: number): RefTensor {
  const size = x.shape[dim]! / parts;
  return window(
    x,
    x.shape.map((_, i) => (i === dim ? k * size : 0)),
    x.shape.map((s, i) => (i === dim ? size : s)),
  );
}

export function window(x: RefTensor, start: readonly number[], shape: readonly number[]): RefTensor {
  const out = new Float64Array(numel(shape));
  const st = stridesOf(x.shape);
  const r = shape.length;
  const c = new Array<number>(r).fill(0);
  for (let i = 0; i < out.length; i++) {
    let off = 0;
    for (let d = 0; d < r; d++) off += (c[d]! + start[d]!) * st[d]!;
    out[i] = x.data[off]!;
    for (let d = r - 1; d >= 0; d--) {
      if (++c[d]! < shape[d]!) break;
      c[d] = 0;
    }
  }
  return { shape: [...shape], data: out };
}

export function concatAlong(parts: readonly RefTensor[], dim: number): RefTensor {
  const shape = parts[0]!.shape.map((s, i) => (i === dim ? s * parts.length : s));
  const out = new Float64Array(numel(shape));
  const outer = numel(shape.slice(0, dim));
  const inner = numel(parts[0]!.shape.slice(dim));
  parts.forEach((p, k) => {
    for (let o = 0; o < outer; o++) out.set(p.data.subarray(o * inner, (o + 1) * inner), o * inner * parts.length + k * inner);
  });
  return { shape, data: out };
}
