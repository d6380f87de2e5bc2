import { Block, bufferRef, flatGrid } from '../../kir/build.js';
import {
  builtin,
  construct,
  f,
  fma,
  min,
  ref,
  select,
  subgroupBroadcast,
  subgroupShuffle,
  u,
  vec,
  arrayOf,
  type BufferDecl,
  type ConstDecl,
  type Expr,
  type Kernel,
} from '../../kir/ir.js';
import { colWidth, configName, gridOf, RASTER_GROUP, type MatmulConfig, type Raster } from './config.js';
import { storeProduct, type EpilogueOf } from './epilogue.js';
import { batchCount, batchOffsets, type MatmulIO, type MatmulShape } from './shape.js';
import { constant, wide, widen, type Width } from '../fused/body.js';

const elemOf = (w: Width) => wide('f32', w);
const zeroOf = (w: Width) => constant(0, elemOf(w));
/** `a * b + c` with the scalar `a` widened to b's width. */
const madd = (a: Expr, b: Expr, c: Expr) => fma(widen(a, b.type), b, c);

/**
 * The frame every matmul kernel shares: a and b (viewed `aw` and `w` wide; a transposed
 * b one wide, read through `bAt`), the
 * epilogue's buffers (the plain store: out), the size constants, and `store`, which
 * writes one accumulated block through the epilogue.
 */
function frame(s: MatmulShape, io: MatmulIO, aw: Width, w: Width, epilogueOf: EpilogueOf | undefined) {
  const buf = (name: string, access: 'read' | 'read_write', width: Width, value: number): BufferDecl => ({
    name,
    access,
    elem: elemOf(width),
    storage: 'f32',
    value,
  });
  const a = buf('a', 'read', aw, io.a);
  // A transposed b ([N, K]) is read one element at a time: its columns are its rows.
  const b = buf('b', 'read', s.transB ? 1 : w, io.b);
  const epilogue = (epilogueOf ?? storeProduct(io.out))(w);
  const consts: ConstDecl[] = [
    { name: 'M', value: u(s.M) },
    { name: 'N', value: u(s.N) },
    { name: 'K', value: u(s.K) },
  ];
  if (w === 4) consts.push({ name: 'N4', value: u(s.N / 4) });
  const B = bufferRef(b);
  const K = ref('K', 'u32');
  const NW = w === 4 ? ref('N4', 'u32') : ref('N', 'u32');
  return {
    buffers: [a, b, ...epilogue.buffers],
    consts,
    A: bufferRef(a),
    B,
    epilogue,
    store: epilogue.store,
    M: ref('M', 'u32'),
    N: ref('N', 'u32'),
    K,
    /** N in column groups of w. */
    NW,
    /**
     * b[k][cg·w .. cg·w + w) of the matrix at element offset `boff`: one w-wide load, or
     * for a transposed b w loads, one from each of its rows cg·w + i.
     */
    bAt: (k: Expr, cg: Expr, boff: Expr): Expr => {
      if (!s.transB) return B.at(boff.div(w).add(k.mul(NW)).add(cg));
      const at = (n: Expr) => B.at(boff.add(n.mul(K)).add(k));
      return w === 1 ? at(cg) : construct(vec(4, 'f32'), ...[0, 1, 2, 3].map((i) => at(cg.mul(4).add(i))));
    },
  };
}

const shapeDoc = (s: MatmulShape, e: { doc: readonly string[] }) => [shapeDocOf(s), ...e.doc];
const shapeDocOf = (s: MatmulShape) =>
  `[${[...s.aBatch, s.M, s.K].join(', ')}] @ ${s.transB ? `transpose([${[...s.bBatch, s.N, s.K].join(', ')}])` : `[${[...s.bBatch, s.K, s.N].join(', ')}]`} → [${[...s.batch, s.M, s.N].join(', ')}]`;

/** The output block of this workgroup, from its id in the configured raster order over mBlocks × nBlocks blocks. */
function blockOf(b: Block, raster: Raster, mBlocks: number, nBlocks: number) {
  const wid = builtin('workgroup_id');
  if (raster === 'm') return { rowBlock: wid.x, colBlock: wid.y };
  if (raster === 'n') return { rowBlock: wid.y, colBlock: wid.x };
  const per = RASTER_GROUP * nBlocks;
  const first = b.let('first', wid.x.div(per).mul(RASTER_GROUP));
  const size = b.let('gsize', min(u(mBlocks).sub(first), u(RASTER_GROUP)));
  const inGroup = b.let('ingroup', wid.x.mod(per));
  return { rowBlock: b.let('rb', first.add(inGroup.mod(size))), colBlock: b.let('cblk', inGroup.div(size)) };
}

