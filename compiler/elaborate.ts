import { exprText, typeNodeText } from '../grammar/ast-text.js';
import { diag, didYouMean, type Code, type Diagnostic, type messages } from '../diagnostics/messages.js';
import { joinSpans, type Span } from '../diagnostics/span.js';
import type * as A from '../grammar/ast.js';
import { arith, type Env } from './bind.js';
import { dimAdd, dimConst, dimDiv, dimEquals, dimMul, dimNeg, dimOpaque, dimSub, dimSym, dimToString, dimValue, type Dim } from './dims.js';
import { GraphBuilder, type Attr, type Graph, type InitSpec, type Value } from './ir.js';
import { OPERATOR_OPS, OPS } from './ops/registry.js';
import type { ElaborationCtx } from './ops/op.js';
import type { ArgSpec, InferCtx } from './ops/signature.js';
import { DTYPES, printType, type DType, type Layout, type TType } from './types.js';
import { dimOrigin, inexactDim, showSize, tooManyElements } from './sizes.js';

/** What an expression evaluates to while elaborating a body. */
export type Val =
  | { readonly kind: 'tensor'; readonly v: Value }
  | { readonly kind: 'dim'; readonly d: Dim }
  | { readonly kind: 'num'; readonly n: number }
  | { readonly kind: 'bool'; readonly b: boolean }
  | { readonly kind: 'str'; readonly s: string }
  | { readonly kind: 'list'; readonly items: readonly Val[] }
  | { readonly kind: 'tuple'; readonly items: readonly Val[] };

const describe = (v: Val): string => {
  switch (v.kind) {
    case 'tensor':
      return printType(v.v.type);
    case 'dim':
      return `the integer ${dimToString(v.d)}`;
    case 'num':
      return `the number ${v.n}`;
    case 'bool':
      return `the boolean ${v.b}`;
    case 'str':
      return `the string "${v.s}"`;
    case 'list':
      return `a list of ${v.items.length}`;
    case 'tuple':
      return `a tuple of ${v.items.length} values`;
  }
};

export interface ElaborateOptions {
  /** Unroll `repeat(n)` into n copies (compile); otherwise one copy is checked. */
  readonly unroll: boolean;
  /** Values for the model's symbolic dims; a dim without one stays symbolic. */
  readonly dims?: ReadonlyMap<string, number>;
  /** Report model input dims that stay symbolic (codegen needs numbers). */
  readonly requireConcrete?: boolean;
  /** Training mode: dropout is live. */
  readonly training?: boolean;
  /** Told each expression's, input's and parameter's value as it is elaborated (the language server's index). */
  readonly observe?: (node: A.Node, v: Val, builder: GraphBuilder) => void;
}

interface Frame {
  readonly decl: A.FunctionDecl;
  readonly scope: Map<string, Val>;
  readonly syms: Map<string, Dim>;
  readonly prefix: string;
  readonly callCounts: Map<string, number>;
  /** Names whose definition failed: uses of them are silent, so one mistake is reported once. */
  readonly poisoned: Set<string>;
}

/** Unrolling `repeat` beyond this many graph nodes would exhaust memory long before codegen could use the graph. */
export const MAX_GRAPH_NODES = 200_000;
/** Blocks calling blocks recurse in the elaborator: bound the depth well inside the stack. */
export const MAX_CALL_DEPTH = 256;
const ANNOTATIONS = ['shard', 'pipeline', 'recompute', 'offload', 'expert', 'lora'];

/**
 * Elaboration = name binding + shape/dtype inference + lowering to the graph IR, in one
 * walk. The same walk runs with symbolic dims (checking) and concrete dims (compiling).
 */
export class Elaborator {
  readonly builder = new GraphBuilder();
  private readonly stack: string[] = [];
  /** Source line of each input's and parameter's type, for contradiction messages. */
  private readonly declLines = new Map<number, number>();

  constructor(
    private readonly env: Env,
    private readonly ds: Diagnostic[],
    private readonly opts: ElaborateOptions,
  ) {}

  private err<C extends Code>(span: Span, code: C, ...args: Parameters<(typeof messages)[C]>): undefined {
    this.ds.push(diag(this.env.file, span, code, ...args));
    return undefined;
  }

