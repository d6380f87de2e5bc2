/**
 * A GPT-2 checkpoint as Hugging Face lays it out, made without mdc: weights generated
 * from a seed under HF's names and shapes (Conv1D weights [in, out], q, k and v fused in
 * `c_attn`), a safetensors writer of its own (so a bug in mdc's writer cannot hide one
 * in its reader), and a reference forward pass in plain loops over that layout, in
 * float64, which the logits of the loaded mdc model are checked against.
 */
import { mulberry32 } from './random.js';

export interface Gpt2Size {
  readonly vocab: number;
  readonly ctx: number;
  readonly d: number;
  readonly heads: number;
  readonly layers: number;
  readonly eps: number;
}

export interface HfTensor {
  readonly dtype: 'F32' | 'F16' | 'BF16' | 'I64' | 'I32';
  readonly shape: readonly number[];
  /** Little-endian bytes as the file holds them. */
  readonly bytes: Uint8Array;
}

export const f32Tensor = (shape: readonly number[], values: Float32Array): HfTensor => ({
  dtype: 'F32',
  shape,
  bytes: new Uint8Array(values.buffer, values.byteOffset, values.byteLength),
});

/**
 * A safetensors file: the 8-byte little-endian header length, the JSON header padded
 * with spaces to a multiple of 8, then the data back to back in the order given.
 */
export function safetensorsFile(tensors: Readonly<Record<string, HfTensor>>, metadata: Readonly<Record<string, string>> = { format: 'pt' }): Uint8Array {
  const header: Record<string, unknown> = { __metadata__: metadata };
  let at = 0;
  for (const [name, t] of Object.entries(tensors)) {
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [at, at + t.bytes.length] };
    at += t.bytes.length;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const n = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + n + at).fill(0x20, 8, 8 + n);
  new DataView(out.buffer).setBigUint64(0, BigInt(n), true);
  out.set(json, 8);
  let p = 8 + n;
  for (const t of Object.values(tensors)) {
    out.set(t.bytes, p);
    p += t.bytes.length;
  }
  return out;
}

/** GPT-2's weights under Hugging Face's names (GPT2Model), as f32 arrays in HF's shapes. */
export type HfGpt2 = Readonly<Record<string, { readonly shape: readonly number[]; readonly data: Float32Array }>>;

/**
 * Weights from `seed`. Gains and biases are far from ones and zeros, and every tensor
 * differs, so a swapped, mis-split or untransposed weight changes the logits.
 */
export function hfGpt2Weights(s: Gpt2Size, seed: number): HfGpt2 {
  const rnd = mulberry32(seed);
  const make = (shape: number[], scale: number, mean = 0) => ({
    shape,
    data: Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => mean + scale * (2 * rnd() - 1)),
  });
  const w: Record<string, { shape: readonly number[]; data: Float32Array }> = {
    'wte.weight': make([s.vocab, s.d], 0.5),
    'wpe.weight': make([s.ctx, s.d], 0.2),
    'ln_f.weight': make([s.d], 0.3, 1),
    'ln_f.bias': make([s.d], 0.1),
  };
  const sq = 1 / Math.sqrt(s.d);
  for (let i = 0; i < s.layers; i++) {
    const h = `h.${i}`;
    Object.assign(w, {
      [`${h}.ln_1.weight`]: make([s.d], 0.3, 1),
      [`${h}.ln_1.bias`]: make([s.d], 0.1),
      [`${h}.attn.c_attn.weight`]: make([s.d, 3 * s.d], 2 * sq),
      [`${h}.attn.c_attn.bias`]: make([3 * s.d], 0.1),
      [`${h}.attn.c_proj.weight`]: make([s.d, s.d], sq),
      [`${h}.attn.c_proj.bias`]: make([s.d], 0.1),
      [`${h}.ln_2.weight`]: make([s.d], 0.3, 1),
      [`${h}.ln_2.bias`]: make([s.d], 0.1),
      [`${h}.mlp.c_fc.weight`]: make([s.d, 4 * s.d], sq),
      [`${h}.mlp.c_fc.bias`]: make([4 * s.d], 0.1),
      [`${h}.mlp.c_proj.weight`]: make([4 * s.d, s.d], sq / 2),
      [`${h}.mlp.c_proj.bias`]: make([s.d], 0.1),
    });
  }
  return w;
}

/** The weights as a safetensors file, with the causal-mask buffers older HF exports carry and a `transformer.` prefix when asked. */
export function hfGpt2File(w: HfGpt2, s: Gpt2Size, opts: { prefix?: string; maskBuffers?: boolean } = {}): Uint8Array {
  const tensors: Record<string, HfTensor> = {};
  for (const [name, t] of Object.entries(w)) tensors[`${opts.prefix ?? ''}${name}`] = f32Tensor(t.shape, t.data);
  if (opts.maskBuffers)
    for (let i = 0; i < s.layers; i++)
      tensors[`${opts.prefix ?? ''}h.${i}.attn.bias`] = f32Tensor([1, 1, s.ctx, s.ctx], new Float32Array(s.ctx * s.ctx).fill(1));
  return safetensorsFile(tensors);
}

