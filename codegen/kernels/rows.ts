/**
 * Reductions over the last axis: sum, mean, max, min, softmax, log_softmax, layer_norm
 * and rms_norm (and fused rows bodies, fused/rows.ts). A long row takes a workgroup: its
 * invocations stride over the row (four elements at a time when the row length allows),
 * then combine their partial results through a tree in workgroup memory, or, on a target
 * with subgroups, in a workgroup of exactly one subgroup with subgroupAdd / subgroupMax
 * and no barrier at all. A short row (below KernelTarget.rowUnits) takes one invocation.
 * Other axes keep the one-invocation-per-row kernels in reduce.ts.
 */
import type { Graph, Node, Value } from '../../compiler/ir.js';
import { Block, bufferRef, flatGrid } from '../kir/build.js';
import {
  builtin,
  exp,
  f,
  foldGroups,
  i,
  inverseSqrt,
  lit,
  log,
  max,
  min,
  ref,
  splat,
  subgroupAdd,
  subgroupMax,
  subgroupMin,
  u,
  vec,
  arrayOf,
  type BufferDecl,
  type Expr,
  type Kernel,
  type Scalar,
  type VecType,
} from '../kir/ir.js';
import { toSpec } from '../kir/wgsl.js';
import { shapeOf, storageOf, type KernelSpec, type KernelTarget } from './kernel.js';
import { numel } from '../../layout/mesh.js';

/** Rows of fewer elements than this take one invocation each whatever the target says: a workgroup would mostly idle. */
const ROW_SHARED_MIN = 32;
/** Whether rows of `len` elements may take a workgroup (else always one invocation each, whatever KernelTarget.rowUnits says). */
export const rowsShareable = (len: number): boolean => len >= ROW_SHARED_MIN;
/** Invocations per row without subgroups. */
const WG = 64;

export type RowOp = 'sum' | 'max' | 'min';
/**
 * The value an invocation with an empty share of the row contributes to a reduction by `op`:
 * a float max starts from -Infinity and a min from +Infinity (so a row of -Infinity has max
 * -Infinity, as in the oracle, not -FLT_MAX).
 */
export const rowIdentity = (op: RowOp, elem: Scalar): Expr =>
  op === 'sum' ? lit(elem, 0) : elem === 'i32' ? i(op === 'max' ? -0x80000000 : 0x7fffffff) : f(op === 'max' ? -Infinity : Infinity);

export interface RowFrame {
  readonly b: Block;
  /** Four when the row length allows vec4 loads, else one. */
  readonly width: 1 | 4;
  /** The element type of the row (f32 or i32) and its vector of `width`. */
  readonly elem: Scalar;
  /** The row this invocation works on. */
  readonly row: Expr;
  /** Loops `j` over this invocation's share of the row (in units of `width`); `at` is the unit's index in the buffer. */
  each(b: Block, body: (b: Block, at: Expr, j: Expr) => void): void;
  /** The combination of every invocation's `v` by `op`, available to all of them. */
  reduce(b: Block, v: Expr, op: RowOp): Expr;
  /** `body` run by one invocation of the row (for per-row stores). */
  once(b: Block, body: (b: Block) => void): void;
  /** A binding viewed `width` wide (`scalar`: one wide). */
  view(name: string, access: 'read' | 'read_write', v: Value, scalar?: boolean): Expr;
  /** Binds `decl` (the next binding) and returns a reference to it. */
  bind(decl: BufferDecl): Expr;
  /** `v` combined across its components by `op` (a scalar stays as it is); `b` holds the let it needs. */
  horizontal(b: Block, v: Expr, op: RowOp): Expr;
}

/** How a reduction op combines its row: mean sums (and divides after). Undefined for other ops. */
export const rowOpOf = (op: string): RowOp | undefined => (({ sum: 'sum', mean: 'sum', max: 'max', min: 'min' }) as const)[op as 'sum'];

export const combine = (a: Expr, b: Expr, op: RowOp) => (op === 'sum' ? a.add(b) : op === 'max' ? max(a, b) : min(a, b));

/**
 * By default, rows of fewer units (len / width) than this take one invocation each, 64
 * rows to a workgroup, with no reduction across invocations: a workgroup per row would
 * leave most of its invocations idle and pay a barrier tree per reduction (a written-out
 * softmax over 8 elements ran 20× slower that way on llvmpipe). Longer rows take a
 * workgroup, as GPUs want. `KernelTarget.rowUnits` (tuned per adapter, codegen/tune/rows.ts)
 * overrides it: on llvmpipe tuning picks 256 (an invocation per row up to 1024 elements);
 * there the portable kernels win with an invocation per row even at 8192 elements, while
 * the subgroup kernels keep a subgroup per row for rows of 4096.
 */
export const ROW_PER_INVOCATION_UNITS = 16;

/**
 * A kernel over `rows` rows of `len` elements: a workgroup (or one subgroup) per row, or
 * for short rows an invocation per row. `body` gets the frame: the invocation's loop over
 * its share, the reduction across the row's invocations and the buffer views.
 */
