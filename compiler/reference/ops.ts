import type { Attrs } from '../ir.js';
import { elementwiseOf, facetsOf, scalarFunction } from '../ops/registry.js';
import { broadcastIndex, forEachCoord, zeros, type RefOp as FacetRefOp, type RefTensor } from '../ops/tensor.js';
import { extraReference } from './grad-ops.js';

export type RefOp = (inputs: readonly RefTensor[], attrs: Attrs, outShapes: readonly (readonly number[])[], outDtypes: readonly string[]) => RefTensor[];


const embedding: RefOp = ([table, ids], _a, [shape]) => {
  const [V, D] = table!.shape as [number, number];
  const out = zeros(shape!);
  for (let r = 0; r < ids!.data.length; r++) {
    const id = ids!.data[r]!;
    if (id < 0 || id >= V) continue;
    for (let j = 0; j < D; j++) out.data[r * D + j] = table!.data[id * D + j]!;
  }
  return [out];
};

const rotary: RefOp = ([x], attrs) => {
  const W = x!.shape[x!.shape.length - 1]!;
  const S = x!.shape[x!.shape.length - 2]!;
  const Dh = W / (attrs['heads'] as number);
  const half = Dh / 2;
  const theta = attrs['theta'] as number;
  const offset = attrs['offset'] as number;
  const out = zeros(x!.shape);
  for (let i = 0; i < x!.data.length; i++) {
    const col = i % W;
    const pos = (Math.floor(i / W) % S) + offset;
    const j = col % Dh;
    const jj = j % half;
    const ang = pos * Math.pow(theta, (-2 * jj) / Dh);
    const c = Math.cos(ang);
    // `inverse` rotates back (the transpose): rotary's gradient.
    const s = attrs['inverse'] ? -Math.sin(ang) : Math.sin(ang);
    out.data[i] = j < half ? x!.data[i]! * c - x!.data[i + half]! * s : x!.data[i]! * c + x!.data[i - half]! * s;
  }
  return [out];
};

const attention: RefOp = (ins, attrs) => {
  const [q, k, v] = ins as [RefTensor, RefTensor, RefTensor];
  const mask = attrs['has_mask'] ? ins[3] : undefined;
  const [B, Sq, W] = q.shape as [number, number, number];
  const Sk = k.shape[1]!;
  const H = attrs['heads'] as number;
  const KVH = attrs['kv_heads'] as number;
  const Dh = W / H;
  const KW = KVH * Dh;
  const scale = attrs['scale'] as number;
  const causal = !!attrs['causal'];
  const out = zeros(q.shape);
  const scores = new Float64Array(Sk);
  for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) for (let i = 0; i < Sq; i++) {
    const kvh = Math.floor(h / (H / KVH));
    const qb = (b * Sq + i) * W + h * Dh;
    let m = -Infinity;
    for (let j = 0; j < Sk; j++) {
      const allowed = (!causal || j <= i + Sk - Sq) && (!mask || mask.data[b * Sk + j] !== 0);
      if (!allowed) { scores[j] = -Infinity; continue; }
      const kb = (b * Sk + j) * KW + kvh * Dh;
      let s = 0;
      for (let d = 0; d < Dh; d++) s += q.data[qb + d]! * k.data[kb + d]!;
      scores[j] = s * scale;
      m = Math.max(m, scores[j]!);
    }
    if (m === -Infinity) continue;
    let sum = 0;
    for (let j = 0; j < Sk; j++) { scores[j] = Math.exp(scores[j]! - m); sum += scores[j]!; }
    for (let j = 0; j < Sk; j++) {
      const p = scores[j]! / sum;
      if (p === 0) continue;
      const vb = (b * Sk + j) * KW + kvh * Dh;
      for (let d = 0; d < Dh; d++) out.data[qb + d] += p * v.data[vb + d]!;
    }
  }
  return [out];
};

/**
 * Expert slots of each (token, choice) under moe_dispatch's rule: per group of tokens,
 * slots fill in token order, then choice order; -1 when the expert's slots are full.
 */
export function moeSlots(choice: ArrayLike<number>, T: number, k: number, experts: number, capacity: number, groups: number): Int32Array {
  const slots = new Int32Array(T * k).fill(-1);
  const per = T / groups;
  for (let g = 0; g < groups; g++) {
    const used = new Array<number>(experts).fill(0);
    for (let t = g * per; t < (g + 1) * per; t++) {
      for (let j = 0; j < k; j++) {
        const e = choice[t * k + j]!;
        if (e < 0 || e >= experts || used[e]! >= capacity) continue;
        slots[t * k + j] = g * capacity + used[e]!++;
      }
    }
  }
  return slots;
}