/** Logits [B, S, vocab] of GPT-2 on `tokens` ([B, S]), straight from HF's layout, in float64. */
export function gpt2Reference(w: HfGpt2, s: Gpt2Size, tokens: Int32Array, B: number, S: number): Float64Array {
  const { d, heads } = s;
  const dh = d / heads;
  const get = (n: string) => w[n]!.data;
  const norm = (x: Float64Array, g: Float32Array, b: Float32Array) => {
    const out = new Float64Array(x.length);
    for (let r = 0; r < x.length / d; r++) {
      let mean = 0;
      for (let c = 0; c < d; c++) mean += x[r * d + c]!;
      mean /= d;
      let v = 0;
      for (let c = 0; c < d; c++) v += (x[r * d + c]! - mean) ** 2;
      const inv = 1 / Math.sqrt(v / d + s.eps);
      for (let c = 0; c < d; c++) out[r * d + c] = (x[r * d + c]! - mean) * inv * g[c]! + b[c]!;
    }
    return out;
  };
  // x [rows, k] times a Conv1D weight [k, n] plus bias [n].
  const conv1d = (x: Float64Array, k: number, wt: Float32Array, bias: Float32Array, n: number) => {
    const rows = x.length / k;
    const out = new Float64Array(rows * n);
    for (let r = 0; r < rows; r++)
      for (let j = 0; j < n; j++) {
        let acc = bias[j]!;
        for (let i = 0; i < k; i++) acc += x[r * k + i]! * wt[i * n + j]!;
        out[r * n + j] = acc;
      }
    return out;
  };
  let x = new Float64Array(B * S * d);
  for (let b = 0; b < B; b++)
    for (let t = 0; t < S; t++)
      for (let c = 0; c < d; c++) x[(b * S + t) * d + c] = get('wte.weight')[tokens[b * S + t]! * d + c]! + get('wpe.weight')[t * d + c]!;
  for (let l = 0; l < s.layers; l++) {
    const h = `h.${l}`;
    const qkv = conv1d(norm(x, get(`${h}.ln_1.weight`), get(`${h}.ln_1.bias`)), d, get(`${h}.attn.c_attn.weight`), get(`${h}.attn.c_attn.bias`), 3 * d);
    const merged = new Float64Array(B * S * d);
    for (let b = 0; b < B; b++)
      for (let hd = 0; hd < heads; hd++)
        for (let i = 0; i < S; i++) {
          const at = (t: number, part: number, c: number) => qkv[(b * S + t) * 3 * d + part * d + hd * dh + c]!;
          const scores = new Float64Array(i + 1);
          let max = -Infinity;
          for (let j = 0; j <= i; j++) {
            let dot = 0;
            for (let c = 0; c < dh; c++) dot += at(i, 0, c) * at(j, 1, c);
            scores[j] = dot / Math.sqrt(dh);
            max = Math.max(max, scores[j]!);
          }
          let sum = 0;
          for (let j = 0; j <= i; j++) sum += scores[j] = Math.exp(scores[j]! - max);
          for (let c = 0; c < dh; c++) {
            let acc = 0;
            for (let j = 0; j <= i; j++) acc += (scores[j]! / sum) * at(j, 2, c);
            merged[(b * S + i) * d + hd * dh + c] = acc;
          }
        }
    const attn = conv1d(merged, d, get(`${h}.attn.c_proj.weight`), get(`${h}.attn.c_proj.bias`), d);
    x = x.map((v, i) => v + attn[i]!);
    const up = conv1d(norm(x, get(`${h}.ln_2.weight`), get(`${h}.ln_2.bias`)), d, get(`${h}.mlp.c_fc.weight`), get(`${h}.mlp.c_fc.bias`), 4 * d);
    const gelu = up.map((u) => 0.5 * u * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (u + 0.044715 * u ** 3))));
    const down = conv1d(gelu, 4 * d, get(`${h}.mlp.c_proj.weight`), get(`${h}.mlp.c_proj.bias`), d);
    x = x.map((v, i) => v + down[i]!);
  }
  const f = norm(x, get('ln_f.weight'), get('ln_f.bias'));
  const wte = get('wte.weight');
  const logits = new Float64Array(B * S * s.vocab);
  for (let r = 0; r < B * S; r++)
    for (let v = 0; v < s.vocab; v++) {
      let acc = 0;
      for (let c = 0; c < d; c++) acc += f[r * d + c]! * wte[v * d + c]!;
      logits[r * s.vocab + v] = acc;
    }
  return logits;
}

/** max |a − b| / max |b|: one number for "the logits agree", scaled by the logits' size. */
export function relMaxError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let err = 0;
  let scale = 0;
  for (let i = 0; i < b.length; i++) {
    err = Math.max(err, Math.abs(a[i]! - b[i]!));
    scale = Math.max(scale, Math.abs(b[i]!));
  }
  return err / scale;
}
