import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { facetsOf } from '../../compiler/ops/registry.js';
import type { RefTensor } from '../../compiler/ops/tensor.js';
import { groupOf, groupsOf, meshDevices, numel, type MeshAxes } from '../../layout/mesh.js';
import { decodeCheckpoint, encodeCheckpoint, type CheckpointTensor } from '../../runtime/checkpoint.js';
import { initValues } from '../../runtime/init.js';
import type { TraceEntry } from '../support/torchrun.js';

/**
 * The cases of the collectives test (test/torch/fixtures/collectives.py runs them all in one
 * torchrun launch, on one node or two): every collective of mdc's partitioned plans, over each
 * axis of a 2-D mesh [a: 2, b: 2] and a 1-D mesh [x: 4] (both built over the same 4 ranks), with
 * dims 0, 1 and 2 of a [4, 6, 8] local block. The oracle is each op's group reference in
 * compiler/ops/collectives.ts, the one the compiler's multi-device simulation runs.
 */
export const MESHES: [string, number][][] = [
  [
    ['a', 2],
    ['b', 2],
  ],
  [['x', 4]],
];
const meshAxes = (m: number): MeshAxes => ({ axes: MESHES[m]!.map(([name, size]) => ({ name, size })) });
export const RANKS = meshDevices(meshAxes(0));
const SHAPE = [4, 6, 8];

type DType = 'F32' | 'I32' | 'BF16';
export interface Case {
  id: string;
  mesh: number;
  op: string;
  axis: string;
  dim?: number;
  to?: number;
  dtype: DType;
}
const c = (mesh: number, op: string, axis: string, dim?: number, to?: number, dtype: DType = 'F32'): Case => ({
  id: `${op}.${axis}${dim === undefined ? '' : `.d${dim}`}${to === undefined ? '' : `.to${to}`}${dtype === 'F32' ? '' : `.${dtype}`}`,
  mesh,
  op,
  axis,
  ...(dim === undefined ? {} : { dim }),
  ...(to === undefined ? {} : { to }),
  dtype,
});
export const CASES: Case[] = [
  c(0, 'all_reduce', 'a'),
  c(0, 'all_reduce', 'b'),
  c(1, 'all_reduce', 'x'),
  c(1, 'all_reduce', 'x', undefined, undefined, 'I32'),
  c(0, 'reduce_scatter', 'a', 0),
  c(0, 'reduce_scatter', 'b', 1),
  c(1, 'reduce_scatter', 'x', 2),
  c(1, 'reduce_scatter', 'x', 0),
  c(0, 'all_gather', 'a', 2),
  c(0, 'all_gather', 'b', 0),
  c(1, 'all_gather', 'x', 1),
  c(0, 'all_gather', 'b', 1, undefined, 'BF16'),
  c(0, 'all_to_all', 'a', 0, 1),
  c(0, 'all_to_all', 'b', 2, 0),
  c(1, 'all_to_all', 'x', 1, 2),
  c(1, 'all_to_all', 'x', 0, 2),
  c(1, 'all_to_all', 'x', 2, 0),
  c(1, 'all_to_all', 'x', 1, 1),
  c(0, 'shard_slice', 'b', 2),
  c(1, 'shard_slice', 'x', 0),
  c(0, 'partial_mask', 'a'),
  c(1, 'partial_mask', 'x'),
  c(1, 'ring', 'x'),
];

/** Rank `r`'s input for a case: seeded uniform values in [-1, 1) (integers in [-1000, 1000) for I32, the top halves of the floats for BF16). */
function input(k: Case, r: number): CheckpointTensor {
  const u = initValues({ kind: 'uniform', low: -1, high: 1 }, numel(SHAPE), 11, `${k.id}:${r}`);
  if (k.dtype === 'I32') return { dtype: 'I32', shape: SHAPE, data: Int32Array.from(u, (v) => Math.floor(v * 1000)) };
  if (k.dtype === 'BF16') return { dtype: 'BF16', shape: SHAPE, data: Uint16Array.from(new Uint32Array(u.buffer), (b) => b >>> 16) };
  return { dtype: 'F32', shape: SHAPE, data: u };
}

/** Writes each rank's inputs (mdc's TypeScript safetensors writer) and the case list; returns the case file. */
export function writeCases(dir: string): string {
  mkdirSync(join(dir, 'in'), { recursive: true });
  mkdirSync(join(dir, 'out'), { recursive: true });
  for (let r = 0; r < RANKS; r++)
    writeFileSync(join(dir, 'in', `rank${r}.safetensors`), encodeCheckpoint(Object.fromEntries(CASES.map((k) => [k.id, input(k, r)]))));
  const file = join(dir, 'cases.json');
  writeFileSync(file, JSON.stringify({ meshes: MESHES, cases: CASES.map(({ dtype: _d, ...k }) => k) }));
  return file;
}

/** A tensor's values as float64 (BF16: the bits widened to float32). */
function valuesOf(t: CheckpointTensor): Float64Array {
  if (t.dtype === 'BF16') return Float64Array.from(new Float32Array(Uint32Array.from(t.data as Uint16Array, (b) => b << 16).buffer));
  return Float64Array.from(t.data as Float32Array | Int32Array);
}

