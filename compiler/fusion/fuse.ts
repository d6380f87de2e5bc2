import { dimValue } from '../dims.js';
import { fuseAttention } from './attention.js';
import { foldTransposes } from './fold-transpose.js';
import { GraphBuilder, type FusedBody, type FusedRef, type FusedStep, type Graph, type InputView, type Node, type Value } from '../ir.js';
import { elementwiseOf, facetsOf, OPS } from '../ops/registry.js';
import { isFloat } from '../types.js';
import { numel } from '../../layout/mesh.js';

/**
 * Operator fusion: groups of nodes become one `fused` node whose body (an expression DAG
 * over its inputs, `FusedBody` in ir.ts) one kernel computes, so the tensors between
 * them are never written to memory and read back.
 *
 * Legality follows the op classes (TVM's): element-wise injective ops fuse with each
 * other along producer → consumer edges, broadcasting included (an operand is read at
 * its broadcast index, so a smaller intermediate is recomputed per element of the
 * domain); an out-fusable op (matmul, batched or not) takes an element-wise epilogue
 * (bias, activation, residual add) but never a prologue. A reduction over the last axis
 * (sum, mean, max, min) fuses with the element-wise ops that make its input and with
 * those that use its result along the row, so a hand-written softmax or layer norm is
 * one kernel with a workgroup per row (a `rows` body, see FusedBody). Norms, softmax and
 * attention written as their own ops are already one kernel each and stay as they are.
 * A transpose or slice (injective too, but index-remapping) joins an element-wise group
 * that reads it, and only such a group, when nothing outside reads it: its input becomes
 * an input of the body read through a view (InputView in ir.ts: permuted strides, a
 * start offset), so the copy is never made. Concat and everything opaque stay apart.
 *
 * Before grouping, attention written out in primitive ops becomes the attention op
 * (attention.ts), and transposes of the last two dims that matmuls read as b fold into
 * them (fold-transpose.ts).
 *
 * Groups are grown greedily, edge by edge, largest saving first: an edge saves the
 * bytes of one read of the intermediate, and of its write too when nothing outside the
 * group needs it. Then groups with reductions that read one value (mean(x) and max(x))
 * merge the same way, saving a read of it. A merge is refused when it would
 * - put two matmuls in one group, or a matmul's operand inside its own group, or a
 *   matmul and a reduction in one group;
 * - in a group with reductions: reduce inputs of different shapes (the domain), or have
 *   a member whose result is neither the domain's shape nor one value per row of it, or
 *   read a reduction's result without keepdim inside the group;
 * - with a view: put it with a matmul or a reduction, read its input from inside the
 *   group, or leave it read outside the group or returned (it would have to be written);
 * - leave a domain some member does not broadcast into, or a value needed outside the
 *   group (which is then written, a group output) of another shape than the domain;
 * - bind more than MAX_STORAGE_BUFFERS storage buffers (inputs + outputs; scalar
 *   constants are inlined and need none);
 * - make the graph of groups cyclic (a path that leaves the group and comes back).
 * Fused kernels use no workgroup memory beyond the matmul tiles and a rows kernel's
 * 64-entry reduction array, and at most 256 invocations per workgroup, so the buffer
 * count is the only limit the choice must watch.
 */

/**
 * Element-wise ops a fused body may contain: injective ops with an element-wise body
 * (compiler/ops), each output element depending only on the inputs' elements at its
 * broadcast index. A node is fused only where its body applies (not training dropout,
 * which draws its mask by the element's index in its own output).
 */
export const FUSIBLE_ELEMENTWISE: ReadonlySet<string> = new Set(
  [...OPS.values()].flatMap((d) => ('elementwise' in d && d.elementwise && d.cls === 'injective' ? [d.name] : [])),
);

/** WebGPU's default maxStorageBuffersPerShaderStage: every kernel of a plan fits it. */
export const MAX_STORAGE_BUFFERS = 8;

export interface FuseOptions {
  /** Storage buffers a fused kernel may bind (default MAX_STORAGE_BUFFERS). */
  readonly maxBuffers?: number;
}

export interface FusedGraph {
  readonly graph: Graph;
  /** The id each value of `graph` has in the unfused graph (-1 for the reshapes around a written-out attention). */
  readonly origin: readonly number[];
}

type Role = 'elementwise' | 'matmul' | 'reduce' | 'view';

