import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { lower } from '../../compiler/compile.js';
import type { Graph } from '../../compiler/ir.js';
import { interpret } from '../../compiler/reference/interpret.js';
import { planOf } from '../../driver/stages.js';
import { decodeCheckpoint, type CheckpointTensor } from '../../runtime/checkpoint.js';
import type { Plan } from '../../runtime/plan.js';
import { exportWeights, importWeights } from '../../runtime/weights.js';
import { mapProblems, parseWeightsMap, WeightsError, WEIGHTS_MAP_PRESETS, type WeightsMap } from '../../runtime/weights-map.js';
import { loadWeights, readWeightsMap, saveWeights } from '../../runtime/weights-node.js';
import { f32Tensor, gpt2Reference, hfGpt2File, hfGpt2Weights, relMaxError, safetensorsFile, type Gpt2Size, type HfTensor } from '../support/hf-gpt2.js';
import { mulberry32 } from '../support/random.js';
import { weightsOption } from '../../cli/weights.js';

/** The GPT-2 sample at a size the CPU oracle runs in a moment. */
const SIZE: Gpt2Size = { vocab: 96, ctx: 16, d: 32, heads: 4, layers: 2, eps: 1e-5 };
const B = 2;
const S = 8;
const dir = mkdtempSync(join(tmpdir(), 'mdc-hf-weights-'));

function compileSample(name: string, opts: Parameters<typeof lower>[2]): { graph: Graph; plan: Plan } {
  const r = lower(readFileSync(`samples/${name}.model`, 'utf8'), `${name}.model`, opts);
  if (!r.graph) throw new Error(r.diagnostics.map((d) => d.message).join('\n'));
  return { graph: r.graph, plan: planOf(r.graph, { seed: 1 }) };
}

const gpt2 = () => {
  const { vocab, ctx, d, heads, layers } = SIZE;
  return compileSample('gpt2', { overrides: { vocab, ctx, d, heads, layers }, dims: { B, S } });
};

const write = (name: string, bytes: Uint8Array) => {
  const path = join(dir, name);
  writeFileSync(path, bytes);
  return path;
};

/** The error a promise rejects with, as its message. */
async function failure(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error('expected a failure');
}

const bitsOf = (t: CheckpointTensor) => new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);

