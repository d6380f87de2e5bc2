import { extendGraph, type Graph, type Node, type Value } from '../ir.js';
import { flopsOf } from '../ops/registry.js';
import { shapeOf } from '../sharding/mesh.js';

/**
 * Pipeline stages of a forward graph: the layers of its pipelined `repeat` cut into
 * contiguous runs, one per stage. What comes before the first layer (embeddings) runs
 * on stage 0, what comes after the last (the head, the loss) on the last stage.
 */
export interface StageSplit {
  readonly stages: number;
  /** Per stage, its layers [first, end). */
  readonly layers: readonly (readonly [number, number])[];
  /** Per node of the forward graph, its stage. */
  readonly stageOfNode: readonly number[];
  /** Per stage, the FLOPs of its forward nodes (what the balance minimised the largest of). */
  readonly flops: readonly number[];
}

export class SplitError extends Error {
  override name = 'SplitError';
}

/**
 * Cuts `g`'s layers (nodes whose scope is `<block>.<i>` or under it) into `stages` runs:
 * `layers` per stage when given, else balanced by forward FLOPs (the stage with the
 * most work bounds a pipeline's throughput): a dynamic program over the layer sequence
 * minimising the largest stage's FLOPs, the embedding counted on stage 0 and the head
 * on the last, ties going to the earliest cut.
 */
export function splitStages(g: Graph, spec: { readonly stages: number; readonly block: string; readonly layers?: readonly number[] }): StageSplit {
  const pattern = new RegExp(`^${spec.block.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\.(\\d+)(\\.|$)`);
  const layerOf = g.nodes.map((n) => {
    const m = pattern.exec(n.scope);
    return m ? Number(m[1]) : -1;
  });
  const count = layerOf.reduce((a, l) => Math.max(a, l + 1), 0);
  if (count === 0) throw new SplitError(`the pipelined stack repeats ${spec.block}, but the graph has no ${spec.block} layers`);
  const S = spec.stages;
  if (S > count) throw new SplitError(`${S} pipeline stages need at least ${S} layers; the stack has ${count}`);
  const firstLayerNode = layerOf.findIndex((l) => l >= 0);
  const cost = (n: Node) =>
    flopsOf(
      n,
      n.inputs.map((i) => shapeOf(g.values[i]!.type)),
      n.outputs.map((o) => shapeOf(g.values[o]!.type)),
    );
  const perLayer = new Array<number>(count).fill(0);
  let pre = 0;
  let post = 0;
  g.nodes.forEach((n, i) => {
    const f = cost(n);
    if (layerOf[i]! >= 0) perLayer[layerOf[i]!]! += f;
    else if (i < firstLayerNode) pre += f;
    else post += f;
  });
  let sizes: number[];
  if (spec.layers) {
    const sum = spec.layers.reduce((a, b) => a + b, 0);
    if (spec.layers.length !== S || sum !== count)
      throw new SplitError(`layers = [${spec.layers.join(', ')}] must give ${S} stage sizes summing to the stack's ${count} layers`);
    sizes = [...spec.layers];
  } else sizes = balance(perLayer, S, pre, post);
  const layers: [number, number][] = [];
  let at = 0;
  for (const k of sizes) {
    layers.push([at, at + k]);
    at += k;
  }
  const stageOfLayer = new Array<number>(count);
  layers.forEach(([lo, hi], s) => stageOfLayer.fill(s, lo, hi));
  const stageOfNode = layerOf.map((l, i) => (l >= 0 ? stageOfLayer[l]! : i < firstLayerNode ? 0 : S - 1));
  const flops = layers.map(([lo, hi], s) => perLayer.slice(lo, hi).reduce((a, b) => a + b, 0) + (s === 0 ? pre : 0) + (s === S - 1 ? post : 0));
  return { stages: S, layers, stageOfNode, flops };
}

/** Layers per stage minimising the largest stage's cost (`pre` added to the first stage, `post` to the last). */
function balance(perLayer: readonly number[], S: number, pre: number, post: number): number[] {
  const n = perLayer.length;
  const prefix = [0];
  for (const c of perLayer) prefix.push(prefix.at(-1)! + c);
  const span = (j: number, i: number, s: number) => prefix[i]! - prefix[j]! + (s === 0 ? pre : 0) + (s === S - 1 ? post : 0);
  // best[s][i]: the smallest largest cost of stages 0..s holding layers [0, i); cut[s][i] where stage s starts.
  const best: number[][] = [];
  const cut: number[][] = [];
  for (let s = 0; s < S; s++) {
    best.push(new Array<number>(n + 1).fill(Infinity));
    cut.push(new Array<number>(n + 1).fill(-1));
    for (let i = s + 1; i <= n - (S - 1 - s); i++) {
      if (s === 0) {
        best[0]![i] = span(0, i, 0);
        cut[0]![i] = 0;
        continue;
      }
      for (let j = s; j < i; j++) {
        const c = Math.max(best[s - 1]![j]!, span(j, i, s));
        if (c < best[s]![i]!) {
          best[s]![i] = c;
          cut[s]![i] = j;
        }
      }
    }
  }
  const sizes = new Array<number>(S);
  let i = n;
  for (let s = S - 1; s >= 0; s--) {
    const j = cut[s]![i]!;
    sizes[s] = i - j;
    i = j;
  }
  return sizes;
}

/**
 * `g` with every parameter that nodes of several stages read given one copy per stage
 * (a tied embedding: the lookup on stage 0, the head on the last): each stage then owns
 * the copy it reads, differentiates into it and updates it, and the copies' summed
 * gradient keeps them equal (the pipeline's tied-gradient all-reduce). The copies share
 * the parameter's name, so each initialises from the same seed to the same values.
 * Returns the graph and, per parameter name, the stages holding a copy (more than one).
 */
export function replicateShared(g: Graph, stageOfNode: readonly number[]): { graph: Graph; stageOfNode: number[]; shared: Map<string, number[]> } {
  const readers = new Map<number, Set<number>>();
  g.nodes.forEach((n, i) => {
    for (const x of n.inputs) if (g.values[x]!.kind === 'param') (readers.get(x) ?? readers.set(x, new Set()).get(x)!).add(stageOfNode[i]!);
  });
  const shared = new Map<string, number[]>();
  for (const [p, st] of readers)
    if (st.size > 1)
      shared.set(
        g.values[p]!.name!,
        [...st].sort((a, b) => a - b),
      );
  const copies = new Map<string, Value>();
  const { builder, map } = extendGraph(g, undefined, (n, b, m) => {
    const s = stageOfNode[n.id]!;
    const moved = n.inputs.filter((x) => {
      const v = g.values[x]!;
      return v.kind === 'param' && shared.has(v.name!) && shared.get(v.name!)![0] !== s;
    });
    if (!moved.length) return false;
    const ins = n.inputs.map((x) => {
      if (!moved.includes(x)) return m.get(x)!;
      const key = `${x}@${s}`;
      let c = copies.get(key);
      if (!c) {
        const { id: _id, ...rest } = g.values[x]!;
        c = b.addValue(rest);
        copies.set(key, c);
      }
      return c;
    });
    const outs = b.copyNode(g, n, ins);
    n.outputs.forEach((o, i) => m.set(o, outs[i]!));
    return true;
  });
  const graph = builder.finish(
    g.name,
    g.outputs.map((o) => map.get(o)!),
    g.outputNames,
  );
  return { graph, stageOfNode: [...stageOfNode], shared };
}
