/**
 * The decode step exported to ONNX with its KV cache as inputs ("past keys and values") and
 * the updated cache as outputs: ONNX Runtime (CPU, none of mdc's code) runs it, and its
 * logits and new caches are compared with mdc's float64 CPU reference of the same decode
 * graph, on seeded random weights and a random cache. The ops a decode step adds, kv_write
 * and attention_decode, are also checked alone at positions outside the cache, where the
 * op's rules (write nothing; a negative position sees nothing) are easy to get wrong.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { dimConst, dimValue } from '../../compiler/dims.js';
import { GraphBuilder, type Graph } from '../../compiler/ir.js';
import { exportOnnx } from '../../compiler/onnx/export.js';
import { interpret } from '../../compiler/reference/interpret.js';
import type { TType } from '../../compiler/types.js';
import { compileInference } from '../../driver/infer.js';
import { initValues } from '../../runtime/init.js';
import { mdc } from '../support/cli.js';
import { relativeL2 } from '../support/rel-error.js';

const numel = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);
const shapeOf = (t: TType) => t.dims.map((d) => dimValue(d)!);
const normal = (n: number, std: number, name: string) => initValues({ kind: 'normal', mean: 0, std }, n, 7, name);

/** Runs `g` exported with `cache` as inputs on ONNX Runtime's CPU provider and on the CPU reference; both outputs by name. */
async function runBoth(g: Graph, params: Map<string, Float32Array>, cache: readonly string[], inputs: Record<string, Int32Array | Float32Array>) {
  const r = exportOnnx(g, params, { paramInputs: cache });
  expect(r.diagnostics).toEqual([]);
  const session = await ort.InferenceSession.create(r.bytes!, { executionProviders: ['cpu'] });
  expect([...session.inputNames].sort()).toEqual([...Object.keys(inputs), ...cache].sort());
  const feeds: Record<string, ort.Tensor> = {};
  for (const v of g.values) {
    const data = v.kind === 'input' ? inputs[v.name!]! : v.kind === 'param' && cache.includes(v.name!) ? params.get(v.name!)! : undefined;
    if (data) feeds[v.name!] = new ort.Tensor(data instanceof Int32Array ? 'int32' : 'float32', data, shapeOf(v.type));
  }
  const out = await session.run(feeds);
  await session.release();
  const onnx = Object.fromEntries(Object.entries(out).map(([k, t]) => [k, t.data as Float32Array]));
  const ref = interpret(g, inputs, (name) => params.get(name)!);
  return { onnx, ref: Object.fromEntries(Object.entries(ref).map(([k, t]) => [k, t.data])), opTypes: r.opTypes };
}

