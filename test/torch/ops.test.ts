import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { dimConst } from '../../compiler/dims.js';
import type { Attrs, Value } from '../../compiler/ir.js';
import { referenceOf } from '../../compiler/ops/registry.js';
import { HELPERS, TORCH, type TorchCtx } from '../../compiler/torch/ops.js';
import type { DType } from '../../compiler/types.js';
import { numel } from '../../layout/mesh.js';
import { mulberry32 } from '../support/random.js';
import { TORCH_PYTHON, torchAvailable } from '../support/torchrun.js';

/**
 * Each op of compiler/torch/ops.ts's table, on random inputs, evaluated by its torch form
 * (one python3 process for all of them, float32) against the op's CPU reference (float64).
 * Collectives need a process group: the end-to-end tests (gpt2.test.ts, moe.test.ts) run them.
 */
type Kind = 'any' | 'positive' | 'mask' | 'ids' | 'labels' | 'ties' | 'extreme';
interface In {
  readonly shape: readonly number[];
  readonly kind?: Kind;
  readonly dtype?: DType;
  /** ids / labels: the range to draw from (some fall outside [0, n) on purpose). */
  readonly n?: number;
  /** ids: each row's ids distinct and in range (topk's indices). */
  readonly distinct?: boolean;
  /** extreme: the max (or min) of input `of` along the case's axis, as the forward reduction gave it. */
  readonly of?: number;
}
interface Case {
  readonly op: string;
  readonly attrs?: Attrs;
  readonly ins: readonly In[];
  readonly outs: readonly (readonly number[])[];
  readonly outDtype?: DType;
}

const COLLECTIVES = ['all_reduce', 'reduce_scatter', 'all_gather', 'all_to_all', 'shard_slice', 'partial_mask'];
const X: In = { shape: [3, 5] };
const POS: In = { shape: [3, 5], kind: 'positive' };
const unary = (op: string, x: In = X, attrs: Attrs = {}): Case => ({ op, attrs, ins: [x], outs: [x.shape] });
const binary = (op: string, a: In = X, b: In = { shape: [5] }): Case => ({ op, ins: [a, b], outs: [[3, 5]] });
const attn = { heads: 4, kv_heads: 2, causal: true, scale: 0.5 };

