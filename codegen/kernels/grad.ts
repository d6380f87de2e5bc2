import { dimValue, type Dim } from '../../compiler/dims.js';
import type { Graph, Node, Value } from '../../compiler/ir.js';
import { Block, bufferRef, flatGrid } from '../kir/build.js';
import {
  abs,
  arrayOf,
  builtin,
  call,
  cast,
  construct,
  exp,
  f,
  foldGroups,
  i as int,
  inverseSqrt,
  lit,
  log,
  max,
  min,
  neg,
  not,
  ref,
  select,
  u,
  vec,
  type Expr,
  type Type,
} from '../kir/ir.js';
import { toSpec } from '../kir/wgsl.js';
import { attentionDims } from './attention.js';
import { broadcastInput, constant, coordLets } from './fused/body.js';
import { aroundAxis, bufferOf, flatKernel, read, shapeOf, storageScalar, write, type KernelSpec, type KernelTarget } from './kernel.js';
import { tapOrSkip } from './nn.js';
import { logSumExp } from './reduce.js';
import { numel } from '../../layout/mesh.js';

/**
 * Kernels of the backward-only ops (compiler/reference has their float64 references).
 * WGSL has no float atomics, so every scatter-add of the CPU reference is written here as
 * a gather: one invocation per output element (or row) loops over the inputs that
 * contribute to it, in the reference's order.
 */

const valuesOf = (ids: readonly number[], g: Graph): Value[] => ids.map((id) => g.values[id]!);
const FLT_MAX = 3.4028234663852886e38;

/**
 * f'(x) for unary_grad, built on `x` (a scalar or a vec4; `k(c)` is the constant c of its
 * type, for comparisons and selects), in forms without cancellation: sigmoid' = e/(1+e)²
 * and tanh' = sech² = 4e/(1+e)² with e = exp(−|x|) (resp. exp(−2|x|)), never 1 − t² or
 * s·(1 − s), which lose every digit where the function saturates. Exact GELU uses the
 * normal CDF through a Chebyshev erfc (Numerical Recipes, relative error < 1.2e-7),
 * accurate in the far negative tail where Φ is tiny and 1 − erf would cancel.
 */
const DERIV: Record<string, (b: Block, x: Expr, k: (c: number) => Expr) => Expr> = {
  relu: (_, x, k) => select(k(0), k(1), x.gt(k(0))),
  abs: (_, x) => call('sign', x.type, x),
  gelu: (b, x, k) => {
    const z = b.let('z', abs(x).mul(0.70710678));
    const t = b.let('t', f(1).div(f(1).add(z.mul(0.5))));
    const coeffs = [-1.26551223, 1.00002368, 0.37409196, 0.09678418, -0.18628806, 0.27886807, -1.13520398, 1.48851587, -0.82215223, 0.17087277];
    const poly = b.let(
      'poly',
      coeffs.slice(0, -1).reduceRight((acc, c) => f(c).add(t.mul(acc)), f(coeffs[coeffs.length - 1]!)),
    );
    const tail = b.let('tail', t.mul(0.5).mul(exp(neg(z).mul(z).add(poly))));
    const cdf = b.let('cdf', select(f(1).sub(tail), tail, x.lt(k(0))));
    return cdf.add(x.mul(exp(x.mul(-0.5).mul(x))).mul(0.39894228));
  },
  // 0.5·(1 + tanh u) = 1/(1+e) for u ≥ 0 and e/(1+e) for u < 0, with e = exp(−2|u|).
  gelu_tanh: (b, x, k) => {
    const v = b.let('u', x.add(x.mul(0.044715).mul(x).mul(x)).mul(0.7978845608));
    const e = b.let('e', exp(abs(v).mul(-2)));
    const half = b.let('half', select(f(1).div(f(1).add(e)), e.div(f(1).add(e)), v.lt(k(0))));
    return half.add(
      x
        .mul(0.5)
        .mul(e.mul(4).div(f(1).add(e).mul(f(1).add(e))))
        .mul(0.7978845608)
        .mul(f(1).add(x.mul(0.134145).mul(x))),
    );
  },
  silu: (b, x) => {
    const s = b.let('s', f(1).div(f(1).add(exp(neg(x)))));
    return s.mul(f(1).add(x.div(f(1).add(exp(x)))));
  },
  sigmoid: (b, x) => {
    const e = b.let('e', exp(neg(abs(x))));
    return e.div(f(1).add(e).mul(f(1).add(e)));
  },
  tanh: (b, x) => {
    const e = b.let('e', exp(abs(x).mul(-2)));
    return e.mul(4).div(f(1).add(e).mul(f(1).add(e)));
  },
  exp: (_, x) => exp(x),
  log: (_, x) => f(1).div(x),
  sqrt: (_, x) => inverseSqrt(x).mul(0.5),
  rsqrt: (_, x) => inverseSqrt(x).mul(-0.5).div(x),
};

