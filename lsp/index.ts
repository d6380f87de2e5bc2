/**
 * The position index of one document: every declaration and every use of a name, each
 * resolved to its declaration, and the values the checker computed for the syntax nodes
 * (told through check()'s observer). The editor features (hover, definition, references,
 * rename, symbols, completion, inlay hints) are queries over it.
 */
import type { Span } from '../diagnostics/span.js';
import type * as A from '../grammar/ast.js';
import { OPS } from '../compiler/ops/registry.js';
import { flopsOf } from '../compiler/ops/registry.js';
import type { Val } from '../compiler/elaborate.js';
import type { GraphBuilder } from '../compiler/ir.js';
import { concreteShape } from '../compiler/types.js';

export type DeclKind = 'mesh' | 'axis' | 'config' | 'const' | 'preset' | 'block' | 'model' | 'input' | 'param' | 'let' | 'dim' | 'section';

export interface Decl {
  readonly name: string;
  readonly kind: DeclKind;
  /** The name's span. */
  readonly span: Span;
  /** The whole declaration's span. */
  readonly full: Span;
  readonly doc?: string;
  /** The block or model a local belongs to. */
  readonly owner?: A.FunctionDecl;
  /** The node whose value is the declared name's (an input's or parameter's name, a let's value). */
  readonly valueNode?: A.Node;
  /** For `let a, b = f(...)`: which item of the tuple. */
  readonly item?: number;
}

/** One occurrence of a name: its declaration or a use of it (an op's name has `op` and no declaration). */
export interface Occurrence {
  readonly span: Span;
  readonly name: string;
  readonly decl?: Decl;
  readonly isDecl: boolean;
  readonly op?: string;
  /** The syntax node the occurrence is (a NameRef has a value of its own). */
  readonly node?: A.Node;
}

/** What the checker said about one syntax node: its value first seen (symbolic dims), and at concrete dims. */
export interface Seen {
  symbolic: Val;
  concrete?: Val;
  /** The FLOPs of the op that made the value, at concrete dims. */
  flops?: number;
}

export class DocIndex {
  readonly decls: Decl[] = [];
  readonly occurrences: Occurrence[] = [];
  readonly values = new Map<A.Node, Seen>();
  readonly globals = new Map<string, Decl>();
  /** Each function's locals in order (inputs, where dims, size symbols, params, lets). */
  readonly locals = new Map<A.FunctionDecl, Decl[]>();

  constructor(readonly program: A.Program) {}

  /** check()'s observer: keeps the first value of each node, and its value at concrete dims with the FLOPs of its op. */
  readonly observe = (node: A.Node, v: Val, builder: GraphBuilder): void => {
    const seen = this.values.get(node);
    if (!seen) {
      this.values.set(node, { symbolic: v });
      return;
    }
    if (v.kind !== 'tensor' || !concreteShape(v.v.type)) return;
    seen.concrete = v;
    const producer = v.v.producer;
    if (producer === undefined) return;
    const n = builder.node(producer);
    const shapes = (ids: readonly number[]) => ids.map((id) => concreteShape(builder.value(id).type) ?? []);
    try {
      seen.flops = flopsOf(n, shapes(n.inputs), shapes(n.outputs));
    } catch {
      // an op without a FLOP rule: hover leaves the count out
    }
  };

  /** The occurrence under an offset (a span contains it, or ends right at it: the cursor just after a name). */
  at(offset: number): Occurrence | undefined {
    let best: Occurrence | undefined;
    for (const o of this.occurrences) {
      if (o.span.start <= offset && offset <= o.span.end && (!best || o.span.end - o.span.start < best.span.end - best.span.start)) best = o;
    }
    return best;
  }

  /** Every occurrence of a declaration, the declaration first. */
  occurrencesOf(d: Decl): Occurrence[] {
    return this.occurrences.filter((o) => o.decl === d).sort((a, b) => Number(b.isDecl) - Number(a.isDecl) || a.span.start - b.span.start);
  }

  /** The function whose body contains an offset. */
  functionAt(offset: number): A.FunctionDecl | undefined {
    for (const item of this.program.items)
      if ((item.kind === 'block' || item.kind === 'model') && item.span.start <= offset && offset <= item.span.end) return item;
    return undefined;
  }

  /** The value the checker gave a declaration or use. */
  valueOf(o: Occurrence): Seen | undefined {
    const node = o.node ?? o.decl?.valueNode;
    const seen = node && this.values.get(node);
    if (!seen || o.decl?.item === undefined || o.node) return seen;
    const pick = (v: Val | undefined) => (v?.kind === 'tuple' ? v.items[o.decl!.item!] : undefined);
    const symbolic = pick(seen.symbolic);
    return symbolic ? { symbolic, ...(pick(seen.concrete) ? { concrete: pick(seen.concrete)! } : {}) } : undefined;
  }
}

