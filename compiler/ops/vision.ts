import { dimConst, dimDiv, dimEquals, dimMul, dimValue, type Dim } from '../dims.js';
import { printDim, printType } from '../types.js';
import { defineInternalOp, defineOp, type OpDef, type OpFacets } from './op.js';
import { dims, einsum, spec, type Names, type OpSpec, type Shapes } from './sharding.js';
import { t } from './signature.js';
import { forEachCoord, zeros, type RefOp } from './tensor.js';
import { numel } from '../../layout/mesh.js';

/** Image ops: ViT's patchify and 2-D convolution, with their backward ops. */

export type PatchAttrs = { readonly patch: number };
export type ConvAttrs = { readonly stride: number; readonly padding: number };

/** Only the batch dim splits: the op mixes every other dim of its image and weights. */
function batchOnly(op: string, ins: Shapes, out: readonly number[]): OpSpec {
  const why = `${op} mixes these dims`;
  const x = ['b', 'x1', 'x2', 'x3'];
  const names: Names[] = [x, ...ins.slice(1).map((s, i) => dims(`w${i}_`, s.length))];
  const whole = Object.fromEntries(
    [...x.slice(1), ...dims('o', out.length).slice(1), ...ins.slice(1).flatMap((s, i) => dims(`w${i}_`, s.length))].map((n) => [n, why]),
  );
  return spec(einsum(names, [['b', ...dims('o', out.length).slice(1)]], { whole }), 'none', whole);
}

const patchifyRef: RefOp<PatchAttrs> = ([x], a, [shape]) => {
  const [, C, H, W] = x!.shape as [number, number, number, number];
  const p = a.patch;
  const gw = W / p;
  const out = zeros(shape!);
  forEachCoord(shape!, ([b, pi, e], i) => {
    const c = Math.floor(e! / (p * p));
    const dy = Math.floor((e! % (p * p)) / p);
    const dx = e! % p;
    const y = Math.floor(pi! / gw) * p + dy;
    const xx = (pi! % gw) * p + dx;
    out.data[i] = x!.data[((b! * C + c) * H + y) * W + xx]!;
  });
  return [out];
};

const conv2dRef: RefOp<ConvAttrs> = ([x, w], a, [shape]) => {
  const [, C, H, W] = x!.shape as [number, number, number, number];
  const [, , KH, KW] = w!.shape as [number, number, number, number];
  const s = a.stride;
  const pad = a.padding;
  const out = zeros(shape!);
  forEachCoord(shape!, ([b, o, oy, ox], i) => {
    let acc = 0;
    for (let c = 0; c < C; c++)
      for (let ky = 0; ky < KH; ky++)
        for (let kx = 0; kx < KW; kx++) {
          const iy = oy! * s + ky - pad;
          const ix = ox! * s + kx - pad;
          if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
          acc += x!.data[((b! * C + c) * H + iy) * W + ix]! * w!.data[((o! * C + c) * KH + ky) * KW + kx]!;
        }
    out.data[i] = acc;
  });
  return [out];
};