/** Index-remapping ops an element-wise body reads its input through (an InputView, their `view` facet) instead of a copy. */
const VIEW_OPS: ReadonlySet<string> = new Set([...OPS.values()].flatMap((d) => ('view' in d && d.view ? [d.name] : [])));

/** Reductions that fuse when they reduce the last axis (their `fold` facet). */
const ROW_REDUCTIONS: ReadonlySet<string> = new Set([...OPS.values()].flatMap((d) => ('fold' in d && d.fold ? [d.name] : [])));

/** The fused graph (Graph → Graph); the unfused graph itself when nothing fuses or a shape is symbolic. */
export function fuse(g: Graph, opts: FuseOptions = {}): Graph {
  return fuseWithOrigin(g, opts).graph;
}

/** `fuse`, also saying where each value of the result came from (for maps keyed by the unfused graph's value ids). */
export function fuseWithOrigin(input: Graph, opts: FuseOptions = {}): FusedGraph {
  if (input.values.some((v) => v.type.dims.some((d) => dimValue(d) === undefined))) return { graph: input, origin: input.values.map((v) => v.id) };
  // Written-out attention first: its scale would otherwise fuse into the scores' matmul.
  const pre = fuseAttention(input);
  // Then the transposes matmuls read as b, before a transpose can become a view instead.
  const folded = foldTransposes(pre.graph);
  const grouped = groupNodes(folded.graph, opts);
  // Origins through the three steps; a value a step added stands for none (-1).
  const back = (origin: readonly number[]) => (id: number) => (id < 0 ? -1 : origin[id]!);
  return { graph: grouped.graph, origin: grouped.origin.map(back(folded.origin)).map(back(pre.origin)) };
}

function groupNodes(g: Graph, opts: FuseOptions): FusedGraph {
  const identity = { graph: g, origin: g.values.map((v) => v.id) };
  // fuseWithOrigin has checked that every dim is known.
  const shapes = g.values.map((v) => v.type.dims.map((d) => dimValue(d)!));
  const consumers = new Map<number, number[]>();
  for (const n of g.nodes) for (const v of new Set(n.inputs)) (consumers.get(v) ?? consumers.set(v, []).get(v)!).push(n.id);
  const users = (v: number) => consumers.get(v) ?? [];
  const groups = chooseGroups(g, shapes, users, opts.maxBuffers ?? MAX_STORAGE_BUFFERS);
  if (groups.every((m) => m.length === 1)) return identity;
  return rebuild(g, groups, users);
}

// ------------------------------------------------------------------ choosing the groups

function roleOf(n: Node, g: Graph): Role | undefined {
  const float = (id: number) => isFloat(g.values[id]!.type.dtype);
  if (n.op === 'matmul') return [...n.inputs, ...n.outputs].every(float) ? 'matmul' : undefined;
  // (A constant's transpose, of rank 0, has nothing to view.)
  if (VIEW_OPS.has(n.op)) return g.values[n.inputs[0]!]!.kind === 'const' ? undefined : 'view';
  if (ROW_REDUCTIONS.has(n.op)) {
    const dims = g.values[n.inputs[0]!]!.type.dims;
    // A row of one element reduces to itself: nothing to share.
    const last = dims.length ? dimValue(dims[dims.length - 1]!) : undefined;
    return n.attrs['axis'] === dims.length - 1 && (last ?? 0) > 1 && float(n.inputs[0]!) && float(n.outputs[0]!) ? 'reduce' : undefined;
  }
  return FUSIBLE_ELEMENTWISE.has(n.op) && elementwiseOf(n.op, n.attrs) && n.outputs.length === 1 ? 'elementwise' : undefined;
}

/**
 * The values a group writes: graph outputs and values a node outside it reads, in node
 * order. A group nothing reads (dead code) still writes its last value, so that its
 * kernel does something observable.
 */
function writtenBy(g: Graph, list: readonly number[], users: (v: number) => readonly number[]): number[] {
  const set = new Set(list);
  const outputs = new Set(g.outputs);
  const all = list.map((m) => g.nodes[m]!.outputs[0]!);
  const needed = all.filter((v) => outputs.has(v) || users(v).some((c) => !set.has(c)));
  return needed.length ? needed : [all[all.length - 1]!];
}