/** Builds the declarations and occurrences of a program (values come later, from check()). */
export function buildIndex(program: A.Program): DocIndex {
  const ix = new DocIndex(program);
  const declare = (d: Decl, scope?: Map<string, Decl>) => {
    ix.decls.push(d);
    ix.occurrences.push({ span: d.span, name: d.name, decl: d, isDecl: true, ...(d.valueNode && d.item === undefined ? { node: d.valueNode } : {}) });
    if (scope) scope.set(d.name, d);
    else if (!ix.globals.has(d.name)) ix.globals.set(d.name, d);
    if (d.owner) ix.locals.get(d.owner)?.push(d);
  };
  const doc = (d: { doc?: string }) => (d.doc ? { doc: d.doc } : {});
  for (const item of program.items) {
    switch (item.kind) {
      case 'mesh':
        declare({ name: item.name.name, kind: 'mesh', span: item.name.span, full: item.span, ...doc(item) });
        for (const a of item.axes) declare({ name: a.name.name, kind: 'axis', span: a.name.span, full: a.span });
        break;
      case 'config':
        declare({ name: item.name.name, kind: 'config', span: item.name.span, full: item.span, ...doc(item) });
        for (const e of item.entries) declare({ name: e.name.name, kind: 'const', span: e.name.span, full: e.span, valueNode: e.value, ...doc(e) });
        break;
      case 'preset':
        declare({ name: item.name.name, kind: 'preset', span: item.name.span, full: item.span, ...doc(item) });
        break;
      case 'block':
      case 'model':
        declare({ name: item.name.name, kind: item.kind, span: item.name.span, full: item.span, ...doc(item) });
        break;
      case 'train':
      case 'infer':
        break;
    }
  }
  const use = (id: { name: string; span: Span }, scope: ReadonlyMap<string, Decl>, node?: A.Node) => {
    const decl = scope.get(id.name) ?? ix.globals.get(id.name);
    ix.occurrences.push({ span: id.span, name: id.name, isDecl: false, ...(decl ? { decl } : {}), ...(node ? { node } : {}) });
  };
  const expr = (e: A.Expr, scope: ReadonlyMap<string, Decl>): void => {
    // Worklist: expressions may nest deeply.
    const work: A.Expr[] = [e];
    for (let x = work.pop(); x; x = work.pop()) {
      switch (x.kind) {
        case 'name':
          use(x, scope, x);
          break;
        case 'call': {
          const d = ix.globals.get(x.callee.name);
          if (d && (d.kind === 'block' || d.kind === 'model')) use(x.callee, scope);
          else if (OPS.has(x.callee.name)) ix.occurrences.push({ span: x.callee.span, name: x.callee.name, isDecl: false, op: x.callee.name, node: x });
          for (const a of x.args) work.push(a.value);
          break;
        }
        case 'binary':
          work.push(x.right, x.left);
          break;
        case 'unary':
          work.push(x.operand);
          break;
        case 'list':
          work.push(...x.items);
          break;
        case 'repeat':
          work.push(x.call, x.count);
          break;
        default:
          break;
      }
    }
  };
  const type = (t: A.TensorTypeNode, scope: Map<string, Decl>, f?: A.FunctionDecl) => {
    for (const d of t.dims) {
      // A bare name in a signature that names nothing else is a size symbol, declared where it first appears.
      if (f && d.size.kind === 'name' && !scope.has(d.size.name) && !ix.globals.has(d.size.name)) {
        declare({ name: d.size.name, kind: 'dim', span: d.size.span, full: d.size.span, owner: f }, scope);
      } else expr(d.size, scope);
      for (const a of d.axes) use(a, scope);
    }
    for (const a of t.partial) use(a, scope);
  };
  for (const item of program.items) {
    if (item.kind === 'config' || item.kind === 'preset') {
      for (const e of item.entries) {
        if (item.kind === 'preset') use(e.name, new Map());
        expr(e.value, new Map());
      }
      if (item.kind === 'preset' && item.base) use(item.base, new Map());
    } else if (item.kind === 'mesh') {
      for (const a of item.axes) expr(a.size, new Map());
    } else if (item.kind === 'train' || item.kind === 'infer') {
      // A section's entries may name the values of its model (`loss = cross_entropy(logits, labels)`).
      use(item.target, new Map());
      const model = program.items.find((i): i is A.FunctionDecl => i.kind === 'model' && i.name.name === item.target.name);
      const scope = new Map((model && ix.locals.get(model)?.map((d) => [d.name, d] as const)) ?? []);
      for (const e of item.entries) expr(e.value, scope);
    } else if (item.kind === 'block' || item.kind === 'model') functionBody(item as A.FunctionDecl);
  }
  function functionBody(f: A.FunctionDecl) {
    ix.locals.set(f, []);
    const scope = new Map<string, Decl>();
    for (const w of f.where) declare({ name: w.name.name, kind: 'dim', span: w.name.span, full: w.span, owner: f }, scope);
    for (const w of f.where) expr(w.value, scope);
    for (const p of f.params) {
      type(p.type, scope, f);
      declare({ name: p.name.name, kind: 'input', span: p.name.span, full: p.span, owner: f, valueNode: p.name }, scope);
    }
    for (const r of f.returns) type(r, scope, f);
    for (const s of f.body) {
      if (s.kind === 'param') {
        type(s.type, scope);
        if (s.init) expr(s.init, scope);
        declare({ name: s.name.name, kind: 'param', span: s.name.span, full: s.span, owner: f, valueNode: s.name, ...doc(s) }, scope);
      } else if (s.kind === 'let') {
        expr(s.value, scope);
        s.names.forEach((n, i) => {
          if (s.isLet || !scope.has(n.name)) {
            const item = s.names.length > 1 ? { item: i } : {};
            declare({ name: n.name, kind: 'let', span: n.span, full: s.span, owner: f, valueNode: s.value, ...item, ...doc(s) }, scope);
          } else use(n, scope);
        });
      } else for (const v of s.values) expr(v, scope);
    }
  }
  return ix;
}
