/**
 * Training data from bytes, browser-safe: JSONL, CSV, NumPy `.npy`, safetensors and text
 * through a tokenizer, mapped to a plan's inputs by name, checked, shuffled, split and
 * batched. File access and streaming are datasets-node.ts.
 *
 * A source yields rows (column name → value) with a place (`file:line` or `file row N`);
 * an ExampleEncoder turns a row into one example per mapped input, checking every value
 * against the input's dtype and per-example shape (the plan input's shape without its
 * leading batch dimension) and, for labels, against NaN and the number of classes. Every
 * refusal is a DatasetError whose message starts with the place.
 */
import { decodeCheckpoint, type CheckpointTensor } from './checkpoint.js';
import type { HostArray } from './executor.js';
import { fromHalves } from './half.js';
import type { PlanIO } from './plan.js';
import type { TextTokenizer } from './tokenizer.js';
import { numel } from '../layout/mesh.js';

export class DatasetError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DatasetError';
  }
}

/** What a dataset needs of a plan input (PlanIO has these fields). */
export type DatasetInput = Pick<PlanIO, 'name' | 'dtype' | 'shape' | 'max'>;

export interface DatasetSpec {
  /** The plan's inputs (their first dimension is the batch). */
  readonly inputs: readonly DatasetInput[];
  /**
   * Input name → column name, or a list of scalar columns gathered in order (a CSV's
   * `pixel0..pixel783`). Every input listed is filled from its columns; inputs not listed
   * are left to the caller.
   */
  readonly columns: Readonly<Record<string, string | readonly string[]>>;
  /** Inputs that are labels: NaN is refused, and an integer label must lie in [0, classes). */
  readonly labels?: readonly string[];
  /** Number of classes per label input; defaults to the input's `max` when the plan knows it. */
  readonly classes?: Readonly<Record<string, number>>;
  /** Turns a string value for an integer input into ids, padded with `padId` (default 0) or cut to the input's length. */
  readonly tokenizer?: TextTokenizer;
  readonly padId?: number;
}

/** One example: per mapped input, its values flattened (row-major) in the per-example shape. */
export type Example = Record<string, number[]>;
export type Row = Readonly<Record<string, unknown>>;

const isInt = (dtype: string) => dtype === 'i32' || dtype === 'bool';
const shapeText = (s: readonly number[]) => `[${s.join(', ')}]`;

/** Flattens a nested array value, returning its shape, or undefined when it is ragged or holds non-arrays at different depths. */
function flatten(v: unknown): { shape: number[]; values: unknown[] } | undefined {
  if (!Array.isArray(v)) return { shape: [], values: [v] };
  const parts = v.map(flatten);
  if (parts.some((p) => p === undefined)) return undefined;
  const first = parts[0];
  if (first && parts.some((p) => shapeText(p!.shape) !== shapeText(first.shape))) return undefined;
  return { shape: [v.length, ...(first?.shape ?? [])], values: parts.flatMap((p) => p!.values) };
}

/** Checks rows against a spec and turns them into examples. */
export class ExampleEncoder {
  private readonly mapped: { io: DatasetInput; column: string; columns: readonly string[]; shape: number[]; label: boolean; classes?: number }[];

  constructor(readonly spec: DatasetSpec) {
    this.mapped = Object.entries(spec.columns).map(([input, column]) => {
      const io = spec.inputs.find((i) => i.name === input);
      if (!io)
        throw new DatasetError(
          `the column mapping names input '${input}', which the model does not have (it has ${spec.inputs.map((i) => i.name).join(', ')})`,
        );
      const label = spec.labels?.includes(input) ?? false;
      const classes = spec.classes?.[input] ?? (label ? io.max : undefined);
      const columns = typeof column === 'string' ? [column] : column;
      if (columns.length === 0) throw new DatasetError(`the column mapping for input '${input}' lists no columns`);
      const name = typeof column === 'string' ? column : columns.length === 1 ? columns[0]! : `${columns[0]}..${columns[columns.length - 1]}`;
      return { io, column: name, columns, shape: io.shape.slice(1), label, ...(classes !== undefined ? { classes } : {}) };
    });
  }