/** unary_grad {fn}: g · f'(x), elementwise (g and x have one shape), four elements at a time when their count allows. */
export function unaryGradKernel(node: Node, g: Graph, target: KernelTarget = {}): KernelSpec {
  const [gv, x] = valuesOf(node.inputs, g);
  const out = g.values[node.outputs[0]!]!;
  const fn = node.attrs['fn'] as string;
  const deriv = DERIV[fn];
  if (!deriv) throw new Error(`unary_grad: no derivative for '${fn}'`);
  const n = numel(shapeOf(out));
  const w = n % 4 === 0 ? 4 : 1;
  const buffers = [bufferOf(read('g', gv!), w), bufferOf(read('x', x!), w), bufferOf(write('out', out), w)];
  const [G, X, OUT] = buffers.map(bufferRef) as [Expr, Expr, Expr];
  const b = new Block();
  const { index: i, dispatch } = flatGrid(b, 'i', n / w, 256);
  const xv = b.let('xv', X.at(i));
  const t: Type = xv.type;
  b.set(
    OUT.at(i),
    G.at(i).mul(
      b.let(
        'deriv',
        deriv(b, xv, (c) => constant(c, t)),
      ),
    ),
  );
  return toSpec(
    {
      name: `unary_grad_${fn}`,
      doc: [`g · ${fn}'(x) over ${n} elements, ${w === 4 ? 'four' : 'one'} per invocation`],
      enables: [],
      consts: [],
      buffers,
      shared: [],
      workgroupSize: [256, 1, 1],
      dispatch,
      body: b.stmts,
    },
    target,
  );
}

/** minmax_grad {op, side}: g where `a` won (ties to `a`) for side 0, where `b` won for side 1; a and b broadcast to g. */
export function minmaxGradKernel(node: Node, g: Graph, target: KernelTarget = {}): KernelSpec {
  const [gv, a, b] = valuesOf(node.inputs, g);
  const out = g.values[node.outputs[0]!]!;
  const os = shapeOf(out);
  const sides = [broadcastInput('a', a!, os, 1), broadcastInput('b', b!, os, 1)];
  const binds = [read('g', gv!), read('a', a!), read('b', b!), write('out', out)];
  return toSpec(
    flatKernel(
      'minmax_grad',
      `${node.attrs['op']}: g where side ${node.attrs['side']} won, over [${os.join(', ')}]`,
      binds,
      numel(os),
      (k, i, { g: G, a: A, b: B, out: OUT }) => {
        const coord = coordLets(k, i, os);
        const x = k.let('x', A.at(sides[0]!.offset(coord, i)));
        const y = k.let('y', B.at(sides[1]!.offset(coord, i)));
        const aWins = node.attrs['op'] === 'maximum' ? x.ge(y) : x.le(y);
        k.set(OUT.at(i), select(f(0), G.at(i), node.attrs['side'] === 0 ? aWins : not(aWins)));
      },
    ),
    target,
  );
}

/** reduce_grad {op, axis}: one invocation per reduced row; g goes to the first position equal to the extreme y. */
export function reduceGradKernel(node: Node, g: Graph, target: KernelTarget = {}): KernelSpec {
  const [gv, x, y] = valuesOf(node.inputs, g);
  const out = g.values[node.outputs[0]!]!;
  const { outer, len, inner } = aroundAxis(shapeOf(x!), node.attrs['axis'] as number);
  const binds = [read('g', gv!), read('x', x!), read('y', y!), write('out', out)];
  return toSpec(
    flatKernel(
      'reduce_grad',
      `${node.attrs['op']} over ${len} elements ${inner} apart, one row per invocation`,
      binds,
      outer * inner,
      (b, i, { g: G, x: X, y: Y, out: OUT }) => {
        const base = b.let(
          'base',
          i
            .div(inner)
            .mul(len * inner)
            .add(i.mod(inner)),
        );
        const want = b.let('want', Y.at(i));
        const found = b.var('found', 'bool', lit('bool', false));
        b.for('j', 0, len, (j, l) => {
          const p = l.let('p', base.add(j.mul(inner)));
          const v = l.let('v', X.at(p));
          // NaN is the extreme when the row holds one (max and min propagate it).
          const hit = l.let('hit', not(found).and(v.eq(want).or(v.ne(v).and(want.ne(want)))));
          l.set(OUT.at(p), select(f(0), G.at(i), hit));
          l.set(found, found.or(hit));
        });
      },
      64,
    ),
    target,
  );
}

