import { LIMITS } from '../../kir/ir.js';
import type { KernelTarget } from '../kernel.js';
import { batchCount, shapeClass, type MatmulShape } from './shape.js';

/**
 * The order consecutive workgroup ids walk the output blocks in: down the rows first
 * ('m'), along the columns first ('n'), or in groups of RASTER_GROUP row blocks, each
 * group column by column ('g': the a rows of a group stay in cache while b's columns
 * stream past, as in Triton's grouped ordering).
 */
export type Raster = 'm' | 'n' | 'g';
export const RASTER_GROUP = 8;

/**
 * One matmul kernel and its tile sizes.
 * - plain: one invocation per output, the K loop in a register; the fallback.
 * - tiled: a workgroup of wgx × wgy invocations computes a (wgy·tm) × (wgx·tn) tile,
 *   staging tk-deep slices of a and b in workgroup memory; each invocation keeps a
 *   tm × tn block of outputs in registers. Four-wide loads where N (and K for a) allow.
 * - subgroup: a workgroup is one subgroup; each lane loads one k of tm rows of a and
 *   the others read it by subgroupBroadcast, so a is read from memory once per lane
 *   and each lane keeps tm × tn four-wide (or one-wide) column groups.
 * - gemv: M = 1 (decode); wg invocations per workgroup, each owning one column group.
 */
export type MatmulConfig =
  | { readonly kind: 'plain' }
  | {
      readonly kind: 'tiled';
      readonly tm: number;
      readonly tn: number;
      readonly wgx: number;
      readonly wgy: number;
      readonly tk: number;
      readonly raster: Raster;
    }
  | { readonly kind: 'subgroup'; readonly tm: number; readonly tn: number; readonly raster: Raster }
  | { readonly kind: 'gemv'; readonly wg: number };

/** Tuning results for one adapter: the fastest configuration measured per shape class. */
export interface TuningTable {
  readonly adapter: string;
  readonly entries: Readonly<Record<string, MatmulConfig>>;
}

export function configName(c: MatmulConfig): string {
  switch (c.kind) {
    case 'plain':
      return 'plain';
    case 'tiled':
      return `tiled ${c.tm}x${c.tn} per invocation, ${c.wgx}x${c.wgy} invocations, k${c.tk}, raster ${c.raster}`;
    case 'subgroup':
      return `subgroup ${c.tm}x${c.tn} per lane, raster ${c.raster}`;
    case 'gemv':
      return `gemv ${c.wg} invocations`;
  }
}

const pow2ceil = (n: number) => 2 ** Math.ceil(Math.log2(Math.max(1, n)));
const ceilDiv = (a: number, b: number) => Math.ceil(a / b);
/** Columns handled together: four when N allows four-wide loads and stores. */
export const colWidth = (s: MatmulShape) => (s.N % 4 === 0 ? 4 : 1);

/** The workgroup grid of a configuration on a shape (x fastest). */
export function gridOf(c: MatmulConfig, s: MatmulShape, subgroupSize = 8): [number, number, number] {
  const z = batchCount(s);
  const xy = (rows: number, cols: number, raster: Raster): [number, number, number] => {
    const m = ceilDiv(s.M, rows);
    const n = ceilDiv(s.N, cols);
    return raster === 'm' ? [m, n, z] : raster === 'n' ? [n, m, z] : [m * n, 1, z];
  };
  switch (c.kind) {
    case 'plain':
      return [1, 1, 1]; // the plain kernel folds its own 1-D grid
    case 'tiled':
      return xy(c.wgy * c.tm, c.wgx * c.tn, c.raster);
    case 'subgroup':
      return xy(c.tm, subgroupSize * c.tn * colWidth(s), c.raster);
    case 'gemv':
      return [ceilDiv(s.N / colWidth(s), c.wg), 1, z];
  }
}

/** Why `c` cannot compute `s` on `target`, or undefined when it can. */
export function invalidReason(c: MatmulConfig, s: MatmulShape, target: KernelTarget): string | undefined {
  if (c.kind === 'plain') return undefined;
  if (c.kind === 'subgroup' && !target.subgroupSize) return 'the target has no subgroups';
  if (c.kind === 'gemv' && s.M !== 1) return 'gemv needs M = 1';
  if (c.kind === 'tiled') {
    const w = colWidth(s);
    if (c.wgx * c.wgy > LIMITS.invocationsPerWorkgroup) return 'too many invocations per workgroup';
    if (c.tn % w !== 0) return `tn must be a multiple of ${w}`;
    const bytes = 4 * c.tk * (c.wgy * c.tm + c.wgx * c.tn);
    if (bytes > LIMITS.workgroupStorageBytes) return `${bytes} bytes of workgroup memory`;
  }
  if (gridOf(c, s, target.subgroupSize).some((d) => d > LIMITS.workgroupsPerDimension)) return 'the grid exceeds 65535 workgroups in a dimension';
  return undefined;
}