const sameShape = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((x, i) => x === b[i]);
/** Whether `s` broadcasts into `d` by NumPy rules without changing d. */
const broadcastsInto = (s: readonly number[], d: readonly number[]) => s.length <= d.length && s.every((x, i) => x === 1 || x === d[d.length - s.length + i]);

/** The node groups, each sorted by node id, in the order of their first node. */
function chooseGroups(g: Graph, shapes: readonly number[][], users: (v: number) => readonly number[], maxBuffers: number): number[][] {
  const roles = g.nodes.map((n) => roleOf(n, g));
  const outputs = new Set(g.outputs);
  const isConst = (v: number) => g.values[v]!.kind === 'const';

  const group = g.nodes.map((n) => n.id);
  const members = new Map<number, number[]>(g.nodes.map((n) => [n.id, [n.id]]));

  /** Buffers a group binds: the leaves it reads (not constants, which are inlined; one per view read through) and the `written` values. */
  const bindings = (list: readonly number[], set: ReadonlySet<number>, written: number, skip?: number): number => {
    const leaves = new Set<string>();
    for (const m of list) {
      if (m === skip) continue;
      for (const v of g.nodes[m]!.inputs) {
        const p = g.values[v]!.producer;
        if (!(p !== undefined && set.has(p)) && !isConst(v)) leaves.add(roles[m] === 'view' ? `${v}@${m}` : `${v}`);
      }
    }
    return leaves.size + written;
  };

  /** A group with reductions: every member is of the domain's shape or one value per row of it. */
  const legalRows = (list: readonly number[], set: ReadonlySet<number>): boolean => {
    if (list.some((m) => roles[m] === 'matmul')) return false;
    const reduces = list.filter((m) => roles[m] === 'reduce');
    const domain = shapes[g.nodes[reduces[0]!]!.inputs[0]!]!;
    if (!reduces.every((m) => sameShape(shapes[g.nodes[m]!.inputs[0]!]!, domain))) return false;
    const perRow = [...domain.slice(0, -1), 1];
    for (const m of list) {
      const n = g.nodes[m]!;
      const out = shapes[n.outputs[0]!]!;
      if (roles[m] === 'reduce') {
        if (!n.attrs['keepdim'] && users(n.outputs[0]!).some((c) => set.has(c))) return false;
      } else if (!sameShape(out, domain) && !sameShape(out, perRow)) return false;
    }
    return bindings(list, set, writtenBy(g, list, users).length) <= maxBuffers;
  };

  const legal = (list: readonly number[]): boolean => {
    const set = new Set(list);
    const views = list.filter((m) => roles[m] === 'view');
    if (views.length) {
      // A view is read at load time, so only by an element-wise group, of a value from
      // outside it, and never written: everything that reads it is in the group.
      if (list.some((m) => roles[m] === 'matmul' || roles[m] === 'reduce')) return false;
      for (const m of views) {
        const n = g.nodes[m]!;
        const p = g.values[n.inputs[0]!]!.producer;
        if ((p !== undefined && set.has(p)) || outputs.has(n.outputs[0]!) || users(n.outputs[0]!).some((c) => !set.has(c))) return false;
      }
    }
    if (list.some((m) => roles[m] === 'reduce')) return legalRows(list, set);
    const matmuls = list.filter((m) => roles[m] === 'matmul');
    if (matmuls.length > 1) return false;
    const mm = matmuls.length ? g.nodes[matmuls[0]!]! : undefined;
    const outOf = (m: number) => g.nodes[m]!.outputs[0]!;
    let domain: readonly number[];
    if (mm) {
      if (mm.inputs.some((v) => g.values[v]!.producer !== undefined && set.has(g.values[v]!.producer!))) return false;
      if (list.some((m) => !isFloat(g.values[outOf(m)]!.type.dtype))) return false;
      domain = shapes[outOf(mm.id)]!;
    } else {
      // The largest value's shape; of equal sizes the higher rank, which the others broadcast into ([8, 16] into [1, 8, 16]).
      domain = list.map((m) => shapes[outOf(m)]!).reduce((a, b) => (numel(b) > numel(a) || (numel(b) === numel(a) && b.length > a.length) ? b : a));
    }
    if (!list.every((m) => broadcastsInto(shapes[outOf(m)]!, domain))) return false;
    const outs = writtenBy(g, list, users);
    if (!outs.every((v) => sameShape(shapes[v]!, domain))) return false;
    return (mm ? 2 : 0) + bindings(list, set, outs.length, mm?.id) <= maxBuffers;
  };

  /**
   * A topological order of the groups (`order`, the groups' first nodes; -1 where a merged
   * group left a slot) and each group's place in it (`place`). Node ids are topological, so
   * single nodes start in id order; `merge` keeps the order valid as groups join.
   */
  const order = g.nodes.map((n) => n.id);
  const place = new Int32Array(g.nodes.length).map((_, i) => i);
  const successors = (x: number, f: (y: number) => void) => {
    for (const m of members.get(x)!) for (const v of g.nodes[m]!.outputs) for (const c of users(v)) if (group[c] !== x) f(group[c]!);
  };
  /**
   * Whether merging groups `a` and `b` (a before b) would make the graph of groups cyclic: a
   * path from a to b through another group. Only groups placed before b can lie on one, so
   * the search stays between the two instead of walking the rest of the graph (which made
   * choosing the groups quadratic in the number of layers). Returns the groups it reached
   * from a (which must follow the merged group), or undefined for a cycle.
   */
  const between = (a: number, b: number): Set<number> | undefined => {
    const reached = new Set<number>();
    const work: number[] = [];
    let cycle = false;
    const visit = (y: number) => {
      if (y === b) cycle = true;
      else if (place[y]! < place[b]! && !reached.has(y)) {
        reached.add(y);
        work.push(y);
      }
    };
    successors(a, (y) => {
      if (y !== b) visit(y);
    });
    while (work.length && !cycle) successors(work.pop()!, visit);
    return cycle ? undefined : reached;
  };
  /** Groups a and b (a before b) become `keep` in the order: the groups a reaches before b move after it (Pearce and Kelly's reordering). */
  const reorder = (a: number, b: number, keep: number, after: ReadonlySet<number>) => {
    const from = place[a]!;
    const region = order.slice(from, place[b]! + 1);
    const next = [...region.filter((x) => x >= 0 && x !== a && x !== b && !after.has(x)), keep, ...region.filter((x) => after.has(x))];
    region.forEach((_, i) => {
      const x = i < next.length ? next[i]! : -1;
      order[from + i] = x;
      if (x >= 0) place[x] = from + i;
    });
  };

  interface Edge {
    readonly from: number;
    readonly to: number;
    readonly saved: number;
  }
  const edges: Edge[] = [];
  for (const c of g.nodes) {
    if (roles[c.id] !== 'elementwise' && roles[c.id] !== 'reduce') continue;
    for (const v of new Set(c.inputs)) {
      const p = g.values[v]!.producer;
      if (p === undefined || !roles[p]) continue;
      const bytes = 4 * numel(shapes[v]!);
      edges.push({ from: p, to: c.id, saved: users(v).length === 1 && !outputs.has(v) ? 2 * bytes : bytes });
    }
  }
  const merge = (from: number, to: number) => {
    const x = group[from]!;
    const y = group[to]!;
    if (x === y) return;
    const list = [...members.get(x)!, ...members.get(y)!].sort((a, b) => a - b);
    if (!legal(list)) return;
    const [first, second] = place[x]! < place[y]! ? [x, y] : [y, x];
    const after = between(first, second);
    if (!after) return;
    const [keep, drop] = x < y ? [x, y] : [y, x];
    reorder(first, second, keep, after);
    for (const m of members.get(drop)!) group[m] = keep;
    members.set(keep, list);
    members.delete(drop);
  };
  const bySaved = (a: Edge, b: Edge) => b.saved - a.saved || a.from - b.from || a.to - b.to;
  for (const e of edges.sort(bySaved)) merge(e.from, e.to);

  // Then sibling reductions: two groups that reduce rows and read one value with nothing
  // between them (mean(x) and max(x) of an input or a matmul's result) become one kernel
  // that reads the value once for both. Element-wise groups do not merge this way: apart,
  // each one is a single pass already.
  // Only a read of the whole domain is shared: a bias both add is not a reason to merge.
  const reducing = (m: number, shape: readonly number[]) =>
    members.get(group[m]!)!.some((x) => roles[x] === 'reduce' && sameShape(shapes[g.nodes[x]!.inputs[0]!]!, shape));
  const siblings: Edge[] = [];
  for (const v of g.values) {
    const readers = users(v.id).filter((c) => (roles[c] === 'elementwise' || roles[c] === 'reduce') && reducing(c, shapes[v.id]!));
    for (let i = 0; i < readers.length; i++) {
      for (let j = i + 1; j < readers.length; j++) siblings.push({ from: readers[i]!, to: readers[j]!, saved: 4 * numel(shapes[v.id]!) });
    }
  }
  for (const e of siblings.sort(bySaved)) merge(e.from, e.to);
  return [...members.values()].sort((a, b) => a[0]! - b[0]!);
}

