import { isFloat } from '../types.js';
import highsLoader from 'highs';
import type { Graph } from '../ir.js';
import { flopsOf } from '../ops/registry.js';
import { dtypeBytes, shapeOf } from '../sharding/mesh.js';
import { numel } from '../../layout/mesh.js';

/**
 * Recompute planning: which forward values the backward pass does not keep (the pass in
 * train/apply-recompute.ts then rebuilds them from kept values where the backward reads them).
 *
 * Candidates are float op results inside repeated layers (`Layer.3.…`) that no node
 * outside their layer reads and that are not graph outputs. What each policy drops is
 * defined once, in `policyDrops` (with `attentionCore`), and used by both the planner here
 * and the per-device memory report (train/memory.ts):
 * - none: nothing.
 * - full: every candidate. What stays is what crosses a layer boundary: each layer's input
 *   (the previous layer's output, or what comes in from outside the layers); the backward
 *   pass rebuilds one layer at a time from it.
 * - selective: the candidates in the attention core (see `attentionCore`), Megatron-LM's
 *   selective recompute: large next to what they cost to rebuild.
 * - auto: the cheapest set to rebuild (in FLOPs) under a budget for kept activations,
 *   as an integer program (HiGHS) when the graph is small enough, else greedy with a
 *   repair pass.
 * Memory model (`modelBytes`, what `auto` budgets): the kept candidates plus the largest
 * run of dropped ones within a layer (a layer's dropped values are rebuilt together), per
 * device. It counts every candidate; train/memory.ts reports only what the backward pass
 * reads. Repeated layers share one decision per position, so
 * an n-layer model costs one layer's worth of program.
 */
export type RecomputePolicy = 'none' | 'full' | 'selective' | 'auto';

export interface RecomputePlan {
  readonly policy: RecomputePolicy;
  /** Forward values not kept: value ids of the graph planned (for a training step, trainingLossGraph's; see trainingGraph). */
  readonly dropped: ReadonlySet<number>;
  /** Bytes of activations the dropped values would have kept. */
  readonly savedBytes: number;
  /** FLOPs of the rebuilt producers per step. */
  readonly extraFlops: number;
  /** Modelled bytes of kept candidates plus the largest dropped run (what `auto` budgets). */
  readonly modelBytes: number;
  readonly method?: 'ilp' | 'greedy';
  readonly seconds?: number;
}

export class RecomputeError extends Error {}

export interface Item {
  /** One decision: the value ids it stands for (one per repeated layer). */
  readonly values: number[];
  readonly bytes: number;
  readonly flops: number;
}

export interface Problem {
  /** Per layer template: its items in topological order. */
  readonly items: Item[];
  /** Number of layer instances (weights for the totals). */
  readonly layers: number;
}

/**
 * The attention core: the values `selective` drops (value ids of `g`, any graph: forward,
 * loss or a partitioned local program). Megatron-LM's selective recompute (Korthikanti et
 * al. 2022) rebuilds "core attention", what attention computes from q, k and v:
 * - every output of an `attention` op. The op keeps no score matrix (its backward,
 *   attention_grad, reads q, k, v and the output's gradient), so its output, which the
 *   output projection's backward reads, is all the core leaves behind;
 * - attention written out: a `softmax` whose result P is, directly or through one
 *   `dropout`, the left operand of a `matmul` whose right operand is an activation (V,
 *   computed from the model's inputs; not a parameter alone): P, that dropout's result and
 *   the matmul's result (the context, like the attention op's output). The dropout's mask
 *   is drawn from (seed, mask_id, element), so a rebuilt dropout is the same bit for bit.
 *   Also the scores: the chain from the matmul of two activations (q @ kᵀ) through
 *   element-wise ops with one activation operand (a scale, an added mask) into the
 *   softmax. No backward rule reads them, but rebuilding P reads them, so kept they would
 *   cost as much as P (train/memory.ts counts what rebuilds read).
 * Not in the core: q, k, v and what computes them; a softmax not multiplied into
 * an activation (MoE gates, an output distribution); log_softmax (losses); every other
 * dropout (residual, MLP).
 * Megatron keeps one of these: the context, which its output projection saves as its
 * input. Here it is dropped: with a fused attention op it is the only activation the core
 * leaves, so keeping it would make `selective` the same as `none`.
 */
