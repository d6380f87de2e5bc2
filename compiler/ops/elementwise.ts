import type { Dim } from '../dims.js';
import { isFloat, printType, type DType } from '../types.js';
import type { GradRule } from './grad-ctx.js';
import { defineInternalOp, defineOp, type OpDef, type OpFacets } from './op.js';
import { erf, type ElementwiseBody, type ScalarMath } from './scalar.js';
import { elementwiseSharding, type Linearity } from './sharding.js';
import { broadcast, requireFloat, sameDtype, t } from './signature.js';
import { broadcastIndex, forEachCoord, zeros, type RefBlock, type RefOp, type RefTensor } from './tensor.js';
import { numel, stridesOf } from '../../layout/mesh.js';

/**
 * Element-wise ops: each output element from the operands' elements at its broadcast
 * index. An op here is its body (scalar.ts) plus its signature, gradient and sharding;
 * its CPU reference, fused kernel and FLOPs come from the body. docs/adding-an-op.md
 * adds one.
 */

/** GPT-2's GELU: ½x(1 + tanh(√(2/π)(x + 0.044715x³))). */
const geluTanh = <E>(m: ScalarMath<E>, x: E): E =>
  m.mul(m.mul(x, 0.5), m.add(m.tanh(m.mul(m.add(x, m.mul(m.mul(m.mul(x, x), x), 0.044715)), Math.sqrt(2 / Math.PI))), 1));

/** The gradient of y = f(x) as g · f'(x), by the backward op unary_grad with derivative `fn` (below). */
const viaDerivative =
  (fn: string): GradRule<unknown> =>
  (c, [x], _o, [g]) => [g && c.unaryGrad(fn, g, x!)];

interface Unary {
  readonly doc: string;
  readonly body: ElementwiseBody<unknown>;
  readonly grad: GradRule<unknown>;
  /** Integer operands allowed (neg, abs, relu). */
  readonly ints?: boolean;
  readonly linear?: Linearity;
}

const UNARY: Readonly<Record<string, Unary>> = {
  neg: { doc: 'Negation, -x.', body: (m, [x]) => m.neg(x!), grad: (c, _i, _o, [g]) => [g && c.op('neg', [g], g.type)], ints: true, linear: 'joint' },
  exp: { doc: 'Elementwise e^x.', body: (m, [x]) => m.exp(x!), grad: (c, _i, [y], [g]) => [g && c.bin('mul', g, y!)] },
  log: { doc: 'Elementwise natural logarithm.', body: (m, [x]) => m.log(x!), grad: (c, [x], _o, [g]) => [g && c.bin('div', g, x!)] },
  sqrt: { doc: 'Elementwise square root.', body: (m, [x]) => m.sqrt(x!), grad: viaDerivative('sqrt') },
  rsqrt: { doc: 'Elementwise 1/sqrt(x).', body: (m, [x]) => m.rsqrt(x!), grad: viaDerivative('rsqrt') },
  tanh: { doc: 'Elementwise hyperbolic tangent.', body: (m, [x]) => m.tanh(x!), grad: viaDerivative('tanh') },
  sigmoid: { doc: 'Elementwise logistic function 1/(1+e^-x).', body: (m, [x]) => m.div(m.k(1), m.add(m.exp(m.neg(x!)), 1)), grad: viaDerivative('sigmoid') },
  relu: { doc: 'Elementwise max(x, 0).', body: (m, [x]) => m.max(x!, m.k(0)), grad: viaDerivative('relu'), ints: true },
  silu: { doc: 'Elementwise x·sigmoid(x) (swish).', body: (m, [x]) => m.div(x!, m.add(m.exp(m.neg(x!)), 1)), grad: viaDerivative('silu') },
  abs: { doc: 'Elementwise absolute value.', body: (m, [x]) => m.abs(x!), grad: viaDerivative('abs'), ints: true },
  fast_gelu: { doc: 'GELU, tanh approximation (GPT-2\'s "gelu_new").', body: (m, [x]) => geluTanh(m, x!), grad: viaDerivative('gelu_tanh') },
  softplus: {
    doc: 'Elementwise log(1 + e^x), a smooth relu.',
    // As max(x, 0) + log(1 + e^-|x|): e^x would overflow f32 past x ≈ 88.
    body: (m, [x]) => m.add(m.max(x!, m.k(0)), m.log(m.add(m.exp(m.neg(m.abs(x!))), 1))),
    // d/dx softplus(x) = sigmoid(x).
    grad: (c, [x], _o, [g]) => [g && c.bin('mul', g, c.op('sigmoid', [x!], x!.type))],
  },
};

