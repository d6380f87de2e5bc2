import type { Graph, Node, Value } from '../../compiler/ir.js';
import { Block, bufferRef } from '../kir/build.js';
import {
  arrayOf,
  builtin,
  cast,
  exp,
  f,
  fma,
  i,
  lit,
  max,
  min,
  ref,
  select,
  subgroupAdd,
  subgroupMax,
  subgroupShuffle,
  u,
  type Expr,
  type Kernel,
} from '../kir/ir.js';
import { toSpec } from '../kir/wgsl.js';
import { bufferOf, read, shapeOf, storageScalar, write, type KernelSpec, type KernelTarget } from './kernel.js';

/**
 * Flash-style attention: one workgroup owns a block of query rows of one (batch, head)
 * and walks the keys in blocks with an online softmax (a running max and sum per row,
 * the accumulator rescaled when the max grows), so no score matrix is ever stored.
 * Causal attention stops at the block's last visible key and masks per row inside the
 * diagonal block; a padding mask (zero = ignore the key) is checked per key; grouped KV
 * heads read kv head h / (heads / kv_heads). Rows that see no key at all are zero.
 *
 * Two shapes of the same algorithm:
 * - subgroup (targets with subgroups): a workgroup is one subgroup of `lanes`
 *   invocations; lane l scores key j0 + l for all of the block's query rows (their q
 *   values kept spread over the lanes and fetched by subgroupShuffle), the block's
 *   max and sum come from subgroupMax / subgroupAdd, and for p·v lane l accumulates
 *   head dims l, l + lanes, ... with each key's probability shuffled from its lane.
 *   Both loops run over the lane index c at run time (unrolled, the kernel grew to
 *   thousands of lines that llvmpipe took seconds to compile, and ran slower).
 *   Keys and values are read once per block of query rows instead of once per row.
 * - workgroup (portable): one invocation per query row; each key block's k and v rows
 *   are staged in workgroup memory by all invocations together, then every row reads
 *   them from there.
 */
export function attentionKernel(node: Node, g: Graph, target: KernelTarget = {}): KernelSpec {
  const a = attentionShape(node, g);
  return toSpec(target.subgroupSize ? subgroupAttention(a, target.subgroupSize) : workgroupAttention(a), target);
}

/** The sizes and options of an attention node or its gradient (attention_grad, grad.ts), from q, k and its attributes. */
export interface AttentionDims {
  readonly B: number;
  readonly Sq: number;
  readonly Sk: number;
  readonly H: number;
  readonly KVH: number;
  /** Head size. */
  readonly D: number;
  readonly causal: boolean;
  readonly scale: number;
  /** A padding mask is given (has_mask). */
  readonly masked: boolean;
}

export function attentionDims(node: Node, q: Value, k: Value): AttentionDims {
  const [B, Sq, W] = shapeOf(q);
  const H = node.attrs['heads'] as number;
  return {
    B: B!,
    Sq: Sq!,
    Sk: shapeOf(k)[1]!,
    H,
    KVH: node.attrs['kv_heads'] as number,
    D: W! / H,
    causal: !!node.attrs['causal'],
    scale: node.attrs['scale'] as number,
    masked: !!node.attrs['has_mask'],
  };
}

interface AttentionShape extends AttentionDims {
  readonly q: Value;
  readonly k: Value;
  readonly v: Value;
  readonly mask: Value | undefined;
  readonly out: Value;
}

function attentionShape(node: Node, g: Graph): AttentionShape {
  const [q, k, v, mask] = node.inputs.map((id) => g.values[id]!);
  const dims = attentionDims(node, q!, k!);
  return { ...dims, q: q!, k: k!, v: v!, mask: dims.masked ? mask : undefined, out: g.values[node.outputs[0]!]! };
}

/**
 * The running max starts from the lowest finite f32, not -Infinity: then exp(s - m) is
 * never (-Inf) - (-Inf), a key whose score is -Infinity weighs 0, and a row whose keys are
 * all masked or all -Infinity gives 0, as in the oracle (compiler/ops/attention.ts). NaN
 * and +Infinity scores still give NaN (max propagates NaN, Inf - Inf is NaN).
 */
const NEG = -3.4028234663852886e38;

