/**
 * Pretrained weights in and out through a name map (weights-map.ts), browser-safe:
 * the file layer is weights-node.ts. A load is planned from the file's header alone,
 * so names, dtypes and shapes are checked, every problem collected, before any data is
 * read; then each tensor is converted as it arrives. Data is moved as bits (32-bit
 * words for f32), never through JS numbers, so a save of what was loaded gives back the
 * file's values bit for bit, NaN payloads included.
 */
import { decodeCheckpoint, type CheckpointData, type CheckpointTensor } from './checkpoint.js';
import { fromHalfBits, toHalfBits } from './half.js';
import type { PlanBuffer, SourceDType } from './plan.js';
import {
  compilePattern,
  didYouMean,
  entryTargets,
  WeightsError,
  WEIGHTS_MAP_PRESETS,
  type Pattern,
  type WeightsMap,
  type WeightsMapEntry,
} from './weights-map.js';
import { numel } from '../layout/mesh.js';

/** What a load needs of the model: its name and parameter buffers (a Plan fits). */
export interface WeightsModel {
  readonly model: string;
  readonly buffers: readonly PlanBuffer[];
}

interface ParamSpec {
  readonly name: string;
  readonly dtype: SourceDType;
  readonly shape: readonly number[];
}

/** A tensor as the header describes it; `dtype` may be one the reader does not load (I64, ...). */
export interface HeaderTensor {
  readonly name: string;
  readonly dtype: string;
  readonly shape: readonly number[];
}

/** How one tensor of the file becomes parameters. */
export interface WeightsRead {
  readonly source: string;
  readonly entry: WeightsMapEntry;
  readonly shape: readonly number[];
  readonly targets: readonly string[];
}

export type FileDType = 'F32' | 'F16' | 'BF16';
const FLOATS: readonly string[] = ['F32', 'F16', 'BF16'];

/** A map by preset name (gpt2, bert, llama), or the map itself. */
export function resolveWeightsMap(map: WeightsMap | string): WeightsMap {
  if (typeof map !== 'string') return map;
  const preset = Object.hasOwn(WEIGHTS_MAP_PRESETS, map) ? WEIGHTS_MAP_PRESETS[map] : undefined;
  if (!preset) throw new WeightsError('weights map', [`no preset named '${map}' (presets: ${Object.keys(WEIGHTS_MAP_PRESETS).join(', ')})`]);
  return preset;
}

/** The model's parameters with their whole shapes (a partitioned plan's global ones). */
function paramsOf(model: WeightsModel): Map<string, ParamSpec> {
  return new Map(model.buffers.filter((b) => b.role === 'param').map((b) => [b.name, { name: b.name, dtype: b.dtype, shape: b.global?.shape ?? b.shape }]));
}

const typeOf = (dtype: string, shape: readonly number[]) => `${dtype}[${shape.join(', ')}]`;

interface CompiledEntry {
  readonly entry: WeightsMapEntry;
  readonly source: Pattern;
  readonly targets: readonly Pattern[];
}
const compileMap = (map: WeightsMap): CompiledEntry[] =>
  map.entries.map((entry) => ({ entry, source: compilePattern(entry.source), targets: entryTargets(entry).map(compilePattern) }));

/** The shape an entry's transforms give each target from a source of shape `shape`, or why they cannot apply. */
function transformedShape(entry: WeightsMapEntry, shape: readonly number[], parts: number): number[] | string {
  let s = [...shape];
  if (entry.transpose) {
    if (s.length !== 2) return `transpose needs 2 dims, the tensor has ${s.length}`;
    s = [s[1]!, s[0]!];
  }
  if (entry.split !== undefined) {
    const d = entry.split;
    if (d >= s.length) return `split dim ${d} is past its ${s.length} dims`;
    if (s[d]! % parts !== 0) return `dim ${d} (${s[d]}) does not split into ${parts} equal parts`;
    s[d] = s[d]! / parts;
  }
  return s;
}

/**
 * Checks a file's tensors (from its header) against the model through the map and says
 * how to read each one. Refuses with every problem at once: tensors no entry takes
 * (with a likely intended name), targets that are not parameters, dtypes that cannot
 * be, shapes that differ after the transforms, parameters given twice or not at all.
 */
