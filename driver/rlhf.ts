/// <reference types="@webgpu/types" />
/**
 * The RLHF sample's graphs compiled and placed: samples/rlhf/ppo.model's Actor, Critic and
 * Reward as training and forward plans, and its Policy as prefill and decode plans; then
 * one device per model (actor and its rollout, reference, critic, reward model), ready for
 * runtime/rlhf.ts's ppo(). Every plan is compiled with one seed, so parameters of the
 * same name start equal; the actor's first weights are also written into the reference
 * and the actor's forward plan, so that does not rest on the seed alone.
 */
import { formatDiagnostic } from '../diagnostics/format.js';
import { PlanRunner, type Plan, type RunnerOptions } from '../runtime/index.js';
import type { InferencePlans } from '../runtime/generate.js';
import { sessionSampler, trained, type Sampler } from '../runtime/rlhf.js';
import { compile } from './compile.js';
import { compileInference } from './infer.js';

export interface RlhfPlans {
  readonly actor: Plan;
  readonly actorForward: Plan;
  readonly critic: Plan;
  readonly criticForward: Plan;
  readonly reward: Plan;
  readonly rewardForward: Plan;
  readonly policy: InferencePlans;
}

/** Compiles the five models' plans from one source; throws with the diagnostics if any. */
export async function compileRlhf(source: string, file: string, seed: number): Promise<RlhfPlans> {
  const one = async (model: string, train: boolean): Promise<Plan> => {
    const c = await compile(source, file, { model, train, seed });
    if (c.diagnostics.length || !c.plan) throw new Error(c.diagnostics.map((d) => formatDiagnostic(d, source)).join('\n') || `${model}: no plan`);
    return c.plan;
  };
  const inf = await compileInference(source, file, { model: 'Policy', seed });
  if (inf.diagnostics.length || !inf.plans) throw new Error(inf.diagnostics.map((d) => formatDiagnostic(d, source)).join('\n') || 'Policy: no plans');
  return {
    actor: await one('Actor', true),
    actorForward: await one('Actor', false),
    critic: await one('Critic', true),
    criticForward: await one('Critic', false),
    reward: await one('Reward', true),
    rewardForward: await one('Reward', false),
    policy: inf.plans,
  };
}

/** The runners on their devices: [actor, reference, critic, reward] (one device may be given for all four). */
export interface RlhfRunners {
  readonly actor: PlanRunner;
  readonly actorForward: PlanRunner;
  readonly reference: PlanRunner;
  readonly critic: PlanRunner;
  readonly criticForward: PlanRunner;
  readonly reward: PlanRunner;
  readonly rewardForward: PlanRunner;
  readonly sampler: Sampler & { destroy(): void };
  destroy(): void;
}

/** `opts.timeLimitMs` bounds each run (the first run of a plan also builds its pipelines, which llvmpipe takes long over). */
export async function openRlhf(devices: readonly GPUDevice[], plans: RlhfPlans, opts: Pick<RunnerOptions, 'timeLimitMs'> = {}): Promise<RlhfRunners> {
  const [a, r, c, w] = [0, 1, 2, 3].map((i) => devices[Math.min(i, devices.length - 1)]!);
  const actor = await PlanRunner.create(a!, plans.actor, opts);
  const first = trained(await actor.readParams());
  const actorForward = await PlanRunner.create(a!, plans.actorForward, opts);
  const reference = await PlanRunner.create(r!, plans.actorForward, opts);
  actorForward.writeParams(first);
  reference.writeParams(first);
  const critic = await PlanRunner.create(c!, plans.critic, opts);
  const criticForward = await PlanRunner.create(c!, plans.criticForward, opts);
  criticForward.writeParams(trained(await critic.readParams()));
  const reward = await PlanRunner.create(w!, plans.reward, opts);
  const rewardForward = await PlanRunner.create(w!, plans.rewardForward, opts);
  const sampler = sessionSampler(a!, plans.policy, opts);
  const all = [actor, actorForward, reference, critic, criticForward, reward, rewardForward];
  return {
    actor,
    actorForward,
    reference,
    critic,
    criticForward,
    reward,
    rewardForward,
    sampler,
    destroy: () => {
      all.forEach((x) => x.destroy());
      sampler.destroy();
    },
  };
}
