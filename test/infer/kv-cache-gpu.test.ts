/**
 * The KV-cache law on WebGPU: after a prefill over a prompt, the logits of every decode
 * step (one token at its position, keys and values of earlier positions read from the
 * cache) equal the logits of a full forward pass over the whole sequence at that position.
 * The oracle is the CPU reference interpreter (float64) running the model as lowered, at
 * max_seq positions, with the same weights; it never sees the cache, the prefill or the
 * decode graph. Two sequences of different lengths are decoded together, each at its own
 * position. Greedy generation must equal the argmax of repeated full forward passes, and
 * sampling must repeat with its seed.
 */
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { compileInference, type InferCompiled } from '../../driver/infer.js';
import { InferenceSession } from '../../runtime/generate.js';
import { gap, oracleLogits as oracle } from '../support/infer.js';
import { destroySharedDevices, gpuStatus, sharedDevice, uniformI32 } from '../support/gpu.js';

const status = await gpuStatus();
afterAll(destroySharedDevices);

const source = readFileSync('samples/gpt2.model', 'utf8');
const M = 24;
const SEED = 3;

/** The oracle's logits at this file's cache length and seed (test/support/infer.ts). */
const oracleLogits = (c: InferCompiled, seqs: readonly (readonly number[])[], m = M) => oracle(c, seqs, m, SEED);

describe.skipIf(status.skip)(status.title('KV-cache decoding of the GPT-2 sample (tiny) on WebGPU'), () => {
  let compiled: InferCompiled;
  let session: InferenceSession;

  it('compiles prefill and decode plans from the infer settings', async () => {
    compiled = await compileInference(source, 'gpt2.model', { preset: 'tiny', maxSeq: M, batch: 2, seed: SEED });
    expect(compiled.diagnostics).toEqual([]);
    const p = compiled.plans!;
    expect(p.cache.length).toBe(2 * 1); // one attention per layer, two layers: k and v entries per layer
    expect(p.decode.inputs.map((i) => [i.name, i.shape])).toEqual([
      ['tokens', [2, 1]],
      ['positions', [2]],
    ]);
    session = await InferenceSession.create(await sharedDevice(), p);
  });

  it('decode logits equal a full forward pass at every position, for two sequences of different lengths', async () => {
    const V = compiled.plans!.vocab;
    const full = [Array.from(uniformI32(M, 0, V, 11)), Array.from(uniformI32(M, 0, V, 12))];
    const prompt = [5, 9];
    const oracle = oracleLogits(compiled, full);
    // f32 on the device against float64: the worst seen is about 1e-6 of the row's scale; 1e-4 leaves room for other adapters.
    const TOL = 1e-4;
    const pre = await session.prefill(full.map((s, b) => s.slice(0, prompt[b])));
    for (let b = 0; b < 2; b++) {
      const at = (b * M + prompt[b]! - 1) * V;
      const { diff, scale } = gap(pre.subarray(at, at + V), oracle, at, V);
      expect(diff).toBeLessThanOrEqual(TOL * scale);
    }
    let worst = 0;
    for (let step = 0; step < M - 9; step++) {
      const pos = Int32Array.from(prompt, (p) => p + step);
      const tokens = Int32Array.from(full.map((s, b) => s[pos[b]!]!));
      const logits = await session.step(tokens, pos);
      for (let b = 0; b < 2; b++) {
        const { diff, scale } = gap(logits.subarray(b * V, (b + 1) * V), oracle, (b * M + pos[b]!) * V, V);
        worst = Math.max(worst, diff / scale);
        expect(diff, `sequence ${b} at position ${pos[b]}`).toBeLessThanOrEqual(TOL * scale);
      }
    }
    expect(worst).toBeGreaterThanOrEqual(0);
  });

  it('greedy generation equals the argmax of repeated full forward passes', async () => {
    const prompt = [7, 1, 300, 42];
    const got: number[] = [];
    // temperature 0: the sample's infer section samples by default (temperature 0.8).
    for await (const t of session.generate(prompt, { maxNewTokens: 6, temperature: 0 })) got.push(t);
    const seq = [...prompt];
    for (let k = 0; k < 6; k++) {
      const logits = oracleLogits(compiled, [seq]);
      const V = compiled.plans!.vocab;
      const row = logits.subarray((seq.length - 1) * V, seq.length * V);
      let best = 0;
      for (let i = 1; i < V; i++) if (row[i]! > row[best]!) best = i;
      seq.push(best);
    }
    expect(got).toEqual(seq.slice(prompt.length));
  });

  it('sampling repeats with its seed and differs with another', async () => {
    const run = async (seed: number) => {
      const out: number[] = [];
      for await (const t of session.generate([3, 4, 5], { maxNewTokens: 8, temperature: 1.5, topK: 50, topP: 0.95, seed })) out.push(t);
      return out;
    };
    const a = await run(1);
    expect(await run(1)).toEqual(a);
    expect(a).toHaveLength(8);
    expect(await run(2)).not.toEqual(a);
  });

  it('refuses token ids outside the vocabulary and prompts longer than max_seq', async () => {
    await expect(session.prefill([[1, 2, 1024]])).rejects.toThrow('prompt 0 token 2 is 1024, outside the vocabulary 0..1023');
    await expect(session.prefill([Array.from({ length: M + 1 }, () => 1)])).rejects.toThrow(`prompt 0 has ${M + 1} tokens, more than max_seq = ${M}`);
    await expect(session.step(Int32Array.of(1, 2), Int32Array.of(0, M))).rejects.toThrow(`sequence 1 is at position ${M}, outside the KV cache's 0..${M - 1}`);
    session.destroy();
  });
});

describe.skipIf(status.skip)(status.title('KV-cache decoding past one chunk of keys on WebGPU'), () => {
  it('decode logits at positions past 256 (attention_decode walks the cache in chunks of 256 keys) equal the full forward pass', async () => {
    const L = 272;
    const c = await compileInference(source, 'gpt2.model', { preset: 'tiny', overrides: { ctx: 512 }, maxSeq: L, batch: 1, seed: SEED });
    const V = c.plans!.vocab;
    const seq = Array.from(uniformI32(L, 0, V, 21));
    const oracle = oracleLogits(c, [seq], L);
    const s = await InferenceSession.create(await sharedDevice(), c.plans!);
    try {
      await s.prefill([seq.slice(0, 258)]);
      for (const p of [258, 259, L - 1]) {
        if (p > 259) await s.prefill([seq.slice(0, p)]);
        const logits = await s.step(Int32Array.of(seq[p]!), Int32Array.of(p));
        const { diff, scale } = gap(logits, oracle, p * V, V);
        expect(diff, `position ${p}`).toBeLessThanOrEqual(1e-4 * scale);
      }
    } finally {
      s.destroy();
    }
  });
});