// ------------------------------------------------------------------ the fused graph

/** The graph with each group of several nodes replaced by one `fused` node, in a topological order of the groups. */
function rebuild(g: Graph, groups: readonly number[][], users: (v: number) => readonly number[]): FusedGraph {
  const unitOf = new Int32Array(g.nodes.length);
  groups.forEach((list, u) => list.forEach((m) => (unitOf[m] = u)));
  const order = topologicalUnits(g, groups, unitOf);

  const builder = new GraphBuilder();
  const origin: number[] = [];
  const map = new Map<number, Value>();
  const add = (old: Value) => {
    const { id: _id, ...rest } = old;
    map.set(old.id, builder.addValue(rest));
    origin.push(old.id);
  };
  for (const v of g.values) if (v.kind !== 'op') add(v);
  const typeOf = (v: number) => g.values[v]!.type;
  for (const u of order) {
    const list = groups[u]!;
    if (list.length === 1) {
      const n = g.nodes[list[0]!]!;
      const outs = builder.addNode(
        n.op,
        n.inputs.map((i) => map.get(i)!),
        n.outputs.map(typeOf),
        n.attrs,
        n.span,
        n.scope,
        n.body,
      );
      n.outputs.forEach((o, i) => {
        map.set(o, outs[i]!);
        origin.push(o);
      });
      continue;
    }
    const outs = writtenBy(g, list, users);
    const { inputs, body } = bodyOf(g, list, outs);
    const last = g.nodes[list[list.length - 1]!]!;
    const made = builder.addNode(
      'fused',
      inputs.map((i) => map.get(i)!),
      outs.map(typeOf),
      {},
      last.span,
      last.scope,
      body,
    );
    outs.forEach((o, i) => {
      map.set(o, made[i]!);
      origin.push(o);
    });
  }
  for (const c of g.constraints) {
    const v = map.get(c.value);
    if (v) builder.constraints.set(v.id, { ...c, value: v.id });
  }
  return {
    graph: builder.finish(
      g.name,
      g.outputs.map((o) => map.get(o)!),
      g.outputNames,
    ),
    origin,
  };
}