/** embedding_grad: one invocation per table entry (v, d) sums g over the positions whose id is v. */
export function embeddingGradKernel(node: Node, g: Graph, target: KernelTarget = {}): KernelSpec {
  const [gv, ids, start] = valuesOf(node.inputs, g);
  const out = g.values[node.outputs[0]!]!;
  const D = shapeOf(out)[1]!;
  const n = numel(shapeOf(ids!));
  return toSpec(
    flatKernel(
      'embedding_grad',
      `Σ g over ${n} ids per entry of a table of ${shapeOf(out)[0]} × ${D}${start ? ' (a block of the vocabulary from start)' : ''}`,
      [read('g', gv!), read('ids', ids!), write('out', out), ...(start ? [read('start', start)] : [])],
      numel(shapeOf(out)),
      (b, i, { g: G, ids: IDS, out: OUT, start: START }) => {
        // The global id this entry's row stands for.
        const v = b.let('v', start ? cast('i32', i.div(D)).add(START.at(0)) : cast('i32', i.div(D)));
        const d = b.let('d', i.mod(D));
        const acc = b.var('acc', 'f32', f(0));
        b.for('r', 0, n, (r, l) => l.if(IDS.at(r).eq(v), (t) => t.set(acc, acc.add(G.at(r.mul(D).add(d))))));
        b.set(OUT.at(i), acc);
      },
      64,
    ),
    target,
  );
}

/** topk_grad: one invocation per input position (row, c) gathers the values' gradients whose index is c. */
export function topkGradKernel(node: Node, g: Graph, target: KernelTarget = {}): KernelSpec {
  const [gv, idx] = valuesOf(node.inputs, g);
  const out = g.values[node.outputs[0]!]!;
  const os = shapeOf(out);
  const n = os[os.length - 1]!;
  const gs = shapeOf(gv!);
  const k = gs[gs.length - 1]!;
  return toSpec(
    flatKernel(
      'topk_grad',
      `top-${k} gradients back into rows of ${n}`,
      [read('g', gv!), read('idx', idx!), write('out', out)],
      numel(os),
      (b, i, { g: G, idx: IDX, out: OUT }) => {
        const c = b.let('c', cast('i32', i.mod(n)));
        const base = b.let('base', i.div(n).mul(k));
        const acc = b.var('acc', 'f32', f(0));
        b.for('j', 0, k, (j, l) => l.if(IDX.at(base.add(j)).eq(c), (t) => t.set(acc, acc.add(G.at(base.add(j))))));
        b.set(OUT.at(i), acc);
      },
    ),
    target,
  );
}

/** slice_grad {axis, start}: g inside [start, start + size) along the axis, zero outside. */
export function sliceGradKernel(node: Node, g: Graph, target: KernelTarget = {}): KernelSpec {
  const gv = g.values[node.inputs[0]!]!;
  const out = g.values[node.outputs[0]!]!;
  const axis = node.attrs['axis'] as number;
  const s = node.attrs['start'] as number | Dim;
  const start = typeof s === 'number' ? s : dimValue(s)!;
  const { len, inner } = aroundAxis(shapeOf(out), axis);
  const m = shapeOf(gv)[axis]!;
  return toSpec(
    flatKernel(
      'slice_grad',
      `g into [${start}, ${start + m}) of ${len} along axis ${axis}`,
      [read('g', gv), write('out', out)],
      numel(shapeOf(out)),
      (b, i, { g: G, out: OUT }) => {
        const c = b.let('c', i.div(inner).mod(len));
        const outside = [...(start > 0 ? [c.lt(start)] : []), ...(start + m < len ? [c.ge(start + m)] : [])];
        if (outside.length)
          b.if(
            outside.reduce((p, q) => p.or(q)),
            (t) => {
              t.set(OUT.at(i), f(0));
              t.return();
            },
          );
        b.set(
          OUT.at(i),
          G.at(
            i
              .div(len * inner)
              .mul(m)
              .add(c)
              .sub(start)
              .mul(inner)
              .add(i.mod(inner)),
          ),
        );
      },
    ),
    target,
  );
}

