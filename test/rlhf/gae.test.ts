import { describe, expect, it } from 'vitest';
import { actionInputs, advantages, gae } from '../../runtime/rlhf.js';

/**
 * The host half of PPO: generalised advantage estimation against a case worked by hand,
 * the Actor graph's one-hot actions and mask for a rollout, and the per-token rewards with
 * the KL penalty (InstructGPT's placement: in the reward).
 */
describe('generalised advantage estimation', () => {
  it('matches a three-step case worked by hand (γ = 0.9, λ = 0.5)', () => {
    // r = [1, 0, 2], V = [0.5, 1, 1.5], V after the end = 0.
    // δ2 = 2 + 0.9·0 − 1.5 = 0.5;   A2 = 0.5
    // δ1 = 0 + 0.9·1.5 − 1 = 0.35;  A1 = 0.35 + 0.45·0.5 = 0.575
    // δ0 = 1 + 0.9·1 − 0.5 = 1.4;   A0 = 1.4 + 0.45·0.575 = 1.65875
    const { advantages: a, returns } = gae([1, 0, 2], [0.5, 1, 1.5], 0.9, 0.5);
    expect(Array.from(a)).toEqual([expect.closeTo(1.65875, 12), expect.closeTo(0.575, 12), expect.closeTo(0.5, 12)]);
    expect(Array.from(returns)).toEqual([expect.closeTo(2.15875, 12), expect.closeTo(1.575, 12), expect.closeTo(2, 12)]);
  });

  it('with λ = 1 and γ = 1 the returns are the sums of the rewards still to come, whatever the values', () => {
    const { returns } = gae([0.25, -1, 3, 0.5], [7, -2, 0.1, 4], 1, 1);
    expect(Array.from(returns)).toEqual([2.75, 2.5, 3.5, 0.5].map((x) => expect.closeTo(x, 12)));
  });

  it('with λ = 0 the advantage is the one-step TD error', () => {
    const { advantages: a } = gae([1, 2], [3, 5], 0.5, 0);
    // δ0 = 1 + 0.5·5 − 3 = 0.5, δ1 = 2 − 5 = −3.
    expect(Array.from(a)).toEqual([0.5, -3]);
  });
});

describe('rollout inputs of the Actor graph', () => {
  it('puts a one-hot of each response token at the position before it, and masks the rest', () => {
    // Two rows of 4 tokens, prompts of 2, vocabulary 5: positions 1 and 2 predict tokens 2 and 3.
    const tokens = Int32Array.of(1, 2, 3, 4, 0, 0, 4, 1);
    const { actions, mask } = actionInputs(tokens, 2, 4, 5, 2);
    expect(Array.from(mask)).toEqual([0, 1, 1, 0, 0, 1, 1, 0]);
    const hot = (b: number, t: number) => Array.from(actions.subarray((b * 4 + t) * 5, (b * 4 + t + 1) * 5));
    expect(hot(0, 1)).toEqual([0, 0, 0, 1, 0]);
    expect(hot(0, 2)).toEqual([0, 0, 0, 0, 1]);
    expect(hot(1, 1)).toEqual([0, 0, 0, 0, 1]);
    expect(hot(1, 2)).toEqual([0, 1, 0, 0, 0]);
    expect(hot(0, 0)).toEqual([0, 0, 0, 0, 0]);
    expect(hot(1, 3)).toEqual([0, 0, 0, 0, 0]);
  });

  it('charges −β·(log π − log π_ref) per response token, adds the score at the last one, and whitens the advantages', () => {
    // One row of 4 tokens with a prompt of 2: response positions 1 and 2. β = 0.1, γ = λ = 1.
    const logp = [0, -1, -2, 0];
    const ref = [0, -1.5, -1, 0];
    const values = [0, 0.2, 0.4, 0];
    const o = { rows: 1, seq: 4, promptLength: 2, klCoef: 0.1, gamma: 1, lambda: 1 };
    const r = advantages(o, [3], logp, ref, values);
    // Per-token rewards: −0.1·(−1 + 1.5) = −0.05 at position 1, −0.1·(−2 + 1) + 3 = 3.1 at position 2.
    // Returns (γ = λ = 1): 3.05 and 3.1; raw advantages 3.05 − 0.2 = 2.85 and 3.1 − 0.4 = 2.7.
    expect(r.returns[1]).toBeCloseTo(3.05, 6);
    expect(r.returns[2]).toBeCloseTo(3.1, 6);
    expect(r.returns[0]).toBe(0);
    // Whitened over the two: mean 2.775, standard deviation 0.075.
    expect(r.adv[1]).toBeCloseTo(1, 6);
    expect(r.adv[2]).toBeCloseTo(-1, 6);
    // The sampled KL of the row: (−1 + 1.5) + (−2 + 1) = −0.5.
    expect(r.kl).toBeCloseTo(-0.5, 12);
  });
});