export function rowKernel(name: string, rows: number, len: number, elem: Scalar, target: KernelTarget, body: (fr: RowFrame) => void): Kernel {
  const width: 1 | 4 = len % 4 === 0 ? 4 : 1;
  const units = len / width;
  const alone = units < (target.rowUnits ?? ROW_PER_INVOCATION_UNITS) || !rowsShareable(len);
  const lanes = alone ? undefined : target.subgroupSize;
  const wg = lanes ?? WG;
  const buffers: BufferDecl[] = [];
  const b = new Block();
  let row: Expr;
  let t: Expr;
  let dispatch: [number, number, number];
  if (alone) {
    // No barriers here, so invocations past the last row may simply return.
    ({ index: row, dispatch } = flatGrid(b, 'row', rows, WG));
    t = u(0);
  } else {
    dispatch = foldGroups(rows);
    const [x, y] = dispatch;
    const wid = builtin('workgroup_id');
    row = b.let('row', y > 1 ? wid.x.add(wid.y.mul(x)) : wid.x);
    // Uniform per workgroup (it depends on the workgroup id only), so no barrier is skipped by part of one.
    if (x * y !== rows) b.if(row.ge(rows), (g) => g.return());
    t = b.let('t', lanes ? builtin('subgroup_invocation_id') : builtin('local_invocation_id').x);
  }
  const base = b.let('base', row.mul(units));
  const red = ref('red', arrayOf(elem, wg));
  let reductions = 0;
  const vt = (s: Scalar): Scalar | VecType => (width === 4 ? vec(4, s) : s);
  const fr: RowFrame = {
    b,
    width,
    elem,
    row,
    each: (blk, fn) => blk.for('j', t, units, (j, inner) => fn(inner, base.add(j), j), alone ? 1 : wg),
    reduce: (blk, v, op) => {
      const name = `${op}_all${reductions++ || ''}`;
      if (alone) return v;
      if (lanes) return blk.let(name, op === 'sum' ? subgroupAdd(v) : op === 'max' ? subgroupMax(v) : subgroupMin(v));
      blk.set(red.at(t), v);
      blk.barrier();
      for (let s = wg / 2; s >= 1; s /= 2) {
        blk.if(t.lt(s), (g) => g.set(red.at(t), combine(red.at(t), red.at(t.add(s)), op)));
        blk.barrier();
      }
      const r = blk.let(name, red.at(0));
      blk.barrier(); // every invocation has read red[0] before it is reused
      return r;
    },
    once: (blk, fn) => (alone ? fn(blk) : blk.if(t.eq(0), fn)),
    view: (n, access, v, scalar) => {
      const s: Scalar = storageOf(v) === 'i32' ? 'i32' : 'f32';
      return fr.bind({ name: n, access, elem: scalar ? s : vt(s), storage: storageOf(v), value: v.id });
    },
    bind: (decl) => {
      buffers.push(decl);
      return bufferRef(decl);
    },
    horizontal: (blk, v, op) => {
      if (typeof v.type !== 'object') return v;
      const h = v.node.k === 'ref' ? v : blk.let('h', v);
      return combine(combine(h.x, h.y, op), combine(h.z, h.w, op), op);
    },
  };
  body(fr);
  const per = alone ? 'one invocation per row' : `${lanes ? `one subgroup of ${lanes}` : `${wg} invocations`} per row`;
  return {
    name: `${name}_rows`,
    doc: [`${rows} rows of ${len}, ${per}${width === 4 ? ', four-wide' : ''}`],
    enables: lanes ? ['subgroups'] : [],
    consts: [],
    buffers,
    shared: lanes || alone ? [] : [{ name: 'red', type: arrayOf(elem, wg) }],
    workgroupSize: [wg, 1, 1],
    dispatch,
    body: b.stmts,
  };
}

const lastAxis = (node: Node, g: Graph) => {
  const x = g.values[node.inputs[0]!]!;
  const shape = shapeOf(x);
  const axis = node.attrs['axis'] as number | undefined;
  const len = shape[shape.length - 1]!;
  return { x, len, rows: numel(shape) / len, last: axis === undefined || axis === shape.length - 1 || axis === -1 };
};

/** Whether the row kernels apply: a reduction over the last axis (other axes take reduce.ts's kernels). */
export const rowKernelApplies = (node: Node, g: Graph): boolean => lastAxis(node, g).last;

/** The row length of a node that takes a row kernel (a fused rows body's or a last-axis reduction's), else undefined. */
export function rowLength(node: Node, g: Graph): number | undefined {
  if (node.body?.kind === 'rows') return node.body.domain![node.body.domain!.length - 1];
  return rowKernelApplies(node, g) ? lastAxis(node, g).len : undefined;
}