  /** The batch size the plan was compiled for (every mapped input's first dimension). */
  get planBatch(): number | undefined {
    return this.mapped[0]?.io.shape[0];
  }

  encode(row: Row, where: string): Example {
    const out: Example = {};
    for (const m of this.mapped) {
      const { io, column, shape } = m;
      for (const c of m.columns)
        if (!Object.hasOwn(row, c))
          throw new DatasetError(`${where}: missing column '${c}' (for input '${io.name}'); the row has ${Object.keys(row).join(', ') || 'no columns'}`);
      let value = m.columns.length === 1 && m.columns[0] === column ? row[column] : m.columns.map((c) => row[c]);
      if (typeof value === 'string' && isInt(io.dtype) && this.spec.tokenizer && shape.length === 1) value = this.tokens(value, shape[0]!);
      const flat = flatten(value);
      if (!flat) throw new DatasetError(`${where}: column '${column}' is a ragged array; input '${io.name}' expects ${io.dtype}${shapeText(shape)}`);
      if (flat.values.length !== numel(shape) || (flat.shape.length > 0 && shapeText(flat.shape) !== shapeText(shape)))
        throw new DatasetError(`${where}: column '${column}' has shape ${shapeText(flat.shape)}; input '${io.name}' expects ${io.dtype}${shapeText(shape)}`);
      const values: number[] = new Array(flat.values.length);
      flat.values.forEach((x, i) => (values[i] = this.value(m, x, where)));
      out[io.name] = values;
    }
    return out;
  }

  private value(m: ExampleEncoder['mapped'][number], x: unknown, where: string): number {
    const { io, column } = m;
    const n = x === null ? NaN : typeof x === 'string' && x.trim() !== '' ? Number(x) : x;
    if (m.label && typeof n === 'number' && Number.isNaN(n)) throw new DatasetError(`${where}: label in column '${column}' is NaN`);
    if (typeof n !== 'number' || Number.isNaN(n))
      throw new DatasetError(`${where}: column '${column}' holds ${JSON.stringify(x)}, not a number (input '${io.name}' is ${io.dtype})`);
    if (isInt(io.dtype) && !(Number.isInteger(n) && n >= -(2 ** 31) && n < 2 ** 31))
      throw new DatasetError(`${where}: column '${column}' holds ${n}, not a 32-bit integer (input '${io.name}' is ${io.dtype})`);
    // -100 marks a position without a label (masked-LM): the loss skips any label outside [0, classes).
    if (m.classes !== undefined && n !== -100 && !(n >= 0 && n < m.classes))
      throw new DatasetError(`${where}: label ${n} in column '${column}' is out of range for ${m.classes} classes (0..${m.classes - 1})`);
    return n;
  }

  private tokens(text: string, length: number): number[] {
    const ids = this.spec.tokenizer!.encode(text).slice(0, length);
    while (ids.length < length) ids.push(this.spec.padId ?? 0);
    return ids;
  }

  /** Stacks examples into one host array per mapped input, [examples.length, ...per-example shape]. */
  batch(examples: readonly Example[]): Record<string, HostArray> {
    const out: Record<string, HostArray> = {};
    for (const { io, shape } of this.mapped) {
      const size = numel(shape);
      const data = isInt(io.dtype) ? new Int32Array(examples.length * size) : new Float32Array(examples.length * size);
      examples.forEach((e, i) => data.set(e[io.name]!, i * size));
      out[io.name] = data;
    }
    return out;
  }
}

// ---- Seeded order: shuffling and the validation split ----

