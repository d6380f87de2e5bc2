import fc from 'fast-check';

/**
 * Random element-wise programs for the fusion property tests: a start value (an input,
 * or a matmul — batched or not, with broadcast batch dims), then a chain of unary and
 * binary element-wise steps whose other operands are inputs broadcast into the result
 * (NumPy rules), scalar constants or earlier values of the chain (so the graph is a DAG,
 * not only a chain); optionally an intermediate is returned too, so fusion has to
 * materialise a value it also consumes. The formulas keep every value finite: logs and
 * roots of |x| + 1, exp of a tanh, divisions by |x| + 1.
 */
export const UNARY = [
  'neg(H)',
  'abs(H)',
  'relu(H)',
  'tanh(H)',
  'sigmoid(H)',
  'silu(H)',
  'fast_gelu(H)',
  'gelu(H)',
  'gelu(H, approximate = "tanh")',
  'exp(tanh(H))',
  'log(abs(H) + 1.0)',
  'sqrt(abs(H))',
  'rsqrt(abs(H) + 1.0)',
  'H ** 2.0',
  'H ** 3.0',
  '(abs(H) + 0.5) ** 1.5',
  'H * 0.5',
  '2.0 - H',
];
export const BINARY = ['H + X', 'H - X', 'H * X', 'maximum(H, X)', 'minimum(H, X)', 'H / (abs(X) + 1.0)', 'X - H', 'where(C, H, X)'];

const dimArb = fc.constantFrom(1, 2, 3, 4, 5, 8, 12, 17);

export interface ChainSpec {
  /** The matmul's [batch..., M, K] @ [K, N] sizes, or none: the chain starts from input x0. */
  readonly matmul?: { readonly batch: readonly number[]; readonly M: number; readonly K: number; readonly N: number; readonly bBatched: boolean };
  /** The domain when there is no matmul. */
  readonly dims: readonly number[];
  /** Per input: which dims it keeps (else 1) and how many leading dims it drops. */
  readonly inputs: readonly { readonly keep: readonly boolean[]; readonly drop: number }[];
  readonly steps: readonly { readonly unary: boolean; readonly op: number; readonly operand: number; readonly earlier: boolean; readonly cond: number }[];
  /** Return the value after this many steps as a second output (when within the chain). */
  readonly extraOutput: number;
}

export const chainArb: fc.Arbitrary<ChainSpec> = fc.record({
  matmul: fc.option(
    fc.record({
      batch: fc.constantFrom([], [2], [2, 3]),
      M: fc.constantFrom(1, 3, 8, 17, 33),
      K: fc.constantFrom(1, 5, 8, 16),
      N: fc.constantFrom(3, 4, 8, 12, 20),
      bBatched: fc.boolean(),
    }),
    { nil: undefined },
  ),
  dims: fc.array(dimArb, { minLength: 1, maxLength: 3 }),
  inputs: fc.array(fc.record({ keep: fc.array(fc.boolean(), { minLength: 5, maxLength: 5 }), drop: fc.integer({ min: 0, max: 2 }) }), {
    minLength: 1,
    maxLength: 5,
  }),
  steps: fc.array(
    fc.record({
      unary: fc.boolean(),
      op: fc.nat(100),
      operand: fc.nat(100),
      earlier: fc.boolean(),
      cond: fc.nat(100),
    }),
    { minLength: 1, maxLength: 8 },
  ),
  extraOutput: fc.integer({ min: 0, max: 10 }),
});

const T = (s: readonly number[]) => `f32[${s.join(', ')}]`;
const broadcast = (a: readonly number[], b: readonly number[]) => {
  const n = Math.max(a.length, b.length);
  return Array.from({ length: n }, (_, i) => {
    const x = a[a.length - n + i] ?? 1;
    const y = b[b.length - n + i] ?? 1;
    return x === 1 ? y : x;
  });
};

/** The program's source: `model F(...) -> type { ... }`. */
export function chainSource(c: ChainSpec): string {
  const args: [string, readonly number[]][] = [];
  const lines: string[] = [];
  let domain: readonly number[];
  let shape: readonly number[];
  if (c.matmul) {
    const { batch, M, K, N, bBatched } = c.matmul;
    args.push(['a', [...batch, M, K]], ['b', bBatched && batch.length ? [batch[batch.length - 1]!, K, N] : [K, N]]);
    domain = [...batch, M, N];
    lines.push('let h0 = a @ b');
    shape = domain;
  } else {
    domain = c.dims;
    args.push(['x0', domain]);
    lines.push('let h0 = x0');
    shape = domain;
  }
  // Inputs broadcast into the domain: some dims kept, the others 1, some leading dims dropped.
  const inputs = c.inputs.map((spec, k) => {
    const s = domain.map((d, i) => (spec.keep[i] ? d : 1)).slice(Math.min(spec.drop, domain.length - 1));
    const name = `x${k + 1}`;
    args.push([name, s]);
    return { name, shape: s };
  });
  const values: { name: string; shape: readonly number[] }[] = [{ name: 'h0', shape }];
  c.steps.forEach((st, k) => {
    const h = values[values.length - 1]!;
    let text: string;
    let s = h.shape;
    if (st.unary) text = UNARY[st.op % UNARY.length]!.replaceAll('H', h.name);
    else {
      const pool = st.earlier && values.length > 1 ? values.slice(0, -1) : inputs;
      const x = pool[st.operand % pool.length]!;
      const cond = inputs[st.cond % inputs.length]!;
      const form = BINARY[st.op % BINARY.length]!;
      text = form.replaceAll('H', h.name).replaceAll('X', x.name).replaceAll('C', cond.name);
      s = broadcast(s, x.shape);
      if (form.includes('C')) s = broadcast(s, cond.shape);
    }
    values.push({ name: `h${k + 1}`, shape: s });
    lines.push(`let h${k + 1} = ${text}`);
  });
  const last = values[values.length - 1]!;
  const extra = c.extraOutput >= 1 && c.extraOutput < values.length - 1 ? values[c.extraOutput]! : undefined;
  const ret = extra ? `(${T(last.shape)}, ${T(extra.shape)})` : T(last.shape);
  lines.push(extra ? `return ${last.name}, ${extra.name}` : `return ${last.name}`);
  return `model F(${args.map(([n, s]) => `${n}: ${T(s)}`).join(', ')}) -> ${ret} {\n${lines.map((l) => `  ${l}`).join('\n')}\n}\n`;
}
