/**
 * Checkpoints in the safetensors format (Hugging Face), browser-safe: bytes in, bytes
 * out. The Node file layer with atomic writes is checkpoint-node.ts.
 *
 * Layout: an 8-byte little-endian unsigned header length N, N bytes of UTF-8 JSON, then
 * the tensor data. The JSON maps each tensor name to `{dtype, shape, data_offsets}`
 * (byte offsets [begin, end) into the data section, row-major, little-endian) and the
 * optional `__metadata__` to a string → string map. Written here: 4-byte dtypes before
 * 2-byte ones and by name within a dtype size (every tensor naturally aligned), ranges
 * back to back from 0, and the header padded with spaces so the data starts at a
 * multiple of 8, as the reference writer does.
 *
 * Reading treats the bytes as hostile: every count is checked before it is used, and a
 * file that fails a check is refused with a CheckpointError naming the problem. A
 * checksum in the metadata (CHECKSUM) covers what the format itself cannot check.
 */
import { numel } from '../layout/mesh.js';

export type CheckpointDType = 'F32' | 'F16' | 'BF16' | 'I32';

/** F16 and BF16 data are the raw bits (bfloat16: the top half of an f32). */
export type CheckpointData = Float32Array | Uint16Array | Int32Array;

export interface CheckpointTensor {
  readonly dtype: CheckpointDType;
  readonly shape: readonly number[];
  readonly data: CheckpointData;
}

export type CheckpointTensors = Readonly<Record<string, CheckpointTensor>>;

export interface Checkpoint {
  readonly tensors: Record<string, CheckpointTensor>;
  /** Free-form strings: step, seed, loss, the optimizer state's tensor names, ... */
  readonly metadata: Record<string, string>;
  /** With `skipOtherDtypes`: the tensors of a dtype this reader does not load, passed over. */
  readonly skipped?: readonly SkippedEntry[];
}

export class CheckpointError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CheckpointError';
  }
}

interface DTypeInfo {
  readonly bytes: number;
  readonly name: string;
  readonly is: (d: CheckpointData) => boolean;
  readonly view: (b: ArrayBuffer) => CheckpointData;
}
const DTYPES: Readonly<Record<CheckpointDType, DTypeInfo>> = {
  F32: { bytes: 4, name: 'Float32Array', is: (d) => d instanceof Float32Array, view: (b) => new Float32Array(b) },
  I32: { bytes: 4, name: 'Int32Array', is: (d) => d instanceof Int32Array, view: (b) => new Int32Array(b) },
  F16: { bytes: 2, name: 'Uint16Array (raw half bits)', is: (d) => d instanceof Uint16Array, view: (b) => new Uint16Array(b) },
  BF16: { bytes: 2, name: 'Uint16Array (raw bfloat16 bits)', is: (d) => d instanceof Uint16Array, view: (b) => new Uint16Array(b) },
};
/** Valid safetensors dtypes this reader does not load, by element size: named as unsupported, not unknown. */
const OTHER_DTYPES: Readonly<Record<string, number>> = { BOOL: 1, U8: 1, I8: 1, F8_E5M2: 1, F8_E4M3: 1, I16: 2, U16: 2, U32: 4, I64: 8, U64: 8, F64: 8 };
const LOADED = 'F32, F16, BF16, I32';
/** The reference implementation's limit; a real header is kilobytes to a few megabytes. */
export const MAX_HEADER_BYTES = 100_000_000;
const METADATA = '__metadata__';
/**
 * safetensors has no checksum, so a flipped bit would load as a wrong weight, a renamed
 * tensor or a wrong step. The writer stores a CRC-32 of the data section followed by a
 * canonical form of the header (`canonical` below) in `__metadata__` under this key,
 * which keeps the file valid safetensors; the reader checks it when present (files from
 * other writers have none) and leaves it out of the metadata it returns.
 */
export const CHECKSUM = 'mdc.crc32';
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

const isKnown = (d: unknown): d is CheckpointDType => typeof d === 'string' && Object.hasOwn(DTYPES, d);
const isCount = (x: unknown): x is number => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
/** An own property even for the name `__proto__`, which plain assignment would turn into a prototype change. */
const put = <T>(o: Record<string, T>, k: string, v: T) => Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });

/** The file's parts: the padded header (with its length prefix) and each tensor's bytes in file order. */
export function encodeParts(
  tensors: CheckpointTensors,
  metadata: Readonly<Record<string, string>> = {},
): { header: Uint8Array; chunks: Uint8Array[]; bytes: number } {
  for (const [k, v] of Object.entries(metadata)) {
    if (typeof v !== 'string') throw new CheckpointError(`metadata '${k}' must be a string, not ${typeof v}`);
    if (k === CHECKSUM) throw new CheckpointError(`metadata '${k}' is reserved for the checksum`);
  }
  for (const [name, t] of Object.entries(tensors)) {
    if (!name || name === METADATA) throw new CheckpointError(`a tensor may not be named '${name}'`);
    if (!isKnown(t.dtype)) throw new CheckpointError(`tensor '${name}': unknown dtype ${JSON.stringify(t.dtype)} (known: ${LOADED})`);
    if (!t.shape.every((x) => isCount(x))) throw new CheckpointError(`tensor '${name}': shape [${t.shape.join(', ')}] must be non-negative integers`);
    if (!DTYPES[t.dtype].is(t.data)) throw new CheckpointError(`tensor '${name}': ${t.dtype} data must be a ${DTYPES[t.dtype].name}`);
    if (t.data.length !== numel(t.shape))
      throw new CheckpointError(`tensor '${name}': shape [${t.shape.join(', ')}] has ${numel(t.shape)} elements but the data has ${t.data.length}`);
  }
  const width = (name: string) => DTYPES[tensors[name]!.dtype].bytes;
  const names = Object.keys(tensors).sort((a, b) => width(b) - width(a) || (a < b ? -1 : a > b ? 1 : 0));
  const header: Record<string, unknown> = { [METADATA]: undefined };
  const chunks: Uint8Array[] = [];
  const entries: CheckpointEntry[] = [];
  let offset = 0;
  let crc = 0;
  for (const name of names) {
    const t = tensors[name]!;
    const bytes = littleEndianBytes(t.data, width(name));
    put(header, name, { dtype: t.dtype, shape: [...t.shape], data_offsets: [offset, offset + bytes.length] });
    entries.push({ name, dtype: t.dtype, shape: t.shape, begin: offset, end: offset + bytes.length });
    chunks.push(bytes);
    crc = crc32(bytes, crc);
    offset += bytes.length;
  }
  header[METADATA] = { ...metadata, [CHECKSUM]: hex8(crc32(canonical(metadata, entries), crc)) };
  const text = new TextEncoder().encode(JSON.stringify(header));
  const n = Math.ceil(text.length / 8) * 8;
  const head = new Uint8Array(8 + n).fill(0x20, 8);
  new DataView(head.buffer).setBigUint64(0, BigInt(n), true);
  head.set(text, 8);
  return { header: head, chunks, bytes: head.length + offset };
}

