import type { Graph } from '../compiler/ir.js';
import { PLAN_FORMAT, PLAN_VERSION, type Plan, type PlanBuffer, type PlanIO, type PlanKernel, type PlanStep } from '../runtime/plan.js';
import { KERNELS } from './kernels/index.js';
import { shapeOf, sizeOf, storageOf, type KernelSpec } from './kernels/kernel.js';

export interface PlanOptions {
  readonly seed?: number;
  readonly source?: string;
}

/**
 * Graph → runtime plan: a buffer per value (reshapes alias their input), a kernel per
 * node (identical WGSL shared), steps in topological order.
 */
export function buildPlan(g: Graph, opts: PlanOptions = {}): Plan {
  const bufferOf = new Map<number, number>();
  const buffers: PlanBuffer[] = [];
  const outputSet = new Set(g.outputs);
  const addBuffer = (valueId: number, role: PlanBuffer['role'], name: string) => {
    const v = g.values[valueId]!;
    const shape = shapeOf(v);
    const b: PlanBuffer = {
      id: buffers.length, name, role, type: storageOf(v), dtype: v.type.dtype, shape,
      bytes: Math.max(4, sizeOf(shape) * 4),
      ...(v.init ? { init: v.init } : {}),
      ...(v.scalar !== undefined ? { value: v.scalar } : {}),
    };
    buffers.push(b);
    bufferOf.set(valueId, b.id);
    return b.id;
  };
  for (const v of g.values) {
    if (v.kind === 'input') addBuffer(v.id, 'input', v.name!);
    else if (v.kind === 'param') addBuffer(v.id, 'param', v.name!);
    else if (v.kind === 'const') addBuffer(v.id, 'const', `const${v.id}`);
  }

  const kernels: PlanKernel[] = [];
  const kernelByText = new Map<string, number>();
  const steps: PlanStep[] = [];
  for (const n of g.nodes) {
    if (n.op === 'reshape') {
      bufferOf.set(n.outputs[0]!, bufferOf.get(n.inputs[0]!)!);
      continue;
    }
    for (const o of n.outputs) {
      const idx = g.outputs.indexOf(o);
      addBuffer(o, outputSet.has(o) ? 'output' : 'activation', idx >= 0 ? g.outputNames[idx]! : `${n.scope ? n.scope + '/' : ''}${n.op}${n.id}`);
    }
    const gen = KERNELS.get(n.op);
    if (!gen) throw new Error(`no kernel for op '${n.op}'`);
    const specs = gen(n, g);
    const list: readonly KernelSpec[] = Array.isArray(specs) ? specs : [specs as KernelSpec];
    for (const spec of list) {
      let kid = kernelByText.get(spec.wgsl);
      if (kid === undefined) {
        kid = kernels.length;
        kernelByText.set(spec.wgsl, kid);
        kernels.push({
          id: kid, name: spec.name, file: `k${String(kid).padStart(3, '0')}_${spec.name}.wgsl`, wgsl: spec.wgsl, entryPoint: 'main',
          workgroupSize: spec.workgroupSize,
          bindings: spec.bindings.map((b, i) => ({ binding: i, name: b.name, access: b.access, type: b.type })),
          uniforms: [],
        });
      }
      steps.push({
        kernel: kid, buffers: spec.bindings.map((b) => bufferOf.get(b.value)!), dispatch: spec.dispatch,
        op: n.op, scope: n.scope, line: n.span.line, col: n.span.col,
      });
    }
  }

  const maxOf = inputRanges(g);
  const io = (id: number, name: string): PlanIO => {
    const v = g.values[id]!;
    const max = maxOf.get(id);
    return { name, buffer: bufferOf.get(id)!, dtype: v.type.dtype, shape: shapeOf(v), ...(max !== undefined ? { max } : {}) };
  };
  return {
    format: PLAN_FORMAT, version: PLAN_VERSION, model: g.name, source: opts.source ?? '', seed: opts.seed ?? 0,
    buffers,
    inputs: g.inputs.map((id) => io(id, g.values[id]!.name!)),
    outputs: g.outputs.map((id, i) => io(id, g.outputNames[i]!)),
    kernels, steps,
  };
}

/** Integer inputs that index something (embedding ids, labels) get a valid range for random inputs. */
function inputRanges(g: Graph): Map<number, number> {
  const out = new Map<number, number>();
  const note = (id: number, n: number) => out.set(id, Math.min(out.get(id) ?? Infinity, n));
  for (const n of g.nodes) {
    if (n.op === 'embedding') note(n.inputs[1]!, shapeOf(g.values[n.inputs[0]!]!)[0]!);
    if (n.op === 'cross_entropy') { const s = shapeOf(g.values[n.inputs[0]!]!); note(n.inputs[1]!, s[s.length - 1]!); }
  }
  return out;
}