const unary = (name: string, u: Unary): OpDef =>
  defineOp<unknown>({
    name,
    cls: 'injective',
    doc: u.doc,
    args: [{ name: 'x', kind: 'tensor' }],
    infer: (c) => {
      const x = c.tensor('x');
      if (!u.ints && !requireFloat(c, 'x', x)) return undefined;
      return [t(x.dtype, x.dims)];
    },
    elementwise: { body: u.body },
    grad: u.grad,
    sharding: elementwiseSharding(u.linear),
    kernel: 'elementwise',
  });

/** `a` and `b` gradients summed back to their (broadcast) shapes. */
const binary = (name: string, doc: string, body: ElementwiseBody<unknown>, grad: GradRule<unknown>, linear?: Linearity): OpDef =>
  defineOp<unknown>({
    name,
    cls: 'injective',
    doc,
    args: [
      { name: 'a', kind: 'tensor' },
      { name: 'b', kind: 'tensor' },
    ],
    infer: (c) => {
      const a = c.tensor('a');
      const b = c.tensor('b');
      if (!sameDtype(c, a, b)) return undefined;
      const dims = broadcast(c, a, b);
      return dims && [t(a.dtype, dims)];
    },
    elementwise: { body },
    grad,
    sharding: elementwiseSharding(linear),
    kernel: 'elementwise',
  });

/** maximum/minimum: the gradient goes to the side that won (minmax_grad). */
const minmaxGrad =
  (op: string): GradRule<unknown> =>
  (c, [a, b], _o, [g]) =>
    [0, 1].map((side) => g && c.sumTo(c.op('minmax_grad', [g, a!, b!], g.type, { op, side }), [a!, b!][side]!.type));

export type GeluAttrs = { readonly approximate: 'none' | 'tanh' };
export type ExpandAttrs = { readonly shape: readonly Dim[] };
export type CastAttrs = { readonly dtype: DType };
/** `training` and `mask_id` are set by elaboration (compiler/elaborate.ts). */
export type DropoutAttrs = { readonly p: number; readonly seed: number; readonly training?: boolean; readonly mask_id?: number };

const dropsInTraining = (a: DropoutAttrs) => !!a.training && a.p > 0;

/** The hash the dropout kernel uses, bit for bit. */
export function hashU32(x: number): number {
  let h = x >>> 0;
  h = (h ^ (h >>> 16)) >>> 0;
  h = Math.imul(h, 0x7feb352d) >>> 0;
  h = (h ^ (h >>> 15)) >>> 0;
  h = Math.imul(h, 0x846ca68b) >>> 0;
  h = (h ^ (h >>> 16)) >>> 0;
  return h;
}

/** The mask seed of a dropout node, as the kernel derives it: from its `seed` attribute and its mask id (its `mask_id`, else its node id). */
export const dropoutSeed = (seedAttr: number, maskId: number) => (seedAttr * 0x9e3779b1 + maskId * 0x85ebca6b) >>> 0;

/** The threshold a hash must reach for its element to be kept: p of the 2^32 hash values fall below it. */
export const dropoutThreshold = (p: number) => Math.min(4294967295, Math.floor(p * 4294967296)) >>> 0;

/**
 * The hash that decides element g's fate: hash(hash(g ^ seed) ^ hash(counter)), where
 * `counter` is the training step's `dropout_step` input (compiler/train/dropout-step.ts; 0
 * for a dropout that reads none). hashU32 is a bijection, so distinct counters give
 * distinct keys; the key enters after a first round, so two counters' masks are not a
 * permutation of each other (hash(g ^ key) alone would make mask_c2[g] = mask_c1[g ^ d]).
 */
export const dropoutHash = (g: number, seed: number, counter: number) => hashU32((hashU32((g ^ seed) >>> 0) ^ hashU32(counter)) >>> 0);

/**
 * Dropout in training mode, with the kernel's hash and seed derivation: `maskId` is the
 * node's mask_id (else its id), `counter` the step's dropout counter. Element e is kept
 * when dropoutHash(g, seed, counter) reaches the threshold, where g is e's row-major index
 * in the whole tensor (modulo 2^32, as the kernel's u32 arithmetic has it): `block` says
 * where x lies in it (absent: x is whole). A device computing its block of a partitioned
 * dropout so draws the very elements of the mask that the unpartitioned dropout draws there.
 */
