import { existsSync } from 'node:fs';
import { basename, dirname, extname, join } from 'node:path';
import { regularFileSize } from './files.js';
import { UsageError, type Values } from './options.js';
import type { HeaderTensor, WeightsModel } from '../runtime/weights.js';
import { WEIGHTS_MAP_PRESETS, type WeightsMap } from '../runtime/weights-map.js';
import type { CheckpointTensor } from '../runtime/checkpoint.js';
import type { Env } from '../compiler/bind.js';
import { mergeCheckpointLora } from './lora-merge.js';

/** The options `--weights FILE` and `--weights-map NAME|FILE`, for a command's option spec. */
export const WEIGHTS_OPTIONS = { weights: { type: 'string' }, 'weights-map': { type: 'string' } } as const;

export const WEIGHTS_HELP = `  --weights FILE     parameters from a safetensors file (Hugging Face's names), through
                     a name map; every parameter must be in it, each shape must match;
                     LoRA adapters in it (<w>.lora_a, <w>.lora_b, from mdc train) are
                     merged into their weights first, with the model's @lora scale
  --weights-map M    the name map: ${Object.keys(WEIGHTS_MAP_PRESETS).join(', ')} (built in) or a JSON file;
                     default: MODEL.weights.json next to the model file (docs/weights.md),
                     else, when FILE has every parameter under the model's own names (an
                     mdc train checkpoint), those names (optimizer state passed over)`;

const besideMap = (modelFile: string) => join(dirname(modelFile), `${basename(modelFile, extname(modelFile))}.weights.json`);

/** The map `--weights` goes through: the option's value, else `<model>.weights.json` beside `modelFile`. */
export function weightsMapOption(v: Values, modelFile: string): string {
  const given = v['weights-map'] as string | undefined;
  if (given !== undefined) {
    if (!Object.hasOwn(WEIGHTS_MAP_PRESETS, given)) regularFileSize(given, '--weights-map');
    return given;
  }
  const beside = besideMap(modelFile);
  if (existsSync(beside)) return beside;
  throw new UsageError(
    `--weights needs a name map: --weights-map ${Object.keys(WEIGHTS_MAP_PRESETS).join('|')}|FILE, or a file '${beside}' next to the model (docs/weights.md)`,
  );
}

/** Where a checkpoint's LoRA adapters get their scale: the checked source's `@lora` declarations for `model`. */
export interface LoraSource {
  readonly env: Env;
  readonly model: string;
}

/**
 * The parameters `--weights` gives `model` (a plan), or undefined without the option. A
 * file that is malformed or does not fit the model fails with every problem named.
 * With `lora`, a checkpoint holding adapters (`<w>.lora_a`, `<w>.lora_b`: an `mdc train`
 * fine-tune) has them merged into their weights first (cli/lora-merge.ts), and what is left
 * goes through the name map as any file does; adapters of a weight the source does not
 * declare `@lora` are refused by name. Without adapters the file is streamed as before.
 */
export async function weightsOption(v: Values, modelFile: string, model: WeightsModel, lora?: LoraSource): Promise<Map<string, Float32Array> | undefined> {
  const path = v['weights'] as string | undefined;
  if (path === undefined) {
    if (v['weights-map'] !== undefined) throw new UsageError('--weights-map needs --weights');
    return undefined;
  }
  regularFileSize(path, '--weights');
  const names = await tensorNames(path);
  const { loadWeights, readWeightsMap } = await import('../runtime/weights-node.js');
  const own = v['weights-map'] === undefined && !existsSync(besideMap(modelFile)) ? ownNames(model, names) : undefined;
  const resolved = own ?? (await readWeightsMap(weightsMapOption(v, modelFile)));
  if (lora && names.some(isAdapter)) return mergedWeights(path, model, resolved, lora);
  return loadWeights(path, model, resolved);
}

/**
 * A file that holds every parameter of `model` under its own name (what `mdc train` writes,
 * and what `mdc generate` and `mdc train --init` read without a map) needs no map: each
 * parameter from its tensor, optimizer state and gradient sums (`opt.*`, `acc.*`) passed
 * over. Anything else in the file still has to be a parameter, or the load names it.
 */
function ownNames(model: WeightsModel, names: readonly string[]): WeightsMap | undefined {
  const params = model.buffers.filter((b) => b.role === 'param').map((b) => b.name);
  const have = new Set(names);
  if (!params.length || !params.every((p) => have.has(p))) return undefined;
  return {
    name: `${model.model}'s own names`,
    entries: params.map((p) => ({ source: p, target: p })),
    ignore: names.filter((n) => n.startsWith('opt.') || n.startsWith('acc.')),
  };
}

const isAdapter = (name: string) => name.endsWith('.lora_a') || name.endsWith('.lora_b');

/** The tensor names a checkpoint's header lists; none of its data is read. */
async function tensorNames(path: string): Promise<string[]> {
  const { visitCheckpoint } = await import('../runtime/checkpoint-node.js');
  let names: string[] = [];
  const enough = new Error('header read');
  try {
    await visitCheckpoint(path, () => undefined, {
      requireChecksum: false,
      skipOtherDtypes: true,
      onHeader: (layout) => {
        names = [...layout.tensors, ...layout.skipped].map((t) => t.name);
        throw enough;
      },
    });
  } catch (e) {
    if (e !== enough) throw e;
  }
  return names;
}

/** A LoRA checkpoint's parameters: read whole, adapters merged into their weights, then through the name map. */
async function mergedWeights(path: string, model: WeightsModel, map: WeightsMap, lora: LoraSource): Promise<Map<string, Float32Array>> {
  const { visitCheckpoint } = await import('../runtime/checkpoint-node.js');
  const { convertTensor, planImport } = await import('../runtime/weights.js');
  const read: [string, CheckpointTensor][] = [];
  let skipped: HeaderTensor[] = [];
  await visitCheckpoint(path, (name, t) => void read.push([name, t]), {
    requireChecksum: false,
    skipOtherDtypes: true,
    onHeader: (layout) => void (skipped = [...layout.skipped]),
  });
  // fromEntries: a tensor named __proto__ stays a tensor.
  const tensors = mergeCheckpointLora(Object.fromEntries(read), lora.env, lora.model, `--weights ${path}`);
  const header = [...Object.entries(tensors).map(([name, t]) => ({ name, dtype: t.dtype, shape: t.shape })), ...skipped];
  const out = new Map<string, Float32Array>();
  for (const [name, r] of planImport(header, model, map, path)) for (const [n, x] of convertTensor(r, tensors[name]!)) out.set(n, x);
  return out;
}
