import { diag, type Diagnostic } from '../../diagnostics/messages.js';
import type { Span } from '../../diagnostics/span.js';
import type { Env } from '../bind.js';

/**
 * A param written with `@offload(host)`: its optimizer state and update live on the host.
 * `block` is the block declaring it (undefined: the model itself); lowering names its
 * copies `<scope>.<param>`, where the scope's last part is the block's call name
 * (`Block`, `Block_2` for the third call) or a repeat index after it (`Block.3`).
 */
export interface OffloadTarget {
  readonly block?: string;
  readonly param: string;
  /** The annotation, for diagnostics. */
  readonly span: Span;
}

/**
 * The `@offload(host)` params of `model` and of every block (a block param matches only
 * the copies lowering makes of it, so unused blocks cost nothing). Misplaced or malformed
 * annotations are reported by compiler/annotations.ts and read here as absent.
 */
export function offloadTargets(env: Env, model: string): OffloadTarget[] {
  const out: OffloadTarget[] = [];
  const decl = env.models.get(model);
  for (const f of [...(decl ? [decl] : []), ...env.blocks.values()]) {
    for (const s of f.body) {
      if (s.kind !== 'param') continue;
      const a = s.annotations.find((x) => x.name.name === 'offload');
      const arg = a?.args.length === 1 && !a.args[0]!.name ? a.args[0]!.value : undefined;
      const host = arg && ((arg.kind === 'name' && arg.name === 'host') || (arg.kind === 'str' && arg.value === 'host'));
      if (a && host) out.push({ ...(f.kind === 'block' ? { block: f.name.name } : {}), param: s.name.name, span: a.span });
    }
  }
  return out;
}

/** The target a lowered parameter name (`Layer.3.Mlp.w`) comes from, if any. */
export function offloadTargetOf(targets: readonly OffloadTarget[], name: string): OffloadTarget | undefined {
  const parts = name.split('.');
  const last = parts[parts.length - 1];
  return targets.find((t) => {
    if (t.param !== last) return false;
    if (t.block === undefined) return parts.length === 1;
    const scope = parts[parts.length - 2];
    const call = /^\d+$/.test(scope ?? '') ? parts[parts.length - 3] : scope;
    return call === t.block || (call !== undefined && new RegExp(`^${t.block}_\\d+$`).test(call));
  });
}

/**
 * Host offload keeps f32 state and updates whole parameters: refused with mixed precision
 * and with ZeRO-3 (MDC0136, MDC0139 at each @offload; trainSettings checks the train section,
 * trainingGraph the settings it is given, which flags may have changed).
 */
export function offloadConflicts(file: string, offload: readonly OffloadTarget[], precision: string | undefined, zero: number | undefined): Diagnostic[] {
  const ds: Diagnostic[] = [];
  for (const t of offload) {
    if (precision && precision !== 'f32') ds.push(diag(file, t.span, 'MDC0136', precision));
    if (zero === 3) ds.push(diag(file, t.span, 'MDC0139'));
  }
  return ds;
}