export function planImport(tensors: readonly HeaderTensor[], model: WeightsModel, mapOrName: WeightsMap | string, what = 'weights'): Map<string, WeightsRead> {
  const map = resolveWeightsMap(mapOrName);
  const params = paramsOf(model);
  const entries = compileMap(map);
  const ignore = (map.ignore ?? []).map(compilePattern);
  const problems: string[] = [];
  const reads = new Map<string, WeightsRead>();
  const givenBy = new Map<string, string>();
  // Parameters whose tensor is in the file but refused: reported once, as that tensor's problem, not again as missing.
  const refused = new Set<string>();
  for (const t of tensors) {
    const prefix = (map.strip ?? []).find((p) => t.name.startsWith(p) && t.name.length > p.length);
    const name = prefix ? t.name.slice(prefix.length) : t.name;
    if (ignore.some((p) => p.match(name))) continue;
    let hit: { e: CompiledEntry; values: Readonly<Record<string, string>> } | undefined;
    for (const e of entries) {
      const values = e.source.match(name);
      if (values) {
        hit = { e, values };
        break;
      }
    }
    const at = `tensor '${t.name}' (${typeOf(t.dtype, t.shape)})`;
    if (!hit) {
      const guess = didYouMean(name, likelyNames(name, [...entries.map((e) => e.source), ...ignore]));
      problems.push(`${at} matches no entry of the map '${map.name}'${guess ? `; did you mean '${(prefix ?? '') + guess}'?` : ''}`);
      continue;
    }
    const { e, values } = hit;
    const names = e.targets.map((p) => p.fill(values));
    for (const n of names) refused.add(n);
    let ok = true;
    for (const n of names) {
      const p = params.get(n);
      if (!p) {
        const guess = didYouMean(n, params.keys());
        problems.push(`${at} maps to '${n}', which is not a parameter of ${model.model}${guess ? `; did you mean '${guess}'?` : ''}`);
        ok = false;
      } else if (p.dtype !== 'f32' && p.dtype !== 'f16' && p.dtype !== 'bf16') {
        problems.push(`${at} maps to '${n}', a ${p.dtype} parameter; only float parameters take weights`);
        ok = false;
      }
    }
    if (!FLOATS.includes(t.dtype)) {
      problems.push(`${at} maps to ${names.map((n) => `'${n}'`).join(', ')}, but ${t.dtype} is not a float dtype (F32, F16, BF16)`);
      continue;
    }
    if (!ok) continue;
    const shape = transformedShape(e.entry, t.shape, names.length);
    if (typeof shape === 'string') {
      problems.push(`${at} cannot be mapped by entry '${e.entry.source}': ${shape}`);
      continue;
    }
    const differ = names.map((n) => params.get(n)!).filter((p) => p.shape.length !== shape.length || p.shape.some((x, i) => x !== shape[i]));
    if (differ.length) {
      const theirs = differ.map((p) => `'${p.name}' is ${typeOf(p.dtype, p.shape)}`).join(', ');
      problems.push(
        `${at}${describe(e.entry, names.length)} gives [${shape.join(', ')}]${names.length > 1 ? ' each' : ''}, but ${differ.length > 1 ? 'parameters' : 'parameter'} ${theirs} in ${model.model}`,
      );
    }
    for (const n of names) {
      const before = givenBy.get(n);
      if (before) problems.push(`parameter '${n}' is given by both tensor '${before}' and tensor '${t.name}'`);
      givenBy.set(n, t.name);
    }
    reads.set(t.name, { source: t.name, entry: e.entry, shape: t.shape, targets: names });
  }
  for (const p of params.values()) {
    if (givenBy.has(p.name) || refused.has(p.name)) continue;
    const source = sourceFor(p.name, entries);
    problems.push(
      `parameter '${p.name}' (${typeOf(p.dtype, p.shape)}) of ${model.model} is missing: ` +
        (source ? `the map reads it from '${source}', which the file does not have` : `no entry of the map '${map.name}' gives it`),
    );
  }
  if (problems.length) throw new WeightsError(`${what}: cannot load into ${model.model}`, problems);
  return reads;
}

const describe = (e: WeightsMapEntry, parts: number) => {
  const steps = [e.transpose ? 'transposed' : '', e.split !== undefined ? `split along dim ${e.split} into ${parts}` : ''].filter(Boolean);
  return steps.length ? ` ${steps.join(' and ')}` : '';
};

/** The patterns filled with the name's own indices in order: what a near-miss of a known name looks like. */
function likelyNames(name: string, patterns: readonly Pattern[]): string[] {
  const digits = name.match(/[0-9]+/g) ?? [];
  const out: string[] = [];
  for (const p of patterns) {
    let k = 0;
    out.push(p.text.replace(/\{[A-Za-z_][A-Za-z0-9_]*\}/g, () => digits[k++] ?? '0'));
  }
  return out;
}

/** The source name the map would read parameter `name` from. */
function sourceFor(name: string, entries: readonly CompiledEntry[]): string | undefined {
  for (const e of entries) {
    for (const t of e.targets) {
      const values = t.match(name);
      if (values) return e.source.fill(values);
    }
  }
  return undefined;
}

