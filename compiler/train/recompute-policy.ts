import { diag, type Diagnostic } from '../../diagnostics/messages.js';
import type { Span } from '../../diagnostics/span.js';
import type * as A from '../../grammar/ast.js';
import { RECOMPUTE_POLICIES, recomputeAnnotations } from '../annotations.js';
import type { Env } from '../bind.js';
import type { RecomputePolicy } from './recompute.js';

export interface RecomputeChoice {
  /** The model's recompute policy; undefined when nothing sets one (keep every activation). */
  readonly policy?: RecomputePolicy;
  /** Where the policy was written: the `@recompute(...)` argument or the train section's value. */
  readonly span?: Span;
  /** `memory_budget` in bytes (activations kept, whole model): given only with policy `auto`. */
  readonly budget?: number;
  readonly diagnostics: Diagnostic[];
}

/**
 * The recompute policy of `model`, from `@recompute(P)` on its layer stacks or from its
 * train section's `recompute = P` (both may be written if they agree), and the train
 * section's `memory_budget`, which only `auto` takes and `auto` needs. Diagnostics: an
 * invalid `recompute` or `memory_budget` value, a policy contradicting another, a budget
 * without `auto` and `auto` without a budget. Malformed `@recompute` annotations are
 * reported by compiler/annotations.ts and read here as absent.
 */
export function recomputePolicy(env: Env, model: string): RecomputeChoice {
  const ds: Diagnostic[] = [];
  const decl = env.models.get(model);
  const section = env.sections.find((s) => s.kind === 'train' && s.target.name === model);
  const entry = (k: string) => section?.entries.find((e) => e.name.name === k);

  let policy: RecomputePolicy | undefined;
  let span: Span | undefined;
  let text = '';
  for (const a of decl ? recomputeAnnotations(decl) : []) {
    const here = `@recompute(${a.policy})`;
    if (policy === undefined) {
      policy = a.policy;
      span = a.span;
      text = here;
    } else if (a.policy !== policy) ds.push(diag(env.file, a.span, 'MDC0134', here, text, span!.line));
  }

  let invalid = false;
  const re = entry('recompute');
  if (re) {
    const v = re.value.kind === 'str' ? re.value.value : re.value.kind === 'name' ? re.value.name : undefined;
    if (v === undefined || !(RECOMPUTE_POLICIES as readonly string[]).includes(v)) {
      ds.push(diag(env.file, re.value.span, 'MDC0503', 'recompute', '"none", "full", "selective" or "auto"'));
      invalid = true;
    } else if (policy === undefined) {
      policy = v as RecomputePolicy;
      span = re.value.span;
    } else if (v !== policy) ds.push(diag(env.file, re.value.span, 'MDC0134', `recompute = ${v}`, text, span!.line));
  }

  let budget: number | undefined;
  const be = entry('memory_budget');
  if (be) {
    budget = sizeOf(be.value, env);
    if (budget === undefined) ds.push(diag(env.file, be.value.span, 'MDC0503', 'memory_budget', 'a positive size, such as 16GiB'));
    else if (policy !== 'auto' && !invalid) ds.push(diag(env.file, be.name.span, 'MDC0508', policy ?? 'none (the default)'));
  } else if (policy === 'auto') {
    ds.push(diag(env.file, span!, 'MDC0503', 'memory_budget', 'given (bytes of activations kept, e.g. 60MiB) when recompute is "auto"'));
  }
  return {
    ...(policy !== undefined ? { policy, span: span! } : {}),
    ...(policy === 'auto' && budget !== undefined ? { budget } : {}),
    diagnostics: ds,
  };
}

/** A size in bytes: a literal such as `16GiB`, or a config constant defined by one. */
function sizeOf(e: A.Expr, env: Env): number | undefined {
  let bytes: number | undefined;
  if (e.kind === 'size') bytes = e.bytes;
  else if (e.kind === 'name' && env.constSpans.get(e.name)?.value.kind === 'size') {
    const c = env.consts.get(e.name);
    bytes = c?.kind === 'int' ? c.value : undefined;
  }
  return bytes !== undefined && bytes > 0 ? bytes : undefined;
}
