import type { HostArray } from './executor.js';
import { axisSize, blockStart, coordsOf, groupsOf, localShape, numel, stridesOf } from '../layout/mesh.js';
import type { PlanCollectiveStep, PlanLayout, PlanMesh } from './plan.js';

/**
 * Block layouts and collectives on host arrays: what a multi-device run does between
 * kernel steps. The runtime imports nothing of the compiler, so this is the runtime's
 * own copy of the semantics the compiler's multi-device simulation defines
 * (compiler/sharding/simulate.ts); the multi-device WebGPU tests hold the two together.
 * The mesh and layout arithmetic both use (coordinates, groups, blocks) is layout/mesh.ts.
 */

/** A zeroed array of `a`'s kind. */
const zerosLike = (a: HostArray, n: number): HostArray => (a instanceof Int32Array ? new Int32Array(n) : new Float32Array(n));

/**
 * Copies (or adds) the box of extent `box` at `srcStart` in `src` to `dstStart` in `dst`,
 * a contiguous run of the last dim at a time.
 */
function copyBox(
  src: HostArray,
  srcShape: readonly number[],
  srcStart: readonly number[],
  dst: HostArray,
  dstShape: readonly number[],
  dstStart: readonly number[],
  box: readonly number[],
  add = false,
): void {
  const r = box.length;
  if (r === 0) {
    dst[0] = add ? dst[0]! + src[0]! : src[0]!;
    return;
  }
  const ss = stridesOf(srcShape);
  const ds = stridesOf(dstShape);
  const run = box[r - 1]!;
  const idx = new Array<number>(r - 1).fill(0);
  const outer = numel(box.slice(0, r - 1));
  for (let o = 0; o < outer; o++) {
    let so = srcStart[r - 1]!;
    let dof = dstStart[r - 1]!;
    for (let d = 0; d < r - 1; d++) {
      so += (idx[d]! + srcStart[d]!) * ss[d]!;
      dof += (idx[d]! + dstStart[d]!) * ds[d]!;
    }
    if (add) for (let i = 0; i < run; i++) dst[dof + i] += src[so + i]!;
    else dst.set(src.subarray(so, so + run), dof);
    for (let d = r - 2; d >= 0; d--) {
      if (++idx[d]! < box[d]!) break;
      idx[d] = 0;
    }
  }
}

/** Block `k` of `parts` along `dim`. */
function block(x: HostArray, shape: readonly number[], dim: number, k: number, parts: number): HostArray {
  const box = shape.map((s, i) => (i === dim ? s / parts : s));
  const out = zerosLike(x, numel(box));
  copyBox(
    x,
    shape,
    shape.map((_, i) => (i === dim ? k * box[i]! : 0)),
    out,
    box,
    box.map(() => 0),
    box,
  );
  return out;
}

/** The blocks (all of `shape`) side by side along `dim`, in order. */
function concat(parts: readonly HostArray[], shape: readonly number[], dim: number): HostArray {
  const whole = shape.map((s, i) => (i === dim ? s * parts.length : s));
  const out = zerosLike(parts[0]!, numel(whole));
  parts.forEach((p, k) =>
    copyBox(
      p,
      shape,
      shape.map(() => 0),
      out,
      whole,
      shape.map((s, i) => (i === dim ? k * s : 0)),
      shape,
    ),
  );
  return out;
}

function sum(parts: readonly HostArray[]): HostArray {
  const acc = new Float64Array(parts[0]!.length);
  for (const p of parts) for (let i = 0; i < acc.length; i++) acc[i] += p[i]!;
  return parts[0] instanceof Int32Array ? Int32Array.from(acc) : Float32Array.from(acc);
}

/**
 * Runs one collective step: every device's input block in, every device's output block
 * out (devices may share an output array: callers copy it to the device).
 */
export function runCollective(m: PlanMesh, s: PlanCollectiveStep, blocks: readonly HostArray[]): HostArray[] {
  const out = new Array<HostArray>(blocks.length);
  const n = axisSize(m, s.axis);
  if (s.op === 'shard_slice' || s.op === 'partial_mask') {
    blocks.forEach((x, d) => {
      const k = coordsOf(m, d)[s.axis]!;
      out[d] = s.op === 'shard_slice' ? block(x, s.shape, s.dim!, k, n) : k === 0 ? x : zerosLike(x, x.length);
    });
    return out;
  }
  for (const group of groupsOf(m, s.axis)) {
    const mine = group.map((d) => blocks[d]!);
    const whole = s.op === 'all_reduce' || s.op === 'reduce_scatter' ? sum(mine) : concat(mine, s.shape, s.dim!);
    const wholeShape = s.shape.map((x, i) => ((s.op === 'all_gather' || s.op === 'all_to_all') && i === s.dim ? x * n : x));
    group.forEach((d, k) => {
      out[d] = s.op === 'all_reduce' || s.op === 'all_gather' ? whole : block(whole, wholeShape, s.op === 'reduce_scatter' ? s.dim! : s.to!, k, n);
    });
  }
  return out;
}

/** The block of a whole tensor that `device` holds (pending sums: coordinate 0 of each partial axis holds the value, the others zeros). */
export function shardOf(m: PlanMesh, whole: HostArray, shape: readonly number[], l: PlanLayout, device: number): HostArray {
  const local = localShape(m, shape, l);
  const out = zerosLike(whole, numel(local));
  const c = coordsOf(m, device);
  if (l.partial.some((a) => c[a] !== 0)) return out;
  copyBox(
    whole,
    shape,
    blockStart(m, l, local, device),
    out,
    local,
    local.map(() => 0),
    local,
  );
  return out;
}

/** The whole tensor from every device's block: splits placed, pending sums added, each replica read once. */
export function assemble(m: PlanMesh, blocks: readonly HostArray[], shape: readonly number[], l: PlanLayout): HostArray {
  const out = zerosLike(blocks[0]!, numel(shape));
  const local = localShape(m, shape, l);
  const split = new Set(l.axes.flat());
  blocks.forEach((x, device) => {
    const c = coordsOf(m, device);
    if (m.axes.some((a) => !split.has(a.name) && !l.partial.includes(a.name) && c[a.name] !== 0)) return;
    copyBox(
      x,
      local,
      local.map(() => 0),
      out,
      shape,
      blockStart(m, l, local, device),
      local,
      l.partial.length > 0,
    );
  });
  return out;
}
