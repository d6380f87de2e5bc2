import { diag, didYouMean, type Code, type Diagnostic, type messages } from '../diagnostics/messages.js';
import type { Span } from '../diagnostics/span.js';
import type * as A from '../grammar/ast.js';
import { arith, type Env } from './bind.js';
import { exprText } from '../grammar/ast-text.js';
import type { RecomputePolicy } from './train/recompute.js';

/**
 * Annotations on `param` and `let` statements: each one is checked for its argument names,
 * its values and its place, then either has its effect or is refused, never ignored:
 * - `@recompute(none | full | selective | auto)` on a model's let (or assignment) of a
 *   `repeat(...)` layer stack sets that model's recompute policy, as a train section's
 *   `recompute = ...` does (train/recompute-policy.ts reads it);
 * - `@pipeline(stages = N, axis = pp, layers = [...])` (same place) cuts that stack into
 *   pipeline stages over the mesh axis (compiler/pipeline reads pipelineAnnotation);
 * - `@offload(host)` on a param puts its optimizer state and update on the host when
 *   training (train/offload.ts reads it);
 * - `@lora(rank = r, alpha = a)` on a param adds low-rank adapters to it when training (train/lora.ts);
 * - `@expert(axis)` (on a param) and `@shard(...)` are validated, then refused: not supported yet.
 */

export const RECOMPUTE_POLICIES: readonly RecomputePolicy[] = ['none', 'full', 'selective', 'auto'];
const POLICY_LIST = 'none, full, selective or auto';
const LAYER_STACK = "a model's let (or assignment) of a repeat(...) layer stack, e.g. h = repeat(layers) Layer(h)";

type Stmt = A.ParamStmt | A.LetStmt;

/** Every annotation in the program's blocks and models, checked. */
export function checkAnnotations(env: Env): Diagnostic[] {
  const ds: Diagnostic[] = [];
  const err = <C extends Code>(span: Span, code: C, ...args: Parameters<(typeof messages)[C]>) => {
    ds.push(diag(env.file, span, code, ...args));
  };
  for (const f of [...env.blocks.values(), ...env.models.values()]) {
    for (const s of f.body) {
      if (s.kind === 'return') continue;
      const seen = new Map<string, A.Annotation>();
      for (const a of s.annotations) {
        const prev = seen.get(a.name.name);
        if (prev) {
          err(a.span, 'MDC0102', 'annotation', `@${a.name.name}`, prev.span.line);
          continue;
        }
        seen.set(a.name.name, a);
        checkOne(env, f, s, a, err);
      }
    }
  }
  return ds;
}

type Err = <C extends Code>(span: Span, code: C, ...args: Parameters<(typeof messages)[C]>) => void;

function checkOne(env: Env, f: A.FunctionDecl, s: Stmt, a: A.Annotation, err: Err) {
  const name = a.name.name;
  const here = placeText(f, s);
  switch (name) {
    case 'recompute': {
      const placed = onLayerStack(f, s);
      if (!placed) err(a.span, 'MDC0133', name, here, LAYER_STACK);
      // The policy itself takes effect through recomputePolicy (train/recompute-policy.ts).
      recomputeArg(a, err);
      return;
    }
    case 'pipeline': {
      const placed = onLayerStack(f, s);
      if (!placed) err(a.span, 'MDC0133', name, here, LAYER_STACK);
      const args = pipelineArgs(env, s, a, err);
      // One pipelined stack per model: the stages cut one sequence of layers.
      const first = f.body.find((o) => {
        const p = o.kind !== 'return' && onLayerStack(f, o) ? o.annotations.find((x) => x.name.name === 'pipeline') : undefined;
        return p && o.kind !== 'return' && pipelineArgs(env, o, p);
      });
      if (placed && args && first && first !== s) err(a.span, 'MDC0135', `a model pipelines one layer stack, and line ${first.span.line} already does`);
      return;
    }
    case 'offload': {
      const placed = s.kind === 'param';
      if (!placed) err(a.span, 'MDC0133', name, here, 'a param (its weights would live in host memory)');
      const arg = single(a, 'host', '@offload(host)', err);
      if (arg && !(arg.value.kind === 'name' && arg.value.name === 'host') && !(arg.value.kind === 'str' && arg.value.value === 'host')) {
        err(arg.value.span, 'MDC0132', name, 'host (the only place a parameter can be offloaded to)', shown(arg.value));
      }
      // Training reads it (train/offload.ts): the param's optimizer state and update move to the host.
      return;
    }
    case 'expert': {
      const placed = s.kind === 'param';
      if (!placed) err(a.span, 'MDC0133', name, here, 'a param holding expert weights');
      const arg = single(a, 'a mesh axis', '@expert(ep)', err);
      let axis: string | undefined;
      if (arg) {
        if (arg.value.kind !== 'name') err(arg.value.span, 'MDC0132', name, 'a mesh axis, as in @expert(ep)', shown(arg.value));
        else if (!env.meshAxes.has(arg.value.name)) err(arg.value.span, 'MDC0403', arg.value.name, meshHint(env, arg.value.name));
        else axis = arg.value.name;
      }
      if (placed && axis !== undefined) err(a.span, 'MDC0137', axis);
      return;
    }
    case 'lora': {
      if (s.kind !== 'param') err(a.span, 'MDC0133', name, here, 'a param of a 2-D weight read by matmuls, e.g. param wq: f32[d, d] @lora(rank = 4)');
      // The adapters themselves are made when training (train/lora.ts), which checks the weight's uses.
      loraArgs(env, a, err);
      return;
    }
    case 'shard':
      // A layout has one way to be written, in the type; there is nothing to check in @shard's arguments.
      err(a.span, 'MDC0138');
      return;
    default:
      // The lexer only makes annotations of the six names above.
      err(a.name.span, 'MDC0117', name);
  }
}

