import { describe, expect, it } from 'vitest';
import { initValues, randomInput } from '../../runtime/init.js';

describe('seeded initialisation', () => {
  it('depends only on seed, name and spec', () => {
    const a = initValues({ kind: 'normal', mean: 0, std: 0.02 }, 1001, 5, 'Layer.0.w');
    expect(initValues({ kind: 'normal', mean: 0, std: 0.02 }, 1001, 5, 'Layer.0.w')).toEqual(a);
    expect(initValues({ kind: 'normal', mean: 0, std: 0.02 }, 1001, 6, 'Layer.0.w')).not.toEqual(a);
    expect(initValues({ kind: 'normal', mean: 0, std: 0.02 }, 1001, 5, 'Layer.1.w')).not.toEqual(a);
  });

  it('draws from the requested distributions', () => {
    const n = 200_000;
    const x = initValues({ kind: 'normal', mean: 1, std: 2 }, n, 1, 'p');
    const mean = x.reduce((s, v) => s + v, 0) / n;
    const std = Math.sqrt(x.reduce((s, v) => s + (v - mean) ** 2, 0) / n);
    // Standard error of the mean is 2/sqrt(2e5) ≈ 0.0045; 5 standard errors of slack.
    expect(Math.abs(mean - 1)).toBeLessThan(0.025);
    expect(Math.abs(std - 2)).toBeLessThan(0.02);
    const u = initValues({ kind: 'uniform', low: -3, high: 5 }, n, 1, 'u');
    expect(u.reduce((a, b) => Math.min(a, b))).toBeGreaterThanOrEqual(-3);
    expect(u.reduce((a, b) => Math.max(a, b))).toBeLessThan(5);
    expect(initValues({ kind: 'constant', value: 0.5 }, 3, 1, 'c')).toEqual(Float32Array.of(0.5, 0.5, 0.5));
  });

  it('gives integer inputs within their valid range', () => {
    const ids = randomInput('i32', 10_000, 3, 'tokens', 7) as Int32Array;
    expect(ids.reduce((a, b) => Math.min(a, b))).toBe(0);
    expect(ids.reduce((a, b) => Math.max(a, b))).toBe(6);
  });
});
