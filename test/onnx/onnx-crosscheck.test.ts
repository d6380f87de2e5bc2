/**
 * Whole models against an independent engine: ONNX Runtime (CPU, its own kernels) runs an
 * ONNX graph equivalent to an mdc sample, with the very parameter values mdc's runtime
 * initialised on the device, and its outputs are compared with mdc on WebGPU and with
 * mdc's float64 CPU oracle. Three implementations, pairwise:
 *
 *   mdc WebGPU ↔ ONNX Runtime   the product against an outside reference
 *   ONNX Runtime ↔ mdc oracle   the oracle itself against an outside reference
 *   mdc WebGPU ↔ mdc oracle     what every other numeric test relies on
 *
 * The MLP graph is written by hand from the architecture (so it also pins down how mdc
 * lowered the model); the GPT-2 graph is translated from mdc's IR op by op, with attention
 * decomposed into MatMul/Softmax, which ONNX Runtime executes with none of mdc's code.
 *
 * ONNX Runtime ↔ oracle needs no GPU, so those comparisons run in a suite of their own
 * without the adapter gate; the suite with the GPU adds the two pairs with mdc on WebGPU.
 */
import { readFileSync } from 'node:fs';
import onnxProto from 'onnx-proto';
import * as ort from 'onnxruntime-node';
import { beforeAll, describe, expect, it } from 'vitest';
import type { PlanInit } from '../../runtime/index.js';
import { initValues } from '../../runtime/index.js';
import {
  errorStats,
  gpuStatus,
  runBoth,
  runOracle,
  sharedDevice,
  type BothResult,
  type ErrorStats,
  type OracleResult,
  type RunOptions,
} from '../support/gpu.js';
import { graphToOnnx, OPSET } from '../support/onnx.js';

const { onnx } = onnxProto;
const sample = (name: string) => readFileSync(new URL(`../../samples/${name}.model`, import.meta.url), 'utf8');

/**
 * Parameters initialised to constants (biases 0, norm gains 1) would make "adds the bias"
 * and "applies the gain" untestable: both sides get the same seeded noise instead.
 */
function perturbConstants(name: string, count: number, init: PlanInit): Float32Array | undefined {
  if (init.kind !== 'constant') return undefined;
  const noise = initValues({ kind: 'normal', mean: init.value, std: 0.1 }, count, 3, `perturb:${name}`);
  return noise;
}

async function runOnnx(
  model: Uint8Array,
  inputs: OracleResult['inputs'],
  shapes: ReadonlyMap<string, readonly number[]>,
): Promise<Record<string, Float32Array>> {
  const session = await ort.InferenceSession.create(model, { executionProviders: ['cpu'] });
  const feeds: Record<string, ort.Tensor> = {};
  for (const [name, data] of Object.entries(inputs)) {
    const dims = [...shapes.get(name)!];
    feeds[name] = data instanceof Int32Array ? new ort.Tensor('int32', data, dims) : new ort.Tensor('float32', data, dims);
  }
  const res = await session.run(feeds);
  await session.release();
  return Object.fromEntries(Object.entries(res).map(([k, t]) => [k, t.data as Float32Array]));
}

type Pairwise = Partial<Record<'gpuVsOrt' | 'ortVsCpu' | 'gpuVsCpu', ErrorStats>>;

/**
 * Errors are relative to the second argument: ORT for the first pair, the float64 oracle
 * for the others. Without a GPU run only ORT against the oracle; with one, the two pairs
 * with mdc on WebGPU (ORT against the oracle is the no-GPU suite's).
 */
function pairwise(r: OracleResult | BothResult, ort: Record<string, Float32Array>, output: string): Pairwise {
  const o = ort[output]!;
  const c = r.cpu[output]!.data;
  if (!('gpu' in r)) return { ortVsCpu: errorStats(o, c) };
  const g = r.gpu[output]!.data;
  return { gpuVsOrt: errorStats(g, o), gpuVsCpu: errorStats(g, c) };
}

function expectAllClose(p: Pairwise, tol: number, why: string) {
  if (process.env['MDC_REPORT_ERRORS']) {
    console.log(
      Object.entries(p)
        .map(([k, e]) => `${k}: rel ${e.rel.toExponential(2)} maxAbs ${e.maxAbs.toExponential(2)}`)
        .join('; '),
    );
  }
  expect(Object.keys(p).length).toBeGreaterThan(0);
  for (const [pair, e] of Object.entries(p)) {
    expect(e.nonFiniteMismatches, `${pair}: NaN/∞ at different positions`).toBe(0);
    expect(e.rel, `${pair}: relative L2 error must be ≤ ${tol} (${why})`).toBeLessThanOrEqual(tol);
  }
}

