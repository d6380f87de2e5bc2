import { diag, didYouMean, type Diagnostic } from '../diagnostics/messages.js';
import type * as A from '../grammar/ast.js';
import { callsIn } from '../grammar/ast-text.js';
import { parse, type ParseResult } from '../grammar/parse.js';
import { bind, type BindOptions, type Env } from './bind.js';
import { Elaborator, type ElaborateOptions } from './elaborate.js';
import type { Graph } from './ir.js';
import { checkSettings } from './sections.js';
import { frozenParams } from './train/freeze.js';
import { applyLora } from './train/lora.js';
import { trainSettings } from './train/settings.js';

export interface FrontendOptions extends BindOptions {
  /** Which model to lower when a file has several; default: the last one. */
  readonly model?: string;
  /** Values for symbolic dims (`--dim S=64`); the model's `where` clause supplies the rest. */
  readonly dims?: Readonly<Record<string, number>>;
  readonly training?: boolean;
  /**
   * `check` also elaborates every model at its concrete dims (default true). The
   * pipeline turns this off: lowering elaborates the chosen model at those dims anyway,
   * so each model is elaborated once symbolically and once concretely, never more.
   */
  readonly concrete?: boolean;
  /** Told every value `check` elaborates, with its syntax node (the language server's index). */
  readonly observe?: ElaborateOptions['observe'];
}

export interface CheckResult {
  readonly parsed: ParseResult;
  readonly env?: Env;
  readonly diagnostics: readonly Diagnostic[];
}

export interface LowerResult extends CheckResult {
  readonly graph?: Graph;
}

/**
 * `mdc check`: parse → bind → elaborate every model with symbolic dims (and every block
 * no model reaches on its own), then each model again at its concrete dims.
 */
export function check(source: string, file: string, opts: FrontendOptions = {}): CheckResult {
  const parsed = parse(source, file);
  if (parsed.diagnostics.length) return { parsed, diagnostics: parsed.diagnostics };
  const { env, diagnostics } = bind(parsed.program, opts);
  const ds = [...diagnostics];
  const reached = new Set<string>();
  for (const m of env.models.values()) {
    new Elaborator(env, ds, { unroll: false, observe: opts.observe }).model(m);
    collectCalls(m, env, reached);
  }
  for (const b of env.blocks.values()) if (!reached.has(b.name.name)) new Elaborator(env, ds, { unroll: false, observe: opts.observe }).blockAlone(b);
  if (!ds.length && opts.concrete !== false) {
    for (const m of env.models.values()) {
      new Elaborator(env, ds, { unroll: false, dims: concreteDims(opts), requireConcrete: false, observe: opts.observe }).model(m);
    }
  }
  ds.push(...checkSettings(env));
  if (!ds.length && opts.concrete !== false) ds.push(...paramPatternProblems(env, file, opts));
  return { parsed, env, diagnostics: sortDiagnostics(dedupe(ds)) };
}

/**
 * `freeze` and `train_also` globs name parameters as the lowered model has them (repeat
 * copies numbered, `@lora` adapters added), which the checks above never build. So for a
 * train section that has such patterns, `mdc check` lowers its model once more and matches
 * them as the training step does (train/freeze.ts: MDC0530, MDC0531, MDC0503). A model that
 * does not lower here (dims left symbolic) or whose adapters are refused is left to
 * `mdc train`, which reports why. The pipeline skips this: its training step runs the same match.
 */
function paramPatternProblems(env: Env, file: string, opts: FrontendOptions): Diagnostic[] {
  const out: Diagnostic[] = [];
  for (const model of env.models.keys()) {
    if (!env.sections.some((s) => s.kind === 'train' && s.target.name === model)) continue;
    const settings = trainSettings(env, model).settings;
    if (!settings?.freeze?.length && !settings?.trainAlso?.length) continue;
    const forward = lowerModel(env, file, { ...opts, model, training: true }).graph;
    const adapted = forward && (settings.lora?.length ? applyLora(forward, settings.lora, file) : { graph: forward, adapters: new Set<string>() });
    if (!adapted?.graph) continue;
    out.push(...frozenParams(adapted.graph, settings.freeze ?? [], settings.trainAlso ?? [], adapted.adapters, file).diagnostics);
  }
  return out;
}

/** Front end for codegen: check, then lower the chosen model at concrete dims with repeats unrolled. */
export function lower(source: string, file: string, opts: FrontendOptions = {}): LowerResult {
  const checked = check(source, file, { ...opts, concrete: false });
  if (checked.diagnostics.length || !checked.env) return checked;
  return { ...checked, ...lowerModel(checked.env, file, opts) };
}

/** The lower stage: the chosen model (default: the last one) of a checked program as a graph at concrete dims, repeats unrolled. */
export function lowerModel(env: Env, file: string, opts: FrontendOptions = {}): { graph?: Graph; diagnostics: Diagnostic[] } {
  const models = [...env.models.values()];
  const span = { start: 0, end: 0, line: 1, col: 1, endLine: 1, endCol: 1 };
  if (!models.length) return { diagnostics: [diag(file, span, 'MDC0112')] };
  const model = opts.model ? env.models.get(opts.model) : models[models.length - 1];
  if (!model) return { diagnostics: [diag(file, span, 'MDC0127', opts.model!, didYouMean(opts.model!, env.models.keys()))] };
  const ds: Diagnostic[] = [];
  const graph = new Elaborator(env, ds, { unroll: true, dims: concreteDims(opts), requireConcrete: true, training: !!opts.training }).model(model);
  return { diagnostics: sortDiagnostics(dedupe(ds)), ...(graph && !ds.length ? { graph } : {}) };
}

function concreteDims(opts: FrontendOptions): Map<string, number> {
  return new Map(Object.entries(opts.dims ?? {}));
}

/** Worklist, not recursion: a chain of thousands of blocks must not exhaust the stack. */
function collectCalls(f: A.FunctionDecl, env: Env, into: Set<string>) {
  const work = [f];
  for (let g = work.pop(); g; g = work.pop()) {
    for (const c of callsIn(g)) {
      const b = env.blocks.get(c.callee.name);
      if (b && !into.has(b.name.name)) {
        into.add(b.name.name);
        work.push(b);
      }
    }
  }
}

function dedupe(ds: Diagnostic[]): Diagnostic[] {
  const seen = new Set<string>();
  return ds.filter((d) => {
    const k = `${d.span.start}:${d.code}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

export function sortDiagnostics(ds: Diagnostic[]): Diagnostic[] {
  return [...ds].sort((a, b) => a.span.start - b.span.start || a.code.localeCompare(b.code));
}