/** The buffers both shapes bind, the index expressions they share and the start of their body. */
function frame(a: AttentionShape) {
  const buffers = [
    bufferOf(read('q', a.q)),
    bufferOf(read('k', a.k)),
    bufferOf(read('v', a.v)),
    ...(a.mask ? [bufferOf(read('mask', a.mask))] : []),
    bufferOf(write('out', a.out)),
  ];
  const buf = Object.fromEntries(buffers.map((d) => [d.name, bufferRef(d)])) as Record<'q' | 'k' | 'v' | 'mask' | 'out', Expr>;
  const b = new Block();
  const wid = builtin('workgroup_id');
  const h = b.let('h', wid.y);
  const bb = b.let('b', wid.z);
  const kvh = b.let('kvh', h.div(a.H / a.KVH));
  const q0 = (rows: number) => b.let('q0', wid.x.mul(rows));
  return {
    buffers,
    buf,
    b,
    h,
    q0,
    /** Offset of query row `row` (clamped to the last) of head h. */
    qRow: (row: Expr) =>
      bb
        .mul(a.Sq)
        .add(min(row, u(a.Sq - 1)))
        .mul(a.H * a.D)
        .add(h.mul(a.D)),
    /** Offset of key/value row j (a u32 already below Sk) of kv head kvh. */
    kvRow: (j: Expr) =>
      bb
        .mul(a.Sk)
        .add(j)
        .mul(a.KVH * a.D)
        .add(kvh.mul(a.D)),
    /** Whether the padding mask admits key j (j < Sk); undefined without a mask. */
    admitted: (j: Expr) => (a.mask ? buf.mask.at(bb.mul(a.Sk).add(j)).ne(lit(storageScalar(a.mask.type.dtype), 0)) : undefined),
    /** One past the last key any query row in [q0, q0 + rows) may see (i32). */
    keyEnd: (q0: Expr, rows: number) => (a.causal ? min(cast('i32', q0).add(rows - 1 + a.Sk - a.Sq), i(a.Sk - 1)).add(1) : i(a.Sk)),
  };
}

const range = (n: number) => Array.from({ length: n }, (_, k) => k);
const all = (conds: readonly (Expr | undefined)[]) => conds.filter((c): c is Expr => !!c).reduce((p, c) => p.and(c), lit('bool', true));

/** Rows per subgroup: 16 (the fastest measured on llvmpipe), fewer when a row's registers grow with the head size. */
export function subgroupRows(Sq: number, D: number, lanes: number): number {
  const perLane = Math.ceil(D / lanes);
  return Math.max(1, Math.min(16, Math.floor(128 / perLane), 2 ** Math.ceil(Math.log2(Sq))));
}

