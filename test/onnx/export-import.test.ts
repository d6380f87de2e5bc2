/**
 * `mdc export --target onnx` and `mdc import`, end to end through the CLI.
 *
 * Export: the file mdc writes runs in ONNX Runtime (CPU, its own kernels) and gives what
 * mdc's float64 CPU oracle gives for the same parameters, seeded or loaded with --weights.
 *
 * Import: the ONNX graph is built here with the protobuf package, independently of mdc's
 * exporter, in the shape of a GPT-2 block (embeddings with the position ids as exporters
 * compute them, layer norm, fused qkv split into heads, attention written out with a
 * causal mask, GELU written out with Tanh and Pow, tied LM head), with symbolic batch and
 * sequence dims. ONNX Runtime's outputs on that graph are the oracle for the imported
 * model run by mdc's CPU reference and, with an adapter, on WebGPU.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import onnxProto from 'onnx-proto';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compile } from '../../driver/compile.js';
import { initValues, type Plan } from '../../runtime/index.js';
import { loadWeights, readWeightsMap, saveWeights } from '../../runtime/weights-node.js';
import { mdc } from '../support/cli.js';
import { errorStats, gpuStatus, runBoth, runOracle, sharedDevice } from '../support/gpu.js';
import { mulberry32 } from '../support/random.js';

const { onnx } = onnxProto;
const DT = onnx.TensorProto.DataType;
const AT = onnx.AttributeProto.AttributeType;

let dir: string;
beforeAll(() => void (dir = mkdtempSync(join(tmpdir(), 'mdc-onnx-'))));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const gpt2 = readFileSync('samples/gpt2.model', 'utf8');

async function runOrt(path: string | Uint8Array, feeds: Record<string, ort.Tensor>): Promise<Record<string, Float32Array>> {
  const session = await ort.InferenceSession.create(typeof path === 'string' ? readFileSync(path) : path, { executionProviders: ['cpu'] });
  const res = await session.run(feeds);
  await session.release();
  return Object.fromEntries(Object.entries(res).map(([k, t]) => [k, t.data as Float32Array]));
}

/** Relative L2 error of `actual` against `expected`, with NaN/∞ agreeing in place. */
function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, why: string) {
  const e = errorStats(actual, expected);
  expect(e.nonFiniteMismatches, 'NaN/∞ at different positions').toBe(0);
  expect(e.rel, `relative L2 error must be ≤ ${tol} (${why})`).toBeLessThanOrEqual(tol);
}

// Two pre-norm layers of f32 ops (sums of ≤ 512 terms, exp, tanh) against float64: estimated ~1e-6.
const GPT2_TOL = 1e-5;
const GPT2_WHY = 'two transformer layers of f32 ops, sums of <= 512 terms, against float64';

