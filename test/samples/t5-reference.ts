/**
 * An independent float64 T5 (v1.0) forward pass, written from the paper's and t5-small's
 * definitions for the tests, sharing no code with mdc's reference ops: relative position
 * buckets, RMS layer norm without mean or bias, unscaled multi-head attention with the
 * bias shared by a stack's layers, ReLU feed-forward, tied head rescaled by d^-0.5.
 */

export interface T5Dims {
  readonly vocab: number;
  readonly d: number;
  readonly heads: number;
  readonly layers: number;
  readonly buckets: number;
  readonly maxDistance: number;
  readonly eps: number;
}

type Params = ReadonlyMap<string, ArrayLike<number>>;
type Mat = Float64Array[]; // rows

/** T5's bucket of relative position `rel` = key − query (as in the paper's reference code). */
export function t5Bucket(rel: number, buckets: number, bidirectional: boolean, maxDistance: number): number {
  let ret = 0;
  let n = -rel;
  let nb = buckets;
  if (bidirectional) {
    nb = nb / 2;
    if (n < 0) ret += nb;
    n = Math.abs(n);
  } else n = Math.max(n, 0);
  const maxExact = nb / 2;
  if (n < maxExact) return ret + n;
  const big = maxExact + Math.trunc((Math.log(n / maxExact) / Math.log(maxDistance / maxExact)) * (nb - maxExact));
  return ret + Math.min(big, nb - 1);
}

const get = (p: Params, name: string) => {
  const v = p.get(name);
  if (!v) throw new Error(`no parameter ${name}`);
  return v;
};

function matmul(x: Mat, w: ArrayLike<number>, cols: number): Mat {
  const k = x[0]!.length;
  return x.map((row) => {
    const out = new Float64Array(cols);
    for (let i = 0; i < k; i++) {
      const a = row[i]!;
      for (let j = 0; j < cols; j++) out[j] += a * w[i * cols + j]!;
    }
    return out;
  });
}

function rms(x: Mat, w: ArrayLike<number>, eps: number): Mat {
  return x.map((row) => {
    let ss = 0;
    for (const v of row) ss += v * v;
    const r = 1 / Math.sqrt(ss / row.length + eps);
    return row.map((v, i) => v * r * w[i]!);
  });
}

const add = (a: Mat, b: Mat): Mat => a.map((row, i) => row.map((v, j) => v + b[i]![j]!));

/** Attention of queries x on y; `bias(h, i, j)` is added to the scores, −∞ masks. */
function attention(p: Params, pre: string, x: Mat, y: Mat, dm: T5Dims, bias: (h: number, i: number, j: number) => number): Mat {
  const { d, heads } = dm;
  const dk = d / heads;
  const q = matmul(x, get(p, `${pre}.wq`), d);
  const k = matmul(y, get(p, `${pre}.wk`), d);
  const v = matmul(y, get(p, `${pre}.wv`), d);
  const out = x.map(() => new Float64Array(d));
  for (let h = 0; h < heads; h++)
    for (let i = 0; i < x.length; i++) {
      const s = y.map((_, j) => {
        let dot = 0;
        for (let e = 0; e < dk; e++) dot += q[i]![h * dk + e]! * k[j]![h * dk + e]!;
        return dot + bias(h, i, j);
      });
      const m = Math.max(...s);
      const ex = s.map((z) => Math.exp(z - m));
      const sum = ex.reduce((a, b) => a + b, 0);
      for (let j = 0; j < y.length; j++) for (let e = 0; e < dk; e++) out[i]![h * dk + e] += (ex[j]! / sum) * v[j]![h * dk + e]!;
    }
  return matmul(out, get(p, `${pre}.wo`), d);
}

function ffn(p: Params, pre: string, x: Mat, d: number): Mat {
  const wi = get(p, `${pre}.wi`);
  const hidden = matmul(x, wi, wi.length / d).map((r) => r.map((v) => Math.max(v, 0)));
  return matmul(hidden, get(p, `${pre}.wo`), d);
}

/**
 * Logits [T, vocab] of one example: encoder tokens `src`, decoder tokens `tgt`, and the
 * encoder's padding `mask` (0 = pad; default all real). A pad is no key at all: its score is
 * −∞ in the encoder's self-attention and in the decoder's cross-attention.
 */
export function t5Forward(p: Params, dm: T5Dims, src: readonly number[], tgt: readonly number[], mask?: readonly number[]): Float64Array[] {
  const { d, vocab, eps, buckets, maxDistance } = dm;
  const E = get(p, 'shared');
  const embed = (ids: readonly number[]) => ids.map((id) => Float64Array.from({ length: d }, (_, j) => E[id * d + j]!));
  const encRel = get(p, 'enc_rel');
  const decRel = get(p, 'dec_rel');
  const pad = (j: number) => (mask && mask[j] === 0 ? -Infinity : 0);
  const encBias = (h: number, i: number, j: number) => pad(j) + encRel[t5Bucket(j - i, buckets, true, maxDistance) * dm.heads + h]!;
  const decBias = (h: number, i: number, j: number) => (j > i ? -Infinity : decRel[t5Bucket(j - i, buckets, false, maxDistance) * dm.heads + h]!);
  let x: Mat = embed(src);
  for (let l = 0; l < dm.layers; l++) {
    const pre = `EncoderLayer.${l}`;
    const n = rms(x, get(p, `${pre}.ln1`), eps);
    x = add(x, attention(p, `${pre}.Attention`, n, n, dm, encBias));
    x = add(x, ffn(p, `${pre}.Ffn`, rms(x, get(p, `${pre}.ln2`), eps), d));
  }
  const enc = rms(x, get(p, 'enc_ln'), eps);
  let y: Mat = embed(tgt);
  for (let l = 0; l < dm.layers; l++) {
    const pre = `DecoderLayer.${l}`;
    const n = rms(y, get(p, `${pre}.ln1`), eps);
    y = add(y, attention(p, `${pre}.Attention`, n, n, dm, decBias));
    y = add(
      y,
      attention(p, `${pre}.Cross`, rms(y, get(p, `${pre}.ln2`), eps), enc, dm, (_h, _i, j) => pad(j)),
    );
    y = add(y, ffn(p, `${pre}.Ffn`, rms(y, get(p, `${pre}.ln3`), eps), d));
  }
  const out = rms(y, get(p, 'dec_ln'), eps).map((r) => r.map((v) => v / Math.sqrt(d)));
  return out.map((row) => {
    const logits = new Float64Array(vocab);
    for (let t = 0; t < vocab; t++) for (let j = 0; j < d; j++) logits[t] += row[j]! * E[t * d + j]!;
    return logits;
  });
}