/** One tensor of the file as the parameters `read` names, each an f32 array of its own. */
export function convertTensor(read: WeightsRead, tensor: CheckpointTensor): [string, Float32Array][] {
  let bits = toF32Bits(tensor);
  let shape = [...read.shape];
  if (read.entry.transpose) {
    bits = transpose(bits, shape[0]!, shape[1]!);
    shape = [shape[1]!, shape[0]!];
  }
  const parts = read.entry.split === undefined ? [bits] : split(bits, shape, read.entry.split, read.targets.length);
  return read.targets.map((n, i) => [n, new Float32Array(parts[i]!.buffer, parts[i]!.byteOffset, parts[i]!.length)]);
}

/**
 * A checkpoint held in memory (a safetensors file's bytes) as parameter values by name,
 * for `RunnerOptions.params`. weights-node.ts's `loadWeights` streams a file instead.
 */
export function importWeights(bytes: Uint8Array, model: WeightsModel, mapOrName: WeightsMap | string, what = 'weights'): Map<string, Float32Array> {
  const map = resolveWeightsMap(mapOrName);
  const ck = decodeCheckpoint(bytes, { source: what, requireChecksum: false, skipOtherDtypes: true });
  const header: HeaderTensor[] = [...Object.entries(ck.tensors).map(([name, t]) => ({ name, dtype: t.dtype, shape: t.shape })), ...(ck.skipped ?? [])];
  const reads = planImport(header, model, map, what);
  const out = new Map<string, Float32Array>();
  for (const [name, read] of reads) for (const [n, v] of convertTensor(read, ck.tensors[name]!)) out.set(n, v);
  return out;
}

export interface ExportOptions {
  /** The file's dtype for every tensor (default F32; F16 and BF16 round to nearest even). */
  readonly dtype?: FileDType;
}

/**
 * Parameter values as tensors under the map's source names (the inverse of a load):
 * split parameters concatenated, transposed ones transposed back. Where several entries
 * give the same parameter (alternative spellings), the first one names it. Refuses with
 * every problem: values that are not parameters or have the wrong length, parameters
 * without a value or without an entry.
 */
export function exportWeights(
  params: ReadonlyMap<string, Float32Array>,
  model: WeightsModel,
  mapOrName: WeightsMap | string,
  opts: ExportOptions = {},
  what = 'weights',
): Record<string, CheckpointTensor> {
  const map = resolveWeightsMap(mapOrName);
  const specs = paramsOf(model);
  const dtype = opts.dtype ?? 'F32';
  const problems: string[] = [];
  for (const [n, v] of params) {
    const p = specs.get(n);
    if (!p) problems.push(`'${n}' is not a parameter of ${model.model}${hint(n, specs.keys())}`);
    else if (v.length !== numel(p.shape)) problems.push(`parameter '${n}' has ${v.length} values; ${typeOf(p.dtype, p.shape)} needs ${numel(p.shape)}`);
  }
  for (const p of specs.values()) if (!params.has(p.name)) problems.push(`parameter '${p.name}' (${typeOf(p.dtype, p.shape)}) has no value`);
  if (problems.length) throw new WeightsError(`${what}: cannot save ${model.model}`, problems);

  const out: Record<string, CheckpointTensor> = {};
  const done = new Set<string>();
  for (const e of compileMap(map)) {
    for (const first of specs.keys()) {
      const values = e.targets[0]!.match(first);
      if (!values || done.has(first)) continue;
      const names = e.targets.map((t) => t.fill(values));
      const lacking = names.filter((n) => !specs.has(n));
      if (lacking.length) {
        problems.push(`entry '${e.entry.source}' needs ${lacking.map((n) => `'${n}'`).join(', ')} with '${first}', and ${model.model} has no such parameter`);
        continue;
      }
      if (names.some((n) => done.has(n))) continue;
      const firstShape = specs.get(first)!.shape.join(', ');
      const unlike = names.filter((n) => specs.get(n)!.shape.join(', ') !== firstShape);
      if (unlike.length) {
        problems.push(
          `entry '${e.entry.source}' joins parameters of different shapes: '${first}' [${firstShape}] and ${unlike.map((n) => `'${n}'`).join(', ')}`,
        );
        continue;
      }
      const source = e.source.fill(values);
      if (Object.hasOwn(out, source)) {
        problems.push(`two entries write tensor '${source}'`);
        continue;
      }
      const parts = names.map((n) => bitsOf(params.get(n)!));
      let shape = [...specs.get(first)!.shape];
      let bits = parts[0]!;
      if (e.entry.split !== undefined) {
        bits = concat(parts, shape, e.entry.split);
        shape[e.entry.split] = shape[e.entry.split]! * parts.length;
      }
      if (e.entry.transpose) {
        if (shape.length !== 2) {
          problems.push(`entry '${e.entry.source}' transposes '${first}', which has ${shape.length} dims, not 2`);
          continue;
        }
        bits = transpose(bits, shape[0]!, shape[1]!);
        shape = [shape[1]!, shape[0]!];
      }
      Object.defineProperty(out, source, { value: { dtype, shape, data: fromF32Bits(bits, dtype) }, enumerable: true, writable: true, configurable: true });
      for (const n of names) done.add(n);
    }
  }
  for (const p of specs.keys()) if (!done.has(p)) problems.push(`parameter '${p}' has no entry in the map '${map.name}'`);
  if (problems.length) throw new WeightsError(`${what}: cannot save ${model.model}`, problems);
  return out;
}