describe('mdc export --target onnx', () => {
  it('the GPT-2 sample at tiny size runs in ONNX Runtime and matches the CPU reference (seeded parameters)', async () => {
    const out = join(dir, 'gpt2.onnx');
    const r = await mdc('export', 'samples/gpt2.model', '--preset', 'tiny', '--target', 'onnx', '-o', out, '--seed', '3');
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^wrote .*gpt2\.onnx: ONNX opset 20, \d+ bytes/);
    // The oracle initialises from the plan's seed as mdc run does; the export must carry the same values.
    const o = runOracle(gpt2, { preset: 'tiny', seed: 3 });
    const tokens = o.inputs['tokens'] as Int32Array;
    const got = await runOrt(out, { tokens: new ort.Tensor('int32', tokens, [2, 64]) });
    expectClose(got['logits']!, o.cpu['logits']!.data, GPT2_TOL, GPT2_WHY);
  });

  // The slowest test here (the CPU reference over GPT-2 small's 124M parameters; about 90 s and 2.3 GB at S = 8): it runs
  // everywhere, CI included, at the shortest sequence that still has every op (S = 4).
  it('the full-size GPT-2 sample (vocab 50257, 12 layers; B = 2, S = 4) exported runs in ONNX Runtime and matches the CPU reference', async () => {
    const out = join(dir, 'gpt2-full.onnx');
    const r = await mdc('export', 'samples/gpt2.model', '--dim', 'B=2', '--dim', 'S=4', '--target', 'onnx', '-o', out, '--seed', '1');
    expect(r.err).toBe('');
    const o = runOracle(gpt2, { dims: { B: 2, S: 4 }, seed: 1 });
    const got = await runOrt(out, { tokens: new ort.Tensor('int32', o.inputs['tokens'] as Int32Array, [2, 4]) });
    // Twelve layers of f32 with sums of up to 3072 terms: 8.4e-7 measured.
    expectClose(got['logits']!, o.cpu['logits']!.data, 1e-5, 'twelve transformer layers of f32 ops against float64');
  }, 600_000);

  it('--weights: the parameters come from the file, not the seed', async () => {
    const c = await compile(gpt2, 'gpt2.model', { preset: 'tiny' });
    const plan = c.plan!;
    // Values no seed gives: each parameter's own seeded noise around its initialiser.
    const given = new Map<string, Float32Array>();
    for (const b of plan.buffers.filter((x) => x.role === 'param')) {
      const n = b.shape.reduce((a, d) => a * d, 1);
      given.set(b.name, initValues({ kind: 'normal', mean: 0, std: 0.1 }, n, 99, `w:${b.name}`));
    }
    const weights = join(dir, 'gpt2-hf.safetensors');
    await saveWeights(weights, given, plan, 'gpt2');
    const out = join(dir, 'gpt2-w.onnx');
    const r = await mdc('export', 'samples/gpt2.model', '--preset', 'tiny', '--target', 'onnx', '-o', out, '--weights', weights, '--weights-map', 'gpt2');
    expect(r.err).toBe('');
    const o = runOracle(gpt2, { preset: 'tiny', params: (name) => given.get(name) });
    const got = await runOrt(out, { tokens: new ort.Tensor('int32', o.inputs['tokens'] as Int32Array, [2, 64]) });
    expectClose(got['logits']!, o.cpu['logits']!.data, GPT2_TOL, GPT2_WHY);
  });

  it('an op with no ONNX form is refused at each place it is used, and nothing is written', async () => {
    const out = join(dir, 'mixtral.onnx');
    const r = await mdc('export', 'samples/mixtral.model', '--preset', 'tiny', '--target', 'onnx', '-o', out);
    expect(r.code).toBe(1);
    expect(r.err.split('\n').filter((l) => / error MDC/.test(l))).toEqual([
      'samples/mixtral.model:61:11: error MDC0601: moe_dispatch cannot be exported to onnx: it has no ONNX mapping',
      'samples/mixtral.model:63:18: error MDC0601: moe_combine cannot be exported to onnx: it has no ONNX mapping',
    ]);
    expect(existsSync(out)).toBe(false);
  });

  it('topk (values and int32 indices, ties to the lower index) matches the CPU reference', async () => {
    const source = `model M(x: f32[4, 12]) -> (f32[4, 3], i32[4, 3]) {
  let v, i = topk(x * 2.0, 3)
  return v, i
}
`;
    const file = join(dir, 'topk.model');
    writeFileSync(file, source);
    const out = join(dir, 'topk.onnx');
    expect((await mdc('export', file, '--target', 'onnx', '-o', out)).err).toBe('');
    // Rounded inputs repeat values, so ties occur and the order among them is checked too.
    const x = Float32Array.from({ length: 48 }, (_, k) => Math.round(Math.sin(k * 1.7) * 3));
    const o = runOracle(source, { inputs: { x } });
    const got = await runOrt(out, { x: new ort.Tensor('float32', x, [4, 12]) });
    expect([...got['v']!]).toEqual([...o.cpu['v']!.data]);
    expect([...got['i']!]).toEqual([...o.cpu['i']!.data]);
  });

  it('usage errors: no target, an unknown target, no -o', async () => {
    expect((await mdc('export', 'samples/mlp.model', '-o', join(dir, 'x.onnx'))).err).toMatch(/mdc export needs --target: onnx/);
    expect((await mdc('export', 'samples/mlp.model', '--target', 'tflite', '-o', join(dir, 'x.onnx'))).err).toMatch(
      /--target tflite is not a target of mdc export; the targets are onnx/,
    );
    const r = await mdc('export', 'samples/mlp.model', '--target', 'onnx');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/mdc export needs -o OUT/);
  });
});

