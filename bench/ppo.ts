/**
 * RLHF on a tiny character-level GPT (samples/rlhf/ppo.model), each model on its own WebGPU device:
 * 1. the reward model learns a preference from pairs (the chosen text of a pair has more
 *    vowels than the rejected one) and ranks held-out pairs;
 * 2. PPO (runtime/rlhf.ts) trains the policy, from scratch, with the programmatic reward
 *    "fraction of vowels in the generated text", under a KL penalty to the frozen reference;
 *    the mean reward and the KL of the policy are measured on fresh rollouts before and after;
 * 3. PPO again from the first weights, scored by the trained reward model instead, with the
 *    programmatic reward measured alongside.
 * Writes bench/results/ppo.{md,json} and ppo-reward.svg (not with --quick, a few iterations only).
 * Run: npm run bench:ppo [-- --quick]
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { compileRlhf, openRlhf, type RlhfRunners } from '../driver/rlhf.js';
import { nodeDevices } from '../runtime/node.js';
import { actionInputs, ppo, trained, type PpoIteration, type RewardFn } from '../runtime/rlhf.js';
import { biasCorrections } from '../runtime/train.js';
import { benchArgs } from './args.js';

const { quick } = benchArgs({
  command: 'bench:ppo',
  about:
    'RLHF on a tiny character-level GPT, each model on its own WebGPU device: a reward model learns a preference from pairs, ' +
    'PPO trains the policy with a programmatic reward under a KL penalty, then again scored by the trained reward model.',
  writes: 'bench/results/ppo.md, ppo.json and ppo-reward.svg (not with --quick).',
  flags: { quick: { type: 'boolean', help: 'a few iterations only, nothing written' } },
});
const SEED = 1;
const [ROWS, SEQ, VOCAB, PROMPT] = [16, 16, 32, 4];
const ITERATIONS = quick ? 3 : 40;
const RM_ITERATIONS = quick ? 2 : 25;
const RM_STEPS = quick ? 5 : 300;
const EPOCHS = 4;
const KL_COEF = 0.05;
/** The bars this run states: the mean reward rises by at least MARGIN while the KL per sequence stays under KL_BOUND nats. */
const MARGIN = 0.2;
const KL_BOUND = 8;
const RM_BAR = 0.75;
const LIMIT = { timeLimitMs: 900_000 };

/** The tokenizer: 32 characters. */
const CHARS = " abcdefghijklmnopqrstuvwxyz.,'?\n";
const VOWELS = new Set([...'aeiou'].map((c) => CHARS.indexOf(c)));
const text = (ids: ArrayLike<number>) => Array.from(ids, (i) => CHARS[i]).join('');

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296;
}

/** The programmatic reward: the fraction of vowels among the generated tokens. */
const vowelFraction = (tokens: Int32Array, rows: number, seq: number, p: number): Float64Array =>
  Float64Array.from({ length: rows }, (_, b) => tokens.subarray(b * seq + p, (b + 1) * seq).filter((t) => VOWELS.has(t)).length / (seq - p));

const vowelReward: RewardFn = (tokens, rows, seq, p) => vowelFraction(tokens, rows, seq, p);
const promptRand = lcg(77);
const prompts = () => Array.from({ length: ROWS }, () => Array.from({ length: PROMPT }, () => 1 + Math.floor(promptRand() * 26)));
const mean = (xs: ArrayLike<number>) => Array.from(xs).reduce((a, x) => a + x, 0) / xs.length;

const t0 = performance.now();
const plans = await compileRlhf(readFileSync('samples/rlhf/ppo.model', 'utf8'), 'ppo.model', SEED);
const { devices, description } = await nodeDevices(4);
console.log(`${description}; four devices: actor (and its rollout), reference, critic, reward model`);
let runners = await openRlhf(devices, plans, LIMIT);
const first = trained(await runners.actor.readParams());

