import { moeSlots, type RefOp } from './ops.js';
import { zeros, type RefTensor } from '../ops/tensor.js';

/**
 * CPU references (float64) of the ops that only backward passes use. Their semantics are
 * the vector–Jacobian products of the forward ops in ops.ts; autodiff's rules say which
 * forward op each one differentiates.
 */

/** embedding: rows of g are added into the table rows their ids name (ids outside [0, V) add nothing). */
const embeddingGrad: RefOp = ([g, ids], _a, [shape]) => {
  const [V, D] = shape! as [number, number];
  const out = zeros(shape!);
  for (let r = 0; r < ids!.data.length; r++) {
    const id = ids!.data[r]!;
    if (id < 0 || id >= V) continue;
    for (let j = 0; j < D; j++) out.data[id * D + j] += g!.data[r * D + j]!;
  }
  return [out];
};

/** topk: the gradient of the values goes back to the positions the indices name. */
const topkGrad: RefOp = ([g, idx], _a, [shape]) => {
  const n = shape![shape!.length - 1]!;
  const k = g!.shape[g!.shape.length - 1]!;
  const out = zeros(shape!);
  const rows = g!.data.length / k;
  for (let r = 0; r < rows; r++) for (let j = 0; j < k; j++) out.data[r * n + idx!.data[r * k + j]!] += g!.data[r * k + j]!;
  return [out];
};

/** cross_entropy (mean over rows with a valid label): g · (softmax(logits) − onehot(label)) / count. */
const crossEntropyGrad: RefOp = ([g, lg, lb]) => {
  const V = lg!.shape[lg!.shape.length - 1]!;
  const out = zeros(lg!.shape);
  let count = 0;
  for (let r = 0; r < lb!.data.length; r++) if (lb!.data[r]! >= 0 && lb!.data[r]! < V) count++;
  const scale = g!.data[0]! / Math.max(count, 1);
  for (let r = 0; r < lb!.data.length; r++) {
    const label = lb!.data[r]!;
    if (label < 0 || label >= V) continue;
    const row = lg!.data.subarray(r * V, r * V + V);
    let m = -Infinity;
    for (const v of row) m = Math.max(m, v);
    let s = 0;
    for (const v of row) s += Math.exp(v - m);
    for (let j = 0; j < V; j++) out.data[r * V + j] = scale * (Math.exp(row[j]! - m) / s - (j === label ? 1 : 0));
  }
  return [out];
};

/**
 * attention: recomputes each row's probabilities (no stored score matrix) and returns
 * (dq, dk, dv): dv += p·g, dp = g·v, ds = p·(dp − Σ p·dp), dq += scale·ds·k, dk += scale·ds·q.
 */
const attentionGrad: RefOp = (ins, attrs) => {
  const [g, q, k, v] = ins as [RefTensor, RefTensor, RefTensor, RefTensor];
  const mask = attrs['has_mask'] ? ins[4] : undefined;
  const [B, Sq, W] = q.shape as [number, number, number];
  const Sk = k.shape[1]!;
  const H = attrs['heads'] as number;
  const KVH = attrs['kv_heads'] as number;
  const Dh = W / H;
  const KW = KVH * Dh;
  const scale = attrs['scale'] as number;
  const causal = !!attrs['causal'];
  const dq = zeros(q.shape);
  const dk = zeros(k.shape);
  const dv = zeros(v.shape);
  const p = new Float64Array(Sk);
  const dp = new Float64Array(Sk);
  for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) for (let i = 0; i < Sq; i++) {
    const kvh = Math.floor(h / (H / KVH));
    const qb = (b * Sq + i) * W + h * Dh;
    let m = -Infinity;
    for (let j = 0; j < Sk; j++) {
      const allowed = (!causal || j <= i + Sk - Sq) && (!mask || mask.data[b * Sk + j] !== 0);
      if (!allowed) { p[j] = -Infinity; continue; }
      const kb = (b * Sk + j) * KW + kvh * Dh;
      let s = 0;
      for (let d = 0; d < Dh; d++) s += q.data[qb + d]! * k.data[kb + d]!;
      p[j] = s * scale;
      m = Math.max(m, p[j]!);
    }
    if (m === -Infinity) continue;
    let sum = 0;
    for (let j = 0; j < Sk; j++) { p[j] = Math.exp(p[j]! - m); sum += p[j]!; }
    let dot = 0;
    for (let j = 0; j < Sk; j++) {
      p[j] = p[j]! / sum;
      const vb = (b * Sk + j) * KW + kvh * Dh;
      let s = 0;
      for (let d = 0; d < Dh; d++) {
        s += g.data[qb + d]! * v.data[vb + d]!;
        dv.data[vb + d] += p[j]! * g.data[qb + d]!;
      }
      dp[j] = s;
      dot += p[j]! * s;
    }
    for (let j = 0; j < Sk; j++) {
      if (p[j] === 0) continue;
      const ds = p[j]! * (dp[j]! - dot) * scale;
      const kb = (b * Sk + j) * KW + kvh * Dh;
      for (let d = 0; d < Dh; d++) {
        dq.data[qb + d] += ds * k.data[kb + d]!;
        dk.data[kb + d] += ds * q.data[qb + d]!;
      }
    }
  }
  return [dq, dk, dv];
};