  /** Elaborates a model as an entry point and freezes its graph. */
  model(decl: A.FunctionDecl): Graph | undefined {
    const frame = this.newFrame(decl, '');
    for (const w of decl.where) {
      if (this.opts.dims?.has(w.name.name)) continue;
      const v = this.expr(w.value, frame);
      if (!v) continue; // already reported
      if (v.kind !== 'dim' || dimValue(v.d) === undefined || dimValue(v.d)! < 1) {
        this.err(w.value.span, 'MDC0210', `dim '${w.name.name}'`, describe(v));
      } else this.exactDim(v.d, w.value, `dim '${w.name.name}'`);
    }
    const inputs: Value[] = [];
    for (const p of decl.params) {
      const type = this.typeOf(p.type, frame, undefined, 'input');
      if (!type) return undefined;
      if (this.opts.requireConcrete) {
        for (const [i, d] of type.dims.entries()) {
          if (dimValue(d) === undefined) {
            this.err(p.type.dims[i]!.span, 'MDC0125', dimToString(d));
            return undefined;
          }
        }
      }
      if (p.type.partial.length) {
        this.err(p.type.partial[0]!.span, 'MDC0406', 'a model input', typeNodeText(p.type));
        return undefined;
      }
      inputs.push(this.builder.addValue({ type, kind: 'input', name: p.name.name }));
      this.declLines.set(inputs[inputs.length - 1]!.id, p.type.span.line);
      frame.scope.set(p.name.name, { kind: 'tensor', v: inputs[inputs.length - 1]! });
    }
    const outs = this.body(frame);
    if (!outs) return undefined;
    const names = decl.body
      .filter((s): s is A.ReturnStmt => s.kind === 'return')
      .at(-1)!
      .values.map((e, i) => (e.kind === 'name' ? e.name : `output${i}`));
    return this.builder.finish(decl.name.name, outs, dedupeNames(names));
  }

  /** Checks a block on its own, with its signature's dims left symbolic. */
  blockAlone(decl: A.FunctionDecl): void {
    const frame = this.newFrame(decl, decl.name.name);
    for (const p of decl.params) {
      const type = this.typeOf(p.type, frame, undefined, 'input');
      if (!type) return;
      frame.scope.set(p.name.name, { kind: 'tensor', v: this.builder.addValue({ type, kind: 'input', name: p.name.name }) });
    }
    this.stack.push(decl.name.name);
    this.body(frame);
    this.stack.pop();
  }

  private newFrame(decl: A.FunctionDecl, prefix: string): Frame {
    return { decl, scope: new Map(), syms: new Map(), prefix, callCounts: new Map(), poisoned: new Set() };
  }

  /**
   * Evaluates a type annotation. Bare names that are neither constants nor bound are
   * size symbols: bound from `actual` when given (block arguments), else from the
   * model's dim values, else left symbolic.
   */
  private typeOf(node: A.TensorTypeNode, f: Frame, actual: TType | undefined, mode: 'input' | 'param' | 'return'): TType | undefined {
    if (!DTYPES.includes(node.dtype.name as DType)) return this.err(node.dtype.span, 'MDC0111', node.dtype.name);
    const dims: Dim[] = [];
    const axes: string[][] = [];
    let ok = true;
    node.dims.forEach((dn, i) => {
      const e = dn.size;
      let d: Dim | undefined;
      if (e.kind === 'name' && !f.syms.has(e.name) && !this.env.consts.has(e.name) && !f.scope.has(e.name)) {
        if (mode === 'param') {
          ok = false;
          this.err(e.span, 'MDC0101', 'dim', e.name, didYouMean(e.name, [...f.syms.keys(), ...this.env.consts.keys()]));
          return;
        }
        const given = this.opts.dims?.get(e.name);
        d = actual && actual.dims[i] ? actual.dims[i]! : given !== undefined ? dimConst(given) : (this.whereDim(f, e.name) ?? dimSym(e.name));
        f.syms.set(e.name, d);
      } else {
        const v = this.expr(e, f);
        if (!v) {
          ok = false;
          return;
        }
        if (v.kind !== 'dim') {
          ok = false;
          this.err(e.span, 'MDC0120', 'an integer dim', describe(v));
          return;
        }
        const c = dimValue(v.d);
        if (c !== undefined && c < 1) {
          ok = false;
          this.err(e.span, 'MDC0210', 'a dim', String(c));
          return;
        }
        d = v.d;
      }
      if (!this.exactDim(d, e)) {
        ok = false;
        return;
      }
      dims.push(d);
      axes.push(dn.axes.map((a) => a.name));
      this.checkLayout(dn, d, node, axes);
    });
    const partial: string[] = [];
    for (const p of node.partial) {
      if (!this.env.meshAxes.has(p.name)) {
        this.err(p.span, 'MDC0403', p.name, this.meshHint(p.name));
        ok = false;
      } else if (partial.includes(p.name)) {
        this.err(p.span, 'MDC0409', p.name, typeNodeText(node));
        ok = false;
      } else if (axes.flat().includes(p.name)) {
        this.err(p.span, 'MDC0407', p.name, typeNodeText(node));
        ok = false;
      }
      partial.push(p.name);
    }
    if (mode === 'param' && node.partial.length) {
      this.err(node.partial[0]!.span, 'MDC0406', 'a parameter', typeNodeText(node));
      ok = false;
    }
    if (!this.sameMesh(node)) ok = false;
    if (!ok || !this.fewEnough({ dtype: node.dtype.name as DType, dims }, node.span)) return undefined;
    const hasLayout = axes.some((a) => a.length) || partial.length > 0;
    const layout: Layout | undefined = hasLayout ? { axes, partial } : undefined;
    return { dtype: node.dtype.name as DType, dims, ...(layout ? { layout } : {}) };
  }

