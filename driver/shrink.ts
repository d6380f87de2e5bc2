/**
 * The record a host module carries of its model's symbolic dims (runtime/dynamic-sizes.ts):
 * which input and output axes each dim is, the size it was compiled at, and whether a run
 * may ask for less (compiler/shrink.ts decides on the model elaborated with its dims left
 * symbolic).
 */
import { Elaborator } from '../compiler/elaborate.js';
import { shrinkableDims } from '../compiler/shrink.js';
import type { Diagnostic } from '../diagnostics/messages.js';
import type { SizeDim } from '../runtime/dynamic-sizes.js';
import type { Compiled } from './compile.js';

/**
 * The dims of a compiled forward pass; none for a training step (a loss averages over the
 * batch, so no dim may shrink) or a compile that made no plan.
 */
export function sizeDims(c: Pick<Compiled, 'checked' | 'forward' | 'plan' | 'settings'>): SizeDim[] {
  const env = c.checked.env;
  const decl = c.forward && env?.models.get(c.forward.name);
  if (!c.plan || !env || !decl || c.settings) return [];
  const ds: Diagnostic[] = [];
  const g = new Elaborator(env, ds, { unroll: false }).model(decl);
  // The model checked with symbolic dims before it was lowered, so this elaborates again without error.
  if (!g || ds.length) return [];
  const plan = c.plan;
  // A partitioned plan's shapes are each device's blocks, and it runs on MeshRunner rather than a host model.
  const partitioned = [...plan.inputs, ...plan.outputs].some((io) => io.global);
  const out: SizeDim[] = [];
  for (const d of shrinkableDims(g, env.file)) {
    const sizes = [
      ...Object.entries(d.inputs).flatMap(([n, axes]) => axes.map((a) => plan.inputs.find((io) => io.name === n)?.shape[a])),
      ...Object.entries(d.outputs).flatMap(([n, axes]) => axes.map((a) => plan.outputs.find((io) => io.name === n)?.shape[a])),
    ];
    const compiled = sizes[0];
    // A dim the plan's shapes do not show at one size is recorded as fixed.
    if (partitioned) out.push({ ...d, compiled: compiled ?? 0, fixed: d.fixed ?? "the plan is partitioned: its shapes are one device's blocks" });
    else if (compiled === undefined || sizes.some((s) => s !== compiled)) {
      out.push({ ...d, compiled: compiled ?? 0, fixed: d.fixed ?? `the plan's shapes do not give ${d.name} one size` });
    } else out.push({ ...d, compiled });
  }
  return out;
}