describe('decode step exported to ONNX, against the CPU reference', () => {
  it('GPT-2 tiny, two sequences, cache as inputs: logits and updated caches', async () => {
    const M = 16;
    const source = readFileSync('samples/gpt2.model', 'utf8');
    const c = await compileInference(source, 'gpt2.model', { preset: 'tiny', maxSeq: M, batch: 2, graphsOnly: true });
    expect(c.diagnostics).toEqual([]);
    const g = c.decodeGraph!;
    const cache = c.cache!.flatMap((e) => [e.k, e.v]);
    // Seeded noise for every parameter (constant initialisers too, so biases and gains matter); the cache is
    // wider than the weights' noise so that attention over it is far from uniform.
    const params = new Map<string, Float32Array>();
    for (const v of g.values) if (v.kind === 'param') params.set(v.name!, normal(numel(shapeOf(v.type)), cache.includes(v.name!) ? 1 : 0.1, v.name!));
    // One sequence early in the cache, one at its last position.
    const positions = Int32Array.of(3, M - 1);
    const { onnx, ref, opTypes } = await runBoth(g, params, cache, { tokens: Int32Array.of(17, 900), positions });
    expect(opTypes).toEqual(expect.arrayContaining(['Where', 'Equal', 'Greater', 'Softmax', 'Gather']));
    // ONNX Runtime in f32 against float64, over two layers with contractions of up to 512 terms: 1e-5 leaves room for
    // f32 rounding (seen: about 3e-7) and is far below what a wrong row, mask or head would give (order 1).
    const logitsError = relativeL2(onnx['logits']!, ref['logits']!);
    expect(logitsError).toBeLessThan(1e-5);
    const [, , W] = c.cache![0]!.shape as [number, number, number];
    for (const name of cache) {
      const got = onnx[`new.${name}`]!;
      const was = params.get(name)!;
      expect(relativeL2(got, ref[`new.${name}`]!)).toBeLessThan(1e-5);
      // Every row but each sequence's own position is the input cache, bit for bit.
      for (let b = 0; b < 2; b++)
        for (let m = 0; m < M; m++) {
          const at = (b * M + m) * W;
          const row = got.subarray(at, at + W);
          if (m === positions[b]) expect(row).not.toEqual(was.subarray(at, at + W));
          else expect(row).toEqual(was.subarray(at, at + W));
        }
    }
  });

  it('kv_write and attention_decode alone, at positions inside and outside the cache', async () => {
    const [B, M, W, H] = [4, 5, 8, 2];
    const t = (dtype: 'f32' | 'i32', s: number[]): TType => ({ dtype, dims: s.map(dimConst) });
    const b = new GraphBuilder();
    const span = { start: 0, end: 0, line: 1, col: 1, endLine: 1, endCol: 1 };
    const q = b.addValue({ kind: 'input', name: 'q', type: t('f32', [B, 1, W]) });
    const row = b.addValue({ kind: 'input', name: 'row', type: t('f32', [B, 1, W]) });
    const pos = b.addValue({ kind: 'input', name: 'positions', type: t('i32', [B]) });
    const ck = b.addValue({ kind: 'param', name: 'cache.k', type: t('f32', [B, M, W]), init: { kind: 'constant', value: 0 } });
    const cv = b.addValue({ kind: 'param', name: 'cache.v', type: t('f32', [B, M, W]), init: { kind: 'constant', value: 0 } });
    const k = b.addNode('kv_write', [ck, row, pos], [ck.type], {}, span, '')[0]!;
    const o = b.addNode('attention_decode', [q, k, cv, pos], [q.type], { heads: H, kv_heads: H, scale: 0.5 }, span, '')[0]!;
    const g = b.finish('decode', [o, k], ['out', 'new.cache.k']);
    const params = new Map([
      ['cache.k', normal(B * M * W, 1, 'k')],
      ['cache.v', normal(B * M * W, 1, 'v')],
    ]);
    // −1 sees nothing and writes nothing; M writes nothing and sees the whole cache; 0 and M − 1 are the ends.
    const inputs = { q: normal(B * W, 1, 'q'), row: normal(B * W, 1, 'row'), positions: Int32Array.of(-1, 0, M - 1, M) };
    const { onnx, ref } = await runBoth(g, params, ['cache.k', 'cache.v'], inputs);
    // The cache is copied, not computed: exact.
    expect(Array.from(onnx['new.cache.k']!)).toEqual(Array.from(ref['new.cache.k']!));
    expect(Array.from(onnx['out']!.subarray(0, W))).toEqual(new Array(W).fill(0));
    // Dot products of 4 terms and a softmax over at most 5 keys in f32 against float64.
    expect(relativeL2(onnx['out']!, ref['out']!)).toBeLessThan(1e-6);
  });

  it('mdc export --decode writes the step with the cache as inputs; refusals', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'mdc-decode-onnx-')), 'step.onnx');
    const r = await mdc('export', 'samples/gpt2.model', '--preset', 'tiny', '--target', 'onnx', '--decode', '--max-seq', '8', '-o', out);
    expect(r.err).toBe('');
    expect(r.out).toMatch(/^wrote .*step\.onnx: ONNX opset 20, \d+ bytes, \d+ mdc ops as .*Where/);
    const c = await compileInference(readFileSync('samples/gpt2.model', 'utf8'), 'gpt2.model', { preset: 'tiny', maxSeq: 8, batch: 2, graphsOnly: true });
    const g = c.decodeGraph!;
    const cache = c.cache!.flatMap((e) => [e.k, e.v]);
    const session = await ort.InferenceSession.create(readFileSync(out), { executionProviders: ['cpu'] });
    expect([...session.inputNames]).toEqual(['tokens', 'positions', ...cache]);
    expect([...session.outputNames]).toEqual(['logits', ...cache.map((n) => `new.${n}`)]);
    // The weights are the seed's (0, as mdc run makes them); the cache is fed: random here.
    const params = new Map<string, Float32Array>();
    for (const v of g.values) {
      if (v.kind !== 'param') continue;
      const n = numel(shapeOf(v.type));
      params.set(v.name!, cache.includes(v.name!) ? normal(n, 1, v.name!) : initValues(v.init!, n, 0, v.name!));
    }
    const inputs = { tokens: Int32Array.of(3, 1000), positions: Int32Array.of(2, 7) };
    const feeds: Record<string, ort.Tensor> = {
      tokens: new ort.Tensor('int32', inputs.tokens, [2, 1]),
      positions: new ort.Tensor('int32', inputs.positions, [2]),
    };
    for (const n of cache) feeds[n] = new ort.Tensor('float32', params.get(n)!, [...c.cache![0]!.shape]);
    const got = (await session.run(feeds))['logits']!.data as Float32Array;
    await session.release();
    const want = interpret(g, inputs, (name) => params.get(name)!)['logits']!.data;
    // As above: f32 against float64 over two layers.
    expect(relativeL2(got, want)).toBeLessThan(1e-5);

    const bert = await mdc('export', 'samples/bert-base.model', '--preset', 'tiny', '--target', 'onnx', '--decode', '-o', out);
    expect(bert.err.split('\n')[0]).toMatch(
      /^samples\/bert-base\.model:\d+:\d+: error MDC0520: Bert cannot be decoded one token at a time with a KV cache: attention is not causal/,
    );
    expect((await mdc('export', 'samples/gpt2.model', '--target', 'torch', '--decode', '-o', out)).err).toMatch(
      /--decode and --max-seq are for --target onnx, not torch/,
    );
    expect((await mdc('export', 'samples/gpt2.model', '--target', 'onnx', '--max-seq', '8', '-o', out)).err).toMatch(/--max-seq is for --decode/);
  });
});