export function dropoutTraining(x: RefTensor, p: number, seedAttr: number, maskId: number, block?: RefBlock, counter = 0): RefTensor {
  const seed = dropoutSeed(seedAttr, maskId);
  const threshold = dropoutThreshold(p);
  const scale = Math.fround(1 / (1 - p));
  const out = zeros(x.shape);
  const strides = stridesOf(block?.global ?? x.shape);
  const start = block?.start ?? x.shape.map(() => 0);
  forEachCoord(x.shape, (c, i) => {
    let g = 0;
    for (let d = 0; d < c.length; d++) g += (c[d]! + start[d]!) * strides[d]!;
    out.data[i] = dropoutHash(g >>> 0, seed, counter >>> 0) >= threshold ? x.data[i]! * scale : 0;
  });
  return out;
}

export const elementwiseOps: OpDef[] = [
  ...Object.entries(UNARY).map(([n, u]) => unary(n, u)),
  defineOp<GeluAttrs>({
    name: 'gelu',
    cls: 'injective',
    doc: "Gaussian error linear unit. approximate = 'none' (exact, erf) or 'tanh' (the fast form).",
    args: [
      { name: 'x', kind: 'tensor' },
      { name: 'approximate', kind: 'str', default: 'none', choices: ['none', 'tanh'], kwOnly: true },
    ],
    infer: (c) => {
      const x = c.tensor('x');
      return requireFloat(c, 'x', x) ? [t(x.dtype, x.dims)] : undefined;
    },
    elementwise: { body: (m, [x], a) => (a.approximate === 'tanh' ? geluTanh(m, x!) : m.mul(m.mul(x!, 0.5), m.add(m.erf(m.mul(x!, Math.SQRT1_2)), 1))) },
    grad: (c, [x], _o, [g], a) => [g && c.unaryGrad(a.approximate === 'tanh' ? 'gelu_tanh' : 'gelu', g, x!)],
    sharding: elementwiseSharding(),
    kernel: 'elementwise',
  }),
  binary(
    'add',
    'Elementwise a + b with broadcasting.',
    (m, [a, b]) => m.add(a!, b!),
    (c, [a, b], _o, [g]) => [g && c.sumTo(g, a!.type), g && c.sumTo(g, b!.type)],
    'joint',
  ),
  binary(
    'sub',
    'Elementwise a - b with broadcasting.',
    (m, [a, b]) => m.sub(a!, b!),
    (c, [a, b], _o, [g]) => [g && c.sumTo(g, a!.type), g && c.sumTo(c.op('neg', [g], g.type), b!.type)],
    'joint',
  ),
  binary(
    'mul',
    'Elementwise a * b with broadcasting.',
    (m, [a, b]) => m.mul(a!, b!),
    (c, [a, b], _o, [g]) => [g && c.sumTo(c.bin('mul', g, b!), a!.type), g && c.sumTo(c.bin('mul', g, a!), b!.type)],
    'single',
  ),
  binary(
    'div',
    'Elementwise a / b with broadcasting.',
    (m, [a, b]) => m.div(a!, b!),
    (c, [a, b], [y], [g]) => {
      if (!g) return [];
      const ga = c.bin('div', g, b!);
      return [c.sumTo(ga, a!.type), c.sumTo(c.op('neg', [c.bin('mul', ga, y!)], g.type), b!.type)];
    },
    'first',
  ),
  binary(
    'pow',
    'Elementwise a ** b with broadcasting.',
    (m, [a, b]) => m.pow(a!, b!),
    (c, [a, b], [y], [g]) => {
      if (!g) return [];
      const one = c.scalar(1, a!.type.dtype);
      const ga = c.bin('mul', c.bin('mul', g, b!), c.bin('pow', a!, c.bin('sub', b!, one)));
      const gb = c.bin('mul', c.bin('mul', g, y!), c.op('log', [a!], a!.type));
      return [c.sumTo(ga, a!.type), c.sumTo(gb, b!.type)];
    },
  ),
  binary('maximum', 'Elementwise max(a, b) with broadcasting.', (m, [a, b]) => m.max(a!, b!), minmaxGrad('maximum')),
  binary('minimum', 'Elementwise min(a, b) with broadcasting.', (m, [a, b]) => m.min(a!, b!), minmaxGrad('minimum')),
  defineOp<unknown>({
    name: 'where',
    cls: 'injective',
    doc: 'where(cond, a, b): a where cond is nonzero, else b; all three broadcast.',
    args: [
      { name: 'cond', kind: 'tensor' },
      { name: 'a', kind: 'tensor' },
      { name: 'b', kind: 'tensor' },
    ],
    infer: (c) => {
      const cond = c.tensor('cond');
      const a = c.tensor('a');
      const b = c.tensor('b');
      if (!sameDtype(c, a, b)) return undefined;
      const ab = broadcast(c, a, b);
      if (!ab) return undefined;
      const dims = broadcast(c, cond, t(a.dtype, ab));
      return dims && [t(a.dtype, dims)];
    },
    elementwise: { body: (m, [cond, a, b]) => m.where(cond!, a!, b!) },
    grad: (c, [cond, a, b], _o, [g]) => {
      if (!g) return [];
      const zero = c.scalar(0, g.type.dtype);
      return [undefined, c.sumTo(c.op('where', [cond!, g, zero], g.type), a!.type), c.sumTo(c.op('where', [cond!, zero, g], g.type), b!.type)];
    },
    sharding: elementwiseSharding(),
    kernel: 'elementwise',
  }),
  defineOp<ExpandAttrs>({
    name: 'expand',
    cls: 'injective',
    doc: 'expand(x, [d0, d1, ...]): broadcast x to a larger shape (NumPy rules), e.g. a class token to every batch row.',
    args: [
      { name: 'x', kind: 'tensor' },
      { name: 'shape', kind: 'dims' },
    ],
    infer: (c) => {
      const x = c.tensor('x');
      const target = t(x.dtype, c.dims('shape'));
      const dims = broadcast(c, x, target);
      if (!dims) return undefined;
      if (dims.length !== target.dims.length || dims.some((d, i) => printType(t(x.dtype, [d])) !== printType(t(x.dtype, [target.dims[i]!])))) {
        return c.error('MDC0202', printType(x), printType(target), 'its shape', 'the target');
      }
      return [target];
    },
    elementwise: { body: (_m, [x]) => x! },
    grad: (c, [x], _o, [g]) => [g && c.sumTo(g, x!.type)],
    sharding: elementwiseSharding('joint'),
    kernel: 'elementwise',
  }),
  defineOp<CastAttrs>({
    name: 'cast',
    cls: 'injective',
    doc: 'cast(x, dtype = "f32"): converts element type.',
    args: [
      { name: 'x', kind: 'tensor' },
      { name: 'dtype', kind: 'str', choices: ['f32', 'f16', 'bf16', 'i32', 'bool'] },
    ],
    infer: (c) => [t(c.str('dtype') as DType, c.tensor('x').dims)],
    elementwise: { body: (m, [x]) => m.cast(x!) },
    grad: (c, [x], _o, [g]) => [g && isFloat(x!.type.dtype) ? c.op('cast', [g], x!.type, { dtype: x!.type.dtype }) : undefined],
    // A sum of values rounded to integers is not the rounded sum: a pending sum is reduced first.
    sharding: (a, ins, outs) => elementwiseSharding(isFloat(a.dtype) ? 'joint' : 'none')(a, ins, outs),
    kernel: 'elementwise',
  }),
  defineOp<DropoutAttrs>({
    name: 'dropout',
    cls: 'injective',
    doc: 'dropout(x, p): in training zeroes each element with probability p and scales the rest by 1/(1-p); identity in inference.',
    args: [
      { name: 'x', kind: 'tensor' },
      { name: 'p', kind: 'float', default: 0.1 },
      { name: 'seed', kind: 'int', default: 0, kwOnly: true },
    ],
    infer: (c) => {
      const x = c.tensor('x');
      const p = c.num('p');
      if (!(p >= 0 && p < 1)) return c.error('MDC0211', 'dropout', `p must be in [0, 1), got ${p}`);
      return requireFloat(c, 'x', x) ? [t(x.dtype, x.dims)] : undefined;
    },
    // The mask is drawn from (seed, mask_id, element): copies of this node (autodiff, partitioning) keep the same mask.
    implicitAttrs: (c) => ({ training: c.training, mask_id: c.nodeId }),
    // Training: the step's i32 dropout counter, which the training step gives it (compiler/train/dropout-step.ts).
    implicitInputs: 1,
    // Training dropout draws its mask by the element's index in the whole tensor: not a body.
    elementwise: { body: (_m, [x]) => x!, when: (a) => !dropsInTraining(a) },
    // Input 1, when present, is the step's i32 dropout counter (compiler/train/dropout-step.ts).
    reference: ([x, counter], a, _s, _d, id, block) => [dropoutTraining(x!, a.p, a.seed, a.mask_id ?? id, block, counter?.data[0] ?? 0)],
    // The mask's multiply.
    flops: (_i, [o], a) => (dropsInTraining(a) ? numel(o!) : 0),
    // The same mask forward and backward: the node's attributes, mask_id included, and its counter.
    grad: (c, [, counter], _o, [g], a) => [g && (dropsInTraining(a) ? c.op('dropout', counter ? [g, counter] : [g], g.type, a) : g)],
    // Element-wise in training too: each device draws its block's part of the mask from the
    // global indices of its elements (the kernel gets the device's mesh coordinates). A
    // pending sum passes through: every device of a partial axis holds the same block, so
    // the same mask, and scaling each summand by it scales their sum. Linear in x alone: the
    // counter is a replicated scalar, never a pending sum.
    sharding: elementwiseSharding('first'),
    kernel: 'dropout',
  }),
];