describe('GPT-2 weights with Hugging Face names and layout', () => {
  const hf = hfGpt2Weights(SIZE, 5);
  const tokens = Int32Array.from({ length: B * S }, (_, i) => (i * 37 + 11) % SIZE.vocab);
  let graph: Graph;
  let plan: Plan;
  let path: string;
  beforeAll(() => {
    ({ graph, plan } = gpt2());
    // GPT2LMHeadModel's names (`transformer.` prefix) and the causal-mask buffers the map ignores.
    path = write('gpt2.safetensors', hfGpt2File(hf, SIZE, { prefix: 'transformer.', maskBuffers: true }));
  });

  it('load into the sample and reproduce the reference logits on the CPU oracle (relative error < 1e-9)', async () => {
    const params = await loadWeights(path, plan, 'gpt2');
    expect(params.size).toBe(plan.buffers.filter((b) => b.role === 'param').length);
    const cpu = interpret(graph, { tokens }, (n) => params.get(n)!);
    const want = gpt2Reference(hf, SIZE, tokens, B, S);
    // Both sides compute in float64 from the same f32 weights; only the order of the sums
    // differs, so the error is float64 rounding (5e-16 measured), far below 1e-9.
    expect(relMaxError(cpu['logits']!.data, want)).toBeLessThan(1e-9);
  });

  it('a map that swaps q and k gives different logits (the comparison can fail)', async () => {
    const swapped: WeightsMap = {
      ...WEIGHTS_MAP_PRESETS['gpt2']!,
      entries: WEIGHTS_MAP_PRESETS['gpt2']!.entries.map((e) =>
        e.source === 'h.{i}.attn.c_attn.weight' ? { ...e, target: ['Layer.{i}.Attention.wk', 'Layer.{i}.Attention.wq', 'Layer.{i}.Attention.wv'] } : e,
      ),
    };
    const params = await loadWeights(path, plan, swapped);
    const cpu = interpret(graph, { tokens }, (n) => params.get(n)!);
    expect(relMaxError(cpu['logits']!.data, gpt2Reference(hf, SIZE, tokens, B, S))).toBeGreaterThan(1e-3);
  });

  it('c_attn is split along its output dim into q, k and v; Conv1D weights are not transposed', async () => {
    const params = await loadWeights(path, plan, 'gpt2');
    const { d } = SIZE;
    const fused = hf['h.1.attn.c_attn.weight']!.data;
    // Row 3, column d + 5 of c_attn [d, 3d] is wk[3][5].
    expect(params.get('Layer.1.Attention.wk')![3 * d + 5]).toBe(fused[3 * 3 * d + d + 5]);
    expect(params.get('Layer.1.Attention.bv')![7]).toBe(hf['h.1.attn.c_attn.bias']!.data[2 * d + 7]);
    expect(params.get('Layer.0.Mlp.w1')!).toEqual(hf['h.0.mlp.c_fc.weight']!.data);
  });

  it('a round trip is bit-exact: save writes HF names and layout, the very bytes of the original tensors', async () => {
    const params = await loadWeights(path, plan, 'gpt2');
    const out = join(dir, 'gpt2-out.safetensors');
    await saveWeights(out, params, plan, 'gpt2');
    const saved = decodeCheckpoint(readFileSync(out), { requireChecksum: false });
    expect(saved.metadata['format']).toBe('pt');
    expect(Object.keys(saved.tensors).sort()).toEqual(Object.keys(hf).sort());
    for (const [name, t] of Object.entries(hf)) {
      expect(saved.tensors[name]!.shape, name).toEqual(t.shape);
      expect(Buffer.compare(bitsOf(saved.tensors[name]!), new Uint8Array(t.data.buffer)), name).toBe(0);
    }
    const again = await loadWeights(out, plan, 'gpt2');
    for (const [n, v] of params) expect(Buffer.compare(new Uint8Array(again.get(n)!.buffer), new Uint8Array(v.buffer)), n).toBe(0);
  });

  it('F16 and BF16 files load as f32 and save back bit for bit (NaN payloads, subnormals and signed zeros included)', () => {
    const rnd = mulberry32(9);
    const halves = (n: number) => {
      const h = Uint16Array.from({ length: n }, () => Math.floor(rnd() * 0x10000));
      h.set([0x0000, 0x8000, 0x0001, 0x83ff, 0x7c00, 0xfc00, 0x7c01, 0xfe37], 0);
      return h;
    };
    for (const dtype of ['F16', 'BF16'] as const) {
      const data = new Map(Object.entries(hf).map(([n, t]) => [n, halves(t.data.length)]));
      const file = safetensorsFile(
        Object.fromEntries([...data].map(([n, h]): [string, HfTensor] => [n, { dtype, shape: hf[n]!.shape, bytes: new Uint8Array(h.buffer) }])),
      );
      const params = importWeights(file, plan, 'gpt2');
      // An independent widening for one value: BF16 is the top half of an f32; F16 0x3c00 is 1.
      if (dtype === 'BF16') expect(new Uint32Array(params.get('wte')!.buffer)[9]).toBe(data.get('wte.weight')![9]! << 16);
      const back = exportWeights(params, plan, 'gpt2', { dtype });
      for (const [n, h] of data) {
        expect(back[n]!.dtype).toBe(dtype);
        expect(Buffer.compare(bitsOf(back[n]!), new Uint8Array(h.buffer)), `${dtype} ${n}`).toBe(0);
      }
    }
    const one = safetensorsFile({ 'ln_f.weight': { dtype: 'F16', shape: [1], bytes: new Uint8Array([0x00, 0x3c]) } });
    expect(() => importWeights(one, plan, 'gpt2')).toThrow("tensor 'ln_f.weight' (F16[1]) gives [1], but parameter 'lnf_g' is f32[32] in GPT2");
  });

  it('every mismatch is reported at once: shapes, a misspelt tensor, an extra layer, a missing tensor, an integer dtype', async () => {
    const tensors: Record<string, HfTensor> = {};
    for (const [n, t] of Object.entries(hf)) tensors[n] = f32Tensor(t.shape, t.data);
    tensors['wpe.weight'] = f32Tensor([SIZE.ctx, SIZE.d + 1], new Float32Array(SIZE.ctx * (SIZE.d + 1)));
    tensors['h.0.attn.c_attn.weight'] = f32Tensor([SIZE.d, 3 * SIZE.d + 1], new Float32Array(SIZE.d * (3 * SIZE.d + 1)));
    tensors['h.0.mlp.c_fcc.bias'] = tensors['h.0.mlp.c_fc.bias']!;
    delete tensors['h.0.mlp.c_fc.bias'];
    tensors['h.2.ln_1.weight'] = tensors['h.1.ln_1.weight']!;
    delete tensors['h.1.ln_2.bias'];
    tensors['ln_f.bias'] = { dtype: 'I32', shape: [SIZE.d], bytes: new Uint8Array(4 * SIZE.d) };
    const p = write('gpt2-bad.safetensors', safetensorsFile(tensors));
    const message = await failure(loadWeights(p, plan, 'gpt2'));
    expect(message.split('\n')).toEqual([
      `${p}: cannot load into GPT2: 7 problems:`,
      `  tensor 'wpe.weight' (F32[16, 33]) gives [16, 33], but parameter 'wpe' is f32[16, 32] in GPT2`,
      `  tensor 'ln_f.bias' (I32[32]) maps to 'lnf_b', but I32 is not a float dtype (F32, F16, BF16)`,
      `  tensor 'h.0.attn.c_attn.weight' (F32[32, 97]) cannot be mapped by entry 'h.{i}.attn.c_attn.weight': dim 1 (97) does not split into 3 equal parts`,
      `  tensor 'h.0.mlp.c_fcc.bias' (F32[128]) matches no entry of the map 'gpt2'; did you mean 'h.0.mlp.c_fc.bias'?`,
      `  tensor 'h.2.ln_1.weight' (F32[32]) maps to 'Layer.2.ln1_g', which is not a parameter of GPT2; did you mean 'Layer.0.ln1_g'?`,
      `  parameter 'Layer.0.Mlp.b1' (f32[128]) of GPT2 is missing: the map reads it from 'h.0.mlp.c_fc.bias', which the file does not have`,
      `  parameter 'Layer.1.ln2_b' (f32[32]) of GPT2 is missing: the map reads it from 'h.1.ln_2.bias', which the file does not have`,
    ]);
  });
});

