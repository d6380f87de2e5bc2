/**
 * Every sample model (tiny preset) compiled for this adapter's target, with its
 * subgroup matmul and row kernels, runs on WebGPU and matches the CPU oracle: every
 * kernel codegen emits for a device passes WebGPU validation there, not only the
 * portable ones (test/e2e covers those).
 */
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { adapterTarget, compareOutputs, destroySharedDevices, gpuStatus, runBoth } from '../support/gpu.js';

const status = await gpuStatus();
const target = await adapterTarget();

describe.skipIf(status.skip)(status.title(`samples compiled for the adapter's target (subgroups: ${target.subgroupSize ?? 'none'})`), () => {
  afterAll(destroySharedDevices);
  // As in test/e2e: f32 kernels against the float64 oracle stay near 1e-6; 1e-4 is the spine's bar.
  it.each(['mlp', 'gpt2', 'bert-base', 'llama', 'vit-b16', 'mixtral'])('%s (preset tiny) matches, relative error < 1e-4', async (name) => {
    const r = await runBoth(readFileSync(`samples/${name}.model`, 'utf8'), { preset: 'tiny', target });
    if (target.subgroupSize) expect(r.plan.features).toEqual(['subgroups']);
    for (const [out, e] of Object.entries(compareOutputs(r))) {
      expect(e.nonFiniteMismatches, out).toBe(0);
      expect(e.rel, out).toBeLessThan(1e-4);
    }
  });
});
