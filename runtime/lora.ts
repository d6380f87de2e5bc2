/**
 * Merging LoRA adapters into their weights for inference: w' = w + scale·A·B, once, where
 * a checkpoint is loaded, so the inference plan (which has no adapters) runs no extra
 * matmuls. The compiler names the adapted weights and their scales (compiler/train/lora.ts
 * loraTargets); a checkpoint written by `mdc train` holds `<w>.lora_a` [rows, rank] and
 * `<w>.lora_b` [rank, cols] beside `<w>` [rows, cols], row-major.
 */
export interface LoraMerge {
  readonly param: string;
  readonly scale: number;
  readonly rows: number;
  readonly cols: number;
}

export class LoraMergeError extends Error {}

/**
 * `params` with each target's adapters (looked up by `<param>.lora_a` / `.lora_b` in
 * `tensors`) merged into its weight; the adapters themselves are left out of the result.
 * A target whose adapters are both absent is kept as it is (a base checkpoint); one
 * adapter without the other, or adapters of the wrong size, is an error.
 */
export function mergeLora(
  params: ReadonlyMap<string, Float32Array>,
  tensors: (name: string) => Float32Array | undefined,
  targets: readonly LoraMerge[],
): Map<string, Float32Array> {
  const out = new Map(params);
  for (const t of targets) {
    const a = tensors(`${t.param}.lora_a`);
    const b = tensors(`${t.param}.lora_b`);
    if (!a && !b) continue;
    if (!a || !b) throw new LoraMergeError(`'${t.param}' has ${a ? 'lora_a' : 'lora_b'} but no ${a ? 'lora_b' : 'lora_a'}: both adapters are needed to merge`);
    const w = params.get(t.param);
    if (!w) throw new LoraMergeError(`adapters of '${t.param}' without the weight itself`);
    const rank = a.length / t.rows;
    if (!Number.isInteger(rank) || rank < 1 || b.length !== rank * t.cols || w.length !== t.rows * t.cols)
      throw new LoraMergeError(
        `adapters of '${t.param}' [${t.rows}, ${t.cols}] have ${a.length} and ${b.length} values, not [${t.rows}, r] and [r, ${t.cols}]`,
      );
    const merged = Float32Array.from(w);
    // Accumulate A·B in f64 per element, then add once: the merge rounds once, as the adapted matmul's sum does.
    const row = new Float64Array(t.cols);
    for (let i = 0; i < t.rows; i++) {
      row.fill(0);
      for (let k = 0; k < rank; k++) {
        const aik = a[i * rank + k]!;
        for (let j = 0; j < t.cols; j++) row[j]! += aik * b[k * t.cols + j]!;
      }
      for (let j = 0; j < t.cols; j++) merged[i * t.cols + j] = w[i * t.cols + j]! + t.scale * row[j]!;
    }
    out.set(t.param, merged);
    out.delete(`${t.param}.lora_a`);
    out.delete(`${t.param}.lora_b`);
  }
  return out;
}
