/**
 * A fused body (compiler/ir.ts `FusedBody`) as kernel IR: one `let` per step, computed
 * `w` elements at a time (w = 4: every value is a vec4 and every builtin works per
 * component). Single element-wise ops use it too (one step). A step's formula is its
 * op's element-wise body (compiler/ops), built on `kirMath`, which writes what WGSL lacks
 * with selects instead of branches so it works on vectors: tanh through a clamped exp,
 * erf by Abramowitz–Stegun 7.1.26, pow with NumPy's sign rule.
 */
import type { FusedBody, FusedStep, InputView, Value } from '../../../compiler/ir.js';
import { elementwiseOf } from '../../../compiler/ops/registry.js';
import type { ScalarMath } from '../../../compiler/ops/scalar.js';
import type { DType } from '../../../compiler/types.js';
import { bufferRef, type Block } from '../../kir/build.js';
import {
  call,
  construct,
  exp,
  lit,
  max,
  min,
  neg,
  scalarOf,
  select,
  splat,
  u,
  vec,
  type BufferDecl,
  type Expr,
  type Scalar,
  type Type,
  type VecType,
} from '../../kir/ir.js';
import { shapeOf, storageOf, storageScalar } from '../kernel.js';
import { numel, stridesOf } from '../../../layout/mesh.js';

export type Width = 1 | 4;

/** The kir type of `w` elements of scalar `s`. */
export const wide = (s: Scalar, w: Width): Scalar | VecType => (w === 4 ? vec(4, s) : s);
/** `x` as a constant of type `t` (splatted for a vector). */
export const constant = (x: number, t: Type): Expr => {
  const s = lit(scalarOf(t), x);
  return typeof t === 'object' ? splat(t as VecType, s) : s;
};
const fn = (name: string, a: Expr, ...rest: Expr[]) => call(name, a.type, a, ...rest);
export const widen = (e: Expr, to: Type) => (typeof to === 'object' && typeof e.type !== 'object' ? splat(to as VecType, e) : e);

/** Output k of n of a fused node, `w` wide (a per-row output of a rows body is one wide). */
export const outputDecl = (v: Value, k: number, n: number, w: Width): BufferDecl => ({
  name: n === 1 ? 'out' : `out${k}`,
  access: 'read_write',
  elem: wide(storageScalar(v.type.dtype), w),
  storage: storageOf(v),
  value: v.id,
});

/**
 * The coordinates of flat index `index` in `shape`, each a let `c<d>` of `b` made on
 * first use: index / (stride of d in units of `unit`) mod shape[d] (the first dim
 * without the mod). `unit` must divide the strides asked for.
 */
export function coordLets(b: Block, index: Expr, shape: readonly number[], unit = 1): (d: number) => Expr {
  const strides = stridesOf(shape);
  const made = new Map<number, Expr>();
  return (d) => {
    let c = made.get(d);
    if (!c) {
      const q = index.div(strides[d]! / unit);
      made.set(d, (c = b.let(`c${d}`, d === 0 ? q : q.mod(shape[d]!))));
    }
    return c;
  };
}

/**
 * An input of a fused body, broadcast into `domain` and read `w` elements at a time:
 * viewed four-wide when it varies along the last dim (w = 4), else one-wide and splatted.
 * Read through a `view` (a transpose or slice the body absorbed, compiler/ir.ts
 * InputView), it is a tensor of the view's shape at the view's strides and offset; the
 * caller chooses w = 4 only where viewVec4 allows it.
 */
export interface BroadcastInput {
  readonly decl: BufferDecl;
  /**
   * Its index for the element whose coordinates `coord(d)` gives (the last one in units
   * of w), or `whole` when it has the domain's shape; it only asks for the dims it varies along.
   */
  offset(coord: (d: number) => Expr, whole: Expr): Expr;
  /** Loads it into a let `name` of `b`, w wide. */
  load(b: Block, name: string, index: Expr): Expr;
}

/**
 * Whether an input read through `view` can be loaded four elements at a time in a
 * domain whose last dim is `last`: it runs along the last dim with unit stride, from
 * whole groups of four.
 */
export const viewVec4 = (view: InputView, last: number): boolean =>
  view.shape[view.shape.length - 1] !== last ||
  numel(view.shape) === 1 ||
  (view.strides[view.strides.length - 1] === 1 &&
    view.offset % 4 === 0 &&
    view.strides.every((st, d) => view.shape[d] === 1 || d === view.strides.length - 1 || st % 4 === 0));

export function broadcastInput(name: string, v: Value, domain: readonly number[], w: Width, view?: InputView): BroadcastInput {
  const r = domain.length;
  const shape = view?.shape ?? shapeOf(v);
  const pad = [...new Array<number>(r - shape.length).fill(1), ...shape];
  const one = numel(shape) === 1;
  const same = !view && pad.every((d, i) => d === domain[i]);
  const vec4 = w === 4 && !one && pad[r - 1] === domain[r - 1];
  const strides = view ? [...new Array<number>(r - shape.length).fill(0), ...view.strides] : stridesOf(pad);
  const unit = vec4 ? 4 : 1;
  const s = storageScalar(v.type.dtype);
  const decl: BufferDecl = { name, access: 'read', elem: wide(s, vec4 ? 4 : 1), storage: storageOf(v), value: v.id };
  return {
    decl,
    offset: (coord, whole) => {
      if (same) return whole;
      let index = u((view?.offset ?? 0) / unit);
      if (one) return index;
      for (let d = 0; d < r; d++) {
        if (pad[d] === 1) continue;
        // The last coordinate of a four-wide view counts groups of four already.
        index = index.add(d === r - 1 && (vec4 || strides[d] === 1) ? coord(d) : coord(d).mul(strides[d]! / unit));
      }
      return index;
    },
    load: (b, let_, index) => b.let(let_, widen(bufferRef(decl).at(index), wide(s, w))),
  };
}

