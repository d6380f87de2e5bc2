import type { Graph } from '../compiler/ir.js';

/** A kv_write the plan runs in place: its node, the cache parameter it reads and its output, which shares that parameter's buffer. */
export interface InPlaceWrite {
  readonly node: number;
  readonly param: number;
  readonly output: number;
  /** The update (output name) the write makes unnecessary. */
  readonly update: string;
}

/**
 * The kv_writes of a decode step (compiler/infer/decode.ts) whose output can be the cache
 * parameter's own buffer, so that a step writes one row per sequence instead of a new cache
 * and a copy of it over the parameter. That holds when the cache input is a parameter that
 * nothing else in the graph reads (so no step sees it after the write, or before it in a
 * changed state), the output is a graph output that an update copies over exactly that
 * parameter, and the parameter is not copied over by any other update. Any other kv_write
 * keeps the whole-cache kernel and its update copy.
 */
export function inPlaceWrites(g: Graph, updates: readonly { readonly output: string; readonly param: string }[] = []): InPlaceWrite[] {
  const readers = new Map<number, number>();
  for (const n of g.nodes) for (const i of n.inputs) readers.set(i, (readers.get(i) ?? 0) + 1);
  const perParam = new Map<string, number>();
  for (const u of updates) perParam.set(u.param, (perParam.get(u.param) ?? 0) + 1);
  const out: InPlaceWrite[] = [];
  for (const n of g.nodes) {
    if (n.op !== 'kv_write') continue;
    const cache = g.values[n.inputs[0]!]!;
    const o = n.outputs[0]!;
    const k = g.outputs.indexOf(o);
    if (cache.kind !== 'param' || readers.get(cache.id) !== 1 || k < 0 || g.outputs.indexOf(o, k + 1) >= 0) continue;
    const name = g.outputNames[k]!;
    const u = updates.find((x) => x.output === name);
    if (!u || u.param !== cache.name || perParam.get(u.param) !== 1) continue;
    out.push({ node: n.id, param: cache.id, output: o, update: name });
  }
  return out;
}
