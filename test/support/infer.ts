import { interpret } from '../../compiler/reference/interpret.js';
import type { InferCompiled } from '../../driver/infer.js';
import { inferenceParams } from '../../runtime/generate.js';
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

/** The one-device plans' weight `name` as the runtime draws it from `seed`. */
export const drawn = (one: InferCompiled, seed: number) => (name: string) => {
  const b = inferenceParams(one.plans!).find((x) => x.name === name)!;
  return initValues(
    b.init!,
    b.shape.reduce((a, d) => a * d, 1),
    seed,
    name,
  ) as Float32Array;
};

/**
 * Greedy continuation of `seq` by the CPU reference: the argmax of a full forward pass over the sequence so far, `n` times,
 * with the weights drawn from `seed` or given.
 */
export function oracleGreedy(one: InferCompiled, seq: readonly number[], n: number, m: number, weights: number | ((name: string) => Float32Array)): number[] {
  const V = one.plans!.vocab;
  const out = [...seq];
  const param = typeof weights === 'number' ? drawn(one, weights) : weights;
  for (let k = 0; k < n; k++) {
    const tokens = new Int32Array(m);
    tokens.set(out);
    const row = interpret(one.forward!, { tokens }, param)['logits']!.data.subarray((out.length - 1) * V, out.length * V);
    let best = 0;
    for (let i = 1; i < V; i++) if (row[i]! > row[best]!) best = i;
    out.push(best);
  }
  return out.slice(seq.length);
}

/** The tokens `mdc generate samples/gpt2.model --preset tiny --prompt Hi` streams greedily (3 new, seed 0) on `mesh`. */
export async function cliGreedyTokens(mesh: string): Promise<number[]> {
  const { main } = await import('../../cli/main.js');
  const out: string[] = [];
  const args = ['generate', 'samples/gpt2.model', '--preset', 'tiny', '--prompt', 'Hi', '--max-new-tokens', '3', '--temperature', '0'];
  const status = await main([...args, '--mesh', mesh, '--json'], { out: (x) => out.push(x), err: () => undefined });
  if (status !== 0) throw new Error(`mdc generate --mesh ${mesh} exited ${status}`);
  return (JSON.parse(out.join('\n')) as { tokens: number[] }).tokens;
}