// 1. The reward model on preference pairs: each text draws vowels at its own rate; the one with more is chosen.
// `close`: only pairs whose vowel counts differ by one (the hardest to rank), for a second held-out set.
const pairRand = lcg(5);
function pairs(close = false): Int32Array {
  const half = ROWS / 2;
  const chosen: number[][] = [];
  const rejected: number[][] = [];
  while (chosen.length < half) {
    const [a, b] = [0, 1].map(() => {
      const p = 0.05 + 0.5 * pairRand();
      return Array.from({ length: SEQ }, () => (pairRand() < p ? [...VOWELS][Math.floor(pairRand() * 5)]! : 1 + Math.floor(pairRand() * 26)));
    });
    const [va, vb] = [a!, b!].map((x) => x.filter((t) => VOWELS.has(t)).length);
    if (va === vb || (close && Math.abs(va! - vb!) !== 1)) continue;
    chosen.push(va! > vb! ? a! : b!);
    rejected.push(va! > vb! ? b! : a!);
  }
  return Int32Array.from([...chosen.flat(), ...rejected.flat()]);
}
const heldOut = Array.from({ length: 32 }, pairs);
const rmLosses: number[] = [];
for (let t = 1; t <= RM_STEPS; t++) {
  const [bc1, bc2] = biasCorrections(t, 0.9, 0.95);
  const out = await runners.reward.run({ pairs: pairs(), lr: Float32Array.of(2e-3), bc1: Float32Array.of(bc1), bc2: Float32Array.of(bc2) }, ['loss']);
  rmLosses.push(out['loss']!.data[0]!);
}
const rmParams = trained(await runners.reward.readParams());
runners.rewardForward.writeParams(rmParams);
/** The share of pairs whose chosen text scores higher, and the mean pairwise loss. */
async function rank(set: Int32Array[]) {
  let right = 0;
  let loss = 0;
  for (const x of set) {
    const out = await runners.rewardForward.run({ pairs: x }, ['score', 'loss']);
    const s = out['score']!.data;
    for (let p = 0; p < ROWS / 2; p++) if (s[p]! > s[ROWS / 2 + p]!) right++;
    loss += out['loss']!.data[0]! / set.length;
  }
  return { accuracy: right / (set.length * (ROWS / 2)), loss };
}
const { accuracy: rmAccuracy, loss: heldLoss } = await rank(heldOut);
const closeSet = Array.from({ length: 32 }, () => pairs(true));
const close = await rank(closeSet);
console.log(
  `reward model: ${RM_STEPS} steps, pairwise loss ${rmLosses[0]!.toFixed(3)} → ${mean(rmLosses.slice(-20)).toFixed(3)}; held-out accuracy ${rmAccuracy}, on pairs one vowel apart ${close.accuracy}`,
);

/** Mean reward and KL (sampled, nats per sequence) of the policy with `params` over `n` fresh rollouts. */
async function measure(r: RlhfRunners, params: ReadonlyMap<string, Float32Array>, n: number, seed: number) {
  r.actorForward.writeParams(params);
  const rewards: number[] = [];
  const kls: number[] = [];
  for (let i = 0; i < n; i++) {
    const q = prompts();
    const made = await r.sampler.sample(params, q, { maxNewTokens: SEQ - PROMPT, temperature: 1, topK: 0, topP: 1, seed: seed + i });
    const tokens = Int32Array.from(q.flatMap((p, b) => [...p, ...made[b]!]));
    rewards.push(...vowelFraction(tokens, ROWS, SEQ, PROMPT));
    const { actions, mask } = actionInputs(tokens, ROWS, SEQ, VOCAB, PROMPT);
    const zero = new Float32Array(ROWS * SEQ);
    const ins = { tokens, actions, old_logp: zero, adv: zero, mask };
    const [a, ref] = await Promise.all([r.actorForward.run(ins, ['logp']), r.reference.run(ins, ['logp'])]);
    for (let b = 0; b < ROWS; b++) {
      let d = 0;
      for (let t = 0; t < SEQ; t++) d += mask[b * SEQ + t]! * (a['logp']!.data[b * SEQ + t]! - ref['logp']!.data[b * SEQ + t]!);
      kls.push(d);
    }
  }
  return { reward: mean(rewards), kl: mean(kls), samples: rewards.length };
}

const EVAL_ROLLOUTS = quick ? 1 : 8;
const before = await measure(runners, first, EVAL_ROLLOUTS, 1000);
const log = (tag: string) => (s: PpoIteration) =>
  console.log(
    `${tag} ${s.iteration}: reward ${s.reward.toFixed(3)} KL ${s.kl.toFixed(2)} ${JSON.stringify(s.ms, (_k, v: unknown) => (typeof v === 'number' ? Math.round(v) : v))} ${JSON.stringify(text(s.tokens.subarray(0, SEQ)))}`,
  );