function subgroupAttention(a: AttentionShape, lanes: number): Kernel {
  const fr = frame(a);
  const { b, buf } = fr;
  const TM = subgroupRows(a.Sq, a.D, lanes);
  const DL = Math.ceil(a.D / lanes);
  const lane = builtin('subgroup_invocation_id');
  const partial = (t: number) => lanes * (t + 1) > a.D;
  /** Head dim t·lanes + c of a row; clamped when the last group is partial. */
  const dim = (c: Expr, t: number) => (partial(t) ? min(c.add(lanes * t), u(a.D - 1)) : c.add(lanes * t));
  const q0 = fr.q0(TM);
  const qb: Expr[] = [];
  const qv: Expr[][] = [];
  const acc: Expr[][] = [];
  const m: Expr[] = [];
  const l: Expr[] = [];
  for (const r of range(TM)) {
    qb.push(b.let(`qb${r}`, fr.qRow(q0.add(r))));
    qv.push([]);
    acc.push([]);
    for (const t of range(DL)) {
      const load = buf.q.at(qb[r]!.add(dim(lane, t))).mul(a.scale);
      qv[r]!.push(b.let(`q${r}_${t}`, partial(t) ? select(f(0), load, lane.add(lanes * t).lt(a.D)) : load));
      acc[r]!.push(b.var(`acc${r}_${t}`, 'f32', f(0)));
    }
    m.push(b.var(`m${r}`, 'f32', f(NEG)));
    l.push(b.var(`l${r}`, 'f32', f(0)));
  }
  const kend = b.let('kend', fr.keyEnd(q0, TM));
  b.for(
    'j0',
    i(0),
    kend,
    (j0, blk) => {
      const j = blk.let('j', cast('u32', j0).add(lane));
      const jc = blk.let('jc', min(j, u(a.Sk - 1)));
      const kb = blk.let('kb', fr.kvRow(jc));
      const s = range(TM).map((r) => blk.var(`s${r}`, 'f32', f(0)));
      // Scores: lane l holds key j0 + l; dim d of a row's q sits in register d / lanes of lane
      // d % lanes (zero past D), fetched with subgroupShuffle at a uniform lane c.
      blk.for('c', 0, lanes, (c, lc) => {
        for (const t of range(DL)) {
          lc.scope((sc) => {
            const kd = sc.let('kd', buf.k.at(kb.add(dim(c, t))));
            for (const r of range(TM)) sc.set(s[r]!, fma(subgroupShuffle(qv[r]![t]!, c), kd, s[r]!));
          });
        }
      });
      for (const r of range(TM)) {
        blk.scope((sc) => {
          const ok = sc.let('ok', all([j.lt(a.Sk), fr.admitted(jc), a.causal ? cast('i32', j).le(cast('i32', q0).add(r + a.Sk - a.Sq)) : undefined]));
          const mn = sc.let('mn', max(m[r]!, subgroupMax(select(f(NEG), s[r]!, ok))));
          const corr = sc.let('corr', exp(m[r]!.sub(mn)));
          sc.set(s[r]!, select(f(0), exp(s[r]!.sub(mn)), ok));
          sc.set(l[r]!, l[r]!.mul(corr).add(subgroupAdd(s[r]!)));
          for (const t of range(DL)) sc.set(acc[r]![t]!, acc[r]![t]!.mul(corr));
          sc.set(m[r]!, mn);
        });
      }
      // p·v: key j0 + c's probability is s in lane c; past Sk it is zero, so the clamped row adds nothing.
      blk.for('c', 0, lanes, (c, lc) => {
        const vb = lc.let('vb', fr.kvRow(min(cast('u32', j0).add(c), u(a.Sk - 1))));
        const vt = range(DL).map((t) => lc.let(`v${t}`, buf.v.at(vb.add(dim(lane, t)))));
        for (const r of range(TM)) {
          lc.scope((sc) => {
            const p = sc.let('p', subgroupShuffle(s[r]!, c));
            for (const t of range(DL)) sc.set(acc[r]![t]!, fma(p, vt[t]!, acc[r]![t]!));
          });
        }
      });
    },
    i(lanes),
  );
  for (const r of range(TM)) {
    b.if(q0.add(r).lt(a.Sq), (st) => {
      const inv = st.let('inv', select(f(0), f(1).div(l[r]!), l[r]!.gt(f(0))));
      for (const t of range(DL)) {
        const store = (x: Block) => x.set(buf.out.at(qb[r]!.add(lane).add(lanes * t)), acc[r]![t]!.mul(inv));
        if (partial(t)) st.if(lane.add(lanes * t).lt(a.D), store);
        else store(st);
      }
    });
  }
  return {
    name: 'attention',
    doc: [`flash, subgroup of ${lanes}, ${TM} query rows per workgroup, key blocks of ${lanes}`],
    enables: ['subgroups'],
    consts: [],
    buffers: fr.buffers,
    shared: [],
    workgroupSize: [lanes, 1, 1],
    dispatch: [Math.ceil(a.Sq / TM), a.H, a.B],
    body: b.stmts,
  };
}

/** Query rows per workgroup of the portable kernel. */
const WQ = 64;
/** Head sizes up to this keep q and the accumulator in registers (unrolled); larger ones use arrays and loops. */
const UNROLL_D = 128;

