/**
 * A fused `rows` body (compiler/ir.ts `FusedBody`): reductions over the last axis with
 * the element-wise steps around them, one workgroup per row (the frame of rows.ts).
 *
 * The reductions are computed in phases: a reduction whose operand needs the result of
 * another one (layer norm's variance needs the mean) waits for it. Each phase is one
 * pass of the workgroup over the row, recomputing the element-wise steps its
 * reductions read from the inputs (so nothing but the outputs is written), then one
 * workgroup reduction per reduction of the phase. Per-row steps are computed once per
 * invocation after the phase that makes their operands; a last pass computes the
 * element-wise outputs and stores them, four elements at a time when the row allows.
 */
import { dimValue } from '../../../compiler/dims.js';
import type { FusedRef, FusedStep, Graph, Node } from '../../../compiler/ir.js';
import type { Block } from '../../kir/build.js';
import { f, type Expr, type Kernel } from '../../kir/ir.js';
import type { KernelTarget } from '../kernel.js';
import { storageScalar } from '../kernel.js';
import { combine, rowIdentity, rowKernel, rowOpOf } from '../rows.js';
import { broadcastInput, constant, coordLets, emitStep, outputDecl, wide, widen, type Width } from './body.js';
import { bodyName } from './elementwise.js';
import { numel } from '../../../layout/mesh.js';

export function fusedRowsKernel(node: Node, g: Graph, target: KernelTarget): Kernel {
  const body = node.body!;
  const domain = body.domain!;
  const r = domain.length;
  const len = domain[r - 1]!;
  const rows = numel(domain.slice(0, -1));
  const steps = body.steps;
  const isReduce = (s: FusedStep) => !!s.row && rowOpOf(s.op) !== undefined;

  // The phase after which each step can be computed: a reduction one past its operand's.
  const phase: number[] = [];
  steps.forEach((s, k) => {
    const dep = Math.max(0, ...s.args.map((a) => (a.k === 'step' ? phase[a.i]! : 0)));
    phase[k] = isReduce(s) ? dep + 1 : dep;
  });
  // A fold, not Math.max(...steps): a long fused chain would overflow the stack as arguments.
  const phases = steps.reduce((m, s, k) => (isReduce(s) ? Math.max(m, phase[k]!) : m), 0);
  const ops = steps.map((s) => s.op);

  return rowKernel(`fused_${bodyName(ops)}`, rows, len, 'f32', target, (fr) => {
    const w: Width = fr.width;
    const inputs = node.inputs.map((id, k) => broadcastInput(`in${k}`, g.values[id]!, domain, w));
    const refs = inputs.map((x) => fr.bind(x.decl));
    const outs = node.outputs.map((id, k) => {
      const row = !!steps[body.outputs[k]!]!.row;
      return { ref: fr.bind(outputDecl(g.values[id]!, k, node.outputs.length, row ? 1 : w)), row, step: body.outputs[k]! };
    });

    // The row's coordinates in the domain's leading dims, made at the top on first use.
    const rowCoord = coordLets(fr.b, fr.row, domain.slice(0, -1));

    // An input that does not vary along the row is read once per row, at the top: one element.
    const alongRow = node.inputs.map((id) => {
      const sh = g.values[id]!.type.dims;
      return sh.length > 0 && dimValue(sh[sh.length - 1]!) === len;
    });
    const rowLoads = new Map<number, Expr>();
    const rowInput = (i: number): Expr => {
      let v = rowLoads.get(i);
      if (!v) rowLoads.set(i, (v = fr.b.let(`b${i}`, refs[i]!.at(inputs[i]!.offset(rowCoord, fr.row)))));
      return v;
    };

    // Per-row values: the reductions' results and the steps computed from them, scalars.
    const rowVals = new Map<number, Expr>();
    const rowStep = (b: Block, k: number) => {
      const s = steps[k]!;
      const args = s.args.map((a) => {
        if (a.k === 'step') return rowVals.get(a.i)!;
        if (a.k === 'scalar') return constant(a.value, storageScalar(a.dtype));
        // An input of a per-row step does not vary along the row.
        return rowInput(a.i);
      });
      rowVals.set(k, emitStep(b, s, args, `s${k}`, 1));
    };
    const rowStepsOf = (p: number) =>
      steps.forEach((s, k) => {
        if (s.row && !isReduce(s) && phase[k] === p) rowStep(fr.b, k);
      });

    /** One pass over the row, `w` elements at a time: `use` gets each operand's value at the element, its steps computed on first use. */
    const pass = (use: (b: Block, value: (a: FusedRef) => Expr, at: Expr) => void) => {
      fr.each(fr.b, (b, at, j) => {
        const vals = new Map<number, Expr>();
        const loads = new Map<number, Expr>();
        const coord = (d: number) => (d === r - 1 ? j : rowCoord(d));
        const value = (a: FusedRef): Expr => {
          if (a.k === 'scalar') return constant(a.value, wide(storageScalar(a.dtype), w));
          if (a.k === 'input') {
            if (!alongRow[a.i]) return widen(rowInput(a.i), wide(storageScalar(g.values[node.inputs[a.i]!]!.type.dtype), w));
            let v = loads.get(a.i);
            if (!v) loads.set(a.i, (v = inputs[a.i]!.load(b, `a${a.i}`, inputs[a.i]!.offset(coord, at))));
            return v;
          }
          const s = steps[a.i]!;
          if (s.row) return widen(rowVals.get(a.i)!, wide(storageScalar(s.dtype), w));
          let v = vals.get(a.i);
          if (!v) vals.set(a.i, (v = emitStep(b, s, s.args.map(value), `v${a.i}`, w)));
          return v;
        };
        use(b, value, at);
      });
    };

    rowStepsOf(0);
    for (let p = 1; p <= phases; p++) {
      const reductions = steps.flatMap((s, k) => (isReduce(s) && phase[k] === p ? [k] : []));
      const accs = reductions.map((k) => fr.b.var(`acc${k}`, 'f32', rowIdentity(rowOpOf(steps[k]!.op)!, 'f32')));
      pass((b, value) => {
        reductions.forEach((k, q) => {
          const op = rowOpOf(steps[k]!.op)!;
          b.set(accs[q]!, combine(accs[q]!, fr.horizontal(b, value(steps[k]!.args[0]!), op), op));
        });
      });
      reductions.forEach((k, q) => {
        const all = fr.reduce(fr.b, accs[q]!, rowOpOf(steps[k]!.op)!);
        rowVals.set(k, steps[k]!.op === 'mean' ? fr.b.let(`s${k}`, all.div(f(len))) : all);
      });
      rowStepsOf(p);
    }

    const full = outs.filter((o) => !o.row);
    if (full.length)
      pass((b, value, at) => {
        for (const o of full) b.set(o.ref.at(at), value({ k: 'step', i: o.step }));
      });
    const perRow = outs.filter((o) => o.row);
    if (perRow.length)
      fr.once(fr.b, (b) => {
        for (const o of perRow) b.set(o.ref.at(fr.row), rowVals.get(o.step)!);
      });
  });
}
