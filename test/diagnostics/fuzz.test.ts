import { describe, expect, it } from 'vitest';
import { check, lower } from '../../compiler/compile.js';
import { mutateSource } from '../support/mutate.js';
import { mulberry32 } from '../support/random.js';
import { malformedDiagnostics } from './well-formed.js';

/**
 * Mutation fuzzing of a valid program: thousands of seeded random edits (token deletes,
 * duplicates, swaps and replacements, inserted punctuation and keywords, character
 * deletions, truncation). Whatever comes out, `check()` and `lower()` must not throw and
 * every diagnostic must be coded and located inside the file.
 *
 * Reproduce a failure with the seed it prints: FUZZ_SEED=<seed> FUZZ_RUNS=1.
 * By default 5000 mutants run, about 20 s on the 2-core CI machine.
 * Soak locally with a bigger FUZZ_RUNS.
 */

const SAMPLE = `config GPT2 { vocab = 512, ctx = 64, d = 128, heads = 4, layers = 2, ffn = 4 * d }
mesh Devices = [dp: 2, tp: 4]

/// Multi-head causal self-attention.
block Attention(x: f32[B, S, d]) -> f32[B, S, d] {
  param wqkv: f32[d, 3*d @tp] = normal(0, 0.02)
  param bqkv: f32[3*d] = zeros()
  param wo:   f32[d @tp, d]   = normal(0, 0.02)
  let q, k, v = split(x @ wqkv + bqkv, 3, axis = -1)
  let a = attention(q, k, v, heads = heads, causal = true)
  return a @ wo
}
block Mlp(x: f32[B, S, d]) -> f32[B, S, d] {
  param w1: f32[d, ffn]
  param w2: f32[ffn, d]
  return gelu(x @ w1, approximate = "tanh") @ w2
}
block Layer(x: f32[B, S, d]) -> f32[B, S, d] {
  param g1: f32[d] = ones()
  param b1: f32[d] = zeros()
  param g2: f32[d] = ones()
  param b2: f32[d] = zeros()
  let h = x + Attention(layer_norm(x, g1, b1))
  return h + Mlp(layer_norm(h, g2, b2))
}
model GPT2(tokens: i32[B, S]) -> f32[B, S, vocab] where B = 2, S = 16 {
  param wte: f32[vocab, d]
  param wpe: f32[ctx, d] = normal(0, 0.01)
  let h = embedding(wte, tokens) + slice(wpe, 0, 0, S)
  h = repeat(layers) Layer(h) @recompute(selective)
  let logits = layer_norm(h) @ transpose(wte)
  return logits
}
train GPT2 { loss = cross_entropy(logits, labels); optimizer = adamw(lr = 3e-4); microbatches = 2 }
`;

const RUNS = Number(process.env['FUZZ_RUNS'] ?? 5000);
const FIRST_SEED = Number(process.env['FUZZ_SEED'] ?? 20_241_128);

describe('fuzzing check() and lower() with mutants of a valid program', () => {
  it('starts from a program that compiles cleanly', () => {
    expect(check(SAMPLE, 'sample.model').diagnostics).toEqual([]);
    const lowered = lower(SAMPLE, 'sample.model');
    expect(lowered.diagnostics).toEqual([]);
    expect(lowered.graph?.nodes.length).toBeGreaterThan(0);
  });

  // In chunks, so a long soak (FUZZ_RUNS=100000) reports progress and never blocks the worker for minutes.
  const CHUNK = 500;
  const chunks = Array.from({ length: Math.ceil(RUNS / CHUNK) }, (_, i) => [FIRST_SEED + i * CHUNK, Math.min(CHUNK, RUNS - i * CHUNK)] as const);

  it.each(chunks)('survives mutants from seed %i (%i of them) without throwing, with coded and located diagnostics', (first, count) => {
    const failures: string[] = [];
    let rejected = 0;
    for (let seed = first; seed < first + count && failures.length < 5; seed++) {
      const src = mutateSource(SAMPLE, mulberry32(seed));
      for (const [stage, run] of [
        ['check', check],
        ['lower', lower],
      ] as const) {
        try {
          const result = run(src, 'mutant.model');
          const problems = malformedDiagnostics(src, result.diagnostics);
          if (problems.length) failures.push(`seed ${seed}, ${stage}: ${problems.join('; ')}\n${JSON.stringify(src)}`);
          if (stage === 'lower' && result.diagnostics.length) rejected++;
          if (stage === 'lower' && !result.diagnostics.length && !('graph' in result && result.graph)) {
            failures.push(`seed ${seed}: lower() gave neither a graph nor a diagnostic\n${JSON.stringify(src)}`);
          }
        } catch (e) {
          failures.push(`seed ${seed}, ${stage} threw: ${(e as Error).stack?.split('\n').slice(0, 4).join(' | ')}\n${JSON.stringify(src)}`);
        }
      }
    }
    expect(failures).toEqual([]);
    // Most mutants must actually be broken, or the fuzzer is not exercising the diagnostics.
    expect(rejected).toBeGreaterThan(count / 2);
  });
});
