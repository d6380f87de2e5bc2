/**
 * The vocabulary of sharding signatures (an op's `sharding` facet), written as einsum-like
 * "letters": each letter is one iteration dim of the op and names the dim it occupies in
 * each input and output.
 *
 * - A letter split over mesh axes splits every dim it names the same way (split → split).
 * - A letter that names input dims but no output dim is a contraction: when it is split,
 *   each device holds part of a sum, so the outputs are `partial` over those axes
 *   (matmul's K, sum's axis). Only ops whose contraction is a plain sum declare one.
 * - An unsplittable letter must be whole on every device (softmax's axis, attention's
 *   sequence dims): a split input is gathered first.
 * - A letter with `unit` may only be split into a count that divides it (attention heads);
 *   the attributes in `localAttrs` are divided by the split count in each device's program.
 * - A letter with `start` needs to know where each device's block of it begins (an
 *   embedding's vocabulary block, which its ids index globally): when it is split, the
 *   device's program gets one more input, an i32[1] holding that first index, and the
 *   attribute `has_start`.
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
  readonly start?: boolean;
}

export type Linearity = 'joint' | 'single' | 'first' | 'none';

export interface OpSpec {
  readonly letters: readonly Letter[];
  readonly linear: Linearity;
  /** Why a letter is unsplittable, for redistribution reasons ("softmax needs its axis whole"). */
  readonly why: Readonly<Record<string, string>>;
}

export type Shapes = readonly (readonly number[])[];

/** An op's sharding signature from its attributes and its global input and output shapes. */
export type ShardingRule<A = never> = (attrs: A, inShapes: Shapes, outShapes: Shapes) => OpSpec;

export type Names = readonly (string | null)[];

/** Builds letters from one dim-name list per tensor (null: a broadcast dim that takes no split). */
export function einsum(
  ins: readonly Names[],
  outs: readonly Names[],
  opts: {
    whole?: Readonly<Record<string, string>>;
    units?: Readonly<Record<string, { unit: number; attrs: readonly string[] }>>;
    contract?: boolean;
    /** Letters whose block start the device's program takes as an extra input (see Letter.start). */
    starts?: readonly string[];
  } = {},
): Letter[] {
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
      ...(opts.starts?.includes(name) ? { start: true } : {}),
    };
  });
}

export const spec = (letters: Letter[], linear: Linearity = 'none', why: Record<string, string> = {}): OpSpec => ({ letters, linear, why });

/** `prefix0, prefix1, …`: one name per dim of a tensor of rank `rank`. */
export const dims = (prefix: string, rank: number): string[] => Array.from({ length: rank }, (_, i) => `${prefix}${i}`);

/** Right-aligned broadcasting: an input dim of size 1 under a larger output dim takes no split. */
export function broadcastNames(inShape: readonly number[], outShape: readonly number[]): Names {
  const r = outShape.length;
  return inShape.map((s, i) => {
    const o = r - inShape.length + i;
    return s === 1 && outShape[o] !== 1 ? null : `d${o}`;
  });
}

/** The safe signature: every dim of every tensor whole. */
export const wholeAll = (ins: Shapes, outs: Shapes, why: string): OpSpec => {
  const letters = einsum(
    ins.map((s, i) => dims(`i${i}_`, s.length)),
    outs.map((s, i) => dims(`o${i}_`, s.length)),
    {
      whole: Object.fromEntries([...ins.flatMap((s, i) => dims(`i${i}_`, s.length)), ...outs.flatMap((s, i) => dims(`o${i}_`, s.length))].map((n) => [n, why])),
    },
  );
  return { letters, linear: 'none', why: {} };
};

/**
 * The signature of an element-wise op of any arity with NumPy broadcasting: every output
 * dim a letter, inputs naming the dims they broadcast into; `linear` as the op is.
 */
export const elementwiseSharding =
  (linear: Linearity = 'none'): ShardingRule<unknown> =>
  (_a, inShapes, outShapes) => {
    const out0 = outShapes[0] ?? [];
    const r = out0.length;
    if (outShapes.length === 1 && inShapes.every((s) => s.length <= r))
      return spec(
        einsum(
          inShapes.map((s) => broadcastNames(s, out0)),
          [dims('d', r)],
        ),
        linear,
      );
    return wholeAll(inShapes, outShapes, 'an element-wise op of these ranks has no sharding rule');
  };