// ------------------------------------------------------------------ backward-only ops

const SQRT_2_PI = Math.sqrt(2 / Math.PI);

/** f'(x) of the element-wise functions unary_grad differentiates (the ones with no cheaper form in terms of their output). */
const DERIV: Readonly<Record<string, (x: number) => number>> = {
  relu: (x) => (x > 0 ? 1 : 0),
  abs: (x) => (x > 0 ? 1 : x < 0 ? -1 : 0),
  gelu: (x) => 0.5 * (1 + erf(x / Math.SQRT2)) + (x * Math.exp(-0.5 * x * x)) / Math.sqrt(2 * Math.PI),
  gelu_tanh: (x) => {
    const u = SQRT_2_PI * (x + 0.044715 * x * x * x);
    const th = Math.tanh(u);
    return 0.5 * (1 + th) + 0.5 * x * (1 - th * th) * SQRT_2_PI * (1 + 3 * 0.044715 * x * x);
  },
  silu: (x) => {
    const s = 1 / (1 + Math.exp(-x));
    return s * (1 + x * (1 - s));
  },
  sigmoid: (x) => {
    const s = 1 / (1 + Math.exp(-x));
    return s * (1 - s);
  },
  tanh: (x) => 1 - Math.tanh(x) ** 2,
  exp: Math.exp,
  log: (x) => 1 / x,
  sqrt: (x) => 0.5 / Math.sqrt(x),
  rsqrt: (x) => -0.5 * Math.pow(x, -1.5),
};
export const UNARY_GRAD_FNS = Object.keys(DERIV);