export function attentionCore(g: Graph): Set<number> {
  // Values computed from the model's inputs (activations), as opposed to from parameters and constants alone.
  const activation = new Set<number>(g.inputs);
  for (const n of g.nodes) if (n.inputs.some((i) => activation.has(i))) n.outputs.forEach((o) => activation.add(o));
  const readers = new Map<number, number[]>();
  for (const n of g.nodes) for (const i of n.inputs) (readers.get(i) ?? readers.set(i, []).get(i)!).push(n.id);
  const core = new Set<number>();
  const intoV = (x: number): number[] =>
    (readers.get(x) ?? [])
      .map((r) => g.nodes[r]!)
      .filter((r) => r.op === 'matmul' && r.inputs[0] === x && activation.has(r.inputs[1]!))
      .map((r) => r.outputs[0]!);
  for (const n of g.nodes) {
    if (n.op === 'attention') n.outputs.forEach((o) => core.add(o));
    if (n.op !== 'softmax') continue;
    const p = n.outputs[0]!;
    const contexts = intoV(p);
    const dropouts = (readers.get(p) ?? []).map((r) => g.nodes[r]!).filter((r) => r.op === 'dropout');
    for (const d of dropouts) {
      const c = intoV(d.outputs[0]!);
      if (c.length) {
        core.add(d.outputs[0]!);
        contexts.push(...c);
      }
    }
    if (contexts.length) {
      core.add(p);
      contexts.forEach((c) => core.add(c));
      scoresInto(g, n.inputs[0]!, activation, readers).forEach((s) => core.add(s));
    }
  }
  return core;
}

/** The scores chain ending in `x` (a softmax's input): element-wise ops with one activation operand, back to a matmul of two activations; empty if it ends elsewhere. */
function scoresInto(g: Graph, x: number, activation: ReadonlySet<number>, readers: ReadonlyMap<number, number[]>): number[] {
  const chain: number[] = [];
  for (let v = x; ;) {
    const n = g.values[v]!.kind === 'op' ? g.nodes[g.values[v]!.producer!]! : undefined;
    if (!n || (readers.get(v) ?? []).length !== 1) return [];
    chain.push(v);
    const acts = n.inputs.filter((i) => activation.has(i));
    if (n.op === 'matmul') return acts.length === 2 ? chain : [];
    if (!SCORE_OPS.has(n.op) || acts.length !== 1) return [];
    v = acts[0]!;
  }
}

const SCORE_OPS = new Set(['mul', 'div', 'add', 'sub', 'where']);

/** What `policy` drops, one flag per item of `p` (the problem of `g`): the one definition of none, full and selective. */
export function policyDrops(g: Graph, p: Problem, policy: Exclude<RecomputePolicy, 'auto'>): boolean[] {
  if (policy === 'none') return p.items.map(() => false);
  if (policy === 'full') return p.items.map(() => true);
  const core = attentionCore(g);
  return p.items.map((it) => it.values.some((v) => core.has(v)));
}

/** `Layer.3` from a scope or parameter path such as `Layer.3.Attention.wq`; undefined outside repeated layers. */
export function layerOf(scope: string): string | undefined {
  const m = /^(.*?\.\d+)(\.|$)/.exec(scope);
  return m ? m[1] : undefined;
}