/** patchify_grad {patch}: one invocation per image element reads its one place in the patch vectors. */
export function patchifyGradKernel(node: Node, g: Graph, target: KernelTarget = {}): KernelSpec {
  const gv = g.values[node.inputs[0]!]!;
  const out = g.values[node.outputs[0]!]!;
  const xs = shapeOf(out);
  const [, C, H, W] = xs as [number, number, number, number];
  const p = node.attrs['patch'] as number;
  const P = (H / p) * (W / p);
  const E = C * p * p;
  return toSpec(
    flatKernel(
      'patchify_grad',
      `patches of ${p}×${p} back to [${xs.join(', ')}]`,
      [read('g', gv), write('out', out)],
      numel(xs),
      (b, i, { g: G, out: OUT }) => {
        const c = coordLets(b, i, xs);
        const pi = b.let(
          'pi',
          c(2)
            .div(p)
            .mul(W / p)
            .add(c(3).div(p)),
        );
        const e = b.let(
          'e',
          c(1)
            .mul(p * p)
            .add(c(2).mod(p).mul(p))
            .add(c(3).mod(p)),
        );
        b.set(OUT.at(i), G.at(c(0).mul(P).add(pi).mul(E).add(e)));
      },
    ),
    target,
  );
}

/**
 * cross_entropy_grad: g · (softmax(row) − onehot(label)) / count, one invocation per row.
 * The mean's count of valid labels is needed by every row: each workgroup counts it
 * itself (a strided pass and a tree sum in workgroup memory), so nothing is stored.
 */
export function crossEntropyGradKernel(node: Node, g: Graph, target: KernelTarget = {}): KernelSpec {
  const [gv, lg, lb] = valuesOf(node.inputs, g);
  const out = g.values[node.outputs[0]!]!;
  const shape = shapeOf(lg!);
  const V = shape[shape.length - 1]!;
  const rows = numel(shape) / V;
  const WG = 256;
  const buffers = [bufferOf(read('g', gv!)), bufferOf(read('logits', lg!)), bufferOf(read('labels', lb!)), bufferOf(write('out', out))];
  const [G, LOGITS, LABELS, OUT] = buffers.map(bufferRef) as [Expr, Expr, Expr, Expr];
  const part = ref('part', arrayOf('u32', WG));
  const b = new Block();
  const t = b.let('t', builtin('local_invocation_id').x);
  const cnt = b.var('cnt', 'u32', u(0));
  b.for(
    'r',
    t,
    rows,
    (r, l) => {
      const label = l.let('l', LABELS.at(r));
      l.if(label.ge(0).and(label.lt(V)), (c) => c.set(cnt, cnt.add(1)));
    },
    WG,
  );
  b.set(part.at(t), cnt);
  b.barrier();
  for (let stride = WG / 2; stride >= 1; stride /= 2) {
    b.if(t.lt(stride), (c) => c.set(part.at(t), part.at(t).add(part.at(t.add(stride)))));
    b.barrier();
  }
  const scale = b.let('scale', G.at(u(0)).div(cast('f32', max(part.at(u(0)), u(1)))));
  // Past the barriers, invocations beyond the last row may leave.
  const dispatch = foldGroups(Math.ceil(rows / WG));
  const gid = builtin('global_invocation_id');
  const i = b.let('i', dispatch[1] > 1 ? gid.x.add(gid.y.mul(dispatch[0] * WG)) : gid.x);
  b.if(i.ge(rows), (c) => c.return());
  const base = b.let('base', i.mul(V));
  const label = b.let('label', LABELS.at(i));
  b.if(label.lt(0).or(label.ge(V)), (c) => {
    c.for('j', 0, V, (j, l) => l.set(OUT.at(base.add(j)), f(0)));
    c.return();
  });
  const { m, s } = logSumExp(b, (j) => LOGITS.at(base.add(j)), V);
  const inv = b.let('inv', f(1).div(s));
  b.for('j', 0, V, (j, l) =>
    l.set(
      OUT.at(base.add(j)),
      scale.mul(
        exp(LOGITS.at(base.add(j)).sub(m))
          .mul(inv)
          .sub(select(f(0), f(1), cast('i32', j).eq(label))),
      ),
    ),
  );
  return toSpec(
    {
      name: 'cross_entropy_grad',
      doc: [`${rows} rows of ${V} logits, one row per invocation`],
      enables: [],
      consts: [],
      buffers,
      shared: [{ name: 'part', type: arrayOf('u32', WG) }],
      workgroupSize: [WG, 1, 1],
      dispatch,
      body: b.stmts,
    },
    target,
  );
}

