import { diag, didYouMean, type Diagnostic } from '../diagnostics/messages.js';
import type * as A from '../grammar/ast.js';

/** A compile-time constant: integers stay integers so they can size dims. */
export type Const = { readonly kind: 'int'; readonly value: number } | { readonly kind: 'num'; readonly value: number }
  | { readonly kind: 'bool'; readonly value: boolean } | { readonly kind: 'str'; readonly value: string };

export interface BindOptions {
  /** Preset name whose entries override config constants. */
  readonly preset?: string;
  /** Command-line overrides (`--set d=128`), applied last. */
  readonly overrides?: Readonly<Record<string, number>>;
}

/** The global environment: every top-level name, resolved once. */
export interface Env {
  readonly file: string;
  readonly consts: ReadonlyMap<string, Const>;
  readonly constSpans: ReadonlyMap<string, A.Entry>;
  readonly meshAxes: ReadonlyMap<string, number>;
  readonly meshes: ReadonlyMap<string, A.MeshDecl>;
  readonly blocks: ReadonlyMap<string, A.FunctionDecl>;
  readonly models: ReadonlyMap<string, A.FunctionDecl>;
  readonly presets: ReadonlyMap<string, A.PresetDecl>;
  readonly sections: readonly A.SectionDecl[];
}

const TRAIN_KEYS = ['loss', 'optimizer', 'microbatches', 'zero', 'memory_budget', 'recompute', 'schedule', 'grad_clip', 'precision', 'steps', 'batch', 'seq', 'seed', 'warmup'];
const INFER_KEYS = ['kv_cache', 'max_tokens', 'sampling', 'temperature', 'top_k', 'top_p', 'seed', 'batch'];