  /** All axes of one type come from one mesh. */
  private sameMesh(node: A.TensorTypeNode): boolean {
    let first: A.Ident | undefined;
    for (const a of [...node.dims.flatMap((d) => d.axes), ...node.partial]) {
      if (!this.env.axisMesh.has(a.name)) continue;
      if (!first) {
        first = a;
        continue;
      }
      const m1 = this.env.axisMesh.get(first.name)!;
      const m2 = this.env.axisMesh.get(a.name)!;
      if (m1 !== m2) {
        this.err(a.span, 'MDC0408', typeNodeText(node), first.name, m1, a.name, m2);
        return false;
      }
    }
    return true;
  }

  /**
   * A block argument or return type with a layout asks the value to have that layout.
   * Two different asks for one value (or an ask that differs from an annotated input's
   * or parameter's own layout) contradict each other.
   */
  private constrain(v: Value, want: TType, span: Span, what: string) {
    if (!want.layout) return;
    if (v.kind !== 'op' && v.kind !== 'const' && want.layout.partial.length) {
      this.err(span, 'MDC0406', v.kind === 'param' ? `parameter '${v.name}'` : `model input '${v.name}'`, printType(want));
      return;
    }
    const rank = v.type.dims.length;
    const norm = (l: Layout | undefined) => JSON.stringify({ a: Array.from({ length: rank }, (_, i) => l?.axes[i] ?? []), p: l?.partial ?? [] });
    const prev = this.builder.constraints.get(v.id);
    const shown = (l: Layout) => printType({ ...v.type, layout: l });
    if (prev) {
      if (norm(prev.layout) !== norm(want.layout)) this.err(span, 'MDC0405', what, shown(want.layout), shown(prev.layout), prev.span.line);
      return;
    }
    if (v.kind !== 'op' && v.type.layout && norm(v.type.layout) !== norm(want.layout)) {
      const decl = this.declLines.get(v.id);
      this.err(span, 'MDC0405', what, shown(want.layout), shown(v.type.layout), decl ?? span.line);
      return;
    }
    this.builder.constraints.set(v.id, { value: v.id, layout: want.layout, span, open: true }); // only for the axes it names (sharding/complete.ts)
  }

  /** Whether `d` is an exact integer when concrete (compiler/sizes.ts); else reports it at `e`. */
  private exactDim(d: Dim, e: A.Expr, what = dimOrigin(e, this.opts.dims, this.env.setByOption)): boolean {
    const n = inexactDim(d);
    return n === undefined || !!this.err(e.span, 'MDC0216', what, showSize(n));
  }

  /** Whether `t`'s dims are exact and its element count within MAX_ELEMENTS; else reports it at `span`. */
  private fewEnough(t: TType, span: Span): boolean {
    const bad = t.dims.findIndex((d) => inexactDim(d) !== undefined);
    if (bad >= 0) return !!this.err(span, 'MDC0216', `dim ${bad} of the result`, showSize(inexactDim(t.dims[bad]!)!));
    const n = tooManyElements(t);
    return n === undefined || !!this.err(span, 'MDC0217', printType(t), showSize(n));
  }

  private whereDim(f: Frame, name: string): Dim | undefined {
    if (f.decl.kind !== 'model' || !this.opts.dims) return undefined;
    const w = f.decl.where.find((x) => x.name.name === name);
    if (!w) return undefined;
    const v = this.expr(w.value, f);
    return v?.kind === 'dim' ? v.d : undefined;
  }

  private meshHint(axis: string): string {
    const known = [...this.env.meshAxes.keys()];
    const where = [...this.env.axisMesh.values()].includes('--mesh') ? 'the --mesh option has' : 'the meshes have';
    return known.length ? `: ${where} ${known.join(', ')}${didYouMean(axis, known)}` : ': no mesh is declared';
  }

  /** Layout rules checkable per dim: axes exist, no axis twice in one type, splits divide. */
  private checkLayout(dn: A.DimNode, d: Dim, node: A.TensorTypeNode, sofar: string[][]) {
    let devices = 1;
    const here = new Set<string>();
    for (const a of dn.axes) {
      const size = this.env.meshAxes.get(a.name);
      if (size === undefined) {
        this.err(a.span, 'MDC0403', a.name, this.meshHint(a.name));
        return;
      }
      if (here.has(a.name)) {
        this.err(a.span, 'MDC0404', a.name, exprText(dn.size));
        return;
      }
      here.add(a.name);
      // `sofar` ends with this dim's own axes.
      if (sofar.slice(0, -1).flat().includes(a.name)) this.err(a.span, 'MDC0401', a.name, typeNodeText(node));
      devices *= size;
    }
    const v = dimValue(d);
    if (dn.axes.length && v !== undefined && v % devices !== 0) {
      this.err(dn.span, 'MDC0402', String(v), typeNodeText(node), dn.axes.map((a) => a.name).join('×'), devices);
    }
  }

