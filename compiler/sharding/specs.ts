import type { Attrs, Node } from '../ir.js';

/**
 * Sharding signatures, written once per op as einsum-like "letters": each letter is one
 * iteration dim of the op and names the dim it occupies in each input and output.
 *
 * - A letter split over mesh axes splits every dim it names the same way (split → split).
 * - A letter that names input dims but no output dim is a contraction: when it is split,
 *   each device holds part of a sum, so the outputs are `partial` over those axes
 *   (matmul's K, sum's axis). Only ops whose contraction is a plain sum declare one.
 * - An unsplittable letter must be whole on every device (softmax's axis, attention's
 *   sequence dims): a split input is gathered first.
 * - A letter with `unit` may only be split into a count that divides it (attention heads);
 *   the attributes in `localAttrs` are divided by the split count in each device's program.
 *
 * `linear` says how pending sums pass through: `joint` (linear in all tensor inputs at
 * once: add, reshape), `single` (linear in any one input while the others are whole:
 * mul, matmul), `first` (only in input 0: div), `none` (a partial input is reduced first).
 */
export interface Letter {
  readonly name: string;
  /** Per input: the dim of that input this letter names, or -1. */
  readonly ins: readonly number[];
  /** Per output: the dim, or -1. */
  readonly outs: readonly number[];
  readonly splittable: boolean;
  readonly unit?: number;
  readonly localAttrs?: readonly string[];
}

export type Linearity = 'joint' | 'single' | 'first' | 'none';

export interface OpSpec {
  readonly letters: readonly Letter[];
  readonly linear: Linearity;
  /** Why a letter is unsplittable, for redistribution reasons ("softmax needs its axis whole"). */
  readonly why: Readonly<Record<string, string>>;
}

type Names = readonly (string | null)[];

/** Builds letters from one dim-name list per tensor (null: a broadcast dim that takes no split). */
function einsum(ins: readonly Names[], outs: readonly Names[], opts: {
  whole?: Readonly<Record<string, string>>;
  units?: Readonly<Record<string, { unit: number; attrs: readonly string[] }>>;
  contract?: boolean;
} = {}): Letter[] {
  const order: string[] = [];
  for (const t of [...outs, ...ins]) for (const n of t) if (n !== null && !order.includes(n)) order.push(n);
  return order.map((name) => {
    const inDims = ins.map((t) => t.indexOf(name));
    const outDims = outs.map((t) => t.indexOf(name));
    // Missing from an output: that output sums over the letter; only ops that say so may split it.
    const contraction = outDims.some((d) => d < 0) && inDims.some((d) => d >= 0);
    const u = opts.units?.[name];
    return {
      name,
      ins: inDims,
      outs: outDims,
      splittable: !(opts.whole && name in opts.whole) && (!contraction || !!opts.contract),
      ...(u ? { unit: u.unit, localAttrs: u.attrs } : {}),
    };
  });
}

const dims = (prefix: string, rank: number): string[] => Array.from({ length: rank }, (_, i) => `${prefix}${i}`);

/** Right-aligned broadcasting: an input dim of size 1 under a larger output dim takes no split. */
function broadcastNames(inShape: readonly number[], outShape: readonly number[]): Names {
  const r = outShape.length;
  return inShape.map((s, i) => {
    const o = r - inShape.length + i;
    return s === 1 && outShape[o] !== 1 ? null : `d${o}`;
  });
}

const LINEAR_ELEMENTWISE: Readonly<Record<string, Linearity>> = {
  add: 'joint', sub: 'joint', neg: 'joint', expand: 'joint', mul: 'single', div: 'first',
};

const wholeAll = (ins: readonly (readonly number[])[], outs: readonly (readonly number[])[], why: string): OpSpec => {
  const letters = einsum(ins.map((s, i) => dims(`i${i}_`, s.length)), outs.map((s, i) => dims(`o${i}_`, s.length)),
    { whole: Object.fromEntries([...ins.flatMap((s, i) => dims(`i${i}_`, s.length)), ...outs.flatMap((s, i) => dims(`o${i}_`, s.length))].map((n) => [n, why])) });
  return { letters, linear: 'none', why: {} };
};

/**
 * The sharding signature of one node, from its op, attributes and global shapes.
 * Unknown ops get the safe signature: everything whole.
 */
