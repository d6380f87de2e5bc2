import { afterAll, describe, expect, it } from 'vitest';
import { planOf } from '../../driver/stages.js';
import { PlanRunner } from '../../runtime/executor.js';
import { compileOrThrow, destroySharedDevices, gpuStatus, sharedDevice } from '../support/gpu.js';

/**
 * A host program's mistakes with a loaded plan are errors naming the offender and the
 * valid choices, never random weights or a zero row used in their place.
 */
const EMBED = `model E(ids: i32[2, 3]) -> f32[2, 3, 4] {
  param table: f32[10, 4] = normal(0, 1)
  param scale: f32[4] = ones()
  return embedding(table, ids) * scale
}
`;

const gpu = await gpuStatus();
afterAll(destroySharedDevices);

describe.skipIf(gpu.skip)(gpu.title('misuse of a loaded plan'), () => {
  const plan = planOf(compileOrThrow(EMBED));
  const w = (n: number) => new Float32Array(n).fill(0.5);

  it('a parameter name the model does not have is refused, listing the ones it has', async () => {
    const device = await sharedDevice();
    await expect(
      PlanRunner.create(device, plan, {
        params: new Map([
          ['tabel', w(40)],
          ['scale', w(4)],
        ]),
      }),
    ).rejects.toThrow('unknown parameter tabel: E has table, scale');
  });

  it('a parameter left out is refused unless initRest asks for the seed', async () => {
    const device = await sharedDevice();
    await expect(PlanRunner.create(device, plan, { params: new Map([['table', w(40)]]) })).rejects.toThrow(
      'missing parameter scale of E (pass initRest: true to initialise the ones not given from the seed)',
    );
    const runner = await PlanRunner.create(device, plan, { params: new Map([['table', w(40)]]), initRest: true });
    const out = await runner.run({ ids: Int32Array.from([0, 1, 2, 3, 4, 9]) });
    runner.destroy();
    // table all 0.5, scale initialised to ones: every output is exactly 0.5.
    expect(Array.from(out['y']?.data ?? Object.values(out)[0]!.data)).toEqual(new Array(24).fill(0.5));
  });

  it('token ids outside the embedding table are refused, naming the position and the range', async () => {
    const device = await sharedDevice();
    const runner = await PlanRunner.create(device, plan);
    try {
      await expect(runner.run({ ids: Int32Array.from([0, 1, 10, 3, 4, 5]) })).rejects.toThrow("input 'ids'[2] is 10, outside its table's ids 0..9");
      await expect(runner.run({ ids: Int32Array.from([0, 1, 2, 3, 4, -1]) })).rejects.toThrow("input 'ids'[5] is -1, outside its table's ids 0..9");
    } finally {
      runner.destroy();
    }
  });

  it('warmup runs the plan once without changing what a run computes; kernels reports the count and the compile time', async () => {
    const device = await sharedDevice();
    const ids = Int32Array.from([0, 1, 2, 3, 4, 9]);
    const cold = await PlanRunner.create(device, plan);
    const expected = Array.from(Object.values(await cold.run({ ids }))[0]!.data);
    cold.destroy();
    const runner = await PlanRunner.create(device, plan);
    try {
      expect(runner.kernels.count).toBe(plan.kernels.length);
      expect(runner.kernels.compileMilliseconds).toBeGreaterThan(0);
      expect(await runner.warmup()).toBeGreaterThan(0);
      expect(Array.from(Object.values(await runner.run({ ids }))[0]!.data)).toEqual(expected);
    } finally {
      runner.destroy();
    }
  });
});