/** The whole file as one buffer. */
export function encodeCheckpoint(tensors: CheckpointTensors, metadata: Readonly<Record<string, string>> = {}): Uint8Array {
  const { header, chunks, bytes } = encodeParts(tensors, metadata);
  const out = new Uint8Array(bytes);
  out.set(header, 0);
  let at = header.length;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

export interface DecodeOptions {
  /** Names the file in errors. */
  readonly source?: string;
  /**
   * Default true: refuse a file without mdc's checksum, so that damage to the checksum's
   * own key cannot pass for a file from another writer. False reads any safetensors file
   * (pretrained weights), checking the checksum only where there is one.
   */
  readonly requireChecksum?: boolean;
  /**
   * Default false: a tensor of a valid safetensors dtype this reader does not load (I64,
   * U8, F64, ...) refuses the file. True: its entry is checked like any other and listed
   * in `skipped`, and its bytes are not loaded (pretrained files carry such buffers, e.g.
   * BERT's I64 position ids, next to the weights).
   */
  readonly skipOtherDtypes?: boolean;
}

/** Parses and checks a safetensors file held in memory. The tensors are copies, not views of `bytes`. */
export function decodeCheckpoint(bytes: Uint8Array, opts: DecodeOptions = {}): Checkpoint {
  const source = opts.source ?? 'checkpoint';
  const n = headerLength(bytes.subarray(0, 8), bytes.length, source);
  const layout = decodeHeader(bytes.subarray(8, 8 + n), bytes.length, opts);
  const data = bytes.subarray(layout.dataStart);
  layout.verify(crc32(data));
  const tensors: Record<string, CheckpointTensor> = {};
  // A copy (Node's Buffer#slice would be a view), so the data is aligned and owned.
  for (const t of layout.tensors) put(tensors, t.name, tensorOf(t, new Uint8Array(data.subarray(t.begin, t.end)).buffer));
  return { tensors, metadata: layout.metadata, ...(opts.skipOtherDtypes ? { skipped: layout.skipped } : {}) };
}

/**
 * What the header says, checked against the file's size: each tensor's place in the
 * data section (in file order, contiguous from `dataStart`) and the metadata. A reader
 * that streams the data (checkpoint-node.ts) feeds the CRC-32 of the whole data section
 * to `verify` before it trusts any tensor.
 */
export interface CheckpointLayout {
  readonly metadata: Record<string, string>;
  readonly tensors: readonly CheckpointEntry[];
  /** With `skipOtherDtypes`: the entries of a dtype this reader does not load, in file order. */
  readonly skipped: readonly SkippedEntry[];
  /** The header records a checksum: a streaming reader must feed `verify` every byte of the data section, skipped tensors' too. */
  readonly checksummed: boolean;
  /** The file offset of the data section. */
  readonly dataStart: number;
  /** Throws a CheckpointError when the header recorded a checksum that the data's CRC-32 does not match. */
  verify(dataCrc: number): void;
}

export interface CheckpointEntry {
  readonly name: string;
  readonly dtype: CheckpointDType;
  readonly shape: readonly number[];
  /** Byte range [begin, end) in the data section. */
  readonly begin: number;
  readonly end: number;
}

/** A tensor of a valid safetensors dtype this reader does not load (`skipOtherDtypes`). */
export interface SkippedEntry extends Omit<CheckpointEntry, 'dtype'> {
  readonly dtype: string;
}

/** The header's length from a file's first 8 bytes, checked against the file's size (`fileBytes`). */
export function headerLength(first: Uint8Array, fileBytes: number, source = 'checkpoint'): number {
  if (first.length < 8 || fileBytes < 8) fail(source, `truncated: ${fileBytes} bytes, too short for the 8-byte header length`);
  const n = new DataView(first.buffer, first.byteOffset, 8).getBigUint64(0, true);
  if (n < 2n) fail(source, `header length ${n} is too small for a JSON object`);
  if (n > BigInt(MAX_HEADER_BYTES)) fail(source, `header length ${n} exceeds the ${MAX_HEADER_BYTES}-byte limit (a corrupt length prefix?)`);
  const headerBytes = Number(n);
  if (8 + headerBytes > fileBytes) fail(source, `truncated: the header says it is ${headerBytes} bytes but only ${fileBytes - 8} follow the length prefix`);
  return headerBytes;
}

/** Checks the header (`raw`, the bytes after the length prefix) of a file of `fileBytes` bytes; the data is not read. */
export function decodeHeader(raw: Uint8Array, fileBytes: number, opts: DecodeOptions = {}): CheckpointLayout {
  const source = opts.source ?? 'checkpoint';
  const bad = (why: string): never => fail(source, why);
  const headerBytes = raw.length;
  if (raw[0] !== 0x7b) bad(`the header does not start with '{'`);
  let text = '';
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(raw);
  } catch {
    bad('the header is not valid UTF-8');
  }
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    bad(`the header is not valid JSON (${(e as Error).message})`);
  }
  // A '{' that parses is an object.
  const entries = header as Record<string, unknown>;

  const metadata: Record<string, string> = {};
  if (Object.hasOwn(entries, METADATA)) {
    const m = entries[METADATA];
    if (typeof m !== 'object' || m === null || Array.isArray(m)) bad(`${METADATA} must be an object of strings`);
    for (const [k, v] of Object.entries(m as object)) {
      if (typeof v !== 'string') bad(`${METADATA}.${k} must be a string, not ${JSON.stringify(v)}`);
      put(metadata, k, v as string);
    }
  }

  const dataBytes = fileBytes - 8 - headerBytes;
  const infos: CheckpointEntry[] = [];
  const skipped: SkippedEntry[] = [];
  for (const [name, info] of Object.entries(entries)) {
    if (name === METADATA) continue;
    const at = `tensor '${name}'`;
    if (typeof info !== 'object' || info === null || Array.isArray(info)) bad(`${at} is not an object`);
    const { dtype, shape, data_offsets: offsets, ...extra } = info as Record<string, unknown>;
    if (Object.keys(extra).length) bad(`${at} has unknown fields: ${Object.keys(extra).join(', ')}`);
    const other = typeof dtype === 'string' && Object.hasOwn(OTHER_DTYPES, dtype);
    if (!isKnown(dtype) && !(other && opts.skipOtherDtypes))
      bad(other ? `${at} has dtype ${dtype}, which this reader does not load (${LOADED})` : `${at} has unknown dtype ${JSON.stringify(dtype)}`);
    if (!Array.isArray(shape) || !shape.every(isCount)) bad(`${at} has a malformed shape ${JSON.stringify(shape)}`);
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount)) bad(`${at} has malformed data_offsets ${JSON.stringify(offsets)}`);
    const [begin, end] = offsets as [number, number];
    if (end < begin) bad(`${at} has data_offsets [${begin}, ${end}] that end before they begin`);
    const count = numel(shape as number[]);
    const want = count * (isKnown(dtype) ? DTYPES[dtype].bytes : OTHER_DTYPES[dtype as string]!);
    if (!Number.isSafeInteger(want)) bad(`${at} has a shape too large to address: [${(shape as number[]).join(', ')}]`);
    if (end - begin !== want)
      bad(`${at} is ${dtype}[${(shape as number[]).join(', ')}], ${want} bytes, but its data_offsets [${begin}, ${end}] span ${end - begin}`);
    if (isKnown(dtype)) infos.push({ name, dtype, shape: shape as number[], begin, end });
    else skipped.push({ name, dtype: dtype as string, shape: shape as number[], begin, end });
  }

  const inFileOrder = (a: SkippedEntry, b: SkippedEntry) => a.begin - b.begin || a.end - b.end;
  infos.sort(inFileOrder);
  skipped.sort(inFileOrder);
  let expected = 0;
  let previous = 'the start of the data';
  for (const t of [...infos, ...skipped].sort(inFileOrder)) {
    if (t.begin < expected) bad(`tensor '${t.name}' [${t.begin}, ${t.end}) overlaps ${previous}, which ends at ${expected}`);
    if (t.begin > expected) bad(`a gap of ${t.begin - expected} bytes between ${previous} and tensor '${t.name}' (data_offsets must be contiguous)`);
    if (t.end > dataBytes) bad(`truncated: tensor '${t.name}' ends at data byte ${t.end} but the file holds ${dataBytes} bytes of data`);
    expected = t.end;
    previous = `tensor '${t.name}'`;
  }
  if (expected !== dataBytes)
    bad(`${dataBytes - expected} bytes after the last tensor: the file is ${fileBytes} bytes, the header accounts for ${8 + headerBytes + expected}`);
  let stored: string | undefined;
  if (Object.hasOwn(metadata, CHECKSUM)) {
    stored = metadata[CHECKSUM]!;
    if (!/^[0-9a-f]{8}$/.test(stored)) bad(`${METADATA}.${CHECKSUM} is not 8 hex digits: ${JSON.stringify(stored)}`);
    delete metadata[CHECKSUM];
  } else if (opts.requireChecksum ?? true) {
    bad(
      `${METADATA} has no ${CHECKSUM} (the file was not written by mdc, or its header is damaged); read it with requireChecksum: false to accept files from other writers`,
    );
  }
  return {
    metadata,
    tensors: infos,
    skipped,
    checksummed: stored !== undefined,
    dataStart: 8 + headerBytes,
    verify(dataCrc) {
      if (stored === undefined) return;
      const actual = hex8(crc32(canonical(metadata, [...infos, ...skipped]), dataCrc));
      if (actual !== stored) bad(`the file is corrupt: its CRC-32 is ${actual}, the header recorded ${stored}`);
    },
  };
}

