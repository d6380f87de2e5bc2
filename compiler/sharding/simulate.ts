import { dimValue } from '../dims.js';
import { window, type RefTensor } from '../ops/tensor.js';
import { facetsOf, referenceOf } from '../ops/registry.js';
import type { Layout } from '../types.js';
import { blockStart, coordsOf, groupsOf, localShape, numel, stridesOf } from '../../layout/mesh.js';
import { shapeOf, type Mesh } from './mesh.js';
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
    const facets = facetsOf(node.op);
    if (facets?.across) {
      // A collective: each group of devices along its axis exchanges its blocks.
      for (const group of groupsOf(p.mesh, node.attrs['axis'] as string)) {
        const outs = facets.across(
          group.map((d) => envs[d]!.get(node.inputs[0]!)!),
          node.attrs,
        );
        group.forEach((d, k) => envs[d]!.set(node.outputs[0]!, outs[k]!));
      }
      continue;
    }
    const f = referenceOf(node.op);
    if (!f) throw new Error(`no reference implementation for '${node.op}'`);
    const o0 = node.outputs[0];
    for (let d = 0; d < n; d++) {
      const ins = node.inputs.map((i) => envs[d]!.get(i)!);
      // Where output 0 lies in its whole tensor (dropout draws its mask by the global index).
      const block = o0 === undefined ? undefined : { global: shapeOf(p.globalTypes[o0]!), start: blockStart(p.mesh, p.layouts[o0]!, outShapes[0]!, d) };
      const outs = f(
        ins,
        node.attrs,
        outShapes,
        node.outputs.map((o) => g.values[o]!.type.dtype),
        node.id,
        block,
      );
      node.outputs.forEach((o, i) => envs[d]!.set(o, outs[i]!));
    }
  }
  const result: Record<string, RefTensor> = {};
  g.outputs.forEach((o, i) => {
    result[g.outputNames[i]!] = assemble(
      p.mesh,
      envs.map((e) => e.get(o)!),
      p.layouts[o]!,
      shapeOf(p.globalTypes[o]!),
    );
  });
  return result;
}

/** The block of a whole tensor that `device` holds under `layout` (pending sums: device 0 of each partial axis holds the value). */
export function shardOf(m: Mesh, whole: RefTensor, l: Layout, device: number): RefTensor {
  const c = coordsOf(m, device);
  const shape = localShape(m, whole.shape, l);
  const x = window(whole, blockStart(m, l, shape, device), shape);
  if (l.partial.some((a) => c[a] !== 0)) return { shape, data: new Float64Array(x.data.length) };
  return x;
}

/** The whole tensor from every device's block: splits placed, pending sums added, replicas read once. */
export function assemble(m: Mesh, shards: readonly RefTensor[], l: Layout, shape: readonly number[]): RefTensor {
  const out = new Float64Array(numel(shape));
  const st = stridesOf(shape);
  const split = new Set(l.axes.flat());
  shards.forEach((x, device) => {
    const c = coordsOf(m, device);
    // One replica per block: devices off coordinate 0 on a replicating axis repeat another's data.
    if (m.axes.some((a) => !split.has(a.name) && !l.partial.includes(a.name) && c[a.name] !== 0)) return;
    const start = blockStart(m, l, x.shape, device);
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
