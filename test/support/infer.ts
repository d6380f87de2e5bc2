import { interpret } from '../../compiler/reference/interpret.js';
import type { InferCompiled } from '../../driver/infer.js';
import { initValues } from '../../runtime/init.js';

/**
 * The oracle for KV-cache tests: the logits [batch, m, vocab] of a float64 forward of the
 * one-device lowering over the whole (padded) sequences, parameters from `seed` as the
 * runtime initialises them.
 */
export function oracleLogits(c: InferCompiled, seqs: readonly (readonly number[])[], m: number, seed: number): Float64Array {
  const tokens = new Int32Array(c.plans!.batch * m);
  seqs.forEach((s, b) => tokens.set(s, b * m));
  const params = (name: string, shape: readonly number[]) => {
    const b = c.plans!.prefill.buffers.find((x) => x.role === 'param' && x.name === name)!;
    return initValues(
      b.init!,
      shape.reduce((a, d) => a * d, 1),
      seed,
      name,
    );
  };
  return interpret(c.forward!, { [c.plans!.tokens]: tokens }, params)[c.plans!.logits]!.data;
}

/** Largest |a − b| over a row of n values (b's starting at `from`), and the row's largest |b|. */
export function gap(a: ArrayLike<number>, b: ArrayLike<number>, from: number, n: number): { diff: number; scale: number } {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < n; i++) {
    diff = Math.max(diff, Math.abs(a[i]! - b[from + i]!));
    scale = Math.max(scale, Math.abs(b[from + i]!));
  }
  return { diff, scale };
}