/** patchify's inverse: patch vectors back to image positions. */
const patchifyGradRef: RefOp<PatchAttrs> = ([g], a, [shape]) => {
  const [, C, H, W] = shape! as [number, number, number, number];
  const p = a.patch;
  const gw = W / p;
  const out = zeros(shape!);
  const [B, N, E] = g!.shape as [number, number, number];
  for (let b = 0; b < B; b++)
    for (let pi = 0; pi < N; pi++)
      for (let e = 0; e < E; e++) {
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
const conv2dGradRef: RefOp<ConvAttrs> = ([g, x, w], a) => {
  const [B, C, H, W] = x!.shape as [number, number, number, number];
  const [O, , KH, KW] = w!.shape as [number, number, number, number];
  const [, , OH, OW] = g!.shape as [number, number, number, number];
  const s = a.stride;
  const pad = a.padding;
  const gx = zeros(x!.shape);
  const gw = zeros(w!.shape);
  for (let b = 0; b < B; b++)
    for (let o = 0; o < O; o++)
      for (let oy = 0; oy < OH; oy++)
        for (let ox = 0; ox < OW; ox++) {
          const gv = g!.data[((b * O + o) * OH + oy) * OW + ox]!;
          for (let c = 0; c < C; c++)
            for (let ky = 0; ky < KH; ky++)
              for (let kx = 0; kx < KW; kx++) {
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

export const visionOps: OpDef[] = [
  defineOp<PatchAttrs>({
    name: 'patchify',
    cls: 'injective',
    doc: 'patchify(x, patch): images x[B, C, H, W] → patch vectors [B, (H/p)·(W/p), C·p·p] (ViT).',
    args: [
      { name: 'x', kind: 'tensor' },
      { name: 'patch', kind: 'int' },
    ],
    infer: (c) => {
      const x = c.tensor('x');
      if (x.dims.length !== 4) return c.error('MDC0201', 'patchify', 'an image batch of rank 4 [B, C, H, W]', printType(x));
      const p = c.int('patch');
      if (!(p >= 1)) return c.error('MDC0210', 'patch', String(p));
      const gh = dimDiv(x.dims[2]!, dimConst(p));
      const gw = dimDiv(x.dims[3]!, dimConst(p));
      if (!gh) return c.error('MDC0207', 'patchify height', printDim(x.dims[2]!), `patch = ${p}`);
      if (!gw) return c.error('MDC0207', 'patchify width', printDim(x.dims[3]!), `patch = ${p}`);
      return [t(x.dtype, [x.dims[0]!, dimMul(gh, gw), dimMul(x.dims[1]!, dimConst(p * p))])];
    },
    reference: patchifyRef,
    // A permuted copy: no arithmetic.
    flops: () => 0,
    grad: (c, [x], _o, [g], a) => [g && c.op('patchify_grad', [g], x!.type, { patch: a.patch })],
    sharding: (_a, ins, [o]) => batchOnly('patchify', ins, o!),
    kernel: 'patchify',
  }),
  defineOp<ConvAttrs>({
    name: 'conv2d',
    cls: 'opaque',
    doc: "conv2d(x, w, stride = 1, padding = 0): x[B, C, H, W] with w[O, C, kh, kw] → [B, O, H', W'].",
    args: [
      { name: 'x', kind: 'tensor' },
      { name: 'w', kind: 'tensor' },
      { name: 'stride', kind: 'int', default: 1 },
      { name: 'padding', kind: 'int', default: 0 },
    ],
    infer: (c) => {
      const x = c.tensor('x');
      const w = c.tensor('w');
      if (x.dims.length !== 4) return c.error('MDC0201', 'conv2d', 'x of rank 4 [B, C, H, W]', printType(x));
      if (w.dims.length !== 4) return c.error('MDC0201', 'conv2d', 'w of rank 4 [O, C, kh, kw]', printType(w));
      if (!dimEquals(x.dims[1]!, w.dims[1]!)) return c.error('MDC0214', 'conv2d', printType(x), printType(w), 'channel dims differ');
      const s = c.int('stride');
      const p = c.int('padding');
      if (!(s >= 1)) return c.error('MDC0210', 'stride', String(s));
      const out: Dim[] = [];
      for (const i of [2, 3]) {
        const n = dimValue(x.dims[i]!);
        const kk = dimValue(w.dims[i]!);
        if (n === undefined || kk === undefined) return c.error('MDC0211', 'conv2d', 'spatial and kernel sizes must be constants');
        const o = Math.floor((n + 2 * p - kk) / s) + 1;
        if (o < 1) return c.error('MDC0211', 'conv2d', `kernel ${kk} larger than padded input ${n + 2 * p}`);
        out.push(dimConst(o));
      }
      return [t(x.dtype, [x.dims[0]!, w.dims[0]!, ...out])];
    },
    reference: conv2dRef,
    // A multiply and an add per output element and kernel tap of each input channel.
    flops: ([, w], [o]) => 2 * numel(o!) * w![1]! * w![2]! * w![3]!,
    grad: (c, [x, w], _o, [g], a) => (g ? c.ops('conv2d_grad', [g, x!, w!], [x!.type, w!.type], a) : []),
    sharding: (_a, ins, [o]) => batchOnly('conv2d', ins, o!),
    kernel: 'conv2d',
  }),
];

export const visionInternalOps: OpFacets[] = [
  defineInternalOp<PatchAttrs>({
    name: 'patchify_grad',
    cls: 'injective',
    doc: "patchify_grad(g, patch): patch vectors back to their image positions (patchify's inverse).",
    reference: patchifyGradRef,
    // A permuted copy: no arithmetic.
    flops: () => 0,
    grad: 'none',
    sharding: () => {
      const why = 'patchify mixes these dims';
      const whole = Object.fromEntries(['g1', 'g2', 'o1', 'o2', 'o3'].map((n) => [n, why]));
      return spec(einsum([['b', 'g1', 'g2']], [['b', 'o1', 'o2', 'o3']], { whole }), 'first', whole);
    },
    kernel: 'patchify_grad',
  }),
  defineInternalOp<ConvAttrs>({
    name: 'conv2d_grad',
    cls: 'opaque',
    doc: "conv2d_grad(g, x, w): conv2d's gradients with respect to its input and its weights.",
    reference: conv2dGradRef,
    // Two products the size of the forward's: the input's gradient and the weights'.
    flops: ([g, , w]) => 4 * numel(g!) * w![1]! * w![2]! * w![3]!,
    grad: 'none',
    // The weight gradient sums over the batch: split batches leave partial weight gradients.
    sharding: () => {
      const why = 'conv2d mixes these dims';
      const x = ['b', 'x1', 'x2', 'x3'];
      const gd = ['b', 'g1', 'g2', 'g3'];
      const w = ['w0', 'w1', 'w2', 'w3'];
      const whole = Object.fromEntries([...x.slice(1), ...gd.slice(1), ...w].map((n) => [n, why]));
      return spec(einsum([gd, x, w], [x, w], { whole, contract: true }), 'none', whole);
    },
    kernel: 'conv2d_grad',
  }),
];