/**
 * attention_grad: (dq, dk, dv) in three passes, none storing a score matrix.
 *  1. per (b, h, query i): the row's log-sum-exp L_i and D_i = Σ_j p_ij (g_i·v_j), by an
 *     online pass over the keys, written into the first two entries of dq's own row;
 *  2. per (b, kv head, key j): dk_j = scale Σ_{h,i} ds_ij q_i and dv_j = Σ_{h,i} p_ij g_i over
 *     the heads of its group and the queries that see it, with p_ij = exp(s_ij − L_i) and
 *     ds_ij = p_ij (g_i·v_j − D_i);
 *  3. per (b, h, query i): reads its row's (L_i, D_i), then overwrites the row with
 *     dq_i = scale Σ_j ds_ij k_j.
 * dq's row (b, i, h) holds Dh entries: with Dh = 1 there is no room for two statistics,
 * and passes 2 and 3 recompute them instead. Parking them in dq relies on a node's outputs
 * never sharing bytes with its inputs (plan.ts gives every output its own buffer, and
 * compiler/memory keeps a node's inputs and outputs live together).
 */
export function attentionGradKernels(node: Node, g: Graph, target: KernelTarget = {}): KernelSpec[] {
  const [gv, q, k, v, mask] = valuesOf(node.inputs, g);
  const [dq, dk, dv] = valuesOf(node.outputs, g);
  const { B, Sq, Sk, H, KVH, D: Dh, causal, masked, scale } = attentionDims(node, q!, k!);
  const G = H / KVH;
  const W = H * Dh;
  const KW = KVH * Dh;
  const stored = Dh >= 2;
  const ins = [read('g', gv!), read('q', q!), read('k', k!), read('v', v!), ...(masked ? [read('mask', mask!)] : [])];

  /** The kernel's buffers by name, and the helpers over them. */
  const helpers = (buf: Readonly<Record<string, Expr>>) => {
    const dot = (b: Block, name: string, x: Expr, y: Expr, xb: Expr, yb: Expr) => {
      const acc = b.var(name, 'f32', f(0));
      b.for('d', 0, Dh, (d, l) => l.set(acc, acc.add(x.at(xb.add(d)).mul(y.at(yb.add(d))))));
      return acc;
    };
    const h = {
      qBase: (b: Expr, qi: Expr, hh: Expr) => b.mul(Sq).add(qi).mul(W).add(hh.mul(Dh)),
      kvBase: (b: Expr, j: Expr, kvh: Expr) => b.mul(Sk).add(j).mul(KW).add(kvh.mul(Dh)),
      /** Skips the rest of the loop body for a key the padding mask hides. */
      skipMasked: (l: Block, b: Expr, j: Expr) => {
        if (masked) l.if(buf['mask']!.at(b.mul(Sk).add(j)).eq(lit(storageScalar(mask!.type.dtype), 0)), (c) => c.continue());
      },
      /** One past the last key query qi sees (i32; with Sq > Sk the first queries see none). */
      keyEnd: (qi: Expr) => (causal ? min(cast('i32', qi).add(Sk - Sq + 1), int(Sk)) : int(Sk)),
      /** p_ij and ds_ij of query row qb against key kb, given the row's statistics st. */
      probs: (l: Block, qb: Expr, kb: Expr, st: Expr) => {
        const s = dot(l, 'qk', buf['q']!, buf['k']!, qb, kb);
        const gvd = dot(l, 'gv', buf['g']!, buf['v']!, qb, kb);
        const p = l.let('p', exp(s.mul(scale).sub(st.x)));
        return { p, ds: l.let('ds', p.mul(gvd.sub(st.y)).mul(scale)) };
      },
      /** (log-sum-exp of the row's scaled scores, Σ_j p_j (g·v_j)) as a vec2 var `st`; a row that sees no key gives p = 0. */
      rowStats: (b0: Block, b: Expr, hh: Expr, qi: Expr, qb: Expr): Expr => {
        const st = b0.var('st', vec(2, 'f32'));
        b0.scope((c) => {
          // From the lowest finite f32, as the forward kernel (attention.ts NEG): -Infinity scores weigh 0.
          const m = c.var('m', 'f32', f(-FLT_MAX));
          const l = c.var('l', 'f32', f(0));
          const a = c.var('a', 'f32', f(0));
          c.for('jj', int(0), h.keyEnd(qi), (jj, lp) => {
            const j = lp.let('j', cast('u32', jj));
            h.skipMasked(lp, b, j);
            const kb = lp.let('kb', h.kvBase(b, j, hh.div(G)));
            const s = lp.let('s', dot(lp, 'qk', buf['q']!, buf['k']!, qb, kb).mul(scale));
            const mn = lp.let('mn', max(m, s));
            const corr = lp.let('corr', exp(m.sub(mn)));
            const p = lp.let('p', exp(s.sub(mn)));
            lp.set(l, l.mul(corr).add(p));
            lp.set(a, a.mul(corr).add(p.mul(dot(lp, 'gv', buf['g']!, buf['v']!, qb, kb))));
            lp.set(m, mn);
          });
          c.if(
            l.eq(f(0)),
            (z) => z.set(st, construct2(f(FLT_MAX), f(0))),
            (e) => e.set(st, construct2(m.add(log(l)), a.div(l))),
          );
        });
        return st;
      },
    };
    return h;
  };
  const perQuery = (b: Block, i: Expr) => {
    const qi = b.let('qi', i.mod(Sq));
    const hh = b.let('h', i.div(Sq).mod(H));
    const bb = b.let('b', i.div(Sq * H));
    return { qi, h: hh, b: bb };
  };
  const doc = (what: string) =>
    `${what}: ${B} × ${H} heads (${KVH} kv) of ${Dh}, ${Sq} queries, ${Sk} keys${causal ? ', causal' : ''}${masked ? ', masked' : ''}`;

  const statsKernel = flatKernel(
    'attention_grad_stats',
    doc('row statistics into dq'),
    [...ins, write('dq', dq!)],
    B * H * Sq,
    (b, i, buf) => {
      const hp = helpers(buf);
      const { qi, h, b: bb } = perQuery(b, i);
      const qb = b.let('qb', hp.qBase(bb, qi, h));
      const st = hp.rowStats(b, bb, h, qi, qb);
      b.set(buf.dq.at(qb), st.x);
      b.set(buf.dq.at(qb.add(1)), st.y);
    },
    64,
  );

  const kvBinds = [...ins, ...(stored ? [read('stats', dq!)] : []), write('dk', dk!), write('dv', dv!)];
  const kvKernel = flatKernel(
    'attention_grad_kv',
    doc('dk and dv per key'),
    kvBinds,
    B * KVH * Sk,
    (b, i, buf) => {
      const hp = helpers(buf);
      const j = b.let('j', i.mod(Sk));
      const kvh = b.let('kvh', i.div(Sk).mod(KVH));
      const bb = b.let('b', i.div(Sk * KVH));
      const kb = b.let('kb', hp.kvBase(bb, j, kvh));
      const gk = b.var('gk', arrayOf('f32', Dh));
      const gw = b.var('gw', arrayOf('f32', Dh));
      b.for('d', 0, Dh, (d, l) => {
        l.set(gk.at(d), f(0));
        l.set(gw.at(d), f(0));
      });
      const body = (c: Block) =>
        c.for('h', kvh.mul(G), kvh.add(1).mul(G), (h, lh) => {
          lh.for('ii', causal ? max(cast('i32', j).add(Sq - Sk), int(0)) : int(0), int(Sq), (ii, l) => {
            const qi = l.let('qi', cast('u32', ii));
            const qb = l.let('qb', hp.qBase(bb, qi, h));
            const st = stored ? l.let('st', construct2(buf['stats']!.at(qb), buf['stats']!.at(qb.add(1)))) : hp.rowStats(l, bb, h, qi, qb);
            const { p, ds } = hp.probs(l, qb, kb, st);
            l.for('d', 0, Dh, (d, ld) => {
              ld.set(gk.at(d), gk.at(d).add(ds.mul(buf.q.at(qb.add(d)))));
              ld.set(gw.at(d), gw.at(d).add(p.mul(buf.g.at(qb.add(d)))));
            });
          });
        });
      if (masked) b.if(buf['mask']!.at(bb.mul(Sk).add(j)).ne(lit(storageScalar(mask!.type.dtype), 0)), body);
      else body(b);
      b.for('d', 0, Dh, (d, l) => {
        l.set(buf.dk.at(kb.add(d)), gk.at(d));
        l.set(buf.dv.at(kb.add(d)), gw.at(d));
      });
    },
    64,
  );

  const qKernel = flatKernel(
    'attention_grad_q',
    doc('dq per query'),
    [...ins, write('dq', dq!)],
    B * H * Sq,
    (b, i, buf) => {
      const hp = helpers(buf);
      const { qi, h, b: bb } = perQuery(b, i);
      const qb = b.let('qb', hp.qBase(bb, qi, h));
      const st = stored ? b.let('st', construct2(buf.dq.at(qb), buf.dq.at(qb.add(1)))) : hp.rowStats(b, bb, h, qi, qb);
      const acc = b.var('acc', arrayOf('f32', Dh));
      b.for('d', 0, Dh, (d, l) => l.set(acc.at(d), f(0)));
      b.for('jj', int(0), hp.keyEnd(qi), (jj, l) => {
        const j = l.let('j', cast('u32', jj));
        hp.skipMasked(l, bb, j);
        const kb = l.let('kb', hp.kvBase(bb, j, h.div(G)));
        const { ds } = hp.probs(l, qb, kb, st);
        l.for('d', 0, Dh, (d, ld) => ld.set(acc.at(d), acc.at(d).add(ds.mul(buf.k.at(kb.add(d))))));
      });
      b.for('d', 0, Dh, (d, l) => l.set(buf.dq.at(qb.add(d)), acc.at(d)));
    },
    64,
  );

  const kernels = stored ? [statsKernel, kvKernel, qKernel] : [kvKernel, qKernel];
  return kernels.map((kn) => toSpec(kn, target));
}