/** [HF name, HF shape, mdc parameter, transposed]: written out here, apart from the presets, for the samples at preset tiny. */
type Row = [string, number[], string, boolean];

function bertRows(): Row[] {
  const [V, P, d, f] = [512, 128, 64, 256];
  const rows: Row[] = [
    ['bert.embeddings.word_embeddings.weight', [V, d], 'word', false],
    ['bert.embeddings.position_embeddings.weight', [P, d], 'position', false],
    ['bert.embeddings.token_type_embeddings.weight', [2, d], 'segment', false],
    // Older files spell LayerNorm's tensors gamma and beta.
    ['bert.embeddings.LayerNorm.gamma', [d], 'ln_g', false],
    ['bert.embeddings.LayerNorm.beta', [d], 'ln_b', false],
    ['bert.pooler.dense.weight', [d, d], 'pool_w', true],
    ['bert.pooler.dense.bias', [d], 'pool_b', false],
  ];
  for (const i of [0, 1]) {
    const l = `bert.encoder.layer.${i}`;
    const m = `Encoder.${i}`;
    for (const [hf, me] of [
      ['query', 'q'],
      ['key', 'k'],
      ['value', 'v'],
    ] as const) {
      rows.push([`${l}.attention.self.${hf}.weight`, [d, d], `${m}.SelfAttention.w${me}`, true]);
      rows.push([`${l}.attention.self.${hf}.bias`, [d], `${m}.SelfAttention.b${me}`, false]);
    }
    rows.push(
      [`${l}.attention.output.dense.weight`, [d, d], `${m}.SelfAttention.wo`, true],
      [`${l}.attention.output.dense.bias`, [d], `${m}.SelfAttention.bo`, false],
      [`${l}.attention.output.LayerNorm.weight`, [d], `${m}.ln1_g`, false],
      [`${l}.attention.output.LayerNorm.bias`, [d], `${m}.ln1_b`, false],
      [`${l}.intermediate.dense.weight`, [f, d], `${m}.w1`, true],
      [`${l}.intermediate.dense.bias`, [f], `${m}.b1`, false],
      [`${l}.output.dense.weight`, [d, f], `${m}.w2`, true],
      [`${l}.output.dense.bias`, [d], `${m}.b2`, false],
      [`${l}.output.LayerNorm.weight`, [d], `${m}.ln2_g`, false],
      [`${l}.output.LayerNorm.bias`, [d], `${m}.ln2_b`, false],
    );
  }
  return rows;
}