export type UnaryGradAttrs = { readonly fn: string };
export type MinmaxGradAttrs = { readonly op: 'maximum' | 'minimum'; readonly side: number };

/** g · f'(x), elementwise; g and x have one shape. */
const unaryGradRef: RefOp<UnaryGradAttrs> = ([g, x], a) => {
  const f = DERIV[a.fn]!;
  const out = zeros(x!.shape);
  for (let i = 0; i < out.data.length; i++) out.data[i] = g!.data[i]! * f(x!.data[i]!);
  return [out];
};

/** maximum/minimum: the gradient goes to `a` where it won (ties to `a`), else to `b`; output has g's (broadcast) shape. */
const minmaxGradRef: RefOp<MinmaxGradAttrs> = ([g, a, b], attrs) => {
  const isMax = attrs.op === 'maximum';
  const shape = g!.shape;
  const ia = broadcastIndex(shape, a!.shape);
  const ib = broadcastIndex(shape, b!.shape);
  const out = zeros(shape);
  for (let i = 0; i < out.data.length; i++) {
    const x = a!.data[ia[i]!]!;
    const y = b!.data[ib[i]!]!;
    const aWins = isMax ? x >= y : x <= y;
    out.data[i] = aWins === (attrs.side === 0) ? g!.data[i]! : 0;
  }
  return [out];
};

export const elementwiseInternalOps: OpFacets[] = [
  defineInternalOp<UnaryGradAttrs>({
    name: 'unary_grad',
    cls: 'injective',
    doc: "unary_grad(g, x, fn): g · fn'(x), the backward of the unary op fn.",
    reference: unaryGradRef,
    // The multiply and the derivative, a few operations whatever fn is.
    flops: (_i, [o]) => 4 * numel(o!),
    grad: 'none',
    sharding: elementwiseSharding('first'),
    kernel: 'unary_grad',
  }),
  defineInternalOp<MinmaxGradAttrs>({
    name: 'minmax_grad',
    cls: 'injective',
    doc: 'minmax_grad(g, a, b, op, side): g where side (0: a, 1: b) won maximum/minimum(a, b), else 0.',
    reference: minmaxGradRef,
    // A comparison and a select.
    flops: (_i, [o]) => 2 * numel(o!),
    grad: 'none',
    sharding: elementwiseSharding('first'),
    kernel: 'minmax_grad',
  }),
];