function workgroupAttention(a: AttentionShape): Kernel {
  const fr = frame(a);
  const { b, buf } = fr;
  // Beyond the unrolled sizes q and the accumulator are two private arrays of D floats,
  // and WGSL caps a shader's function-scope variables at 8192 bytes in all.
  if (a.D > 1000)
    throw new Error(
      `attention with heads of ${a.D} dims: the portable kernel keeps q and the accumulator of a row ` +
        `(${8 * a.D} bytes) in private memory, over WGSL's 8192-byte limit; heads of up to 1000 dims are supported`,
    );
  // Two key blocks (k and v) of BK rows fit 16 KiB of workgroup memory.
  const BK = Math.max(1, Math.min(64, a.Sk, Math.floor(2048 / a.D)));
  const rows = Math.min(WQ, 2 ** Math.ceil(Math.log2(a.Sq)));
  const unrolled = a.D <= UNROLL_D;
  const Ks = ref('Ks', arrayOf('f32', BK * a.D));
  const Vs = ref('Vs', arrayOf('f32', BK * a.D));
  const tid = builtin('local_invocation_index');
  const q0 = fr.q0(rows);
  const qi = b.let('qi', q0.add(tid));
  const qb = b.let('qb', fr.qRow(qi));
  /** Statements over every head dim d of `blk`: unrolled (`reg(k)` is register k's d-th), or a loop. */
  let qv: (d: Expr | number) => Expr;
  let acc: (d: Expr | number) => Expr;
  const perDim = (blk: Block, line: (x: Block, d: Expr, dn: number | Expr) => void) => {
    if (unrolled) for (const d of range(a.D)) line(blk, u(d), d);
    else blk.for('d', 0, a.D, (d, l) => line(l, d, d));
  };
  if (unrolled) {
    const regs = range(a.D).map((d) => b.let(`qv${d}`, buf.q.at(qb.add(d)).mul(a.scale)));
    const accs = range(a.D).map((d) => b.var(`acc${d}`, 'f32', f(0)));
    qv = (d) => regs[d as number]!;
    acc = (d) => accs[d as number]!;
  } else {
    const qa = b.var('qv', arrayOf('f32', a.D));
    const aa = b.var('acc', arrayOf('f32', a.D));
    qv = (d) => qa.at(d);
    acc = (d) => aa.at(d);
    perDim(b, (x, d) => {
      x.set(qa.at(d), buf.q.at(qb.add(d)).mul(a.scale));
      x.set(aa.at(d), f(0));
    });
  }
  const m = b.var('m', 'f32', f(NEG));
  const l = b.var('l', 'f32', f(0));
  const kend = b.let('kend', fr.keyEnd(q0, rows));
  const last = a.causal ? b.let('last', cast('i32', qi).add(a.Sk - a.Sq)) : undefined;
  b.for(
    'j0',
    i(0),
    kend,
    (j0, blk) => {
      // Stage the block's k and v rows; rows past Sk are clamped copies that no query uses.
      blk.for(
        'u',
        tid,
        BK * a.D,
        (uu, st) => {
          const at = st.let('at', fr.kvRow(min(cast('u32', j0).add(uu.div(a.D)), u(a.Sk - 1))).add(uu.mod(a.D)));
          st.set(Ks.at(uu), buf.k.at(at));
          st.set(Vs.at(uu), buf.v.at(at));
        },
        rows,
      );
      blk.barrier();
      const n = blk.let('n', min(kend.sub(j0), i(BK)));
      blk.for('jj', i(0), n, (jj, x) => {
        const j = x.let('j', j0.add(jj));
        const o = x.let('o', cast('u32', jj).mul(a.D));
        const s = x.var('s', 'f32', f(0));
        perDim(x, (y, d, dn) => y.set(s, fma(qv(dn), Ks.at(o.add(d)), s)));
        const ok = x.let('ok', all([last && j.le(last), fr.admitted(cast('u32', j))]));
        const mn = x.let('mn', select(m, max(m, s), ok));
        const corr = x.let('corr', exp(m.sub(mn)));
        const p = x.let('p', select(f(0), exp(s.sub(mn)), ok));
        x.set(l, l.mul(corr).add(p));
        x.set(m, mn);
        perDim(x, (y, d, dn) => y.set(acc(dn), fma(p, Vs.at(o.add(d)), acc(dn).mul(corr))));
      });
      blk.barrier();
    },
    i(BK),
  );
  b.if(qi.lt(a.Sq), (st) => {
    const inv = st.let('inv', select(f(0), f(1).div(l), l.gt(f(0))));
    perDim(st, (y, d, dn) => y.set(buf.out.at(qb.add(d)), acc(dn).mul(inv)));
  });
  return {
    name: 'attention',
    doc: [`flash, ${rows} query rows per workgroup, key blocks of ${BK} in workgroup memory`],
    enables: [],
    consts: [],
    buffers: fr.buffers,
    shared: [
      { name: 'Ks', type: arrayOf('f32', BK * a.D) },
      { name: 'Vs', type: arrayOf('f32', BK * a.D) },
    ],
    workgroupSize: [rows, 1, 1],
    dispatch: [Math.ceil(a.Sq / rows), a.H, a.B],
    body: b.stmts,
  };
}
