import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { emitHost } from '../../codegen/host.js';
import { interpret } from '../../compiler/reference/interpret.js';
import { compile } from '../../driver/compile.js';
import { sizeDims } from '../../driver/shrink.js';
import { checkSizes, cutOutputs, padInputs, SizeError, type SizeDim } from '../../runtime/dynamic-sizes.js';
import { initValues } from '../../runtime/init.js';
import type { Plan } from '../../runtime/plan.js';
import { uniformI32 } from '../support/gpu.js';
import { typecheck } from '../support/typecheck.js';

/**
 * Dynamic batch and sequence sizes: the compiler's analysis of which dims may run smaller
 * by padding (compiler/shrink.ts), the record the host module carries (driver/shrink.ts),
 * and the padding and cutting the runtime does (runtime/dynamic-sizes.ts). The padded run's
 * soundness is checked on the CPU oracle: the model compiled at the larger size, run on
 * padded inputs and cut back, against the model compiled separately at the smaller size.
 * test/runtime/dynamic-sizes-gpu.test.ts does the same through the host model on the GPU.
 */
const GPT2 = readFileSync('samples/gpt2.model', 'utf8');
const BERT = readFileSync('samples/bert-base.model', 'utf8');

/** The sample's `B@dp` needs a batch divisible by its mesh's 2: a one-device mesh lets a compile take B = 1 (layouts are unused on one device). */
const ONE_DEVICE = [
  { name: 'dp', size: 1 },
  { name: 'tp', size: 1 },
];

async function compiled(source: string, file: string, opts: { preset?: string; dims?: Record<string, number>; mesh?: typeof ONE_DEVICE } = {}) {
  const r = await compile(source, file, { ...opts, seed: 3 });
  if (!r.plan || !r.forward) throw new Error(`${file} does not compile: ${r.diagnostics.map((d) => d.message).join('; ')}`);
  return { r, plan: r.plan, graph: r.forward, dims: sizeDims(r) };
}

const byName = (dims: readonly SizeDim[]) => Object.fromEntries(dims.map((d) => [d.name, d]));
const paramsOf = (plan: Plan) => (name: string, shape: readonly number[]) => {
  const b = plan.buffers.find((x) => x.name === name)!;
  return initValues(
    b.init!,
    shape.reduce((a, c) => a * c, 1),
    plan.seed,
    name,
  );
};

/** `big` [b0, s0, ...rest] cut to its first b rows and s positions, by index arithmetic of the test's own. */
function corner(data: ArrayLike<number>, shape: readonly number[], b: number, s: number): number[] {
  const inner = shape.slice(2).reduce((a, c) => a * c, 1);
  const out: number[] = [];
  for (let i = 0; i < b; i++) for (let j = 0; j < s; j++) for (let k = 0; k < inner; k++) out.push(data[(i * shape[1]! + j) * inner + k]!);
  return out;
}

const maxRelError = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let err = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    err = Math.max(err, Math.abs(a[i]! - b[i]!));
    scale = Math.max(scale, Math.abs(b[i]!));
  }
  return err / scale;
};