const common = {
  rows: ROWS,
  seq: SEQ,
  vocab: VOCAB,
  promptLength: PROMPT,
  epochs: EPOCHS,
  actorLr: 2e-3,
  criticLr: 1e-3,
  klCoef: KL_COEF,
  prompts,
  seed: SEED,
};

// 2. PPO with the programmatic reward.
const its = await ppo({ ...runners, ...common, reward: vowelReward, iterations: ITERATIONS, onIteration: log('ppo') });
const after = await measure(runners, trained(await runners.actor.readParams()), EVAL_ROLLOUTS, 2000);
const samples = Array.from({ length: 4 }, (_, b) => text(its.at(-1)!.tokens.subarray(b * SEQ, (b + 1) * SEQ)));
runners.destroy();

// 3. PPO from the first weights again, scored by the trained reward model (its scores), the vowel fraction measured beside.
runners = await openRlhf(devices, plans, LIMIT);
runners.rewardForward.writeParams(rmParams);
const rmWatch: number[] = [];
const rmReward: RewardFn = async (tokens, rows, seq, p) => {
  rmWatch.push(mean(vowelFraction(tokens, rows, seq, p)));
  const out = await runners.rewardForward.run({ pairs: tokens }, ['score']);
  return Float64Array.from(out['score']!.data);
};
const rmIts = await ppo({ ...runners, ...common, reward: rmReward, iterations: RM_ITERATIONS, onIteration: log('ppo+rm') });
runners.destroy();
devices.forEach((d) => d.destroy());

const phases = (['rollout', 'scoring', 'advantages', 'update'] as const).map((k) => [k, mean(its.map((s) => s.ms[k]))] as const);
const gain = after.reward - before.reward;
const pass = { reward: gain >= MARGIN, kl: after.kl <= KL_BOUND, rewardModel: rmAccuracy >= RM_BAR };
const result = {
  device: description,
  model: 'samples/rlhf/ppo.model (vocab 32, d 48, 2 layers, 4 heads; 16 rows × 16 tokens, prompts of 4, 12 generated)',
  seconds: (performance.now() - t0) / 1000,
  rewardModel: {
    steps: RM_STEPS,
    firstLoss: rmLosses[0],
    lastLoss: mean(rmLosses.slice(-20)),
    heldOutPairs: heldOut.length * (ROWS / 2),
    heldOutLoss: heldLoss,
    accuracy: rmAccuracy,
    closePairs: { pairs: closeSet.length * (ROWS / 2), ...close },
    bar: RM_BAR,
  },
  ppo: {
    iterations: ITERATIONS,
    epochs: EPOCHS,
    klCoef: KL_COEF,
    before,
    after,
    gain,
    margin: MARGIN,
    klBound: KL_BOUND,
    curve: its.map((s) => ({ iteration: s.iteration, reward: s.reward, kl: s.kl, actorLoss: s.actorLoss, criticLoss: s.criticLoss })),
    phaseMs: Object.fromEntries(phases),
    samples,
  },
  ppoWithRewardModel: { iterations: RM_ITERATIONS, curve: rmIts.map((s, i) => ({ iteration: i, score: s.reward, vowels: rmWatch[i], kl: s.kl })) },
  pass,
};