/**
 * Emits the steps of `body` into `b`, `w` elements at a time. `operand(i)` is input i of
 * the node at this element, already `w` wide; `first` is step 0's value when the caller
 * computed it (a matmul's accumulator). `prefix` names the lets. Returns every step's value.
 */
export function emitBody(b: Block, body: FusedBody, w: Width, operand: (i: number) => Expr, prefix: string, first?: Expr): Expr[] {
  const vals: Expr[] = [];
  body.steps.forEach((s, k) => {
    if (k === 0 && first) {
      vals.push(first);
      return;
    }
    const args = s.args.map((a) => (a.k === 'input' ? operand(a.i) : a.k === 'step' ? vals[a.i]! : constant(a.value, wide(storageScalar(a.dtype), w))));
    vals.push(emitStep(b, s, args, `${prefix}${k}`, w));
  });
  return vals;
}

/** One element-wise step on `args` (each `w` wide), as a let `name` of `b`. */
export const emitStep = (b: Block, s: FusedStep, args: readonly Expr[], name: string, w: Width): Expr => b.let(name, stepExpr(b, s, args, `${name}_`, w));

function stepExpr(b: Block, s: FusedStep, args: readonly Expr[], tmp: string, w: Width): Expr {
  const e = elementwiseOf(s.op, s.attrs);
  if (!e) throw new Error(`fused kernel: no element-wise formula for '${s.op}'`);
  return e.body(kirMath(b, s.dtype, w, tmp), args, s.attrs);
}

/**
 * The element-wise math (compiler/ops/scalar.ts) as kernel IR, for a step of dtype
 * `dtype` computed `w` elements at a time; the polyfills' temporaries are lets of `b`
 * named from `tmp` (`v3_e`, then `v3_1_e`, … if a body uses several).
 */
function kirMath(b: Block, dtype: DType, w: Width, tmp: string): ScalarMath<Expr> {
  const t = wide(storageScalar(dtype), w);
  const c = (x: number) => constant(x, t);
  const int = storageScalar(dtype) === 'i32';
  let polyfills = 0;
  const fresh = () => (polyfills++ ? `${tmp}${polyfills - 1}_` : tmp);
  return {
    k: c,
    add: (a, y) => a.add(y),
    sub: (a, y) => a.sub(y),
    mul: (a, y) => a.mul(y),
    div: (a, y) => (int ? select(a.div(y), c(0), y.eq(c(0))) : a.div(y)),
    neg: (a) => neg(a),
    abs: (a) => fn('abs', a),
    exp: (a) => exp(a),
    log: (a) => fn('log', a),
    sqrt: (a) => fn('sqrt', a),
    rsqrt: (a) => fn('inverseSqrt', a),
    tanh: (a) => tanh(b, a, fresh()),
    erf: (a) => erf(b, a, fresh()),
    max: (a, y) => max(a, y),
    min: (a, y) => min(a, y),
    pow: (a, y) => {
      if (!int) return pow(b, a, y, fresh());
      const ft = wide('f32', w);
      return construct(t, fn('round', pow(b, construct(ft, a), construct(ft, y), fresh())));
    },
    where: (cond, a, y) => select(y, a, cond.ne(constant(0, cond.type))),
    cast: (a) => {
      if (dtype === 'bool') return select(c(0), c(1), a.ne(constant(0, a.type)));
      const from = scalarOf(a.type);
      if (int && from === 'f32') return construct(t, fn('trunc', a));
      if (!int && from === 'i32') return construct(t, a);
      return a;
    },
  };
}

/** tanh through exp with the argument clamped, so large |x| gives ±1, not NaN. */
function tanh(b: Block, x: Expr, tmp: string): Expr {
  const e = b.let(`${tmp}e`, exp(fn('clamp', x, constant(-15, x.type), constant(15, x.type)).mul(2)));
  return e.sub(1).div(e.add(1));
}

/** erf by Abramowitz–Stegun 7.1.26 (|error| < 1.5e-7): WGSL has no erf builtin. */
function erf(b: Block, arg: Expr, tmp: string): Expr {
  const x = b.let(`${tmp}x`, arg);
  const ax = b.let(`${tmp}a`, fn('abs', x));
  const t = b.let(`${tmp}t`, constant(1, x.type).div(ax.mul(0.3275911).add(1)));
  const poly = t.mul(1.061405429).sub(1.453152027).mul(t).add(1.421413741).mul(t).sub(0.284496736).mul(t).add(0.254829592).mul(t);
  return fn('sign', x).mul(constant(1, x.type).sub(poly.mul(exp(neg(ax.mul(ax))))));
}

/**
 * a ** b with WGSL's pow (exp2(b·log2 a)) on |a|: an integral b keeps the sign rule
 * (odd powers of negatives are negative), a negative a to a fractional b is NaN, and
 * anything to the 0 is 1.
 */
function pow(b: Block, a: Expr, e: Expr, tmp: string): Expr {
  const t = a.type;
  const m = b.let(`${tmp}m`, fn('pow', fn('abs', a), e));
  const half = fn('floor', e.mul(0.5));
  const odd = half.mul(2).ne(e);
  const fractional = fn('floor', e).ne(e);
  // A NaN made at run time: a constant 0.0 / 0.0 is a shader-creation error.
  const nan = a.sub(a).div(a.sub(a));
  const negative = select(select(m, neg(m), odd), nan, fractional);
  return select(select(m, negative, a.lt(constant(0, t))), constant(1, t), e.eq(constant(0, t)));
}
