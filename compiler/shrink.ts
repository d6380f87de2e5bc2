import { dimDiv, dimEquals, dimSym, dimSymbols, dimToString, dimValue, type Dim } from './dims.js';
import type { Graph, Node } from './ir.js';
import { opSpec } from './sharding/specs.js';

/**
 * Which symbolic dims of a model can run smaller than compiled by padding: the inputs are
 * padded up to the compiled size along the dim's axes, the plan runs, and the outputs are
 * cut back. That is right exactly when every output element at position p of the dim
 * depends only on input elements at positions ≤ p (the same row of the batch; the same or
 * earlier positions of a sequence) and every value the dim does not index depends on no
 * position at all. Then the compiled run's first n positions are what a compile at size n
 * computes, whatever the padding holds.
 *
 * The analysis runs per dim on the model elaborated with its dims left symbolic (one copy
 * of each repeated block, all copies being alike), so an axis carries the dim because its
 * size is that symbol, never because two sizes happen to be equal. It follows the dim
 * through each node by the op's sharding signature (compiler/ops): a letter that splits
 * across devices without communication computes each of its positions from the same
 * position of its inputs, which is the property wanted. Three cases go beyond that:
 * causal attention (query position p reads keys ≤ p), rotary embeddings (the angle of
 * position p is p's), a slice from 0 of a tensor the dim
 * does not index (`slice(wpe, 0, 0, S)`: a compile at n takes the first n rows), and a
 * broadcast into the dim (constant along it). Anything else that needs the dim whole,
 * sums over it or builds an axis of it from elsewhere refuses the dim, naming the op.
 */
export interface ShrinkDim {
  readonly name: string;
  /** Per input name: the axes that are this dim. */
  readonly inputs: Readonly<Record<string, readonly number[]>>;
  /** Per output name: the axes that are this dim. */
  readonly outputs: Readonly<Record<string, readonly number[]>>;
  /** Absent when the dim may shrink; else why not, naming the op (and where it is). */
  readonly fixed?: string;
}

/** Distinct sizes standing for the symbols where a sharding rule needs numbers (never 1, so no dim reads as a broadcast). */
const PROBES = [10007, 10009, 10037, 10039, 10061, 10067, 10069, 10079, 10091, 10093];

/** The shrink analysis of every symbolic dim of `g`'s inputs and outputs (a graph elaborated with symbolic dims). */
export function shrinkableDims(g: Graph, file: string): ShrinkDim[] {
  const ios = [...g.inputs, ...g.outputs].map((v) => g.values[v]!.type.dims);
  const symbols = [...new Set(ios.flatMap((ds) => ds.flatMap(dimSymbols)))].filter((s) => !s.startsWith('('));
  const probe = new Map(symbols.map((s, i) => [s, PROBES[i % PROBES.length]! + 100 * Math.floor(i / PROBES.length)]));
  return symbols.map((s) => analyse(g, s, symbols, probe, file));
}

function evalDim(d: Dim, probe: ReadonlyMap<string, number>): number {
  let n = 0;
  for (const [k, v] of d.terms) n += v * (k ? k.split('*').reduce((a, s) => a * (probe.get(s) ?? 7), 1) : 1);
  return n;
}

function analyse(g: Graph, x: string, symbols: readonly string[], probe: ReadonlyMap<string, number>, file: string): ShrinkDim {
  const X = dimSym(x);
  const mentions = (d: Dim) => dimSymbols(d).includes(x);
  /** A carried axis is X times a factor free of every IO symbol, so that two dims shrinking at once cannot interleave. */
  const carriable = (d: Dim) => {
    const q = dimDiv(d, X);
    return q !== undefined && dimSymbols(q).every((s) => !symbols.includes(s));
  };
  const carried = g.values.map(() => new Set<number>());
  const axesOf = (v: number) => g.values[v]!.type.dims.flatMap((d, i) => (dimEquals(d, X) ? [i] : []));
  const record = (ids: readonly number[], names: readonly string[]) =>
    Object.fromEntries(ids.map((v, k) => [names[k]!, axesOf(v)] as const).filter(([, a]) => a.length));
  const inputs = record(
    g.inputs,
    g.inputs.map((v) => g.values[v]!.name ?? `input${v}`),
  );
  const outputs = record(g.outputs, g.outputNames);
  const result = (fixed?: string): ShrinkDim => ({ name: x, inputs, outputs, ...(fixed ? { fixed } : {}) });

  for (const v of g.inputs) {
    const t = g.values[v]!.type;
    for (const [i, d] of t.dims.entries()) {
      if (!mentions(d)) continue;
      if (!dimEquals(d, X)) return result(`input ${g.values[v]!.name}'s axis ${i} is ${dimToString(d)}, not ${x} itself`);
      carried[v]!.add(i);
    }
  }
  const where = (n: Node) => `${n.op} at ${file}:${n.span.line}:${n.span.col}${n.scope ? ` (in ${n.scope})` : ''}`;
  for (const n of g.nodes) {
    const why = step(g, n, x, carried, probe);
    if (why) return result(`${where(n)} ${why}`);
    for (const o of n.outputs) {
      for (const [i, d] of g.values[o]!.type.dims.entries()) {
        if (!mentions(d)) continue;
        if (!carried[o]!.has(i)) return result(`${where(n)} makes an axis of size ${dimToString(d)} that is not ${x}'s positions in order`);
        if (dimDiv(d, X) === undefined) return result(`${where(n)} makes an axis of size ${dimToString(d)}, not a multiple of ${x}`);
        if (!carriable(d)) return result(`${where(n)} merges ${x} with another dim into one axis of size ${dimToString(d)}`);
      }
    }
  }
  for (const [k, v] of g.outputs.entries()) {
    const t = g.values[v]!.type;
    for (const [i, d] of t.dims.entries())
      if (mentions(d) && !dimEquals(d, X)) return result(`output ${g.outputNames[k]}'s axis ${i} is ${dimToString(d)}, not ${x} itself`);
  }
  return result();
}

