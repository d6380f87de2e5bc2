import highsLoader from 'highs';
import type { Graph } from '../ir.js';
import type { Layout } from '../types.js';
import { legalSplit, letterDims } from './complete.js';
import { axisSize, localShape, numel, splitCount } from '../../layout/mesh.js';
import { dtypeBytes, layoutKey, normLayout, replicated, shapeOf, type Mesh } from './mesh.js';
import { redistribute, stepBytes, type Step } from './redistribute.js';
import { flopsOf } from '../ops/registry.js';
import type { Letter, OpSpec } from '../ops/sharding.js';
import { opSpec } from './specs.js';

/**
 * `auto`: choose every op's sharding strategy with a cost model, as an integer program
 * (Alpa's intra-operator pass, solved by HiGHS).
 *
 * - A strategy maps each mesh axis to one splittable letter of the op, or to none.
 *   Parameters are sources whose strategies are their legal layouts. Annotated inputs
 *   keep their layouts; other inputs are whole.
 * - Node cost: compute time, FLOPs over the devices that share the work (×3 when
 *   training: forward plus backward); when training, also the all-reduce of an input's
 *   gradient over every axis the strategy splits work along but the input is not split
 *   along (Megatron's "f" operator, and data-parallel gradient synchronisation).
 * - Edge cost: time of the conversion from the producer's layout to the layout the
 *   consumer's strategy needs (bytes per device over the axis bandwidth), plus, when
 *   training, its mirror in the backward pass.
 * - Memory: parameter bytes per device (×4 when training: weights, gradients and two
 *   AdamW moments) under a cap.
 * - Repeated layers (`repeat(n)`, scopes `Layer.0`, `Layer.1`, …) share variables, so a
 *   96-layer model costs one layer's worth of integer program.
 *
 * Edge costs are linearised with one continuous variable per (edge, consumer strategy):
 * z ≥ Σ_i C(i, j) s_u,i − M (1 − s_v,j).
 */
/** A search that cannot produce a plan (infeasible memory cap, solver failure). */
export class AutoError extends Error {}

export interface AutoOptions {
  readonly training?: boolean;
  /** Per-device memory cap for parameters (and their training state), bytes. */
  readonly memoryCap?: number;
  /** Per-axis bandwidth in bytes/s (default 100 GB/s each). */
  readonly bandwidth?: Readonly<Record<string, number>>;
  /** Device FLOP rate (default 100 TFLOP/s). */
  readonly flops?: number;
  /** Solver time limit in seconds (default 60). */
  readonly timeLimit?: number;
  /** Share decisions across repeated layers (default true; false is for measuring what tying saves). */
  readonly tieLayers?: boolean;
}

export interface AutoResult {
  /** Layouts for every value of the graph, to hand to `partition`. */
  readonly layouts: readonly Layout[];
  readonly searchSeconds: number;
  readonly status: string;
  /** Modelled cost of the chosen plan, seconds per step. */
  readonly cost: number;
  readonly variables: number;
  readonly constraints: number;
  /** Nodes after tying repeated layers together. */
  readonly distinctNodes: number;
}

interface Strategy {
  readonly ins: readonly Layout[];
  readonly outs: readonly Layout[];
  /** Node-local cost (compute, backward gradient reductions). */
  readonly cost: number;
  readonly memory: number;
}

/** A decision: a node or a free parameter, with its strategies. */
interface Unit {
  readonly strategies: readonly Strategy[];
  /** How many graph nodes this unit stands for (repeated layers). */
  weight: number;
}

let solverPromise:
  | Promise<{
      solve(problem: string, options?: Record<string, unknown>): { Status: string; ObjectiveValue: number; Columns: Record<string, { Primal: number }> };
    }>
  | undefined;