  /**
   * Statements after a failed one are still checked: the failed statement's names are
   * poisoned, so independent mistakes are all reported and dependent ones are not.
   */
  private body(f: Frame): Value[] | undefined {
    let ok = true;
    for (const p of f.decl.params) if (f.scope.has(p.name.name)) this.opts.observe?.(p.name, f.scope.get(p.name.name)!, this.builder);
    for (const s of f.decl.body) {
      if (s.kind === 'return') {
        const out = this.ret(s, f);
        return ok ? out : undefined;
      }
      const done = s.kind === 'param' ? this.param(s, f) : this.let(s, f);
      if (!done) ok = false;
    }
    const end = f.decl.bodySpan;
    this.err({ ...end, start: end.end - 1, line: end.endLine, col: end.endCol - 1 }, 'MDC0113', f.decl.kind, f.decl.name.name);
    return undefined;
  }

  private ret(s: A.ReturnStmt, f: Frame): Value[] | undefined {
    const vals: Value[] = [];
    for (const e of s.values) {
      const v = this.expr(e, f);
      if (!v) return undefined;
      if (v.kind !== 'tensor') return this.err(e.span, 'MDC0120', 'a tensor to return', describe(v));
      vals.push(v.v);
    }
    const declared = f.decl.returns;
    if (declared.length !== vals.length) {
      return this.err(s.span, 'MDC0208', f.decl.name.name, `${declared.length} value(s)`, `${vals.length} value(s)`);
    }
    let ok = true;
    declared.forEach((tn, i) => {
      const want = this.typeOf(tn, f, vals[i]!.type, 'return');
      if (want && !sameShape(want, vals[i]!.type)) {
        ok = false;
        this.err(s.values[i]!.span, 'MDC0208', f.decl.name.name, printType(want), printType(vals[i]!.type));
      } else if (want) this.constrain(vals[i]!, want, tn.span, `the value ${f.decl.name.name} returns`);
    });
    return ok ? vals : undefined;
  }

  private poison(f: Frame, names: readonly A.Ident[]): false {
    for (const n of names) {
      f.poisoned.add(n.name);
      f.scope.delete(n.name);
    }
    return false;
  }

  private bindName(f: Frame, name: string, v: Val) {
    f.poisoned.delete(name);
    f.scope.set(name, v);
  }

  private param(s: A.ParamStmt, f: Frame): boolean {
    if (f.scope.has(s.name.name)) this.err(s.name.span, 'MDC0102', 'name', s.name.name, firstDefinition(f.decl, s.name.name));
    const type = this.typeOf(s.type, f, undefined, 'param');
    if (!type) return this.poison(f, [s.name]);
    const init = s.init ? this.init(s.init, f) : defaultInit(type);
    if (!init) return this.poison(f, [s.name]);
    const name = f.prefix ? `${f.prefix}.${s.name.name}` : s.name.name;
    const pv = this.builder.addValue({ type, kind: 'param', name, init });
    this.declLines.set(pv.id, s.type.span.line);
    this.bindName(f, s.name.name, { kind: 'tensor', v: pv });
    this.opts.observe?.(s.name, { kind: 'tensor', v: pv }, this.builder);
    return true;
  }

  private init(e: A.Expr, f: Frame): InitSpec | undefined {
    if (e.kind !== 'call') return this.err(e.span, 'MDC0120', 'an initialiser such as normal(0, 0.02)', 'an expression');
    const nums: number[] = [];
    for (const a of e.args) {
      const v = this.expr(a.value, f);
      if (!v) return undefined;
      const n = v.kind === 'num' ? v.n : v.kind === 'dim' ? dimValue(v.d) : undefined;
      if (n === undefined) return this.err(a.span, 'MDC0121', `${e.callee.name}'s arguments`);
      nums.push(n);
    }
    const want = (k: number) => (nums.length === k ? true : (this.err(e.span, 'MDC0104', e.callee.name, String(k), nums.length), false));
    switch (e.callee.name) {
      case 'normal':
        return want(2) ? { kind: 'normal', mean: nums[0]!, std: nums[1]! } : undefined;
      case 'uniform':
        return want(2) ? { kind: 'uniform', low: nums[0]!, high: nums[1]! } : undefined;
      case 'zeros':
        return want(0) ? { kind: 'constant', value: 0 } : undefined;
      case 'ones':
        return want(0) ? { kind: 'constant', value: 1 } : undefined;
      case 'constant':
        return want(1) ? { kind: 'constant', value: nums[0]! } : undefined;
      default:
        return this.err(e.callee.span, 'MDC0124', e.callee.name);
    }
  }

  private let(s: A.LetStmt, f: Frame): boolean {
    for (const [i, n] of s.names.entries()) {
      if (this.env.consts.has(n.name) && !f.scope.has(n.name) && !f.poisoned.has(n.name)) {
        this.err(n.span, 'MDC0129', n.name);
        return this.poison(f, s.names);
      }
      const twice = s.names.slice(0, i).some((m) => m.name === n.name);
      if ((s.isLet && f.scope.has(n.name)) || twice) this.err(n.span, 'MDC0102', 'name', n.name, firstDefinition(f.decl, n.name));
      if (!s.isLet && !f.scope.has(n.name) && !f.poisoned.has(n.name)) {
        this.err(n.span, 'MDC0123', n.name);
        return this.poison(f, s.names);
      }
    }
    const v = this.expr(s.value, f);
    if (!v) return this.poison(f, s.names);
    if (s.names.length === 1) {
      if (v.kind === 'tuple') {
        this.err(s.span, 'MDC0114', 1, v.items.length);
        return this.poison(f, s.names);
      }
      this.bindName(f, s.names[0]!.name, v);
      return true;
    }
    if (v.kind !== 'tuple' || v.items.length !== s.names.length) {
      this.err(s.value.span, 'MDC0114', s.names.length, v.kind === 'tuple' ? v.items.length : 1);
      return this.poison(f, s.names);
    }
    s.names.forEach((n, i) => this.bindName(f, n.name, v.items[i]!));
    return true;
  }

