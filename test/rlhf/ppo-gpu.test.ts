import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compile } from '../../driver/compile.js';
import { compileRlhf, openRlhf, type RlhfPlans, type RlhfRunners } from '../../driver/rlhf.js';
import { InferenceSession, PlanRunner } from '../../runtime/index.js';
import { actionInputs, ppo, trained } from '../../runtime/rlhf.js';
import { biasCorrections } from '../../runtime/train.js';
import { destroySharedDevices, gpuStatus, sharedDevices } from '../support/gpu.js';
import { mulberry32 } from '../support/random.js';

/**
 * The RLHF sample's graphs on WebGPU (two devices: the actor on one, the reference, critic
 * and reward model on the other). The losses written in samples/rlhf/ppo.model are checked
 * against float64 computations on the host from the policy's logits, the critic's values
 * and the reward model's scores; the reward model's pairwise loss falls as it trains; and
 * two PPO iterations run end to end.
 */
const status = await gpuStatus();
afterAll(destroySharedDevices);

const SOURCE = readFileSync('samples/rlhf/ppo.model', 'utf8');
const [B, S, V, P] = [16, 16, 32, 4];
const CLIP = 0.2;
const SEED = 5;
const LIMIT = { timeLimitMs: 600_000 };

const randomTokens = (n: number, seed: number) => {
  const r = mulberry32(seed);
  return Int32Array.from({ length: n }, () => Math.floor(r() * V));
};

/** log softmax(row)[a] in float64. */
function logProb(row: ArrayLike<number>, a: number): number {
  let m = -Infinity;
  for (let j = 0; j < row.length; j++) m = Math.max(m, row[j]!);
  let s = 0;
  for (let j = 0; j < row.length; j++) s += Math.exp(row[j]! - m);
  return row[a]! - m - Math.log(s);
}