const CASES: readonly Case[] = [
  ...['neg', 'exp', 'tanh', 'sigmoid', 'relu', 'silu', 'abs', 'fast_gelu', 'softplus'].map((op) => unary(op)),
  ...['log', 'sqrt', 'rsqrt'].map((op) => unary(op, POS)),
  unary('gelu', X, { approximate: 'none' }),
  unary('gelu', X, { approximate: 'tanh' }),
  unary('dropout', X, { p: 0.1, seed: 0, training: false }),
  ...['add', 'sub', 'mul', 'div', 'maximum', 'minimum'].map((op) => binary(op)),
  binary('pow', POS),
  { op: 'where', ins: [{ shape: [3, 5], kind: 'mask' }, X, { shape: [5] }], outs: [[3, 5]] },
  { op: 'expand', attrs: { shape: [3, 5].map(dimConst) }, ins: [{ shape: [1, 5] }], outs: [[3, 5]] },
  { op: 'cast', attrs: { dtype: 'i32' }, ins: [{ shape: [3, 5] }], outs: [[3, 5]], outDtype: 'i32' },
  { op: 'matmul', ins: [{ shape: [2, 3, 4] }, { shape: [4, 5] }], outs: [[2, 3, 5]] },
  { op: 'matmul', attrs: { transpose_b: true }, ins: [{ shape: [2, 3, 4] }, { shape: [2, 5, 4] }], outs: [[2, 3, 5]] },
  { op: 'reshape', attrs: { shape: [3, 4].map(dimConst) }, ins: [{ shape: [2, 6] }], outs: [[3, 4]] },
  { op: 'transpose', attrs: { perm: [1, 0, 2] }, ins: [{ shape: [2, 3, 4] }], outs: [[3, 2, 4]] },
  { op: 'slice', attrs: { axis: 1, start: dimConst(1), end: dimConst(4) }, ins: [{ shape: [2, 5, 3] }], outs: [[2, 3, 3]] },
  { op: 'slice_grad', attrs: { axis: 1, start: 1 }, ins: [{ shape: [2, 3, 3] }], outs: [[2, 5, 3]] },
  { op: 'concat', attrs: { axis: 1 }, ins: [{ shape: [2, 3] }, { shape: [2, 2] }], outs: [[2, 5]] },
  ...['sum', 'mean', 'max', 'min'].flatMap((op) => [
    { op, attrs: { axis: 1, keepdim: true }, ins: [{ shape: [2, 4, 3] }], outs: [[2, 1, 3]] },
    { op, attrs: { axis: 2, keepdim: false }, ins: [{ shape: [2, 4, 3] }], outs: [[2, 4]] },
  ]),
  { op: 'softmax', attrs: { axis: 1 }, ins: [{ shape: [2, 4, 3] }], outs: [[2, 4, 3]] },
  { op: 'log_softmax', attrs: { axis: 2 }, ins: [{ shape: [2, 4, 3] }], outs: [[2, 4, 3]] },
  { op: 'layer_norm', attrs: { eps: 1e-5, has_weight: true, has_bias: true }, ins: [{ shape: [2, 3, 8] }, { shape: [8] }, { shape: [8] }], outs: [[2, 3, 8]] },
  { op: 'rms_norm', attrs: { eps: 1e-6, has_weight: true }, ins: [{ shape: [2, 3, 8] }, { shape: [8] }], outs: [[2, 3, 8]] },
  { op: 'layer_norm', attrs: { eps: 0.1 }, ins: [{ shape: [4, 8] }], outs: [[4, 8]] },
  { op: 'embedding', ins: [{ shape: [6, 4] }, { shape: [2, 5], kind: 'ids', n: 6 }], outs: [[2, 5, 4]] },
  {
    op: 'embedding',
    attrs: { has_start: true },
    ins: [{ shape: [3, 4] }, { shape: [2, 5], kind: 'ids', n: 6 }, { shape: [1], kind: 'ids', dtype: 'i32', n: -3 }],
    outs: [[2, 5, 4]],
  },
  { op: 'embedding_grad', ins: [{ shape: [2, 5, 4] }, { shape: [2, 5], kind: 'ids', n: 6 }], outs: [[6, 4]] },
  {
    op: 'embedding_grad',
    attrs: { has_start: true },
    ins: [{ shape: [2, 5, 4] }, { shape: [2, 5], kind: 'ids', n: 6 }, { shape: [1], kind: 'ids', dtype: 'i32', n: -3 }],
    outs: [[3, 4]],
  },
  { op: 'attention', attrs: attn, ins: [{ shape: [2, 5, 8] }, { shape: [2, 7, 4] }, { shape: [2, 7, 4] }], outs: [[2, 5, 8]] },
  {
    op: 'attention',
    attrs: { ...attn, causal: false, has_mask: true },
    ins: [{ shape: [2, 5, 8] }, { shape: [2, 7, 4] }, { shape: [2, 7, 4] }, { shape: [2, 7], kind: 'mask' }],
    outs: [[2, 5, 8]],
  },
  {
    op: 'attention_grad',
    attrs: attn,
    ins: [{ shape: [2, 5, 8] }, { shape: [2, 5, 8] }, { shape: [2, 7, 4] }, { shape: [2, 7, 4] }],
    outs: [
      [2, 5, 8],
      [2, 7, 4],
      [2, 7, 4],
    ],
  },
  { op: 'cross_entropy', ins: [{ shape: [2, 3, 6] }, { shape: [2, 3], kind: 'labels', n: 6 }], outs: [[]] },
  { op: 'cross_entropy_grad', ins: [{ shape: [] }, { shape: [2, 3, 6] }, { shape: [2, 3], kind: 'labels', n: 6 }], outs: [[2, 3, 6]] },
  ...['relu', 'abs', 'gelu', 'gelu_tanh', 'silu', 'sigmoid', 'tanh', 'exp'].map((fn) => ({ op: 'unary_grad', attrs: { fn }, ins: [X, X], outs: [[3, 5]] })),
  ...['log', 'sqrt', 'rsqrt'].map((fn) => ({ op: 'unary_grad', attrs: { fn }, ins: [X, POS], outs: [[3, 5]] })),
  ...['maximum', 'minimum'].flatMap((op) =>
    [0, 1].map((side) => ({
      op: 'minmax_grad',
      attrs: { op, side },
      ins: [X, { shape: [3, 5], kind: 'ties' as const }, { shape: [5], kind: 'ties' as const }],
      outs: [[3, 5]],
    })),
  ),
  {
    op: 'reduce_grad',
    attrs: { op: 'max', axis: 1 },
    ins: [{ shape: [2, 3] }, { shape: [2, 4, 3], kind: 'ties' }, { shape: [2, 3], kind: 'extreme', of: 1 }],
    outs: [[2, 4, 3]],
  },
  {
    op: 'reduce_grad',
    attrs: { op: 'min', axis: 2 },
    ins: [{ shape: [2, 4, 1] }, { shape: [2, 4, 3], kind: 'ties' }, { shape: [2, 4, 1], kind: 'extreme', of: 1 }],
    outs: [[2, 4, 3]],
  },
  { op: 'rotary', attrs: { heads: 2, theta: 10000, offset: 3 }, ins: [{ shape: [2, 5, 8] }], outs: [[2, 5, 8]] },
  { op: 'rotary', attrs: { heads: 2, theta: 1e6, offset: 0, inverse: true }, ins: [{ shape: [2, 5, 8] }], outs: [[2, 5, 8]] },
  {
    op: 'topk',
    ins: [{ shape: [6, 5], kind: 'ties' }],
    outs: [
      [6, 2],
      [6, 2],
    ],
    outDtype: 'f32',
  },
  { op: 'topk_grad', ins: [{ shape: [6, 2] }, { shape: [6, 2], kind: 'ids', n: 5, distinct: true }], outs: [[6, 5]] },
  // 8 tokens in 2 groups, 2 choices each, 3 experts of 2 slots per group: some choices find no slot, one is out of range.
  { op: 'moe_dispatch', attrs: { experts: 3, capacity: 2, groups: 2 }, ins: [{ shape: [8, 4] }, { shape: [8, 2], kind: 'ids', n: 3 }], outs: [[3, 4, 4]] },
  { op: 'moe_combine', attrs: { groups: 2 }, ins: [{ shape: [3, 4, 4] }, { shape: [8, 2], kind: 'ids', n: 3 }, { shape: [8, 2] }], outs: [[8, 4]] },
  {
    op: 'moe_combine_grad',
    attrs: { groups: 2 },
    ins: [{ shape: [8, 4] }, { shape: [3, 4, 4] }, { shape: [8, 2], kind: 'ids', n: 3 }, { shape: [8, 2] }],
    outs: [
      [3, 4, 4],
      [8, 2],
    ],
  },
  { op: 'round_to', attrs: { dtype: 'f16' }, ins: [X], outs: [[3, 5]] },
  { op: 'round_to', attrs: { dtype: 'bf16' }, ins: [X], outs: [[3, 5]] },
  { op: 'all_finite', ins: [X], outs: [[]] },
];

