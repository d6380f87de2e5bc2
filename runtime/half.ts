/**
 * IEEE binary16 conversions for parameters stored as f16 (the plan's f16 buffers of role
 * param): the host gives and reads back f32 values; the device holds their halves.
 */

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** The binary16 bits of `x` (first rounded to f32), rounded to nearest even: subnormals kept, ±Infinity past 65504, NaN stays NaN. */
export function toHalfBits(x: number): number {
  f32[0] = x;
  const b = u32[0]!;
  const sign = (b >>> 16) & 0x8000;
  const exp = (b >>> 23) & 0xff;
  const man = b & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (man ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  // Normal halves keep the top 10 of the 23 mantissa bits; subnormal ones count units of
  // 2^-24, the implicit bit included. Either way the dropped bits round to nearest even,
  // and a carry out of the mantissa steps the exponent (to Infinity at the top).
  if (e >= 1) return sign | roundUp((e << 10) | (man >>> 13), man & 0x1fff, 13);
  const shift = 126 - exp;
  if (shift > 25) return sign;
  const m = man | 0x800000;
  return sign | roundUp(m >>> shift, m & ((1 << shift) - 1), shift);
}

/** `kept`, plus one when the `shift` dropped bits `rest` are over half, or exactly half and `kept` is odd. */
const roundUp = (kept: number, rest: number, shift: number) => {
  const half = 1 << (shift - 1);
  return rest > half || (rest === half && (kept & 1) === 1) ? kept + 1 : kept;
};

/** The value of binary16 bits `h`. */
export function fromHalfBits(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const e = (h >>> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return sign * m * 2 ** -24;
  if (e === 0x1f) return m ? NaN : sign * Infinity;
  return sign * (1 + m / 1024) * 2 ** (e - 15);
}

/** `values` as binary16 in `bytes` bytes (an f16 buffer's size: whole words, so a trailing half may be padding). */
export function toHalves(values: ArrayLike<number>, bytes: number): Uint16Array {
  const out = new Uint16Array(bytes / 2);
  for (let i = 0; i < values.length; i++) out[i] = toHalfBits(values[i]!);
  return out;
}

/** The first `count` binary16 values of `halves`, as f32. */
export function fromHalves(halves: Uint16Array, count: number): Float32Array {
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) out[i] = fromHalfBits(halves[i]!);
  return out;
}