export function bind(program: A.Program, opts: BindOptions = {}): { env: Env; diagnostics: Diagnostic[] } {
  const file = program.file;
  const ds: Diagnostic[] = [];
  const firstSeen = new Map<string, A.Ident>();
  const declare = (kind: string, id: A.Ident) => {
    const prev = firstSeen.get(id.name);
    if (prev) ds.push(diag(file, id.span, 'MDC0102', kind, id.name, prev.span.line));
    else firstSeen.set(id.name, id);
    return !prev;
  };

  const meshes = new Map<string, A.MeshDecl>();
  const blocks = new Map<string, A.FunctionDecl>();
  const models = new Map<string, A.FunctionDecl>();
  const presets = new Map<string, A.PresetDecl>();
  const constEntries = new Map<string, A.Entry>();
  const configOf = new Map<string, string>();
  const configs = new Map<string, A.ConfigDecl>();
  const sections: A.SectionDecl[] = [];

  for (const item of program.items) {
    switch (item.kind) {
      case 'mesh': if (declare('mesh', item.name)) meshes.set(item.name.name, item); break;
      case 'block': if (declare('block', item.name)) blocks.set(item.name.name, item); break;
      case 'model':
        // A model may share its name with a config (`config GPT2`, `model GPT2`): they live in different namespaces.
        if (models.has(item.name.name) || blocks.has(item.name.name)) declare('model', item.name);
        else models.set(item.name.name, item);
        break;
      case 'preset': if (declare('preset', item.name)) presets.set(item.name.name, item); break;
      case 'config':
        if (configs.has(item.name.name)) ds.push(diag(file, item.name.span, 'MDC0102', 'config', item.name.name, configs.get(item.name.name)!.name.span.line));
        else configs.set(item.name.name, item);
        for (const e of item.entries) {
          if (declare('constant', e.name)) { constEntries.set(e.name.name, e); configOf.set(e.name.name, item.name.name); }
        }
        break;
      case 'train': case 'infer': sections.push(item); break;
    }
  }

  // Overrides: preset entries, then command-line values.
  const overrides = new Map<string, A.Expr>();
  if (opts.preset !== undefined) {
    const p = presets.get(opts.preset);
    if (!p) ds.push(diag(file, { start: 0, end: 0, line: 1, col: 1, endLine: 1, endCol: 1 }, 'MDC0101', 'preset', opts.preset, didYouMean(opts.preset, presets.keys())));
    else for (const e of p.entries) overrides.set(e.name.name, e.value);
  }
  for (const p of presets.values()) {
    if (p.base && !configs.has(p.base.name)) ds.push(diag(file, p.base.span, 'MDC0101', 'config', p.base.name, didYouMean(p.base.name, configs.keys())));
    for (const e of p.entries) {
      const owner = configOf.get(e.name.name);
      if (!owner || (p.base && owner !== p.base.name)) {
        ds.push(diag(file, e.name.span, 'MDC0101', p.base ? `constant of config ${p.base.name}` : 'constant', e.name.name, didYouMean(e.name.name, constEntries.keys())));
      }
    }
  }

  // Evaluate constants on demand, detecting cycles.
  const consts = new Map<string, Const>();
  const state = new Map<string, 'busy' | 'done'>();
  const stack: string[] = [];
  const evalConst = (name: string): Const | undefined => {
    if (state.get(name) === 'done') return consts.get(name);
    const entry = constEntries.get(name)!;
    if (state.get(name) === 'busy') {
      const path = [...stack.slice(stack.indexOf(name)), name].join(' → ');
      ds.push(diag(file, entry.name.span, 'MDC0108', path));
      return undefined;
    }
    state.set(name, 'busy');
    stack.push(name);
    const override = opts.overrides?.[name];
    const v = override !== undefined ? numConst(override) : evalExpr(overrides.get(name) ?? entry.value);
    stack.pop();
    state.set(name, 'done');
    if (v) consts.set(name, v);
    return v;
  };
  const evalExpr = (e: A.Expr): Const | undefined => {
    switch (e.kind) {
      case 'num': return e.isInt ? { kind: 'int', value: e.value } : { kind: 'num', value: e.value };
      case 'size': return { kind: 'int', value: e.bytes };
      case 'bool': return { kind: 'bool', value: e.value };
      case 'str': return { kind: 'str', value: e.value };
      case 'name': {
        if (constEntries.has(e.name)) return evalConst(e.name);
        ds.push(diag(file, e.span, 'MDC0101', 'constant', e.name, didYouMean(e.name, constEntries.keys())));
        return undefined;
      }
      case 'unary': {
        const v = evalExpr(e.operand);
        if (!v) return undefined;
        if (v.kind === 'int' || v.kind === 'num') return { kind: v.kind, value: -v.value };
        ds.push(diag(file, e.span, 'MDC0120', 'a number', v.kind));
        return undefined;
      }
      case 'binary': {
        const a = evalExpr(e.left);
        const b = evalExpr(e.right);
        if (!a || !b) return undefined;
        if ((a.kind !== 'int' && a.kind !== 'num') || (b.kind !== 'int' && b.kind !== 'num') || e.op === '@') {
          ds.push(diag(file, e.span, 'MDC0120', 'numbers on both sides of ' + e.op, `${a.kind} and ${b.kind}`));
          return undefined;
        }
        return arith(e.op, a, b);
      }
      default:
        ds.push(diag(file, e.span, 'MDC0121', 'a config value'));
        return undefined;
    }
  };
  for (const name of constEntries.keys()) evalConst(name);
  for (const [name, value] of Object.entries(opts.overrides ?? {})) {
    if (!constEntries.has(name)) ds.push(diag(file, { start: 0, end: 0, line: 1, col: 1, endLine: 1, endCol: 1 }, 'MDC0101', 'constant', name, didYouMean(name, constEntries.keys())));
    else consts.set(name, numConst(value));
  }

  const meshAxes = new Map<string, number>();
  for (const m of meshes.values()) {
    for (const ax of m.axes) {
      const v = evalExpr(ax.size);
      if (v && (v.kind !== 'int' || v.value < 1)) ds.push(diag(file, ax.size.span, 'MDC0210', `mesh axis '${ax.name.name}'`, String(v.value)));
      if (meshAxes.has(ax.name.name)) ds.push(diag(file, ax.name.span, 'MDC0102', 'mesh axis', ax.name.name, ax.name.span.line));
      else if (v && v.kind === 'int') meshAxes.set(ax.name.name, v.value);
    }
  }

  for (const s of sections) {
    if (!models.has(s.target.name)) ds.push(diag(file, s.target.span, 'MDC0127', s.target.name + didYouMean(s.target.name, models.keys())));
    const allowed = s.kind === 'train' ? TRAIN_KEYS : INFER_KEYS;
    for (const e of s.entries) {
      if (!allowed.includes(e.name.name)) ds.push(diag(file, e.name.span, 'MDC0501', s.kind, e.name.name, allowed.join(', ')));
      if (e.name.name === 'optimizer' && e.value.kind === 'call' && !['adamw', 'sgd'].includes(e.value.callee.name)) {
        ds.push(diag(file, e.value.callee.span, 'MDC0502', e.value.callee.name));
      }
    }
  }

  checkBlockCycles(file, blocks, models, ds);
  const env: Env = { file, consts, constSpans: constEntries, meshAxes, meshes, blocks, models, presets, sections };
  return { env, diagnostics: ds };
}

