import type { HostArray, RunnerOptions, Tensor } from './executor.js';
import { InferenceSession, type GenerateOptions, type InferencePlans } from './generate.js';
import { biasCorrections } from './train.js';

/**
 * RLHF on the host: the PPO loop around four compiled graphs (samples/rlhf/ppo.model).
 *
 * The losses live in the graphs: the actor's training plan computes PPO's clipped
 * objective from the log-probabilities of the taken tokens, the critic's the masked value
 * loss, and the reward model's the pairwise preference loss. What stays here is what is
 * sequential over tokens or over phases: sampling the rollout (with the policy's KV cache),
 * the per-token rewards with the KL penalty to the reference, generalised advantage
 * estimation, and the order of the phases. Each model runs on its own device, and the
 * phases are a dataflow:
 *
 *   rollout (actor's device) ─┬─> old log-probs (actor)  ─┐
 *                             ├─> reference log-probs     ├─> advantages (host) ─┬─> actor update
 *                             ├─> values (critic)         │                      └─> critic update
 *                             └─> rewards (reward model)  ┘
 *
 * The four scorings run together, as do the two updates (one promise per device).
 *
 * The KL penalty is in the reward, as InstructGPT puts it: token t of the response earns
 * -β·(log π(a_t) − log π_ref(a_t)), and the last token also earns the sequence's score.
 * Browser-safe: no Node imports.
 */

/** A runner of a compiled plan (PlanRunner or MeshRunner): inputs in, the named outputs back. */
export interface GraphRunner {
  run(inputs: Readonly<Record<string, HostArray>>, only?: readonly string[]): Promise<Record<string, Tensor>>;
}

/** A training plan's runner: its parameters can also be read back. */
export interface TrainRunner extends GraphRunner {
  readParams(): Promise<Map<string, Float32Array>>;
}

/** A forward plan's runner whose parameters can be replaced (the actor's, after each update). */
export interface ForwardGraphRunner extends GraphRunner {
  writeParams(values: ReadonlyMap<string, Float32Array>): void;
}

/** What the rollout needs: generation from prompts with given weights (an InferenceSession over the policy's plans). */
export interface Sampler {
  /** New tokens per prompt, `maxNewTokens` each (no stop tokens). */
  sample(params: ReadonlyMap<string, Float32Array>, prompts: readonly (readonly number[])[], options: GenerateOptions): Promise<number[][]>;
}

/** Scores each whole sequence (prompt and response), one number per row. */
export type RewardFn = (tokens: Int32Array, rows: number, seq: number, promptLength: number) => Promise<Float64Array> | Float64Array;

export interface PpoOptions {
  /** The actor's training plan (samples/rlhf/ppo.model's Actor, loss = the clipped objective) and its forward plan (logp). */
  readonly actor: TrainRunner;
  readonly actorForward: ForwardGraphRunner;
  /** The Actor forward plan holding the actor's first weights; never updated. */
  readonly reference: GraphRunner;
  /** The critic's training plan and its forward plan (values). */
  readonly critic: TrainRunner;
  readonly criticForward: ForwardGraphRunner;
  readonly reward: RewardFn;
  readonly sampler: Sampler;
  /** Prompts for iteration `it`: `rows` prompts of `promptLength` tokens. */
  readonly prompts: (it: number) => number[][];
  /** Rows and positions of every plan's batch (the rollout fills it exactly). */
  readonly rows: number;
  readonly seq: number;
  readonly vocab: number;
  readonly promptLength: number;
  readonly iterations: number;
  /** Passes of the actor and the critic over each rollout (default 4). */
  readonly epochs?: number;
  readonly actorLr: number;
  readonly criticLr: number;
  /** The train sections' AdamW betas (default 0.9, 0.95). */
  readonly betas?: readonly [number, number];
  /** KL penalty per token (default 0.05), discount (1) and GAE's λ (0.95). */
  readonly klCoef?: number;
  readonly gamma?: number;
  readonly lambda?: number;
  readonly seed: number;
  /** Called after each iteration. */
  readonly onIteration?: (s: PpoIteration) => void | Promise<void>;
}