export async function autoShard(g: Graph, mesh: Mesh, opts: AutoOptions = {}): Promise<AutoResult> {
  const t0 = performance.now();
  const training = !!opts.training;
  const bw = (axis: string) => opts.bandwidth?.[axis] ?? 100e9;
  const flopRate = opts.flops ?? 100e12;
  const shapes = g.values.map((v) => shapeOf(v.type));
  const bytesOf = (vid: number, l: Layout) => numel(localShape(mesh, shapes[vid]!, l)) * dtypeBytes(g.values[vid]!.type.dtype);

  // ---- conversion cost between layouts, cached
  const convCache = new Map<string, number>();
  const conversion = (vid: number, from: Layout, to: Layout): number => {
    const key = `${shapes[vid]!.join('x')}:${g.values[vid]!.type.dtype}:${layoutKey(from)}>${layoutKey(to)}`;
    let c = convCache.get(key);
    if (c === undefined) {
      c = 0;
      let cur = from;
      for (const s of redistribute(from, to)) {
        const before = bytesOf(vid, cur);
        c += stepBytes(mesh, s, before) / bw(s.axis);
        if (training) c += backwardBytes(mesh, s, before, bytesOf(vid, s.after)) / bw(s.axis);
        cur = s.after;
      }
      convCache.set(key, c);
    }
    return c;
  };

  const constraintOf = new Map(g.constraints.map((c) => [c.value, normLayout(c.layout, shapes[c.value]!.length)]));

  // ---- units: one per node, one per free parameter; inputs and constants are fixed
  const producerUnit = new Map<number, number>(); // value id → unit index (free params and op outputs)
  const fixedLayout = new Map<number, Layout>();
  const units: Unit[] = [];
  const unitOfNode: number[] = [];
  const paramUnit = new Map<number, number>();
  for (const v of g.values) {
    if (v.kind === 'input' || v.kind === 'const') fixedLayout.set(v.id, normLayout(v.kind === 'input' ? v.type.layout : undefined, shapes[v.id]!.length));
  }
  const tie = opts.tieLayers === false ? { nodeRep: g.nodes.map((_, i) => i), valueRep: new Map<number, number>() } : tieRepeats(g);

  for (const v of g.values) {
    if (v.kind !== 'param') continue;
    const strategies = paramLayouts(mesh, shapes[v.id]!).map((l): Strategy => ({
      ins: [],
      outs: [l],
      cost: 0,
      memory: bytesOf(v.id, l) * (training ? 4 : 1),
    }));
    const rep = tie.valueRep.get(v.id);
    if (rep !== undefined && paramUnit.has(rep)) {
      const u = paramUnit.get(rep)!;
      units[u]!.weight++;
      paramUnit.set(v.id, u);
    } else {
      paramUnit.set(v.id, units.length);
      units.push({ strategies, weight: 1 });
    }
    producerUnit.set(v.id, paramUnit.get(v.id)!);
  }
  const specs: OpSpec[] = [];
  g.nodes.forEach((n, ni) => {
    const spec = opSpec(
      n,
      n.inputs.map((i) => shapes[i]!),
      n.outputs.map((o) => shapes[o]!),
    );
    specs.push(spec);
    const rep = tie.nodeRep[ni]!;
    if (rep !== ni) {
      unitOfNode[ni] = unitOfNode[rep]!;
      units[unitOfNode[ni]!]!.weight++;
    } else {
      unitOfNode[ni] = units.length;
      units.push({ strategies: nodeStrategies(ni), weight: 1 });
    }
    n.outputs.forEach((o) => producerUnit.set(o, unitOfNode[ni]!));
  });

  function nodeStrategies(ni: number): Strategy[] {
    const n = g.nodes[ni]!;
    const spec = specs[ni]!;
    const letters = spec.letters.filter((l) => l.splittable);
    const out: Strategy[] = [];
    const work =
      flopsOf(
        n,
        n.inputs.map((i) => shapes[i]!),
        n.outputs.map((o) => shapes[o]!),
      ) * (training ? 3 : 1);
    for (const assign of assignments(mesh.axes.length, letters.length)) {
      const axesOf = new Map<string, string[]>();
      assign.forEach((li, ai) => {
        if (li >= 0) (axesOf.get(letters[li]!.name) ?? axesOf.set(letters[li]!.name, []).get(letters[li]!.name)!).push(mesh.axes[ai]!.name);
      });
      let ok = true;
      for (const l of letters) {
        const axes = axesOf.get(l.name);
        if (
          axes &&
          !legalSplit(
            mesh,
            l,
            letterDims(l, n.inputs, n.outputs, false).map(([v, d]) => shapes[v]![d]!),
            axes,
          )
        ) {
          ok = false;
          break;
        }
      }
      if (!ok) continue;
      const used = [...axesOf.values()].flat();
      const ins = n.inputs.map((vid, k) => layoutFor(spec, (l) => l.ins[k]!, shapes[vid]!.length, axesOf, []));
      const contractedFor = (j: number) => letters.filter((l) => l.outs[j]! < 0 && l.ins.some((d) => d >= 0)).flatMap((l) => axesOf.get(l.name) ?? []);
      const outs = n.outputs.map((vid, j) => layoutFor(spec, (l) => l.outs[j]!, shapes[vid]!.length, axesOf, contractedFor(j)));
      let cost = work / splitCount(mesh, used) / flopRate;
      if (training) {
        // An input that is whole along an axis the work is split along gets a partial gradient there.
        n.inputs.forEach((vid, k) => {
          if (g.values[vid]!.kind === 'const') return;
          const have = new Set(ins[k]!.axes.flat());
          for (const a of used) if (!have.has(a)) cost += (((2 * (axisSize(mesh, a) - 1)) / axisSize(mesh, a)) * bytesOf(vid, ins[k]!)) / bw(a);
        });
      }
      // A model output must not stay a pending sum; a value with a layout constraint (a
      // block signature) pays for the conversion to it, as the partitioner will insert it.
      n.outputs.forEach((vid, j) => {
        const c = constraintOf.get(vid);
        if (c) cost += conversion(vid, outs[j]!, c);
        else if (g.outputs.includes(vid) && outs[j]!.partial.length) cost += conversion(vid, outs[j]!, { axes: outs[j]!.axes, partial: [] });
      });
      out.push({ ins, outs, cost, memory: 0 });
    }
    return out;
  }

  // ---- the integer program
  const lines: string[] = [];
  const obj: string[] = [];
  const rows: string[] = [];
  const binaries: string[] = [];
  const bounds: string[] = [];
  const s = (u: number, i: number) => `s${u}_${i}`;
  const SCALE = 1e6; // seconds → microseconds keeps coefficients well-scaled
  units.forEach((u, ui) => {
    rows.push(`one${ui}: ${u.strategies.map((_, i) => s(ui, i)).join(' + ')} = 1`);
    u.strategies.forEach((st, i) => {
      binaries.push(s(ui, i));
      if (st.cost > 0) obj.push(`${fmt(st.cost * SCALE * u.weight)} ${s(ui, i)}`);
    });
  });
  // Edges, deduplicated over tied layers: (producer unit or fixed value, consumer unit, input slot).
  const edges = new Map<string, { vid: number; from: number | undefined; to: number; k: number; weight: number }>();
  g.nodes.forEach((n, ni) => {
    n.inputs.forEach((vid, k) => {
      const from = producerUnit.get(vid);
      const key =
        from === undefined
          ? `f${layoutKey(fixedLayout.get(vid)!)}:${shapes[vid]!.join('x')}>${unitOfNode[ni]}:${k}`
          : `${from}:${outIndex(vid)}>${unitOfNode[ni]}:${k}`;
      const e = edges.get(key);
      if (e) e.weight++;
      else edges.set(key, { vid, from, to: unitOfNode[ni]!, k, weight: 1 });
    });
  });
  function outIndex(vid: number): number {
    const p = g.values[vid]!.producer;
    return p === undefined ? 0 : g.nodes[p]!.outputs.indexOf(vid);
  }
  let z = 0;
  let columns = 0;
  for (const e of edges.values()) {
    const consumer = units[e.to]!;
    if (e.from === undefined) {
      // A fixed producer: the cost is the consumer strategy's own.
      consumer.strategies.forEach((st, j) => {
        const c = conversion(e.vid, fixedLayout.get(e.vid)!, st.ins[e.k]!);
        if (c > 0) obj.push(`${fmt(c * SCALE * e.weight)} ${s(e.to, j)}`);
      });
      continue;
    }
    const producer = units[e.from]!;
    const oi = outIndex(e.vid);
    // Group both sides by distinct layout: the cost depends only on the two layouts.
    const A = groupBy(producer.strategies.map((ps) => ps.outs[oi]!));
    const B = groupBy(consumer.strategies.map((cs) => cs.ins[e.k]!));
    const cost = A.map((a) => B.map((b) => conversion(e.vid, a.layout, b.layout) * SCALE));
    if (cost.every((row) => row.every((c) => c <= 0))) continue;
    if (A.length === 1 || B.length === 1) {
      // One side has a single layout: the cost is linear in the other side's choice.
      A.forEach((a, ai) =>
        B.forEach((b, bi) => {
          const c = cost[ai]![bi]! * e.weight;
          if (c <= 0) return;
          for (const i of A.length === 1 ? b.members : a.members) obj.push(`${fmt(c)} ${A.length === 1 ? s(e.to, i) : s(e.from!, i)}`);
        }),
      );
      continue;
    }
    // Transportation form: e_ab ≥ 0 with marginals s_u(a) and s_v(b) — a tight relaxation of s_u·s_v.
    const ev = (ai: number, bi: number) => `x${z}_${ai}_${bi}`;
    A.forEach((a, ai) => {
      B.forEach((_b, bi) => {
        bounds.push(`${ev(ai, bi)} >= 0`);
        if (cost[ai]![bi]! > 0) obj.push(`${fmt(cost[ai]![bi]! * e.weight)} ${ev(ai, bi)}`);
      });
      rows.push(`ma${z}_${ai}: ${B.map((_b, bi) => ev(ai, bi)).join(' + ')}${a.members.map((i) => ` - ${s(e.from!, i)}`).join('')} = 0`);
    });
    B.forEach((b, bi) => rows.push(`mb${z}_${bi}: ${A.map((_a, ai) => ev(ai, bi)).join(' + ')}${b.members.map((j) => ` - ${s(e.to, j)}`).join('')} = 0`));
    columns += A.length * B.length;
    z++;
  }
  if (opts.memoryCap !== undefined) {
    const terms = units
      .flatMap((u, ui) => u.strategies.map((st, i) => (st.memory > 0 ? `${fmt((st.memory * u.weight) / 2 ** 20)} ${s(ui, i)}` : '')))
      .filter(Boolean);
    if (terms.length) rows.push(`mem: ${terms.join(' + ')} <= ${fmt(opts.memoryCap / 2 ** 20)}`);
  }
  // concat, not spread: an untied model has more rows than a call's arguments may hold.
  lines.push('Minimize', ` obj: ${obj.length ? obj.join(' + ') : '0 s0_0'}`, 'Subject To');
  for (const part of [rows, ['Bounds'], bounds, ['Binary'], binaries]) for (const r of part) lines.push(r === 'Bounds' || r === 'Binary' ? r : ` ${r}`);
  lines.push('End');

  // Each unit's memory is its own choice's, so the least any plan needs is the sum of each unit's least.
  const need = units.reduce((sum, u) => sum + Math.min(...u.strategies.map((st) => st.memory)) * u.weight, 0);
  const size = (bytes: number) => `${(bytes / 2 ** 20).toFixed(2)} MiB (${Math.ceil(bytes)} bytes)`;
  const overCap = () =>
    new AutoError(
      `no plan keeps the parameters${training ? ' and their training state' : ''} within the memory cap of ${size(opts.memoryCap!)} per device: ` +
        `the least any plan needs is ${size(need)} per device, with each parameter split as finely as the mesh allows; ` +
        `raise the cap (--memory-cap) to at least that, or use a mesh of more devices`,
    );
  if (opts.memoryCap !== undefined && need > opts.memoryCap) throw overCap();

  const tBuild = performance.now();
  if (process.env['MDC_AUTO_DEBUG'])
    console.error(`auto: built ${binaries.length + columns} columns, ${rows.length} rows in ${((tBuild - t0) / 1000).toFixed(2)} s`);
  solverPromise ??= (highsLoader as unknown as () => NonNullable<typeof solverPromise>)();
  const highs = await solverPromise;
  const limit = opts.timeLimit ?? 60;
  const sol = highs.solve(lines.join('\n'), { time_limit: limit, mip_rel_gap: 1e-6, output_flag: false } as never);
  // The memory row's coefficients are rounded: a cap within rounding of the least need can still be infeasible.
  if (sol.Status === 'Infeasible' && opts.memoryCap !== undefined) throw overCap();
  if (sol.Status === 'Time limit reached' && !Object.keys(sol.Columns ?? {}).length)
    throw new AutoError(`strategy search found no plan within its ${limit} s time limit: give it longer (--time-limit), or plan without --auto`);
  if (sol.Status !== 'Optimal' && sol.Status !== 'Time limit reached')
    throw new AutoError(
      `strategy search failed: its solver (HiGHS) ended with status '${sol.Status}' on a problem that always has a plan (every value whole), ` +
        `which is a bug in mdc; plan without --auto meanwhile (layouts as written in the types)`,
    );
  const cols = sol.Columns as Record<string, { Primal: number }>;
  const chosen = units.map((u, ui) => {
    let best = 0;
    u.strategies.forEach((_, i) => {
      if ((cols[s(ui, i)]?.Primal ?? 0) > (cols[s(ui, best)]?.Primal ?? 0)) best = i;
    });
    return best;
  });

  const layouts: Layout[] = g.values.map((v) => {
    if (fixedLayout.has(v.id)) return fixedLayout.get(v.id)!;
    const u = producerUnit.get(v.id)!;
    const l = units[u]!.strategies[chosen[u]!]!.outs[outIndex(v.id)]!;
    return { axes: l.axes, partial: [] };
  });
  return {
    layouts,
    searchSeconds: (performance.now() - t0) / 1000,
    status: sol.Status,
    cost: sol.ObjectiveValue / SCALE,
    variables: binaries.length + columns,
    constraints: rows.length,
    distinctNodes: units.length,
  };
}