/** The policy of a well-formed `@recompute(P)` (P a bare name or a string); errors for anything else. */
function recomputeArg(a: A.Annotation, err?: Err): { policy: RecomputePolicy; span: Span } | undefined {
  const arg = single(a, `a policy, one of ${POLICY_LIST}`, '@recompute(selective)', err);
  if (!arg) return undefined;
  const v = arg.value.kind === 'name' ? arg.value.name : arg.value.kind === 'str' ? arg.value.value : undefined;
  if (v === undefined || !(RECOMPUTE_POLICIES as readonly string[]).includes(v)) {
    err?.(arg.value.span, 'MDC0132', 'recompute', `a policy, one of ${POLICY_LIST}`, shown(arg.value));
    return undefined;
  }
  return { policy: v as RecomputePolicy, span: arg.value.span };
}

/** One positional argument (`expected`, as in `example`), no keyword: what @recompute, @offload and @expert take. */
function single(a: A.Annotation, expected: string, example: string, err?: Err): A.Arg | undefined {
  let ok = true;
  for (const x of a.args) {
    if (x.name) {
      err?.(x.name.span, 'MDC0131', a.name.name, `argument '${x.name.name}'`, `${expected}, as in ${example}`);
      ok = false;
    }
  }
  if (!ok) return undefined;
  if (a.args.length === 0) {
    err?.(a.span, 'MDC0132', a.name.name, `${expected}, as in ${example}`, 'nothing');
    return undefined;
  }
  if (a.args.length > 1) {
    err?.(a.args[1]!.span, 'MDC0132', a.name.name, 'one argument', String(a.args.length));
    return undefined;
  }
  return a.args[0];
}

/** A well-formed `@lora(rank = r, alpha = a)`: the adapters' rank and their scale's numerator (the update is (alpha / rank)·A·B). */
export interface LoraAnnotation {
  readonly rank: number;
  readonly alpha: number;
  readonly span: Span;
}

const LORA_ARGS = 'rank = r (a positive integer) and optionally alpha = a (a positive number; default r)';

/** `@lora(rank = r, alpha = a)` of a param statement, undefined when it has none or a malformed one (checkAnnotations reports that). */
export function loraAnnotation(env: Env, s: A.ParamStmt): LoraAnnotation | undefined {
  const a = s.annotations.find((x) => x.name.name === 'lora');
  const args = a && loraArgs(env, a);
  return a && args ? { ...args, span: a.span } : undefined;
}