export function numConst(v: number): Const {
  return Number.isInteger(v) ? { kind: 'int', value: v } : { kind: 'num', value: v };
}

export function arith(op: A.BinaryOp, a: { kind: string; value: number }, b: { kind: string; value: number }): Const {
  const ints = a.kind === 'int' && b.kind === 'int';
  switch (op) {
    case '+': return { kind: ints ? 'int' : 'num', value: a.value + b.value };
    case '-': return { kind: ints ? 'int' : 'num', value: a.value - b.value };
    case '*': return { kind: ints ? 'int' : 'num', value: a.value * b.value };
    case '/': {
      const q = a.value / b.value;
      return { kind: ints && Number.isInteger(q) ? 'int' : 'num', value: q };
    }
    default: {
      const p = a.value ** b.value;
      return { kind: ints && Number.isInteger(p) && b.value >= 0 ? 'int' : 'num', value: p };
    }
  }
}

/** Blocks may not call themselves, directly or through others: report each cycle once at the call that closes it. */
function checkBlockCycles(file: string, blocks: ReadonlyMap<string, A.FunctionDecl>, models: ReadonlyMap<string, A.FunctionDecl>, ds: Diagnostic[]) {
  const calls = new Map<string, { name: string; span: A.Ident['span'] }[]>();
  for (const f of [...blocks.values(), ...models.values()]) {
    const out: { name: string; span: A.Ident['span'] }[] = [];
    const visit = (e: A.Expr | undefined): void => {
      if (!e) return;
      switch (e.kind) {
        case 'call': if (blocks.has(e.callee.name)) out.push({ name: e.callee.name, span: e.callee.span }); e.args.forEach((a) => visit(a.value)); break;
        case 'repeat': visit(e.call); visit(e.count); break;
        case 'binary': visit(e.left); visit(e.right); break;
        case 'unary': visit(e.operand); break;
        case 'list': e.items.forEach(visit); break;
      }
    };
    for (const s of f.body) {
      if (s.kind === 'let') visit(s.value);
      else if (s.kind === 'return') s.values.forEach(visit);
      else visit(s.init);
    }
    calls.set(f.kind + ':' + f.name.name, out);
  }
  const color = new Map<string, number>();
  const stack: string[] = [];
  const reported = new Set<string>();
  const dfs = (name: string) => {
    color.set(name, 1);
    stack.push(name);
    for (const c of calls.get('block:' + name) ?? []) {
      if (color.get(c.name) === 1) {
        const cyc = [...stack.slice(stack.indexOf(c.name)), c.name];
        const key = [...cyc].sort().join(',');
        if (!reported.has(key)) { reported.add(key); ds.push(diag(file, c.span, 'MDC0109', cyc.join(' → '))); }
      } else if (!color.get(c.name)) dfs(c.name);
    }
    stack.pop();
    color.set(name, 2);
  };
  for (const b of blocks.keys()) if (!color.get(b)) dfs(b);
}
