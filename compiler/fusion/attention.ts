import { dimConst, dimValue } from '../dims.js';
import { extendGraph, GraphBuilder, originOf, type Graph, type Node, type Value } from '../ir.js';
import { attrsOf } from '../ops/registry.js';
import { isFloat, type TType } from '../types.js';
import { numel } from '../../layout/mesh.js';

/**
 * Attention written out in primitive ops becomes the `attention` op, whose kernel is
 * flash-style (codegen/kernels/attention.ts: key blocks, an online softmax, no score
 * matrix in memory). The pattern, over any batch dims `...` (heads included):
 *
 *     p = softmax(q @ transpose(k) [· c | / c], -1)       q [..., Sq, D], k [..., Sk, D]
 *     o = p @ v                                           v [..., Sk, D]
 *
 * with the transpose swapping the last two dims, q, k and v of one float dtype and the
 * same batch dims (no broadcasting, at most MAX_BATCH elements), D at most MAX_HEAD, the scale a scalar constant (or absent), and the
 * scores and probabilities used by nothing else (a training graph's backward reads the
 * probabilities, so it keeps the written-out form). It becomes
 *
 *     o = reshape(attention(reshape(q, [N, Sq, D]), reshape(k, ...), reshape(v, ...),
 *                           heads = 1, scale = c), [..., Sq, D])
 *
 * where N is the product of the batch dims: each batch element is one head. Reshapes
 * alias their input's buffer, so no data moves. When q, k and v are heads split from
 * rows, `transpose(reshape(x, [B, S, H, Dh]), [0, 2, 1, 3])` with x [B, S, H·Dh], the op
 * reads the rows x themselves with `heads = H`, and when the output is only merged back,
 * `reshape(transpose(o, [0, 2, 1, 3]), [B, Sq, H·Dh])`, the op's result is that value:
 * the copies of the split and merge go away with the rest. Masks written out (a bias added to the
 * scores, or a `where`) are not recognised: the op's masks are a causal flag and a
 * padding mask, and a mask given as a tensor cannot be proven to be either.
 */

/** Head sizes the flash kernels take: they keep a query row and its accumulator in registers. */
const MAX_HEAD = 256;
/** Batch elements (heads included) the flash kernels take: one workgroup row each in one dispatch dimension (WebGPU's 65535). */
const MAX_BATCH = 65535;

/** Written-out heads: the op reads the unsplit rows and, when `merged` is set, that value is its output. */
interface Heads {
  readonly q: number;
  readonly k: number;
  readonly v: number;
  readonly H: number;
  readonly merged?: number;
  /** The split and merge nodes nothing else reads. */
  readonly nodes: readonly number[];
}

interface Match {
  /** The nodes the op replaces (scores matmul, scale, softmax, output matmul; the transpose when nothing else reads it). */
  readonly nodes: readonly number[];
  readonly q: number;
  readonly k: number;
  readonly v: number;
  readonly scale: number;
  /** The output matmul, whose place and result the op takes. */
  readonly out: Node;
  readonly heads?: Heads;
}

export interface Rewritten {
  readonly graph: Graph;
  /** The id each value of `graph` has in the input graph; -1 for the values it adds that stand for none (reshapes, and the op's own result when a reshape or transpose of it does). */
  readonly origin: readonly number[];
}