function loraArgs(env: Env, a: A.Annotation, err?: Err): { rank: number; alpha: number } | undefined {
  const got = new Map<string, A.Arg>();
  let ok = true;
  for (const x of a.args) {
    if (!x.name || !['rank', 'alpha'].includes(x.name.name)) {
      err?.(x.name?.span ?? x.span, 'MDC0131', 'lora', x.name ? `argument '${x.name.name}'` : 'positional argument', LORA_ARGS);
      ok = false;
    } else if (got.has(x.name.name)) {
      err?.(x.name.span, 'MDC0106', x.name.name);
      ok = false;
    } else got.set(x.name.name, x);
  }
  if (!ok) return undefined;
  const r = got.get('rank');
  if (!r) {
    err?.(a.span, 'MDC0132', 'lora', LORA_ARGS, 'no rank');
    return undefined;
  }
  const rank = constInt(r.value, env);
  if (rank === undefined || rank < 1) {
    err?.(r.value.span, 'MDC0132', 'lora', 'rank = r, a positive integer constant', shown(r.value));
    return undefined;
  }
  const al = got.get('alpha');
  const alpha = al ? constNum(al.value, env)?.value : rank;
  if (alpha === undefined || !(alpha > 0)) {
    err?.(al!.value.span, 'MDC0132', 'lora', 'alpha = a, a positive number constant', shown(al!.value));
    return undefined;
  }
  return { rank, alpha };
}

/** A well-formed `@pipeline(...)`: what the driver's pipeline split reads (compiler/pipeline). */
export interface PipelineAnnotation {
  /** Pipeline stages the layer stack is cut into (ranks × chunks per rank). */
  readonly stages: number;
  /** The mesh axis the stages are laid along (default `pp`). */
  readonly axis: string;
  /** Layers per stage, when given explicitly (they sum to the stack's layer count); else balanced by cost. */
  readonly layers?: readonly number[];
  /** The block the stack repeats: its layers' scopes are `<block>.<i>`. */
  readonly block: string;
  readonly span: Span;
}

const PIPELINE_ARGS = 'stages = N, and optionally axis = pp and layers = [n1, n2, ...] (layers per stage)';

/**
 * `@pipeline(stages = N, axis = A, layers = [...])`: N a positive integer constant; A a bare
 * name (default pp); layers a list of N positive integer constants summing to the stack's
 * layer count.
 */
function pipelineArgs(env: Env, s: Stmt, a: A.Annotation, err?: Err): Omit<PipelineAnnotation, 'block' | 'span'> | undefined {
  let ok = true;
  const got = new Map<string, A.Arg>();
  for (const x of a.args) {
    if (!x.name) {
      err?.(x.span, 'MDC0131', 'pipeline', 'positional argument', PIPELINE_ARGS);
      ok = false;
    } else if (!['stages', 'axis', 'layers'].includes(x.name.name)) {
      err?.(x.name.span, 'MDC0131', 'pipeline', `argument '${x.name.name}'`, PIPELINE_ARGS);
      ok = false;
    } else if (got.has(x.name.name)) {
      err?.(x.name.span, 'MDC0106', x.name.name);
      ok = false;
    } else got.set(x.name.name, x);
  }
  if (!ok) return undefined;
  const stages = got.get('stages');
  if (!stages) {
    err?.(a.span, 'MDC0132', 'pipeline', PIPELINE_ARGS, 'no stages');
    return undefined;
  }
  const n = constInt(stages.value, env);
  if (n === undefined || n < 1) {
    err?.(stages.value.span, 'MDC0132', 'pipeline', 'stages = N, a positive integer constant', n === undefined ? shown(stages.value) : String(n));
    return undefined;
  }
  // More stages than layers is refused where it matters, when a mesh pipelines the stack
  // (driver/pipeline.ts): without one, `--set layers=1` on a pipelined sample still runs.
  const count = s.kind === 'let' && s.value.kind === 'repeat' ? constInt(s.value.count, env) : undefined;
  let axis = 'pp';
  const ax = got.get('axis');
  if (ax) {
    if (ax.value.kind !== 'name') {
      err?.(ax.value.span, 'MDC0132', 'pipeline', 'axis = a mesh axis name, as in axis = pp', shown(ax.value));
      return undefined;
    }
    axis = ax.value.name;
  }
  const ls = got.get('layers');
  let layers: number[] | undefined;
  if (ls) {
    const items = ls.value.kind === 'list' ? ls.value.items.map((e) => constInt(e, env)) : undefined;
    if (!items || items.some((k) => k === undefined || k < 1)) {
      err?.(ls.value.span, 'MDC0132', 'pipeline', 'layers = [n1, n2, ...], a positive integer constant per stage', shown(ls.value));
      return undefined;
    }
    layers = items as number[];
    if (layers.length !== n) {
      err?.(ls.value.span, 'MDC0132', 'pipeline', `one layer count per stage (${n})`, `${layers.length}`);
      return undefined;
    }
    const sum = layers.reduce((x, y) => x + y, 0);
    if (count !== undefined && sum !== count) {
      err?.(ls.value.span, 'MDC0132', 'pipeline', `layer counts summing to the stack's ${count} layers`, `a sum of ${sum}`);
      return undefined;
    }
  }
  return { stages: n, axis, ...(layers ? { layers } : {}) };
}