/** Plain: one invocation per output element; the grid folds into 2-D past 65535 workgroups. */
export function plainKernel(s: MatmulShape, io: MatmulIO, epilogue?: EpilogueOf): Kernel {
  const fr = frame(s, io, 1, 1, epilogue);
  const WG = 64;
  const body = new Block();
  const { index: idx, dispatch } = flatGrid(body, 'i', batchCount(s) * s.M * s.N, WG);
  const col = body.let('col', idx.mod(fr.N));
  const row = body.let('row', idx.div(fr.N).mod(fr.M));
  const bz = batchCount(s) > 1 ? body.let('bz', idx.div(s.M * s.N)) : u(0);
  const off = batchOffsets(body, bz, s);
  const acc = body.var('acc', 'f32', f(0));
  body.for('k', 0, fr.K, (k, b) => {
    b.set(acc, fr.A.at(off.a.add(row.mul(fr.K)).add(k)).mul(fr.bAt(k, col, off.b)), '+');
  });
  fr.store(body, { acc, index: idx, bz, row, col });
  return {
    name: `matmul${fr.epilogue.suffix}`,
    doc: [...shapeDoc(s, fr.epilogue), configName({ kind: 'plain' })],
    enables: [],
    consts: fr.consts,
    buffers: fr.buffers,
    shared: [],
    workgroupSize: [WG, 1, 1],
    dispatch,
    body: body.stmts,
  };
}

/** M = 1: each invocation owns one column group and walks all of K, reading a four at a time when K allows. */
export function gemvKernel(s: MatmulShape, io: MatmulIO, wg: number, epilogue?: EpilogueOf): Kernel {
  const w = colWidth(s) as Width;
  const aw: Width = s.K % 4 === 0 ? 4 : 1;
  const fr = frame(s, io, aw, w, epilogue);
  const wid = builtin('workgroup_id');
  const body = new Block();
  const cg = body.let('cg', wid.x.mul(wg).add(builtin('local_invocation_id').x));
  body.if(cg.ge(fr.NW), (b) => b.return());
  const bz = batchCount(s) > 1 ? body.let('bz', wid.z) : u(0);
  const off = batchOffsets(body, bz, s);
  const acc = body.var('acc', elemOf(w), zeroOf(w));
  const brow = (k: Expr) => fr.bAt(k, cg, off.b);
  if (aw === 4) {
    body.for('k4', 0, s.K / 4, (k4, b) => {
      const av = b.let('av', fr.A.at(off.a.div(4).add(k4)));
      const k = b.let('k', k4.mul(4));
      for (const [j, c] of (['x', 'y', 'z', 'w'] as const).entries()) b.set(acc, madd(av[c], brow(k.add(j)), acc));
    });
  } else {
    body.for('k', 0, fr.K, (k, b) => b.set(acc, madd(fr.A.at(off.a.add(k)), brow(k), acc)));
  }
  fr.store(body, { acc, index: bz.mul(fr.NW).add(cg), bz, row: u(0), col: cg });
  return {
    name: `matmul_gemv${fr.epilogue.suffix}`,
    doc: [...shapeDoc(s, fr.epilogue), configName({ kind: 'gemv', wg })],
    enables: [],
    consts: fr.consts,
    buffers: fr.buffers,
    shared: [],
    workgroupSize: [wg, 1, 1],
    dispatch: gridOf({ kind: 'gemv', wg }, s),
    body: body.stmts,
  };
}

/**
 * Tiled: tk-deep slices of the a and b tiles are staged in workgroup memory (a
 * transposed, so an invocation's rows are adjacent), zero-padded past the edges; each
 * invocation accumulates its tm rows × tn columns in registers. Its columns are
 * strided by wgx so that neighbouring invocations touch neighbouring memory.
 */