/** The candidates of a forward graph, grouped by position within repeated layers. */
export function recomputeProblem(g: Graph): Problem {
  const byLayer = new Map<string, number[]>();
  const consumers = new Map<number, string[]>();
  for (const n of g.nodes) for (const i of n.inputs) (consumers.get(i) ?? consumers.set(i, []).get(i)!).push(layerOf(n.scope) ?? '');
  const outputs = new Set(g.outputs);
  for (const n of g.nodes) {
    const layer = layerOf(n.scope);
    if (!layer) continue;
    for (const o of n.outputs) {
      const leaves = (consumers.get(o) ?? []).some((l) => l !== layer) || outputs.has(o);
      const t = g.values[o]!.type;
      if (leaves || !isFloat(t.dtype)) continue;
      (byLayer.get(layer) ?? byLayer.set(layer, []).get(layer)!).push(o);
    }
  }
  const groups = [...byLayer.values()];
  const first = groups[0] ?? [];
  const same = groups.every(
    (vs) => vs.length === first.length && vs.every((v, i) => g.nodes[g.values[v]!.producer!]!.op === g.nodes[g.values[first[i]!]!.producer!]!.op),
  );
  const size = (v: number) => numel(shapeOf(g.values[v]!.type)) * dtypeBytes(g.values[v]!.type.dtype);
  const cost = (v: number) => {
    const n = g.nodes[g.values[v]!.producer!]!;
    return flopsOf(
      n,
      n.inputs.map((i) => shapeOf(g.values[i]!.type)),
      n.outputs.map((x) => shapeOf(g.values[x]!.type)),
    );
  };
  if (same && groups.length > 0) {
    return { items: first.map((_, i) => ({ values: groups.map((vs) => vs[i]!), bytes: size(first[i]!), flops: cost(first[i]!) })), layers: groups.length };
  }
  // Layers that differ: one template per value (no tying).
  return { items: groups.flat().map((v) => ({ values: [v], bytes: size(v), flops: cost(v) })), layers: 1 };
}

/** Modelled bytes for a keep/drop choice: kept items, plus the largest run of dropped ones. */
export function modelBytes(p: Problem, drop: readonly boolean[]): number {
  let kept = 0;
  let run = 0;
  let maxRun = 0;
  p.items.forEach((it, i) => {
    if (drop[i]) {
      run += it.bytes;
      maxRun = Math.max(maxRun, run);
    } else {
      kept += it.bytes;
      run = 0;
    }
  });
  return kept * p.layers + maxRun;
}

const extra = (p: Problem, drop: readonly boolean[]) => p.items.reduce((n, it, i) => n + (drop[i] ? it.flops * p.layers : 0), 0);

export async function planRecompute(
  g: Graph,
  policy: RecomputePolicy,
  opts: { budget?: number; maxIlpItems?: number; method?: 'ilp' | 'greedy' } = {},
): Promise<RecomputePlan> {
  const p = recomputeProblem(g);
  const t0 = performance.now();
  let drop: boolean[];
  let method: RecomputePlan['method'];
  if (policy !== 'auto') drop = policyDrops(g, p, policy);
  else {
    if (opts.budget === undefined) throw new RecomputeError('recompute auto needs a memory budget');
    const all = p.items.map(() => true);
    if (modelBytes(p, all) > opts.budget) {
      throw new RecomputeError(
        `no recompute plan fits ${(opts.budget / 2 ** 20).toFixed(1)} MiB of activations: even rebuilding everything needs ${(modelBytes(p, all) / 2 ** 20).toFixed(1)} MiB`,
      );
    }
    const useIlp = opts.method ? opts.method === 'ilp' : p.items.length <= (opts.maxIlpItems ?? 80);
    drop = useIlp ? await solveIlp(p, opts.budget) : greedy(p, opts.budget);
    method = useIlp ? 'ilp' : 'greedy';
  }
  const dropped = new Set<number>();
  let saved = 0;
  p.items.forEach((it, i) => {
    if (drop[i]) {
      it.values.forEach((v) => dropped.add(v));
      saved += it.bytes * it.values.length;
    }
  });
  return {
    policy,
    dropped,
    savedBytes: saved,
    extraFlops: extra(p, drop),
    modelBytes: modelBytes(p, drop),
    ...(method ? { method, seconds: (performance.now() - t0) / 1000 } : {}),
  };
}

/**
 * The heuristic for graphs too large for the integer program: greedy drops in three
 * orders (FLOPs per byte, FLOPs, bytes), each followed by a repair pass that keeps back
 * what still fits and a local search of single swaps (keep one dropped item, drop one
 * kept item) while that lowers the FLOPs and stays within budget; the best result wins.
 */
