/**
 * Tensor-parallel decoding: the prefill and decode graphs (compiler/infer/decode.ts)
 * partitioned over a mesh such as `[tp: 4]`, each device holding its block of every
 * layer's KV cache. The cache's layout is the one the model's own layouts give the keys
 * and values it stores (the GPT-2 sample's column-parallel `d@tp` projections split them
 * with the heads: `cache.k.<n>` is [batch, max_seq, width@tp]), with every position whole,
 * since the positions index the cache at run time. Both plans hold the cache parameters
 * and their `new.cache.*` outputs to that one layout, so a device's block of the cache is
 * the same buffer in either plan (runtime/generate-mesh.ts shares it).
 */
import type { InferenceGraphs } from '../compiler/infer/decode.js';
import type { Graph, LayoutConstraint } from '../compiler/ir.js';
import { unitSplits } from '../compiler/sharding/checks.js';
import { complete } from '../compiler/sharding/complete.js';
import type { Mesh } from '../compiler/sharding/mesh.js';
import { partition, type SpmdProgram } from '../compiler/sharding/partition.js';
import type { Layout } from '../compiler/types.js';
import { diag, type Diagnostic } from '../diagnostics/messages.js';
import { localShape } from '../layout/mesh.js';
import { meshProblems } from './stages.js';

const NOWHERE = { start: 0, end: 0, line: 1, col: 1, endLine: 1, endCol: 1 };

/**
 * Each cache parameter's layout by name: the prefill's key or value it stores, as the
 * layout completion lays it out, with the positions whole and no pending sum.
 */
export function cacheLayouts(r: Pick<InferenceGraphs, 'prefill' | 'cache'>, mesh: Mesh): Map<string, Layout> {
  const g = r.prefill;
  const constraints = new Map(g.constraints.map((c) => [c.value, c.layout]));
  const open = new Set(g.constraints.filter((c) => c.open).map((c) => c.value));
  const { layouts } = complete(g, mesh, constraints, open);
  const out = new Map<string, Layout>();
  for (const c of r.cache) {
    for (const name of [c.k, c.v]) {
      const l = layouts[g.outputs[g.outputNames.indexOf(`new.${name}`)]!]!;
      out.set(name, { axes: [[...(l.axes[0] ?? [])], [], [...(l.axes[2] ?? [])]], partial: [] });
    }
  }
  return out;
}

/** The shape of one device's block of a cache entry. */
export function cacheBlock(mesh: Mesh, shape: readonly number[], layout: Layout): number[] {
  return localShape(mesh, shape, layout);
}

/** `g` with the cache parameters laid out and its `new.cache.*` outputs held exactly to the same layouts. */
export function withCacheLayouts(g: Graph, layouts: ReadonlyMap<string, Layout>): Graph {
  const values = g.values.map((v) => (v.kind === 'param' && layouts.has(v.name!) ? { ...v, type: { ...v.type, layout: layouts.get(v.name!)! } } : v));
  const span = g.nodes[0]?.span ?? NOWHERE;
  const held: LayoutConstraint[] = g.outputNames.flatMap((n, i) => {
    const l = n.startsWith('new.') ? layouts.get(n.slice(4)) : undefined;
    return l ? [{ value: g.outputs[i]!, layout: l, span }] : [];
  });
  const taken = new Set(held.map((c) => c.value));
  return { ...g, values, constraints: [...g.constraints.filter((c) => !taken.has(c.value)), ...held] };
}

export interface PartitionedInference {
  readonly prefill: SpmdProgram;
  readonly decode: SpmdProgram;
  /** The cache parameters' layouts by name. */
  readonly layouts: ReadonlyMap<string, Layout>;
}

/**
 * Both graphs partitioned over `mesh`. A mesh axis nothing splits is MDC0411 (an OptionError
 * for `--mesh`), and an op whose heads do not divide over the axes splitting them MDC0410, as
 * for a forward plan.
 */
export function partitionInference(r: InferenceGraphs, mesh: Mesh, file: string): PartitionedInference | { diagnostics: Diagnostic[] } {
  const layouts = cacheLayouts(r, mesh);
  const prefill = withCacheLayouts(r.prefill, layouts);
  const decode = withCacheLayouts(r.decode, layouts);
  const idle = meshProblems(prefill, mesh, file);
  if (idle.length) return { diagnostics: idle };
  const programs: SpmdProgram[] = [];
  for (const g of [prefill, decode]) {
    const p = partition(g, mesh);
    const unsplit = unitSplits(g, p).map((u) => diag(file, u.span, 'MDC0410', u.op, u.what, u.axes.join('×'), u.devices, u.type));
    if (unsplit.length) return { diagnostics: unsplit };
    programs.push(p);
  }
  return { prefill: programs[0]!, decode: programs[1]!, layouts };
}