export function tiledKernel(s: MatmulShape, io: MatmulIO, c: Extract<MatmulConfig, { kind: 'tiled' }>, epilogue?: EpilogueOf): Kernel {
  const w = colWidth(s) as Width;
  const aw: Width = s.K % 4 === 0 && c.tk % 4 === 0 ? 4 : 1;
  const fr = frame(s, io, aw, w, epilogue);
  const { tm, tk, wgx, wgy } = c;
  const tnw = c.tn / w;
  const BM = wgy * tm;
  const BNW = wgx * tnw;
  const T = wgx * wgy;
  const NW = s.N / w;
  const As = ref('As', arrayOf('f32', tk * BM));
  const Bs = ref('Bs', arrayOf(elemOf(w), tk * BNW));
  const lid = builtin('local_invocation_id');
  const body = new Block();
  const { rowBlock, colBlock } = blockOf(body, c.raster, Math.ceil(s.M / BM), Math.ceil(NW / BNW));
  const tid = body.let('tid', builtin('local_invocation_index'));
  const r0 = body.let('r0', rowBlock.mul(BM));
  const c0 = body.let('c0', colBlock.mul(BNW));
  const bz = batchCount(s) > 1 ? body.let('bz', builtin('workgroup_id').z) : u(0);
  const off = batchOffsets(body, bz, s);
  const acc = Array.from({ length: tm }, (_, r) => Array.from({ length: tnw }, (_, j) => body.var(`acc${r}_${j}`, elemOf(w), zeroOf(w))));

  /** The invocations copy `units` elements of a tile, T at a time; `copy` gets the unit index. */
  const cooperate = (b: Block, units: number, copy: (blk: Block, unit: Expr) => void) => {
    const guard = (blk: Block, unit: Expr) => (units % T === 0 ? copy(blk, unit) : blk.if(unit.lt(units), (g) => copy(g, unit)));
    if (units <= T) b.scope((blk) => guard(blk, tid));
    else b.for('unit', tid, units, (unit, blk) => guard(blk, unit), T);
  };
  /** `value` where `cond` holds (cond undefined: always), else zero. */
  const guarded = (cond: Expr | undefined, value: Expr, zero: Expr) => (cond ? select(zero, value, cond) : value);
  const and = (xs: (Expr | false)[]) => xs.filter((x): x is Expr => x !== false).reduce<Expr | undefined>((p, x) => (p ? p.and(x) : x), undefined);

  body.for(
    'k0',
    0,
    fr.K,
    (k0, loop) => {
      // a tile: BM rows × tk columns, aw at a time, stored transposed as As[k * BM + m].
      cooperate(loop, (BM * tk) / aw, (b, unit) => {
        const m = b.let('m', unit.div(tk / aw));
        const kq = b.let('kq', unit.mod(tk / aw));
        const grow = r0.add(m);
        const gk = k0.add(kq.mul(aw));
        const rowOk = s.M % BM !== 0 && grow.lt(fr.M);
        const kOk = s.K % tk !== 0 && gk.lt(fr.K);
        const at = off.a.add((rowOk ? min(grow, u(s.M - 1)) : grow).mul(fr.K)).add(kOk ? min(gk, u(s.K - aw)) : gk);
        const v = b.let('v', guarded(and([rowOk, kOk]), fr.A.at(aw === 4 ? at.div(4) : at), zeroOf(aw)));
        if (aw === 4) for (const [j, comp] of (['x', 'y', 'z', 'w'] as const).entries()) b.set(As.at(kq.mul(4).add(j).mul(BM).add(m)), v[comp]);
        else b.set(As.at(kq.mul(BM).add(m)), v);
      });
      // b tile: tk rows × BNW column groups. Neighbouring invocations take neighbouring
      // columns, or for a transposed b (its columns are rows in memory) neighbouring k.
      cooperate(loop, tk * BNW, (b, unit) => {
        const kk = b.let('kk', s.transB ? unit.mod(tk) : unit.div(BNW));
        const cc = b.let('cc', s.transB ? unit.div(tk) : unit.mod(BNW));
        const gk = k0.add(kk);
        const gc = c0.add(cc);
        const kOk = s.K % tk !== 0 && gk.lt(fr.K);
        const colOk = NW % BNW !== 0 && gc.lt(fr.NW);
        const value = fr.bAt(kOk ? min(gk, u(s.K - 1)) : gk, colOk ? min(gc, u(NW - 1)) : gc, off.b);
        b.set(Bs.at(kk.mul(BNW).add(cc)), guarded(and([kOk, colOk]), value, zeroOf(w)));
      });
      loop.barrier();
      loop.for('kk', 0, tk, (kk, b) => {
        const ar = b.let('ar', kk.mul(BM).add(lid.y.mul(tm)));
        const br = b.let('br', kk.mul(BNW).add(lid.x));
        const av = Array.from({ length: tm }, (_, r) => b.let(`a${r}`, As.at(ar.add(r))));
        const bv = Array.from({ length: tnw }, (_, j) => b.let(`b${j}`, Bs.at(br.add(j * wgx))));
        for (let r = 0; r < tm; r++) for (let j = 0; j < tnw; j++) b.set(acc[r]![j]!, madd(av[r]!, bv[j]!, acc[r]![j]!));
      });
      loop.barrier();
    },
    tk,
  );

  const ob = bz.mul(s.M * NW);
  const rt = body.let('rt', r0.add(lid.y.mul(tm)));
  const ct = body.let('ct', c0.add(lid.x));
  for (let r = 0; r < tm; r++) {
    for (let j = 0; j < tnw; j++) {
      const row = rt.add(r);
      const col = ct.add(j * wgx);
      const ok = and([s.M % BM !== 0 && row.lt(fr.M), NW % BNW !== 0 && col.lt(fr.NW)]);
      const store = (b: Block) => fr.store(b, { acc: acc[r]![j]!, index: ob.add(row.mul(fr.NW)).add(col), bz, row, col });
      if (ok) body.if(ok, store);
      else store(body);
    }
  }
  return {
    name: `matmul_tiled${fr.epilogue.suffix}`,
    doc: [...shapeDoc(s, fr.epilogue), configName(c)],
    enables: [],
    consts: fr.consts,
    buffers: fr.buffers,
    shared: [
      { name: 'As', type: arrayOf('f32', tk * BM) },
      { name: 'Bs', type: arrayOf(elemOf(w), tk * BNW) },
    ],
    workgroupSize: [wgx, wgy, 1],
    dispatch: gridOf(c, s),
    body: body.stmts,
  };
}

