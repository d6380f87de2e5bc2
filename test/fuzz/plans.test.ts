import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { seal } from '../../codegen/seal.js';
import { compile } from '../../driver/compile.js';
import { numel } from '../../layout/mesh.js';
import { PlanRunner, randomInput, type HostArray, type Plan } from '../../runtime/index.js';
import { destroySharedDevices, sharedDevice } from '../support/gpu.js';
import { mutateJson } from '../support/mutate.js';
import { mulberry32 } from '../support/random.js';

/**
 * A bounded, seeded fuzz campaign over plans mdc wrote, loaded by the runtime as the host
 * module loads them. A mutant is either refused with the runtime's own error (a PlanError
 * or RuntimeError naming what is wrong, no JavaScript TypeError, no stack) or, when
 * accepted, computes exactly what the plan it came from computes, which the oracle tests
 * check against the CPU reference. Re-sealed mutants (someone who edits a plan on purpose and
 * says so) test validation of meaning: refused cleanly or run to completion, never a crash
 * or a hang.
 *
 * Reproduce: FUZZ_SEED=<seed printed> FUZZ_PLANS=1.
 */
const RUNS = Number(process.env['FUZZ_PLANS'] ?? 40);
const FIRST_SEED = Number(process.env['FUZZ_SEED'] ?? 20_261_203);
afterAll(destroySharedDevices);

/** What a refusal may look like: one of the runtime's errors, in words. */
const CLEAN = (e: unknown) =>
  e instanceof Error && ['PlanError', 'RuntimeError'].includes(e.name) && !/\bundefined\b|\[object |\bNaN\b|is not a function|Cannot read prop/.test(e.message);

async function basePlan(sample: string): Promise<Plan> {
  const r = await compile(readFileSync(`samples/${sample}.model`, 'utf8'), `${sample}.model`, { preset: 'tiny' });
  if (!r.plan) throw new Error(`samples/${sample}.model does not compile`);
  return JSON.parse(JSON.stringify(r.plan)) as Plan;
}

function inputsOf(plan: Plan): Record<string, HostArray> {
  const out: Record<string, HostArray> = {};
  for (const io of plan.inputs) out[io.name] = randomInput(plan.buffers[io.buffer]!.type, numel(io.shape), 5, io.name, io.max ?? 2);
  return out;
}

async function runPlan(plan: unknown, inputs: Record<string, HostArray>, edited = false): Promise<Record<string, Float32Array | Int32Array>> {
  const runner = await PlanRunner.create(await sharedDevice(), plan, { edited, timeLimitMs: 20_000 });
  try {
    const out = await runner.run(inputs);
    return Object.fromEntries(Object.entries(out).map(([k, t]) => [k, t.data]));
  } finally {
    runner.destroy();
  }
}

describe('fuzzing plans mdc wrote', () => {
  it.each(['mlp', 'gpt2'])(
    '%s: a damaged plan is refused in words or computes exactly what the original does',
    async (sample) => {
      const base = await basePlan(sample);
      const inputs = inputsOf(base);
      const reference = await runPlan(base, inputs);
      const failures: string[] = [];
      let refused = 0;
      for (let seed = FIRST_SEED; seed < FIRST_SEED + RUNS && failures.length < 3; seed++) {
        const mutant = mutateJson(base, mulberry32(seed));
        if (JSON.stringify(mutant) === JSON.stringify(base)) continue;
        let out: Record<string, Float32Array | Int32Array>;
        try {
          out = await runPlan(mutant, inputs);
        } catch (e) {
          if (CLEAN(e)) refused++;
          else failures.push(`seed ${seed}: refused with ${(e as Error).stack?.split('\n').slice(0, 3).join(' | ')}`);
          continue;
        }
        for (const [name, data] of Object.entries(reference))
          if (!out[name] || out[name]!.length !== data.length || out[name]!.some((x, i) => !Object.is(x, data[i])))
            failures.push(`seed ${seed}: accepted, and output ${name} differs from the original plan's`);
      }
      expect(failures, failures.join('\n')).toEqual([]);
      expect(refused).toBeGreaterThan(RUNS / 2);
    },
    600_000,
  );

  it.each(['mlp', 'gpt2'])(
    '%s: an edited and re-sealed plan is refused in words or runs to completion',
    async (sample) => {
      const base = await basePlan(sample);
      const inputs = inputsOf(base);
      const failures: string[] = [];
      let refused = 0;
      let ran = 0;
      for (let seed = FIRST_SEED; seed < FIRST_SEED + RUNS && failures.length < 3; seed++) {
        const mutant = mutateJson(base, mulberry32(seed));
        let resealed: unknown = mutant;
        try {
          resealed = seal(mutant);
        } catch {
          // A mutant too broken to seal (not an object) goes in as it is.
        }
        try {
          await runPlan(resealed, inputs);
          ran++;
        } catch (e) {
          if (CLEAN(e)) refused++;
          else failures.push(`seed ${seed}: ${(e as Error).stack?.split('\n').slice(0, 3).join(' | ')}\n${JSON.stringify(mutant).slice(0, 200)}`);
        }
      }
      expect(failures, failures.join('\n')).toEqual([]);
      expect(refused + ran).toBeGreaterThan(0);
    },
    600_000,
  );
});
