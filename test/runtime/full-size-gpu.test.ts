import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { DEFAULT_MAX_BINDING_BYTES } from '../../runtime/plan.js';
import { compareOutputs, destroySharedDevices, gpuStatus, runBoth } from '../support/gpu.js';

/**
 * The full-size GPT-2 small sample (vocabulary 50257: a 154 MB embedding, over the 128 MiB
 * storage binding limit of WebGPU's defaults and of llvmpipe) runs forward on the adapter
 * with its embedding bound as two windows, and matches the CPU oracle; so does BERT-base.
 * Few tokens: the CPU oracle of 124M parameters is what takes the time.
 */
const status = await gpuStatus();

describe.skipIf(status.skip)(status.title('GPT-2 small and BERT-base at full size on WebGPU'), () => {
  afterAll(destroySharedDevices);

  it('forward at B = 2, S = 4 matches the CPU oracle; wte is bound as windows by the portable target', async () => {
    const r = await runBoth(readFileSync('samples/gpt2.model', 'utf8'), { dims: { B: 2, S: 4 } });
    const wte = r.plan.buffers.find((b) => b.name === 'wte')!;
    expect(wte.bytes).toBeGreaterThan(DEFAULT_MAX_BINDING_BYTES);
    expect(r.plan.version).toBe(5);
    // The gather and the tied LM head bind wte as two windows.
    const windowed = r.plan.kernels.filter((k) => k.bindings.some((b) => b.window)).map((k) => k.name);
    expect(windowed).toEqual(['embedding', 'matmul_tiled']);
    const { logits } = compareOutputs(r);
    console.log(`GPT-2 small B=2 S=4: rel ${logits!.rel.toExponential(2)}, max abs ${logits!.maxAbs.toExponential(2)}, gpu ${(r.gpuMs / 1000).toFixed(1)} s`);
    // f32 dot products of up to 3072 terms through 12 layers, against the float64 oracle:
    // about sqrt(3072)·u·depth ≈ 1e-5; 1e-4 leaves headroom and still fails on a wrong window.
    expect(logits!.rel).toBeLessThan(1e-4);
  }, 600_000);

  it('BERT-base at full size (a 94 MB word table, under the limit: no windows) forward at B = 1, S = 8 matches the CPU oracle', async () => {
    const r = await runBoth(readFileSync('samples/bert-base.model', 'utf8'), { dims: { B: 1, S: 8 } });
    expect(r.plan.buffers.find((b) => b.name === 'word')!.shape).toEqual([30522, 768]);
    expect(r.plan.version).toBe(3);
    const stats = compareOutputs(r);
    for (const [name, e] of Object.entries(stats)) {
      console.log(`BERT-base ${name}: rel ${e.rel.toExponential(2)}, max abs ${e.maxAbs.toExponential(2)}`);
      // As GPT-2 above: f32 accumulation through 12 layers against the float64 oracle.
      expect(e.rel, name).toBeLessThan(1e-4);
    }
  }, 600_000);
});
