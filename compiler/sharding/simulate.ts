import { dimValue } from '../dims.js';
import { numelOf, strides, type RefTensor } from '../ops/tensor.js';
import { referenceOf } from '../reference/ops.js';
import type { Layout } from '../types.js';
import { blockIndex, coordsOf, groupOf, localShape, shapeOf, type Mesh } from './mesh.js';
import type { SpmdProgram } from './partition.js';

/**
 * Runs an SPMD program on N simulated devices with the CPU reference ops: each device
 * runs the local program on its own blocks; collectives combine blocks across the
 * devices of a mesh axis. The oracle for "sharded equals unsharded".
 */
export function simulate(
  p: SpmdProgram,
  inputs: Readonly<Record<string, ArrayLike<number>>>,
  params: (name: string, shape: readonly number[]) => ArrayLike<number>,
): Record<string, RefTensor> {
  const g = p.local;
  const n = p.devices;
  const envs = Array.from({ length: n }, () => new Map<number, RefTensor>());
  const lshape = (id: number) => g.values[id]!.type.dims.map((d) => dimValue(d)!);
  for (const v of g.values) {
    if (v.kind === 'op') continue;
    const gshape = shapeOf(p.globalTypes[v.id]!);
    let whole: RefTensor;
    if (v.kind === 'input') {
      const data = inputs[v.name!];
      if (!data) throw new Error(`missing input '${v.name}'`);
      whole = { shape: gshape, data: Float64Array.from(data) };
    } else if (v.kind === 'param') whole = { shape: gshape, data: Float64Array.from(params(v.name!, gshape)) };
    else whole = { shape: [], data: Float64Array.of(v.scalar!) };
    for (let d = 0; d < n; d++) envs[d]!.set(v.id, shardOf(p.mesh, whole, p.layouts[v.id]!, d));
  }
  for (const node of g.nodes) {
    const outShapes = node.outputs.map(lshape);
    const outId = node.outputs[0]!;
    const inId = node.inputs[0]!;
    const axis = node.attrs['axis'] as string;
    switch (node.op) {
      case 'all_reduce': case 'reduce_scatter': {
        const dim = node.attrs['dim'] as number | undefined;
        for (const group of groups(p.mesh, n, axis)) {
          const sum = new Float64Array(envs[group[0]!]!.get(inId)!.data.length);
          for (const d of group) envs[d]!.get(inId)!.data.forEach((x, i) => (sum[i] += x));
          const whole: RefTensor = { shape: envs[group[0]!]!.get(inId)!.shape, data: sum };
          group.forEach((d, k) => envs[d]!.set(outId, dim === undefined ? { shape: whole.shape, data: sum.slice() } : block(whole, dim, k, group.length)));
        }
        break;
      }
      case 'all_gather': {
        const dim = node.attrs['dim'] as number;
        for (const group of groups(p.mesh, n, axis)) {
          const whole = concat(group.map((d) => envs[d]!.get(inId)!), dim);
          for (const d of group) envs[d]!.set(outId, { shape: whole.shape, data: whole.data.slice() });
        }
        break;
      }
      case 'all_to_all': {
        const from = node.attrs['dim'] as number;
        const to = node.attrs['to'] as number;
        for (const group of groups(p.mesh, n, axis)) {
          const whole = concat(group.map((d) => envs[d]!.get(inId)!), from);
          group.forEach((d, k) => envs[d]!.set(outId, block(whole, to, k, group.length)));
        }
        break;
      }
      case 'shard_slice': {
        const dim = node.attrs['dim'] as number;
        const size = node.attrs['axis_size'] as number;
        for (let d = 0; d < n; d++) envs[d]!.set(outId, block(envs[d]!.get(inId)!, dim, coordsOf(p.mesh, d)[axis]!, size));
        break;
      }
      case 'partial_mask': {
        for (let d = 0; d < n; d++) {
          const x = envs[d]!.get(inId)!;
          envs[d]!.set(outId, coordsOf(p.mesh, d)[axis] === 0 ? x : { shape: x.shape, data: new Float64Array(x.data.length) });
        }
        break;
      }
      default: {
        const f = referenceOf(node.op);
        if (!f) throw new Error(`no reference implementation for '${node.op}'`);
        for (let d = 0; d < n; d++) {
          const ins = node.inputs.map((i) => envs[d]!.get(i)!);
          const outs = f(ins, node.attrs, outShapes, node.outputs.map((o) => g.values[o]!.type.dtype), node.id);
          node.outputs.forEach((o, i) => envs[d]!.set(o, outs[i]!));
        }
      }
    }
  }
  const result: Record<string, RefTensor> = {};
  g.outputs.forEach((o, i) => {
    result[g.outputNames[i]!] = assemble(p.mesh, envs.map((e) => e.get(o)!), p.layouts[o]!, shapeOf(p.globalTypes[o]!));
  });
  return result;
}

