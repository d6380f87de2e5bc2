import type { Attrs, Node } from '../ir.js';
import { facetsOf } from '../ops/registry.js';
import { broadcastNames, dims, einsum, wholeAll, type Letter, type Linearity, type Names, type OpSpec } from '../ops/sharding.js';


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
  const facets = facetsOf(op);
  if (facets) return facets.sharding(a, inShapes, outShapes);

  switch (op) {
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
    case 'embedding_grad': {
      // A sum over positions: splitting them leaves each device a partial table gradient.
      const ids = inShapes[1]!;
      const why = { v: 'the table gradient is indexed by id across the vocabulary' };
      return spec(einsum([[...dims('p', ids.length), 'e'], dims('p', ids.length)], [['v', 'e']], { whole: why, contract: true }), 'first', why);
    }
    case 'topk_grad': {
      const last = r - 1;
      const why = { [`i${last}`]: `${op} scatters along it`, [`o${last}`]: `${op} scatters along it` };
      const inNames = dims('d', r).map((n, i) => (i === last ? `i${last}` : n));
      const outNames = dims('d', r).map((n, i) => (i === last ? `o${last}` : n));
      return spec(einsum([inNames, inNames], [outNames], { whole: why }), 'first', why);
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
    default:
      // Element-wise ops of every arity, with NumPy broadcasting.
      if (outShapes.length === 1 && inShapes.every((s) => s.length <= r)) {
        return spec(einsum(inShapes.map((s) => broadcastNames(s, out0)), [dims('d', r)]), 'none');
      }
      return wholeAll(inShapes, outShapes, `${op} has no sharding rule`);
  }
}