function llamaRows(): Row[] {
  const [V, d, kv, f] = [512, 128, 64, 344];
  const rows: Row[] = [
    ['model.embed_tokens.weight', [V, d], 'embed', false],
    ['model.norm.weight', [d], 'norm', false],
    ['lm_head.weight', [V, d], 'lm_head', true],
  ];
  for (const i of [0, 1]) {
    const l = `model.layers.${i}`;
    rows.push(
      [`${l}.input_layernorm.weight`, [d], `Layer.${i}.attn_norm`, false],
      [`${l}.post_attention_layernorm.weight`, [d], `Layer.${i}.ffn_norm`, false],
      [`${l}.self_attn.q_proj.weight`, [d, d], `Layer.${i}.Attention.wq`, true],
      [`${l}.self_attn.k_proj.weight`, [kv, d], `Layer.${i}.Attention.wk`, true],
      [`${l}.self_attn.v_proj.weight`, [kv, d], `Layer.${i}.Attention.wv`, true],
      [`${l}.self_attn.o_proj.weight`, [d, d], `Layer.${i}.Attention.wo`, true],
      [`${l}.mlp.gate_proj.weight`, [f, d], `Layer.${i}.FeedForward.w1`, true],
      [`${l}.mlp.up_proj.weight`, [f, d], `Layer.${i}.FeedForward.w3`, true],
      [`${l}.mlp.down_proj.weight`, [d, f], `Layer.${i}.FeedForward.w2`, true],
    );
  }
  return rows;
}

describe.each([
  ['bert', 'bert-base', bertRows, { 'bert.embeddings.position_ids': { dtype: 'I64', shape: [1, 128], bytes: new Uint8Array(8 * 128) } }],
  ['llama', 'llama', llamaRows, { 'model.layers.0.self_attn.rotary_emb.inv_freq': f32Tensor([16], new Float32Array(16)) }],
] as const)('the %s preset', (preset, sample, rows, extra: Readonly<Record<string, HfTensor>>) => {
  it('loads every parameter of the sample, Linear weights ([out, in]) transposed, and passes over buffers', () => {
    const { plan } = compileSample(sample, { preset: 'tiny' });
    const rnd = mulberry32(3);
    const values = new Map(rows().map(([n, shape]) => [n, Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rnd())]));
    const file = safetensorsFile({ ...Object.fromEntries(rows().map(([n, shape]) => [n, f32Tensor(shape, values.get(n)!)])), ...extra });
    const params = importWeights(file, plan, preset);
    expect([...params.keys()].sort()).toEqual(
      plan.buffers
        .filter((b) => b.role === 'param')
        .map((b) => b.name)
        .sort(),
    );
    for (const [n, shape, param, transposed] of rows()) {
      const src = values.get(n)!;
      const got = params.get(param)!;
      const [r, c] = shape.length === 2 ? shape : [1, shape[0]!];
      // Element (i, j) of the HF tensor is element (j, i) of the parameter when transposed.
      for (const [i, j] of [
        [0, 1],
        [r - 1, 0],
        [Math.floor(r / 2), c - 1],
      ] as const)
        expect(got[transposed ? j * r + i : i * c + j], `${n} (${i}, ${j})`).toBe(src[i * c + j]);
    }
  });
});

