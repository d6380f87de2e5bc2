import type { Env } from '../compiler/bind.js';
import { loraDeclOf } from '../compiler/train/lora.js';
import { loraDecls } from '../compiler/train/settings.js';
import type { CheckpointTensor } from '../runtime/checkpoint.js';
import { mergeLora, LoraMergeError } from '../runtime/lora.js';
import { UsageError } from './options.js';

/**
 * A checkpoint's tensors as inference wants them: each `@lora` weight with its adapters
 * merged in, w + (alpha/r)·A·B (runtime/lora.ts), and the adapters dropped, so the
 * inference plan, which has no adapters, runs no extra matmuls. A checkpoint without
 * adapters comes back as it is. The scale comes from the model source's `@lora`
 * declarations; adapters of a weight the source does not declare `@lora` are an error
 * (their scale is unknown).
 */
export function mergeCheckpointLora(
  tensors: Readonly<Record<string, CheckpointTensor>>,
  env: Env,
  model: string,
  what: string,
): Record<string, CheckpointTensor> {
  const bases = Object.keys(tensors)
    .filter((k) => !k.startsWith('opt.') && !k.startsWith('acc.') && (k.endsWith('.lora_a') || k.endsWith('.lora_b')))
    .map((k) => k.slice(0, -'.lora_a'.length));
  if (!bases.length) return { ...tensors };
  const decls = loraDecls(env);
  const undeclared = [...new Set(bases)].filter((param) => !loraDeclOf(param, decls, model));
  if (undeclared.length) {
    const names = Object.keys(tensors).filter((k) => undeclared.some((p) => k === `${p}.lora_a` || k === `${p}.lora_b`));
    throw new UsageError(
      `${what} has LoRA adapters ${names.map((n) => `'${n}'`).join(', ')} of ${undeclared.map((p) => `'${p}'`).join(', ')}, which ${model} does not ` +
        `declare @lora(rank = r, alpha = a): their scale alpha/r is unknown, so they cannot be merged (declare the @lora the run trained with)`,
    );
  }
  const targets = [...new Set(bases)].map((param) => {
    const decl = loraDeclOf(param, decls, model)!;
    const w = tensors[param];
    if (!w || w.shape.length !== 2) throw new UsageError(`${what} has LoRA adapters of '${param}' but no 2-D tensor '${param}' to merge them into`);
    return { param, scale: decl.alpha / decl.rank, rows: w.shape[0]!, cols: w.shape[1]! };
  });
  const f32 = (n: string) => {
    const t = tensors[n];
    if (t && t.dtype !== 'F32') throw new UsageError(`${what}: '${n}' is ${t.dtype}; merging LoRA adapters needs F32 tensors`);
    return t?.data as Float32Array | undefined;
  };
  let merged: Map<string, Float32Array>;
  try {
    merged = mergeLora(new Map(targets.map((t) => [t.param, f32(t.param)!])), f32, targets);
  } catch (e) {
    if (e instanceof LoraMergeError) throw new UsageError(`${what}: ${e.message}`);
    throw e;
  }
  const out: [string, CheckpointTensor][] = [];
  for (const [k, t] of Object.entries(tensors)) {
    if (k.endsWith('.lora_a') || k.endsWith('.lora_b')) continue; // the adapters, and their optimizer state
    const m = merged.get(k);
    out.push([k, m ? { ...t, data: m } : t]);
  }
  return Object.fromEntries(out);
}