/** conv2d_grad: dx per input element (b, c, y, x) and dw per weight (o, c, ky, kx), each a gather over the outputs it touched. */
export function conv2dGradKernels(node: Node, g: Graph, target: KernelTarget = {}): KernelSpec[] {
  const [gv, x, w] = valuesOf(node.inputs, g);
  const [dx, dw] = valuesOf(node.outputs, g);
  const [B, C, H, W] = shapeOf(x!) as [number, number, number, number];
  const [O, , KH, KW] = shapeOf(w!) as [number, number, number, number];
  const [, , Ho, Wo] = shapeOf(gv!) as [number, number, number, number];
  const s = node.attrs['stride'] as number;
  const pad = node.attrs['padding'] as number;
  const gAt = (G: Expr, b: Expr, o: Expr, oy: Expr, ox: Expr) => G.at(b.mul(O).add(o).mul(Ho).add(oy).mul(Wo).add(ox));
  // The output coordinate that tap `k` of input coordinate `p` came from, if any (else the loop body is skipped).
  const from = (l: Block, v: string, p: Expr, k: Expr, n: number) => {
    const t = l.let(`t${v}`, cast('i32', p).add(pad).sub(cast('i32', k)));
    l.if(t.lt(0).or(t.mod(s).ne(0)).or(t.div(s).ge(n)), (c) => c.continue());
    return l.let(`o${v}`, cast('u32', t.div(s)));
  };
  const doc = `${KH}×${KW} taps over ${C} channels, stride ${s}, padding ${pad}`;
  const dxKernel = flatKernel(
    'conv2d_grad_x',
    doc,
    [read('g', gv!), read('w', w!), write('out', dx!)],
    numel(shapeOf(dx!)),
    (b, i, { g: G, w: Wt, out: OUT }) => {
      const c = coordLets(b, i, [B, C, H, W]);
      const [c0, c1, c2, c3] = [c(0), c(1), c(2), c(3)];
      const acc = b.var('acc', 'f32', f(0));
      b.for('o', 0, O, (o, lo) =>
        lo.for('ky', 0, KH, (ky, ly) => {
          const oy = from(ly, 'y', c2, ky, Ho);
          ly.for('kx', 0, KW, (kx, lx) => {
            const ox = from(lx, 'x', c3, kx, Wo);
            lx.set(acc, acc.add(gAt(G, c0, o, oy, ox).mul(Wt.at(o.mul(C).add(c1).mul(KH).add(ky).mul(KW).add(kx)))));
          });
        }),
      );
      b.set(OUT.at(i), acc);
    },
    64,
  );
  const dwKernel = flatKernel(
    'conv2d_grad_w',
    doc,
    [read('g', gv!), read('x', x!), write('out', dw!)],
    numel(shapeOf(dw!)),
    (b, i, { g: G, x: X, out: OUT }) => {
      const c = coordLets(b, i, [O, C, KH, KW]);
      const [c0, c1, c2, c3] = [c(0), c(1), c(2), c(3)];
      const acc = b.var('acc', 'f32', f(0));
      b.for('b', 0, B, (bi, lb) =>
        lb.for('oy', 0, Ho, (oy, ly) => {
          const iy = tapOrSkip(ly, 'iy', oy, c2, s, pad, H);
          ly.for('ox', 0, Wo, (ox, lx) => {
            const ix = tapOrSkip(lx, 'ix', ox, c3, s, pad, W);
            lx.set(acc, acc.add(gAt(G, bi, c0, oy, ox).mul(X.at(bi.mul(C).add(c1).mul(H).add(cast('u32', iy)).mul(W).add(cast('u32', ix))))));
          });
        }),
      );
      b.set(OUT.at(i), acc);
    },
    64,
  );
  return [toSpec(dxKernel, target), toSpec(dwKernel, target)];
}