function draw(x: In, rand: () => number): Float64Array {
  const n = numel(x.shape);
  if (x.distinct) {
    const k = x.shape.at(-1)!;
    return Float64Array.from({ length: n }, (_, i) => (Math.floor(i / k) + (i % k) * 2) % x.n!);
  }
  // Values from a few levels, so rows have ties (topk breaks them toward the lower index).
  if (x.kind === 'ties') return Float64Array.from({ length: n }, () => Math.floor(rand() * 4));
  const f32 = (v: number) => Math.fround(v);
  return Float64Array.from({ length: n }, () => {
    const u = rand();
    if (x.kind === 'positive') return f32(0.2 + 2 * u);
    if (x.kind === 'mask') return u < 0.7 ? 1 : 0;
    if (x.kind === 'ids' && x.n! < 0) return -x.n!;
    // One id in eight falls outside [0, n): those give zero rows, or no loss.
    if (x.kind === 'ids' || x.kind === 'labels') return u < 0.125 ? -1 : Math.floor(rand() * x.n!);
    return f32(4 * u - 2);
  });
}

const value = (shape: readonly number[], dtype: DType, id: number): Value => ({ id, kind: 'op', type: { dtype, dims: shape.map(dimConst) } });
const dtypeOf = (x: In): DType => x.dtype ?? (x.kind === 'ids' || x.kind === 'labels' ? 'i32' : 'f32');