describe('which dims may shrink', () => {
  it('GPT-2: the batch and, under causal attention, the sequence; the axes each is in the inputs and outputs', async () => {
    const { dims } = await compiled(GPT2, 'gpt2.model', { preset: 'tiny' });
    expect(dims).toEqual([
      { name: 'B', compiled: 2, inputs: { tokens: [0] }, outputs: { logits: [0] } },
      { name: 'S', compiled: 64, inputs: { tokens: [1] }, outputs: { logits: [1] } },
    ]);
  });

  it('BERT: the batch may shrink; the sequence is refused, naming the bidirectional attention and where it is', async () => {
    const { dims } = await compiled(BERT, 'bert-base.model', { preset: 'tiny', dims: { B: 2, S: 16 } });
    const d = byName(dims);
    expect(d['B']!.fixed).toBeUndefined();
    expect(d['B']!.outputs).toEqual({ hidden: [0], pooled: [0] });
    expect(d['S']!.fixed).toBe(
      'attention at bert-base.model:33:11 (in Encoder.0.SelfAttention) attends to every position of S, not causally: an earlier position would read the padding',
    );
    expect(() => checkSizes('Bert', dims, { S: 8 })).toThrow(new SizeError('Bert cannot run at S = 8 (compiled at 16): ' + d['S']!.fixed));
    // At its compiled size the dim is no request to shrink, and is accepted.
    expect(checkSizes('Bert', dims, { B: 1, S: 16 })).toEqual(new Map([['B', 1]]));
  });

  it('an op mixing rows or positions refuses the dim it mixes, naming the op; row-wise ops keep it', async () => {
    const src = (body: string, out = 'f32[B, S, 4]') =>
      `model M(x: f32[B, S, 4]) -> ${out} where B = 2, S = 8 {\n  param w: f32[4, 4] = normal(0, 1)\n  ${body}\n}\n`;
    const fixed = async (body: string, out?: string) => {
      const { dims } = await compiled(src(body, out), 'm.model');
      return Object.fromEntries(dims.map((d) => [d.name, d.fixed ?? 'may shrink']));
    };
    expect(await fixed('return layer_norm(gelu(x @ w), eps = 1e-5)')).toEqual({ B: 'may shrink', S: 'may shrink' });
    expect(await fixed('return x - mean(x, axis = 0, keepdim = true)')).toEqual({
      B: 'mean at m.model:3:14 needs B whole (mean reduces along it)',
      S: 'may shrink',
    });
    expect((await fixed('return x + sum(x, axis = 0)'))['B']).toBe('sum at m.model:3:14 sums over B');
    expect((await fixed('return softmax(x, axis = 1)'))['S']).toMatch(/^softmax at m\.model:3:10 needs S whole/);
    expect((await fixed('return attention(x, x, x, heads = 2, causal = true)'))['S']).toBe('may shrink');
    expect((await fixed('return x + slice(x, 1, 0, 1)'))['S']).toMatch(/^slice at m\.model:3:14 needs S whole/);
    // A slice from 0 of a tensor S does not index is S's positions only when its length is S.
    const table = (len: string) => `param t: f32[64, 4] = normal(0, 1)\n  return x + reshape(slice(t, 0, 0, ${len}), [1, S, 4])`;
    expect((await fixed(table('S')))['S']).toBe('may shrink');
    expect((await fixed('param t: f32[64, 4] = normal(0, 1)\n  return slice(t, 0, 0, S + 1)', 'f32[S + 1, 4]'))['S']).toBe(
      'slice at m.model:4:10 makes an axis of size S + 1, not a multiple of S',
    );
  });

  it('a training step records no dims: its loss averages over the batch', async () => {
    const r = await compile(GPT2, 'gpt2.model', { preset: 'tiny', train: true });
    expect(r.plan).toBeDefined();
    expect(sizeDims(r)).toEqual([]);
  });
});

describe('padding and cutting', () => {
  const dims: SizeDim[] = [
    { name: 'B', compiled: 2, inputs: { x: [0] }, outputs: { y: [0] } },
    { name: 'S', compiled: 3, inputs: { x: [1] }, outputs: { y: [1] } },
  ];
  const io = (name: string) => ({ name, buffer: 0, dtype: 'f32' as const, shape: [2, 3, 2] });

  it('an input at smaller sizes lands in the corner of zeros; an output is cut back to that corner', () => {
    const sizes = checkSizes('M', dims, { B: 1, S: 2 });
    const x = Float32Array.of(1, 2, 3, 4);
    expect(Array.from(padInputs('M', [io('x')], dims, sizes, { x })['x']!)).toEqual([1, 2, 3, 4, 0, 0, 0, 0, 0, 0, 0, 0]);
    const y = { shape: [2, 3, 2], data: Float32Array.from({ length: 12 }, (_, i) => i) };
    expect(cutOutputs([io('y')], dims, sizes, { y })['y']).toEqual({ shape: [1, 2, 2], data: Float32Array.of(0, 1, 2, 3) });
  });

  it('sizes outside 1 to the compiled size, unknown dims and inputs of the wrong length are refused', () => {
    expect(() => checkSizes('M', dims, { S: 4 })).toThrow('M: S = 4 is not an integer from 1 to 3, the size it was compiled at');
    expect(() => checkSizes('M', dims, { B: 0 })).toThrow('M: B = 0 is not an integer from 1 to 2');
    expect(() => checkSizes('M', dims, { T: 1 })).toThrow("M has no dim 'T'; its dims: 'B', 'S'");
    const sizes = checkSizes('M', dims, { S: 2 });
    expect(() => padInputs('M', [io('x')], dims, sizes, { x: new Float32Array(12) })).toThrow(
      'M: input x has 12 elements, but at these sizes its shape is [2, 2, 2] (8 elements)',
    );
  });
});

