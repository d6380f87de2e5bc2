import { dimConst, dimEquals, dimValue, type Dim } from '../dims.js';
import { printDim, printType } from '../types.js';
import { defineInternalOp, defineOp, type OpDef, type OpFacets } from './op.js';
import { dims, einsum, spec } from './sharding.js';
import { requireIntDtype, requireRank, t } from './signature.js';
import { zeros, type RefOp } from './tensor.js';
import { numel } from '../../layout/mesh.js';

/** Mixture-of-experts routing: top-k choice, dispatch of tokens to expert slots, and the gated combine back. */

export type MoeAttrs = { readonly groups: number };
/** moe_dispatch's own attributes besides groups. */
export type DispatchAttrs = MoeAttrs & { readonly experts: number; readonly capacity: number };

/** A symbolic dim may turn out divisible once it is concrete; only a concrete one can fail. */
function divisible(d: Dim, n: number): boolean {
  const v = dimValue(d);
  return v === undefined || v % n === 0;
}

/**
 * Token groups fill their own block of slots, so splitting tokens by whole groups splits
 * the slots the same way (GShard's groups): the letter `t` is both, in units of groups.
 */
const groupUnits = (a: MoeAttrs) => ({ t: { unit: a.groups, attrs: ['groups'] } });

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

const moeDispatchRef: RefOp<MoeAttrs> = ([x, choice], a, [shape]) => {
  const [T, D] = x!.shape as [number, number];
  const k = choice!.shape[1]!;
  const [E, C] = shape! as [number, number, number];
  const groups = a.groups;
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

const moeCombineRef: RefOp<MoeAttrs> = ([y, choice, gates], a, [shape]) => {
  const [E, C, D] = y!.shape as [number, number, number];
  const [T, k] = choice!.shape as [number, number];
  const groups = a.groups;
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

const topkRef: RefOp<unknown> = ([x], _attrs, [vshape]) => {
  const n = x!.shape[x!.shape.length - 1]!;
  const K = vshape![vshape!.length - 1]!;
  const vals = zeros(vshape!);
  const idx = zeros(vshape!);
  for (let r = 0; r < x!.data.length / n; r++) {
    const order = [...Array(n).keys()].sort((a, b) => x!.data[r * n + b]! - x!.data[r * n + a]! || a - b);
    for (let t = 0; t < K; t++) {
      vals.data[r * K + t] = x!.data[r * n + order[t]!]!;
      idx.data[r * K + t] = order[t]!;
    }
  }
  return [vals, idx];
};

/** topk: the gradient of the values goes back to the positions the indices name. */
const topkGradRef: RefOp<unknown> = ([g, idx], _a, [shape]) => {
  const n = shape![shape!.length - 1]!;
  const k = g!.shape[g!.shape.length - 1]!;
  const out = zeros(shape!);
  const rows = g!.data.length / k;
  for (let r = 0; r < rows; r++) for (let j = 0; j < k; j++) out.data[r * n + idx!.data[r * k + j]!] += g!.data[r * k + j]!;
  return [out];
};

/** moe_combine's gradients: with respect to the expert outputs y (a gated dispatch of g) and to the gates. */
const moeCombineGradRef: RefOp<MoeAttrs> = ([g, y, choice, gates], a) => {
  const [E, C, D] = y!.shape as [number, number, number];
  const [T, k] = choice!.shape as [number, number];
  const groups = a.groups;
  const slots = moeSlots(choice!.data, T, k, E, C / groups, groups);
  const gy = zeros(y!.shape);
  const gg = zeros(gates!.shape);
  for (let t = 0; t < T; t++)
    for (let j = 0; j < k; j++) {
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

export const moeOps: OpDef[] = [
  defineOp<unknown>({
    name: 'topk',
    cls: 'opaque',
    doc: 'topk(x, k): the k largest values along the last axis and their indices (ties: lower index first), for mixture-of-experts routing.',
    args: [
      { name: 'x', kind: 'tensor' },
      { name: 'k', kind: 'int' },
    ],
    infer: (c) => {
      const x = c.tensor('x');
      if (!requireRank(c, x, 1)) return undefined;
      const k = c.int('k');
      const n = dimValue(x.dims[x.dims.length - 1]!);
      if (!(k >= 1) || (n !== undefined && k > n)) return c.error('MDC0211', 'topk', `k = ${k} must be in [1, ${n ?? 'last dim'}]`);
      const dims = [...x.dims.slice(0, -1), dimConst(k)];
      return [t(x.dtype, dims), t('i32', dims)];
    },
    reference: topkRef,
    // A comparison per element of x and place among the k.
    flops: ([x], [v]) => numel(x!) * v![v!.length - 1]!,
    // The values' gradient goes back to the positions the indices name; the indices have none.
    grad: (c, [x], [, idx], [g]) => [g && c.op('topk_grad', [g, idx!], x!.type)],
    sharding: (_a, _i, [o]) => {
      const r = o!.length;
      const why = 'topk ranks along it';
      const named = (last: string) => dims('d', r).map((n, i) => (i === r - 1 ? last : n));
      return spec(einsum([named('x')], [named('k'), named('k')], { whole: { x: why, k: why } }), 'none', { x: why, k: why });
    },
    kernel: 'topk',
  }),
  defineOp<DispatchAttrs>({
    name: 'moe_dispatch',
    cls: 'opaque',
    doc:
      'moe_dispatch(x, choice, experts, capacity, groups = 1): routes tokens x[T, D] to expert slots [experts, groups·capacity, D] by choice i32[T, k] (GShard). Tokens form ' +
      '`groups` contiguous groups; each group fills `capacity` slots per expert in token order, then choice order; tokens past capacity are dropped, empty slots are zero.',
    args: [
      { name: 'x', kind: 'tensor' },
      { name: 'choice', kind: 'tensor' },
      { name: 'experts', kind: 'int', kwOnly: true },
      { name: 'capacity', kind: 'int', kwOnly: true },
      { name: 'groups', kind: 'int', default: 1, kwOnly: true },
    ],
    infer: (c) => {
      const x = c.tensor('x');
      const ch = c.tensor('choice');
      if (x.dims.length !== 2) return c.error('MDC0201', 'moe_dispatch', 'tokens of rank 2 [T, D]', printType(x));
      if (!requireIntDtype(c, 'choice', ch)) return undefined;
      if (ch.dims.length !== 2 || !dimEquals(ch.dims[0]!, x.dims[0]!))
        return c.error('MDC0214', 'moe_dispatch', printType(x), printType(ch), 'choice must be [T, k] for the T tokens');
      const e = c.int('experts');
      const cap = c.int('capacity');
      const groups = c.int('groups');
      if (!(e >= 1)) return c.error('MDC0210', 'experts', String(e));
      if (!(cap >= 1)) return c.error('MDC0210', 'capacity', String(cap));
      if (!(groups >= 1)) return c.error('MDC0210', 'groups', String(groups));
      if (!divisible(x.dims[0]!, groups)) return c.error('MDC0207', 'moe_dispatch tokens', printDim(x.dims[0]!), `groups = ${groups}`);
      return [t(x.dtype, [dimConst(e), dimConst(groups * cap), x.dims[1]!])];
    },
    reference: moeDispatchRef,
    // Copies: no arithmetic.
    flops: () => 0,
    // The combine of g with gates of one: each token gets back its slots' gradients; the choice has none.
    grad: (c, [x, choice], _o, [g], a) => {
      if (!g) return [];
      const ones = c.scalar(1, x!.type.dtype, choice!.type.dims);
      return [c.op('moe_combine', [g, choice!, ones], x!.type, { groups: a.groups }), undefined];
    },
    sharding: (a) => {
      const why = { e: 'moe_dispatch routes tokens to every expert', k: 'moe_dispatch reads every choice of a token' };
      return spec(
        einsum(
          [
            ['t', 'd'],
            ['t', 'k'],
          ],
          [['e', 't', 'd']],
          { whole: why, units: groupUnits(a) },
        ),
        'none',
        why,
      );
    },
    kernel: 'moe_dispatch',
  }),
  defineOp<MoeAttrs>({
    name: 'moe_combine',
    cls: 'opaque',
    doc:
      'moe_combine(y, choice, gates, groups = 1): the inverse of moe_dispatch: out[t] = Σ_j gates[t, j] · y[choice[t, j], slot ' +
      'of (t, j)] over the choices that found a slot; y[experts, groups·capacity, D], choice i32[T, k], gates[T, k] → [T, D].',
    args: [
      { name: 'y', kind: 'tensor' },
      { name: 'choice', kind: 'tensor' },
      { name: 'gates', kind: 'tensor' },
      { name: 'groups', kind: 'int', default: 1, kwOnly: true },
    ],
    infer: (c) => {
      const y = c.tensor('y');
      const ch = c.tensor('choice');
      const gates = c.tensor('gates');
      if (y.dims.length !== 3) return c.error('MDC0201', 'moe_combine', 'expert outputs of rank 3 [E, C, D]', printType(y));
      if (!requireIntDtype(c, 'choice', ch)) return undefined;
      if (ch.dims.length !== 2) return c.error('MDC0201', 'moe_combine', 'choice of rank 2 [T, k]', printType(ch));
      if (gates.dims.length !== 2 || !dimEquals(gates.dims[0]!, ch.dims[0]!) || !dimEquals(gates.dims[1]!, ch.dims[1]!))
        return c.error('MDC0214', 'moe_combine', printType(ch), printType(gates), 'gates must have the shape of choice');
      if (gates.dtype !== y.dtype) return c.error('MDC0301', 'moe_combine', printType(y), printType(gates));
      const groups = c.int('groups');
      if (!(groups >= 1)) return c.error('MDC0210', 'groups', String(groups));
      if (!divisible(ch.dims[0]!, groups)) return c.error('MDC0207', 'moe_combine tokens', printDim(ch.dims[0]!), `groups = ${groups}`);
      if (!divisible(y.dims[1]!, groups)) return c.error('MDC0207', 'moe_combine slots', printDim(y.dims[1]!), `groups = ${groups}`);
      return [t(y.dtype, [ch.dims[0]!, y.dims[2]!])];
    },
    reference: moeCombineRef,
    // A multiply and an add per choice and element of a token.
    flops: ([, choice], [o]) => 2 * numel(o!) * choice![1]!,
    grad: (c, [y, choice, gates], _o, [g], a) => {
      if (!g) return [];
      const [gy, gg] = c.ops('moe_combine_grad', [g, y!, choice!, gates!], [y!.type, gates!.type], { groups: a.groups });
      return [gy, undefined, gg];
    },
    sharding: (a) => {
      const why = { e: 'moe_combine collects each token from every expert', k: 'moe_combine reads every choice of a token' };
      return spec(
        einsum(
          [
            ['e', 't', 'd'],
            ['t', 'k'],
            ['t', 'k'],
          ],
          [['t', 'd']],
          { whole: why, units: groupUnits(a) },
        ),
        'none',
        why,
      );
    },
    kernel: 'moe_combine',
  }),
];

export const moeInternalOps: OpFacets[] = [
  defineInternalOp<unknown>({
    name: 'topk_grad',
    cls: 'opaque',
    doc: "topk_grad(g, idx): the gradient of topk's values, added back at the positions the indices name.",
    reference: topkGradRef,
    // One add per element of g.
    flops: ([g]) => numel(g!),
    grad: 'none',
    sharding: (_a, _i, [o]) => {
      const r = o!.length;
      const last = r - 1;
      const why = { [`i${last}`]: 'topk_grad scatters along it', [`o${last}`]: 'topk_grad scatters along it' };
      const inNames = dims('d', r).map((n, i) => (i === last ? `i${last}` : n));
      const outNames = dims('d', r).map((n, i) => (i === last ? `o${last}` : n));
      return spec(einsum([inNames, inNames], [outNames], { whole: why }), 'first', why);
    },
    kernel: 'topk_grad',
  }),
  defineInternalOp<MoeAttrs>({
    name: 'moe_combine_grad',
    cls: 'opaque',
    doc: "moe_combine_grad(g, y, choice, gates): moe_combine's gradients with respect to the expert outputs y and to the gates.",
    reference: moeCombineGradRef,
    // Per choice and element of a token: the gated copy of g (a multiply and an add) and the gate's dot product (a multiply and an add).
    flops: ([g, , choice]) => 4 * numel(g!) * choice![1]!,
    grad: 'none',
    sharding: (a) => {
      const why = { e: 'moe_combine collects each token from every expert', k: 'moe_combine reads every choice of a token' };
      return spec(
        einsum(
          [
            ['t', 'd'],
            ['e', 't', 'd'],
            ['t', 'k'],
            ['t', 'k'],
          ],
          [
            ['e', 't', 'd'],
            ['t', 'k'],
          ],
          { whole: why, units: groupUnits(a) },
        ),
        'none',
        why,
      );
    },
    kernel: 'moe_combine_grad',
  }),
];