const moeDispatch: RefOp = ([x, choice], attrs, [shape]) => {
  const [T, D] = x!.shape as [number, number];
  const k = choice!.shape[1]!;
  const [E, C] = shape! as [number, number, number];
  const groups = attrs['groups'] as number;
  const slots = moeSlots(choice!.data, T, k, E, C / groups, groups);
  const out = zeros(shape!);
  for (let t = 0; t < T; t++) {
    for (let j = 0; j < k; j++) {
      const s = slots[t * k + j]!;
      if (s < 0) continue;
      const e = choice!.data[t * k + j]!;
      out.data.set(x!.data.subarray(t * D, (t + 1) * D), (e * C + s) * D);
    }
  }
  return [out];
};

const moeCombine: RefOp = ([y, choice, gates], attrs, [shape]) => {
  const [E, C, D] = y!.shape as [number, number, number];
  const [T, k] = choice!.shape as [number, number];
  const groups = attrs['groups'] as number;
  const slots = moeSlots(choice!.data, T, k, E, C / groups, groups);
  const out = zeros(shape!);
  for (let t = 0; t < T; t++) {
    for (let j = 0; j < k; j++) {
      const s = slots[t * k + j]!;
      if (s < 0) continue;
      const e = choice!.data[t * k + j]!;
      const w = gates!.data[t * k + j]!;
      for (let d = 0; d < D; d++) out.data[t * D + d] += w * y!.data[(e * C + s) * D + d]!;
    }
  }
  return [out];
};

const topk: RefOp = ([x], _attrs, [vshape]) => {
  const n = x!.shape[x!.shape.length - 1]!;
  const K = vshape![vshape!.length - 1]!;
  const vals = zeros(vshape!);
  const idx = zeros(vshape!);
  for (let r = 0; r < x!.data.length / n; r++) {
    const order = [...Array(n).keys()].sort((a, b) => x!.data[r * n + b]! - x!.data[r * n + a]! || a - b);
    for (let t = 0; t < K; t++) { vals.data[r * K + t] = x!.data[r * n + order[t]!]!; idx.data[r * K + t] = order[t]!; }
  }
  return [vals, idx];
};

const patchify: RefOp = ([x], attrs, [shape]) => {
  const [, C, H, W] = x!.shape as [number, number, number, number];
  const p = attrs['patch'] as number;
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

const conv2d: RefOp = ([x, w], attrs, [shape]) => {
  const [, C, H, W] = x!.shape as [number, number, number, number];
  const [, , KH, KW] = w!.shape as [number, number, number, number];
  const s = attrs['stride'] as number;
  const pad = attrs['padding'] as number;
  const out = zeros(shape!);
  forEachCoord(shape!, ([b, o, oy, ox], i) => {
    let acc = 0;
    for (let c = 0; c < C; c++) for (let ky = 0; ky < KH; ky++) for (let kx = 0; kx < KW; kx++) {
      const iy = oy! * s + ky - pad;
      const ix = ox! * s + kx - pad;
      if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
      acc += x!.data[((b! * C + c) * H + iy) * W + ix]! * w!.data[((o! * C + c) * KH + ky) * KW + kx]!;
    }
    out.data[i] = acc;
  });
  return [out];
};

const crossEntropy: RefOp = ([lg, lb]) => {
  const V = lg!.shape[lg!.shape.length - 1]!;
  let total = 0;
  let count = 0;
  for (let r = 0; r < lb!.data.length; r++) {
    const label = lb!.data[r]!;
    if (label < 0 || label >= V) continue;
    const row = lg!.data.subarray(r * V, r * V + V);
    let m = -Infinity;
    for (const v of row) m = Math.max(m, v);
    let s = 0;
    for (const v of row) s += Math.exp(v - m);
    total += Math.log(s) + m - row[label]!;
    count++;
  }
  return [{ shape: [], data: Float64Array.of(total / Math.max(count, 1)) }];
};

export const REFERENCE: ReadonlyMap<string, RefOp> = new Map<string, RefOp>([
  ['embedding', embedding], ['rotary', rotary], ['attention', attention], ['topk', topk], ['moe_dispatch', moeDispatch], ['moe_combine', moeCombine],
  ['patchify', patchify], ['conv2d', conv2d], ['cross_entropy', crossEntropy],
]);

/**
 * The CPU reference of op `op`: its facet (compiler/ops), or for an element-wise op its
 * body at every element (operands at their broadcast index) where the body applies.
 */
export function referenceOf(op: string): FacetRefOp<Attrs> | undefined {
  const d = facetsOf(op);
  if (!d) return REFERENCE.get(op) ?? extraReference(op);
  const own = d.reference;
  if (!d.elementwise) return own;
  return (ins, attrs, shapes, dtypes, id) => {
    if (!elementwiseOf(op, attrs)) return own!(ins, attrs, shapes, dtypes, id);
    const f = scalarFunction(op, attrs, dtypes[0]!)!;
    const shape = shapes[0]!;
    const out = zeros(shape);
    const idx = ins.map((t) => broadcastIndex(shape, t.shape));
    const vals = new Array<number>(ins.length);
    for (let i = 0; i < out.data.length; i++) {
      for (let k = 0; k < ins.length; k++) vals[k] = ins[k]!.data[idx[k]![i]!]!;
      out.data[i] = f(vals);
    }
    return [out];
  };
}
