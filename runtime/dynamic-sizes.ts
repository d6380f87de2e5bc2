/**
 * Running a compiled model at batch and sequence sizes below the compiled ones: each input
 * is padded (with zeros) up to the compiled shape along the axes of the dims that shrink,
 * the plan runs at its compiled size, and each output is cut back to the requested sizes.
 * The compiler decided per symbolic dim whether that is right (compiler/shrink.ts: every
 * output position depends only on its own batch row and on earlier-or-equal positions) and
 * recorded which input and output axes each dim is; the host module passes that record here.
 */
import type { HostArray, Tensor } from './executor.js';
import type { PlanIO } from './plan.js';

/** One symbolic dim of a host module's inputs and outputs, as the compiler recorded it. */
export interface SizeDim {
  readonly name: string;
  /** The size the plan was compiled at: the largest a run may ask for. */
  readonly compiled: number;
  /** Per input name: the axes that are this dim. */
  readonly inputs: Readonly<Record<string, readonly number[]>>;
  /** Per output name: the axes that are this dim. */
  readonly outputs: Readonly<Record<string, readonly number[]>>;
  /** Present when the dim cannot run smaller: why, naming the op. */
  readonly fixed?: string;
}

/** A run's sizes: dim name → size (1 to the compiled size); a dim not named runs at its compiled size. */
export type RunSizes = Readonly<Record<string, number>>;

export class SizeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SizeError';
  }
}

/** The shape of `io` at `sizes`: each axis of a dim that shrinks takes the dim's size. */
function shapeAt(io: PlanIO, dims: readonly SizeDim[], sizes: ReadonlyMap<string, number>, side: 'inputs' | 'outputs'): number[] {
  const shape = [...io.shape];
  for (const d of dims) for (const a of d[side][io.name] ?? []) shape[a] = sizes.get(d.name) ?? shape[a]!;
  return shape;
}

/** The requested sizes, checked against the record: names it has, integers from 1 to the compiled size, and dims that may shrink. */
export function checkSizes(model: string, dims: readonly SizeDim[], sizes: RunSizes): Map<string, number> {
  const out = new Map<string, number>();
  for (const [name, n] of Object.entries(sizes)) {
    const d = dims.find((x) => x.name === name);
    if (!d) throw new SizeError(`${model} has no dim '${name}'; its dims: ${dims.map((x) => `'${x.name}'`).join(', ') || 'none'}`);
    if (!Number.isInteger(n) || n < 1 || n > d.compiled)
      throw new SizeError(`${model}: ${name} = ${String(n)} is not an integer from 1 to ${d.compiled}, the size it was compiled at`);
    if (n === d.compiled) continue;
    if (d.fixed) throw new SizeError(`${model} cannot run at ${name} = ${n} (compiled at ${d.compiled}): ${d.fixed}`);
    out.set(name, n);
  }
  return out;
}

/** Copies the block `small` (a row-major array of shape `from`) into the corner of `big` (shape `to`, each dim at least `from`'s). */
function copyBlock(small: HostArray, from: readonly number[], big: HostArray, to: readonly number[], toBig: boolean): void {
  const r = from.length;
  if (r === 0) {
    if (toBig) big[0] = small[0]!;
    else small[0] = big[0]!;
    return;
  }
  const row = from[r - 1]!;
  const rows = from.slice(0, -1).reduce((a, b) => a * b, 1);
  const idx = new Array<number>(r - 1).fill(0);
  for (let k = 0; k < rows; k++) {
    let off = 0;
    for (let i = 0; i < r - 1; i++) off = off * to[i]! + idx[i]!;
    off *= to[r - 1]!;
    const s = k * row;
    if (toBig) big.set(small.subarray(s, s + row), off);
    else small.set(big.subarray(off, off + row), s);
    for (let i = r - 2; i >= 0; i--) {
      if (++idx[i]! < from[i]!) break;
      idx[i] = 0;
    }
  }
}

/** The inputs padded with zeros to the compiled shapes (an input already at its compiled shape is passed as it is). */
export function padInputs(
  model: string,
  ios: readonly PlanIO[],
  dims: readonly SizeDim[],
  sizes: ReadonlyMap<string, number>,
  inputs: Readonly<Record<string, HostArray>>,
): Record<string, HostArray> {
  const out: Record<string, HostArray> = { ...inputs };
  for (const io of ios) {
    const x = inputs[io.name];
    const shape = shapeAt(io, dims, sizes, 'inputs');
    if (!x || shape.every((s, i) => s === io.shape[i])) continue;
    const n = shape.reduce((a, b) => a * b, 1);
    if (x.length !== n)
      throw new SizeError(`${model}: input ${io.name} has ${x.length} elements, but at these sizes its shape is [${shape.join(', ')}] (${n} elements)`);
    const big = x instanceof Int32Array ? new Int32Array(io.shape.reduce((a, b) => a * b, 1)) : new Float32Array(io.shape.reduce((a, b) => a * b, 1));
    copyBlock(x, shape, big, io.shape, true);
    out[io.name] = big;
  }
  return out;
}

/** The outputs cut back to the requested sizes. */
export function cutOutputs(
  ios: readonly PlanIO[],
  dims: readonly SizeDim[],
  sizes: ReadonlyMap<string, number>,
  outputs: Record<string, Tensor>,
): Record<string, Tensor> {
  const out: Record<string, Tensor> = { ...outputs };
  for (const io of ios) {
    const t = outputs[io.name];
    const shape = shapeAt(io, dims, sizes, 'outputs');
    if (!t || shape.every((s, i) => s === t.shape[i])) continue;
    const n = shape.reduce((a, b) => a * b, 1);
    const small = t.data instanceof Int32Array ? new Int32Array(n) : new Float32Array(n);
    copyBlock(small, shape, t.data, t.shape, false);
    out[io.name] = { shape, data: small };
  }
  return out;
}
