/**
 * The invariants each stage of the pipeline promises, checked after it runs under
 * `verify` (`mdc compile --verify` and the tests):
 * - every graph: SSA, dense ids, frozen (compiler/verify-ir.ts), and every node of an op
 *   in the op table has the output types its shape rule gives for its inputs and
 *   attributes (types re-inferred);
 * - after lowering, every dim is concrete;
 * - after partitioning: each local value's shape is its global shape divided by the mesh
 *   axes of its layout, and every collective names an axis of the mesh;
 * - after optimizing: every fused body is well-formed (arguments refer to the body's
 *   inputs or to earlier steps, outputs to steps, views to inputs).
 */
import { dimEquals, dimValue } from '../compiler/dims.js';
import type { Attr, Graph, Node } from '../compiler/ir.js';
import { OPS } from '../compiler/ops/registry.js';
import type { InferCtx } from '../compiler/ops/signature.js';
import { localShape } from '../layout/mesh.js';
import { shapeOf } from '../compiler/sharding/mesh.js';
import type { SpmdProgram } from '../compiler/sharding/partition.js';
import { printType, type TType } from '../compiler/types.js';
import { verifyGraph } from '../compiler/verify-ir.js';
import { COLLECTIVE_OPS } from '../runtime/plan.js';

export type Stage = 'check' | 'lower' | 'train' | 'partition' | 'optimize' | 'memory' | 'codegen';

/** A stage broke one of its invariants: a compiler bug, never a user error. */
export class VerifyError extends Error {
  constructor(
    readonly stage: Stage,
    readonly problems: readonly string[],
  ) {
    super(
      `internal error: the ${stage} stage broke ${problems.length} invariant(s):\n  ${problems.slice(0, 20).join('\n  ')}${problems.length > 20 ? `\n  … and ${problems.length - 20} more` : ''}`,
    );
  }
}

export function verifyStage(stage: Stage, g: Graph, extra: { readonly spmd?: SpmdProgram } = {}): void {
  const problems = stageProblems(stage, g, extra);
  if (problems.length) throw new VerifyError(stage, problems);
}

/** The broken invariants of `g` after `stage` (empty when it is sound). */
export function stageProblems(stage: Stage, g: Graph, extra: { readonly spmd?: SpmdProgram } = {}): string[] {
  // Array spreads, not push(...xs): a call with as many arguments as the graph has problems could overflow the stack.
  return [
    ...verifyGraph(g, true),
    ...retype(g),
    ...(stage === 'partition' && extra.spmd ? partitionProblems(extra.spmd) : []),
    ...(stage === 'optimize' ? fusedBodyProblems(g) : []),
  ];
}

/** Nodes whose output types differ from what their op's shape rule infers again from the node's inputs and attributes. */
export function retype(g: Graph): string[] {
  const problems: string[] = [];
  for (const n of g.nodes) {
    const op = OPS.get(n.op);
    if (!op || n.body) continue;
    const inputs = tensorArgs(n, op.args, op.implicitInputs ?? 0);
    if (!inputs) {
      problems.push(`node ${n.id} (${n.op}) has ${n.inputs.length} inputs, which its signature cannot take`);
      continue;
    }
    let failed = '';
    const attr = (k: string) => n.attrs[k] as Attr;
    // Transpose folding (compiler/fusion/fold-transpose.ts) lets a matmul read b transposed in place.
    const transB = n.op === 'matmul' && !!n.attrs['transpose_b'];
    const tensor = (k: string) => {
      const t = typeOf(g, inputs.get(k) as number);
      return transB && k === 'b' ? { ...t, dims: [...t.dims.slice(0, -2), t.dims.at(-1)!, t.dims.at(-2)!] } : t;
    };
    const ctx: InferCtx = {
      op: n.op,
      tensor,
      optTensor: (k) => (inputs.has(k) ? tensor(k) : undefined),
      tensors: (k) => (inputs.get(k) as number[]).map((id) => typeOf(g, id)),
      int: (k) => attr(k) as number,
      num: (k) => attr(k) as number,
      bool: (k) => attr(k) as boolean,
      str: (k) => attr(k) as string,
      dim: (k) => attr(k) as never,
      dims: (k) => attr(k) as never,
      ints: (k) => attr(k) as number[] | undefined,
      set: () => undefined,
      error: (code, ...args) => {
        failed = `${code} ${args.join(', ')}`;
        return undefined;
      },
    };
    let types: readonly TType[] | undefined;
    try {
      types = op.infer(ctx);
    } catch (e) {
      failed = (e as Error).message;
    }
    if (!types || failed) {
      problems.push(`node ${n.id} (${n.op}) no longer type-checks: ${failed || 'no result'}`);
      continue;
    }
    const outs = n.op === 'split' ? [] : n.outputs;
    outs.forEach((o, i) => {
      const want = types![i];
      const have = g.values[o]!.type;
      if (!want || want.dtype !== have.dtype || want.dims.length !== have.dims.length || want.dims.some((d, k) => !dimEquals(d, have.dims[k]!))) {
        problems.push(`node ${n.id} (${n.op}) output ${i} is ${printType(have)}, but its shape rule gives ${want ? printType(want) : 'no output'}`);
      }
    });
  }
  return problems;
}