// ------------------------------------------------------------------ a GPT-2 block, written directly in ONNX

const V = 50;
const D = 16;
const H = 2;
const DH = D / H;
const FF = 4 * D;
const CTX = 16;
const B = 2;
const S = 8;

type Node = onnxProto.onnx.INodeProto;
const ints = (name: string, v: number[]) => ({ name, type: AT.INTS, ints: v });
const int = (name: string, i: number) => ({ name, type: AT.INT, i });
const float = (name: string, f: number) => ({ name, type: AT.FLOAT, f });
const floats = (name: string, dims: number[], data: Float32Array) => ({ name, dims, dataType: DT.FLOAT, rawData: new Uint8Array(data.buffer) });
const i64s = (name: string, data: number[]) => ({ name, dims: [data.length], dataType: DT.INT64, int64Data: data });
const dyn = (name: string, elemType: number, dims: (number | string)[]) => ({
  name,
  type: { tensorType: { elemType, shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } },
});

/** Weights drawn here (the oracle's and mdc's alike come from this file), non-trivial gains and biases included. */
function blockWeights(): Record<string, { dims: number[]; data: Float32Array }> {
  const rnd = mulberry32(2024);
  const w = (dims: number[], std: number, mean = 0) => ({
    dims,
    data: Float32Array.from({ length: dims.reduce((a, b) => a * b, 1) }, () => mean + std * (2 * rnd() - 1)),
  });
  return {
    'wte.weight': w([V, D], 0.5),
    'wpe.weight': w([CTX, D], 0.2),
    'h.0.ln_1.weight': w([D], 0.2, 1),
    'h.0.ln_1.bias': w([D], 0.1),
    'h.0.attn.c_attn.weight': w([D, 3 * D], 0.3),
    'h.0.attn.c_attn.bias': w([3 * D], 0.1),
    'h.0.attn.c_proj.weight': w([D, D], 0.3),
    'h.0.attn.c_proj.bias': w([D], 0.1),
    'h.0.ln_2.weight': w([D], 0.2, 1),
    'h.0.ln_2.bias': w([D], 0.1),
    'h.0.mlp.c_fc.weight': w([D, FF], 0.3),
    'h.0.mlp.c_fc.bias': w([FF], 0.1),
    'h.0.mlp.c_proj.weight': w([FF, D], 0.2),
    'h.0.mlp.c_proj.bias': w([D], 0.1),
    'ln_f.weight': w([D], 0.2, 1),
    'ln_f.bias': w([D], 0.1),
  };
}