export function greedy(p: Problem, budget: number): boolean[] {
  const fromDp = segmentDp(p, budget);
  const orders: ((a: number, b: number) => number)[] = [
    (a, b) => p.items[a]!.flops / p.items[a]!.bytes - p.items[b]!.flops / p.items[b]!.bytes || a - b,
    (a, b) => p.items[a]!.flops - p.items[b]!.flops || a - b,
    (a, b) => p.items[b]!.bytes - p.items[a]!.bytes || a - b,
  ];
  let best: boolean[] | undefined;
  for (const order of orders) {
    const drop = p.items.map(() => false);
    for (const i of p.items.map((_, k) => k).sort(order)) {
      if (modelBytes(p, drop) <= budget) break;
      drop[i] = true;
    }
    improve(p, drop, budget);
    if (!best || extra(p, drop) < extra(p, best)) best = drop;
  }
  if (fromDp && extra(p, fromDp) < extra(p, best!)) best = fromDp;
  return best!;
}

/**
 * Dynamic programming over a layer's items for a grid of caps R on the largest dropped
 * run: with R fixed, choosing kept items is a knapsack over kept bytes (bucketed,
 * rounded up so the result stays within budget) where consecutive dropped items between
 * two kept ones must sum to at most R. O(n²·buckets) per R.
 */
function segmentDp(p: Problem, budget: number): boolean[] | undefined {
  const n = p.items.length;
  const bytes = p.items.map((it) => it.bytes);
  const flops = p.items.map((it) => it.flops * p.layers);
  const prefix = [0];
  for (const b of bytes) prefix.push(prefix.at(-1)! + b);
  const seg = (i: number, j: number) => prefix[j]! - prefix[i]!; // items i..j-1
  const sums = new Set<number>([0]);
  for (let i = 0; i < n; i++) for (let j = i + 1; j <= n; j++) sums.add(seg(i, j));
  const all = [...sums].sort((a, b) => a - b);
  const grid = all.length <= 48 ? all : Array.from({ length: 48 }, (_, k) => all[Math.round((k * (all.length - 1)) / 47)]!);
  const buckets = n <= 60 ? 1000 : 250;
  const unit = Math.max(1, prefix[n]! / buckets);
  const w = bytes.map((b) => Math.ceil(b / unit));
  const fprefix = [0];
  for (const f of flops) fprefix.push(fprefix.at(-1)! + f);
  let best: boolean[] | undefined;
  let bestCost = Infinity;
  for (const R of grid) {
    const cap = Math.floor((budget - R) / p.layers / unit);
    if (cap < 0) continue;
    // dp[i][k]: min dropped FLOPs with item i−1 kept last (i = 0: the start), kept weight k.
    const INF = Infinity;
    const dp = Array.from({ length: n + 2 }, () => new Float64Array(cap + 1).fill(INF));
    const from = Array.from({ length: n + 2 }, () => new Int32Array(cap + 1).fill(-1));
    dp[0]![0] = 0;
    for (let i = 1; i <= n + 1; i++) {
      const wi = i <= n ? w[i - 1]! : 0;
      for (let j = i - 1; j >= 0; j--) {
        // items j..i-2 (0-based) are dropped between kept j-1 and kept i-1
        if (seg(j, i - 1) > R) break;
        const dropCost = fprefix[i - 1]! - fprefix[j]!;
        const row = dp[j]!;
        for (let k = 0; k + wi <= cap; k++) {
          const v = row[k]!;
          if (v === INF) continue;
          const c = v + dropCost;
          if (c < dp[i]![k + wi]!) {
            dp[i]![k + wi] = c;
            from[i]![k + wi] = j;
          }
        }
      }
    }
    let k = -1;
    for (let x = 0; x <= cap; x++) if (dp[n + 1]![x]! < (k < 0 ? INF : dp[n + 1]![k]!)) k = x;
    if (k < 0) continue;
    const drop = new Array<boolean>(n).fill(true);
    for (let i = n + 1; i > 0;) {
      const j = from[i]![k]!;
      if (i <= n) {
        drop[i - 1] = false;
        k -= w[i - 1]!;
      }
      i = j;
    }
    const cost = extra(p, drop);
    if (modelBytes(p, drop) <= budget && cost < bestCost) {
      bestCost = cost;
      best = drop;
    }
  }
  return best;
}