function groups(m: Mesh, n: number, axis: string): number[][] {
  const seen = new Set<number>();
  const out: number[][] = [];
  for (let d = 0; d < n; d++) {
    if (seen.has(d)) continue;
    const g = groupOf(m, d, axis);
    g.forEach((x) => seen.add(x));
    out.push(g);
  }
  return out;
}

/** Block `k` of `parts` along `dim`. */
export function block(x: RefTensor, dim: number, k: number, parts: number): RefTensor {
  const size = x.shape[dim]! / parts;
  return window(x, x.shape.map((_, i) => (i === dim ? k * size : 0)), x.shape.map((s, i) => (i === dim ? size : s)));
}

function window(x: RefTensor, start: readonly number[], shape: readonly number[]): RefTensor {
  const out = new Float64Array(numelOf(shape));
  const st = strides(x.shape);
  const r = shape.length;
  const c = new Array<number>(r).fill(0);
  for (let i = 0; i < out.length; i++) {
    let off = 0;
    for (let d = 0; d < r; d++) off += (c[d]! + start[d]!) * st[d]!;
    out[i] = x.data[off]!;
    for (let d = r - 1; d >= 0; d--) {
      if (++c[d]! < shape[d]!) break;
      c[d] = 0;
    }
  }
  return { shape: [...shape], data: out };
}

function concat(parts: readonly RefTensor[], dim: number): RefTensor {
  const shape = parts[0]!.shape.map((s, i) => (i === dim ? s * parts.length : s));
  const out = new Float64Array(numelOf(shape));
  const outer = numelOf(shape.slice(0, dim));
  const inner = numelOf(parts[0]!.shape.slice(dim));
  parts.forEach((p, k) => {
    for (let o = 0; o < outer; o++) out.set(p.data.subarray(o * inner, (o + 1) * inner), o * inner * parts.length + k * inner);
  });
  return { shape, data: out };
}

/** The block of a whole tensor that `device` holds under `layout` (pending sums: device 0 of each partial axis holds the value). */
export function shardOf(m: Mesh, whole: RefTensor, l: Layout, device: number): RefTensor {
  const c = coordsOf(m, device);
  const shape = localShape(m, whole.shape, l);
  const start = shape.map((s, d) => blockIndex(m, l, d, c) * s);
  const x = window(whole, start, shape);
  if (l.partial.some((a) => c[a] !== 0)) return { shape, data: new Float64Array(x.data.length) };
  return x;
}

/** The whole tensor from every device's block: splits placed, pending sums added, replicas read once. */
export function assemble(m: Mesh, shards: readonly RefTensor[], l: Layout, shape: readonly number[]): RefTensor {
  const out = new Float64Array(numelOf(shape));
  const st = strides(shape);
  const split = new Set(l.axes.flat());
  shards.forEach((x, device) => {
    const c = coordsOf(m, device);
    // One replica per block: devices off coordinate 0 on a replicating axis repeat another's data.
    if (m.axes.some((a) => !split.has(a.name) && !l.partial.includes(a.name) && c[a.name] !== 0)) return;
    const start = x.shape.map((s, d) => blockIndex(m, l, d, c) * s);
    const r = x.shape.length;
    const idx = new Array<number>(r).fill(0);
    for (let i = 0; i < x.data.length; i++) {
      let off = 0;
      for (let d = 0; d < r; d++) off += (idx[d]! + start[d]!) * st[d]!;
      out[off] += x.data[i]!;
      for (let d = r - 1; d >= 0; d--) {
        if (++idx[d]! < x.shape[d]!) break;
        idx[d] = 0;
      }
    }
  });
  return { shape: [...shape], data: out };
}
