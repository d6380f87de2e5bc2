/**
 * KV-cache decoding of the LLaMA sample (tiny: rotary embeddings, RMS norm, SwiGLU, 4 query
 * heads sharing 2 KV heads) on WebGPU, on one device and tensor-parallel on two. The law is
 * the GPT-2 tests' (kv-cache-gpu.test.ts): after a prefill, the logits of every decode step
 * equal the logits of a full forward pass over the whole sequence at that position. The
 * oracle is the CPU reference interpreter (float64) running the model as lowered for one
 * device, with the same weights; it never sees the cache, the decode graph or the
 * partition. The weights (test/support/llama-weights.ts) make attention sharp, so a token
 * turned by a wrong angle misses by about the logits' whole scale, far above the tolerance.
 */
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { interpret } from '../../compiler/reference/interpret.js';
import { compileInference, type InferCompiled, type InferOptions } from '../../driver/infer.js';
import { initValues } from '../../runtime/init.js';
import { InferenceSession } from '../../runtime/generate.js';
import { gap } from '../support/infer.js';
import { sharpWeights } from '../support/llama-weights.js';
import { destroySharedDevices, gpuStatus, sharedDevice, sharedDevices, uniformI32 } from '../support/gpu.js';

const status = await gpuStatus();
afterAll(destroySharedDevices);

const source = readFileSync('samples/llama.model', 'utf8');
const SEED = 7;

/**
 * The sample with Megatron-LM's layouts on [tp: 2]: column-parallel q, k, v and w1, w3,
 * row-parallel wo and w2. Each device holds 2 of the 4 query heads and 1 of the 2 KV heads.
 */
const tpSource = `mesh Tp = [tp: 2]\n${source}`
  .replace('param wq: f32[d, d]', 'param wq: f32[d, d@tp]')
  .replace('param wk: f32[d, kv_heads*(d/heads)]', 'param wk: f32[d, kv_heads*(d/heads)@tp]')
  .replace('param wv: f32[d, kv_heads*(d/heads)]', 'param wv: f32[d, kv_heads*(d/heads)@tp]')
  .replace('param wo: f32[d, d]', 'param wo: f32[d@tp, d]')
  .replace('param w1: f32[d, ffn]', 'param w1: f32[d, ffn@tp]')
  .replace('param w3: f32[d, ffn]', 'param w3: f32[d, ffn@tp]')
  .replace('param w2: f32[ffn, d]', 'param w2: f32[ffn@tp, d]');

/**
 * After a prefill of prompts of lengths `prompt`, decodes to position M − 1 and compares
 * every step's logits (and the prefill's last) with the oracle; the worst gap over the
 * row's largest logit.
 */
async function decodeAgainstOracle(src: string, devices: GPUDevice | GPUDevice[], M: number, opts: InferOptions, prompt: readonly number[]) {
  const c = await compileInference(src, 'llama.model', { preset: 'tiny', maxSeq: M, batch: prompt.length, seed: SEED, ...opts });
  expect(c.diagnostics).toEqual([]);
  const one = opts.partition ? await compileInference(source, 'llama.model', { preset: 'tiny', maxSeq: M, batch: prompt.length, graphsOnly: true }) : c;
  const params = sharpWeights(c.plans!.prefill, SEED);
  const V = c.plans!.vocab;
  const full = prompt.map((_, b) => Array.from(uniformI32(M, 0, V, 41 + b)));
  const oracle = oracleLogits(one, params, full, M);
  const session = await InferenceSession.create(devices, c.plans!, { params });
  // f32 on the device against float64; GPT-2's bound, 1e-4 of the row's largest logit (the worst seen is in the test's report).
  const TOL = 1e-4;
  let worst = 0;
  let rows = 0;
  const check = (got: Float32Array, at: number, what: string) => {
    const { diff, scale } = gap(got, oracle, at, V);
    expect(scale, what).toBeGreaterThan(0.5);
    expect(diff, what).toBeLessThanOrEqual(TOL * scale);
    worst = Math.max(worst, diff / scale);
    rows++;
  };
  try {
    const pre = await session.prefill(full.map((s, b) => s.slice(0, prompt[b])));
    for (let b = 0; b < prompt.length; b++) {
      const at = (b * M + prompt[b]! - 1) * V;
      check(pre.subarray(at, at + V), at, `prefill, sequence ${b}`);
    }
    for (let step = 0; step + Math.max(...prompt) < M; step++) {
      const pos = Int32Array.from(prompt, (p) => p + step);
      const logits = await session.step(Int32Array.from(full.map((s, b) => s[pos[b]!]!)), pos);
      for (let b = 0; b < prompt.length; b++) check(logits.subarray(b * V, (b + 1) * V), (b * M + pos[b]!) * V, `sequence ${b} at position ${pos[b]}`);
    }
  } finally {
    session.destroy();
  }
  return { worst, rows, compiled: c };
}

