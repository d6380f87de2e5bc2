import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import { DatasetError, ExampleEncoder, npyValues, parseNpyHeader, rowsOf, TableDataset, type DatasetInput, type DatasetSpec } from './datasets.js';
import { openDataset, readIdx, type SplitOptions } from './datasets-node.js';
import { ArrayDataset, epochSeed, type BatchStream } from './trainer.js';
import { numel } from '../layout/mesh.js';

/**
 * A whole dataset file loaded into one typed array per plan input (ArrayDataset, what the
 * Trainer draws batches from), every value checked first so a bad row fails before
 * training starts. JSONL, CSV and safetensors go through the row encoder (runtime/datasets.ts:
 * column mapping, dtype, shape, NaN and label range, with `file:line`). `.npy` and IDX files
 * hold one array each: the main file fills the one non-label input mapped, and `labels` (a
 * second file of the same kind) fills the label input. IDX bytes (images) become f32 in
 * [0, 1] when the input is a float.
 */

export type ArrayFormat = 'jsonl' | 'csv' | 'npy' | 'safetensors' | 'idx';

export interface LoadOptions {
  readonly format?: ArrayFormat;
  /** `.npy` / IDX: the file of labels, one per row of the main file. */
  readonly labels?: string;
}

/** The value ignored as a label (masked positions), as the training loss ignores any label outside [0, classes). */
export const IGNORE_LABEL = -100;

export function arrayFormatOf(path: string): ArrayFormat | undefined {
  const p = path.toLowerCase().replace(/\.gz$/, '');
  if (/\.idx\d?$|-idx\d-ubyte$|-ubyte$/.test(p)) return 'idx';
  const ext = extname(p);
  return ({ '.jsonl': 'jsonl', '.ndjson': 'jsonl', '.csv': 'csv', '.npy': 'npy', '.safetensors': 'safetensors' } as const)[ext as '.csv'];
}

export async function loadArrays(path: string, spec: DatasetSpec, opts: LoadOptions = {}): Promise<ArrayDataset> {
  const format = opts.format ?? arrayFormatOf(path);
  if (!format) throw new DatasetError(`${path}: unknown dataset format (.jsonl, .csv, .npy, .safetensors, IDX such as train-images-idx3-ubyte.gz)`);
  if (format === 'jsonl' || format === 'csv' || format === 'safetensors') {
    if (opts.labels) throw new DatasetError(`${opts.labels}: a separate labels file goes with .npy and IDX data; ${path} has its labels as a column`);
    const bytes = await readFile(path);
    const encoder = new ExampleEncoder(spec);
    const table = new TableDataset(encoder, rowsOf(bytes, format, path), path);
    return new ArrayDataset(encoder.batch(table.examples), table.length);
  }
  const mapped = Object.keys(spec.columns).map((k) => spec.inputs.find((i) => i.name === k)!);
  const labelIo = mapped.filter((io) => spec.labels?.includes(io.name));
  const dataIo = mapped.filter((io) => !spec.labels?.includes(io.name));
  if (dataIo.length !== 1)
    throw new DatasetError(
      `${path}: a ${format} file is one array, and the model takes ${dataIo.map((i) => i.name).join(', ') || 'no input'} from data: use JSONL, CSV or safetensors`,
    );
  if (labelIo.length > 1) throw new DatasetError(`${path}: one labels file fills one label input; the model has ${labelIo.map((i) => i.name).join(', ')}`);
  if (labelIo.length && !opts.labels) throw new DatasetError(`${path}: input '${labelIo[0]!.name}' needs a labels file (mdc train --labels FILE)`);
  const main = await readArray(path, format);
  const columns = { [dataIo[0]!.name]: toColumn(main, dataIo[0]!, path, false, undefined, format === 'idx') };
  if (labelIo.length) {
    const lab = await readArray(opts.labels!, arrayFormatOf(opts.labels!) ?? format);
    if (lab.shape[0] !== main.shape[0]) throw new DatasetError(`${opts.labels}: ${lab.shape[0]} labels for the ${main.shape[0]} rows of ${path}`);
    const io = labelIo[0]!;
    columns[io.name] = toColumn(lab, io, opts.labels!, true, spec.classes?.[io.name] ?? io.max, false);
  }
  return new ArrayDataset(columns, main.shape[0]!);
}

