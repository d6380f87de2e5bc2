import { diag, didYouMean, type Diagnostic } from '../diagnostics/messages.js';
import { INFER_SETTINGS } from './infer/settings.js';
import type * as A from '../grammar/ast.js';
import { callsIn } from '../grammar/ast-text.js';

/** A compile-time constant: integers stay integers so they can size dims. */
export type Const =
  | { readonly kind: 'int'; readonly value: number }
  | { readonly kind: 'num'; readonly value: number }
  | { readonly kind: 'bool'; readonly value: boolean }
  | { readonly kind: 'str'; readonly value: string };

export interface BindOptions {
  /** Preset name whose entries override config constants. */
  readonly preset?: string;
  /** Command-line overrides (`--set d=128`), applied last. */
  readonly overrides?: Readonly<Record<string, number>>;
  /** A mesh from the command line (`--mesh dp=2,tp=4`): replaces the file's meshes. */
  readonly mesh?: readonly { readonly name: string; readonly size: number }[];
}

/** The global environment: every top-level name, resolved once. */
export interface Env {
  readonly file: string;
  readonly consts: ReadonlyMap<string, Const>;
  readonly constSpans: ReadonlyMap<string, A.Entry>;
  readonly meshAxes: ReadonlyMap<string, number>;
  /** Mesh axis → the mesh that declares it ('--mesh' for a command-line mesh). */
  readonly axisMesh: ReadonlyMap<string, string>;
  readonly meshes: ReadonlyMap<string, A.MeshDecl>;
  readonly blocks: ReadonlyMap<string, A.FunctionDecl>;
  readonly models: ReadonlyMap<string, A.FunctionDecl>;
  readonly presets: ReadonlyMap<string, A.PresetDecl>;
  readonly sections: readonly A.SectionDecl[];
  /** Constants given by `--set` (overrides), so messages about them can say so. */
  readonly setByOption: ReadonlySet<string>;
}

const EXPR_KIND: Record<A.Expr['kind'], string> = {
  num: 'number',
  str: 'string',
  bool: 'boolean',
  size: 'size',
  name: 'name',
  call: 'call',
  binary: 'arithmetic expression',
  unary: 'negation',
  list: 'list',
  repeat: 'repeat',
};

/** Constants are evaluated recursively, one level per reference. */
const MAX_CONST_DEPTH = 1000;