describe('malformed files are refused in words, before any large allocation', () => {
  const { plan } = gpt2();
  /** A file around one tensor entry `wte.weight` with the given header fields and `data` bytes of data. */
  const file = (header: unknown, data = 0, lengthPrefix?: bigint) => {
    const json = new TextEncoder().encode(typeof header === 'string' ? header : JSON.stringify(header));
    const out = new Uint8Array(8 + json.length + data);
    new DataView(out.buffer).setBigUint64(0, lengthPrefix ?? BigInt(json.length), true);
    out.set(json, 8);
    return out;
  };
  const t = (dtype: string, shape: number[], offsets: number[]) => ({ dtype, shape, data_offsets: offsets });
  const cases: [string, Uint8Array, string][] = [
    ['a truncated file (shorter than the length prefix)', new Uint8Array(5), 'truncated: 5 bytes, too short for the 8-byte header length'],
    ['a header length beyond the file', file({}, 0, 40n), 'truncated: the header says it is 40 bytes but only 2 follow the length prefix'],
    ['an absurd header length', file({}, 0, 1n << 50n), 'header length 1125899906842624 exceeds the 100000000-byte limit (a corrupt length prefix?)'],
    ['a header that is not JSON', file('{"wte.weight": [', 0), 'the header is not valid JSON'],
    ['an unknown dtype', file({ a: t('F48', [2], [0, 8]) }, 8), `tensor 'a' has unknown dtype "F48"`],
    ['a shape that does not match the byte count', file({ a: t('F32', [3], [0, 8]) }, 8), "tensor 'a' is F32[3], 12 bytes, but its data_offsets [0, 8] span 8"],
    ['overlapping offsets', file({ a: t('F32', [2], [0, 8]), b: t('F32', [2], [4, 12]) }, 12), "tensor 'b' [4, 12) overlaps tensor 'a', which ends at 8"],
    [
      'offsets beyond the data (a terabyte tensor in a small file)',
      file({ a: t('F32', [2 ** 38], [0, 2 ** 40]) }, 16),
      "truncated: tensor 'a' ends at data byte 1099511627776 but the file holds 16 bytes of data",
    ],
    ['the data cut short', file({ a: t('F32', [4], [0, 16]) }, 12), "truncated: tensor 'a' ends at data byte 16 but the file holds 12 bytes of data"],
  ];
  it.each(cases)('%s', async (name, bytes, why) => {
    const p = write(`bad-${name.replace(/[^a-z]+/g, '-')}.safetensors`, bytes);
    const message = await failure(loadWeights(p, plan, 'gpt2'));
    expect(message.startsWith(`${p}: ${why}`), message).toBe(true);
    // The same check in memory.
    expect(() => importWeights(bytes, plan, 'gpt2', 'w')).toThrow(`w: ${why}`);
  });

  it('an I64 tensor the map would load is refused by name (the bert preset passes over an ignored one)', () => {
    const bytes = safetensorsFile({ 'ln_f.weight': { dtype: 'I64', shape: [32], bytes: new Uint8Array(8 * 32) } });
    expect(() => importWeights(bytes, plan, 'gpt2')).toThrow("tensor 'ln_f.weight' (I64[32]) maps to 'lnf_g', but I64 is not a float dtype (F32, F16, BF16)");
  });
});

