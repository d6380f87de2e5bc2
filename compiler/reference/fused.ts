import type { FusedBody } from '../ir.js';
import { facetsOf, referenceOf, scalarFunction } from '../ops/registry.js';
import { broadcastIndex, zeros, type RefTensor } from '../ops/tensor.js';
import { numel } from '../../layout/mesh.js';

/**
 * A fused node on the CPU, the way its kernel computes it: element by element over the
 * domain, each step's scalar function applied to its operands at that element (inputs
 * read at their broadcast index), in float64 with the unfused ops' own scalar functions,
 * so fused and unfused graphs agree to the last bit or show where they do not.
 */
export function evalFused(body: FusedBody, ins: readonly RefTensor[], shapes: readonly (readonly number[])[]): RefTensor[] {
  if (body.kind === 'rows') return evalRows(body, ins, shapes);
  const domain = shapes[0]!;
  const n = numel(domain);
  const fns = body.steps.map((s, k) => {
    if (body.kind === 'matmul' && k === 0) return undefined;
    const f = scalarFunction(s.op, s.attrs, s.dtype);
    if (!f) throw new Error(`fused body: '${s.op}' is not an element-wise op`);
    return f;
  });
  const product =
    body.kind === 'matmul' ? referenceOf('matmul')!([ins[0]!, ins[1]!], body.steps[0]!.attrs, [domain], [body.steps[0]!.dtype], -1)[0]! : undefined;
  const index = new Map<number, ArrayLike<number>>();
  for (const s of body.steps.slice(product ? 1 : 0)) {
    for (const a of s.args) {
      if (a.k !== 'input' || index.has(a.i)) continue;
      const view = body.views?.[a.i];
      index.set(a.i, view ? broadcastIndex(domain, view.shape, view) : broadcastIndex(domain, ins[a.i]!.shape));
    }
  }
  const operands = body.steps.map((s) => s.args.map((a) => (a.k === 'input' ? { data: ins[a.i]!.data, at: index.get(a.i)! } : a)));
  const outs = body.outputs.map(() => zeros(domain));
  const vals = new Float64Array(body.steps.length);
  const args: number[] = [];
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < body.steps.length; k++) {
      const f = fns[k];
      if (!f) {
        vals[k] = product!.data[i]!;
        continue;
      }
      const ops = operands[k]!;
      args.length = ops.length;
      for (let j = 0; j < ops.length; j++) {
        const o = ops[j]!;
        args[j] = 'data' in o ? o.data[o.at[i]!]! : o.k === 'step' ? vals[o.i]! : o.value;
      }
      vals[k] = f(args);
    }
    body.outputs.forEach((s, o) => (outs[o]!.data[i] = vals[s]!));
  }
  return outs;
}

/**
 * A `rows` body on the CPU, row by row as its kernel computes it: each element-wise step
 * over the row's elements (or once, for a per-row step), each reduction folding its
 * operand's row in order (as the unfused reduction does), in float64.
 */
function evalRows(body: FusedBody, ins: readonly RefTensor[], shapes: readonly (readonly number[])[]): RefTensor[] {
  const domain = body.domain!;
  const len = domain[domain.length - 1]!;
  const rows = numel(domain) / len;
  const index = ins.map((x) => broadcastIndex(domain, x.shape));
  const fns = body.steps.map((s) => {
    if (facetsOf(s.op)?.fold && s.row) return undefined;
    const f = scalarFunction(s.op, s.attrs, s.dtype);
    if (!f) throw new Error(`fused body: '${s.op}' is not an element-wise op`);
    return f;
  });
  // A per-row step's value sits at element 0 of its row.
  const vals = body.steps.map(() => new Float64Array(len));
  const outs = shapes.map((s) => zeros(s));
  const args: number[] = [];
  for (let r = 0; r < rows; r++) {
    body.steps.forEach((s, k) => {
      const f = fns[k];
      if (!f) {
        const fold = facetsOf(s.op)!.fold!;
        const x = s.args[0]!;
        let acc = fold.init;
        for (let j = 0; j < len; j++) acc = fold.f(acc, x.k === 'input' ? ins[x.i]!.data[index[x.i]![r * len + j]!]! : vals[(x as { i: number }).i]![j]!);
        vals[k]![0] = fold.mean ? acc / len : acc;
        return;
      }
      const count = s.row ? 1 : len;
      for (let j = 0; j < count; j++) {
        args.length = s.args.length;
        s.args.forEach((a, q) => {
          args[q] = a.k === 'input' ? ins[a.i]!.data[index[a.i]![r * len + j]!]! : a.k === 'step' ? vals[a.i]![body.steps[a.i]!.row ? 0 : j]! : a.value;
        });
        vals[k]![j] = f(args);
      }
    });
    body.outputs.forEach((k, o) => {
      if (body.steps[k]!.row) outs[o]!.data[r] = vals[k]![0]!;
      else outs[o]!.data.set(vals[k]!, r * len);
    });
  }
  return outs;
}
