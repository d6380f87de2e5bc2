import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { lower } from '../../compiler/compile.js';
import { interpret } from '../../compiler/reference/interpret.js';
import { partition } from '../../compiler/sharding/partition.js';
import { simulate } from '../../compiler/sharding/simulate.js';
import { verifyGraph } from '../../compiler/verify-ir.js';
import { dimValue } from '../../compiler/dims.js';
import { compareOutputs, gpuStatus, runBoth } from '../support/gpu.js';
import { mulberry32 } from '../support/random.js';
import { t5Bucket, t5Forward, type T5Dims } from './t5-reference.js';

/**
 * samples/t5.model (preset tiny) against an independent float64 T5 written from the
 * definitions (t5-reference.ts): the CPU reference and WebGPU logits in-process, and
 * `mdc run` on a safetensors file of the same weights; then a few steps of span-corruption
 * training through `mdc train`, whose loss must fall.
 */

const status = await gpuStatus();
const source = readFileSync('samples/t5.model', 'utf8');
const TINY: T5Dims = { vocab: 64, d: 32, heads: 4, layers: 2, buckets: 8, maxDistance: 16, eps: 1e-6 };
const S = 64;
const T = 16;
const mdc = (args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', 'cli/bin.ts', ...args], { encoding: 'utf8', timeout: 300_000 });

/** A safetensors file of f32 tensors (the format's header: an 8-byte length, JSON offsets, then the data). */
function safetensors(tensors: ReadonlyMap<string, { shape: number[]; data: Float32Array }>): Buffer {
  const header: Record<string, unknown> = {};
  let off = 0;
  for (const [name, t] of tensors) {
    header[name] = { dtype: 'F32', shape: t.shape, data_offsets: [off, off + 4 * t.data.length] };
    off += 4 * t.data.length;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([len, Buffer.from(json), ...[...tensors.values()].map((t) => Buffer.from(t.data.buffer, t.data.byteOffset, 4 * t.data.length))]);
}

/** Span corruption on one sequence: spans replaced by sentinels in the input; the target lists each sentinel and its span. */
function spanCorruption(seq: readonly number[], rand: () => number, vocab: number) {
  const input: number[] = [];
  const target: number[] = [];
  let sentinel = vocab - 1;
  for (let i = 0; i < seq.length;) {
    if (rand() < 0.08 && target.length + 4 <= T - 1 && sentinel > vocab - 5) {
      const len = 2 + Math.floor(rand() * 2);
      input.push(sentinel);
      target.push(sentinel--, ...seq.slice(i, i + len));
      i += len;
    } else input.push(seq[i++]!);
  }
  target.push(1); // end of sequence
  const pad = (xs: number[], n: number, v: number) => [...xs, ...Array<number>(Math.max(0, n - xs.length)).fill(v)].slice(0, n);
  const labels = pad(target, T, -100);
  // Teacher forcing: the decoder sees the targets shifted right after a start token (0, as T5's pad).
  const mask = pad(Array<number>(input.length).fill(1), S, 0);
  return { tokens: pad(input, S, 0), mask, decoder_tokens: pad([0, ...target.slice(0, T - 1)], T, 0), labels };
}

describe('T5 bucketing (the test oracle against the paper)', () => {
  it('gives the offsets t5-small buckets (32 buckets, max distance 128) by hand', () => {
    // Bidirectional: 16 per side, 8 exact; 16 → 8 + ⌊log(2)/log(16) · 8⌋ = 10; keys after the query use the upper half.
    expect([0, -1, -7, -8, -16, -127, -500].map((r) => t5Bucket(r, 32, true, 128))).toEqual([0, 1, 7, 8, 10, 15, 15]);
    expect([1, 7, 16].map((r) => t5Bucket(r, 32, true, 128))).toEqual([17, 23, 26]);
    // Unidirectional: every key after the query in bucket 0; 32 buckets, 16 exact.
    expect([5, 0, -15, -16, -32, -1000].map((r) => t5Bucket(r, 32, false, 128))).toEqual([0, 0, 15, 16, 21, 31]);
  });
});

describe('samples/t5.model at t5-small size', () => {
  it("has t5-small's 60,506,624 parameters", () => {
    // By hand: the shared embedding 32128·512; per encoder layer 4·512² (attention) + 2·512·2048 (ReLU FFN) + 2·512 (norms);
    // per decoder layer 8·512² (self and cross) + 2·512·2048 + 3·512; two bias tables 32·8; two final norms 512.
    const want = 32128 * 512 + 6 * (4 * 512 ** 2 + 2 * 512 * 2048 + 2 * 512) + 6 * (8 * 512 ** 2 + 2 * 512 * 2048 + 3 * 512) + 2 * 32 * 8 + 2 * 512;
    expect(want).toBe(60_506_624); // the count torch gives t5-small (sum of numel over its state, the head tied)
    const g = lower(source, 't5.model', {}).graph!;
    const count = g.values.filter((v) => v.kind === 'param').reduce((n, v) => n + v.type.dims.reduce((a, d) => a * dimValue(d)!, 1), 0);
    expect(count).toBe(want);
  });
});

describe('relative_position_bias refusals', () => {
  const said = (call: string, table = 'f32[8, 4]') => {
    const src = `model R(t: ${table}) -> f32[4, 3, 5] {\n  return ${call}\n}\n`;
    return lower(src, 'r.model', {}).diagnostics.map((d) => `r.model:${d.span.line}:${d.span.col}: error ${d.code}: ${d.message}`);
  };
  it('names the table, max_distance and the dtype', () => {
    expect(said('relative_position_bias(t, 3, 5)', 'f32[8]')).toEqual([
      'r.model:2:10: error MDC0201: relative_position_bias expects a table of rank 2 [buckets, heads], got f32[8]',
    ]);
    expect(said('relative_position_bias(t, 3, 5, max_distance = 0)')).toEqual([
      'r.model:2:10: error MDC0210: relative_position_bias max_distance must be a positive integer, got 0',
    ]);
    expect(said('relative_position_bias(t, 3, 5)', 'i32[8, 4]')[0]).toMatch(
      /^r\.model:2:10: error MDC0303: relative_position_bias: table must have a float dtype, got i32/,
    );
  });
});

describe('relative_position_bias sharded by heads', () => {
  it('a table split over [tp: 2] gives each device its heads, and the CPU devices equal one device exactly', () => {
    const src = [
      'mesh M = [tp: 2]',
      'model R(x: f32[4, 6, 9]) -> f32[4, 6, 9] {',
      '  param t: f32[8, 4@tp] = normal(0, 1)',
      '  return x * relative_position_bias(t, 6, 9, bidirectional = false, max_distance = 5)',
      '}',
      '',
    ].join('\n');
    const r = lower(src, 'r.model', { mesh: [{ name: 'tp', size: 2 }] });
    expect(r.diagnostics.map((d) => d.message)).toEqual([]);
    const g = r.graph!;
    const p = partition(g, { axes: [{ name: 'tp', size: 2 }] });
    expect(verifyGraph(p.local, true)).toEqual([]);
    const node = p.local.nodes.find((n) => n.op === 'relative_position_bias')!;
    expect(p.local.values[node.outputs[0]!]!.type.dims.map((d) => dimValue(d))).toEqual([2, 6, 9]);
    const rand = mulberry32(9);
    const x = Array.from({ length: 4 * 6 * 9 }, () => rand() * 2 - 1);
    const t = Array.from({ length: 32 }, () => rand() * 2 - 1);
    const params = (_n: string, shape: readonly number[]) =>
      Float64Array.from(
        t.slice(
          0,
          shape.reduce((a, b) => a * b, 1),
        ),
      );
    // A gather: the devices copy the same numbers, so the results are equal bit for bit.
    expect([...simulate(p, { x }, params)['output0']!.data]).toEqual([...interpret(g, { x }, params)['output0']!.data]);
  });
});

describe.skipIf(status.skip)(status.title('samples/t5.model (tiny) against an independent float64 T5'), () => {
  const rand = mulberry32(5);
  const tokens = Array.from({ length: S }, () => Math.floor(rand() * TINY.vocab));
  const decoder = Array.from({ length: T }, () => Math.floor(rand() * TINY.vocab));
  // 45 real tokens, then pads, with a hole: the pads' (random) tokens must not reach the logits.
  const mask = Array.from({ length: S }, (_, j) => (j < 45 && j !== 20 ? 1 : 0));
  const inputs = { tokens: Int32Array.from(tokens), mask: Int32Array.from(mask), decoder_tokens: Int32Array.from(decoder) };

  it('CPU reference and WebGPU logits equal the independent forward pass', async () => {
    // Every parameter non-trivial (norm scales away from 1, the bias tables wide), so each part shows in the logits.
    const r = await runBoth(source, {
      preset: 'tiny',
      inputs,
      params: (name, n) => {
        const g = mulberry32(name.length * 7919 + n);
        const scale = /rel/.test(name) ? 1 : /ln/.test(name) ? 0.5 : name === 'shared' ? 1 : 0.3;
        return Float32Array.from({ length: n }, () => (/ln/.test(name) ? 1 : 0) + scale * (2 * g() - 1));
      },
    });
    const want = t5Forward(r.params, TINY, tokens, decoder, mask).flatMap((row) => [...row]);
    const norm = Math.hypot(...want);
    const relErr = (got: ArrayLike<number>) => Math.hypot(...want.map((w, i) => w - got[i]!)) / norm;
    // float64 against float64, the same formulas in another order: rounding only.
    expect(relErr(r.cpu['logits']!.data)).toBeLessThan(1e-12);
    // f32 kernels: sums of ≤ 64 products, softmax rows; a wrong bucket or mask is O(1).
    expect(relErr(r.gpu['logits']!.data)).toBeLessThan(1e-5);
    expect(compareOutputs(r)['logits']!.rel).toBeLessThan(1e-5);
  });

  it('mdc run on a safetensors file of the weights prints the independent pass’s checksums', async () => {
    const r = await runBoth(source, { preset: 'tiny', inputs, seed: 3 });
    const dir = mkdtempSync(join(tmpdir(), 'mdc-t5-'));
    const shapes = new Map(r.graph.values.filter((v) => v.kind === 'param').map((v) => [v.name!, v.type.dims.map((x) => dimValue(x)!)]));
    const tensors = new Map([...r.params].map(([name, data]) => [name, { shape: shapes.get(name)!, data }]));
    writeFileSync(join(dir, 'w.safetensors'), safetensors(tensors));
    writeFileSync(
      join(dir, 'map.json'),
      JSON.stringify({ format: 'mdc.weights-map', version: 1, name: 'same', entries: [...tensors.keys()].map((n) => ({ source: n, target: n })) }),
    );
    writeFileSync(join(dir, 'in.json'), JSON.stringify({ tokens, mask, decoder_tokens: decoder }));
    const p = mdc([
      'run',
      'samples/t5.model',
      '--preset',
      'tiny',
      '--weights',
      join(dir, 'w.safetensors'),
      '--weights-map',
      join(dir, 'map.json'),
      '--inputs',
      join(dir, 'in.json'),
      '--json',
    ]);
    expect(p.status, p.stderr + p.stdout).toBe(0);
    const out = (JSON.parse(p.stdout) as { outputs: { type: string; sum: number; meanAbs: number; first: number[] }[] }).outputs[0]!;
    expect(out.type).toBe(`f32[1, ${T}, ${TINY.vocab}]`);
    const want = t5Forward(r.params, TINY, tokens, decoder, mask).flatMap((row) => [...row]);
    const sumAbs = want.reduce((a, b) => a + Math.abs(b), 0);
    // f32 on the device: 1e-5 of the logits' scale for the sum and mean |x|, each of the first four values alike.
    expect(Math.abs(out.sum - want.reduce((a, b) => a + b, 0))).toBeLessThan(1e-5 * sumAbs);
    expect(Math.abs(out.meanAbs - sumAbs / want.length)).toBeLessThan(1e-5 * (sumAbs / want.length));
    for (let i = 0; i < 4; i++) expect(Math.abs(out.first[i]! - want[i]!)).toBeLessThan(1e-5 * Math.max(...want.map(Math.abs)));
  }, 300_000);

  it('span-corruption training with mdc train lowers the loss in 16 steps', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mdc-t5-train-'));
    const g = mulberry32(11);
    // Text-like sequences: a few repeated "words" of tokens 2..40, so spans are predictable from their context.
    const words = Array.from({ length: 12 }, () => Array.from({ length: 3 + Math.floor(g() * 3) }, () => 2 + Math.floor(g() * 38)));
    const rows = Array.from({ length: 32 }, () => {
      const seq: number[] = [];
      while (seq.length < S) seq.push(...words[Math.floor(g() * words.length)]!);
      return JSON.stringify(spanCorruption(seq.slice(0, S), g, TINY.vocab));
    });
    writeFileSync(join(dir, 'spans.jsonl'), rows.join('\n') + '\n');
    const p = mdc(
      ['train', 'samples/t5.model', '--preset', 'tiny', '--data', join(dir, 'spans.jsonl'), '--steps', '16', '--lr', '3e-3'].concat([
        '--validation',
        '0.25',
        '--seed',
        '1',
        '--out',
        join(dir, 'out'),
        '--json',
      ]),
    );
    expect(p.status, p.stderr).toBe(0);
    const out = JSON.parse(p.stdout.slice(p.stdout.indexOf('{'))) as { losses: number[]; evals: { perplexity: number }[] };
    expect(out.losses).toHaveLength(16);
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    // Uniform over 64 tokens is ln 64 = 4.16; the first steps learn at least the targets' frequencies.
    expect(out.losses[0]).toBeGreaterThan(3.5);
    expect(mean(out.losses.slice(-4))).toBeLessThan(mean(out.losses.slice(0, 4)) - 0.3);
    expect(out.evals.at(-1)!.perplexity).toBeLessThan(64);
  }, 300_000);
});