/** mulberry32: a small, fast generator with a 32-bit state; good enough to order data, and the same everywhere. */
export function seededRandom(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A permutation of 0..n-1 (Fisher–Yates) determined by `seed`. */
export function permutation(n: number, seed: number): Uint32Array {
  const p = new Uint32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  const rand = seededRandom(seed);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    const t = p[i]!;
    p[i] = p[j]!;
    p[j] = t;
  }
  return p;
}

/** Splits 0..n-1 into disjoint train and validation index sets: round(n × fraction) rows, chosen by `seed`, go to validation. */
export function splitIndices(n: number, fraction: number, seed: number): { train: Uint32Array; validation: Uint32Array } {
  if (!(fraction >= 0 && fraction < 1)) throw new DatasetError(`the validation fraction must be in [0, 1), not ${fraction}`);
  const p = permutation(n, seed);
  const v = Math.round(n * fraction);
  return { validation: p.slice(0, v).sort(), train: p.slice(v).sort() };
}

/**
 * For streams, where the row count is not known in advance: row `index` belongs to the
 * validation split when a hash of (seed, index) falls under `fraction`. Deterministic and
 * disjoint; the split's size is `fraction` of the rows on average, not exactly.
 */
export function inValidation(index: number, fraction: number, seed: number): boolean {
  if (fraction <= 0) return false;
  let h = Math.imul((index >>> 0) ^ Math.imul(seed >>> 0, 0x9e3779b1), 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return (h >>> 0) / 4294967296 < fraction;
}

export interface BatchOptions {
  readonly batchSize: number;
  /** Required, so the choice is visible: true drops a last batch smaller than batchSize; false yields it short. */
  readonly dropLast: boolean;
  /** Shuffle with this seed; absent: file order. */
  readonly seed?: number;
}

/** Indices in batches, shuffled when a seed is given. */
export function* indexBatches(indices: ArrayLike<number>, opts: BatchOptions): Generator<number[]> {
  if (!(Number.isInteger(opts.batchSize) && opts.batchSize > 0)) throw new DatasetError(`batchSize must be a positive integer, not ${opts.batchSize}`);
  const order = opts.seed === undefined ? Array.from(indices) : Array.from(permutation(indices.length, opts.seed), (k) => indices[k]!);
  for (let at = 0; at < order.length; at += opts.batchSize) {
    const b = order.slice(at, at + opts.batchSize);
    if (b.length < opts.batchSize && opts.dropLast) return;
    yield b;
  }
}

// ---- Text: JSONL lines and CSV records ----

/** One JSONL line as a row; blank lines are the caller's to skip. */
export function parseJsonLine(line: string, where: string): Row {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch (e) {
    throw new DatasetError(`${where}: malformed JSONL line (${(e as Error).message})`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    throw new DatasetError(`${where}: a JSONL line must be an object, not ${Array.isArray(v) ? 'an array' : JSON.stringify(v)}`);
  return v as Row;
}

export interface CsvRecord {
  readonly fields: string[];
  /** The 1-based line the record starts on. */
  readonly line: number;
}

/**
 * An incremental CSV reader (RFC 4180): fields separated by commas, records by LF or
 * CRLF; a field in double quotes may hold commas, line breaks and `""` for a quote. Text
 * arrives in pieces of any size (`push`), so a record may span pieces; `end` flushes the
 * last record. A quote inside an unquoted field, text after a closing quote and an
 * unterminated quote are refused with the line.
 */
export class CsvReader {
  private field = '';
  private fields: string[] = [];
  private quoted = false;
  private inQuotes = false;
  private afterQuote = false;
  private pendingCR = false;
  private line = 1;
  private recordLine = 1;
  private started = false;

  constructor(private readonly source: string) {}

  push(text: string): CsvRecord[] {
    const out: CsvRecord[] = [];
    for (let i = 0; i < text.length; i++) {
      const c = text[i]!;
      // A CR ends a line by itself or with the LF after it, which may arrive in the next piece.
      if (this.pendingCR) {
        this.pendingCR = false;
        if (c === '\n') {
          if (this.inQuotes) this.field += c;
          continue;
        }
      }
      if (this.inQuotes) {
        if (c === '"') {
          this.inQuotes = false;
          this.afterQuote = true;
        } else {
          if (c === '\n' || c === '\r') this.line++;
          if (c === '\r') this.pendingCR = true;
          this.field += c;
        }
        continue;
      }
      if (this.afterQuote && c === '"') {
        this.field += '"';
        this.inQuotes = true;
        this.afterQuote = false;
        continue;
      }
      if (c === ',') {
        this.endField();
      } else if (c === '\n' || c === '\r') {
        if (c === '\r') this.pendingCR = true;
        if (this.started) out.push(this.endRecord());
        this.line++;
        this.recordLine = this.line;
      } else if (c === '"') {
        if (this.field !== '' || this.quoted) this.fail(`a quote inside an unquoted field`);
        this.quoted = this.inQuotes = this.started = true;
      } else {
        if (this.afterQuote) this.fail(`text after a closing quote`);
        this.field += c;
        this.started = true;
      }
    }
    return out;
  }

  end(): CsvRecord[] {
    if (this.inQuotes) throw new DatasetError(`${this.source}:${this.recordLine}: a quoted field is not closed before the end of the file`);
    return this.started ? [this.endRecord()] : [];
  }

  private endField() {
    this.fields.push(this.field);
    this.field = '';
    this.quoted = this.afterQuote = false;
    this.started = true;
  }

  private endRecord(): CsvRecord {
    this.endField();
    const r = { fields: this.fields, line: this.recordLine };
    this.fields = [];
    this.started = false;
    return r;
  }

  private fail(why: string): never {
    throw new DatasetError(`${this.source}:${this.line}: ${why}`);
  }
}

/** Turns CSV records into rows keyed by the header (the first record). A row with a different field count is refused. */
export class CsvRows {
  private header?: string[];
  constructor(private readonly source: string) {}

  /** A row, or undefined for the header record. */
  row(r: CsvRecord): Row | undefined {
    if (!this.header) {
      this.header = r.fields;
      return undefined;
    }
    if (r.fields.length !== this.header.length)
      throw new DatasetError(`${this.source}:${r.line}: ragged row: ${r.fields.length} fields, the header has ${this.header.length}`);
    const row: Record<string, string> = {};
    this.header.forEach((h, i) => Object.defineProperty(row, h, { value: r.fields[i], enumerable: true }));
    return row;
  }

  get hasHeader(): boolean {
    return this.header !== undefined;
  }
}

// ---- NumPy .npy ----

export interface NpyHeader {
  readonly dtype: NpyDType;
  readonly shape: readonly number[];
  /** Where the data starts in the file. */
  readonly dataOffset: number;
  /** Bytes per row (the product of the shape after the first dimension, times the element size). */
  readonly rowBytes: number;
  readonly rows: number;
}
export type NpyDType = '<f4' | '<f8' | '<i4' | '<i8' | '|u1';
const NPY_BYTES: Readonly<Record<NpyDType, number>> = { '<f4': 4, '<f8': 8, '<i4': 4, '<i8': 8, '|u1': 1 };
const NPY_MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

/** How many leading bytes `parseNpyHeader` needs: the 10- or 12-byte preamble and then the header it announces. */
export function npyHeaderBytes(first: Uint8Array, source: string): number {
  if (first.length < 10 || NPY_MAGIC.some((b, i) => first[i] !== b)) throw new DatasetError(`${source}: not a .npy file (no \\x93NUMPY magic)`);
  const dv = new DataView(first.buffer, first.byteOffset, first.length);
  const major = first[6]!;
  if (major === 1) return 10 + dv.getUint16(8, true);
  if (major === 2 || major === 3) {
    if (first.length < 12) throw new DatasetError(`${source}: truncated .npy header`);
    return 12 + dv.getUint32(8, true);
  }
  throw new DatasetError(`${source}: .npy format version ${major}.${first[7]} is not supported (1.0, 2.0, 3.0)`);
}

/** Parses a .npy preamble and header (`bytes` holds at least npyHeaderBytes of the file); `fileBytes` checks the data's length. */
export function parseNpyHeader(bytes: Uint8Array, fileBytes: number, source: string): NpyHeader {
  const dataOffset = npyHeaderBytes(bytes, source);
  if (bytes.length < dataOffset) throw new DatasetError(`${source}: truncated .npy header`);
  const text = new TextDecoder().decode(bytes.subarray(bytes[6] === 1 ? 10 : 12, dataOffset));
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(text)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(text)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(text)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined)
    throw new DatasetError(`${source}: malformed .npy header ${JSON.stringify(text.trim())}`);
  const dtype = (descr === '<u1' ? '|u1' : descr) as NpyDType;
  if (!Object.hasOwn(NPY_BYTES, dtype)) throw new DatasetError(`${source}: .npy dtype '${descr}' is not supported (little-endian <f4, <f8, <i4, <i8, |u1)`);
  if (fortran === 'True') throw new DatasetError(`${source}: .npy data in Fortran order is not supported (save it C-ordered: np.ascontiguousarray)`);
  const shape = shapeText
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .map(Number);
  if (shape.length === 0 || !shape.every((d) => Number.isSafeInteger(d) && d >= 0))
    throw new DatasetError(`${source}: .npy shape (${shapeText}) must have a row dimension of whole numbers`);
  const rowBytes = numel(shape.slice(1)) * NPY_BYTES[dtype];
  const rows = shape[0]!;
  if (dataOffset + rows * rowBytes !== fileBytes)
    throw new DatasetError(`${source}: the .npy header describes ${rows * rowBytes} bytes of data but the file holds ${fileBytes - dataOffset}`);
  return { dtype, shape, dataOffset, rowBytes, rows };
}

/** The values of consecutive rows, from `bytes` holding exactly those rows' data. */
export function npyValues(header: NpyHeader, bytes: Uint8Array): Float64Array {
  const size = NPY_BYTES[header.dtype];
  const n = bytes.length / size;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const out = new Float64Array(n);
  const read: (at: number) => number = {
    '<f4': (at: number) => dv.getFloat32(at, true),
    '<f8': (at: number) => dv.getFloat64(at, true),
    '<i4': (at: number) => dv.getInt32(at, true),
    '<i8': (at: number) => Number(dv.getBigInt64(at, true)),
    '|u1': (at: number) => dv.getUint8(at),
  }[header.dtype];
  for (let i = 0; i < n; i++) out[i] = read(i * size);
  return out;
}

/** Splits the values of consecutive rows into per-row values (nested as the row's shape, flattened). */
export function npyRowValues(header: NpyHeader, values: Float64Array): number[][] {
  const per = header.rowBytes / NPY_BYTES[header.dtype];
  const rows: number[][] = [];
  for (let at = 0; at < values.length; at += per) rows.push(Array.from(values.subarray(at, at + per)));
  return rows;
}

/** A value as a row of the encoder sees it: a scalar for rank-0 rows, else nested to the row shape. */
export function nest(values: readonly number[], shape: readonly number[]): unknown {
  if (shape.length === 0) return values[0];
  const inner = numel(shape.slice(1));
  return Array.from({ length: shape[0]! }, (_, i) => nest(values.slice(i * inner, (i + 1) * inner), shape.slice(1)));
}

// ---- In memory: a whole table, random access ----

/** Rows held in memory with their places; `examples` checks them all up front, so a bad row fails before training starts. */
export class TableDataset {
  readonly examples: Example[];
  constructor(
    readonly encoder: ExampleEncoder,
    rows: readonly { row: Row; where: string }[],
    source: string,
  ) {
    if (rows.length === 0) throw new DatasetError(`${source}: the file is empty (no rows)`);
    this.examples = rows.map(({ row, where }) => encoder.encode(row, where));
  }

  get length(): number {
    return this.examples.length;
  }

  /** Disjoint train and validation views, by seeded fraction. */
  split(fraction: number, seed: number): { train: DatasetView; validation: DatasetView } {
    const { train, validation } = splitIndices(this.length, fraction, seed);
    return { train: new DatasetView(this, train), validation: new DatasetView(this, validation) };
  }

  all(): DatasetView {
    return new DatasetView(this, Uint32Array.from(this.examples.keys()));
  }
}

export class DatasetView {
  constructor(
    readonly table: TableDataset,
    readonly indices: Uint32Array,
  ) {}
  get length(): number {
    return this.indices.length;
  }
  *batches(opts: BatchOptions): Generator<Record<string, HostArray>> {
    for (const b of indexBatches(this.indices, opts)) yield this.table.encoder.batch(b.map((i) => this.table.examples[i]!));
  }
}

export type DatasetFormat = 'jsonl' | 'csv' | 'npy' | 'safetensors';

/** Rows of a whole file held in memory. For .npy a row is `{ [column]: value }` with the column named by `npyColumn` (default 'x'). */
export function rowsOf(bytes: Uint8Array, format: DatasetFormat, source: string, npyColumn = 'x'): { row: Row; where: string }[] {
  const rows: { row: Row; where: string }[] = [];
  if (format === 'jsonl') {
    const lines = new TextDecoder().decode(bytes).split('\n');
    lines.forEach((l, i) => {
      if (l.trim() !== '') rows.push({ row: parseJsonLine(l, `${source}:${i + 1}`), where: `${source}:${i + 1}` });
    });
  } else if (format === 'csv') {
    const reader = new CsvReader(source);
    const csv = new CsvRows(source);
    for (const r of [...reader.push(new TextDecoder().decode(bytes)), ...reader.end()]) {
      const row = csv.row(r);
      if (row) rows.push({ row, where: `${source}:${r.line}` });
    }
  } else if (format === 'npy') {
    if (bytes.length === 0) throw new DatasetError(`${source}: the file is empty (no rows)`);
    const h = parseNpyHeader(bytes, bytes.length, source);
    npyRowValues(h, npyValues(h, bytes.subarray(h.dataOffset))).forEach((v, i) =>
      rows.push({ row: { [npyColumn]: nest(v, h.shape.slice(1)) }, where: `${source} row ${i}` }),
    );
  } else {
    if (bytes.length === 0) throw new DatasetError(`${source}: the file is empty (no rows)`);
    rows.push(...safetensorsRows(decodeCheckpoint(bytes, { source, requireChecksum: false }).tensors, source));
  }
  return rows;
}

/** Rows of safetensors tensors: each tensor is a column, its first dimension the rows; every column must have the same row count. */
export function safetensorsRows(tensors: Readonly<Record<string, CheckpointTensor>>, source: string): { row: Row; where: string }[] {
  const names = Object.keys(tensors);
  if (names.length === 0) throw new DatasetError(`${source}: the file is empty (no tensors)`);
  const count = (t: CheckpointTensor) => t.shape[0] ?? 1;
  const n = count(tensors[names[0]!]!);
  for (const k of names)
    if (count(tensors[k]!) !== n) throw new DatasetError(`${source}: tensor '${k}' has ${count(tensors[k]!)} rows, tensor '${names[0]}' has ${n}`);
  const cols = names.map((k) => {
    const t = tensors[k]!;
    const values = t.dtype === 'F16' || t.dtype === 'BF16' ? halfValues(t) : t.data;
    const inner = t.shape.slice(1);
    return { k, values, inner, size: numel(inner) };
  });
  return Array.from({ length: n }, (_, i) => {
    const row: Record<string, unknown> = {};
    for (const c of cols) row[c.k] = nest(Array.from(c.values.subarray(i * c.size, (i + 1) * c.size)), c.inner);
    return { row, where: `${source} row ${i}` };
  });
}

function halfValues(t: CheckpointTensor): Float32Array {
  const bits = t.data as Uint16Array;
  if (t.dtype === 'F16') return fromHalves(bits, bits.length);
  return new Float32Array(Uint32Array.from(bits, (b) => b << 16).buffer);
}

/**
 * Text as language-model examples: the tokens cut into non-overlapping windows of
 * `length + 1` ids; each gives `{ [inputs]: ids[0..length), [targets]: ids[1..length] }`.
 */
export function textRows(
  text: string,
  tokenizer: TextTokenizer,
  length: number,
  source: string,
  names = { inputs: 'tokens', targets: 'targets' },
): { row: Row; where: string }[] {
  const ids = tokenizer.encode(text);
  if (ids.length === 0) throw new DatasetError(`${source}: the file is empty (no text)`);
  if (ids.length < length + 1) throw new DatasetError(`${source}: ${ids.length} tokens (${tokenizer.name}), fewer than one window of ${length + 1}`);
  const rows: { row: Row; where: string }[] = [];
  for (let at = 0; at + length + 1 <= ids.length; at += length + 1) {
    rows.push({
      row: { [names.inputs]: ids.slice(at, at + length), [names.targets]: ids.slice(at + 1, at + length + 1) },
      where: `${source} window ${rows.length}`,
    });
  }
  return rows;
}

// ---- IDX (the MNIST family's format) ----

export interface IdxArray {
  /** Unsigned bytes and signed integers as integers; floats as stored. */
  readonly data: Float32Array | Int32Array | Uint8Array;
  readonly shape: readonly number[];
}

/**
 * Parses an IDX file (already gunzipped): two zero bytes, a type byte (0x08 u8, 0x09 i8,
 * 0x0B i16, 0x0C i32, 0x0D f32, 0x0E f64), the rank, then each dim as a big-endian u32 and
 * the values row-major, big-endian. The first dim is the rows.
 */
export function parseIdx(bytes: Uint8Array, source: string): IdxArray {
  if (bytes.length === 0) throw new DatasetError(`${source}: the file is empty (no rows)`);
  if (bytes.length < 4 || bytes[0] !== 0 || bytes[1] !== 0)
    throw new DatasetError(`${source}: not an IDX file (it must start with two zero bytes, a type byte and the number of dims)`);
  const width = ({ 0x08: 1, 0x09: 1, 0x0b: 2, 0x0c: 4, 0x0d: 4, 0x0e: 8 } as Record<number, number>)[bytes[2]!];
  if (width === undefined) throw new DatasetError(`${source}: unknown IDX value type 0x${bytes[2]!.toString(16)}`);
  const rank = bytes[3]!;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (rank === 0 || bytes.length < 4 + 4 * rank) throw new DatasetError(`${source}: the IDX header is cut short (${rank} dims)`);
  const shape = Array.from({ length: rank }, (_, i) => view.getUint32(4 + 4 * i));
  const n = numel(shape);
  const at = 4 + 4 * rank;
  if (bytes.length !== at + n * width)
    throw new DatasetError(`${source}: an IDX array of shape [${shape.join(', ')}] needs ${at + n * width} bytes, the file has ${bytes.length}`);
  if (shape[0] === 0) throw new DatasetError(`${source}: the file is empty (no rows)`);
  const type = bytes[2]!;
  if (type === 0x08) return { data: bytes.slice(at), shape };
  const read = (i: number) =>
    type === 0x09
      ? view.getInt8(at + i)
      : type === 0x0b
        ? view.getInt16(at + 2 * i)
        : type === 0x0c
          ? view.getInt32(at + 4 * i)
          : type === 0x0d
            ? view.getFloat32(at + 4 * i)
            : view.getFloat64(at + 8 * i);
  const data = type === 0x0d || type === 0x0e ? new Float32Array(n) : new Int32Array(n);
  for (let i = 0; i < n; i++) data[i] = read(i);
  return { data, shape };
}
