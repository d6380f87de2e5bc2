/**
 * Tensor-parallel KV-cache decoding on WebGPU, four devices on `[tp: 4]`: the GPT-2
 * sample's column-parallel q, k, v projections (`d@tp`) split the heads, so each device
 * holds a quarter of every layer's cache ([batch, max_seq, width/4]) and the row-parallel
 * output projections end in all-reduces between kernel steps. The law is the one-device
 * test's (kv-cache-gpu.test.ts): after a prefill, the logits of every decode step equal
 * the logits of a full forward pass over the whole sequence at that position. The oracle
 * is the CPU reference interpreter (float64) running the model as lowered for one device,
 * with the same weights; it never sees the cache, the partition or the decode graph.
 */
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { compileInference, type InferCompiled } from '../../driver/infer.js';
import { InferenceSession } from '../../runtime/generate.js';
import { cliGreedyTokens, gap, oracleGreedy, oracleLogits as oracle } from '../support/infer.js';
import { destroySharedDevices, gpuStatus, sharedDevices, uniformI32 } from '../support/gpu.js';

const status = await gpuStatus();
afterAll(destroySharedDevices);

const source = readFileSync('samples/gpt2.model', 'utf8');
const M = 16;
const SEED = 5;
const TP = { axes: [{ name: 'tp', size: 4 }] };

describe('tensor-parallel inference plans (no device)', () => {
  it('split every layer’s cache with the heads, a quarter per device, and all-reduce between kernel steps', async () => {
    const c = await compileInference(source, 'gpt2.model', { preset: 'tiny', maxSeq: M, batch: 2, partition: TP });
    expect(c.diagnostics).toEqual([]);
    const p = c.plans!;
    // tiny: d = 128, 4 heads; max_seq 16, batch 2: each device holds [2, 16, 32] of each [2, 16, 128] entry.
    expect(p.cache.map((e) => [e.shape, e.block])).toEqual([
      [
        [2, 16, 128],
        [2, 16, 32],
      ],
      [
        [2, 16, 128],
        [2, 16, 32],
      ],
    ]);
    for (const plan of [p.prefill, p.decode]) {
      expect(plan.mesh?.devices).toBe(4);
      const k = plan.buffers.find((b) => b.role === 'param' && b.name === 'cache.k.1')!;
      expect([k.shape, k.global?.layout.axes]).toEqual([
        [2, 16, 32],
        [[], [], ['tp']],
      ]);
      // Two row-parallel projections per layer (attention's wo, the MLP's w2), two layers.
      expect(plan.steps.filter((s) => s.kind === 'collective').map((s) => s.kind === 'collective' && s.op)).toEqual(Array(4).fill('all_reduce'));
    }
    // Each device writes its rows into its block of the cache in place, 2 sequences × 32 columns per kv_write: no update copies it.
    expect(p.decode.updates ?? []).toEqual([]);
    const writes = p.decode.steps.flatMap((s) => (s.kind !== 'collective' && s.op === 'kv_write' ? [s] : []));
    for (const s of writes) {
      const k = p.decode.kernels[s.kernel]!;
      expect(p.decode.buffers[s.buffers[k.bindings.findIndex((b) => b.name === 'out')]!]!.role).toBe('param');
      expect(k.bindings.find((b) => b.name === 'row')!.elements).toBe(2 * 32);
      expect(s.dispatch.reduce((x, y) => x * y, 1) * k.workgroupSize.reduce((x, y) => x * y, 1)).toBeLessThan(2 * 32 + k.workgroupSize[0]);
    }
    expect(writes).toHaveLength(4);
    // The decode step's attention reads only the device's block of the cache: its heads.
    const one = await compileInference(source, 'gpt2.model', { preset: 'tiny', maxSeq: M, batch: 2 });
    expect(one.plans!.cache[0]!.block).toEqual([2, 16, 128]);
  });

  it('mdc plan reports the cache’s bytes per device, split by tp', async () => {
    const { main } = await import('../../cli/main.js');
    const out: string[] = [];
    const args = ['plan', 'samples/gpt2.model', '--preset', 'tiny', '--mesh', 'dp=1,tp=4', '--json'];
    expect(await main(args, { out: (x) => out.push(x), err: () => undefined })).toBe(0);
    // By hand: 2 layers × (k and v) × batch 2 × 128 positions (the infer section) × width 128 × 4 bytes, over 4 devices.
    expect((JSON.parse(out.join('\n')) as { kvCache: unknown }).kvCache).toEqual({
      bytesPerDevice: (2 * 2 * 2 * 128 * 128 * 4) / 4,
      layers: 2,
      batch: 2,
      maxSeq: 128,
      shape: [2, 128, 128],
      block: [2, 128, 32],
    });
  });

  it('refuses a tp size that does not divide the heads, at the attention', async () => {
    const c = await compileInference(source, 'gpt2.model', { preset: 'tiny', maxSeq: M, batch: 1, overrides: { d: 96, heads: 3 }, partition: TP });
    expect(c.plans).toBeUndefined();
    expect(c.diagnostics.map((d) => d.code)).toContain('MDC0410');
  });
});