/**
 * Subgroup: a workgroup is one subgroup of `lanes` invocations computing tm rows ×
 * lanes·tn column groups. Per `lanes`-deep k step, lane l reads a[row][k0 + l] for its
 * tm rows (one contiguous read across the subgroup) and every lane gets each k's value
 * by subgroupBroadcast, a register shuffle, instead of a memory load. Rows and columns
 * past the edge are clamped on load and not stored; a K tail shorter than `lanes` is
 * unrolled separately so no padded product is ever added.
 */
export function subgroupKernel(s: MatmulShape, io: MatmulIO, c: Extract<MatmulConfig, { kind: 'subgroup' }>, lanes: number, epilogue?: EpilogueOf): Kernel {
  const w = colWidth(s) as Width;
  const fr = frame(s, io, 1, w, epilogue);
  const NW = s.N / w;
  const { tm, tn } = c;
  const lane = builtin('subgroup_invocation_id');
  const body = new Block();
  const { rowBlock, colBlock } = blockOf(body, c.raster, Math.ceil(s.M / tm), Math.ceil(NW / (lanes * tn)));
  const r0 = body.let('r0', rowBlock.mul(tm));
  const cb = body.let('cb', colBlock.mul(lanes * tn).add(lane));
  const bz = batchCount(s) > 1 ? body.let('bz', builtin('workgroup_id').z) : u(0);
  const off = batchOffsets(body, bz, s);
  const rowsExact = s.M % tm === 0;
  const colsExact = NW % (lanes * tn) === 0;
  const arow = Array.from({ length: tm }, (_, r) => body.let(`arow${r}`, off.a.add((rowsExact ? r0.add(r) : min(r0.add(r), u(s.M - 1))).mul(fr.K))));
  // Column group j of this lane (clamped at the edge), or for a plain b its offset in b.
  const bcol = Array.from({ length: tn }, (_, j) => {
    const cg = colsExact ? cb.add(j * lanes) : min(cb.add(j * lanes), u(NW - 1));
    return body.let(`bcol${j}`, s.transB ? cg : off.b.div(w).add(cg));
  });
  const acc = Array.from({ length: tm }, (_, r) => Array.from({ length: tn }, (_, j) => body.var(`acc${r}_${j}`, elemOf(w), zeroOf(w))));
  /** The products of k value k0 + kk for every row and column group; `aOf(r)` is row r's a value, broadcast. */
  const step = (b: Block, k: Expr, aOf: (r: number) => Expr) => {
    const brow = s.transB ? u(0) : b.let('brow', k.mul(fr.NW));
    const bv = bcol.map((bc, j) => b.let(`b${j}`, s.transB ? fr.bAt(k, bc, off.b) : fr.B.at(brow.add(bc))));
    for (let r = 0; r < tm; r++) {
      const sr = b.let(`s${r}`, aOf(r));
      bv.forEach((bvj, j) => b.set(acc[r]![j]!, madd(sr, bvj, acc[r]![j]!)));
    }
  };
  const loadA = (b: Block, k0: Expr, kq: Expr) => arow.map((ar, r) => b.let(`av${r}`, fr.A.at(ar.add(k0).add(kq))));
  const kMain = s.K - (s.K % lanes);
  // Main loop: each lane loads one k of every row, then a run-time loop over the lanes
  // shuffles lane kk's value to all (unrolling it with constant-lane broadcasts made the
  // kernel larger and, on llvmpipe, up to 1.5x slower at the register blocks that win).
  if (kMain > 0) {
    body.for(
      'k0',
      0,
      kMain,
      (k0, b) => {
        const av = loadA(b, k0, lane);
        b.for('kk', 0, lanes, (kk, inner) => step(inner, k0.add(kk), (r) => subgroupShuffle(av[r]!, kk)));
      },
      lanes,
    );
  }
  // A K tail shorter than `lanes`, unrolled, lanes past it clamped to the last k.
  if (s.K % lanes) {
    body.scope((b) => {
      const av = loadA(b, u(kMain), min(lane, u((s.K % lanes) - 1)));
      for (let kk = 0; kk < s.K % lanes; kk++) b.scope((blk) => step(blk, u(kMain + kk), (r) => subgroupBroadcast(av[r]!, kk)));
    });
  }
  const ob = bz.mul(s.M * NW);
  /** Visits the tn blocks of output row `row` that lie inside the matrix. */
  const eachBlock = (b: Block, row: Expr, visit: (blk: Block, at: { index: Expr; row: Expr; col: Expr }, j: number) => void) => {
    for (let j = 0; j < tn; j++) {
      const col = cb.add(j * lanes);
      const ok = [!rowsExact && row.lt(fr.M), !colsExact && col.lt(fr.NW)].filter((x): x is Expr => x !== false);
      const at = { index: ob.add(row.mul(fr.NW)).add(col), row, col };
      if (ok.length) b.if(ok.length === 2 ? ok[0]!.and(ok[1]!) : ok[0]!, (blk) => visit(blk, at, j));
      else visit(b, at, j);
    }
  };
  const staging = fr.epilogue.staging;
  if (staging && lanes <= 8) {
    // Two passes on CPU-SIMD subgroups: the plain products first, then a run-time loop
    // reads each back and applies the epilogue. With the epilogue applied straight to the
    // accumulators, llvmpipe's generated main loop ran 1.4-1.5x slower (bias add alone,
    // 32 x 4 block on GPT-2's MLP shape); the round trip through the just-written block is
    // a few percent. The staging buffer is one of the epilogue's own outputs, each element
    // read and rewritten by the invocation that wrote it.
    const stage = bufferRef(staging);
    for (let r = 0; r < tm; r++) eachBlock(body, r0.add(r), (blk, at, j) => blk.set(stage.at(at.index), acc[r]![j]!));
    body.for('r', 0, tm, (r, b) =>
      eachBlock(b, r0.add(r), (blk, at, j) => fr.store(blk, { acc: blk.let(`raw${j}`, stage.at(at.index)), index: at.index, bz, row: at.row, col: at.col })),
    );
  } else {
    for (let r = 0; r < tm; r++) eachBlock(body, r0.add(r), (blk, at, j) => fr.store(blk, { acc: acc[r]![j]!, index: at.index, bz, row: at.row, col: at.col }));
  }
  return {
    name: `matmul_subgroup${fr.epilogue.suffix}`,
    doc: [...shapeDoc(s, fr.epilogue), `${configName(c)}, ${lanes} lanes (needs a subgroup size of ${lanes})`],
    enables: ['subgroups'],
    consts: fr.consts,
    buffers: fr.buffers,
    shared: [],
    workgroupSize: [lanes, 1, 1],
    dispatch: gridOf(c, s, lanes),
    body: body.stmts,
  };
}