  private lookup(e: A.NameRef, f: Frame): Val | undefined {
    const local = f.scope.get(e.name);
    if (local) return local;
    if (f.poisoned.has(e.name)) return undefined; // its definition's error was reported
    const sym = f.syms.get(e.name);
    if (sym) return { kind: 'dim', d: sym };
    const c = this.env.consts.get(e.name);
    if (c) {
      switch (c.kind) {
        case 'int':
          return { kind: 'dim', d: dimConst(c.value) };
        case 'num':
          return { kind: 'num', n: c.value };
        case 'bool':
          return { kind: 'bool', b: c.value };
        case 'str':
          return { kind: 'str', s: c.value };
      }
    }
    if (this.env.blocks.has(e.name)) return this.err(e.span, 'MDC0126', e.name);
    const visible = [...f.scope.keys(), ...f.syms.keys(), ...this.env.consts.keys()];
    return this.err(e.span, 'MDC0101', 'name', e.name, didYouMean(e.name, visible));
  }

  expr(e: A.Expr, f: Frame): Val | undefined {
    const v = this.exprValue(e, f);
    if (v) this.opts.observe?.(e, v, this.builder);
    return v;
  }
  private exprValue(e: A.Expr, f: Frame): Val | undefined {
    switch (e.kind) {
      case 'num':
        return e.isInt && Number.isSafeInteger(e.value) ? { kind: 'dim', d: dimConst(e.value) } : { kind: 'num', n: e.value };
      case 'size':
        return { kind: 'dim', d: dimConst(e.bytes) };
      case 'str':
        return { kind: 'str', s: e.value };
      case 'bool':
        return { kind: 'bool', b: e.value };
      case 'name':
        return this.lookup(e, f);
      case 'list': {
        const items: Val[] = [];
        for (const i of e.items) {
          const v = this.expr(i, f);
          if (!v) return undefined;
          items.push(v);
        }
        return { kind: 'list', items };
      }
      case 'unary': {
        const v = this.expr(e.operand, f);
        if (!v) return undefined;
        if (v.kind === 'dim') return { kind: 'dim', d: dimNeg(v.d) };
        if (v.kind === 'num') return { kind: 'num', n: -v.n };
        if (v.kind === 'tensor') return this.applyOp('neg', e.span, f, [{ value: v, span: e.operand.span }], []);
        return this.err(e.span, 'MDC0120', 'a number or tensor after -', describe(v));
      }
      case 'binary':
        return this.binary(e, f);
      case 'call':
        return this.call(e, f);
      case 'repeat':
        return this.repeat(e, f);
    }
  }

  private binary(e: A.Binary, f: Frame): Val | undefined {
    // `x @pipline(...)` lexes as a matmul with a call: a misspelt annotation, not an unknown op.
    if (e.op === '@' && e.right.kind === 'call') {
      const callee = e.right.callee.name;
      if (!OPS.has(callee) && !this.env.blocks.has(callee) && !this.env.models.has(callee) && didYouMean(callee, ANNOTATIONS)) {
        return this.err(e.right.callee.span, 'MDC0117', callee);
      }
    }
    const a = this.expr(e.left, f);
    const b = this.expr(e.right, f);
    if (!a || !b) return undefined;
    if (a.kind === 'tensor' || b.kind === 'tensor') {
      return this.applyOp(
        OPERATOR_OPS[e.op],
        e.span,
        f,
        [
          { value: a, span: e.left.span },
          { value: b, span: e.right.span },
        ],
        [],
      );
    }
    if (e.op === '@') return this.err(e.span, 'MDC0120', 'tensors on both sides of @', `${describe(a)} and ${describe(b)}`);
    if (a.kind === 'dim' && b.kind === 'dim') {
      switch (e.op) {
        case '+':
          return { kind: 'dim', d: dimAdd(a.d, b.d) };
        case '-':
          return { kind: 'dim', d: dimSub(a.d, b.d) };
        case '*':
          return { kind: 'dim', d: dimMul(a.d, b.d) };
        case '/': {
          const q = dimDiv(a.d, b.d);
          if (q) return { kind: 'dim', d: q };
          const x = dimValue(a.d);
          const y = dimValue(b.d);
          if (x !== undefined && y !== undefined) return y === 0 ? this.err(e.span, 'MDC0215', String(x), '0') : { kind: 'num', n: x / y };
          return { kind: 'dim', d: dimOpaque(`${dimToString(a.d)}/${dimToString(b.d)}`) };
        }
        case '**': {
          const x = dimValue(a.d);
          const y = dimValue(b.d);
          if (x !== undefined && y !== undefined) return y >= 0 ? { kind: 'dim', d: dimConst(x ** y) } : { kind: 'num', n: x ** y };
          return this.err(e.span, 'MDC0121', 'an exponent of symbolic dims');
        }
      }
    }
    const x = a.kind === 'num' ? a.n : a.kind === 'dim' ? dimValue(a.d) : undefined;
    const y = b.kind === 'num' ? b.n : b.kind === 'dim' ? dimValue(b.d) : undefined;
    if (x === undefined || y === undefined)
      return this.err(e.span, 'MDC0120', `numbers or tensors on both sides of ${e.op}`, `${describe(a)} and ${describe(b)}`);
    const r = arith(e.op, { kind: 'num', value: x }, { kind: 'num', value: y });
    return { kind: 'num', n: r.value as number };
  }