/** A tensor over `buffer`, which holds its data as the file does (little-endian) and becomes the tensor's. */
export function tensorOf(entry: CheckpointEntry, buffer: ArrayBuffer): CheckpointTensor {
  const d = DTYPES[entry.dtype];
  if (!LITTLE_ENDIAN) swapBytes(new Uint8Array(buffer), d.bytes);
  return { dtype: entry.dtype, shape: entry.shape, data: d.view(buffer) };
}

function fail(source: string, why: string): never {
  throw new CheckpointError(`${source}: ${why}`);
}

/** Slicing-by-8 tables: CRC_TABLES[k][n] is the CRC of byte n followed by k zero bytes (checkpoints are gigabytes; 2.6× the byte-wise loop). */
const CRC_TABLES = (() => {
  const t = Array.from({ length: 8 }, () => new Int32Array(256));
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[0]![n] = c;
  }
  for (let k = 1; k < 8; k++) for (let n = 0; n < 256; n++) t[k]![n] = (t[k - 1]![n]! >>> 8) ^ t[0]![t[k - 1]![n]! & 0xff]!;
  return t as [Int32Array, Int32Array, Int32Array, Int32Array, Int32Array, Int32Array, Int32Array, Int32Array];
})();

/** CRC-32 (IEEE, as zlib and PNG), continued from `crc` over `bytes`. */
export function crc32(bytes: Uint8Array, crc = 0): number {
  const [t0, t1, t2, t3, t4, t5, t6, t7] = CRC_TABLES;
  const n = bytes.length;
  let c = ~crc;
  let i = 0;
  // Byte-wise up to a 4-byte boundary, then 8 bytes at a time as two little-endian words, then the tail.
  while (i < n && (bytes.byteOffset + i) % 4 !== 0) c = t0[(c ^ bytes[i++]!) & 0xff]! ^ (c >>> 8);
  const words = LITTLE_ENDIAN ? Math.floor((n - i) / 8) * 2 : 0;
  const w = words > 0 ? new Int32Array(bytes.buffer, bytes.byteOffset + i, words) : new Int32Array(0);
  for (let j = 0; j < words; j += 2) {
    c ^= w[j]!;
    const d = w[j + 1]!;
    c =
      t7[c & 0xff]! ^
      t6[(c >>> 8) & 0xff]! ^
      t5[(c >>> 16) & 0xff]! ^
      t4[c >>> 24]! ^
      t3[d & 0xff]! ^
      t2[(d >>> 8) & 0xff]! ^
      t1[(d >>> 16) & 0xff]! ^
      t0[d >>> 24]!;
  }
  for (i += words * 4; i < n; i++) c = t0[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

/** What the checksum covers of the header: metadata (without the checksum) and every tensor's entry, sorted, whitespace-free. */
function canonical(metadata: Readonly<Record<string, string>>, tensors: readonly SkippedEntry[]): Uint8Array {
  const byKey = <T>(l: [string, T][]) => l.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const meta = byKey(Object.entries(metadata).filter(([k]) => k !== CHECKSUM));
  const entries = byKey(tensors.map((t) => [t.name, [t.dtype, t.shape, t.begin, t.end]]));
  return new TextEncoder().encode(JSON.stringify([meta, entries]));
}

const hex8 = (n: number) => n.toString(16).padStart(8, '0');

function littleEndianBytes(data: CheckpointData, width: number): Uint8Array {
  const view = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (LITTLE_ENDIAN) return view;
  const copy = view.slice();
  swapBytes(copy, width);
  return copy;
}

function swapBytes(b: Uint8Array, width: number) {
  for (let i = 0; i < b.length; i += width) b.subarray(i, i + width).reverse();
}