/** Below this many multiply-adds per matrix the plain kernel is as good as any: there is nothing to reuse. */
export const TINY_MATMUL = 4096;

/**
 * The defaults, without tuning, in the usual GPU practice: a GEMV for one row; the
 * subgroup kernel when the target has subgroups; otherwise a 64 × 64 tile of 16 × 16
 * invocations with 4 × 4 outputs each and 16-deep k slices (TF.js's and most BLAS
 * kernels' shape), shrunk for matrices smaller than the tile. Tiny matrices get the
 * plain kernel.
 *
 * The subgroup block depends on the lane count. Subgroups of 8 or fewer lanes are CPU
 * SIMD (llvmpipe, SwiftShader): accumulators that spill land in L1, and b loads, done
 * lane by lane there, are what costs, so bigger blocks win: 16 rows × 2 four-wide column
 * groups by default (about 1.3× the 16 × 1 block on llvmpipe). Larger ones (32 × 4) are
 * faster still but take llvmpipe seconds to compile per kernel (6 s against 0.9 s), so
 * they are left to the tuner, which pays that once per shape class. GPU subgroups (32
 * or 64 lanes) keep 16 rows × 1 group, 64 accumulators a lane, within a GPU's register file.
 */
export function defaultConfig(s: MatmulShape, target: KernelTarget): MatmulConfig {
  if (s.M === 1 && batchCount(s) <= LIMITS.workgroupsPerDimension) return { kind: 'gemv', wg: 64 };
  if (s.M * s.N * s.K < TINY_MATMUL) return { kind: 'plain' };
  if (target.subgroupSize) {
    const simd = target.subgroupSize <= 8;
    const groups = ceilDiv(s.N / colWidth(s), target.subgroupSize);
    return { kind: 'subgroup', tm: Math.min(16, pow2ceil(s.M)), tn: simd ? Math.min(2, pow2ceil(groups)) : 1, raster: 'm' };
  }
  return defaultTiled(s);
}

/** The portable tiled default for any shape: 64 × 64 tiles, shrunk to the matrix. */
export function defaultTiled(s: MatmulShape): MatmulConfig {
  return {
    kind: 'tiled',
    tm: 4,
    tn: 4,
    tk: 16,
    raster: 'n',
    wgx: Math.min(16, pow2ceil(ceilDiv(s.N, 4))),
    wgy: Math.min(16, pow2ceil(ceilDiv(s.M, 4))),
  };
}

/** The configuration codegen uses: a forced one, else the tuned one for the shape class, else the default; plain when none fits. */
export function chooseConfig(s: MatmulShape, target: KernelTarget): MatmulConfig {
  const tuned = target.tuning?.entries[shapeClass(s)];
  for (const c of [target.matmul, tuned, defaultConfig(s, target)]) if (c && !invalidReason(c, s, target)) return c;
  return { kind: 'plain' };
}

/**
 * The handful of configurations the tuner times for a shape: the default and a few
 * neighbours in tile size, register block and raster order.
 */
export function candidates(s: MatmulShape, target: KernelTarget): MatmulConfig[] {
  const list: MatmulConfig[] = [defaultConfig(s, target), defaultConfig(s, {})];
  if (s.M === 1) list.push({ kind: 'gemv', wg: 32 }, { kind: 'gemv', wg: 128 }, { kind: 'gemv', wg: 256 });
  if (target.subgroupSize) {
    list.push(
      { kind: 'subgroup', tm: 8, tn: 2, raster: 'm' },
      { kind: 'subgroup', tm: 16, tn: 1, raster: 'm' },
      { kind: 'subgroup', tm: 16, tn: 2, raster: 'm' },
      { kind: 'subgroup', tm: 16, tn: 4, raster: 'm' },
      { kind: 'subgroup', tm: 32, tn: 2, raster: 'm' },
      { kind: 'subgroup', tm: 32, tn: 3, raster: 'm' },
      { kind: 'subgroup', tm: 32, tn: 4, raster: 'm' },
      { kind: 'subgroup', tm: 32, tn: 4, raster: 'g' },
    );
  }
  if (s.M > 1) {
    list.push(
      { kind: 'tiled', tm: 4, tn: 4, wgx: 16, wgy: 16, tk: 16, raster: 'm' },
      { kind: 'tiled', tm: 8, tn: 4, wgx: 8, wgy: 8, tk: 16, raster: 'm' },
      { kind: 'tiled', tm: 4, tn: 8, wgx: 8, wgy: 16, tk: 8, raster: 'n' },
    );
  }
  const seen = new Set<string>();
  return list.filter((c) => {
    const key = JSON.stringify(c);
    if (seen.has(key) || invalidReason(c, s, target)) return false;
    seen.add(key);
    return true;
  });
}