const typeOf = (g: Graph, id: number): TType => g.values[id]!.type;

/** The node's inputs by tensor argument name, as the elaborator laid them out (optional tensors flagged `has_<name>`). */
/** The node's inputs by argument name; up to `implicit` trailing inputs beyond the arguments' (a pass's, not the shape rule's) are allowed. */
function tensorArgs(n: Node, args: readonly { name: string; kind: string; default?: unknown }[], implicit = 0): Map<string, number | number[]> | undefined {
  const out = new Map<string, number | number[]>();
  let i = 0;
  for (const a of args) {
    if (a.kind === 'tensors') {
      out.set(a.name, n.inputs.slice(i));
      i = n.inputs.length;
      continue;
    }
    if (a.kind !== 'tensor') continue;
    if (a.default === null && !n.attrs[`has_${a.name}`]) continue;
    if (i >= n.inputs.length) return undefined;
    out.set(a.name, n.inputs[i++]!);
  }
  return i <= n.inputs.length && n.inputs.length - i <= implicit ? out : undefined;
}

function partitionProblems(p: SpmdProgram): string[] {
  const problems: string[] = [];
  const axes = new Set(p.mesh.axes.map((a) => a.name));
  p.local.values.forEach((v, id) => {
    const global = p.globalTypes[id];
    const layout = p.layouts[id];
    if (!global || !layout) {
      problems.push(`value ${id} has no global type or layout`);
      return;
    }
    for (const a of [...layout.axes.flat(), ...layout.partial]) if (!axes.has(a)) problems.push(`value ${id}'s layout names '${a}', not an axis of the mesh`);
    const want = localShape(p.mesh, shapeOf(global), layout);
    const have = v.type.dims.map((d) => dimValue(d));
    if (want.length !== have.length || want.some((x, i) => x !== have[i]))
      problems.push(`value ${id} is [${have.join(', ')}] on each device, but ${printType(global)} split by its layout is [${want.join(', ')}]`);
  });
  for (const n of p.local.nodes) {
    if ((COLLECTIVE_OPS as readonly string[]).includes(n.op) && !axes.has(n.attrs['axis'] as string))
      problems.push(`node ${n.id} (${n.op}) runs over '${String(n.attrs['axis'])}', not an axis of the mesh`);
  }
  return problems;
}

function fusedBodyProblems(g: Graph): string[] {
  const problems: string[] = [];
  for (const n of g.nodes) {
    const b = n.body;
    if (!b) continue;
    const where = `fused node ${n.id} (${b.kind})`;
    b.steps.forEach((s, i) => {
      for (const a of s.args) {
        if (a.k === 'input' && (a.i < 0 || a.i >= n.inputs.length)) problems.push(`${where} step ${i} reads input ${a.i} of ${n.inputs.length}`);
        if (a.k === 'step' && (a.i < 0 || a.i >= i)) problems.push(`${where} step ${i} reads step ${a.i}, which is not an earlier step`);
      }
    });
    if (b.outputs.length !== n.outputs.length) problems.push(`${where} has ${b.outputs.length} body outputs for ${n.outputs.length} node outputs`);
    for (const o of b.outputs) if (o < 0 || o >= b.steps.length) problems.push(`${where} returns step ${o} of ${b.steps.length}`);
    if (b.views && b.views.length > n.inputs.length) problems.push(`${where} has views for ${b.views.length} inputs but reads ${n.inputs.length}`);
    if (!b.steps.length) problems.push(`${where} has no steps`);
  }
  return problems;
}