const hint = (n: string, candidates: Iterable<string>) => {
  const g = didYouMean(n, candidates);
  return g ? `; did you mean '${g}'?` : '';
};

// ------------------------------------------------------------------ bits

const bitsOf = (a: Float32Array) => new Uint32Array(a.buffer, a.byteOffset, a.length);

/** The tensor's values as f32 bits: F32 as stored, F16 widened exactly, BF16 as the top half of an f32. */
function toF32Bits(t: CheckpointTensor): Uint32Array {
  const d: CheckpointData = t.data;
  if (t.dtype === 'F32') return new Uint32Array(d.buffer, d.byteOffset, d.length);
  const out = new Uint32Array(d.length);
  if (t.dtype === 'BF16') for (let i = 0; i < d.length; i++) out[i] = d[i]! << 16;
  else for (let i = 0; i < d.length; i++) out[i] = halfToF32Bits(d[i]!);
  return out;
}

function fromF32Bits(bits: Uint32Array, dtype: FileDType): CheckpointData {
  if (dtype === 'F32') return new Float32Array(bits.buffer, bits.byteOffset, bits.length);
  const out = new Uint16Array(bits.length);
  if (dtype === 'F16') {
    const f = new Float32Array(bits.buffer, bits.byteOffset, bits.length);
    for (let i = 0; i < f.length; i++) out[i] = isNaNBits(bits[i]!) ? nanToHalf(bits[i]!) : toHalfBits(f[i]!);
  } else for (let i = 0; i < bits.length; i++) out[i] = toBf16(bits[i]!);
  return out;
}

const isNaNBits = (u: number) => (u & 0x7fffffff) > 0x7f800000;

/** f32 bits of half bits `h`, exactly: a NaN keeps its sign and payload (which fromHalfBits, giving a JS number, would not). */
function halfToF32Bits(h: number): number {
  if ((h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0) return (((h & 0x8000) << 16) | 0x7f800000 | ((h & 0x3ff) << 13)) >>> 0;
  f32[0] = fromHalfBits(h);
  return u32[0]!;
}
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** Half bits of an f32 NaN: its sign and the top of its payload, which toHalfBits would not keep (quiet when that top is empty). */
const nanToHalf = (u: number) => ((u >>> 16) & 0x8000) | 0x7c00 | ((u >>> 13) & 0x3ff || 0x200);

/** bfloat16 bits of f32 bits `u`, rounded to nearest even; a NaN stays a NaN (quiet when truncation would make it infinite). */
function toBf16(u: number): number {
  if (isNaNBits(u)) return (u & 0xffff) === 0 ? u >>> 16 : (u >>> 16) | 0x40;
  return (u + 0x7fff + ((u >>> 16) & 1)) >>> 16;
}

function transpose(bits: Uint32Array, rows: number, cols: number): Uint32Array {
  const out = new Uint32Array(bits.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = bits[r * cols + c]!;
  return out;
}

/** `parts` equal pieces of a row-major tensor along `dim`. */
function split(bits: Uint32Array, shape: readonly number[], dim: number, parts: number): Uint32Array[] {
  const outer = numel(shape.slice(0, dim));
  const piece = (shape[dim]! / parts) * numel(shape.slice(dim + 1));
  return Array.from({ length: parts }, (_, p) => {
    const out = new Uint32Array(outer * piece);
    for (let o = 0; o < outer; o++) out.set(bits.subarray((o * parts + p) * piece, (o * parts + p + 1) * piece), o * piece);
    return out;
  });
}

/** The inverse of `split`: pieces of shape `shape` side by side along `dim`. */
function concat(pieces: readonly Uint32Array[], shape: readonly number[], dim: number): Uint32Array {
  const outer = numel(shape.slice(0, dim));
  const piece = numel(shape.slice(dim));
  const out = new Uint32Array(outer * piece * pieces.length);
  for (let o = 0; o < outer; o++) pieces.forEach((b, p) => out.set(b.subarray(o * piece, (o + 1) * piece), (o * pieces.length + p) * piece));
  return out;
}
