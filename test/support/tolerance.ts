import { expect } from 'vitest';
import { compareOutputs, type BothResult, type CompareOptions } from './gpu.js';

/** A bound on ‖gpu − cpu‖₂ / ‖cpu‖₂ and the reason it is that bound. */
export interface Tolerance {
  readonly rel: number;
  readonly why: string;
}

/** One f32 rounding per element (unit roundoff 6e-8); 1e-6 is 16× that. */
export const ROUNDED: Tolerance = { rel: 1e-6, why: 'one f32 rounding per element (u = 6e-8), 16x headroom' };
/**
 * Sequential f32 accumulation over n ≤ 1000 terms (sums, means, softmax denominators, norms,
 * dot products of matmul, convolution and attention): rounding errors random-walk to about
 * √n·u ≈ 2e-6 at n = 1000; 1e-5 leaves 5× headroom and still catches any indexing bug.
 */
export const ACCUMULATED: Tolerance = { rel: 1e-5, why: 'f32 accumulation over up to 1000 terms (~sqrt(n)*u = 2e-6), 5x headroom' };

export interface Observed {
  readonly name: string;
  readonly output: string;
  readonly rel: number;
  readonly maxAbs: number;
  readonly ms: number;
}

/**
 * Asserts every output of `r` agrees with the oracle within its tolerance (one for all, or
 * one per output name), and records what was seen in `observed`. NaN/±∞ on either side
 * fail unless `nonFinite: 'expected'`; then they must sit at the same positions on both
 * sides, and at least one output must have some (a case about them that has none is wrong).
 */
export function expectAgreement(
  name: string,
  r: BothResult,
  tol: Tolerance | Readonly<Record<string, Tolerance>>,
  observed: Observed[],
  opts: CompareOptions = {},
): void {
  let nonFinite = 0;
  for (const [output, e] of Object.entries(compareOutputs(r, opts))) {
    const t = 'rel' in tol ? (tol as Tolerance) : (tol as Readonly<Record<string, Tolerance>>)[output]!;
    observed.push({ name, output, rel: e.rel, maxAbs: e.maxAbs, ms: r.gpuMs });
    nonFinite += e.nonFinite;
    if (opts.nonFinite !== 'expected') expect(e.nonFinite, `${name} [${output}]: NaN/∞ values (on either side) where none are expected`).toBe(0);
    expect(e.nonFiniteMismatches, `${name} [${output}]: NaN/∞ at different positions`).toBe(0);
    expect(e.rel, `${name} [${output}]: ‖gpu−cpu‖₂/‖cpu‖₂ must be ≤ ${t.rel} (${t.why})`).toBeLessThanOrEqual(t.rel);
  }
  if (opts.nonFinite === 'expected') expect(nonFinite, `${name}: the case expects NaN/∞ values but has none`).toBeGreaterThan(0);
}