/**
 * moe_combine_grad: dy per expert slot (e, c, d), found by walking the group's
 * assignments (token, then choice) to the expert's pos-th one; dgates per (t, j), whose
 * slot is the number of earlier assignments of its expert in the group. Assignments past
 * capacity or to no expert get nothing, as in the forward ops.
 */
export function moeCombineGradKernels(node: Node, g: Graph, target: KernelTarget = {}): KernelSpec[] {
  const [gv, y, choice, gates] = valuesOf(node.inputs, g);
  const [dy, dg] = valuesOf(node.outputs, g);
  const [E, C, D] = shapeOf(y!) as [number, number, number];
  const [T, k] = shapeOf(choice!) as [number, number];
  const groups = node.attrs['groups'] as number;
  const cap = C / groups;
  const span = (T / groups) * k; // assignments per group
  const doc = `${T} tokens, top-${k} of ${E} experts, capacity ${cap} × ${groups} groups`;
  const dyKernel = flatKernel(
    'moe_combine_grad_y',
    doc,
    [read('g', gv!), read('choice', choice!), read('gates', gates!), write('out', dy!)],
    numel(shapeOf(dy!)),
    (b, i, { g: G, choice: CH, gates: GATES, out: OUT }) => {
      const d = b.let('d', i.mod(D));
      const c = b.let('c', i.div(D).mod(C));
      const e = b.let('e', cast('i32', i.div(C * D)));
      const first = b.let('first', c.div(cap).mul(span));
      const pos = b.let('pos', c.mod(cap));
      const seen = b.var('seen', 'u32', u(0));
      const value = b.var('value', 'f32', f(0));
      b.for('a', first, first.add(span), (a, l) => {
        l.if(CH.at(a).ne(e), (t) => t.continue());
        l.if(seen.eq(pos), (t) => {
          t.set(value, GATES.at(a).mul(G.at(a.div(k).mul(D).add(d))));
          t.break();
        });
        l.set(seen, seen.add(1));
      });
      b.set(OUT.at(i), value);
    },
    64,
  );
  const dgKernel = flatKernel(
    'moe_combine_grad_gates',
    doc,
    [read('g', gv!), read('y', y!), read('choice', choice!), write('out', dg!)],
    numel(shapeOf(dg!)),
    (b, i, { g: G, y: Y, choice: CH, out: OUT }) => {
      const e = b.let('e', CH.at(i));
      b.if(e.lt(0).or(e.ge(E)), (t) => {
        t.set(OUT.at(i), f(0));
        t.return();
      });
      const grp = b.let('grp', i.div(span));
      const pos = b.var('pos', 'u32', u(0));
      b.for('a', grp.mul(span), i, (a, l) => l.set(pos, pos.add(select(u(0), u(1), CH.at(a).eq(e)))));
      b.if(pos.ge(cap), (t) => {
        t.set(OUT.at(i), f(0));
        t.return();
      });
      const yb = b.let('yb', cast('u32', e).mul(C).add(grp.mul(cap)).add(pos).mul(D));
      const gb = b.let('gb', i.div(k).mul(D));
      const acc = b.var('acc', 'f32', f(0));
      b.for('d', 0, D, (d, l) => l.set(acc, acc.add(G.at(gb.add(d)).mul(Y.at(yb.add(d))))));
      b.set(OUT.at(i), acc);
    },
    64,
  );
  return [toSpec(dyKernel, target), toSpec(dgKernel, target)];
}

const construct2 = (x: Expr, y: Expr) => construct(vec(2, 'f32'), x, y);