export function opSpec(node: Pick<Node, 'op' | 'attrs'>, inShapes: readonly (readonly number[])[], outShapes: readonly (readonly number[])[]): OpSpec {
  const a: Attrs = node.attrs;
  const op = node.op;
  const out0 = outShapes[0] ?? [];
  const r = out0.length;
  const spec = (letters: Letter[], linear: Linearity = 'none', why: Record<string, string> = {}): OpSpec => ({ letters, linear, why });

  switch (op) {
    case 'matmul': {
      const [sa, sb] = [inShapes[0]!, inShapes[1]!];
      const batch = r - 2;
      const an: (string | null)[] = [...broadcastNames(sa.slice(0, -2), out0.slice(0, batch)), 'm', 'k'];
      const bn: (string | null)[] = [...broadcastNames(sb.slice(0, -2), out0.slice(0, batch)), 'k', 'n'];
      return spec(einsum([an, bn], [[...dims('d', batch), 'm', 'n']], { contract: true }), 'single');
    }
    case 'sum': case 'mean': case 'max': case 'min': {
      const x = inShapes[0]!;
      const axis = a['axis'] as number;
      const names = dims('d', x.length);
      const outNames: Names = a['keepdim'] ? names.map((n, i) => (i === axis ? null : n)) : names.filter((_, i) => i !== axis);
      const sumLike = op === 'sum';
      return spec(einsum([names], [outNames], {
        contract: sumLike,
        ...(sumLike ? {} : { whole: { [`d${axis}`]: `${op} reduces along it` } }),
      }), sumLike ? 'joint' : op === 'mean' ? 'joint' : 'none', sumLike ? {} : { [`d${axis}`]: `${op} reduces along it` });
    }
    case 'softmax': case 'log_softmax': {
      const axis = a['axis'] as number;
      const why = { [`d${axis}`]: `${op} normalises along it` };
      return spec(einsum([dims('d', r)], [dims('d', r)], { whole: why }), 'none', why);
    }
    case 'layer_norm': case 'rms_norm': {
      const last = `d${r - 1}`;
      const why = { [last]: `${op} normalises along it` };
      const ins = inShapes.map((s, i) => (i === 0 ? dims('d', r) : s.length === 1 ? [last] : dims(`w${i}_`, s.length)));
      return spec(einsum(ins, [dims('d', r)], { whole: why }), 'none', why);
    }
    case 'embedding': {
      const ids = inShapes[1]!;
      const why = { v: 'embedding looks rows up by id across the whole vocabulary' };
      return spec(einsum([['v', 'e'], dims('d', ids.length)], [[...dims('d', ids.length), 'e']], { whole: why }), 'none', why);
    }
    case 'rotary': {
      const seq = `d${r - 2}`;
      const why = { [seq]: 'rotary angles depend on the global position' };
      const units = { [`d${r - 1}`]: { unit: a['heads'] as number, attrs: ['heads'] } };
      return spec(einsum([dims('d', r)], [dims('d', r)], { whole: why, units }), 'none', why);
    }
    case 'attention': {
      const causal = !!a['causal'];
      const heads = a['kv_heads'] as number;
      const why: Record<string, string> = { sk: 'attention reads every key' };
      if (causal) why['sq'] = 'the causal mask depends on the global query position';
      const ins: Names[] = [['b', 'sq', 'w'], ['b', 'sk', 'w'], ['b', 'sk', 'w']];
      if (a['has_mask']) ins.push(['b', 'sk']);
      return spec(einsum(ins, [['b', 'sq', 'w']], { whole: why, units: { w: { unit: heads, attrs: ['heads', 'kv_heads'] } } }), 'none', why);
    }
    case 'topk': {
      const last = `d${r - 1}`;
      const why = { [last]: 'topk ranks along it' };
      return spec(einsum([dims('d', r).map((n, i) => (i === r - 1 ? 'x' : n))], [dims('d', r).map((n, i) => (i === r - 1 ? 'k' : n)), dims('d', r).map((n, i) => (i === r - 1 ? 'k' : n))], { whole: { x: why[last], k: why[last] } }), 'none', { x: why[last], k: why[last] });
    }
    case 'moe_dispatch': case 'moe_combine': {
      // Token groups fill their own block of slots, so splitting tokens by whole groups
      // splits the slots the same way (GShard's groups): the letter `t` is both.
      const groups = a['groups'] as number;
      const why = { e: op === 'moe_dispatch' ? 'moe_dispatch routes tokens to every expert' : 'moe_combine collects each token from every expert', k: `${op} reads every choice of a token` };
      const units = { t: { unit: groups, attrs: ['groups'] } };
      const letters = op === 'moe_dispatch'
        ? einsum([['t', 'd'], ['t', 'k']], [['e', 't', 'd']], { whole: why, units })
        : einsum([['e', 't', 'd'], ['t', 'k'], ['t', 'k']], [['t', 'd']], { whole: why, units });
      return spec(letters, 'none', why);
    }
    case 'patchify': case 'conv2d': case 'cross_entropy': {
      if (op === 'cross_entropy') return wholeAll(inShapes, outShapes, 'cross_entropy averages over every position');
      const why = `${op} mixes these dims`;
      const x = ['b', 'x1', 'x2', 'x3'];
      const ins: Names[] = [x, ...inShapes.slice(1).map((s, i) => dims(`w${i}_`, s.length))];
      const whole = Object.fromEntries([...x.slice(1), ...dims('o', out0.length).slice(1), ...inShapes.slice(1).flatMap((s, i) => dims(`w${i}_`, s.length))].map((n) => [n, why]));
      return spec(einsum(ins, [['b', ...dims('o', out0.length).slice(1)]], { whole }), 'none', whole);
    }
    // ---- backward-only ops (compiler/autodiff): the same letters as the ops they differentiate
    case 'unary_grad': case 'minmax_grad':
      return spec(einsum(inShapes.map((s) => broadcastNames(s, out0)), [dims('d', r)]), 'first');
    case 'reduce_grad': {
      const axis = a['axis'] as number;
      const names = dims('d', r);
      const g = inShapes[0]!.length === r ? names.map((n, i) => (i === axis ? null : n)) : names.filter((_, i) => i !== axis);
      const why = { [`d${axis}`]: 'the gradient of max/min goes to one position along it' };
      return spec(einsum([g, names, g], [names], { whole: why }), 'first', why);
    }
    case 'embedding_grad': {
      // A sum over positions: splitting them leaves each device a partial table gradient.
      const ids = inShapes[1]!;
      const why = { v: 'the table gradient is indexed by id across the vocabulary' };
      return spec(einsum([[...dims('p', ids.length), 'e'], dims('p', ids.length)], [['v', 'e']], { whole: why, contract: true }), 'first', why);
    }
    case 'topk_grad': case 'slice_grad': {
      const last = op === 'topk_grad' ? r - 1 : (a['axis'] as number);
      const why = { [`i${last}`]: `${op} scatters along it`, [`o${last}`]: `${op} scatters along it` };
      const inNames = dims('d', r).map((n, i) => (i === last ? `i${last}` : n));
      const outNames = dims('d', r).map((n, i) => (i === last ? `o${last}` : n));
      return spec(einsum(op === 'topk_grad' ? [inNames, inNames] : [inNames], [outNames], { whole: why }), 'first', why);
    }
    case 'attention_grad': {
      const heads = a['kv_heads'] as number;
      const why: Record<string, string> = { sk: 'attention reads every key', sq: 'each key\'s gradient sums over every query' };
      const ins: Names[] = [['b', 'sq', 'w'], ['b', 'sq', 'w'], ['b', 'sk', 'w'], ['b', 'sk', 'w']];
      if (a['has_mask']) ins.push(['b', 'sk']);
      return spec(einsum(ins, [['b', 'sq', 'w'], ['b', 'sk', 'w'], ['b', 'sk', 'w']], { whole: why, units: { w: { unit: heads, attrs: ['heads', 'kv_heads'] } } }), 'none', why);
    }
    case 'moe_combine_grad': {
      const groups = a['groups'] as number;
      const why = { e: 'moe_combine collects each token from every expert', k: 'moe_combine reads every choice of a token' };
      return spec(einsum([['t', 'd'], ['e', 't', 'd'], ['t', 'k'], ['t', 'k']], [['e', 't', 'd'], ['t', 'k']], { whole: why, units: { t: { unit: groups, attrs: ['groups'] } } }), 'none', why);
    }
    case 'conv2d_grad': {
      // The weight gradient sums over the batch: split batches leave partial weight gradients.
      const why = 'conv2d mixes these dims';
      const x = ['b', 'x1', 'x2', 'x3'];
      const gd = ['b', 'g1', 'g2', 'g3'];
      const w = ['w0', 'w1', 'w2', 'w3'];
      const whole = Object.fromEntries([...x.slice(1), ...gd.slice(1), ...w].map((n) => [n, why]));
      return spec(einsum([gd, x, w], [x, w], { whole, contract: true }), 'none', whole);
    }
    case 'patchify_grad': {
      const why = 'patchify mixes these dims';
      const whole = Object.fromEntries(['g1', 'g2', 'o1', 'o2', 'o3'].map((n) => [n, why]));
      return spec(einsum([['b', 'g1', 'g2']], [['b', 'o1', 'o2', 'o3']], { whole }), 'first', whole);
    }
    case 'cross_entropy_grad':
      return wholeAll(inShapes, outShapes, 'the loss gradient divides by the global count of labels');
    case 'transpose': {
      const perm = a['perm'] as readonly number[];
      const names = dims('d', r);
      return spec(einsum([names], [perm.map((p) => names[p]!)]), 'joint');
    }
    case 'slice': {
      const axis = a['axis'] as number;
      const why = { [`d${axis}`]: 'slice cuts along it' };
      return spec(einsum([dims('d', r)], [dims('d', r)], { whole: why }), 'joint', why);
    }
    case 'concat': {
      const axis = a['axis'] as number;
      const why = { [`d${axis}`]: 'concat joins along it' };
      return spec(einsum(inShapes.map(() => dims('d', r)), [dims('d', r)], { whole: why }), 'joint', why);
    }
    case 'reshape': return reshapeSpec(inShapes[0]!, out0);
    case 'dropout':
      if (a['training'] && (a['p'] as number) > 0) return wholeAll(inShapes, outShapes, 'dropout masks by global element index');
      return spec(einsum([dims('d', r)], [dims('d', r)]), 'joint');
    case 'cast':
      return spec(einsum([dims('d', r)], [dims('d', r)]), a['dtype'] === 'i32' || a['dtype'] === 'bool' ? 'none' : 'joint');
    default:
      // Element-wise ops of every arity, with NumPy broadcasting.
      if (outShapes.length === 1 && inShapes.every((s) => s.length <= r)) {
        return spec(einsum(inShapes.map((s) => broadcastNames(s, out0)), [dims('d', r)]), LINEAR_ELEMENTWISE[op] ?? 'none');
      }
      return wholeAll(inShapes, outShapes, `${op} has no sharding rule`);
  }
}