const shapesOf = (r: OracleResult) => new Map(r.plan.inputs.map((io) => [io.name, io.shape]));

/** The MLP exactly as samples/mlp.model describes it, written directly in ONNX. */
function handWrittenMlp(r: OracleResult): Uint8Array {
  const { DataType } = onnx.TensorProto;
  const p = (name: string) => {
    const b = r.plan.buffers.find((x) => x.role === 'param' && x.name === name);
    if (!b)
      throw new Error(
        `the MLP has no param '${name}': params are ${r.plan.buffers
          .filter((x) => x.role === 'param')
          .map((x) => x.name)
          .join(', ')}`,
      );
    const data = r.params.get(name)!;
    return { name, dims: [...b.shape], dataType: DataType.FLOAT, rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
  };
  const [x] = r.plan.inputs;
  const [out] = r.plan.outputs;
  const vi = (name: string, shape: readonly number[]) => ({
    name,
    type: { tensorType: { elemType: DataType.FLOAT, shape: { dim: shape.map((d) => ({ dimValue: d })) } } },
  });
  const model = onnx.ModelProto.create({
    irVersion: 8,
    producerName: 'mdc-test',
    opsetImport: [{ domain: '', version: OPSET }],
    graph: {
      name: 'mlp',
      node: [
        { opType: 'MatMul', input: [x!.name, 'w1'], output: ['xw1'] },
        { opType: 'Add', input: ['xw1', 'b1'], output: ['z1'] },
        { opType: 'Relu', input: ['z1'], output: ['h'] },
        { opType: 'MatMul', input: ['h', 'w2'], output: ['hw2'] },
        { opType: 'Add', input: ['hw2', 'b2'], output: ['z2'] },
        { opType: 'Softmax', input: ['z2'], output: [out!.name], attribute: [{ name: 'axis', type: onnx.AttributeProto.AttributeType.INT, i: -1 }] },
      ],
      initializer: ['w1', 'b1', 'w2', 'b2'].map(p),
      input: [vi(x!.name, x!.shape)],
      output: [vi(out!.name, out!.shape)],
    },
  });
  return onnx.ModelProto.encode(model).finish();
}

/**
 * The models, each compared pairwise. `run` is the CPU oracle alone (the no-GPU suite) or
 * mdc on WebGPU beside it (`runBoth`); inputs and parameters are the same either way.
 */
function models(run: (source: string, opts: RunOptions) => Promise<OracleResult | BothResult>) {
  it('MLP (full size: 784 → 256 → 10, batch 8), hand-written ONNX graph', async () => {
    const r = await run(sample('mlp'), { params: perturbConstants, seed: 3 });
    expect(r.plan.inputs.map((i) => i.shape)).toEqual([[8, 784]]);
    const o = await runOnnx(handWrittenMlp(r), r.inputs, shapesOf(r));
    // Dot products of 784 and 256 f32 terms (random-walk rounding ~ sqrt(784)·6e-8 ≈ 2e-6)
    // into a softmax; each engine orders its sums differently. 1e-5 is 5× that estimate.
    expectAllClose(pairwise(r, o, 'probs'), 1e-5, 'f32 dot products of <= 784 terms then softmax, summed in different orders');
  });

  it('MLP (preset tiny), ONNX graph translated from the mdc IR', async () => {
    const r = await run(sample('mlp'), { preset: 'tiny', params: perturbConstants, seed: 4 });
    const exported = graphToOnnx(r.graph, r.params);
    expect(exported.opTypes).toEqual(['MatMul', 'Add', 'Relu', 'Softmax']);
    const o = await runOnnx(exported.bytes, r.inputs, shapesOf(r));
    // As above with dot products of at most 64 terms.
    expectAllClose(pairwise(r, o, 'probs'), 1e-5, 'f32 dot products of <= 64 terms then softmax');
  });

  it('GPT-2 (preset tiny: 2 layers, d = 128, 4 heads, vocab 1024, S = 64), ONNX graph translated from the mdc IR', async () => {
    const r = await run(sample('gpt2'), { preset: 'tiny', params: perturbConstants, seed: 5 });
    const exported = graphToOnnx(r.graph, r.params);
    expect(exported.opTypes).toEqual(expect.arrayContaining(['Gather', 'Slice', 'LayerNormalization', 'MatMul', 'Softmax', 'Gelu', 'Transpose']));
    const o = await runOnnx(exported.bytes, r.inputs, shapesOf(r));
    // Two pre-norm layers: ~20 f32 ops deep, with sums of up to 512 terms (the MLP's hidden
    // width), exp in softmax and tanh in GELU; layer norms renormalise, so errors do not
    // grow layer to layer. Estimated ~1e-6 relative; 1e-5 is the bar.
    expectAllClose(pairwise(r, o, 'logits'), 1e-5, 'two transformer layers of f32 ops, sums of <= 512 terms');
  });

  it('GPT-2 (preset tiny) at batch 2 and an awkward length 17', async () => {
    const r = await run(sample('gpt2'), { preset: 'tiny', dims: { B: 2, S: 17 }, params: perturbConstants, seed: 6 });
    expect(r.plan.inputs[0]!.shape).toEqual([2, 17]);
    const o = await runOnnx(graphToOnnx(r.graph, r.params).bytes, r.inputs, shapesOf(r));
    expectAllClose(pairwise(r, o, 'logits'), 1e-5, 'two transformer layers of f32 ops, sums of <= 512 terms');
  });

  it('LLaMA (preset tiny: RMS norm, rotary, SwiGLU, 4 query heads sharing 2 KV heads), ONNX graph translated from the mdc IR', async () => {
    const r = await run(sample('llama'), { preset: 'tiny', params: perturbConstants, seed: 7 });
    const exported = graphToOnnx(r.graph, r.params);
    expect(exported.opTypes).toEqual(expect.arrayContaining(['Gather', 'ReduceMean', 'Sigmoid', 'Concat', 'Softmax']));
    const o = await runOnnx(exported.bytes, r.inputs, shapesOf(r));
    // As GPT-2, plus rotary angles pos·θ^(−2j/Dh) that mdc computes with f32 pow and this
    // graph takes from a float64 table: at pos < 64 that differs by ~64 ulp of the angle.
    expectAllClose(pairwise(r, o, 'logits'), 1e-5, 'two transformer layers of f32 ops, sums of <= 344 terms, f32 rotary angles');
  });

  it('ViT (preset tiny: patchify, class token, exact GELU), ONNX graph translated from the mdc IR', async () => {
    const r = await run(sample('vit-b16'), { preset: 'tiny', params: perturbConstants, seed: 8 });
    const exported = graphToOnnx(r.graph, r.params);
    expect(exported.opTypes).toEqual(expect.arrayContaining(['Expand', 'Concat', 'Gelu', 'LayerNormalization']));
    const o = await runOnnx(exported.bytes, r.inputs, shapesOf(r));
    // Patch embedding sums C·p·p = 192 terms; the rest as GPT-2. mdc's erf is the
    // Abramowitz–Stegun approximation (|error| < 1.5e-7): far inside the bar.
    expectAllClose(pairwise(r, o, 'logits'), 1e-5, 'two transformer layers of f32 ops, sums of <= 192 terms, erf approximation');
  });

  it('BERT (preset tiny: post-norm, padding mask, two outputs), ONNX graph translated from the mdc IR', async () => {
    const S = 128;
    // Real tokens then padding, plus a few padded holes: every query still sees some key
    // (a row with every key masked is 0 in mdc but NaN in ONNX softmax).
    const mask = Int32Array.from({ length: S }, (_, j) => (j < 100 && j % 9 !== 4 ? 1 : 0));
    const r = await run(sample('bert-base'), { preset: 'tiny', params: perturbConstants, seed: 9, inputs: { mask } });
    const exported = graphToOnnx(r.graph, r.params);
    expect(exported.opTypes).toEqual(expect.arrayContaining(['Equal', 'Where', 'Gelu', 'Tanh']));
    const o = await runOnnx(exported.bytes, r.inputs, shapesOf(r));
    const why = 'two post-norm encoder layers of f32 ops, sums of <= 256 terms';
    for (const out of ['hidden', 'pooled']) expectAllClose(pairwise(r, o, out), 1e-5, why);
  });

  it('T5 (preset tiny: relative position bias, causal decoder, cross-attention, tied head), ONNX graph translated from the mdc IR', async () => {
    const r = await run(sample('t5'), { preset: 'tiny', params: perturbConstants, seed: 10 });
    const exported = graphToOnnx(r.graph, r.params);
    expect(exported.opTypes).toEqual(expect.arrayContaining(['Gather', 'Where', 'Softmax', 'Relu']));
    const o = await runOnnx(exported.bytes, r.inputs, shapesOf(r));
    expectAllClose(pairwise(r, o, 'logits'), 1e-5, 'two encoder and two decoder layers of f32 ops, sums of <= 64 terms');
  });
}

describe('whole models: ONNX Runtime vs the mdc oracle (no GPU needed)', () => {
  models(async (source, opts) => runOracle(source, opts));
});

const gpu = await gpuStatus();

describe.skipIf(gpu.skip)(gpu.title('whole models: mdc on WebGPU vs ONNX Runtime and vs the mdc oracle'), () => {
  beforeAll(async () => {
    await sharedDevice();
  });
  models(runBoth);
});
