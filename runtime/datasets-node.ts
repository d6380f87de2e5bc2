import { open, readFile, stat, type FileHandle } from 'node:fs/promises';
import { extname } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { readCheckpoint } from './checkpoint-node.js';
import {
  CsvReader,
  CsvRows,
  DatasetError,
  ExampleEncoder,
  inValidation,
  indexBatches,
  nest,
  npyHeaderBytes,
  npyRowValues,
  npyValues,
  parseJsonLine,
  parseIdx,
  parseNpyHeader,
  permutation,
  safetensorsRows,
  seededRandom,
  splitIndices,
  TableDataset,
  textRows,
  type BatchOptions,
  type DatasetFormat,
  type DatasetSpec,
  type Example,
  type IdxArray,
  type NpyHeader,
  type Row,
} from './datasets.js';
import type { HostArray } from './executor.js';

/**
 * Datasets from files in Node. JSONL and CSV are read through a file handle in chunks
 * and never held whole, so a file may be larger than memory: shuffling then uses a
 * bounded buffer (`shuffleBuffer` examples, seeded) and the validation split hashes each
 * row's index with the seed (inValidation). A `.npy` file is read by row ranges at their
 * offsets, so it is shuffled and split exactly without being loaded. safetensors and
 * text files are loaded whole (TableDataset).
 */

export interface SplitOptions {
  /** The fraction of rows held out for validation, and the seed choosing them. */
  readonly fraction: number;
  readonly seed: number;
  /** Which side to read. */
  readonly part: 'train' | 'validation';
}

export interface StreamBatchOptions extends BatchOptions {
  readonly split?: SplitOptions;
  /** JSONL/CSV: how many examples the seeded shuffle holds at once (default 10,000). */
  readonly shuffleBuffer?: number;
}

export interface FileDataset {
  readonly path: string;
  readonly format: DatasetFormat | 'text';
  batches(opts: StreamBatchOptions): AsyncGenerator<Record<string, HostArray>>;
}

export interface OpenOptions {
  /** Defaults from the extension: .jsonl/.ndjson, .csv, .npy, .safetensors, .txt. */
  readonly format?: DatasetFormat | 'text';
  /** .npy: the column name its rows are known by in `spec.columns` (default 'x'). */
  readonly npyColumn?: string;
  /** Text: the tokenizer (spec.tokenizer is used when absent), the window length and column names of textRows. */
  readonly textLength?: number;
}

const CHUNK = 1 << 20;

export async function openDataset(path: string, spec: DatasetSpec, opts: OpenOptions = {}): Promise<FileDataset> {
  const format = opts.format ?? formatOf(path);
  const encoder = new ExampleEncoder(spec);
  const st = await stat(path);
  if (!st.isFile()) throw new DatasetError(`${path}: not a regular file`);
  if (st.size === 0) throw new DatasetError(`${path}: the file is empty (no rows)`);
  if (format === 'jsonl' || format === 'csv') return new LineDataset(path, format, encoder);
  if (format === 'npy') return openNpy({ [opts.npyColumn ?? 'x']: path }, spec);
  let rows: { row: Row; where: string }[];
  if (format === 'safetensors') {
    rows = safetensorsRows((await readCheckpoint(path, { requireChecksum: false })).tensors, path);
  } else {
    const length = opts.textLength;
    if (!spec.tokenizer || length === undefined) throw new DatasetError(`${path}: a text dataset needs spec.tokenizer and textLength`);
    rows = textRows(await readFile(path, 'utf8'), spec.tokenizer, length, path);
  }
  return new TableFile(path, format, new TableDataset(encoder, rows, path));
}

function formatOf(path: string): DatasetFormat | 'text' {
  const ext = extname(path).toLowerCase();
  const f = ({ '.jsonl': 'jsonl', '.ndjson': 'jsonl', '.csv': 'csv', '.npy': 'npy', '.safetensors': 'safetensors', '.txt': 'text' } as const)[ext];
  if (!f) throw new DatasetError(`${path}: unknown dataset format '${ext}' (.jsonl, .csv, .npy, .safetensors, .txt; or pass format)`);
  return f;
}