function improve(p: Problem, drop: boolean[], budget: number) {
  const fits = () => modelBytes(p, drop) <= budget;
  for (let changed = true, rounds = 0; changed && rounds < 50; rounds++) {
    changed = false;
    // Keep back a dropped item when it still fits (most expensive first).
    for (const i of p.items
      .map((_, k) => k)
      .filter((k) => drop[k])
      .sort((a, b) => p.items[b]!.flops - p.items[a]!.flops || a - b)) {
      drop[i] = false;
      if (fits()) changed = true;
      else drop[i] = true;
    }
    // Swap: keep dropped j, drop kept i, when cheaper and within budget.
    for (let j = 0; j < drop.length; j++) {
      if (!drop[j]) continue;
      for (let i = 0; i < drop.length; i++) {
        if (drop[i] || p.items[i]!.flops >= p.items[j]!.flops) continue;
        drop[j] = false;
        drop[i] = true;
        if (fits()) {
          changed = true;
          break;
        }
        drop[j] = true;
        drop[i] = false;
      }
    }
  }
}

let solver: Promise<{ solve(problem: string, options?: Record<string, unknown>): { Status: string; Columns: Record<string, { Primal: number }> } }> | undefined;

/** min Σ flops·d  s.t.  layers·Σ bytes·(1−d) + T ≤ budget,  T ≥ Σ_{i..j} bytes·d − M·Σ_{i..j} (1−d) for every run i..j. */
async function solveIlp(p: Problem, budget: number): Promise<boolean[]> {
  const n = p.items.length;
  // Folds, not Math.max(...xs): one argument per item would overflow the stack on a big layer.
  const scaleB = p.items.reduce((m, it) => Math.max(m, it.bytes), 1);
  const scaleF = p.items.reduce((m, it) => Math.max(m, it.flops), 1);
  const b = p.items.map((it) => it.bytes / scaleB);
  const f = p.items.map((it) => (it.flops * p.layers) / scaleF);
  const total = b.reduce((x, y) => x + y, 0);
  const rows: string[] = [];
  // Kept memory + T ≤ budget.
  rows.push(`mem: ${b.map((x, i) => `- ${fmt(x * p.layers)} d${i}`).join(' ')} + T <= ${fmt(budget / scaleB - total * p.layers)}`);
  for (let i = 0; i < n; i++) {
    for (let j = i; j < n; j++) {
      // If every item in i..j is dropped, T is at least their total; any kept item relaxes the row.
      const terms = Array.from({ length: j - i + 1 }, (_, k) => `- ${fmt(b[i + k]! + total)} d${i + k}`).join(' ');
      rows.push(`r${i}_${j}: T ${terms} >= ${fmt(-total * (j - i + 1))}`);
    }
  }
  const lp = [
    'Minimize',
    ` obj: ${f.map((x, i) => `${fmt(x)} d${i}`).join(' + ') || '0 T'}`,
    'Subject To',
    ...rows.map((r) => ` ${r}`),
    'Bounds',
    ' T >= 0',
    'Binary',
    ...f.map((_, i) => ` d${i}`),
    'End',
  ].join('\n');
  solver ??= (highsLoader as unknown as () => NonNullable<typeof solver>)();
  const sol = (await solver).solve(lp, { time_limit: 60, mip_rel_gap: 1e-9, output_flag: false });
  if (sol.Status !== 'Optimal') throw new RecomputeError(`recompute search failed: HiGHS reports '${sol.Status}'`);
  return f.map((_, i) => (sol.Columns[`d${i}`]?.Primal ?? 0) > 0.5);
}

const fmt = (x: number) => (Number.isInteger(x) ? String(x) : x.toPrecision(15).replace(/\.?0+$/, ''));