  private call(e: A.Call, f: Frame): Val | undefined {
    const name = e.callee.name;
    const block = this.env.blocks.get(name);
    if (block) {
      const args: { value: Val; span: Span; name?: A.Ident }[] = [];
      for (const a of e.args) {
        const v = this.expr(a.value, f);
        if (!v) return undefined;
        args.push({ value: v, span: a.span, ...(a.name ? { name: a.name } : {}) });
      }
      const count = f.callCounts.get(name) ?? 0;
      f.callCounts.set(name, count + 1);
      const prefix = (f.prefix ? f.prefix + '.' : '') + (count ? `${name}_${count}` : name);
      return this.callBlock(block, args, e, prefix);
    }
    const op = OPS.get(name);
    if (!op) {
      if (this.env.models.has(name))
        return this.err(e.callee.span, 'MDC0120', 'an op or a block', `the model '${name}' (models are entry points, not callable)`);
      return this.err(e.callee.span, 'MDC0103', name, didYouMean(name, [...OPS.keys(), ...this.env.blocks.keys()]));
    }
    const positional: { value: Val; span: Span }[] = [];
    const keywords: { name: A.Ident; value: Val; span: Span }[] = [];
    for (const a of e.args) {
      if (!a.name && keywords.length) return this.err(a.span, 'MDC0122');
      const v = this.expr(a.value, f);
      if (!v) return undefined;
      if (a.name) keywords.push({ name: a.name, value: v, span: a.span });
      else positional.push({ value: v, span: a.span });
    }
    return this.applyOp(name, e.span, f, positional, keywords, e.callee.span);
  }

  private callBlock(block: A.FunctionDecl, args: { value: Val; span: Span; name?: A.Ident }[], call: A.Call, prefix: string): Val | undefined {
    const name = block.name.name;
    if (this.stack.includes(name)) return undefined; // reported once by bind's cycle check
    if (this.stack.length >= MAX_CALL_DEPTH) return this.err(call.span, 'MDC0901', `blocks call each other more than ${MAX_CALL_DEPTH} levels deep`);
    const kw = args.find((a) => a.name);
    if (kw) return this.err(kw.name!.span, 'MDC0105', name, kw.name!.name, ': blocks take positional tensor arguments');
    if (args.length !== block.params.length) {
      return this.err(call.span, 'MDC0104', name, String(block.params.length), args.length);
    }
    const frame = this.newFrame(block, prefix);
    for (let i = 0; i < args.length; i++) {
      const p = block.params[i]!;
      const a = args[i]!;
      if (a.value.kind !== 'tensor') return this.err(a.span, 'MDC0209', name, p.name.name, this.typeText(p.type), describe(a.value));
      const actual = a.value.v.type;
      if (p.type.dims.length !== actual.dims.length) {
        return this.err(a.span, 'MDC0209', name, p.name.name, this.typeText(p.type), printType(actual));
      }
      const want = this.typeOf(p.type, frame, actual, 'input');
      if (!want) return undefined;
      if (!sameShape(want, actual)) return this.err(a.span, 'MDC0209', name, p.name.name, printType(want), printType(actual));
      this.constrain(a.value.v, want, p.type.span, `argument '${p.name.name}' of ${name}`);
      frame.scope.set(p.name.name, a.value);
    }
    this.stack.push(name);
    const outs = this.body(frame);
    this.stack.pop();
    if (!outs) return undefined;
    return outs.length === 1 ? { kind: 'tensor', v: outs[0]! } : { kind: 'tuple', items: outs.map((v) => ({ kind: 'tensor', v })) };
  }

  private typeText(t: A.TensorTypeNode): string {
    return `${t.dtype.name}[${t.dims.map((d) => exprText(d.size)).join(', ')}]`;
  }