/** The graph with each written-out attention replaced by the op; the graph itself when there is none. */
export function fuseAttention(g: Graph): Rewritten {
  const users = new Map<number, Node[]>();
  for (const n of g.nodes) for (const v of new Set(n.inputs)) (users.get(v) ?? users.set(v, []).get(v)!).push(n);
  const outputs = new Set(g.outputs);
  const only = (v: number, n: Node) => !outputs.has(v) && (users.get(v) ?? []).length === 1 && users.get(v)![0] === n;
  const shape = (v: number) => g.values[v]!.type.dims.map((d) => dimValue(d));
  const producer = (v: number) => (g.values[v]!.producer === undefined ? undefined : g.nodes[g.values[v]!.producer!]);
  const scalar = (v: number) => (g.values[v]!.kind === 'const' ? g.values[v]!.scalar : undefined);

  const matches: Match[] = [];
  const taken = new Set<number>();
  for (const sm of g.nodes) {
    if (sm.op !== 'softmax') continue;
    const rank = g.values[sm.inputs[0]!]!.type.dims.length;
    if (sm.attrs['axis'] !== rank - 1) continue;
    const p = sm.outputs[0]!;
    const out = users.get(p)?.[0];
    if (!out || out.op !== 'matmul' || out.inputs[0] !== p || out.inputs[1] === p || !only(p, out)) continue;
    // The scores, optionally scaled by a constant.
    let s = sm.inputs[0]!;
    let scale = 1;
    const chain: number[] = [];
    let sp = producer(s);
    if (sp && (sp.op === 'mul' || sp.op === 'div') && only(s, sm)) {
      const [a, b] = sp.inputs as [number, number];
      const c = scalar(b) ?? (sp.op === 'mul' ? scalar(a) : undefined);
      if (c === undefined || c === 0) continue;
      scale = sp.op === 'mul' ? c : 1 / c;
      chain.push(sp.id);
      const next = scalar(b) !== undefined ? a : b;
      if (!only(next, sp)) continue;
      s = next;
      sp = producer(s);
    } else if (!only(s, sm)) continue;
    if (!sp || sp.op !== 'matmul') continue;
    const [q, kt] = sp.inputs as [number, number];
    const tr = producer(kt);
    if (!tr || tr.op !== 'transpose') continue;
    const perm = attrsOf(tr, 'transpose').perm;
    const r = perm.length;
    if (r < 2 || !perm.every((x, i) => x === (i === r - 2 ? r - 1 : i === r - 1 ? r - 2 : i))) continue;
    const k = tr.inputs[0]!;
    const v = out.inputs[1]!;
    const [qs, ks, vs] = [shape(q), shape(k), shape(v)];
    if (qs.length !== r || ks.length !== r || vs.length !== r) continue;
    const batchSame = qs.slice(0, -2).every((d, i) => d === ks[i] && d === vs[i]);
    if (
      !batchSame ||
      qs.slice(0, -2).reduce((a, b) => a! * b!, 1)! > MAX_BATCH ||
      qs[r - 1]! > MAX_HEAD ||
      ks[r - 1] !== qs[r - 1] ||
      vs[r - 1] !== qs[r - 1] ||
      vs[r - 2] !== ks[r - 2]
    )
      continue;
    const dtype = g.values[q]!.type.dtype;
    if (!isFloat(dtype) || [k, v, p, out.outputs[0]!].some((x) => g.values[x]!.type.dtype !== dtype)) continue;
    const trDropped = only(kt, sp);
    const nodes = [sp.id, ...chain, sm.id, out.id, ...(trDropped ? [tr.id] : [])];
    // Heads split from [B, S, H·Dh] rows (and merged back) are the op's own layout.
    const heads = r === 4 ? headsOf(q, k, v, sp, trDropped ? tr : undefined, out) : undefined;
    if (heads) nodes.push(...heads.nodes);
    if (nodes.some((n) => taken.has(n))) continue;
    for (const n of nodes) taken.add(n);
    matches.push({ nodes, q, k, v, scale, out, ...(heads ? { heads } : {}) });
  }

  /** x = transpose(reshape(X, [B, S, H, Dh]), [0, 2, 1, 3]) with X of shape [B, S, H·Dh]: X, H, and the nodes to drop when `user` (dropped) is x's only reader. */
  function split(x: number, user: Node | undefined) {
    const t = producer(x);
    if (!t || t.op !== 'transpose' || attrsOf(t, 'transpose').perm.join() !== '0,2,1,3') return undefined;
    const rs = producer(t.inputs[0]!);
    if (!rs || rs.op !== 'reshape') return undefined;
    const X = rs.inputs[0]!;
    const [xs, ys] = [shape(X), shape(t.inputs[0]!)];
    if (xs.length !== 3 || xs[0] !== ys[0] || xs[1] !== ys[1] || xs[2] !== ys[2]! * ys[3]!) return undefined;
    const drop = user && only(x, user) ? [t.id, ...(only(t.inputs[0]!, t) ? [rs.id] : [])] : [];
    return { X, H: ys[2]!, drop };
  }

  function headsOf(q: number, k: number, v: number, qUser: Node, kUser: Node | undefined, out: Node): Heads | undefined {
    const parts = [split(q, qUser), split(k, kUser), split(v, out)];
    if (parts.some((x) => !x) || new Set(parts.map((x) => x!.H)).size !== 1) return undefined;
    const [sq, sk, sv] = parts as [NonNullable<(typeof parts)[0]>, NonNullable<(typeof parts)[0]>, NonNullable<(typeof parts)[0]>];
    const nodes = [...new Set([...sq.drop, ...sk.drop, ...sv.drop])];
    // o = p @ v read only as reshape(transpose(o, [0, 2, 1, 3]), [B, Sq, H·Dh]): the op's output is that value.
    const o = out.outputs[0]!;
    const t = users.get(o)?.length === 1 ? users.get(o)![0] : undefined;
    const rs =
      t && t.op === 'transpose' && attrsOf(t, 'transpose').perm.join() === '0,2,1,3' && only(o, t) && users.get(t.outputs[0]!)?.length === 1
        ? users.get(t.outputs[0]!)![0]
        : undefined;
    const merged = rs && rs.op === 'reshape' && only(t!.outputs[0]!, rs) && shape(rs.outputs[0]!).length === 3 ? rs.outputs[0]! : undefined;
    if (merged !== undefined) nodes.push(t!.id, rs!.id);
    return { q: sq.X, k: sk.X, v: sv.X, H: sq.H, ...(merged !== undefined ? { merged } : {}), nodes };
  }
  if (!matches.length) return { graph: g, origin: g.values.map((v) => v.id) };

  // The matched nodes go; at each match's output matmul the op takes their place.
  const byOut = new Map(matches.map((m) => [m.out.id, m]));
  const { builder, map } = extendGraph(g, undefined, (n, b, map) => {
    const m = byOut.get(n.id);
    if (m) emit(m, b, map);
    return !!m || taken.has(n.id);
  });
  // Each value of the result came from the value mapped to it, the added reshapes from none.
  return {
    graph: builder.finish(
      g.name,
      g.outputs.map((o) => map.get(o)!),
      g.outputNames,
    ),
    origin: originOf(builder, map),
  };

  function emit(m: Match, builder: GraphBuilder, map: Map<number, Value>): void {
    const { span, scope } = m.out;
    const reshape = (v: Value, dims: readonly number[]): Value => {
      const type: TType = { dtype: v.type.dtype, dims: dims.map(dimConst) };
      if (v.type.dims.length === dims.length && v.type.dims.every((d, i) => dimValue(d) === dims[i])) return v;
      return builder.addNode('reshape', [v], [type], { shape: type.dims }, span, scope)[0]!;
    };
    const qs = shape(m.q) as number[];
    const r = qs.length;
    const o = m.out.outputs[0]!;
    if (m.heads) {
      const h = m.heads;
      const attrs = { heads: h.H, kv_heads: h.H, causal: false, scale: m.scale, has_mask: false };
      const [a] = builder.addNode('attention', [map.get(h.q)!, map.get(h.k)!, map.get(h.v)!], [map.get(h.q)!.type], attrs, span, scope);
      if (h.merged !== undefined) {
        map.set(h.merged, a!);
        return;
      }
      // Heads split again for the readers of o = [B, H, Sq, Dh].
      const [B, H, Sq, D] = qs as [number, number, number, number];
      const [t] = builder.addNode(
        'transpose',
        [reshape(a!, [B, Sq, H, D])],
        [{ dtype: a!.type.dtype, dims: [B, H, Sq, D].map(dimConst) }],
        { perm: [0, 2, 1, 3] },
        span,
        scope,
      );
      map.set(o, t!);
      return;
    }
    const heads = numel(qs.slice(0, -2));
    const flat = (x: number) => reshape(map.get(x)!, [heads, (shape(x) as number[])[r - 2]!, qs[r - 1]!]);
    const [q, k, v] = [flat(m.q), flat(m.k), flat(m.v)];
    const attrs = { heads: 1, kv_heads: 1, causal: false, scale: m.scale, has_mask: false };
    const [a] = builder.addNode('attention', [q, k, v], [q.type], attrs, span, scope);
    // The op's result (or its reshape) is the output matmul's value.
    map.set(o, reshape(a!, qs));
  }
}
