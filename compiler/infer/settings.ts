import { diag, type Diagnostic } from '../../diagnostics/messages.js';
import type * as A from '../../grammar/ast.js';
import type { Env } from '../bind.js';

/**
 * A model's `infer` section, read into typed settings (`mdc generate`'s flags override the
 * sampling ones):
 *
 *     infer GPT2 { max_seq = 128; batch = 1; cache = kv; seq = S; temperature = 0.8; top_k = 40 }
 *
 * - `max_seq`: the KV cache's length, prompt and generated tokens together (default: the
 *   value the model's `where` clause gives the sequence dim);
 * - `batch`: sequences decoded together (default: the `where` clause's batch dim, B);
 * - `cache = kv`: the only cache there is (keys and values of every causal attention);
 * - `seq`: the name of the model's sequence dim (default S);
 * - `max_new_tokens`, `temperature`, `top_k`, `top_p`, `seed`: generation's defaults.
 */
export interface InferSettings {
  readonly maxSeq?: number;
  readonly batch?: number;
  readonly seq: string;
  readonly maxNewTokens?: number;
  readonly temperature?: number;
  readonly topK?: number;
  readonly topP?: number;
  readonly seed?: number;
  /** The section's span (its model name), for diagnostics about the model as a whole. */
  readonly span?: A.SectionDecl['target']['span'];
}

export const INFER_SETTINGS = ['max_seq', 'batch', 'cache', 'seq', 'max_new_tokens', 'temperature', 'top_k', 'top_p', 'seed'] as const;

/** The infer section of `model` (settings absent when it has none), with a diagnostic per value out of range. */
export function inferSettings(env: Env, model: string): { settings: InferSettings; diagnostics: Diagnostic[] } {
  const section = env.sections.find((s) => s.kind === 'infer' && s.target.name === model);
  const ds: Diagnostic[] = [];
  const out: { -readonly [K in keyof InferSettings]: InferSettings[K] } = { seq: 'S', ...(section ? { span: section.target.span } : {}) };
  for (const e of section?.entries ?? []) {
    const key = e.name.name;
    const bad = (want: string) => ds.push(diag(env.file, e.value.span, 'MDC0510', key, want));
    const name = e.value.kind === 'name' ? e.value.name : undefined;
    const v = constant(e.value, env);
    const int = (min: number) => (v !== undefined && Number.isInteger(v) && v >= min ? v : undefined);
    switch (key) {
      case 'cache':
        if (name !== 'kv') bad('kv (the keys and values of every causal attention)');
        break;
      case 'seq':
        if (!name || env.consts.has(name)) bad('the name of the model’s sequence dim, e.g. S');
        else out.seq = name;
        break;
      case 'max_seq':
      case 'batch':
      case 'max_new_tokens': {
        const n = int(1);
        if (n === undefined) bad('a positive integer');
        else if (key === 'max_seq') out.maxSeq = n;
        else if (key === 'batch') out.batch = n;
        else out.maxNewTokens = n;
        break;
      }
      case 'top_k': {
        const n = int(0);
        if (n === undefined) bad('a non-negative integer (0: no top-k cut)');
        else out.topK = n;
        break;
      }
      case 'seed': {
        const n = int(0);
        if (n === undefined) bad('a non-negative integer');
        else out.seed = n;
        break;
      }
      case 'temperature':
        if (v === undefined || !(v >= 0)) bad('a non-negative number (0: greedy)');
        else out.temperature = v;
        break;
      case 'top_p':
        if (v === undefined || !(v > 0 && v <= 1)) bad('a number in (0, 1]');
        else out.topP = v;
        break;
    }
  }
  return { settings: out, diagnostics: ds };
}

function constant(e: A.Expr, env: Env): number | undefined {
  if (e.kind === 'num') return e.value;
  if (e.kind === 'unary' && e.operand.kind === 'num') return -e.operand.value;
  if (e.kind === 'name') {
    const c = env.consts.get(e.name);
    return c && (c.kind === 'int' || c.kind === 'num') ? c.value : undefined;
  }
  return undefined;
}