/**
 * Reshape groups input and output dims into runs with equal products. Within a run only
 * the leading (major) dim may be split, and the split carries over to the run's leading
 * output dim: `[B, S, h·hd@tp] → [B, S, h@tp, hd]`.
 */
function reshapeSpec(inS: readonly number[], outS: readonly number[]): OpSpec {
  const inN: (string | null)[] = inS.map((_, i) => `i${i}`);
  const outN: (string | null)[] = outS.map((_, i) => `o${i}`);
  const whole: Record<string, string> = {};
  let i = 0;
  let j = 0;
  while (i < inS.length || j < outS.length) {
    // Size-1 dims form runs of their own and take no split.
    if (i < inS.length && inS[i] === 1) { whole[`i${i}`] = 'a size-1 dim'; i++; continue; }
    if (j < outS.length && outS[j] === 1) { whole[`o${j}`] = 'a size-1 dim'; j++; continue; }
    const i0 = i;
    const j0 = j;
    let pi = inS[i++] ?? 1;
    let po = outS[j++] ?? 1;
    while (pi !== po && (i < inS.length || j < outS.length)) {
      if (pi < po) pi *= inS[i++] ?? 1;
      else po *= outS[j++] ?? 1;
    }
    // The run's leading dims share one letter; the rest stay whole.
    if (i0 < inS.length && j0 < outS.length) outN[j0] = inN[i0]!;
    for (let k = i0 + 1; k < i; k++) whole[`i${k}`] = 'reshape merges it with a more major dim';
    for (let k = j0 + 1; k < j; k++) whole[`o${k}`] = 'reshape splits it off a more major dim';
  }
  return { letters: einsum([inN], [outN], { whole }), linear: 'joint', why: whole };
}
