/**
 * The decode step's kv_write runs in place (codegen/in-place.ts): its kernel writes one row
 * per sequence straight into the cache parameter. The oracle for the cache after a step is
 * the CPU reference's kv_write (the op's meaning: the whole cache with each row written at
 * its position, a position outside [0, M) writing nothing), run on the decode graph with the
 * same parameters; and a warm-up run must leave the parameters as they were.
 */
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { interpret } from '../../compiler/reference/interpret.js';
import { compileInference } from '../../driver/infer.js';
import { PlanRunner } from '../../runtime/executor.js';
import { destroySharedDevices, gpuStatus, sharedDevice } from '../support/gpu.js';

const status = await gpuStatus();
afterAll(destroySharedDevices);

describe.skipIf(status.skip)(status.title('kv_write in place on WebGPU (GPT-2 tiny)'), () => {
  it('a step writes only the rows at in-range positions, as the CPU reference; warm-up writes nothing', async () => {
    const M = 8;
    const c = await compileInference(readFileSync('samples/gpt2.model', 'utf8'), 'gpt2.model', { preset: 'tiny', maxSeq: M, batch: 2, seed: 5 });
    expect(c.diagnostics).toEqual([]);
    const runner = await PlanRunner.create(await sharedDevice(), c.plans!.decode);
    try {
      // A cache that is not zero, so that a row written anywhere else, or a whole cache rewritten, shows.
      const caches = new Map(
        c.cache!.flatMap((e) => [e.k, e.v]).map((name, k) => [name, Float32Array.from({ length: 2 * M * 128 }, (_, i) => Math.sin(i * 0.37 + k))]),
      );
      runner.writeParams(caches);
      const before = await runner.readParams();
      await runner.warmup();
      const warm = await runner.readParams();
      for (const name of caches.keys()) expect(warm.get(name), `${name} after warm-up`).toEqual(before.get(name));
      // Sequence 0 at position 3; sequence 1 past the cache, which writes nothing.
      const tokens = Int32Array.from([7, 11]);
      const positions = Int32Array.from([3, M + 2]);
      await runner.run({ tokens, positions });
      const after = await runner.readParams();
      const want = interpret(c.decodeGraph!, { tokens: [...tokens], positions: [...positions] }, (name) => Float64Array.from(before.get(name)!));
      let changed = 0;
      for (const name of caches.keys()) {
        const got = after.get(name)!;
        const ref = want[`new.${name}`]!.data;
        for (let i = 0; i < got.length; i++) {
          // Rows the step leaves alone are the same bits; the written row is f32 arithmetic against float64: 1e-4 of its scale.
          if (got[i] !== before.get(name)![i]) changed++;
          expect(Math.abs(got[i]! - ref[i]!), `${name}[${i}]`).toBeLessThanOrEqual(1e-4 * (1 + Math.abs(ref[i]!)));
        }
      }
      // Hand-derived: one row of 128 per cache (sequence 0's), four caches; almost every element of a new row differs from the old.
      expect(changed).toBeGreaterThan(4 * 100);
      expect(changed).toBeLessThanOrEqual(4 * 128);
    } finally {
      runner.destroy();
    }
  });
});