/** sum, mean, max, min over the last axis. */
export function rowReduceKernel(node: Node, g: Graph, target: KernelTarget): KernelSpec {
  const { x, len, rows } = lastAxis(node, g);
  const out = g.values[node.outputs[0]!]!;
  const elem: Scalar = storageOf(x) === 'i32' ? 'i32' : 'f32';
  const op = rowOpOf(node.op)!;
  const identity = rowIdentity(op, elem);
  return toSpec(
    rowKernel(node.op, rows, len, elem, target, (fr) => {
      const X = fr.view('x', 'read', x);
      const OUT = fr.view('out', 'read_write', out, true);
      const acc = fr.b.var('acc', elem, identity);
      fr.each(fr.b, (b, at) => b.set(acc, combine(acc, fr.horizontal(b, X.at(at), op), op)));
      const all = fr.reduce(fr.b, acc, op);
      fr.once(fr.b, (b) => b.set(OUT.at(fr.row), node.op === 'mean' ? all.div(elem === 'i32' ? i(len) : f(len)) : all));
    }),
    target,
  );
}

/** softmax and log_softmax over the last axis: max, then the sum of exponentials, then the output. */
export function rowSoftmaxKernel(node: Node, g: Graph, target: KernelTarget): KernelSpec {
  const { x, len, rows } = lastAxis(node, g);
  const out = g.values[node.outputs[0]!]!;
  return toSpec(
    rowKernel(node.op, rows, len, 'f32', target, (fr) => {
      const X = fr.view('x', 'read', x);
      const OUT = fr.view('out', 'read_write', out);
      const w = (e: Expr) => (fr.width === 4 ? splat(vec(4, 'f32'), e) : e);
      // From -Infinity: a row of -Infinity then gives (-Inf) - (-Inf) = NaN, as the oracle does.
      const m = fr.b.var('m', 'f32', rowIdentity('max', 'f32'));
      fr.each(fr.b, (b, at) => b.set(m, max(m, fr.horizontal(b, X.at(at), 'max'))));
      const mAll = fr.reduce(fr.b, m, 'max');
      const s = fr.b.var('s', 'f32', f(0));
      fr.each(fr.b, (b, at) => b.set(s, s.add(fr.horizontal(b, exp(X.at(at).sub(mAll)), 'sum'))));
      const sAll = fr.reduce(fr.b, s, 'sum');
      if (node.op === 'log_softmax') {
        const shift = fr.b.let('shift', mAll.add(log(sAll)));
        fr.each(fr.b, (b, at) => b.set(OUT.at(at), X.at(at).sub(w(shift))));
      } else {
        const inv = fr.b.let('inv', f(1).div(sAll));
        fr.each(fr.b, (b, at) => b.set(OUT.at(at), exp(X.at(at).sub(mAll)).mul(inv)));
      }
    }),
    target,
  );
}

/** layer_norm (mean, then the variance about it, two reductions) and rms_norm (one), with optional weight and bias. */
export function rowNormKernel(node: Node, g: Graph, target: KernelTarget): KernelSpec {
  const [x, ...rest] = node.inputs.map((id) => g.values[id]!);
  const out = g.values[node.outputs[0]!]!;
  const { len, rows } = lastAxis(node, g);
  const hasW = !!node.attrs['has_weight'];
  const hasB = !!node.attrs['has_bias'];
  const eps = node.attrs['eps'] as number;
  return toSpec(
    rowKernel(node.op, rows, len, 'f32', target, (fr) => {
      const X = fr.view('x', 'read', x!);
      let k = 0;
      const W = hasW ? fr.view('w', 'read', rest[k++]!) : undefined;
      const B = hasB ? fr.view('bias', 'read', rest[k++]!) : undefined;
      const OUT = fr.view('out', 'read_write', out);
      const sq = (b: Block, e: Expr) => {
        const d = b.let('d', e);
        return d.mul(d);
      };
      let center: Expr | undefined;
      let r: Expr;
      if (node.op === 'layer_norm') {
        const s = fr.b.var('s', 'f32', f(0));
        fr.each(fr.b, (b, at) => b.set(s, s.add(fr.horizontal(b, X.at(at), 'sum'))));
        center = fr.b.let('mean', fr.reduce(fr.b, s, 'sum').div(f(len)));
        const v = fr.b.var('v', 'f32', f(0));
        fr.each(fr.b, (b, at) => b.set(v, v.add(fr.horizontal(b, sq(b, X.at(at).sub(center!)), 'sum'))));
        r = fr.b.let('r', inverseSqrt(fr.reduce(fr.b, v, 'sum').div(f(len)).add(f(eps))));
      } else {
        const ss = fr.b.var('ss', 'f32', f(0));
        fr.each(fr.b, (b, at) => b.set(ss, ss.add(fr.horizontal(b, sq(b, X.at(at)), 'sum'))));
        r = fr.b.let('r', inverseSqrt(fr.reduce(fr.b, ss, 'sum').div(f(len)).add(f(eps))));
      }
      fr.each(fr.b, (b, at, j) => {
        let y = (center ? X.at(at).sub(center) : X.at(at)).mul(r);
        if (W) y = y.mul(W.at(j));
        if (B) y = y.add(B.at(j));
        b.set(OUT.at(at), y);
      });
    }),
    target,
  );
}