/** Reads a file's rows with their places, chunk by chunk. */
async function* fileRows(path: string, format: 'jsonl' | 'csv'): AsyncGenerator<{ row: Row; where: string }> {
  const fh = await open(path, 'r');
  try {
    const decoder = new TextDecoder('utf-8');
    const buf = new Uint8Array(CHUNK);
    const csv = format === 'csv' ? { reader: new CsvReader(path), rows: new CsvRows(path) } : undefined;
    let carry = '';
    let line = 0;
    let any = false;
    const jsonl = function* (text: string) {
      for (const l of text.split('\n')) {
        line++;
        if (l.trim() === '') continue;
        any = true;
        yield { row: parseJsonLine(l, `${path}:${line}`), where: `${path}:${line}` };
      }
    };
    const records = function* (recs: ReturnType<CsvReader['push']>) {
      for (const r of recs) {
        const row = csv!.rows.row(r);
        if (row) {
          any = true;
          yield { row, where: `${path}:${r.line}` };
        }
      }
    };
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, CHUNK, null);
      const text = decoder.decode(buf.subarray(0, bytesRead), { stream: bytesRead > 0 });
      if (csv) yield* records(bytesRead > 0 ? csv.reader.push(text) : [...csv.reader.push(text), ...csv.reader.end()]);
      else {
        const all = carry + text;
        const cut = bytesRead > 0 ? all.lastIndexOf('\n') : all.length;
        carry = cut < 0 ? all : all.slice(cut + 1);
        if (cut >= 0) yield* jsonl(all.slice(0, cut));
      }
      if (bytesRead === 0) break;
    }
    if (!any) throw new DatasetError(`${path}: the file is empty (no rows${csv?.rows.hasHeader ? ' after the header' : ''})`);
  } finally {
    await fh.close();
  }
}

/** JSONL or CSV, streamed. */
class LineDataset implements FileDataset {
  constructor(
    readonly path: string,
    readonly format: 'jsonl' | 'csv',
    private readonly encoder: ExampleEncoder,
  ) {}

  async *batches(opts: StreamBatchOptions): AsyncGenerator<Record<string, HostArray>> {
    checkBatch(opts);
    const rand = opts.seed === undefined ? undefined : seededRandom(opts.seed);
    const cap = rand ? (opts.shuffleBuffer ?? 10_000) : 0;
    const pool: Example[] = [];
    let pending: Example[] = [];
    const take = (e: Example) => {
      pending.push(e);
      if (pending.length < opts.batchSize) return undefined;
      const b = this.encoder.batch(pending);
      pending = [];
      return b;
    };
    let index = 0;
    for await (const { row, where } of fileRows(this.path, this.format)) {
      const i = index++;
      if (opts.split && inValidation(i, opts.split.fraction, opts.split.seed) !== (opts.split.part === 'validation')) continue;
      const e = this.encoder.encode(row, where);
      if (!rand) {
        const b = take(e);
        if (b) yield b;
        continue;
      }
      // A bounded seeded shuffle: each new example replaces a random one of the pool, which goes out.
      if (pool.length < cap) {
        pool.push(e);
        continue;
      }
      const k = Math.floor(rand() * cap);
      const out = pool[k]!;
      pool[k] = e;
      const b = take(out);
      if (b) yield b;
    }
    if (rand) {
      const p = permutation(pool.length, Math.floor(rand() * 2 ** 32));
      for (const k of p) {
        const b = take(pool[k]!);
        if (b) yield b;
      }
    }
    if (pending.length && !opts.dropLast) yield this.encoder.batch(pending);
  }
}

/**
 * One or more .npy files read by row ranges, each a column (images.npy and labels.npy):
 * exact shuffles and splits over row indices, with every column's file open at once.
 */
export async function openNpy(columns: Readonly<Record<string, string>>, spec: DatasetSpec): Promise<FileDataset> {
  const encoder = new ExampleEncoder(spec);
  const cols: NpyColumn[] = [];
  for (const [column, path] of Object.entries(columns)) {
    const fh = await open(path, 'r');
    try {
      const size = (await fh.stat()).size;
      if (size === 0) throw new DatasetError(`${path}: the file is empty (no rows)`);
      const first = await readAt(fh, new Uint8Array(Math.min(12, size)), 0);
      const header = parseNpyHeader(await readAt(fh, new Uint8Array(Math.min(npyHeaderBytes(first, path), size)), 0), size, path);
      if (header.rows === 0) throw new DatasetError(`${path}: the file is empty (no rows)`);
      if (cols.length && header.rows !== cols[0]!.header.rows)
        throw new DatasetError(`${path}: ${header.rows} rows, but ${cols[0]!.path} has ${cols[0]!.header.rows} (the columns' files must have the same rows)`);
      cols.push({ column, path, header });
    } finally {
      await fh.close();
    }
  }
  if (cols.length === 0) throw new DatasetError('openNpy needs at least one column file');
  return new NpyDataset(cols, encoder);
}