/** Marks the axes of `n`'s outputs that carry the dim; returns why it cannot, or undefined. */
function step(g: Graph, n: Node, x: string, carried: Set<number>[], probe: ReadonlyMap<string, number>): string | undefined {
  const dims = (v: number) => g.values[v]!.type.dims;
  const holds = n.inputs.map((v) => carried[v]!);
  if (n.op === 'attention' && holds.some((h, k) => k < 3 && h.has(1))) {
    // Query position p reads keys ≤ p only under the causal mask, and then only when queries and keys are the same positions.
    if (n.attrs['causal'] !== true) return `attends to every position of ${x}, not causally: an earlier position would read the padding`;
    if (![0, 1, 2].every((k) => holds[k]!.has(1))) return `reads queries and keys of different lengths along ${x}`;
    carried[n.outputs[0]!]!.add(1);
  }
  // Rotary angles depend on the position's index (plus a fixed offset), which padding after the last position leaves as it is.
  const rotaryAxis = n.op === 'rotary' ? dims(n.inputs[0]!).length - 2 : -1;
  if (rotaryAxis >= 0 && holds[0]!.has(rotaryAxis)) carried[n.outputs[0]!]!.add(rotaryAxis);
  if (n.op === 'slice' && !holds[0]!.has(n.attrs['axis'] as number)) {
    // A slice from 0 of a tensor the dim does not index: a smaller compile takes the first rows of it.
    const axis = n.attrs['axis'] as number;
    const len = dims(n.outputs[0]!)[axis]!;
    if (dimSymbols(len).includes(x)) {
      if (dimValue(n.attrs['start'] as Dim) !== 0) return `starts at ${dimToString(n.attrs['start'] as Dim)}: a smaller ${x} would cut other rows`;
      carried[n.outputs[0]!]!.add(axis);
    }
  }
  const shapes = (vs: readonly number[]) => vs.map((v) => dims(v).map((d) => evalDim(d, probe)));
  const spec = opSpec(n, shapes(n.inputs), shapes(n.outputs));
  for (const [k, h] of holds.entries()) {
    for (const a of h) {
      if ((n.op === 'attention' && k <= 3 && a === 1) || (k === 0 && a === rotaryAxis)) continue;
      const letter = spec.letters.find((l) => l.ins[k] === a);
      if (!letter) return `has no rule for its input ${k}'s axis ${a}`;
      if (!letter.splittable || letter.unit !== undefined || letter.start)
        return `needs ${x} whole${spec.why[letter.name] ? ` (${spec.why[letter.name]})` : ''}`;
      if (letter.outs.some((d) => d < 0)) return `sums over ${x}`;
      for (const [j, d] of letter.ins.entries()) if (d >= 0 && !carried[n.inputs[j]!]!.has(d)) return `mixes ${x} with a tensor that has no positions of it`;
      for (const [j, d] of letter.outs.entries()) carried[n.outputs[j]!]!.add(d);
    }
  }
  // A broadcast into an axis of the dim (a letter that names no input): constant along it.
  for (const [j, o] of n.outputs.entries()) {
    for (const [i, d] of dims(o).entries()) {
      if (carried[o]!.has(i) || !dimSymbols(d).includes(x)) continue;
      const letter = spec.letters.find((l) => l.outs[j] === i);
      if (letter && letter.splittable && letter.ins.every((k) => k < 0)) carried[o]!.add(i);
    }
  }
  return undefined;
}