/** The graph's nodes; `omit` drops initializers (to make a malformed file), `extra` adds nodes. */
function gpt2Block(opts: { omit?: string[]; extra?: Node[]; extraOutputs?: string[] } = {}): Uint8Array {
  const W = blockWeights();
  const mask = Float32Array.from({ length: S * S }, (_, k) => (k % S <= Math.floor(k / S) ? 0 : -1e4));
  const n = (opType: string, input: string[], output: string[], attribute: object[] = []): Node => ({ opType, input, output, attribute, name: output[0]! });
  const heads = (x: string, out: string, perm: number[]) => [
    n('Reshape', [x, 'heads_shape'], [`${out}_4d`]), // [B, S, H, Dh] with 0 = "keep this dim"
    n('Transpose', [`${out}_4d`], [out], [ints('perm', perm)]),
  ];
  const nodes: Node[] = [
    // Position ids as torch.onnx leaves them: from the input's shape.
    n('Shape', ['input_ids'], ['ids_shape']),
    n('Gather', ['ids_shape', 'one'], ['seq_len'], [int('axis', 0)]),
    n('Range', ['zero', 'seq_len', 'one'], ['positions']),
    n('Unsqueeze', ['positions', 'zero_axes'], ['position_ids']),
    n('Gather', ['wte.weight', 'input_ids'], ['tok_emb']),
    n('Gather', ['wpe.weight', 'position_ids'], ['pos_emb']),
    n('Add', ['tok_emb', 'pos_emb'], ['h0']),
    n('LayerNormalization', ['h0', 'h.0.ln_1.weight', 'h.0.ln_1.bias'], ['ln1'], [int('axis', -1), float('epsilon', 1e-5)]),
    n('MatMul', ['ln1', 'h.0.attn.c_attn.weight'], ['qkv_mm']),
    n('Add', ['qkv_mm', 'h.0.attn.c_attn.bias'], ['qkv']),
    n('Split', ['qkv', 'qkv_split'], ['q', 'k', 'v'], [int('axis', 2)]),
    ...heads('q', 'qh', [0, 2, 1, 3]),
    ...heads('k', 'khT', [0, 2, 3, 1]),
    ...heads('v', 'vh', [0, 2, 1, 3]),
    n('MatMul', ['qh', 'khT'], ['scores_raw']),
    n('Div', ['scores_raw', 'sqrt_dh'], ['scores_scaled']),
    n('Add', ['scores_scaled', 'causal_mask'], ['scores']),
    n('Softmax', ['scores'], ['probs'], [int('axis', -1)]),
    n('MatMul', ['probs', 'vh'], ['ctx_h']),
    n('Transpose', ['ctx_h'], ['ctx_t'], [ints('perm', [0, 2, 1, 3])]),
    n('Reshape', ['ctx_t', 'merge_shape'], ['ctx']),
    n('MatMul', ['ctx', 'h.0.attn.c_proj.weight'], ['attn_mm']),
    n('Add', ['attn_mm', 'h.0.attn.c_proj.bias'], ['attn_out']),
    n('Add', ['h0', 'attn_out'], ['h1']),
    n('LayerNormalization', ['h1', 'h.0.ln_2.weight', 'h.0.ln_2.bias'], ['ln2'], [int('axis', -1), float('epsilon', 1e-5)]),
    n('MatMul', ['ln2', 'h.0.mlp.c_fc.weight'], ['fc_mm']),
    n('Add', ['fc_mm', 'h.0.mlp.c_fc.bias'], ['fc']),
    // GELU, tanh form: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))).
    n('Pow', ['fc', 'three'], ['fc_cubed']),
    n('Mul', ['fc_cubed', 'gelu_c'], ['fc_cubed_c']),
    n('Add', ['fc', 'fc_cubed_c'], ['gelu_inner']),
    n('Mul', ['gelu_inner', 'sqrt_2_pi'], ['gelu_arg']),
    n('Tanh', ['gelu_arg'], ['gelu_tanh']),
    n('Add', ['gelu_tanh', 'one_f'], ['gelu_1p']),
    n('Mul', ['fc', 'gelu_1p'], ['gelu_x']),
    n('Mul', ['gelu_x', 'half'], ['gelu']),
    n('MatMul', ['gelu', 'h.0.mlp.c_proj.weight'], ['mlp_mm']),
    n('Add', ['mlp_mm', 'h.0.mlp.c_proj.bias'], ['mlp_out']),
    n('Add', ['h1', 'mlp_out'], ['h2']),
    n('LayerNormalization', ['h2', 'ln_f.weight', 'ln_f.bias'], ['hf'], [int('axis', -1), float('epsilon', 1e-5)]),
    n('Transpose', ['wte.weight'], ['wte_t'], [ints('perm', [1, 0])]),
    n('MatMul', ['hf', 'wte_t'], ['logits']),
    ...(opts.extra ?? []),
  ];
  const scalar = (name: string, v: number) => floats(name, [], Float32Array.of(v));
  const initializer = [
    ...Object.entries(W).map(([name, t]) => floats(name, t.dims, t.data)),
    floats('causal_mask', [S, S], mask),
    scalar('sqrt_dh', Math.sqrt(DH)),
    scalar('three', 3),
    scalar('gelu_c', 0.044715),
    scalar('sqrt_2_pi', Math.sqrt(2 / Math.PI)),
    scalar('one_f', 1),
    scalar('half', 0.5),
    { name: 'zero', dims: [], dataType: DT.INT64, int64Data: [0] },
    { name: 'one', dims: [], dataType: DT.INT64, int64Data: [1] },
    i64s('zero_axes', [0]),
    i64s('qkv_split', [D, D, D]),
    i64s('heads_shape', [0, 0, H, DH]),
    i64s('merge_shape', [0, 0, -1]),
  ].filter((t) => !opts.omit?.includes(t.name));
  const model = onnx.ModelProto.create({
    irVersion: 8,
    producerName: 'test',
    opsetImport: [{ domain: '', version: 17 }],
    graph: {
      name: 'gpt2_block',
      node: nodes,
      initializer,
      input: [dyn('input_ids', DT.INT64, ['batch', 'sequence'])],
      output: [dyn('logits', DT.FLOAT, ['batch', 'sequence', V]), ...(opts.extraOutputs ?? []).map((o) => dyn(o, DT.FLOAT, ['batch', 'sequence', D]))],
    },
  });
  return onnx.ModelProto.encode(model).finish();
}

