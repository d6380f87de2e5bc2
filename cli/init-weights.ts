import { UsageError } from './options.js';
import { regularFileSize } from './files.js';
import type { TrainingGraph } from '../compiler/train/step.js';
import { numel } from '../layout/mesh.js';
import { dimValue } from '../compiler/dims.js';
import type { WeightsModel } from '../runtime/weights.js';

/**
 * `mdc train --init FILE`: the starting values of a fine-tuning run, as opposed to
 * `--resume`, which continues a run where it stopped (same data, step, optimizer state).
 *
 * FILE is an mdc checkpoint or any safetensors file whose tensor names are the model's
 * parameter names; with `--weights-map M` it is read through that name map (docs/weights.md),
 * as `mdc run --weights` reads Hugging Face files. Every model parameter must be in it, with
 * its shape, except what a fine-tuning run starts fresh: LoRA adapters (`*.lora_a`,
 * `*.lora_b`, used when present) and optimizer state and gradient sums (`opt.*`, `acc.*`,
 * never taken from the file, whose state belongs to another run). The runner initialises
 * what is not given from the seed.
 */
export interface InitTensor {
  readonly name: string;
  readonly shape: readonly number[];
}

const isAdapter = (n: string) => n.endsWith('.lora_a') || n.endsWith('.lora_b');
const isState = (n: string) => n.startsWith('opt.') || n.startsWith('acc.');

export async function initWeights(
  path: string,
  tensors: readonly InitTensor[],
  model: string,
  mapped?: { readonly map: string; readonly plan?: WeightsModel },
): Promise<Map<string, Float32Array>> {
  regularFileSize(path, '--init');
  const needed = tensors.filter((t) => !isState(t.name) && !isAdapter(t.name));
  const adapters = tensors.filter((t) => isAdapter(t.name));
  const refuse = (why: string): never => {
    throw new UsageError(`--init ${path}: ${why}`);
  };
  if (mapped) {
    if (!mapped.plan) refuse('--weights-map is not supported yet with pipeline stages: convert the file to an mdc checkpoint first');
    const { loadWeights, readWeightsMap } = await import('../runtime/weights-node.js');
    const buffers = mapped.plan!.buffers.filter((b) => b.role === 'param' && !isState(b.name) && !isAdapter(b.name));
    return loadWeights(path, { model, buffers }, await readWeightsMap(mapped.map));
  }
  const { readCheckpoint } = await import('../runtime/checkpoint-node.js');
  const ck = await readCheckpoint(path).catch((e: unknown) => refuse((e as Error).message));
  const out = new Map<string, Float32Array>();
  const take = (t: InitTensor, required: boolean) => {
    const x = ck.tensors[t.name];
    if (!x) {
      if (required) refuse(`it has no tensor '${t.name}' (the model's f32[${t.shape.join(', ')}]); every parameter but LoRA adapters must be in it`);
      return;
    }
    if (x.dtype !== 'F32' || x.shape.length !== t.shape.length || x.shape.some((n, i) => n !== t.shape[i]))
      refuse(
        `tensor '${t.name}' is ${x.dtype}[${x.shape.join(', ')}], the model's is f32[${t.shape.join(', ')}] (another dtype: read it through --weights-map)`,
      );
    out.set(t.name, x.data as Float32Array);
  };
  for (const t of needed) take(t, true);
  for (const t of adapters) take(t, false);
  const known = new Set(tensors.map((t) => t.name));
  const extra = Object.keys(ck.tensors).filter((k) => !known.has(k) && !isState(k));
  if (extra.length)
    refuse(
      `it has tensors ${model} does not: ${extra.slice(0, 3).join(', ')}${extra.length > 3 ? `, … (${extra.length})` : ''} (a different model or configuration?)`,
    );
  return out;
}

/** `fine-tuning: 1,024 of 106,752 parameters train (0.96%); 12 frozen` for a step with frozen parameters, else undefined. */
export function fineTuneLine(t: TrainingGraph | undefined): string | undefined {
  if (!t?.frozen?.length) return undefined;
  const size = (name: string) => {
    const v = t.graph.values.find((x) => x.kind === 'param' && x.name === name);
    return v ? numel(v.type.dims.map((d) => dimValue(d) ?? 0)) : 0;
  };
  const trained = t.params.reduce((n, p) => n + size(p), 0);
  const all = trained + t.frozen.reduce((n, p) => n + size(p), 0);
  const pct = ((100 * trained) / all).toFixed(2);
  return `fine-tuning: ${trained.toLocaleString('en-US')} of ${all.toLocaleString('en-US')} parameters train (${pct}%); ${t.frozen.length} tensors frozen`;
}