function svg(): string {
  const [w, h, pad] = [640, 320, 40];
  const x = (i: number) => pad + (i / Math.max(1, ITERATIONS - 1)) * (w - 2 * pad);
  const y = (v: number) => h - pad - v * (h - 2 * pad);
  const line = (vals: number[], color: string) =>
    `<polyline fill="none" stroke="${color}" stroke-width="2" points="${vals.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(' ')}"/>`;
  const rmVowels = rmWatch.slice(0, ITERATIONS);
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" font-family="sans-serif" font-size="12">
<rect width="${w}" height="${h}" fill="white"/>
<line x1="${pad}" y1="${y(0)}" x2="${w - pad}" y2="${y(0)}" stroke="#888"/><line x1="${pad}" y1="${y(0)}" x2="${pad}" y2="${y(1)}" stroke="#888"/>
<text x="${pad - 30}" y="${y(1) + 4}">1.0</text><text x="${pad - 30}" y="${y(0) + 4}">0.0</text><text x="${w / 2 - 40}" y="${h - 8}">PPO iteration</text>
${line(
  its.map((s) => s.reward),
  '#1f77b4',
)}${line(rmVowels, '#ff7f0e')}
<text x="${pad + 10}" y="${pad - 20}" fill="#1f77b4">vowel fraction, PPO on the programmatic reward</text>
<text x="${pad + 10}" y="${pad - 6}" fill="#ff7f0e">vowel fraction, PPO on the reward model's score</text>
</svg>
`;
}

const md = `# PPO and a reward model (bench:ppo)

${result.model}, from scratch (no pretraining), on ${description}: four devices, one per model.
Measured ${new Date().toISOString().slice(0, 10)}; ${result.seconds.toFixed(0)} s in all.

## Reward model (pairwise loss, preference pairs)

Pairs of 16-character texts, each drawing vowels at its own rate; the chosen text has more vowels.
${RM_STEPS} steps of 8 pairs: loss ${rmLosses[0]!.toFixed(3)} → ${result.rewardModel.lastLoss.toFixed(3)} (mean of the last 20).
Held-out: ${result.rewardModel.heldOutPairs} pairs, loss ${heldLoss.toFixed(3)}, **accuracy ${(100 * rmAccuracy).toFixed(1)}%** (chance 50%; bar ${100 * RM_BAR}%: ${pass.rewardModel ? 'met' : 'NOT met'}).
On ${closeSet.length * (ROWS / 2)} held-out pairs whose vowel counts differ by one only: loss ${close.loss.toFixed(3)}, accuracy ${(100 * close.accuracy).toFixed(1)}%.
The preference is a fixed function of the text (no label noise), so a model that counts vowels can rank every pair.

## PPO on "fraction of vowels in the generated text"

${ITERATIONS} iterations of 16 rollouts, ${EPOCHS} epochs each; KL penalty β = ${KL_COEF} per token, in the reward.
Measured on ${before.samples} fresh rollouts each (temperature 1, all tokens):

| policy | mean reward | KL to reference (nats per 12-token response) |
|---|---|---|
| first weights | ${before.reward.toFixed(3)} | ${before.kl.toFixed(3)} |
| after PPO | ${after.reward.toFixed(3)} | ${after.kl.toFixed(3)} |

Gain ${gain.toFixed(3)} (bar: ≥ ${MARGIN}: ${pass.reward ? 'met' : 'NOT met'}); KL ${after.kl.toFixed(2)} (bar: ≤ ${KL_BOUND}: ${pass.kl ? 'met' : 'NOT met'}).
Samples of the last rollout: ${samples.map((s) => '`' + JSON.stringify(s) + '`').join(', ')}.

Reward curve (rollout means, iteration: reward / KL):
${its.map((s) => `${s.iteration}: ${s.reward.toFixed(3)} / ${s.kl.toFixed(2)}`).join(', ')}.
![reward curve](ppo-reward.svg)

## Phases (dataflow) and their mean times per iteration

\`\`\`
rollout (actor's device, KV cache) ─┬─> old log-probs (actor's device)   ─┐
                                    ├─> reference log-probs (device 2)     ├─> rewards − β·KL, GAE (host) ─┬─> actor update (device 1)
                                    ├─> values (critic, device 3)          │                               └─> critic update (device 3)
                                    └─> reward (host function / device 4)  ┘
\`\`\`

| phase | ms |
|---|---|
${phases.map(([k, v]) => `| ${k} | ${v.toFixed(0)} |`).join('\n')}

The update phase includes reading the actor's and critic's weights back into their forward plans.

## PPO scored by the trained reward model

${RM_ITERATIONS} iterations from the first weights, the reward model's score as the reward; the vowel fraction of each rollout
(which PPO never sees here) went ${rmWatch[0]!.toFixed(3)} → ${mean(rmWatch.slice(-5)).toFixed(3)} (mean of the last 5).
The reward model's scores are not normalised: they went ${rmIts[0]!.reward.toFixed(2)} → ${rmIts.at(-1)!.reward.toFixed(2)}, so at the same β the KL
penalty holds the policy back less, and the KL reached ${rmIts.at(-1)!.kl.toFixed(1)} nats per response (no bar is stated for this run).
`;

console.log(md);
if (!quick) {
  mkdirSync('bench/results', { recursive: true });
  writeFileSync('bench/results/ppo.md', md);
  writeFileSync('bench/results/ppo.json', JSON.stringify(result, null, 1) + '\n');
  writeFileSync('bench/results/ppo-reward.svg', svg());
}
if (!quick && !Object.values(pass).every(Boolean)) process.exitCode = 1;
