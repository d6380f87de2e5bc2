import { diag, type Diagnostic } from '../../diagnostics/messages.js';
import type { Span } from '../../diagnostics/span.js';
import type { Graph } from '../ir.js';
import { isFloat } from '../types.js';

/** One glob of `freeze = [...]` or `train_also = [...]`, where the train section wrote it. */
export interface ParamPattern {
  readonly pattern: string;
  readonly span: Span;
}

/**
 * A glob over parameters' dotted names as the graph has them (`Layer.0.Attention.wq`):
 * `*` stands for any run of characters within one dotted segment, `**` for any run
 * across segments, `?` for one character; everything else is itself.
 */
export function globMatcher(pattern: string): (name: string) => boolean {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i]!;
    if (ch === '*' && pattern[i + 1] === '*') {
      re += '.*';
      i++;
    } else if (ch === '*') re += '[^.]*';
    else if (ch === '?') re += '[^.]';
    else re += ch.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  const rx = new RegExp(`^${re}$`);
  return (name) => rx.test(name);
}

/**
 * Which parameters of a training step's loss graph get no gradient, no optimizer state and
 * no update:
 * - with LoRA adapters in the graph (`adapters`, from train/lora.ts), every parameter but
 *   the adapters and those `train_also` names (norm gains, a task head);
 * - then whatever `freeze` names.
 * A pattern that matches no parameter is MDC0530 (a misspelt pattern must not silently
 * freeze nothing), freezing every parameter MDC0531. `names`: the float parameters' names to
 * match when they are not `g`'s own (train/fine-tune.ts: a one-layer copy standing for its stack).
 */
export function frozenParams(
  g: Graph,
  freeze: readonly ParamPattern[],
  trainAlso: readonly ParamPattern[],
  adapters: ReadonlySet<string>,
  file: string,
  names: readonly string[] = g.values.filter((v) => v.kind === 'param' && isFloat(v.type.dtype)).map((v) => v.name!),
): { frozen: Set<string>; diagnostics: Diagnostic[] } {
  const ds: Diagnostic[] = [];
  const matched = (key: string, ps: readonly ParamPattern[]): Set<string> => {
    const out = new Set<string>();
    for (const p of ps) {
      const m = globMatcher(p.pattern);
      const hits = names.filter(m);
      if (!hits.length) ds.push(diag(file, p.span, 'MDC0530', key, p.pattern, g.name, hint(p.pattern, names)));
      hits.forEach((n) => out.add(n));
    }
    return out;
  };
  if (trainAlso.length && !adapters.size)
    ds.push(
      diag(file, trainAlso[0]!.span, 'MDC0503', 'train_also', 'given only with @lora adapters in the model (without them every parameter not frozen trains)'),
    );
  const also = matched('train_also', trainAlso);
  const frozen = matched('freeze', freeze);
  if (adapters.size) for (const n of names) if (!adapters.has(n) && !also.has(n)) frozen.add(n);
  if (!ds.length && names.length && names.every((n) => frozen.has(n))) {
    const at = freeze[0]?.span ?? trainAlso[0]?.span;
    const span = at ?? g.nodes[0]?.span ?? { start: 0, end: 0, line: 1, col: 1, endLine: 1, endCol: 1 };
    ds.push(diag(file, span, 'MDC0531', g.name, `the freeze patterns cover all ${names.length} parameters${adapters.size ? ', the @lora adapters too' : ''}`));
  }
  return { frozen, diagnostics: ds };
}

/** The parameters a misspelt pattern most likely meant: those sharing its last literal segment, else the first few. */
function hint(pattern: string, names: readonly string[]): string {
  const last = pattern.split('.').at(-1)!.replace(/[*?]/g, '');
  const near = last ? names.filter((n) => n.split('.').at(-1)!.includes(last) || last.includes(n.split('.').at(-1)!)) : [];
  const show = (near.length ? near : names).slice(0, 4);
  return show.length ? ` (parameters include ${show.join(', ')}${names.length > show.length ? ', …' : ''})` : ' (it has no parameters)';
}