describe('a padded run on the CPU oracle equals a compile at the smaller size', () => {
  it('GPT-2 tiny compiled at B = 2, S = 64 run at B = 1, S = 16 (float64: within 1e-12)', async () => {
    const big = await compiled(GPT2, 'gpt2.model', { preset: 'tiny', mesh: ONE_DEVICE });
    const small = await compiled(GPT2, 'gpt2.model', { preset: 'tiny', dims: { B: 1, S: 16 }, mesh: ONE_DEVICE });
    const tokens = uniformI32(16, 0, 1023, 5);
    const want = interpret(small.graph, { tokens }, paramsOf(small.plan))['logits']!;
    // The padding holds other tokens than the runtime's zeros: what it holds must not matter.
    const padded = uniformI32(128, 0, 1023, 9);
    padded.set(tokens);
    const got = interpret(big.graph, { tokens: padded }, paramsOf(big.plan))['logits']!;
    // Identical sums in the same order but for the masked keys' zero terms: float64 agrees to rounding.
    expect(maxRelError(corner(got.data, got.shape, 1, 16), want.data)).toBeLessThan(1e-12);
  });

  it('BERT padded along the sequence differs at its first position: the refusal is needed', async () => {
    const big = await compiled(BERT, 'bert-base.model', { preset: 'tiny', dims: { B: 1, S: 16 } });
    const small = await compiled(BERT, 'bert-base.model', { preset: 'tiny', dims: { B: 1, S: 8 } });
    const tokens = uniformI32(8, 0, 99, 5);
    const ones = new Int32Array(8).fill(1);
    const want = interpret(small.graph, { tokens, segments: new Int32Array(8), mask: ones }, paramsOf(small.plan))['hidden']!;
    const pad = (x: Int32Array, fill: Int32Array) => Int32Array.from({ length: 16 }, (_, i) => (i < 8 ? x[i]! : fill[i]!));
    const inputs = { tokens: pad(tokens, uniformI32(16, 0, 99, 9)), segments: new Int32Array(16), mask: new Int32Array(16).fill(1) };
    const got = interpret(big.graph, inputs, paramsOf(big.plan))['hidden']!;
    expect(maxRelError(corner(got.data, got.shape, 1, 1), corner(want.data, want.shape, 1, 1))).toBeGreaterThan(1e-3);
  });
});

describe('the host module with the record of its dims', () => {
  it('run takes sizes (the outputs then have number shapes); a dim it does not have is a type error', async () => {
    const { plan, dims } = await compiled(GPT2, 'gpt2.model', { preset: 'tiny' });
    const host = emitHost(plan, 'GPT2.plan.json', 'mdc/runtime', dims);
    expect(host.dts).toContain('readonly B?: number;');
    expect(host.dts).toContain('run(inputs: GPT2Inputs, sizes: GPT2Sizes): Promise<GPT2SizedOutputs>;');
    const dir = mkdtempSync(join(tmpdir(), 'mdc-sizes-'));
    writeFileSync(join(dir, 'package.json'), '{ "type": "module" }');
    writeFileSync(join(dir, 'GPT2.ts'), host.ts);
    writeFileSync(
      join(dir, 'use.ts'),
      [
        "import GPT2, { sizeDims } from './GPT2.js';",
        'export async function go(device: GPUDevice) {',
        '  const m = await GPT2.load(device);',
        '  const full: readonly [2, 64, 1024] = (await m.run({ tokens: new Int32Array(128) })).logits.shape;',
        '  const small: readonly number[] = (await m.run({ tokens: new Int32Array(16) }, { B: 1, S: 16 })).logits.shape;',
        '  // @ts-expect-error the sized outputs have no literal shape',
        '  const wrong: readonly [2, 64, 1024] = (await m.run({ tokens: new Int32Array(16) }, { S: 8 })).logits.shape;',
        '  // @ts-expect-error GPT2 has no dim T',
        '  await m.run({ tokens: new Int32Array(16) }, { T: 1 });',
        '  return [full, small, wrong, sizeDims[0]!.compiled];',
        '}',
      ].join('\n'),
    );
    expect(typecheck(dir, [join(dir, 'use.ts')])).toEqual([]);
  });
});