describe('torch forms of mdc ops (compiler/torch/ops.ts)', () => {
  it('every op of the table but the collectives has a case here', () => {
    const covered = new Set(CASES.map((c) => c.op));
    expect(Object.keys(TORCH).filter((op) => !covered.has(op) && !COLLECTIVES.includes(op))).toEqual([]);
  });

  it("each form equals the op's CPU reference on random inputs", () => {
    expect(torchAvailable(), 'Debian python3-torch (scripts/ensure-torch.sh)').toBe(true);
    const rand = mulberry32(17);
    const cases = CASES.map((c) => {
      const inputs = c.ins.map((x) => draw(x, rand));
      // reduce_grad's y is the forward max / min of x (keepdim when y keeps the axis).
      c.ins.forEach((x, i) => {
        if (x.kind !== 'extreme') return;
        const from = { shape: c.ins[x.of!]!.shape, data: inputs[x.of!]! };
        const a = c.attrs as { op: string; axis: number };
        const keepdim = x.shape.length === from.shape.length;
        inputs[i] = referenceOf(a.op)!([from], { axis: a.axis, keepdim }, [x.shape], ['f32'], 0)[0]!.data;
      });
      const vin = c.ins.map((x, i) => value(x.shape, dtypeOf(x), i));
      const vout = c.outs.map((s, i) => value(s, c.outDtype ?? 'f32', 100 + i));
      const ctx: TorchCtx = { ins: c.ins.map((_, i) => `x[${i}]`), vin, vout, use: (h) => h };
      const expr = TORCH[c.op]!(ctx, c.attrs ?? {});
      if (typeof expr !== 'string') throw new Error(`${c.op}: ${expr.refuse}`);
      const ref = referenceOf(c.op)!(
        inputs.map((data, i) => ({ shape: c.ins[i]!.shape, data })),
        c.attrs ?? {},
        c.outs,
        c.outs.map(() => c.outDtype ?? 'f32'),
        0,
      );
      return { c, expr, inputs, ref };
    });
    const dir = mkdtempSync(join(tmpdir(), 'mdc-torch-ops-'));
    writeFileSync(
      join(dir, 'cases.json'),
      JSON.stringify(
        cases.map(({ c, expr, inputs }) => ({
          expr,
          ins: inputs.map((d, i) => ({ data: [...d], shape: c.ins[i]!.shape, int: dtypeOf(c.ins[i]!) === 'i32' })),
        })),
      ),
    );
    const script = [
      'import json, math, sys',
      'import torch',
      'import mdc_torch',
      'DEVICE = torch.device("cpu")',
      ...Object.values(HELPERS),
      'out = []',
      `for case in json.load(open(${JSON.stringify(join(dir, 'cases.json'))})):`,
      '    x = [torch.tensor(i["data"], dtype=torch.int32 if i["int"] else torch.float32).reshape(i["shape"]) for i in case["ins"]]',
      '    r = eval(case["expr"])',
      '    r = r if isinstance(r, tuple) else (r,)',
      '    out.append([t.double().reshape(-1).tolist() for t in r])',
      `json.dump(out, open(${JSON.stringify(join(dir, 'out.json'))}, "w"))`,
    ].join('\n');
    writeFileSync(join(dir, 'run.py'), script);
    const p = spawnSync(TORCH_PYTHON, [join(dir, 'run.py')], {
      encoding: 'utf8',
      env: { ...process.env, PYTHONPATH: join(process.cwd(), 'runtime/torch'), PYTHONDONTWRITEBYTECODE: '1' },
    });
    expect(p.status, p.stderr).toBe(0);
    const got = JSON.parse(readFileSync(join(dir, 'out.json'), 'utf8')) as number[][][];
    cases.forEach(({ c, ref }, k) => {
      ref.forEach((want, j) => {
        const have = got[k]![j]!;
        expect(have.length, `${c.op} output ${j}`).toBe(want.data.length);
        // f32 against float64 on values of size ≤ ~10 over short sums (≤ 8 terms): a few f32
        // roundings, 1e-5 relative to the value (floor 1e-5); round_to must match exactly.
        want.data.forEach((w, i) => {
          const tol = c.op === 'round_to' ? 0 : 1e-5 * Math.max(1, Math.abs(w));
          expect(Math.abs(have[i]! - w), `${c.op} ${JSON.stringify(c.attrs ?? {})} output ${j}[${i}]: ${have[i]} vs ${w}`).toBeLessThanOrEqual(tol);
        });
      });
    });
  }, 60_000);
});
