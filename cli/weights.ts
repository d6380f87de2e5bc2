import { existsSync } from 'node:fs';
import { basename, dirname, extname, join } from 'node:path';
import { regularFileSize } from './files.js';
import { UsageError, type Values } from './options.js';
import type { WeightsModel } from '../runtime/weights.js';
import { WEIGHTS_MAP_PRESETS } from '../runtime/weights-map.js';

/** The options `--weights FILE` and `--weights-map NAME|FILE`, for a command's option spec. */
export const WEIGHTS_OPTIONS = { weights: { type: 'string' }, 'weights-map': { type: 'string' } } as const;

export const WEIGHTS_HELP = `  --weights FILE     parameters from a safetensors file (Hugging Face's names), through
                     a name map; every parameter must be in it, each shape must match
  --weights-map M    the name map: ${Object.keys(WEIGHTS_MAP_PRESETS).join(', ')} (built in) or a JSON file;
                     default: MODEL.weights.json next to the model file (docs/weights.md)`;

/** The map `--weights` goes through: the option's value, else `<model>.weights.json` beside `modelFile`. */
export function weightsMapOption(v: Values, modelFile: string): string {
  const given = v['weights-map'] as string | undefined;
  if (given !== undefined) {
    if (!Object.hasOwn(WEIGHTS_MAP_PRESETS, given)) regularFileSize(given, '--weights-map');
    return given;
  }
  const beside = join(dirname(modelFile), `${basename(modelFile, extname(modelFile))}.weights.json`);
  if (existsSync(beside)) return beside;
  throw new UsageError(
    `--weights needs a name map: --weights-map ${Object.keys(WEIGHTS_MAP_PRESETS).join('|')}|FILE, or a file '${beside}' next to the model (docs/weights.md)`,
  );
}

/**
 * The parameters `--weights` gives `model` (a plan), or undefined without the option. A
 * file that is malformed or does not fit the model fails with every problem named.
 */
export async function weightsOption(v: Values, modelFile: string, model: WeightsModel): Promise<Map<string, Float32Array> | undefined> {
  const path = v['weights'] as string | undefined;
  if (path === undefined) {
    if (v['weights-map'] !== undefined) throw new UsageError('--weights-map needs --weights');
    return undefined;
  }
  regularFileSize(path, '--weights');
  const map = weightsMapOption(v, modelFile);
  const { loadWeights, readWeightsMap } = await import('../runtime/weights-node.js');
  return loadWeights(path, model, await readWeightsMap(map));
}