async function readArray(path: string, format: ArrayFormat): Promise<{ data: ArrayLike<number>; shape: readonly number[] }> {
  if (format === 'idx') return readIdx(path);
  if (format !== 'npy') throw new DatasetError(`${path}: a labels file must be .npy or IDX`);
  const bytes = await readFile(path);
  if (bytes.length === 0) throw new DatasetError(`${path}: the file is empty (no rows)`);
  const h = parseNpyHeader(bytes, bytes.length, path);
  if (h.rows === 0) throw new DatasetError(`${path}: the file is empty (no rows)`);
  return { data: npyValues(h, bytes.subarray(h.dataOffset)), shape: h.shape };
}

/** One input's values from an array with a row per example, checked: per-row size, integers for i32, NaN, label range. */
function toColumn(
  a: { data: ArrayLike<number>; shape: readonly number[] },
  io: DatasetInput,
  source: string,
  label: boolean,
  classes: number | undefined,
  bytes: boolean,
) {
  const per = numel(io.shape.slice(1));
  const rows = a.shape[0]!;
  const have = numel(a.shape.slice(1));
  if (have !== per)
    throw new DatasetError(
      `${source}: rows of shape [${a.shape.slice(1).join(', ')}] (${have} values); input '${io.name}' expects ${io.dtype}[${io.shape.slice(1).join(', ')}] (${per})`,
    );
  const int = io.dtype === 'i32' || io.dtype === 'bool';
  const out = int ? new Int32Array(rows * per) : new Float32Array(rows * per);
  // Bytes are pixel intensities: a float input gets them in [0, 1].
  const scale = bytes && !int && a.data instanceof Uint8Array ? 1 / 255 : 1;
  for (let i = 0; i < out.length; i++) {
    const x = a.data[i]!;
    const where = () => `${source} row ${Math.floor(i / per)}`;
    if (Number.isNaN(x)) throw new DatasetError(`${where()}: ${label ? 'label' : 'value'} is NaN (input '${io.name}')`);
    if (int && !Number.isInteger(x)) throw new DatasetError(`${where()}: ${x} is not an integer (input '${io.name}' is ${io.dtype})`);
    if (label && classes !== undefined && x !== IGNORE_LABEL && !(x >= 0 && x < classes))
      throw new DatasetError(`${where()}: label ${x} is out of range for ${classes} classes (0..${classes - 1})`);
    out[i] = x * scale;
  }
  return out;
}

/**
 * A JSONL or CSV file streamed (never held whole) as the Trainer's BatchStream: each epoch
 * shuffled through datasets-node.ts's bounded seeded buffer with a seed drawn from `seed`
 * and the epoch, `split` choosing the rows of one side by a hash of their index. A first
 * pass counts the rows and checks every one of them, so bad data stops the run before
 * training as it does for a file loaded whole.
 */
export async function streamArrays(
  path: string,
  spec: DatasetSpec,
  o: { readonly seed: number; readonly split?: SplitOptions; readonly format?: ArrayFormat },
): Promise<BatchStream> {
  const format = o.format ?? arrayFormatOf(path);
  if (format !== 'jsonl' && format !== 'csv')
    throw new DatasetError(`${path}: only JSONL and CSV files are streamed; load ${format ?? 'this format'} whole (without --stream)`);
  const ds = await openDataset(path, spec, { format });
  const split = o.split ? { split: o.split } : {};
  let length = 0;
  for await (const b of ds.batches({ batchSize: 1, dropLast: false, ...split })) if (b) length++;
  const sizes = Object.fromEntries(Object.keys(spec.columns).map((k) => [k, numel(spec.inputs.find((i) => i.name === k)!.shape.slice(1))]));
  return {
    length,
    sizes,
    batches: (rows, { epoch, dropLast }) =>
      ds.batches({ batchSize: rows, dropLast, ...(epoch !== undefined ? { seed: epochSeed(o.seed, epoch) } : {}), ...split }),
  };
}
