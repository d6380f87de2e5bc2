import { dimConst, dimDiv, dimEquals, dimMul, dimValue, type Dim } from '../dims.js';
import { printDim, printType } from '../types.js';
import { defineInternalOp, defineOp, type OpDef, type OpFacets } from './op.js';
import { dims, einsum, spec, type Names } from './sharding.js';
import { requireFloat, requireRank, t, type InferCtx } from './signature.js';
import { zeros, type RefOp, type RefTensor } from './tensor.js';
import { numel } from '../../layout/mesh.js';

/** Multi-head attention and the rotary position embedding its queries and keys take. */

/** `inverse` rotates back (the transpose): rotary's gradient. */
export type RotaryAttrs = { readonly heads: number; readonly theta: number; readonly offset: number; readonly inverse?: boolean };
/** `kv_heads` and `scale` are resolved by the shape rule; `has_mask` is set by elaboration when a mask is given (input 3). */
export type AttentionAttrs = {
  readonly heads: number;
  readonly kv_heads: number;
  readonly causal: boolean;
  readonly scale: number;
  readonly has_mask?: boolean;
};

function headDim(c: InferCtx, what: string, width: Dim, heads: number): Dim | undefined {
  if (!(heads >= 1)) return c.error('MDC0210', `${c.op} heads`, String(heads));
  const hd = dimDiv(width, dimConst(heads));
  if (!hd) return c.error('MDC0207', `${c.op} ${what}`, printDim(width), `heads = ${heads}`);
  return hd;
}

/**
 * Row r of x's sequence axis turns by the angle of position r + offset; with the decode
 * step's positions (input 1, one per sequence: x's dims before the last two), row r of
 * sequence b is at positions[b] + r + offset.
 */
const rotaryRef: RefOp<RotaryAttrs> = ([x, positions], a) => {
  const W = x!.shape[x!.shape.length - 1]!;
  const S = x!.shape[x!.shape.length - 2]!;
  const Dh = W / a.heads;
  const half = Dh / 2;
  const theta = a.theta;
  const offset = a.offset;
  const out = zeros(x!.shape);
  for (let i = 0; i < x!.data.length; i++) {
    const col = i % W;
    const pos = (Math.floor(i / W) % S) + offset + (positions ? positions.data[Math.floor(i / (W * S))]! : 0);
    const j = col % Dh;
    const jj = j % half;
    const ang = pos * Math.pow(theta, (-2 * jj) / Dh);
    const c = Math.cos(ang);
    // `inverse` rotates back (the transpose): rotary's gradient.
    const s = a.inverse ? -Math.sin(ang) : Math.sin(ang);
    out.data[i] = j < half ? x!.data[i]! * c - x!.data[i + half]! * s : x!.data[i]! * c + x!.data[i - half]! * s;
  }
  return [out];
};

/**
 * The attention probabilities of one query row (batch b, head h, position i) into `p`
 * (softmax of the scaled scores over the keys it may see); false when it may see none
 * (a fully masked row, whose output and gradients are zero). The forward reference and
 * its gradient share it, so both see the very same probabilities.
 */
function rowProbabilities(q: RefTensor, k: RefTensor, mask: RefTensor | undefined, a: AttentionAttrs) {
  const [, Sq, W] = q.shape as [number, number, number];
  const Sk = k.shape[1]!;
  const Dh = W / a.heads;
  const KW = a.kv_heads * Dh;
  return (b: number, h: number, i: number, p: Float64Array): boolean => {
    const kvh = Math.floor(h / (a.heads / a.kv_heads));
    const qb = (b * Sq + i) * W + h * Dh;
    let m = -Infinity;
    for (let j = 0; j < Sk; j++) {
      const allowed = (!a.causal || j <= i + Sk - Sq) && (!mask || mask.data[b * Sk + j] !== 0);
      if (!allowed) {
        p[j] = -Infinity;
        continue;
      }
      const kb = (b * Sk + j) * KW + kvh * Dh;
      let s = 0;
      for (let d = 0; d < Dh; d++) s += q.data[qb + d]! * k.data[kb + d]!;
      p[j] = s * a.scale;
      m = Math.max(m, p[j]!);
    }
    if (m === -Infinity) return false;
    let sum = 0;
    for (let j = 0; j < Sk; j++) {
      p[j] = Math.exp(p[j]! - m);
      sum += p[j]!;
    }
    for (let j = 0; j < Sk; j++) p[j] = p[j]! / sum;
    return true;
  };
}

const attentionRef: RefOp<AttentionAttrs> = (ins, a) => {
  const [q, k, v] = ins as [RefTensor, RefTensor, RefTensor];
  const mask = a.has_mask ? ins[3] : undefined;
  const [B, Sq, W] = q.shape as [number, number, number];
  const Sk = k.shape[1]!;
  const H = a.heads;
  const KVH = a.kv_heads;
  const Dh = W / H;
  const KW = KVH * Dh;
  const out = zeros(q.shape);
  const p = new Float64Array(Sk);
  const row = rowProbabilities(q, k, mask, a);
  for (let b = 0; b < B; b++)
    for (let h = 0; h < H; h++)
      for (let i = 0; i < Sq; i++) {
        const kvh = Math.floor(h / (H / KVH));
        const qb = (b * Sq + i) * W + h * Dh;
        if (!row(b, h, i, p)) continue;
        for (let j = 0; j < Sk; j++) {
          if (p[j] === 0) continue;
          const vb = (b * Sk + j) * KW + kvh * Dh;
          for (let d = 0; d < Dh; d++) out.data[qb + d] += p[j]! * v.data[vb + d]!;
        }
      }
  return [out];
};

