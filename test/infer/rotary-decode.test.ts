/**
 * Decoding a model with rotary position embeddings (the LLaMA sample) without a GPU. In
 * the decode graph each rotary takes the step's positions, so a token at position p turns
 * by p's angle, not row 0's. The oracle is the CPU reference's float64 forward pass of the
 * model as lowered, over the whole sequences; the decode graph, run by the same
 * interpreter step by step with its cache carried as the plans' updates carry it, must
 * give the same logits at every position.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { Graph } from '../../compiler/ir.js';
import { interpret } from '../../compiler/reference/interpret.js';
import { formatDiagnostic } from '../../diagnostics/format.js';
import { compileInference, type InferCompiled } from '../../driver/infer.js';
import { sharpWeights } from '../support/llama-weights.js';

const source = readFileSync('samples/llama.model', 'utf8');
const M = 10;

/** Decodes `seqs` from `start` to M − 1 with `decode`, after a prefill of the first `start[b]` tokens; the worst |decode − forward| and the logits' largest |value|. */
function decodeGap(c: InferCompiled, decode: Graph, seqs: readonly (readonly number[])[], start: readonly number[]) {
  const weights = new Map<string, Float64Array>([...sharpWeights(c.plans!.prefill, 1)].map(([k, v]) => [k, Float64Array.from(v)]));
  const param = (name: string, shape: readonly number[]) => {
    if (!weights.has(name)) weights.set(name, new Float64Array(shape.reduce((a, b) => a * b, 1)));
    return weights.get(name)!;
  };
  const V = c.plans!.vocab;
  const want = interpret(c.forward!, { tokens: seqs.flat() }, param)['logits']!.data;
  const pre = interpret(c.prefillGraph!, { tokens: seqs.map((s, b) => [...s.slice(0, start[b]), ...Array(M - start[b]!).fill(0)]).flat() }, param);
  for (const e of c.cache!) for (const n of [e.k, e.v]) weights.set(n, pre[`new.${n}`]!.data);
  let diff = 0;
  let scale = 0;
  for (let step = 0; step + Math.max(...start) < M; step++) {
    const positions = start.map((s) => s + step);
    const out = interpret(decode, { tokens: positions.map((p, b) => seqs[b]![p]!), positions }, param);
    for (const e of c.cache!) for (const n of [e.k, e.v]) weights.set(n, out[`new.${n}`]!.data);
    for (let b = 0; b < seqs.length; b++) {
      const at = (b * M + positions[b]!) * V;
      for (let i = 0; i < V; i++) {
        diff = Math.max(diff, Math.abs(out['logits']!.data[b * V + i]! - want[at + i]!));
        scale = Math.max(scale, Math.abs(want[at + i]!));
      }
    }
  }
  return { diff, scale };
}

describe('rotary decoding on the CPU reference (LLaMA tiny)', () => {
  const seqs = [
    [5, 17, 3, 300, 44, 2, 8, 500, 6, 7],
    [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
  ];
  const start = [3, 6];

  it('decode logits equal the full forward pass at every position, two sequences at different positions', async () => {
    const c = await compileInference(source, 'llama.model', { preset: 'tiny', maxSeq: M, batch: 2, seed: 1 });
    expect(c.diagnostics).toEqual([]);
    // Two layers, rotary on queries and keys: four rotaries, each reading the step's positions.
    const rot = c.decodeGraph!.nodes.filter((n) => n.op === 'rotary');
    expect(rot.map((n) => c.decodeGraph!.values[n.inputs[1]!]!.name)).toEqual(Array(4).fill('positions'));
    // grouped KV heads: the cache holds kv_heads·Dh = 2·32 columns.
    expect(c.cache!.map((e) => e.shape)).toEqual([
      [2, M, 64],
      [2, M, 64],
    ]);
    const { diff, scale } = decodeGap(c, c.decodeGraph!, seqs, start);
    // Both sides float64, the same operations in another order: equal to rounding.
    expect(scale).toBeGreaterThan(0.5);
    expect(diff).toBeLessThan(1e-12 * scale);
  });

  it('the comparison sees the angle: rotaries that ignore the positions (every token at row 0’s angle) miss by far', async () => {
    const c = await compileInference(source, 'llama.model', { preset: 'tiny', maxSeq: M, batch: 2, seed: 1 });
    const broken = structuredClone(c.decodeGraph!) as unknown as { nodes: { op: string; inputs: number[] }[] };
    for (const n of broken.nodes) if (n.op === 'rotary') n.inputs = n.inputs.slice(0, 1);
    const { diff, scale } = decodeGap(c, broken as unknown as Graph, seqs, start);
    // The weights make attention sharp enough (sharpWeights) that the wrong angles move the logits by a large part of their scale.
    expect(diff).toBeGreaterThan(0.1 * scale);
  });
});

describe('rotary refusals', () => {
  it('a rotary over [B, heads, S, width] (positions are one per sequence, not per head), at its span', async () => {
    const src = `model M(x: f32[B, 2, S, 8]) -> f32[B, 2, S, 8] where B = 1, S = 4 {\n  return rotary(x, 1)\n}\n`;
    const c = await compileInference(src, 'm.model', {});
    expect(c.diagnostics.map((d) => formatDiagnostic(d, src).split('\n')[0])).toEqual([
      'm.model:2:10: error MDC0520: M cannot be decoded one token at a time with a KV cache: ' +
        'rotary whose input is not [B, S, width] along the sequence (its angles follow the axis before the width)',
    ]);
  });
});