/**
 * The model's pipelined layer stack: its well-formed `@pipeline(...)`, or undefined when
 * it has none (a malformed or misplaced one is reported by checkAnnotations).
 */
export function pipelineAnnotation(env: Env, model: A.FunctionDecl): PipelineAnnotation | undefined {
  for (const s of model.body) {
    if (s.kind === 'return' || !onLayerStack(model, s) || s.kind !== 'let' || s.value.kind !== 'repeat') continue;
    const a = s.annotations.find((x) => x.name.name === 'pipeline');
    const args = a && pipelineArgs(env, s, a);
    if (args) return { ...args, block: s.value.call.callee.name, span: a.span };
  }
  return undefined;
}

/**
 * The `@recompute` annotations of a model that take effect: the first well-formed one on
 * each let (or assignment) of a repeat(...) layer stack, in source order. Malformed or
 * misplaced ones are reported by checkAnnotations and read here as absent.
 */
export function recomputeAnnotations(model: A.FunctionDecl): { policy: RecomputePolicy; span: Span }[] {
  const out: { policy: RecomputePolicy; span: Span }[] = [];
  for (const s of model.body) {
    if (s.kind === 'return' || !onLayerStack(model, s)) continue;
    const a = s.annotations.find((x) => x.name.name === 'recompute');
    const r = a && recomputeArg(a);
    if (r) out.push(r);
  }
  return out;
}

function onLayerStack(f: A.FunctionDecl, s: Stmt): boolean {
  return f.kind === 'model' && s.kind === 'let' && s.value.kind === 'repeat';
}

function placeText(f: A.FunctionDecl, s: Stmt): string {
  if (s.kind === 'param') return `a param (${s.name.name})`;
  const what = s.isLet ? 'a let' : 'an assignment';
  if (f.kind === 'block') return `${what} in block ${f.name.name}`;
  return s.value.kind === 'repeat' ? `${what} of a layer stack` : `${what} whose value is not a repeat(...) layer stack`;
}

/** How a value is shown after "got". */
function shown(e: A.Expr): string {
  switch (e.kind) {
    case 'name':
      return `'${e.name}'`;
    case 'str':
      return JSON.stringify(e.value);
    default:
      return exprText(e);
  }
}

/** An integer constant: literals, config constants and arithmetic on them. */
export function constInt(e: A.Expr, env: Env): number | undefined {
  const v = constNum(e, env);
  return v !== undefined && v.kind === 'int' ? v.value : undefined;
}

function constNum(e: A.Expr, env: Env): { kind: 'int' | 'num'; value: number } | undefined {
  switch (e.kind) {
    case 'num':
      return { kind: e.isInt ? 'int' : 'num', value: e.value };
    case 'name': {
      const c = env.consts.get(e.name);
      return c && (c.kind === 'int' || c.kind === 'num') ? { kind: c.kind, value: c.value } : undefined;
    }
    case 'unary': {
      const v = constNum(e.operand, env);
      return v && { kind: v.kind, value: -v.value };
    }
    case 'binary': {
      if (e.op === '@') return undefined;
      const l = constNum(e.left, env);
      const r = constNum(e.right, env);
      if (!l || !r || (e.op === '/' && r.value === 0)) return undefined;
      const v = arith(e.op, l, r);
      return v.kind === 'int' || v.kind === 'num' ? { kind: v.kind, value: v.value } : undefined;
    }
    default:
      return undefined;
  }
}

function meshHint(env: Env, axis: string): string {
  const known = [...env.meshAxes.keys()];
  const where = [...env.axisMesh.values()].includes('--mesh') ? 'the --mesh option has' : 'the meshes have';
  return known.length ? `: ${where} ${known.join(', ')}${didYouMean(axis, known)}` : ': no mesh is declared';
}