const gpu = await gpuStatus();
const ids = Int32Array.from({ length: B * S }, (_, i) => (i * 7 + 3) % V);

async function importBlock(name: string, bytes: Uint8Array, ...extra: string[]) {
  const file = join(dir, `${name}.onnx`);
  writeFileSync(file, bytes);
  const out = join(dir, `${name}.model`);
  return { file, out, r: await mdc('import', file, '-o', out, ...extra) };
}

/** The imported source compiled, and its parameters loaded from the weights file through the map written beside it. */
async function compileImported(out: string): Promise<{ source: string; plan: Plan; params: Map<string, Float32Array> }> {
  const source = readFileSync(out, 'utf8');
  const c = await compile(source, out, {});
  expect(c.diagnostics).toEqual([]);
  const stem = out.replace(/\.model$/, '');
  const params = await loadWeights(`${stem}.safetensors`, c.plan!, await readWeightsMap(`${stem}.weights.json`));
  return { source, plan: c.plan!, params };
}

describe('mdc import', () => {
  let ortLogits: Float32Array;
  beforeAll(async () => {
    ortLogits = (await runOrt(gpt2Block(), { input_ids: new ort.Tensor('int64', BigInt64Array.from(ids, BigInt), [B, S]) }))['logits']!;
  });

  it('a GPT-2 block written in ONNX imports, compiles and matches ONNX Runtime on the CPU reference', async () => {
    const { out, r } = await importBlock('block', gpt2Block(), '--dim', `batch=${B}`, '--dim', `sequence=${S}`);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const { source, params } = await compileImported(out);
    // Readable: the graph's names, its shape arithmetic folded away, the weights as params.
    expect(source).toContain(`model Gpt2Block(input_ids: i32[${B}, ${S}]) -> f32[${B}, ${S}, ${V}] {`);
    expect(source).toContain(`param h_0_attn_c_attn_weight: f32[${D}, ${3 * D}] = zeros()`);
    expect(source).toContain(`let pos_emb = reshape(slice(wpe_weight, 0, 0, ${S}), [1, ${S}, ${D}])`);
    expect(source).not.toMatch(/Shape|Range|ids_shape/);
    expect(params.get('h_0_mlp_c_fc_bias')).toEqual(blockWeights()['h.0.mlp.c_fc.bias']!.data);
    const o = runOracle(source, { inputs: { input_ids: ids }, params: (name) => params.get(name) });
    // One layer of f32 ops (sums of ≤ 64 terms) in ORT against mdc's float64 oracle: ~1e-7 expected.
    expectClose(ortLogits, o.cpu['logits']!.data, 1e-5, 'one transformer layer in f32 against float64');
  });

  describe.skipIf(gpu.skip)(gpu.title('on WebGPU'), () => {
    it('the imported block on WebGPU matches ONNX Runtime', async () => {
      await sharedDevice();
      const { out } = await importBlock('block-gpu', gpt2Block(), '--dim', `batch=${B}`, '--dim', `sequence=${S}`);
      const { source, params } = await compileImported(out);
      const r = await runBoth(source, { inputs: { input_ids: ids }, params: (name) => params.get(name) });
      // f32 kernels against f32 ORT, different summation orders: rounding ~1e-6.
      expectClose(r.gpu['logits']!.data, ortLogits, 1e-5, 'one transformer layer, two f32 engines');
    });
  });

  it("a round trip: the GPT-2 sample exported, imported and run gives the sample's own logits", async () => {
    const onnxFile = join(dir, 'gpt2-rt.onnx');
    expect((await mdc('export', 'samples/gpt2.model', '--preset', 'tiny', '--target', 'onnx', '-o', onnxFile, '--seed', '5')).err).toBe('');
    const out = join(dir, 'gpt2-rt.model');
    expect((await mdc('import', onnxFile, '-o', out)).err).toBe('');
    const { source, params } = await compileImported(out);
    const original = runOracle(gpt2, { preset: 'tiny', seed: 5 });
    const back = runOracle(source, { inputs: original.inputs, params: (name) => params.get(name) });
    // Both in float64 from the same f32 weights, but the attention scale 1/√32 and eps = 1e-5 pass through the file as
    // f32 (relative change ~3e-8 each): 6e-10 measured, 1e-8 allowed.
    expectClose(back.cpu['logits']!.data, original.cpu['logits']!.data, 1e-8, 'float64 both, with the scale and eps rounded to f32 in the file');
  });

  it('a small CNN (Conv with bias, Relu, ReduceMean, Flatten, Gemm with transB, Softmax) imports and matches ONNX Runtime', async () => {
    const rnd = mulberry32(7);
    const w = (dims: number[]) =>
      floats(
        '',
        dims,
        Float32Array.from({ length: dims.reduce((a, b) => a * b, 1) }, () => 2 * rnd() - 1),
      );
    const model = onnx.ModelProto.create({
      irVersion: 8,
      opsetImport: [{ domain: '', version: 13 }],
      graph: {
        name: 'cnn',
        node: [
          { opType: 'Conv', input: ['image', 'conv.w', 'conv.b'], output: ['c'], attribute: [ints('pads', [1, 1, 1, 1]), ints('strides', [2, 2])] },
          { opType: 'Relu', input: ['c'], output: ['r'] },
          { opType: 'ReduceMean', input: ['r'], output: ['pooled'], attribute: [ints('axes', [2, 3]), int('keepdims', 1)] },
          { opType: 'Flatten', input: ['pooled'], output: ['flat'], attribute: [int('axis', 1)] },
          { opType: 'Gemm', input: ['flat', 'fc.w', 'fc.b'], output: ['z'], attribute: [int('transB', 1), float('alpha', 0.5)] },
          { opType: 'Softmax', input: ['z'], output: ['probs'], attribute: [int('axis', 1)] },
        ],
        initializer: [
          { ...w([6, 3, 3, 3]), name: 'conv.w' },
          { ...w([6]), name: 'conv.b' },
          { ...w([5, 6]), name: 'fc.w' },
          { ...w([5]), name: 'fc.b' },
        ],
        input: [dyn('image', DT.FLOAT, ['n', 3, 8, 8])],
        output: [dyn('probs', DT.FLOAT, ['n', 5])],
      },
    });
    const bytes = onnx.ModelProto.encode(model).finish();
    const image = Float32Array.from({ length: 2 * 3 * 8 * 8 }, () => 2 * rnd() - 1);
    const expected = (await runOrt(bytes, { image: new ort.Tensor('float32', image, [2, 3, 8, 8]) }))['probs']!;
    const { out, r } = await importBlock('cnn', bytes, '--dim', 'n=2');
    expect(r.err).toBe('');
    const { source, params } = await compileImported(out);
    expect(source).toContain('conv2d(image, conv_w, 2, 1)');
    const o = runOracle(source, { inputs: { image }, params: (name) => params.get(name) });
    // Sums of 27 and 6 terms in f32 against float64.
    expectClose(expected, o.cpu['probs']!.data, 1e-6, 'short f32 sums against float64');
  });

  it('every unsupported operator is named with its nodes, and nothing is written', async () => {
    const extra: Node[] = [
      { opType: 'Erf', input: ['h2'], output: ['e1'], name: 'erf_a' },
      { opType: 'Erf', input: ['e1'], output: ['e2'], name: 'erf_b' },
      { opType: 'Equal', input: ['e2', 'h1'], output: ['eq'], name: 'eq' },
      { opType: 'Where', input: ['eq', 'e2', 'h1'], output: ['sel'], name: 'sel' },
      { opType: 'FastGelu', domain: 'com.microsoft', input: ['sel'], output: ['fg'], name: 'fast' },
    ];
    const { out, r } = await importBlock('unsupported', gpt2Block({ extra, extraOutputs: ['fg'] }), '--dim', 'batch=2', '--dim', 'sequence=8');
    expect(r.code).toBe(1);
    expect(r.err).toContain('3 problems:');
    expect(r.err).toContain("operator Erf is not supported by mdc (nodes 'erf_a', 'erf_b')");
    expect(r.err).toContain("operator Equal is not supported by mdc (node 'eq')");
    expect(r.err).toContain("operator com.microsoft.FastGelu is not supported by mdc (node 'fast')");
    for (const ext of ['.model', '.safetensors', '.weights.json']) expect(existsSync(out.replace(/\.model$/, ext))).toBe(false);
  });

  describe('malformed files are refused with a clear error, nothing written', () => {
    const cases: [string, () => Uint8Array, RegExp, string[]?][] = [
      ['not protobuf', () => new TextEncoder().encode('this is not an ONNX model\n'), /not an ONNX model/],
      ['empty', () => new Uint8Array(0), /the file is empty/],
      ['truncated', () => gpt2Block().slice(0, 2000), /not an ONNX model: the protobuf does not decode .*truncated/],
      [
        'a missing initializer',
        () => gpt2Block({ omit: ['h.0.attn.c_proj.weight'] }),
        /node 'attn_mm' \(MatMul\) reads 'h\.0\.attn\.c_proj\.weight', which no graph input, initializer or earlier node defines/,
      ],
      [
        'a symbolic dim without --dim',
        gpt2Block,
        /graph input 'input_ids' dim 0 is symbolic \('batch'\): give it a size with --dim batch=N/,
        ['--dim', 'sequence=8'],
      ],
      [
        'an initializer whose bytes do not match its dims',
        () => {
          const m = onnx.ModelProto.decode(gpt2Block());
          m.graph!.initializer![0]!.dims = [V, D + 1];
          return onnx.ModelProto.encode(m).finish();
        },
        /initializer wte\.weight: holds 3200 bytes for FLOAT\[50, 17\] \(850 values\)/,
      ],
    ];
    for (const [name, bytes, message, dims = ['--dim', 'batch=2', '--dim', 'sequence=8']] of cases) {
      it(name, async () => {
        const { out, r } = await importBlock(`bad-${name.replace(/\W+/g, '-')}`, bytes(), ...dims);
        expect(r.code).toBe(1);
        expect(r.err).toMatch(/^mdc: error: /);
        expect(r.err).toMatch(message);
        expect(existsSync(out)).toBe(false);
      });
    }
  });
});