/** One iteration's measurements. */
export interface PpoIteration {
  readonly iteration: number;
  /** Mean score of the rollout's sequences (the reward function's, without the KL penalty). */
  readonly reward: number;
  /** Mean over sequences of Σ_t log π(a_t) − log π_ref(a_t) over the response: a sampled estimate of KL(π ‖ π_ref) per sequence. */
  readonly kl: number;
  /** The actor's and critic's losses at the first and last update epoch. */
  readonly actorLoss: readonly [number, number];
  readonly criticLoss: readonly [number, number];
  /** Milliseconds of each phase: rollout, scoring (the four graphs together), advantages (host), update (both models together). */
  readonly ms: { readonly rollout: number; readonly scoring: number; readonly advantages: number; readonly update: number };
  /** The rollout's sequences, rows × seq token ids. */
  readonly tokens: Int32Array;
}

/**
 * Generalised advantage estimation over one sequence's steps: δ_t = r_t + γ·V_{t+1} − V_t
 * (V after the last step is 0: the episode ends), A_t = δ_t + γλ·A_{t+1}; returns are A + V.
 */
export function gae(rewards: ArrayLike<number>, values: ArrayLike<number>, gamma: number, lambda: number): { advantages: Float64Array; returns: Float64Array } {
  const n = rewards.length;
  const advantages = new Float64Array(n);
  const returns = new Float64Array(n);
  let next = 0;
  let carry = 0;
  for (let t = n - 1; t >= 0; t--) {
    const delta = rewards[t]! + gamma * next - values[t]!;
    carry = delta + gamma * lambda * carry;
    advantages[t] = carry;
    returns[t] = carry + values[t]!;
    next = values[t]!;
  }
  return { advantages, returns };
}

/** The Actor graph's inputs for a rollout: one-hot next tokens and the mask of response positions. */
export function actionInputs(
  tokens: Int32Array,
  rows: number,
  seq: number,
  vocab: number,
  promptLength: number,
): { actions: Float32Array; mask: Float32Array } {
  const actions = new Float32Array(rows * seq * vocab);
  const mask = new Float32Array(rows * seq);
  // Position t holds the state whose next token, t + 1, the policy chose: t from promptLength − 1 to seq − 2.
  for (let b = 0; b < rows; b++)
    for (let t = promptLength - 1; t < seq - 1; t++) {
      mask[b * seq + t] = 1;
      actions[(b * seq + t) * vocab + tokens[b * seq + t + 1]!] = 1;
    }
  return { actions, mask };
}

/** Per-token rewards with the KL penalty, advantages (whitened over the batch) and returns, at the masked positions. */
export function advantages(
  o: { rows: number; seq: number; promptLength: number; klCoef: number; gamma: number; lambda: number },
  score: ArrayLike<number>,
  logp: ArrayLike<number>,
  refLogp: ArrayLike<number>,
  values: ArrayLike<number>,
): { adv: Float32Array; returns: Float32Array; kl: number } {
  const { rows, seq, promptLength: p } = o;
  const adv = new Float32Array(rows * seq);
  const returns = new Float32Array(rows * seq);
  const steps = seq - p;
  let kl = 0;
  const raw: number[] = [];
  for (let b = 0; b < rows; b++) {
    const r = new Float64Array(steps);
    const v = new Float64Array(steps);
    for (let i = 0; i < steps; i++) {
      const at = b * seq + p - 1 + i;
      const d = logp[at]! - refLogp[at]!;
      kl += d;
      r[i] = -o.klCoef * d;
      v[i] = values[at]!;
    }
    r[steps - 1]! += score[b]!;
    const g = gae(r, v, o.gamma, o.lambda);
    for (let i = 0; i < steps; i++) {
      returns[b * seq + p - 1 + i] = g.returns[i]!;
      raw.push(g.advantages[i]!);
    }
  }
  const mean = raw.reduce((a, x) => a + x, 0) / raw.length;
  const sd = Math.sqrt(raw.reduce((a, x) => a + (x - mean) ** 2, 0) / raw.length) || 1;
  let k = 0;
  for (let b = 0; b < rows; b++) for (let i = 0; i < steps; i++) adv[b * seq + p - 1 + i] = (raw[k++]! - mean) / sd;
  return { adv, returns, kl: kl / rows };
}

const scalar = (x: number) => Float32Array.of(x);
const now = () => performance.now();