describe.skipIf(status.skip)(status.title('RLHF graphs and PPO on WebGPU'), () => {
  let plans: RlhfPlans;
  let runners: RlhfRunners;

  beforeAll(async () => {
    plans = await compileRlhf(SOURCE, 'ppo.model', SEED);
    runners = await openRlhf(await sharedDevices(2), plans, LIMIT);
  });
  afterAll(() => runners?.destroy());

  it("the Actor graph's log-probabilities and clipped objective equal a float64 computation from the policy's logits", async () => {
    const policy = await compile(SOURCE, 'ppo.model', { model: 'Policy', seed: SEED });
    const [device] = await sharedDevices(2);
    const run = await PlanRunner.create(device!, policy.plan!, LIMIT);
    run.writeParams(trained(await runners.actor.readParams()));
    const tokens = randomTokens(B * S, 1);
    const logits = (await run.run({ tokens }, ['logits']))['logits']!.data;
    run.destroy();
    const { actions, mask } = actionInputs(tokens, B, S, V, P);
    // The oracle: log π of each next token, then ratios against old log-probs ±0.5 away, so both sides of the clip are reached.
    const r = mulberry32(2);
    const logp = new Float64Array(B * S);
    for (let i = 0; i < B * S; i++) if (mask[i]) logp[i] = logProb(logits.subarray(i * V, (i + 1) * V), tokens[i + 1]!);
    const old = Float32Array.from(logp, (x) => x + (r() - 0.5));
    const adv = Float32Array.from({ length: B * S }, () => r() * 2 - 1);
    let num = 0;
    let den = 0;
    let clipped = 0;
    for (let i = 0; i < B * S; i++) {
      const ratio = Math.exp(logp[i]! - old[i]!);
      const held = Math.min(Math.max(ratio, 1 - CLIP), 1 + CLIP);
      if (mask[i] && held !== ratio && held * adv[i]! < ratio * adv[i]!) clipped++;
      num += Math.min(ratio * adv[i]!, held * adv[i]!) * mask[i]!;
      den += mask[i]!;
    }
    const want = -num / den;
    expect(clipped).toBeGreaterThan(10);
    const out = await runners.actorForward.run({ tokens, actions, old_logp: old, adv, mask }, ['logp', 'loss']);
    const got = out['logp']!.data;
    let worst = 0;
    for (let i = 0; i < B * S; i++) worst = Math.max(worst, Math.abs(got[i]! - logp[i]!));
    // log-softmax over 32 f32 logits of O(0.1) against float64: a few ulps of log 32.
    expect(worst).toBeLessThan(2e-5);
    // The loss is a masked mean of O(1) terms: 1e-5 absolute.
    expect(Math.abs(out['loss']!.data[0]! - want)).toBeLessThan(1e-5);
  });

  it("the Critic's value loss and the Reward model's pairwise loss equal float64 computations from their outputs", async () => {
    const tokens = randomTokens(B * S, 3);
    const { mask } = actionInputs(tokens, B, S, V, P);
    const r = mulberry32(4);
    const returns = Float32Array.from({ length: B * S }, () => r() * 2 - 1);
    const c = await runners.criticForward.run({ tokens, returns, mask }, ['values', 'loss']);
    let se = 0;
    let n = 0;
    c['values']!.data.forEach((v, i) => {
      se += mask[i]! * (v - returns[i]!) ** 2;
      n += mask[i]!;
    });
    expect(Math.abs(c['loss']!.data[0]! - (0.5 * se) / n)).toBeLessThan(1e-6);
    const w = await runners.rewardForward.run({ pairs: tokens }, ['score', 'loss']);
    const score = w['score']!.data;
    let want = 0;
    for (let p = 0; p < B / 2; p++) want += Math.log1p(Math.exp(score[B / 2 + p]! - score[p]!));
    expect(Math.abs(w['loss']!.data[0]! - want / (B / 2))).toBeLessThan(1e-6);
  });

  it("the reward model's pairwise loss falls while it learns to prefer vowel-rich text", async () => {
    // Chosen rows draw vowels half the time, rejected rows one time in ten.
    const r = mulberry32(9);
    const vowels = [1, 5, 9, 15, 21];
    const row = (p: number) => Array.from({ length: S }, () => (r() < p ? vowels[Math.floor(r() * 5)]! : Math.floor(r() * V)));
    const losses: number[] = [];
    for (let t = 1; t <= 30; t++) {
      const pairs = Int32Array.from([...Array.from({ length: B / 2 }, () => row(0.5)).flat(), ...Array.from({ length: B / 2 }, () => row(0.1)).flat()]);
      const [bc1, bc2] = biasCorrections(t, 0.9, 0.95);
      const out = await runners.reward.run({ pairs, lr: Float32Array.of(2e-3), bc1: Float32Array.of(bc1), bc2: Float32Array.of(bc2) }, ['loss']);
      losses.push(out['loss']!.data[0]!);
    }
    const mean = (xs: number[]) => xs.reduce((a, x) => a + x, 0) / xs.length;
    // It starts at log 2 (scores near equal) and falls below half of it (0.23 seen over the last five steps).
    expect(Math.abs(losses[0]! - Math.log(2))).toBeLessThan(0.05);
    expect(mean(losses.slice(-5))).toBeLessThan(0.5 * Math.log(2));
  });

  it("a rollout session's weights written in place give what a session opened with them gives, cache and all", async () => {
    const [device] = await sharedDevices(2);
    const r = mulberry32(8);
    const weights = new Map([...trained(await runners.actor.readParams())].map(([k, v]) => [k, v.map((x) => x + 0.05 * (r() - 0.5))]));
    const prompts = Array.from({ length: B }, (_, b) => [b % V, (3 * b) % V, 7, 1]);
    const live = await InferenceSession.create(device!, plans.policy, LIMIT);
    const before = await live.prefill(prompts);
    live.writeParams(weights);
    const written = await live.prefill(prompts);
    const fresh = await InferenceSession.create(device!, plans.policy, { ...LIMIT, params: weights });
    const want = await fresh.prefill(prompts);
    // Same device, same kernels, same weights: the same bits; and the write changed them.
    expect(Array.from(written)).toEqual(Array.from(want));
    expect(Array.from(before)).not.toEqual(Array.from(want));
    // Decoding after the write reads the new weights and the cache the prefill filled.
    const at = Int32Array.from(prompts, (p) => p.length);
    const next = Int32Array.from(prompts, (_, b) => b % V);
    expect(Array.from(await live.step(next, at))).toEqual(Array.from(await fresh.step(next, at)));
    expect(() => live.writeParams(new Map([['cache.k.0', new Float32Array(1)]]))).toThrow(/no such weight/);
    live.destroy();
    fresh.destroy();
  });

  it('runs two PPO iterations end to end: the first update starts at ratio 1 and zero KL, the reference never moves', async () => {
    const first = trained(await runners.actor.readParams());
    const r = mulberry32(6);
    const its = await ppo({
      ...runners,
      reward: (tokens, rows, seq, p) =>
        Float64Array.from({ length: rows }, (_, b) => (tokens.subarray(b * seq + p, (b + 1) * seq).filter((t) => t === 1).length > 0 ? 1 : 0)),
      prompts: () => Array.from({ length: B }, () => Array.from({ length: P }, () => Math.floor(r() * V))),
      rows: B,
      seq: S,
      vocab: V,
      promptLength: P,
      iterations: 2,
      epochs: 2,
      actorLr: 1e-3,
      criticLr: 1e-3,
      seed: 1,
    });
    expect(its).toHaveLength(2);
    // Before any update the actor is the reference: the log-probs agree (two devices, same kernels) and the
    // first epoch's ratios are all 1, so its loss is minus the mean of whitened advantages, 0.
    expect(Math.abs(its[0]!.kl)).toBeLessThan(1e-4);
    expect(Math.abs(its[0]!.actorLoss[0])).toBeLessThan(1e-5);
    expect(Math.abs(its[1]!.kl)).toBeGreaterThan(1e-4);
    for (const it of its) {
      expect(it.tokens.length).toBe(B * S);
      expect([...it.actorLoss, ...it.criticLoss].every(Number.isFinite)).toBe(true);
    }
    const after = trained(await runners.actor.readParams());
    expect([...after].some(([k, v]) => v.some((x, i) => x !== first.get(k)![i]))).toBe(true);
    // The reference plan holds the first weights still (its forward never writes them).
    const tokens = its[1]!.tokens;
    const { actions, mask } = actionInputs(tokens, B, S, V, P);
    const zero = new Float32Array(B * S);
    const again = await runners.reference.run({ tokens, actions, old_logp: zero, adv: zero, mask }, ['logp']);
    const policy = await compile(SOURCE, 'ppo.model', { model: 'Actor', seed: SEED });
    const [, other] = await sharedDevices(2);
    const fresh = await PlanRunner.create(other!, policy.plan!, LIMIT);
    fresh.writeParams(first);
    const want = await fresh.run({ tokens, actions, old_logp: zero, adv: zero, mask }, ['logp']);
    fresh.destroy();
    expect(Array.from(again['logp']!.data)).toEqual(Array.from(want['logp']!.data));
  });
});