/** The logits [batch, m, vocab] of the CPU reference's forward of the one-device lowering over the whole sequences. */
function oracleLogits(c: InferCompiled, params: ReadonlyMap<string, Float32Array>, seqs: readonly (readonly number[])[], m: number): Float64Array {
  const tokens = new Int32Array(seqs.length * m);
  seqs.forEach((s, b) => tokens.set(s, b * m));
  return interpret(c.forward!, { tokens }, (name) => Float64Array.from(params.get(name)!))['logits']!.data;
}

describe.skipIf(status.skip)(status.title('KV-cache decoding of the LLaMA sample (tiny, rotary) on WebGPU'), () => {
  it('one device: decode logits equal a full forward pass at every position, two sequences at different positions', async () => {
    const M = 20;
    const { worst, rows } = await decodeAgainstOracle(source, await sharedDevice(), M, {}, [5, 9]);
    expect(rows).toBe(2 + 2 * (M - 9));
    expect(worst).toBeGreaterThanOrEqual(0);
  });

  it('tensor-parallel on [tp: 2]: each device holds one KV head of the cache; logits equal the forward pass at every position', async () => {
    const M = 14;
    const { rows, compiled } = await decodeAgainstOracle(tpSource, await sharedDevices(2), M, { partition: { axes: [{ name: 'tp', size: 2 }] } }, [4, 6]);
    // The cache is [batch 2, 14, kv_heads·Dh = 64]; a device holds one KV head's 32 columns.
    expect(compiled.plans!.cache.map((e) => [e.shape, e.block])).toEqual(
      Array(2).fill([
        [2, M, 64],
        [2, M, 32],
      ]),
    );
    expect(rows).toBe(2 + 2 * (M - 6));
  });

  it('mdc generate samples/llama.model --preset tiny streams the greedy tokens of repeated full forward passes', async () => {
    const { main } = await import('../../cli/main.js');
    const out: string[] = [];
    const args = ['generate', 'samples/llama.model', '--preset', 'tiny', '--prompt', 'Hi', '--max-new-tokens', '3', '--temperature', '0', '--json'];
    expect(await main(args, { out: (x) => out.push(x), err: () => undefined })).toBe(0);
    const got = (JSON.parse(out.join('\n')) as { tokens: number[] }).tokens;
    // The oracle: the CPU reference over the whole sequence at the infer section's 128 positions, the sample's init at seed 0 (the CLI's), argmax each time.
    const c = await compileInference(source, 'llama.model', { preset: 'tiny', batch: 1 });
    const M = c.plans!.maxSeq;
    expect(M).toBe(128);
    const params = new Map(
      c
        .plans!.prefill.buffers.filter((b) => b.role === 'param')
        .map((b) => [
          b.name,
          initValues(
            b.init!,
            b.shape.reduce((a, d) => a * d, 1),
            0,
            b.name,
          ),
        ]),
    );
    const seq = [...Buffer.from('Hi')];
    const V = c.plans!.vocab;
    for (let k = 0; k < 3; k++) {
      const logits = oracleLogits(c, params, [seq], M);
      const row = logits.subarray((seq.length - 1) * V, seq.length * V);
      let best = 0;
      for (let i = 1; i < V; i++) if (row[i]! > row[best]!) best = i;
      seq.push(best);
    }
    expect(got).toEqual(seq.slice(2));
  });
});
