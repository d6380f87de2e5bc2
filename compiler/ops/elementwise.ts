import { printType } from '../types.js';
import { broadcast, requireFloat, sameDtype, t, type OpDef } from './signature.js';

const UNARY_DOCS: Record<string, string> = {
  neg: 'Negation, -x.',
  exp: 'Elementwise e^x.',
  log: 'Elementwise natural logarithm.',
  sqrt: 'Elementwise square root.',
  rsqrt: 'Elementwise 1/sqrt(x).',
  tanh: 'Elementwise hyperbolic tangent.',
  sigmoid: 'Elementwise logistic function 1/(1+e^-x).',
  relu: 'Elementwise max(x, 0).',
  silu: 'Elementwise x·sigmoid(x) (swish).',
  abs: 'Elementwise absolute value.',
  fast_gelu: 'GELU, tanh approximation (GPT-2\'s "gelu_new").',
};

function unary(name: string, doc: string): OpDef {
  return {
    name, cls: 'injective', doc,
    args: [{ name: 'x', kind: 'tensor' }],
    infer: (c) => {
      const x = c.tensor('x');
      if (name !== 'neg' && name !== 'abs' && name !== 'relu' && !requireFloat(c, 'x', x)) return undefined;
      return [t(x.dtype, x.dims)];
    },
  };
}

function binary(name: string, doc: string): OpDef {
  return {
    name, cls: 'injective', doc,
    args: [{ name: 'a', kind: 'tensor' }, { name: 'b', kind: 'tensor' }],
    infer: (c) => {
      const a = c.tensor('a');
      const b = c.tensor('b');
      if (!sameDtype(c, a, b)) return undefined;
      const dims = broadcast(c, a, b);
      return dims && [t(a.dtype, dims)];
    },
  };
}

export const elementwiseOps: OpDef[] = [
  ...Object.entries(UNARY_DOCS).map(([n, d]) => unary(n, d)),
  {
    name: 'gelu', cls: 'injective',
    doc: "Gaussian error linear unit. approximate = 'none' (exact, erf) or 'tanh' (the fast form).",
    args: [{ name: 'x', kind: 'tensor' }, { name: 'approximate', kind: 'str', default: 'none', choices: ['none', 'tanh'], kwOnly: true }],
    infer: (c) => {
      const x = c.tensor('x');
      return requireFloat(c, 'x', x) ? [t(x.dtype, x.dims)] : undefined;
    },
  },
  binary('add', 'Elementwise a + b with broadcasting.'),
  binary('sub', 'Elementwise a - b with broadcasting.'),
  binary('mul', 'Elementwise a * b with broadcasting.'),
  binary('div', 'Elementwise a / b with broadcasting.'),
  binary('pow', 'Elementwise a ** b with broadcasting.'),
  binary('maximum', 'Elementwise max(a, b) with broadcasting.'),
  binary('minimum', 'Elementwise min(a, b) with broadcasting.'),
  {
    name: 'where', cls: 'injective', doc: 'where(cond, a, b): a where cond is nonzero, else b; all three broadcast.',
    args: [{ name: 'cond', kind: 'tensor' }, { name: 'a', kind: 'tensor' }, { name: 'b', kind: 'tensor' }],
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
  },
  {
    name: 'expand', cls: 'injective', doc: 'expand(x, [d0, d1, ...]): broadcast x to a larger shape (NumPy rules), e.g. a class token to every batch row.',
    args: [{ name: 'x', kind: 'tensor' }, { name: 'shape', kind: 'dims' }],
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
  },
  {
    name: 'cast', cls: 'injective', doc: 'cast(x, dtype = "f32"): converts element type.',
    args: [{ name: 'x', kind: 'tensor' }, { name: 'dtype', kind: 'str', choices: ['f32', 'f16', 'bf16', 'i32', 'bool'] }],
    infer: (c) => [t(c.str('dtype') as 'f32', c.tensor('x').dims)],
  },
  {
    name: 'dropout', cls: 'injective',
    doc: 'dropout(x, p): in training zeroes each element with probability p and scales the rest by 1/(1-p); identity in inference.',
    args: [{ name: 'x', kind: 'tensor' }, { name: 'p', kind: 'float', default: 0.1 }, { name: 'seed', kind: 'int', default: 0, kwOnly: true }],
    infer: (c) => {
      const x = c.tensor('x');
      const p = c.num('p');
      if (!(p >= 0 && p < 1)) return c.error('MDC0211', 'dropout', `p must be in [0, 1), got ${p}`);
      return requireFloat(c, 'x', x) ? [t(x.dtype, x.dims)] : undefined;
    },
  },
];

export const describeBinaryMismatch = printType;