/** PPO: `iterations` rounds of rollout, scoring, advantages and updates; returns each round's measurements. */
export async function ppo(o: PpoOptions): Promise<PpoIteration[]> {
  const { rows, seq, vocab, promptLength } = o;
  const [beta1, beta2] = o.betas ?? [0.9, 0.95];
  const epochs = o.epochs ?? 4;
  const hyper = { rows, seq, promptLength, klCoef: o.klCoef ?? 0.05, gamma: o.gamma ?? 1, lambda: o.lambda ?? 0.95 };
  const zeros = new Float32Array(rows * seq);
  let params = await o.actor.readParams();
  let step = 0;
  const out: PpoIteration[] = [];
  for (let it = 0; it < o.iterations; it++) {
    const t0 = now();
    const prompts = o.prompts(it);
    if (prompts.length !== rows || prompts.some((q) => q.length !== promptLength))
      throw new Error(`ppo: prompts(${it}) must give ${rows} prompts of ${promptLength} tokens`);
    const made = await o.sampler.sample(params, prompts, { maxNewTokens: seq - promptLength, temperature: 1, topK: 0, topP: 1, seed: o.seed * 7919 + it });
    const tokens = new Int32Array(rows * seq);
    prompts.forEach((q, b) => {
      const row = [...q, ...made[b]!];
      if (row.length !== seq) throw new Error(`ppo: sequence ${b} has ${row.length} tokens, not ${seq}`);
      tokens.set(row, b * seq);
    });
    const t1 = now();
    const { actions, mask } = actionInputs(tokens, rows, seq, vocab, promptLength);
    const logpInputs = { tokens, actions, old_logp: zeros, adv: zeros, mask };
    const [old, ref, vals, score] = await Promise.all([
      o.actorForward.run(logpInputs, ['logp']),
      o.reference.run(logpInputs, ['logp']),
      o.criticForward.run({ tokens, returns: zeros, mask }, ['values']),
      Promise.resolve(o.reward(tokens, rows, seq, promptLength)),
    ]);
    const t2 = now();
    const oldLogp = old['logp']!.data as Float32Array;
    const a = advantages(hyper, score, oldLogp, ref['logp']!.data, vals['values']!.data);
    const t3 = now();
    const actorLoss: number[] = [];
    const criticLoss: number[] = [];
    for (let e = 0; e < epochs; e++) {
      step++;
      const [bc1, bc2] = biasCorrections(step, beta1, beta2);
      const common = { lr: scalar(0), bc1: scalar(bc1), bc2: scalar(bc2) };
      const [ra, rc] = await Promise.all([
        o.actor.run({ tokens, actions, old_logp: oldLogp, adv: a.adv, mask, ...common, lr: scalar(o.actorLr) }, ['loss']),
        o.critic.run({ tokens, returns: a.returns, mask, ...common, lr: scalar(o.criticLr) }, ['loss']),
      ]);
      actorLoss.push(ra['loss']!.data[0]!);
      criticLoss.push(rc['loss']!.data[0]!);
    }
    const [next, criticParams] = await Promise.all([o.actor.readParams(), o.critic.readParams()]);
    params = next;
    o.actorForward.writeParams(trained(params));
    o.criticForward.writeParams(trained(criticParams));
    const t4 = now();
    const s: PpoIteration = {
      iteration: it,
      reward: Array.from(score).reduce((x, y) => x + y, 0) / rows,
      kl: a.kl,
      actorLoss: [actorLoss[0]!, actorLoss.at(-1)!],
      criticLoss: [criticLoss[0]!, criticLoss.at(-1)!],
      ms: { rollout: t1 - t0, scoring: t2 - t1, advantages: t3 - t2, update: t4 - t3 },
      tokens,
    };
    out.push(s);
    await o.onIteration?.(s);
  }
  return out;
}

/** A training plan's parameters without its optimizer state (what the forward plans hold). */
export function trained(params: ReadonlyMap<string, Float32Array>): Map<string, Float32Array> {
  return new Map([...params].filter(([name]) => !name.startsWith('opt.')));
}

/**
 * A sampler over the policy's prefill and decode plans on `device`: one session, opened at
 * the first call, whose weights each call replaces before it generates. `destroy()` closes it.
 */
export function sessionSampler(device: GPUDevice, plans: InferencePlans, opts: Pick<RunnerOptions, 'timeLimitMs'> = {}): Sampler & { destroy(): void } {
  let session: InferenceSession | undefined;
  return {
    async sample(params, prompts, options) {
      const weights = trained(params);
      if (!session) session = await InferenceSession.create(device, plans, { ...opts, params: weights });
      else session.writeParams(weights);
      const made = prompts.map((): number[] => []);
      for await (const step of session.generateBatch(prompts, options)) step.forEach((t, b) => t !== undefined && made[b]!.push(t));
      return made;
    },
    destroy() {
      session?.destroy();
      session = undefined;
    },
  };
}
