/**
 * The tests' one seeded generator: mulberry32 (Tommy Ettinger's 32-bit generator), small,
 * fast and reproducible from its seed, for picking shapes, cases and perturbations.
 * (The runtime's initialisers have their own copy in runtime/init.ts.)
 */

/** Uniform floats in [0, 1) from a 32-bit seed. */
export function mulberry32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), s | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `mulberry32` with helpers for picking test shapes reproducibly. */
export function seededRandom(seed: number) {
  const next = mulberry32(seed);
  return {
    next,
    /** One of `choices`. */
    pick: <T>(choices: readonly T[]): T => choices[Math.floor(next() * choices.length)]!,
    /** An integer in [lo, hi]. */
    int: (lo: number, hi: number) => lo + Math.floor(next() * (hi - lo + 1)),
  };
}