  private repeat(e: A.RepeatExpr, f: Frame): Val | undefined {
    const c = this.expr(e.count, f);
    if (!c) return undefined;
    const n = c.kind === 'dim' ? dimValue(c.d) : undefined;
    if (n === undefined || n < 1) return this.err(e.count.span, 'MDC0115', describe(c));
    const block = this.env.blocks.get(e.call.callee.name);
    if (!block) {
      if (OPS.has(e.call.callee.name)) return this.err(e.call.callee.span, 'MDC0120', 'a block to repeat', `the op '${e.call.callee.name}'`);
      return this.err(e.call.callee.span, 'MDC0103', e.call.callee.name, didYouMean(e.call.callee.name, this.env.blocks.keys()));
    }
    if (e.call.args.length === 0) return this.err(e.call.span, 'MDC0104', block.name.name, String(block.params.length), 0);
    const args: { value: Val; span: Span; name?: A.Ident }[] = [];
    for (const a of e.call.args) {
      const v = this.expr(a.value, f);
      if (!v) return undefined;
      args.push({ value: v, span: a.span, ...(a.name ? { name: a.name } : {}) });
    }
    const copies = this.opts.unroll ? n : 1;
    let cur = args[0]!.value;
    const base = (f.prefix ? f.prefix + '.' : '') + block.name.name;
    for (let i = 0; i < copies; i++) {
      if (this.builder.nodeCount > MAX_GRAPH_NODES) {
        return this.err(e.span, 'MDC0901', `unrolling ${block.name.name} ${n} times makes a graph of more than ${MAX_GRAPH_NODES} nodes`);
      }
      const out = this.callBlock(block, [{ ...args[0]!, value: cur }, ...args.slice(1)], e.call, `${base}.${i}`);
      if (!out) return undefined;
      if (i === 0) {
        const inT = cur.kind === 'tensor' ? printType(cur.v.type) : describe(cur);
        const outT = out.kind === 'tensor' ? printType(out.v.type) : describe(out);
        if (out.kind !== 'tensor' || cur.kind !== 'tensor' || !sameShape(out.v.type, cur.v.type)) {
          return this.err(e.call.callee.span, 'MDC0116', block.name.name, inT, outT);
        }
      }
      cur = out;
    }
    return cur;
  }

  /** Matches arguments to an op's signature, runs its shape rule and emits the node. */
  private applyOp(
    name: string,
    span: Span,
    f: Frame,
    positional: readonly { value: Val; span: Span }[],
    keywords: readonly { name: A.Ident; value: Val; span: Span }[],
    calleeSpan: Span = span,
  ): Val | undefined {
    const op = OPS.get(name)!;
    const posSpecs = op.args.filter((a) => !a.kwOnly);
    if (positional.length > posSpecs.length) {
      const required = posSpecs.filter((a) => a.default === undefined).length;
      return this.err(
        positional[posSpecs.length]!.span,
        'MDC0104',
        name,
        required === posSpecs.length ? String(required) : `${required} to ${posSpecs.length}`,
        positional.length,
      );
    }
    const given = new Map<string, { value: Val; span: Span }>();
    positional.forEach((p, i) => given.set(posSpecs[i]!.name, p));
    for (const k of keywords) {
      const spec = op.args.find((a) => a.name === k.name.name);
      if (!spec) return this.err(k.name.span, 'MDC0105', name, k.name.name, `: expected one of ${op.args.map((a) => a.name).join(', ')}`);
      if (given.has(k.name.name)) return this.err(k.name.span, 'MDC0106', k.name.name);
      given.set(k.name.name, k);
    }
    for (const spec of op.args) {
      if (spec.default === undefined && !given.has(spec.name)) return this.err(calleeSpan, 'MDC0107', name, spec.name);
    }
    // Scalars in tensor positions become constant tensors of the first tensor's dtype.
    const firstTensor = [...given.values()].find((g) => g.value.kind === 'tensor')?.value as { v: Value } | undefined;
    const attrs: Record<string, Attr> = {};
    const tensors = new Map<string, Value | Value[]>();
    for (const spec of op.args) {
      const g = given.get(spec.name);
      if (!g) {
        if (spec.default !== undefined && spec.default !== null) attrs[spec.name] = spec.default;
        continue;
      }
      const conv = this.convert(spec, g.value, g.span, name, firstTensor?.v.type.dtype);
      if (conv === undefined) return undefined;
      if (conv instanceof Array && spec.kind === 'tensors') tensors.set(spec.name, conv as Value[]);
      else if (spec.kind === 'tensor') tensors.set(spec.name, conv as Value);
      else attrs[spec.name] = conv as Attr;
    }
    let failed = false;
    const ctx: InferCtx = {
      op: name,
      tensor: (n) => (tensors.get(n) as Value).type,
      optTensor: (n) => (tensors.get(n) as Value | undefined)?.type,
      tensors: (n) => (tensors.get(n) as Value[]).map((v) => v.type),
      int: (n) => attrs[n] as number,
      num: (n) => attrs[n] as number,
      bool: (n) => attrs[n] as boolean,
      str: (n) => attrs[n] as string,
      dim: (n) => attrs[n] as Dim,
      dims: (n) => attrs[n] as Dim[],
      ints: (n) => attrs[n] as number[] | undefined,
      set: (n, v) => {
        attrs[n] = v;
      },
      error: (code, ...args) => {
        failed = true;
        return this.err(calleeSpan, code, ...args);
      },
    };
    const outTypes = op.infer(ctx);
    if (!outTypes || failed || !outTypes.every((t) => this.fewEnough(t, calleeSpan))) return undefined;
    const inputs: Value[] = [];
    for (const spec of op.args) {
      const t = tensors.get(spec.name);
      if (t === undefined) continue;
      if (Array.isArray(t)) inputs.push(...t);
      else {
        inputs.push(t);
        if (spec.default === null) attrs[`has_${spec.name}`] = true;
      }
    }
    const ec: ElaborationCtx = {
      training: !!this.opts.training,
      nodeId: this.builder.nodeCount,
      node: (o, ins, types, a) => this.builder.addNode(o, ins, types, a, span, f.prefix),
    };
    if (op.implicitAttrs) Object.assign(attrs, op.implicitAttrs(ec));
    // An op that lowers to others (split: slices) gives the tuple of their outputs.
    if ('lowersTo' in op) return { kind: 'tuple', items: op.lower(ec, inputs, outTypes, attrs).map((v) => ({ kind: 'tensor', v })) };
    const outs = this.builder.addNode(name, inputs, outTypes, attrs, span, f.prefix);
    return outs.length === 1 ? { kind: 'tensor', v: outs[0]! } : { kind: 'tuple', items: outs.map((v) => ({ kind: 'tensor', v })) };
  }

