import type { FusedBody } from '../ir.js';
import { REFERENCE, scalarOp } from './ops.js';
import { broadcastIndex, numelOf, zeros, type RefTensor } from './tensor.js';

/**
 * A fused node on the CPU, the way its kernel computes it: element by element over the
 * domain, each step's scalar function applied to its operands at that element (inputs
 * read at their broadcast index), in float64 with the unfused ops' own scalar functions,
 * so fused and unfused graphs agree to the last bit or show where they do not.
 */
export function evalFused(body: FusedBody, ins: readonly RefTensor[], domain: readonly number[]): RefTensor[] {
  const n = numelOf(domain);
  const fns = body.steps.map((s, k) => {
    if (body.kind === 'matmul' && k === 0) return undefined;
    const f = scalarOp(s.op, s.attrs, s.dtype);
    if (!f) throw new Error(`fused body: '${s.op}' is not an element-wise op`);
    return f;
  });
  const product = body.kind === 'matmul' ? REFERENCE.get('matmul')!([ins[0]!, ins[1]!], body.steps[0]!.attrs, [domain], [body.steps[0]!.dtype])[0]! : undefined;
  const index = new Map<number, ArrayLike<number>>();
  for (const s of body.steps.slice(product ? 1 : 0)) {
    for (const a of s.args) if (a.k === 'input' && !index.has(a.i)) index.set(a.i, broadcastIndex(domain, ins[a.i]!.shape));
  }
  const operands = body.steps.map((s) => s.args.map((a) => (a.k === 'input' ? { data: ins[a.i]!.data, at: index.get(a.i)! } : a)));
  const outs = body.outputs.map(() => zeros(domain));
  const vals = new Float64Array(body.steps.length);
  const args: number[] = [];
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < body.steps.length; k++) {
      const f = fns[k];
      if (!f) { vals[k] = product!.data[i]!; continue; }
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