/** The oracle's logits at this file's cache length and seed (test/support/infer.ts). */
const oracleLogits = (c: InferCompiled, seqs: readonly (readonly number[])[], m = M) => oracle(c, seqs, m, SEED);

describe.skipIf(status.skip)(status.title('tensor-parallel KV-cache decoding of the GPT-2 sample (tiny) on 4 WebGPU devices'), () => {
  it('decode logits equal a full forward pass at every position, for two sequences of different lengths', async () => {
    const tp = await compileInference(source, 'gpt2.model', { preset: 'tiny', maxSeq: M, batch: 2, seed: SEED, partition: TP });
    const one = await compileInference(source, 'gpt2.model', { preset: 'tiny', maxSeq: M, batch: 2, seed: SEED });
    expect(tp.diagnostics).toEqual([]);
    const V = tp.plans!.vocab;
    const session = await InferenceSession.create(await sharedDevices(4), tp.plans!);
    try {
      expect(session.cacheBytes).toBe((2 * 2 * 2 * M * 128 * 4) / 4);
      const full = [Array.from(uniformI32(M, 0, V, 31)), Array.from(uniformI32(M, 0, V, 32))];
      const prompt = [5, 9];
      const oracle = oracleLogits(one, full);
      // f32 on the devices (partial sums added on the host) against float64: the one-device bound, 1e-4 of the row's largest logit.
      const TOL = 1e-4;
      const pre = await session.prefill(full.map((s, b) => s.slice(0, prompt[b])));
      for (let b = 0; b < 2; b++) {
        const at = (b * M + prompt[b]! - 1) * V;
        const { diff, scale } = gap(pre.subarray(at, at + V), oracle, at, V);
        expect(diff, `prefill, sequence ${b}`).toBeLessThanOrEqual(TOL * scale);
      }
      let checked = 0;
      for (let step = 0; step < M - 9; step++) {
        const pos = Int32Array.from(prompt, (p) => p + step);
        const tokens = Int32Array.from(full.map((s, b) => s[pos[b]!]!));
        const logits = await session.step(tokens, pos);
        for (let b = 0; b < 2; b++) {
          const { diff, scale } = gap(logits.subarray(b * V, (b + 1) * V), oracle, (b * M + pos[b]!) * V, V);
          expect(scale).toBeGreaterThan(0);
          expect(diff, `sequence ${b} at position ${pos[b]}`).toBeLessThanOrEqual(TOL * scale);
          checked++;
        }
      }
      expect(checked).toBe(2 * (M - 9));
    } finally {
      session.destroy();
    }
  });

  it('mdc generate --mesh tp=4 streams the greedy tokens of repeated full forward passes', async () => {
    const got = await cliGreedyTokens('tp=4');
    // The oracle: the CPU reference over the whole sequence at the infer section's 128 positions, seed 0 (the CLI's), argmax each time.
    const one = await compileInference(source, 'gpt2.model', { preset: 'tiny', batch: 1 });
    expect(got).toEqual(oracleGreedy(one, [...Buffer.from('Hi')], 3, 128, 0));
  });

  it('refuses a device count other than the mesh’s', async () => {
    const tp = await compileInference(source, 'gpt2.model', { preset: 'tiny', maxSeq: M, batch: 1, partition: TP });
    await expect(InferenceSession.create(await sharedDevices(2), tp.plans!)).rejects.toThrow(
      'the inference plans are partitioned over 4 devices (dp=1,tp=4), but 2 were given',
    );
  });
});