export interface Comparison {
  /** Values compared, and how many equal the oracle's bit for bit. */
  values: number;
  exact: number;
  /** Sums over 4 ranks: the largest |got - oracle| / Σ|terms| (float32 sums in the backend's order, the oracle's in float64). */
  worstRelative: number;
  /** What differs beyond the tolerance, as text (empty when all pass). */
  problems: string[];
}

/**
 * Reads every rank's results (mdc's TypeScript safetensors reader, checksum required) and compares
 * each with the oracle. Data movement and 2-rank sums must be bit-exact (a float32 sum of two
 * float32 values is the rounded exact sum, as the oracle's float64 sum rounded); 4-rank float32
 * sums may differ by the backend's rounding order: at most 3 roundings of partial sums, each within
 * 2^-24 of Σ|terms|, so the tolerance is 3·2^-24·Σ|terms| per element.
 */
export function compareResults(dir: string): Comparison {
  const inputs = Array.from({ length: RANKS }, (_, r) => decodeCheckpoint(readFileSync(join(dir, 'in', `rank${r}.safetensors`))).tensors);
  const outputs = Array.from({ length: RANKS }, (_, r) => decodeCheckpoint(readFileSync(join(dir, 'out', `rank${r}.safetensors`))).tensors);
  const result: Comparison = { values: 0, exact: 0, worstRelative: 0, problems: [] };
  for (const k of CASES) {
    const m = meshAxes(k.mesh);
    const size = m.axes.find((a) => a.name === k.axis)!.size;
    for (const group of groupsOf(m, k.axis)) {
      const xs: RefTensor[] = group.map((d) => ({ shape: SHAPE, data: valuesOf(inputs[d]![k.id]!) }));
      const expected =
        k.op === 'ring'
          ? group.map((_, i) => xs[(i + size - 1) % size]!)
          : facetsOf(k.op)!.across!(xs, { axis: k.axis, dim: k.dim, to: k.to, axis_size: size } as never);
      const magnitude = k.op === 'all_reduce' || k.op === 'reduce_scatter' ? magnitudes(xs, k) : undefined;
      group.forEach((d, i) => {
        const got = outputs[d]![k.id];
        const want = expected[i]!;
        const where = `${k.id} rank ${d}`;
        if (!got) return void result.problems.push(`${where}: no result`);
        if (got.dtype !== k.dtype || got.shape.join() !== want.shape.join())
          return void result.problems.push(`${where}: ${got.dtype}[${got.shape}] where ${k.dtype}[${want.shape}] was expected`);
        const values = valuesOf(got);
        const fround = k.dtype === 'I32' ? (v: number) => v : Math.fround;
        values.forEach((v, j) => {
          const w = fround(want.data[j]!);
          result.values++;
          if (Object.is(v, w)) return void result.exact++;
          const rounding = magnitude !== undefined && size > 2 && k.dtype === 'F32';
          const rel = rounding ? Math.abs(v - w) / magnitude[i]![j]! : Infinity;
          if (rounding) result.worstRelative = Math.max(result.worstRelative, rel);
          if (rel > 3 * 2 ** -24) result.problems.push(`${where} [${j}]: ${v} where ${w} was expected`);
        });
      });
    }
  }
  return result;
}

/** Σ|terms| of each summed element, laid out as each rank's result is (the same reference applied to |x|). */
function magnitudes(xs: RefTensor[], k: Case): Float64Array[] {
  const abs = xs.map((x) => ({ shape: x.shape, data: x.data.map(Math.abs) }));
  return facetsOf(k.op)!.across!(abs, { axis: k.axis, dim: k.dim, to: k.to } as never).map((t) => t.data);
}

/** What rank `r` must have traced: one entry per case in order (the ring: send then receive on even ranks, the reverse on odd). */
export function expectedTrace(r: number): TraceEntry[] {
  const out: TraceEntry[] = [];
  for (const k of CASES) {
    const bytes = numel(SHAPE) * (k.dtype === 'BF16' ? 2 : 4);
    const dtype = { F32: 'float32', I32: 'int32', BF16: 'bfloat16' }[k.dtype];
    if (k.op === 'ring') {
      const next = (r + 1) % RANKS;
      const prev = (r + RANKS - 1) % RANKS;
      const send: TraceEntry = { op: 'send', axis: null, group: [r, next], dtype, shape: SHAPE, bytes, peer: next };
      const recv: TraceEntry = { op: 'recv', axis: null, group: [prev, r], dtype, shape: SHAPE, bytes, peer: prev };
      out.push(...(r % 2 === 0 ? [send, recv] : [recv, send]));
      continue;
    }
    const group = groupOf(meshAxes(k.mesh), r, k.axis);
    out.push({
      op: k.op,
      axis: k.axis,
      group,
      dtype,
      shape: SHAPE,
      bytes,
      ...(k.dim === undefined ? {} : { dim: k.dim }),
      ...(k.to === undefined ? {} : { to: k.to }),
    });
  }
  return out;
}