/** patchify's inverse: patch vectors back to image positions. */
const patchifyGrad: RefOp = ([g], attrs, [shape]) => {
  const [, C, H, W] = shape! as [number, number, number, number];
  const p = attrs['patch'] as number;
  const gw = W / p;
  const out = zeros(shape!);
  const [B, N, E] = g!.shape as [number, number, number];
  for (let b = 0; b < B; b++) for (let pi = 0; pi < N; pi++) for (let e = 0; e < E; e++) {
    const c = Math.floor(e / (p * p));
    const dy = Math.floor((e % (p * p)) / p);
    const dx = e % p;
    const y = Math.floor(pi / gw) * p + dy;
    const xx = (pi % gw) * p + dx;
    out.data[((b * C + c) * H + y) * W + xx] += g!.data[(b * N + pi) * E + e]!;
  }
  return [out];
};

/** conv2d: gradients with respect to the input and to the weights (outputs 0 and 1). */
const conv2dGrad: RefOp = ([g, x, w], attrs) => {
  const [B, C, H, W] = x!.shape as [number, number, number, number];
  const [O, , KH, KW] = w!.shape as [number, number, number, number];
  const [, , OH, OW] = g!.shape as [number, number, number, number];
  const s = attrs['stride'] as number;
  const pad = attrs['padding'] as number;
  const gx = zeros(x!.shape);
  const gw = zeros(w!.shape);
  for (let b = 0; b < B; b++) for (let o = 0; o < O; o++) for (let oy = 0; oy < OH; oy++) for (let ox = 0; ox < OW; ox++) {
    const gv = g!.data[((b * O + o) * OH + oy) * OW + ox]!;
    for (let c = 0; c < C; c++) for (let ky = 0; ky < KH; ky++) for (let kx = 0; kx < KW; kx++) {
      const iy = oy * s + ky - pad;
      const ix = ox * s + kx - pad;
      if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
      const xi = ((b * C + c) * H + iy) * W + ix;
      const wi = ((o * C + c) * KH + ky) * KW + kx;
      gx.data[xi] += gv * w!.data[wi]!;
      gw.data[wi] += gv * x!.data[xi]!;
    }
  }
  return [gx, gw];
};

/** moe_combine's gradients: with respect to the expert outputs y (a gated dispatch of g) and to the gates. */
const moeCombineGrad: RefOp = ([g, y, choice, gates], attrs) => {
  const [E, C, D] = y!.shape as [number, number, number];
  const [T, k] = choice!.shape as [number, number];
  const groups = attrs['groups'] as number;
  const slots = moeSlots(choice!.data, T, k, E, C / groups, groups);
  const gy = zeros(y!.shape);
  const gg = zeros(gates!.shape);
  for (let t = 0; t < T; t++) for (let j = 0; j < k; j++) {
    const s = slots[t * k + j]!;
    if (s < 0) continue;
    const e = choice!.data[t * k + j]!;
    const w = gates!.data[t * k + j]!;
    let dot = 0;
    for (let d = 0; d < D; d++) {
      const yi = (e * C + s) * D + d;
      gy.data[yi] += w * g!.data[t * D + d]!;
      dot += g!.data[t * D + d]! * y!.data[yi]!;
    }
    gg.data[t * k + j] = dot;
  }
  return [gy, gg];
};

export const GRAD_REFERENCE: ReadonlyMap<string, RefOp> = new Map<string, RefOp>([
  ['embedding_grad', embeddingGrad],
  ['topk_grad', topkGrad], ['cross_entropy_grad', crossEntropyGrad], ['attention_grad', attentionGrad],
  ['patchify_grad', patchifyGrad], ['conv2d_grad', conv2dGrad], ['moe_combine_grad', moeCombineGrad],
]);

// ---- mixed precision (compiler/train/precision.ts)

const f32buf = new Float32Array(1);
const u32buf = new Uint32Array(f32buf.buffer);

/** Rounds to bfloat16 (8-bit mantissa), nearest even; NaN and ±Infinity pass through. */
export function roundBf16(x: number): number {
  f32buf[0] = x;
  const bits = u32buf[0]!;
  if ((bits & 0x7f800000) === 0x7f800000) return f32buf[0]!;
  u32buf[0] = ((bits + 0x7fff + ((bits >>> 16) & 1)) & 0xffff0000) >>> 0;
  return f32buf[0]!;
}

/** Rounds to IEEE half precision (10-bit mantissa, subnormals below 2^-14), nearest even; overflow gives ±Infinity. */
export function roundF16(x: number): number {
  if (!Number.isFinite(x) || x === 0) return x;
  const a = Math.abs(x);
  const e = Math.max(Math.floor(Math.log2(a)), -14);
  // Math.log2 can be off by one at powers of two: fix the exponent from the value itself.
  const exp = a >= 2 ** (e + 1) ? e + 1 : a < 2 ** e && e > -14 ? e - 1 : e;
  const ulp = 2 ** (exp - 10);
  const q = a / ulp;
  let r = Math.floor(q);
  const frac = q - r;
  if (frac > 0.5 || (frac === 0.5 && r % 2 === 1)) r += 1;
  const y = r * ulp;
  return Math.sign(x) * (y > 65504 ? Infinity : y);
}

const roundTo: RefOp = ([x], attrs) => {
  const f = attrs['dtype'] === 'f16' ? roundF16 : roundBf16;
  return [{ shape: x!.shape, data: x!.data.map((v) => f(Math.fround(v))) }];
};

/** 1 when every element of x is finite, else 0 (a scalar). */
const allFinite: RefOp = ([x]) => [{ shape: [], data: Float64Array.of(x!.data.every((v) => Number.isFinite(v)) ? 1 : 0) }];

export const PRECISION_REFERENCE: ReadonlyMap<string, RefOp> = new Map<string, RefOp>([['round_to', roundTo], ['all_finite', allFinite]]);

/** Every CPU reference beyond the forward ops: backward-only ops, then mixed precision. */
export function extraReference(op: string): RefOp | undefined {
  return GRAD_REFERENCE.get(op) ?? PRECISION_REFERENCE.get(op);
}