function groupBy(layouts: readonly Layout[]): { layout: Layout; members: number[] }[] {
  const m = new Map<string, { layout: Layout; members: number[] }>();
  layouts.forEach((l, i) => {
    const k = layoutKey(l);
    const g = m.get(k) ?? m.set(k, { layout: l, members: [] }).get(k)!;
    g.members.push(i);
  });
  return [...m.values()];
}

const fmt = (x: number) => (Number.isInteger(x) ? String(x) : x.toPrecision(12).replace(/\.?0+$/, ''));

/** Every way to give each of `axes` mesh axes to one of `letters` letters or to none (-1). */
function* assignments(axes: number, letters: number): Generator<number[]> {
  const cur = new Array<number>(axes).fill(-1);
  for (;;) {
    yield [...cur];
    let i = 0;
    while (i < axes && ++cur[i]! >= letters) cur[i++] = -1;
    if (i === axes) return;
  }
}

function layoutFor(spec: OpSpec, dimOf: (l: Letter) => number, rank: number, axesOf: ReadonlyMap<string, string[]>, partial: readonly string[]): Layout {
  const axes: string[][] = Array.from({ length: rank }, () => []);
  for (const l of spec.letters) {
    const d = dimOf(l);
    if (d >= 0) axes[d] = [...(axesOf.get(l.name) ?? [])];
  }
  return { axes, partial: [...partial] };
}

