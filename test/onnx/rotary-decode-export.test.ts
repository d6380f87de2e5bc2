/**
 * The LLaMA sample's decode step exported to ONNX: its rotaries take the step's positions
 * and compute their angles at run time (Cast, Add, Mul, Cos, Sin) instead of a constant
 * table. ONNX Runtime (CPU, none of mdc's code) runs it with the KV cache as inputs, and
 * its logits and new caches are compared with mdc's float64 CPU reference of the same
 * decode graph, on seeded weights and cache, with two sequences at different positions.
 */
import { readFileSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { dimValue } from '../../compiler/dims.js';
import { exportOnnx } from '../../compiler/onnx/export.js';
import { interpret } from '../../compiler/reference/interpret.js';
import { compileInference } from '../../driver/infer.js';
import { initValues } from '../../runtime/init.js';
import { relativeL2 } from '../support/rel-error.js';

describe('LLaMA decode step exported to ONNX, against the CPU reference', () => {
  it('tiny, two sequences at positions 2 and 13: logits and updated caches', async () => {
    const M = 16;
    const c = await compileInference(readFileSync('samples/llama.model', 'utf8'), 'llama.model', { preset: 'tiny', maxSeq: M, batch: 2, graphsOnly: true });
    expect(c.diagnostics).toEqual([]);
    const g = c.decodeGraph!;
    const cache = c.cache!.flatMap((e) => [e.k, e.v]);
    // Query and key projections and the cache wide enough that attention is far from uniform, so wrong angles
    // (every token at row 0's, or a position off by one) move the logits by a large part of their size.
    const params = new Map<string, Float32Array>();
    for (const v of g.values) {
      if (v.kind !== 'param') continue;
      const n = v.type.dims.reduce((a, d) => a * dimValue(d)!, 1);
      const std = cache.includes(v.name!) ? 1 : /\.w[qk]$/.test(v.name!) ? 0.2 : 0.05;
      params.set(v.name!, /norm$/.test(v.name!) ? new Float32Array(n).fill(1) : initValues({ kind: 'normal', mean: 0, std }, n, 9, v.name!));
    }
    const inputs = { tokens: Int32Array.of(17, 300), positions: Int32Array.of(2, 13) };
    const r = exportOnnx(g, params, { paramInputs: cache });
    expect(r.diagnostics).toEqual([]);
    expect(r.opTypes).toEqual(expect.arrayContaining(['Cos', 'Sin', 'Cast']));
    const session = await ort.InferenceSession.create(r.bytes!, { executionProviders: ['cpu'] });
    const feeds: Record<string, ort.Tensor> = {};
    for (const v of g.values) {
      const shape = v.type.dims.map((d) => dimValue(d)!);
      if (v.kind === 'input') feeds[v.name!] = new ort.Tensor('int32', inputs[v.name as keyof typeof inputs], shape);
      else if (v.kind === 'param' && cache.includes(v.name!)) feeds[v.name!] = new ort.Tensor('float32', params.get(v.name!)!, shape);
    }
    const out = await session.run(feeds);
    await session.release();
    const ref = interpret(g, inputs, (name) => params.get(name)!);
    // ONNX Runtime in f32 against float64 over two layers (contractions of up to 344 terms, angles up to 13 rad in f32):
    // seen 5.7e-7; 1e-5 is far below what a wrong angle gives (the export without the positions, every token at row 0's angles: 0.79).
    expect(relativeL2(out['logits']!.data as Float32Array, ref['logits']!.data)).toBeLessThan(1e-5);
    for (const name of cache) expect(relativeL2(out[`new.${name}`]!.data as Float32Array, ref[`new.${name}`]!.data)).toBeLessThan(1e-5);
  });
});
