import fc from 'fast-check';
import { UNARY } from './fusion-chains.js';

/**
 * Random programs around reductions over the last axis, for the rows-fusion property
 * tests: x0 of shape [lead..., N] goes through a prologue of element-wise steps (with
 * inputs broadcast in: a [N] weight, a per-row [lead..., 1] value, a full tensor), then
 * one or two reductions (sum, mean, max, min, keepdim or not); the second may reduce a
 * value made from the first (as layer norm's variance uses the mean), and an epilogue
 * combines the row values with the row again. Per-row steps on an input (rv · 0.5 before
 * the reductions, r · rv + 1 after one) are optional. Returned: the last full value, and
 * optionally a row value (so the kernel also stores per-row results). Values stay
 * finite: the unary forms are those of fusion-chains.ts.
 */
export interface RowSpec {
  readonly lead: readonly number[];
  readonly N: number;
  readonly prologue: readonly { readonly op: number; readonly operand: number }[];
  readonly reductions: readonly { readonly op: number; readonly keepdim: boolean; readonly center: boolean }[];
  readonly epilogue: readonly { readonly op: number; readonly operand: number }[];
  readonly returnRow: number;
  /** Subtract rv · 0.5 (a per-row step on an input, before any reduction) in the prologue. */
  readonly rowInput: boolean;
  /** Make q = r · rv + 1 from the last keepdim reduction r (a per-row step after it), usable and returnable like r. */
  readonly rowStep: boolean;
}

const REDUCE = ['sum', 'mean', 'max', 'min'];
/** Binary forms: H the running value, X an operand of the domain's shape or broadcast into it. */
const BIN = ['H + X', 'H - X', 'H * X', 'maximum(H, X)', 'H / (abs(X) + 1.0)', 'X - H'];

export const rowArb: fc.Arbitrary<RowSpec> = fc.record({
  lead: fc.constantFrom([], [1], [3], [2, 3], [5, 1], [67]),
  N: fc.constantFrom(2, 3, 8, 31, 33, 64, 100, 256, 260),
  prologue: fc.array(fc.record({ op: fc.nat(100), operand: fc.nat(100) }), { maxLength: 4 }),
  reductions: fc.array(fc.record({ op: fc.nat(3), keepdim: fc.boolean(), center: fc.boolean() }), { minLength: 1, maxLength: 2 }),
  epilogue: fc.array(fc.record({ op: fc.nat(100), operand: fc.nat(100) }), { maxLength: 3 }),
  returnRow: fc.nat(3),
  rowInput: fc.boolean(),
  rowStep: fc.boolean(),
});

const T = (s: readonly number[]) => `f32[${s.join(', ')}]`;

export function rowSource(c: RowSpec): string {
  const full = [...c.lead, c.N];
  const perRow = [...c.lead, 1];
  const args: [string, readonly number[]][] = [
    ['x0', full],
    ['w', [c.N]],
    ['rv', perRow],
    ['x1', full],
  ];
  const operands = ['w', 'rv', 'x1'];
  const lines: string[] = [];
  let h = 'x0';
  let k = 0;
  const step = (st: { op: number; operand: number }, pool: readonly string[]) => {
    const name = `h${k++}`;
    const forms = [...UNARY, ...BIN];
    const form = forms[st.op % forms.length]!;
    lines.push(`let ${name} = ${form.replaceAll('H', h).replaceAll('X', pool[st.operand % pool.length]!)}`);
    h = name;
  };
  for (const st of c.prologue) step(st, operands);
  if (c.rowInput) {
    lines.push(`let h${k} = ${h} - rv * 0.5`);
    h = `h${k++}`;
  }
  const rowVals: { name: string; keep: boolean }[] = [];
  c.reductions.forEach((r, i) => {
    // The second reduction may reduce the value centred on the first (its keepdim result).
    const prev = rowVals[i - 1];
    let x = h;
    if (r.center && prev?.keep) {
      x = `c${i}`;
      lines.push(`let ${x} = (${h} - ${prev.name}) * (${h} - ${prev.name})`);
    }
    const name = `r${i}`;
    lines.push(`let ${name} = ${REDUCE[r.op]}(${x}, -1${r.keepdim ? ', keepdim = true' : ''})`);
    rowVals.push({ name, keep: r.keepdim });
  });
  const lastKept = rowVals.filter((r) => r.keep).at(-1);
  if (c.rowStep && lastKept) {
    lines.push(`let q = ${lastKept.name} * rv + 1.0`);
    rowVals.push({ name: 'q', keep: true });
  }
  // The epilogue reads row values (keepdim ones broadcast along the row) and the inputs.
  const kept = rowVals.filter((r) => r.keep).map((r) => r.name);
  for (const st of c.epilogue) step(st, [...kept, ...operands]);
  if (kept.length && !c.epilogue.length) {
    lines.push(`let h${k} = ${h} * rsqrt(abs(${kept[kept.length - 1]}) + 1.0)`);
    h = `h${k++}`;
  }
  const extra = c.returnRow ? rowVals[(c.returnRow - 1) % rowVals.length] : undefined;
  // A per-row value nothing reads stays out of the group; returning it is what tests its store.
  const rets: string[] = [T(full)];
  if (extra) rets.push(T(extra.keep ? perRow : c.lead));
  lines.push(`return ${[h, ...(extra ? [extra.name] : [])].join(', ')}`);
  const ret = rets.length > 1 ? `(${rets.join(', ')})` : rets[0]!;
  return `model R(${args.map(([n, s]) => `${n}: ${T(s)}`).join(', ')}) -> ${ret} {\n${lines.map((l) => `  ${l}`).join('\n')}\n}\n`;
}

/**
 * Norms and softmax written by hand next to the op they spell out: `hand` and `op`
 * should agree; `ops` is the fused body the hand-written one becomes.
 */
export const HANDWRITTEN_ROWS: Readonly<Record<string, { readonly source: string; readonly ops: string }>> = {
  layer_norm: {
    source: `model T(x: f32[6, 5, 96], g: f32[96], b: f32[96]) -> (f32[6, 5, 96], f32[6, 5, 96]) {
  let mu = mean(x, -1, keepdim = true)
  let xc = x - mu
  let v = mean(xc * xc, -1, keepdim = true)
  let hand = xc * rsqrt(v + 0.00001) * g + b
  let op = layer_norm(x, g, b, eps = 0.00001)
  return hand, op
}
`,
    ops: 'mean sub mul mean add rsqrt mul mul add',
  },
  rms_norm: {
    source: `model T(x: f32[7, 130], g: f32[130]) -> (f32[7, 130], f32[7, 130]) {
  let hand = x * rsqrt(mean(x * x, -1, keepdim = true) + 0.000001) * g
  let op = rms_norm(x, g, eps = 0.000001)
  return hand, op
}
`,
    ops: 'mul mean add rsqrt mul mul',
  },
  softmax: {
    source: `model T(x: f32[3, 4, 64]) -> (f32[3, 4, 64], f32[3, 4, 64]) {
  let e = exp(x - max(x, -1, keepdim = true))
  let hand = e / sum(e, -1, keepdim = true)
  let op = softmax(x)
  return hand, op
}
`,
    ops: 'max sub exp sum div',
  },
  log_softmax: {
    source: `model T(x: f32[9, 33]) -> (f32[9, 33], f32[9, 33]) {
  let m = max(x, -1, keepdim = true)
  let hand = x - m - log(sum(exp(x - m), -1, keepdim = true))
  let op = log_softmax(x)
  return hand, op
}
`,
    ops: 'max sub sub exp sum log sub',
  },
};