  private convert(spec: ArgSpec, v: Val, span: Span, op: string, dtype: DType | undefined): Attr | Value | Value[] | undefined {
    const fail = (what: string) => this.err(span, 'MDC0120', `${what} for ${op}'s '${spec.name}'`, describe(v));
    const intOf = (x: Val) => (x.kind === 'dim' ? dimValue(x.d) : undefined);
    switch (spec.kind) {
      case 'tensor': {
        if (v.kind === 'tensor') return v.v;
        const n = v.kind === 'num' ? v.n : intOf(v);
        if (n === undefined || !dtype) return fail('a tensor');
        if ((dtype === 'i32' || dtype === 'bool') && !Number.isInteger(n)) return fail(`an integer (the other operand is ${dtype})`);
        return this.builder.addValue({ type: { dtype, dims: [] }, kind: 'const', scalar: n });
      }
      case 'tensors': {
        if (v.kind !== 'list' || v.items.some((i) => i.kind !== 'tensor')) return fail('a list of tensors');
        return v.items.map((i) => (i as { v: Value }).v);
      }
      case 'int': {
        const n = intOf(v);
        return n === undefined ? fail('an integer constant') : n;
      }
      case 'float': {
        const n = v.kind === 'num' ? v.n : intOf(v);
        if (n !== undefined && spec.positive && !(n > 0)) return this.err(span, 'MDC0140', op, spec.name, 'a positive number', String(n));
        return n === undefined ? fail('a number') : n;
      }
      case 'bool':
        return v.kind === 'bool' ? v.b : fail('true or false');
      case 'str': {
        if (v.kind !== 'str') return fail('a string');
        if (spec.choices && !spec.choices.includes(v.s))
          return this.err(span, 'MDC0130', `${op}'s '${spec.name}' (expected ${spec.choices.join(' or ')})`, v.s);
        return v.s;
      }
      case 'dim':
        return v.kind === 'dim' ? v.d : fail('an integer');
      case 'dims': {
        if (v.kind !== 'list' || v.items.some((i) => i.kind !== 'dim')) return fail('a list of integer dims');
        return v.items.map((i) => (i as { d: Dim }).d);
      }
      case 'ints': {
        const ns = v.kind === 'list' ? v.items.map(intOf) : [];
        if (v.kind !== 'list' || ns.some((n) => n === undefined)) return fail('a list of integer constants');
        return ns as number[];
      }
    }
  }
}

export function sameShape(a: TType, b: TType): boolean {
  return a.dtype === b.dtype && a.dims.length === b.dims.length && a.dims.every((d, i) => dimEquals(d, b.dims[i]!));
}

function defaultInit(t: TType): InitSpec {
  return t.dims.length >= 2 ? { kind: 'normal', mean: 0, std: 0.02 } : { kind: 'constant', value: 0 };
}

function dedupeNames(names: string[]): string[] {
  const seen = new Map<string, number>();
  return names.map((n) => {
    const k = seen.get(n) ?? 0;
    seen.set(n, k + 1);
    return k ? `${n}_${k}` : n;
  });
}

/** Line of a name's first definition in a body: an argument, a param or a `let`. */
function firstDefinition(decl: A.FunctionDecl, name: string): number {
  const arg = decl.params.find((p) => p.name.name === name);
  if (arg) return arg.name.span.line;
  for (const s of decl.body) {
    if (s.kind === 'param' && s.name.name === name) return s.name.span.line;
    const n = s.kind === 'let' && s.isLet ? s.names.find((x) => x.name === name) : undefined;
    if (n) return n.span.line;
  }
  return decl.name.span.line;
}

export { joinSpans };