/** An element-wise node as a fused node of one step (scalar constants inlined), so that it can share the fused kernel. */
export function asOneStep(g: Graph, n: Node): Node {
  const { inputs, body } = bodyOf(g, [n.id], n.outputs);
  return { ...n, inputs, body };
}

/**
 * The body of a group writing `outs`: steps in node order (a matmul first), and its
 * inputs (a matmul's two operands first). A group with a reduction is a `rows` body over
 * the reduction's input shape, its per-row steps marked.
 */
function bodyOf(g: Graph, list: readonly number[], outs: readonly number[]): { inputs: number[]; body: FusedBody } {
  const mm = list.find((m) => g.nodes[m]!.op === 'matmul');
  const shapeOf = (v: number) => g.values[v]!.type.dims.map((d) => dimValue(d)!);
  const reduce = list.find((m) => ROW_REDUCTIONS.has(g.nodes[m]!.op));
  const domain = reduce === undefined ? undefined : shapeOf(g.nodes[reduce]!.inputs[0]!);
  const ordered = mm === undefined ? list : [mm, ...list.filter((m) => m !== mm)];
  const inputs: number[] = mm === undefined ? [] : [...g.nodes[mm]!.inputs];
  const views: (InputView | undefined)[] = inputs.map(() => undefined);
  // Leaves by value, or by value and the view node reading it.
  const leafIndex = new Map<string, number>();
  const leaf = (v: number, view?: Node): FusedRef => {
    const key = view ? `${v}@${view.id}` : `${v}`;
    if (!leafIndex.has(key)) {
      leafIndex.set(key, inputs.length);
      inputs.push(v);
      views.push(view && viewOf(g, view));
    }
    return { k: 'input', i: leafIndex.get(key)! };
  };
  const stepOf = new Map<number, number>();
  const viewNodeOf = new Map<number, Node>();
  const steps: FusedStep[] = [];
  for (const m of ordered) {
    const n = g.nodes[m]!;
    if (VIEW_OPS.has(n.op)) {
      viewNodeOf.set(n.outputs[0]!, n);
      continue;
    }
    const args =
      n.op === 'matmul'
        ? [{ k: 'input', i: 0 } as const, { k: 'input', i: 1 } as const]
        : n.inputs.map((v): FusedRef => {
            const step = stepOf.get(v);
            if (step !== undefined) return { k: 'step', i: step };
            const view = viewNodeOf.get(v);
            if (view) return leaf(view.inputs[0]!, view);
            const val = g.values[v]!;
            if (val.kind === 'const') return { k: 'scalar', value: val.scalar!, dtype: val.type.dtype };
            return leaf(v);
          });
    stepOf.set(n.outputs[0]!, steps.length);
    const step: FusedStep = { op: n.op, args, attrs: n.attrs, dtype: g.values[n.outputs[0]!]!.type.dtype };
    steps.push(domain && !sameShape(shapeOf(n.outputs[0]!), domain) ? { ...step, row: true } : step);
  }
  const outputs = outs.map((v) => stepOf.get(v)!);
  if (domain) return { inputs, body: { kind: 'rows', steps, outputs, domain } };
  const kind = mm === undefined ? 'elementwise' : 'matmul';
  return { inputs, body: { kind, steps, outputs, ...(views.some((x) => x) ? { views } : {}) } };
}