/** The legal layouts of a parameter: each axis on one dim or none, dividing the dim. */
function paramLayouts(mesh: Mesh, shape: readonly number[]): Layout[] {
  const out: Layout[] = [];
  for (const assign of assignments(mesh.axes.length, shape.length)) {
    const axes: string[][] = shape.map(() => []);
    assign.forEach((d, ai) => {
      if (d >= 0) axes[d]!.push(mesh.axes[ai]!.name);
    });
    const l: Layout = { axes, partial: [] };
    if (localShape(mesh, shape, l).every(Number.isInteger)) out.push(l);
  }
  return out.length ? out : [replicated(shape.length)];
}

/** The backward pass's mirror of a forward conversion step, in bytes per device. */
function backwardBytes(mesh: Mesh, s: Step, before: number, after: number): number {
  const n = axisSize(mesh, s.axis);
  switch (s.kind) {
    case 'all_gather':
      return Math.round(((n - 1) * after) / n); // reduce-scatter of the gradient
    case 'reduce_scatter':
      return (n - 1) * after; // all-gather of the gradient
    case 'all_to_all':
      return Math.round(((n - 1) * before) / n);
    case 'shard_slice':
      return (n - 1) * after; // the gradient block is gathered back
    default:
      return 0; // all-reduce's gradient passes through; partial_mask's is sliced
  }
}

