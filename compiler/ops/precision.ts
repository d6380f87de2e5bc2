import type { DType } from '../types.js';
import { defineInternalOp, type OpFacets } from './op.js';
import { elementwiseSharding, wholeAll } from './sharding.js';
import type { RefOp } from './tensor.js';
import { numel } from '../../layout/mesh.js';

/**
 * Mixed precision (compiler/train/precision.ts): `round_to` keeps an f32 value to the
 * precision of a narrower float, `all_finite` is the loss scaler's overflow test.
 */

export type RoundAttrs = { readonly dtype: Extract<DType, 'f16' | 'bf16'> };

const f32buf = new Float32Array(1);
const u32buf = new Uint32Array(f32buf.buffer);

/** Rounds to bfloat16 (8-bit mantissa), nearest even; NaN and ±Infinity pass through. */
export function roundBf16(x: number): number {
  f32buf[0] = x;
  const bits = u32buf[0]!;
  if ((bits & 0x7f800000) === 0x7f800000) return f32buf[0]!;
  u32buf[0] = ((bits + 0x7fff + ((bits >>> 16) & 1)) & 0xffff0000) >>> 0;
  return f32buf[0]!;
}

/** Rounds to IEEE half precision (10-bit mantissa, subnormals below 2^-14), nearest even; overflow gives ±Infinity. */
export function roundF16(x: number): number {
  if (!Number.isFinite(x) || x === 0) return x;
  const a = Math.abs(x);
  const e = Math.max(Math.floor(Math.log2(a)), -14);
  // Math.log2 can be off by one at powers of two: fix the exponent from the value itself.
  const exp = a >= 2 ** (e + 1) ? e + 1 : a < 2 ** e && e > -14 ? e - 1 : e;
  const ulp = 2 ** (exp - 10);
  const q = a / ulp;
  let r = Math.floor(q);
  const frac = q - r;
  if (frac > 0.5 || (frac === 0.5 && r % 2 === 1)) r += 1;
  const y = r * ulp;
  return Math.sign(x) * (y > 65504 ? Infinity : y);
}

const roundToRef: RefOp<RoundAttrs> = ([x], a) => {
  const f = a.dtype === 'f16' ? roundF16 : roundBf16;
  return [{ shape: x!.shape, data: x!.data.map((v) => f(Math.fround(v))) }];
};

/** 1 when every element of x is finite, else 0 (a scalar). */
const allFiniteRef: RefOp<unknown> = ([x]) => [{ shape: [], data: Float64Array.of(x!.data.every((v) => Number.isFinite(v)) ? 1 : 0) }];

export const precisionOps: OpFacets[] = [
  defineInternalOp<RoundAttrs>({
    name: 'round_to',
    cls: 'injective',
    doc: 'round_to(x, dtype): x rounded to f16 or bf16 precision (nearest even), kept in f32.',
    reference: roundToRef,
    // A conversion, like cast: no arithmetic.
    flops: () => 0,
    // Rounding passes the gradient straight through, rounded the same way.
    grad: (c, _i, _o, [g], a) => [g && c.op('round_to', [g], g.type, a)],
    sharding: elementwiseSharding(),
    kernel: 'round_to',
  }),
  defineInternalOp<unknown>({
    name: 'all_finite',
    cls: 'reduction',
    doc: 'all_finite(x): 1 when every element of x is finite, else 0.',
    reference: allFiniteRef,
    // A test per element.
    flops: ([x]) => numel(x!),
    // A flag: nothing flows back through it.
    grad: 'none',
    sharding: (_a, ins, outs) => wholeAll(ins, outs, 'all_finite tests every element'),
    kernel: 'all_finite',
  }),
];