/**
 * attention: recomputes each row's probabilities (no stored score matrix) and returns
 * (dq, dk, dv): dv += p·g, dp = g·v, ds = p·(dp − Σ p·dp), dq += scale·ds·k, dk += scale·ds·q.
 */
const attentionGradRef: RefOp<AttentionAttrs> = (ins, a) => {
  const [g, q, k, v] = ins as [RefTensor, RefTensor, RefTensor, RefTensor];
  const mask = a.has_mask ? ins[4] : undefined;
  const [B, Sq, W] = q.shape as [number, number, number];
  const Sk = k.shape[1]!;
  const H = a.heads;
  const KVH = a.kv_heads;
  const Dh = W / H;
  const KW = KVH * Dh;
  const scale = a.scale;
  const dq = zeros(q.shape);
  const dk = zeros(k.shape);
  const dv = zeros(v.shape);
  const p = new Float64Array(Sk);
  const dp = new Float64Array(Sk);
  const row = rowProbabilities(q, k, mask, a);
  for (let b = 0; b < B; b++)
    for (let h = 0; h < H; h++)
      for (let i = 0; i < Sq; i++) {
        const kvh = Math.floor(h / (H / KVH));
        const qb = (b * Sq + i) * W + h * Dh;
        if (!row(b, h, i, p)) continue;
        let dot = 0;
        for (let j = 0; j < Sk; j++) {
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

export const attentionOps: OpDef[] = [
  defineOp<RotaryAttrs>({
    name: 'rotary',
    cls: 'injective',
    doc: 'rotary(x, heads, theta = 10000, offset = 0): rotary position embedding on x[..., S, heads·Dh], rotating half-dims per head (LLaMA convention).',
    args: [
      { name: 'x', kind: 'tensor' },
      { name: 'heads', kind: 'int' },
      { name: 'theta', kind: 'float', default: 10000, positive: true },
      { name: 'offset', kind: 'int', default: 0, kwOnly: true },
    ],
    infer: (c) => {
      const x = c.tensor('x');
      if (!requireRank(c, x, 2) || !requireFloat(c, 'x', x)) return undefined;
      const hd = headDim(c, 'width', x.dims[x.dims.length - 1]!, c.int('heads'));
      if (!hd) return undefined;
      if (!dimDiv(hd, dimConst(2))) return c.error('MDC0207', 'rotary head dim', printDim(hd), '2');
      return [t(x.dtype, x.dims)];
    },
    // Decoding: the step's i32 positions, one per sequence (x's dims before the last two), which compiler/infer/decode.ts gives it.
    implicitInputs: 1,
    reference: rotaryRef,
    // Per element: the angle (a power and a multiply), its cosine and sine, and the rotation's two multiplies and add.
    flops: ([x]) => 7 * numel(x!),
    // The rotation's transpose: the same angles, rotated back.
    grad: (c, [, positions], _o, [g], a) => [g && c.op('rotary', positions ? [g, positions] : [g], g.type, { ...a, inverse: true })],
    // Heads split whole (the width in units of heads); the angles need the global position. Positions go with x's leading dims.
    sharding: (a, ins, [o]) => {
      const r = o!.length;
      const why = { [`d${r - 2}`]: 'rotary angles depend on the global position' };
      const units = { [`d${r - 1}`]: { unit: a.heads, attrs: ['heads'] } };
      const inputs = ins.length > 1 ? [dims('d', r), dims('d', r - 2)] : [dims('d', r)];
      return spec(einsum(inputs, [dims('d', r)], { whole: why, units }), 'none', why);
    },
    kernel: 'rotary',
  }),
  defineOp<AttentionAttrs>({
    name: 'attention',
    cls: 'opaque',
    doc:
      'attention(q, k, v, mask?, heads, kv_heads = heads, causal = false, scale = 1/sqrt(Dh)): multi-head scaled dot-product attention on ' +
      'q[B, Sq, heads·Dh], k/v[B, Sk, kv_heads·Dh]; mask[B, Sk] marks keys to attend (nonzero); grouped KV heads when kv_heads < heads.',
    args: [
      { name: 'q', kind: 'tensor' },
      { name: 'k', kind: 'tensor' },
      { name: 'v', kind: 'tensor' },
      { name: 'mask', kind: 'tensor', default: null },
      { name: 'heads', kind: 'int', kwOnly: true },
      { name: 'kv_heads', kind: 'int', default: 0, kwOnly: true },
      { name: 'causal', kind: 'bool', default: false, kwOnly: true },
      { name: 'scale', kind: 'float', default: 0, kwOnly: true },
    ],
    infer: (c) => {
      const q = c.tensor('q');
      const k = c.tensor('k');
      const v = c.tensor('v');
      for (const [n, x] of [
        ['q', q],
        ['k', k],
        ['v', v],
      ] as const) {
        if (x.dims.length !== 3) return c.error('MDC0201', 'attention', `${n} of rank 3 [B, S, heads·Dh]`, printType(x));
      }
      if (!requireFloat(c, 'q', q) || k.dtype !== q.dtype || v.dtype !== q.dtype) {
        return c.error('MDC0301', 'attention', printType(q), printType(k.dtype !== q.dtype ? k : v));
      }
      const heads = c.int('heads');
      const kvHeads = c.int('kv_heads') || heads;
      const hd = headDim(c, 'q width', q.dims[2]!, heads);
      if (!hd) return undefined;
      if (heads % kvHeads !== 0) return c.error('MDC0207', 'attention heads', String(heads), `kv_heads = ${kvHeads}`);
      const kvWidth = dimMul(hd, dimConst(kvHeads));
      for (const [n, x] of [
        ['k', k],
        ['v', v],
      ] as const) {
        if (!dimEquals(x.dims[2]!, kvWidth))
          return c.error('MDC0214', 'attention', printType(q), printType(x), `${n} width must be kv_heads·Dh = ${printDim(kvWidth)}`);
        if (!dimEquals(x.dims[0]!, q.dims[0]!)) return c.error('MDC0214', 'attention', printType(q), printType(x), 'batch dims differ');
      }
      if (!dimEquals(k.dims[1]!, v.dims[1]!)) return c.error('MDC0214', 'attention', printType(k), printType(v), 'k and v lengths differ');
      const mask = c.optTensor('mask');
      if (mask && (mask.dims.length !== 2 || !dimEquals(mask.dims[0]!, q.dims[0]!) || !dimEquals(mask.dims[1]!, k.dims[1]!))) {
        return c.error('MDC0214', 'attention', printType(k), printType(mask), 'mask must be [B, Sk]');
      }
      c.set('kv_heads', kvHeads);
      const hdv = dimValue(hd);
      c.set('scale', c.num('scale') || (hdv !== undefined ? 1 / Math.sqrt(hdv) : 0));
      return [t(q.dtype, q.dims)];
    },
    reference: attentionRef,
    // Two products of [Sq, Dh] by [Dh, Sk] per head (scores, then probabilities by values): 2 · 2·Sq·Sk·Dh.
    flops: ([q, k]) => 4 * q![0]! * q![1]! * k![1]! * q![2]!,
    // attention_grad recomputes the probabilities row by row (no score matrix kept); the mask has no gradient.
    grad: (c, ins, _o, [g], a) => {
      if (!g) return [];
      const [q, k, v, mask] = ins;
      return [...c.ops('attention_grad', [g, q!, k!, v!, ...(mask ? [mask] : [])], [q!.type, k!.type, v!.type], a), undefined];
    },
    // Heads split whole (grouped KV heads by kv_heads); every key is read, and a causal mask needs the global query position.
    sharding: (a) => {
      const why: Record<string, string> = { sk: 'attention reads every key' };
      if (a.causal) why['sq'] = 'the causal mask depends on the global query position';
      const ins: Names[] = [
        ['b', 'sq', 'w'],
        ['b', 'sk', 'w'],
        ['b', 'sk', 'w'],
      ];
      if (a.has_mask) ins.push(['b', 'sk']);
      return spec(einsum(ins, [['b', 'sq', 'w']], { whole: why, units: { w: { unit: a.kv_heads, attrs: ['heads', 'kv_heads'] } } }), 'none', why);
    },
    kernel: 'attention',
  }),
];

export const attentionInternalOps: OpFacets[] = [
  defineInternalOp<AttentionAttrs>({
    name: 'attention_grad',
    cls: 'opaque',
    doc: 'attention_grad(g, q, k, v, mask?): (dq, dk, dv) of attention with the same attributes, recomputing the probabilities row by row.',
    reference: attentionGradRef,
    // Five products the size of the forward's two: the scores again, dv, dp, dq and dk (FlashAttention's backward).
    flops: ([, q, k]) => 10 * q![0]! * q![1]! * k![1]! * q![2]!,
    grad: 'none',
    sharding: (a) => {
      const why: Record<string, string> = { sk: 'attention reads every key', sq: "each key's gradient sums over every query" };
      const ins: Names[] = [
        ['b', 'sq', 'w'],
        ['b', 'sq', 'w'],
        ['b', 'sk', 'w'],
        ['b', 'sk', 'w'],
      ];
      if (a.has_mask) ins.push(['b', 'sk']);
      return spec(
        einsum(
          ins,
          [
            ['b', 'sq', 'w'],
            ['b', 'sk', 'w'],
            ['b', 'sk', 'w'],
          ],
          { whole: why, units: { w: { unit: a.kv_heads, attrs: ['heads', 'kv_heads'] } } },
        ),
        'none',
        why,
      );
    },
    kernel: 'attention_grad',
  }),
];