/**
 * Ties repeated layers: nodes under scopes that differ only in a layer index
 * (`Layer.3.Attention` ~ `Layer.0.Attention`) map to the first instance's node when the
 * instances have the same ops and shapes in the same order.
 */
const INSTANCE_ATTRS = new Set(['mask_id']);

function tieRepeats(g: Graph): { nodeRep: number[]; valueRep: Map<number, number> } {
  const nodeRep = g.nodes.map((_, i) => i);
  const valueRep = new Map<number, number>();
  const instanceOf = (scope: string): [string, string] | undefined => {
    const m = /^(.*?\.)(\d+)(\.|$)/.exec(scope);
    return m ? [`${m[1]}#${m[3]}`, m[2]!] : undefined;
  };
  const groups = new Map<string, Map<string, number[]>>();
  g.nodes.forEach((n, i) => {
    const inst = instanceOf(n.scope);
    if (!inst) return;
    const [family, index] = inst;
    const fam = groups.get(family) ?? groups.set(family, new Map()).get(family)!;
    (fam.get(index) ?? fam.set(index, []).get(index)!).push(i);
  });
  // Attributes that name an instance rather than its computation (a dropout's mask_id) do not tell layers apart.
  const sig = (ni: number) => {
    const n = g.nodes[ni]!;
    const attrs = Object.fromEntries(Object.entries(n.attrs).filter(([k]) => !INSTANCE_ATTRS.has(k)));
    return `${n.op}|${JSON.stringify(attrs)}|${n.inputs.map((v) => g.values[v]!.type.dims.map((d) => [...d.terms].join()).join(',')).join(';')}`;
  };
  for (const fam of groups.values()) {
    const insts = [...fam.values()];
    const first = insts[0]!;
    for (const inst of insts.slice(1)) {
      if (inst.length !== first.length || inst.some((ni, k) => sig(ni) !== sig(first[k]!))) continue;
      inst.forEach((ni, k) => {
        nodeRep[ni] = first[k]!;
        g.nodes[ni]!.inputs.forEach((v, j) => {
          const w = g.nodes[first[k]!]!.inputs[j]!;
          if (g.values[v]!.kind === 'param' && g.values[w]!.kind === 'param') valueRep.set(v, valueRep.get(w) ?? w);
        });
      });
    }
  }
  return { nodeRep, valueRep };
}
