import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { DEFAULT_MAX_BINDING_BYTES } from '../../runtime/plan.js';
import { compareOutputs, destroySharedDevices, gpuStatus, runBoth } from '../support/gpu.js';

/**
 * The full-size GPT-2 small sample (vocabulary 50257: a 154 MB embedding, over the 128 MiB
 * storage binding limit of WebGPU's defaults and of llvmpipe) runs forward on the adapter
 * with its embedding bound as two windows, and matches the CPU oracle.
 */
const status = await gpuStatus();

describe.skipIf(status.skip)(status.title('GPT-2 small at full size on WebGPU (values over one binding)'), () => {
  afterAll(destroySharedDevices);

  it('forward at B = 2, S = 8 matches the CPU oracle; wte is bound as windows by the portable target', async () => {
    const r = await runBoth(readFileSync('samples/gpt2.model', 'utf8'), { dims: { B: 2, S: 8 } });
    const wte = r.plan.buffers.find((b) => b.name === 'wte')!;
    expect(wte.bytes).toBeGreaterThan(DEFAULT_MAX_BINDING_BYTES);
    expect(r.plan.version).toBe(5);
    // The gather and the tied LM head bind wte as two windows.
    const windowed = r.plan.kernels.filter((k) => k.bindings.some((b) => b.window)).map((k) => k.name);
    expect(windowed).toEqual(['embedding', 'matmul_tiled']);
    const { logits } = compareOutputs(r);
    console.log(`GPT-2 small B=2 S=8: rel ${logits!.rel.toExponential(2)}, max abs ${logits!.maxAbs.toExponential(2)}, gpu ${(r.gpuMs / 1000).toFixed(1)} s`);
    // f32 dot products of up to 3072 terms through 12 layers, against the float64 oracle:
    // about sqrt(3072)·u·depth ≈ 1e-5; 1e-4 leaves headroom and still fails on a wrong window.
    expect(logits!.rel).toBeLessThan(1e-4);
  }, 600_000);
});
