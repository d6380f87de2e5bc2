/**
 * What an element-wise op computes at one element, written once (its `elementwise.body`)
 * over an abstract set of scalar operations, and read three ways:
 * - the CPU reference evaluates it on float64 numbers (`numberMath`, exact tanh and erf);
 * - codegen builds kernel-IR expressions from it (codegen/kernels/fused/body.ts `kirMath`,
 *   WGSL with polyfills for what WGSL lacks or computes badly: tanh, erf, pow's sign rule);
 * - the FLOP count counts its operations (`bodyFlops`).
 *
 * A body is a function of the math, its operands and the op's attributes, e.g. silu:
 * `(m, [x]) => m.div(x, m.add(m.exp(m.neg(x)), 1))`. A JS number as the second operand of
 * add, sub, mul is a literal of the step's type; `k(x)` is the constant x of that type
 * (a vector's every component in a four-wide kernel). The step's dtype decides integer
 * semantics (i32 wraps, divides toward zero, x / 0 = 0), as WGSL's do.
 */
export interface ScalarMath<E> {
  /** The constant x, of the step's type. */
  k(x: number): E;
  add(a: E, b: E | number): E;
  sub(a: E, b: E | number): E;
  mul(a: E, b: E | number): E;
  div(a: E, b: E): E;
  neg(a: E): E;
  abs(a: E): E;
  exp(a: E): E;
  log(a: E): E;
  sqrt(a: E): E;
  /** 1 / sqrt(a). */
  rsqrt(a: E): E;
  tanh(a: E): E;
  erf(a: E): E;
  /** The larger of a and b; NaN when either is NaN (on the device too: docs/kernels.md, "NaN and infinity"). */
  max(a: E, b: E): E;
  /** The smaller of a and b; NaN when either is NaN. */
  min(a: E, b: E): E;
  /** a ** b with NumPy's sign rule: a negative base to an integral power keeps its sign, to a fractional one is NaN; x ** 0 = 1. */
  pow(a: E, b: E): E;
  /** `onTrue` where `cond` (of any dtype) is nonzero, else `onFalse`. */
  where(cond: E, onTrue: E, onFalse: E): E;
  /** `a` (of any dtype) converted to the step's dtype: toward zero to i32, nonzero to bool. */
  cast(a: E): E;
}

/** An element-wise op's body: its value at one element from its operands' values there. */
export type ElementwiseBody<A> = <E>(m: ScalarMath<E>, args: readonly E[], attrs: A) => E;

/** erf to double precision: a Maclaurin series for small |x|, a continued fraction for erfc beyond. */
export function erf(x: number): number {
  const ax = Math.abs(x);
  if (ax < 2.5) {
    let sum = x;
    let term = x;
    for (let n = 1; n < 60; n++) {
      term *= (-x * x) / n;
      const add = term / (2 * n + 1);
      sum += add;
      if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
    }
    return (2 / Math.sqrt(Math.PI)) * sum;
  }
  let f = 0;
  for (let n = 60; n >= 1; n--) f = n / 2 / (ax + f);
  const erfc = Math.exp(-ax * ax) / Math.sqrt(Math.PI) / (ax + f);
  return Math.sign(x) * (1 - erfc);
}

const trunc32 = (x: number) => Math.trunc(x) | 0;
const powSigned = (a: number, b: number) => (b === 0 ? 1 : Math.pow(a, b));

/** The float64 math of a step whose result has dtype `dtype` (the CPU reference). */
export function numberMath(dtype: string): ScalarMath<number> {
  const int = dtype === 'i32' || dtype === 'bool';
  return {
    k: (x) => x,
    // i32 arithmetic wraps (two's complement), as WGSL's does.
    add: int ? (a, b) => (a + b) | 0 : (a, b) => a + b,
    sub: int ? (a, b) => (a - b) | 0 : (a, b) => a - b,
    mul: int ? (a, b) => Math.imul(a, b) : (a, b) => a * b,
    div: int ? (a, b) => (b === 0 ? 0 : trunc32(a / b)) : (a, b) => a / b,
    neg: (a) => -a,
    abs: Math.abs,
    exp: Math.exp,
    log: Math.log,
    sqrt: Math.sqrt,
    rsqrt: (a) => 1 / Math.sqrt(a),
    tanh: Math.tanh,
    erf,
    max: Math.max,
    min: Math.min,
    pow: int ? (a, b) => trunc32(powSigned(a, b)) : powSigned,
    where: (c, a, b) => (c !== 0 ? a : b),
    cast: dtype === 'bool' ? (a) => (a !== 0 ? 1 : 0) : dtype === 'i32' ? trunc32 : Math.fround,
  };
}

/**
 * FLOPs per element of a body: one per operation, whatever it costs on a device (an exp
 * and an add both count 1); constants and conversions (`cast`) count none. The count
 * runs the body once, on dummy operands.
 */
export function bodyFlops<A>(body: ElementwiseBody<A>, arity: number, attrs: A): number {
  let n = 0;
  const op = () => {
    n++;
    return 0;
  };
  const m: ScalarMath<number> = {
    k: () => 0,
    cast: () => 0,
    add: op,
    sub: op,
    mul: op,
    div: op,
    neg: op,
    abs: op,
    exp: op,
    log: op,
    sqrt: op,
    rsqrt: op,
    tanh: op,
    erf: op,
    max: op,
    min: op,
    pow: op,
    where: op,
  };
  body(m, new Array<number>(arity).fill(0), attrs);
  return n;
}
