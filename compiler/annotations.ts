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
 * - `@offload(host)` on a param puts its optimizer state and update on the host when
 *   training (train/offload.ts reads it);
 * - `@pipeline(stages = N)` (same place), `@expert(axis)` (on a param) and `@shard(...)`
 *   are validated, then refused: not supported yet.
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
      const stages = pipelineStages(env, s, a, err);
      if (placed && stages !== undefined) err(a.span, 'MDC0135', String(stages));
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
    case 'shard':
      // A layout has one way to be written, in the type; there is nothing to check in @shard's arguments.
      err(a.span, 'MDC0138');
      return;
    default:
      // The lexer only makes annotations of the five names above.
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

/** `@pipeline(stages = N)`: N a positive integer constant, at most the number of layers when that is known. */
function pipelineStages(env: Env, s: Stmt, a: A.Annotation, err: Err): number | undefined {
  const expected = 'stages = N, the number of pipeline stages';
  let ok = true;
  let stages: A.Arg | undefined;
  for (const x of a.args) {
    if (!x.name) {
      err(x.span, 'MDC0131', 'pipeline', 'positional argument', expected);
      ok = false;
    } else if (x.name.name !== 'stages') {
      err(x.name.span, 'MDC0131', 'pipeline', `argument '${x.name.name}'`, expected);
      ok = false;
    } else if (stages) {
      err(x.name.span, 'MDC0106', 'stages');
      ok = false;
    } else stages = x;
  }
  if (!ok) return undefined;
  if (!stages) {
    err(a.span, 'MDC0132', 'pipeline', expected, 'nothing');
    return undefined;
  }
  const n = constInt(stages.value, env);
  if (n === undefined || n < 1) {
    err(stages.value.span, 'MDC0132', 'pipeline', 'stages = N, a positive integer constant', n === undefined ? shown(stages.value) : String(n));
    return undefined;
  }
  const layers = s.kind === 'let' && s.value.kind === 'repeat' ? constInt(s.value.count, env) : undefined;
  if (layers !== undefined && n > layers) {
    err(stages.value.span, 'MDC0132', 'pipeline', `at most one stage per layer (the stack has ${layers})`, `stages = ${n}`);
    return undefined;
  }
  return n;
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
