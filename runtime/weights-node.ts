/**
 * Pretrained weights from and to safetensors files in Node, through a name map: the
 * file is streamed by checkpoint-node.ts (one tensor in memory besides what is kept),
 * its header checked against the model before any data is read.
 */
import { readFile, stat } from 'node:fs/promises';
import { visitCheckpoint, writeCheckpoint } from './checkpoint-node.js';
import { convertTensor, exportWeights, planImport, resolveWeightsMap, type ExportOptions, type WeightsModel, type WeightsRead } from './weights.js';
import { parseWeightsMap, WeightsError, WEIGHTS_MAP_PRESETS, type WeightsMap } from './weights-map.js';

/**
 * The parameters of `model` from the safetensors file at `path`, by parameter name, for
 * `RunnerOptions.params`. `map` is a preset name (gpt2, bert, llama) or a map. Refuses a
 * malformed file with a CheckpointError and a file that does not fit the model with a
 * WeightsError listing every problem.
 */
export async function loadWeights(path: string, model: WeightsModel, mapOrName: WeightsMap | string): Promise<Map<string, Float32Array>> {
  const map = resolveWeightsMap(mapOrName);
  let reads = new Map<string, WeightsRead>();
  const out = new Map<string, Float32Array>();
  await visitCheckpoint(
    path,
    (name, tensor) => {
      const read = reads.get(name);
      if (read) for (const [n, v] of convertTensor(read, tensor)) out.set(n, v);
    },
    {
      requireChecksum: false,
      skipOtherDtypes: true,
      onHeader: (layout) => void (reads = planImport([...layout.tensors, ...layout.skipped], model, map, path)),
    },
  );
  return out;
}

export interface SaveWeightsOptions extends ExportOptions {
  /** Extra `__metadata__` strings; `format: pt` is always written (Hugging Face's loader asks for it). */
  readonly metadata?: Readonly<Record<string, string>>;
}

/** Writes parameter values (every parameter of `model`) as a safetensors file under the map's source names, atomically. */
export async function saveWeights(
  path: string,
  params: ReadonlyMap<string, Float32Array>,
  model: WeightsModel,
  map: WeightsMap | string,
  opts: SaveWeightsOptions = {},
): Promise<void> {
  const tensors = exportWeights(params, model, map, opts, path);
  await writeCheckpoint(path, tensors, { ...opts.metadata, format: 'pt' });
}

/** A map is a few kilobytes; a file far larger is the wrong file. */
const MAX_MAP_BYTES = 1 << 20;

/** A map by preset name, or read from a JSON file (`*.weights.json`) and checked. */
export async function readWeightsMap(presetOrPath: string): Promise<WeightsMap> {
  if (Object.hasOwn(WEIGHTS_MAP_PRESETS, presetOrPath)) return WEIGHTS_MAP_PRESETS[presetOrPath]!;
  let text: string;
  try {
    const st = await stat(presetOrPath);
    if (!st.isFile()) throw new WeightsError(presetOrPath, ['not a regular file']);
    if (st.size > MAX_MAP_BYTES) throw new WeightsError(presetOrPath, [`${st.size} bytes, over the ${MAX_MAP_BYTES}-byte limit for a weights map`]);
    text = await readFile(presetOrPath, 'utf8');
  } catch (e) {
    if (e instanceof WeightsError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    throw new WeightsError(presetOrPath, [
      code === 'ENOENT'
        ? `no such file, and not a preset (presets: ${Object.keys(WEIGHTS_MAP_PRESETS).join(', ')})`
        : `cannot be read (${code ?? (e as Error).message})`,
    ]);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new WeightsError(presetOrPath, [`not JSON (${(e as Error).message})`]);
  }
  return parseWeightsMap(json, presetOrPath);
}
