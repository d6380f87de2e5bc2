import { diag, type Diagnostic } from '../diagnostics/messages.js';
import type * as A from '../grammar/ast.js';
import { checkAnnotations } from './annotations.js';
import type { Env } from './bind.js';
import { inferSettings } from './infer/settings.js';
import { recomputePolicy } from './train/recompute-policy.js';
import { trainSettings } from './train/settings.js';

/**
 * What `mdc check` verifies beyond names, shapes, dtypes and layouts: every annotation
 * (compiler/annotations.ts) and every train and infer section. Anything these accept has
 * its effect; the rest is refused here with a located diagnostic, never parsed and ignored:
 * - a model has at most one train and one infer section, each setting given once;
 * - a train section's settings are read as `mdc train` reads them (train/settings.ts):
 *   values, the optimizer, the recompute policy and its budget, and the loss, which must
 *   name an output of the model (a float scalar when it is the loss itself);
 * - an infer section's values are read as `mdc generate` reads them (infer/settings.ts).
 * Setting names and the models sections name were checked by bind.
 */
export function checkSettings(env: Env): Diagnostic[] {
  const ds = checkAnnotations(env);
  const first = new Map<string, A.SectionDecl>();
  for (const s of env.sections) {
    const key = `${s.kind}:${s.target.name}`;
    const prev = first.get(key);
    if (prev) {
      ds.push(diag(env.file, s.target.span, 'MDC0102', `${s.kind} section for`, s.target.name, prev.target.span.line));
      continue;
    }
    first.set(key, s);
    const seen = new Map<string, A.Entry>();
    for (const e of s.entries) {
      const p = seen.get(e.name.name);
      if (p) ds.push(diag(env.file, e.name.span, 'MDC0102', `${s.kind} setting`, e.name.name, p.name.span.line));
      else seen.set(e.name.name, e);
    }
    if (s.kind === 'infer' && env.models.has(s.target.name)) ds.push(...inferSettings(env, s.target.name).diagnostics);
  }
  for (const m of env.models.keys()) {
    // trainSettings reads the recompute policy too; a model without a train section may still set one with @recompute.
    ds.push(...(first.has(`train:${m}`) ? trainSettings(env, m).diagnostics : recomputePolicy(env, m).diagnostics));
  }
  return ds;
}
