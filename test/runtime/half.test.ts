/**
 * binary16 conversions for parameters stored as f16 (runtime/half.ts), against the
 * compiler's f16 rounding (compiler/ops/precision.ts roundF16, the oracle of mixed
 * precision) and against the format itself: every one of the 65536 bit patterns.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { roundF16 } from '../../compiler/ops/precision.js';
import { fromHalfBits, toHalfBits } from '../../runtime/index.js';

describe('binary16', () => {
  it('encodes known values to their bit patterns', () => {
    const cases: [number, number][] = [
      [0, 0x0000],
      [-0, 0x8000],
      [1, 0x3c00],
      [-2, 0xc000],
      [0.5, 0x3800],
      [65504, 0x7bff],
      [2 ** -14, 0x0400],
      [2 ** -24, 0x0001],
      [2 ** -24 * 1023, 0x03ff],
      [Infinity, 0x7c00],
      [-Infinity, 0xfc00],
      // Ties to even: 1 + 2^-11 is halfway between 1 and 1 + 2^-10 (even: 1); 1 + 3·2^-11 rounds up to 1 + 2^-9.
      [1 + 2 ** -11, 0x3c00],
      [1 + 3 * 2 ** -11, 0x3c02],
      // Past the largest half: 65519 rounds down to 65504, 65520 (the tie) up to Infinity.
      [65519, 0x7bff],
      [65520, 0x7c00],
      [1e6, 0x7c00],
      // Below the smallest subnormal: 2^-25 is the tie with 0 (even), a little more rounds up to 2^-24.
      [2 ** -25, 0x0000],
      [2 ** -25 * 1.5, 0x0001],
      [2 ** -26, 0x0000],
      [1e-30, 0x0000],
      // A subnormal tie: 2.5 units of 2^-24 rounds to 2 units.
      [2.5 * 2 ** -24, 0x0002],
      [3.5 * 2 ** -24, 0x0004],
      // The mantissa carries into the exponent: just under 2 rounds to 2.
      [2 - 2 ** -12, 0x4000],
    ];
    for (const [x, bits] of cases) expect(toHalfBits(x).toString(16), String(x)).toBe(bits.toString(16));
    expect(Number.isNaN(fromHalfBits(toHalfBits(NaN)))).toBe(true);
  });

  it('every half bit pattern decodes and encodes back to itself (NaNs stay NaN)', () => {
    for (let h = 0; h < 0x10000; h++) {
      const x = fromHalfBits(h);
      if (Number.isNaN(x)) {
        expect((h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0).toBe(true);
        expect(Number.isNaN(fromHalfBits(toHalfBits(x)))).toBe(true);
      } else if (toHalfBits(x) !== h) {
        expect.fail(`pattern ${h.toString(16)} (${x}) encodes to ${toHalfBits(x).toString(16)}`);
      }
    }
  });

  it('rounding through the bits equals the oracle roundF16 on f32 values of every magnitude', () => {
    const f32 = new Float32Array(1);
    fc.assert(
      fc.property(fc.float({ noNaN: true }), (x) => {
        f32[0] = x;
        const v = f32[0]!;
        expect(fromHalfBits(toHalfBits(v))).toBe(roundF16(v));
      }),
      { numRuns: 20000, seed: 3 },
    );
    // And densely around the ends of the range, where the cases are.
    for (let k = -30; k <= 17; k++) {
      for (const f of [1, 1.0001, 1.49, 1.5, 1.51, 1.999]) {
        for (const s of [1, -1]) {
          f32[0] = s * f * 2 ** k;
          expect(fromHalfBits(toHalfBits(f32[0]!)), String(f32[0])).toBe(roundF16(f32[0]!));
        }
      }
    }
  });
});