/** How a transpose or slice node reads its input: the view an element-wise body reads through instead (compiler/ir.ts InputView). */
function viewOf(g: Graph, n: Node): InputView {
  const dims = (v: number) => g.values[v]!.type.dims.map((d) => dimValue(d)!);
  return facetsOf(n.op)!.view!(n.attrs, dims(n.inputs[0]!), dims(n.outputs[0]!));
}

/**
 * The groups in a topological order of the graph of groups: ready groups are taken in
 * the order of their last node, so an unfused graph keeps its node order exactly.
 */
function topologicalUnits(g: Graph, groups: readonly number[][], unitOf: Int32Array): number[] {
  const deps = groups.map(() => new Set<number>());
  const next = groups.map(() => [] as number[]);
  groups.forEach((list, u) => {
    for (const m of list) {
      for (const v of g.nodes[m]!.inputs) {
        const p = g.values[v]!.producer;
        if (p === undefined || unitOf[p] === u || deps[u]!.has(unitOf[p]!)) continue;
        deps[u]!.add(unitOf[p]!);
        next[unitOf[p]!]!.push(u);
      }
    }
  });
  const key = groups.map((list) => list[list.length - 1]!);
  const waiting = deps.map((d) => d.size);
  const ready = new MinHeap((a, b) => key[a]! - key[b]!);
  groups.forEach((_, u) => {
    if (!waiting[u]) ready.push(u);
  });
  const order: number[] = [];
  while (ready.size) {
    const u = ready.pop();
    order.push(u);
    for (const w of next[u]!) if (--waiting[w]! === 0) ready.push(w);
  }
  if (order.length !== groups.length) throw new Error('fusion: the groups form a cycle');
  return order;
}

class MinHeap {
  private readonly items: number[] = [];
  constructor(private readonly less: (a: number, b: number) => number) {}
  get size(): number {
    return this.items.length;
  }
  push(x: number): void {
    const a = this.items;
    a.push(x);
    for (let i = a.length - 1; i > 0;) {
      const p = (i - 1) >> 1;
      if (this.less(a[i]!, a[p]!) >= 0) break;
      [a[i], a[p]] = [a[p]!, a[i]!];
      i = p;
    }
  }
  pop(): number {
    const a = this.items;
    const top = a[0]!;
    const last = a.pop()!;
    if (a.length) {
      a[0] = last;
      for (let i = 0; ;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && this.less(a[l]!, a[m]!) < 0) m = l;
        if (r < a.length && this.less(a[r]!, a[m]!) < 0) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m]!, a[i]!];
        i = m;
      }
    }
    return top;
  }
}