interface NpyColumn {
  readonly column: string;
  readonly path: string;
  readonly header: NpyHeader;
}

class NpyDataset implements FileDataset {
  readonly format = 'npy';
  readonly path: string;
  constructor(
    private readonly cols: readonly NpyColumn[],
    private readonly encoder: ExampleEncoder,
  ) {
    this.path = cols[0]!.path;
  }

  get length(): number {
    return this.cols[0]!.header.rows;
  }

  async *batches(opts: StreamBatchOptions): AsyncGenerator<Record<string, HostArray>> {
    checkBatch(opts);
    const all = Uint32Array.from({ length: this.length }, (_, i) => i);
    const indices = opts.split ? splitIndices(this.length, opts.split.fraction, opts.split.seed)[opts.split.part] : all;
    const handles: FileHandle[] = [];
    try {
      for (const c of this.cols) handles.push(await open(c.path, 'r'));
      for (const b of indexBatches(indices, opts)) {
        const rows: Record<string, unknown>[] = b.map(() => ({}));
        // Runs of consecutive rows are read as one range (the whole batch, in file order without a shuffle).
        for (let s = 0; s < b.length;) {
          let e = s + 1;
          while (e < b.length && b[e] === b[e - 1]! + 1) e++;
          for (const [k, c] of this.cols.entries()) {
            const h = c.header;
            const bytes = await readAt(handles[k]!, new Uint8Array((e - s) * h.rowBytes), h.dataOffset + b[s]! * h.rowBytes);
            npyRowValues(h, npyValues(h, bytes)).forEach((v, i) => (rows[s + i]![c.column] = nest(v, h.shape.slice(1))));
          }
          s = e;
        }
        const where = (i: number) => (this.cols.length === 1 ? `${this.path} row ${b[i]}` : `row ${b[i]} of ${this.cols.map((c) => c.path).join(', ')}`);
        yield this.encoder.batch(rows.map((r, i) => this.encoder.encode(r, where(i))));
      }
    } finally {
      for (const h of handles) await h.close();
    }
  }
}

class TableFile implements FileDataset {
  constructor(
    readonly path: string,
    readonly format: DatasetFormat | 'text',
    readonly table: TableDataset,
  ) {}
  async *batches(opts: StreamBatchOptions): AsyncGenerator<Record<string, HostArray>> {
    checkBatch(opts);
    const view = opts.split ? this.table.split(opts.split.fraction, opts.split.seed)[opts.split.part] : this.table.all();
    yield* view.batches(opts);
  }
}

function checkBatch(opts: BatchOptions) {
  if (!(Number.isInteger(opts.batchSize) && opts.batchSize > 0)) throw new DatasetError(`batchSize must be a positive integer, not ${opts.batchSize}`);
  if (typeof opts.dropLast !== 'boolean')
    throw new DatasetError(`dropLast must be given, true or false: whether a last batch smaller than batchSize is dropped`);
}

async function readAt(fh: FileHandle, into: Uint8Array, position: number): Promise<Uint8Array> {
  let done = 0;
  while (done < into.length) {
    const { bytesRead } = await fh.read(into, done, into.length - done, position + done);
    if (bytesRead === 0) break;
    done += bytesRead;
  }
  return into.subarray(0, done);
}

/** An IDX file (MNIST's format), gunzipped first when it ends in .gz or starts with gzip's magic bytes. */
export async function readIdx(path: string): Promise<IdxArray> {
  let bytes: Uint8Array = await readFile(path);
  if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try {
      bytes = gunzipSync(bytes);
    } catch (e) {
      throw new DatasetError(`${path}: damaged gzip data (${(e as Error).message})`);
    }
  }
  return parseIdx(bytes, path);
}