const TRAIN_KEYS = [
  'loss',
  'optimizer',
  'microbatches',
  'copies',
  'zero',
  'memory_budget',
  'recompute',
  'schedule',
  'grad_clip',
  'precision',
  'steps',
  'batch',
  'seq',
  'seed',
  'warmup',
  'metrics',
  'freeze',
  'train_also',
];
const INFER_KEYS: readonly string[] = INFER_SETTINGS;

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
      case 'mesh':
        if (declare('mesh', item.name)) meshes.set(item.name.name, item);
        break;
      case 'block': {
        const model = models.get(item.name.name);
        if (model) ds.push(diag(file, item.name.span, 'MDC0102', 'block', item.name.name, model.name.span.line));
        else if (declare('block', item.name)) blocks.set(item.name.name, item);
        break;
      }
      case 'model': {
        // A model may share its name with a config (`config GPT2`, `model GPT2`): they live in different namespaces.
        const prev = models.get(item.name.name) ?? blocks.get(item.name.name);
        if (prev) ds.push(diag(file, item.name.span, 'MDC0102', 'model', item.name.name, prev.name.span.line));
        else models.set(item.name.name, item);
        break;
      }
      case 'preset':
        if (declare('preset', item.name)) presets.set(item.name.name, item);
        break;
      case 'config':
        if (configs.has(item.name.name)) ds.push(diag(file, item.name.span, 'MDC0102', 'config', item.name.name, configs.get(item.name.name)!.name.span.line));
        else configs.set(item.name.name, item);
        for (const e of item.entries) {
          if (declare('constant', e.name)) {
            constEntries.set(e.name.name, e);
            configOf.set(e.name.name, item.name.name);
          }
        }
        break;
      case 'train':
      case 'infer':
        sections.push(item);
        break;
    }
    if (item.kind === 'block' || item.kind === 'model') {
      const args = new Map<string, A.Ident>();
      for (const p of item.params) {
        const prev = args.get(p.name.name);
        if (prev) ds.push(diag(file, p.name.span, 'MDC0102', 'argument', p.name.name, prev.span.line));
        else args.set(p.name.name, p.name);
      }
    }
  }

  // Overrides: preset entries, then command-line values.
  const overrides = new Map<string, A.Expr>();
  if (opts.preset !== undefined) {
    const p = presets.get(opts.preset);
    if (!p)
      ds.push(
        diag(file, { start: 0, end: 0, line: 1, col: 1, endLine: 1, endCol: 1 }, 'MDC0101', 'preset', opts.preset, didYouMean(opts.preset, presets.keys())),
      );
    else for (const e of p.entries) overrides.set(e.name.name, e.value);
  }
  for (const p of presets.values()) {
    // An unknown base is reported once; its entries are then checked against every config.
    const base = p.base && configs.has(p.base.name) ? p.base.name : undefined;
    if (p.base && !base) ds.push(diag(file, p.base.span, 'MDC0101', 'config', p.base.name, didYouMean(p.base.name, configs.keys())));
    for (const e of p.entries) {
      const owner = configOf.get(e.name.name);
      if (!owner) {
        const pool = base ? [...constEntries.keys()].filter((k) => configOf.get(k) === base) : constEntries.keys();
        ds.push(diag(file, e.name.span, 'MDC0101', 'constant', e.name.name, (base ? ` in config ${base}` : '') + didYouMean(e.name.name, pool)));
      } else if (base && owner !== base) {
        ds.push(diag(file, e.name.span, 'MDC0101', 'constant', e.name.name, ` in config ${base}: it belongs to config ${owner}`));
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
    if (stack.length >= MAX_CONST_DEPTH) {
      ds.push(diag(file, entry.name.span, 'MDC0901', `config constants refer to each other more than ${MAX_CONST_DEPTH} levels deep`));
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
      case 'num':
        return e.isInt ? { kind: 'int', value: e.value } : { kind: 'num', value: e.value };
      case 'size':
        return { kind: 'int', value: e.bytes };
      case 'bool':
        return { kind: 'bool', value: e.value };
      case 'str':
        return { kind: 'str', value: e.value };
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
        if (e.op === '/' && b.value === 0) {
          ds.push(diag(file, e.span, 'MDC0215', String(a.value), '0'));
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
    if (!constEntries.has(name))
      ds.push(diag(file, { start: 0, end: 0, line: 1, col: 1, endLine: 1, endCol: 1 }, 'MDC0101', 'constant', name, didYouMean(name, constEntries.keys())));
    else consts.set(name, numConst(value));
  }

  const meshAxes = new Map<string, number>();
  const axisMesh = new Map<string, string>();
  const axisDecls = new Map<string, A.Ident>();
  for (const m of opts.mesh ? [] : meshes.values()) {
    for (const ax of m.axes) {
      const v = evalExpr(ax.size);
      if (v && (v.kind !== 'int' || v.value < 1)) ds.push(diag(file, ax.size.span, 'MDC0210', `mesh axis '${ax.name.name}'`, String(v.value)));
      const prev = axisDecls.get(ax.name.name);
      if (prev) ds.push(diag(file, ax.name.span, 'MDC0102', 'mesh axis', ax.name.name, prev.span.line));
      else {
        axisDecls.set(ax.name.name, ax.name);
        if (v && v.kind === 'int') meshAxes.set(ax.name.name, v.value);
        axisMesh.set(ax.name.name, m.name.name);
      }
    }
  }

  for (const s of sections) {
    if (!models.has(s.target.name)) ds.push(diag(file, s.target.span, 'MDC0127', s.target.name, didYouMean(s.target.name, models.keys())));
    const allowed = s.kind === 'train' ? TRAIN_KEYS : INFER_KEYS;
    for (const e of s.entries) {
      if (!allowed.includes(e.name.name)) ds.push(diag(file, e.name.span, 'MDC0501', s.kind, e.name.name, allowed.join(', ')));
      if (e.name.name === 'optimizer') {
        // `adamw(lr = 3e-4)` or a bare `sgd`; anything else names no optimizer.
        const opt = e.value.kind === 'call' ? e.value.callee : e.value.kind === 'name' ? { name: e.value.name, span: e.value.span } : undefined;
        if (!opt)
          ds.push(
            diag(
              file,
              e.value.span,
              'MDC0120',
              'an optimizer such as adamw(lr = 3e-4)',
              e.value.kind === 'str' ? `the string "${e.value.value}"` : `a ${EXPR_KIND[e.value.kind]}`,
            ),
          );
        else if (!['adamw', 'sgd'].includes(opt.name)) ds.push(diag(file, opt.span, 'MDC0502', opt.name));
      }
    }
  }

  for (const a of opts.mesh ?? []) {
    meshAxes.set(a.name, a.size);
    axisMesh.set(a.name, '--mesh');
  }
  checkBlockCycles(file, blocks, models, ds);
  const setByOption = new Set(Object.keys(opts.overrides ?? {}));
  const env: Env = { file, consts, constSpans: constEntries, meshAxes, axisMesh, meshes, blocks, models, presets, sections, setByOption };
  return { env, diagnostics: ds };
}

export function numConst(v: number): Const {
  return Number.isInteger(v) ? { kind: 'int', value: v } : { kind: 'num', value: v };
}

export function arith(op: A.BinaryOp, a: { kind: string; value: number }, b: { kind: string; value: number }): Const {
  const ints = a.kind === 'int' && b.kind === 'int';
  switch (op) {
    case '+':
      return { kind: ints ? 'int' : 'num', value: a.value + b.value };
    case '-':
      return { kind: ints ? 'int' : 'num', value: a.value - b.value };
    case '*':
      return { kind: ints ? 'int' : 'num', value: a.value * b.value };
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
    const out = callsIn(f)
      .filter((c) => blocks.has(c.callee.name))
      .map((c) => ({ name: c.callee.name, span: c.callee.span }));
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
        if (!reported.has(key)) {
          reported.add(key);
          ds.push(diag(file, c.span, 'MDC0109', cyc.join(' → ')));
        }
      } else if (!color.get(c.name)) dfs(c.name);
    }
    stack.pop();
    color.set(name, 2);
  };
  for (const b of blocks.keys()) if (!color.get(b)) dfs(b);
}