describe('name maps', () => {
  it('the presets are well formed', () => {
    for (const map of Object.values(WEIGHTS_MAP_PRESETS)) expect(mapProblems(map), map.name).toEqual([]);
  });

  it('a map file is read, checked and used like a preset', async () => {
    const { plan } = gpt2();
    const gpt = WEIGHTS_MAP_PRESETS['gpt2']!;
    const p = join(dir, 'gpt2.weights.json');
    writeFileSync(p, JSON.stringify({ format: 'mdc.weights-map', version: 1, name: 'mine', strip: gpt.strip, entries: gpt.entries, ignore: gpt.ignore }));
    const map = await readWeightsMap(p);
    expect(map.name).toBe('mine');
    const params = importWeights(hfGpt2File(hfGpt2Weights(SIZE, 1), SIZE), plan, map);
    expect(params.size).toBe(36);
  });

  it('a malformed map is refused with every problem', () => {
    const bad = {
      format: 'mdc.weights-map',
      version: 2,
      entries: [
        { source: 'a.{i}.w', target: 'A.{j}.w' },
        { source: 'qkv', target: ['q', 'k'] },
        { source: 'x', target: 'X', split: 0 },
        { source: 'y', target: 'Y', transpose: 'yes', scale: 2 },
        7,
      ],
      extra: true,
    };
    let err: unknown;
    try {
      parseWeightsMap(bad, 'm.weights.json');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(WeightsError);
    expect((err as WeightsError).problems).toEqual([
      'unknown fields: extra (known: format, version, name, strip, entries, ignore)',
      '"version" must be 1, not 2',
      'entries[3] has unknown fields: scale (known: source, target, transpose, split)',
      'entries[3].transpose must be true or false',
      'entries[4] must be an object',
      "entry 'a.{i}.w': target 'A.{j}.w' must use the source's placeholders ({i}), each once",
      "entry 'qkv' has 2 targets but no split dim",
      "entry 'x' splits into one part: give several targets, or no split",
    ]);
  });

  it('an unknown preset or a missing map file is named', async () => {
    expect(() => importWeights(new Uint8Array(0), gpt2().plan, 'gpt3')).toThrow("weights map: no preset named 'gpt3' (presets: gpt2, bert, llama)");
    expect(await failure(readWeightsMap(join(dir, 'none.json')))).toBe(
      `${join(dir, 'none.json')}: no such file, and not a preset (presets: gpt2, bert, llama)`,
    );
  });
});

describe('the CLI options --weights and --weights-map', () => {
  it('take a preset or a map file beside the model, and say what is missing', async () => {
    const { plan } = gpt2();
    const weights = write('cli.safetensors', hfGpt2File(hfGpt2Weights(SIZE, 2), SIZE));
    const model = join(dir, 'mine.model');
    expect(await weightsOption({}, model, plan)).toBeUndefined();
    expect((await weightsOption({ weights: weights, 'weights-map': 'gpt2' }, model, plan))!.size).toBe(36);
    expect(await failure(weightsOption({ 'weights-map': 'gpt2' }, model, plan))).toBe('--weights-map needs --weights');
    expect(await failure(weightsOption({ weights }, model, plan))).toBe(
      `--weights needs a name map: --weights-map gpt2|bert|llama|FILE, or a file '${join(dir, 'mine.weights.json')}' next to the model (docs/weights.md)`,
    );
    writeFileSync(join(dir, 'mine.weights.json'), JSON.stringify({ format: 'mdc.weights-map', version: 1, ...WEIGHTS_MAP_PRESETS['gpt2'] }));
    expect((await weightsOption({ weights }, model, plan))!.size).toBe(36);
    expect(await failure(weightsOption({ weights, 'weights-map': join(dir, 'nope.json') }, model, plan))).toBe(
      `cannot read --weights-map '${join(dir, 'nope.json')}': no such file`,
    );
  });
});
