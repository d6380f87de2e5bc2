/**
 * The prefill/decode transform (compiler/infer/decode.ts) without a GPU: the decode graph
 * run by the CPU reference step by step, its cache carried from step to step as the
 * plans' updates would, gives the logits of the model as lowered (the oracle, a float64
 * forward over the whole sequence) at every position; and models that cannot be decoded
 * one position at a time are refused with MDC0520 at the place that stops them.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { interpret } from '../../compiler/reference/interpret.js';
import { formatDiagnostic } from '../../diagnostics/format.js';
import { compileInference } from '../../driver/infer.js';
import { initValues } from '../../runtime/init.js';

const sample = (s: string) => readFileSync(`samples/${s}.model`, 'utf8');
const numel = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

describe('decode graph on the CPU reference', () => {
  it('equals the full forward pass at every position (GPT-2 tiny, two sequences at different positions)', async () => {
    const M = 10;
    const c = await compileInference(sample('gpt2'), 'gpt2.model', { preset: 'tiny', maxSeq: M, batch: 2, seed: 1 });
    expect(c.diagnostics).toEqual([]);
    const V = c.plans!.vocab;
    const weights = new Map<string, Float64Array>();
    const param = (name: string, shape: readonly number[]) => {
      if (!weights.has(name)) {
        const zero = name.startsWith('cache.');
        weights.set(name, zero ? new Float64Array(numel(shape)) : Float64Array.from(initValues({ kind: 'normal', mean: 0, std: 0.02 }, numel(shape), 1, name)));
      }
      return weights.get(name)!;
    };
    const seqs = [
      [5, 17, 3, 900, 44, 2, 8, 1000, 6, 7],
      [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
    ];
    const want = interpret(c.forward!, { tokens: seqs.flat() }, param)['logits']!.data;
    const start = [3, 6];
    const pre = interpret(c.prefillGraph!, { tokens: seqs.map((s, b) => [...s.slice(0, start[b]), ...Array(M - start[b]!).fill(0)]).flat() }, param);
    for (const e of c.cache!) for (const n of [e.k, e.v]) weights.set(n, pre[`new.${n}`]!.data);
    for (let step = 0; step < M - 6; step++) {
      const positions = start.map((s) => s + step);
      const out = interpret(c.decodeGraph!, { tokens: positions.map((p, b) => seqs[b]![p]!), positions }, param);
      for (const e of c.cache!) for (const n of [e.k, e.v]) weights.set(n, out[`new.${n}`]!.data);
      for (let b = 0; b < 2; b++) {
        const got = out['logits']!.data.subarray(b * V, (b + 1) * V);
        const at = (b * M + positions[b]!) * V;
        // Both sides float64, the same operations in another order: equal to rounding.
        for (let i = 0; i < V; i++) expect(Math.abs(got[i]! - want[at + i]!)).toBeLessThan(1e-12);
      }
    }
  });

  it('writes each cache in place when decoding: B·W invocations per kv_write, bound to the cache parameter itself', async () => {
    const c = await compileInference(sample('gpt2'), 'gpt2.model', { preset: 'tiny', maxSeq: 16, batch: 3 });
    const plan = c.plans!.decode;
    const writes = plan.steps.filter((s) => s.kind !== 'collective' && s.op === 'kv_write');
    expect(writes).toHaveLength(4);
    // Hand-derived: batch 3 × width 128 = 384 rows' elements, not the 3 × 16 × 128 of a whole cache.
    const [B, W] = [3, 128];
    const names: string[] = [];
    for (const s of writes) {
      if (s.kind === 'collective') continue;
      const k = plan.kernels[s.kernel]!;
      const invocations = s.dispatch.reduce((x, y) => x * y, 1) * k.workgroupSize.reduce((x, y) => x * y, 1);
      expect(invocations).toBeGreaterThanOrEqual(B * W);
      expect(invocations).toBeLessThan(B * W + k.workgroupSize[0]);
      const written = s.buffers[k.bindings.findIndex((b) => b.name === 'out')]!;
      expect(plan.buffers[written]!.role).toBe('param');
      names.push(plan.buffers[written]!.name);
    }
    expect(names).toEqual(['cache.k.0', 'cache.v.0', 'cache.k.1', 'cache.v.1']);
  });

  it('makes the cache a [B, max_seq, width] parameter per attention, updated by both graphs', async () => {
    const c = await compileInference(sample('gpt2'), 'gpt2.model', { preset: 'tiny', maxSeq: 16, batch: 3 });
    expect(c.cache!.map((e) => [e.k, e.v, e.shape])).toEqual([
      ['cache.k.0', 'cache.v.0', [3, 16, 128]],
      ['cache.k.1', 'cache.v.1', [3, 16, 128]],
    ]);
    expect(c.plans!.prefill.updates!.map((u) => u.param)).toEqual(['cache.k.0', 'cache.v.0', 'cache.k.1', 'cache.v.1']);
    // The decode step writes its row into each cache in place (codegen/in-place.ts): no update copies the cache.
    expect(c.plans!.decode.updates ?? []).toEqual([]);
    expect(c.decodeGraph!.nodes.filter((n) => n.op === 'attention_decode')).toHaveLength(2);
  });
});

describe('refusals', () => {
  const refuse = async (src: string, file = 'm.model') => {
    const c = await compileInference(src, file, {});
    return c.diagnostics.map((d) => formatDiagnostic(d, src).split('\n')[0]);
  };

  it('bidirectional attention (BERT)', async () => {
    const ds = await refuse(sample('bert-base'), 'bert-base.model');
    expect(ds.join('\n')).toContain(
      'error MDC0520: Bert cannot be decoded one token at a time with a KV cache: attention is not causal: every position attends to later ones',
    );
  });

  it('an op mixing positions, at its span', async () => {
    const src = `model M(x: f32[B, S, 8]) -> f32[B, S, 8] where B = 1, S = 4 {\n  return softmax(x, 1)\n}\n`;
    expect(await refuse(src)).toEqual([
      'm.model:2:10: error MDC0520: M cannot be decoded one token at a time with a KV cache: softmax mixes positions here (only position-wise ops and causal attention decode one position at a time)',
    ]);
  });

  it('a model without the sequence dim, and an infer setting out of range', async () => {
    const src = `model M(x: f32[B, T]) -> f32[B, T] where B = 1, T = 4 { return x }\ninfer M { batch = 0 }\n`;
    expect(await refuse(src)).toEqual(['m.model:2:19: error MDC0510: infer setting batch must be a positive integer']);
    const ok = src.replace('batch = 0', 'seq = S');
    expect(await refuse(ok)).toEqual([
      'm.model:2:7: error MDC0520: M cannot be decoded one token at a time with a KV cache: no input has the sequence dim S (name it with seq = ... in the infer section)',
    ]);
  });

  it('a pp axis on a model with no @pipeline: the --mesh refusal says how to pipeline the decode', async () => {
    const asked = compileInference(sample('llama'), 'llama.model', { preset: 'tiny', partition: { axes: [{ name: 'pp', size: 2 }] } });
    await expect(asked).rejects.toThrow(
      "mesh axis 'pp' (2 devices) splits nothing: no layout names it, so every device along it would repeat the same work; split a dim over it " +
        "(e.g. the batch, B@pp) or remove the axis; to decode pipeline-parallel over it, declare @pipeline(stages = N, axis = pp) on the model's repeat stack",
    );
  });
});

describe('mdc plan', () => {
  it("reports the KV cache's bytes per device from the infer section", async () => {
    const { main } = await import('../../cli/main.js');
    const { mkdtempSync, writeFileSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const file = join(mkdtempSync(join(tmpdir(), 'mdc-plan-kv-')), 'gpt2.model');
    // The sample's own infer section replaced (a second one is MDC0102).
    writeFileSync(file, sample('gpt2').replace(/^infer GPT2 \{[^}]*\}/m, '') + '\ninfer GPT2 { max_seq = 96; batch = 2; cache = kv }\n');
    const out: string[] = [];
    expect(await main(['plan', file, '--preset', 'tiny', '--json'], { out: (s) => out.push(s), err: () => undefined })).toBe(0);
    // By hand: 2 layers × (k and v) × batch 2 × 96 positions × width 128 × 4 bytes, over the file's [dp: 2, tp: 4] (B@dp, heads over tp).
    expect((JSON.parse(out.join('\n')) as { kvCache: unknown }).kvCache).toEqual({
      bytesPerDevice: (2 * 2 * 2 * 96 * 128 * 4) / 8,
      layers: 2,
      batch: 2,
      maxSeq: 96,
      shape: [2, 96, 128],
      block: [1, 96, 32],
    });
  });
});
