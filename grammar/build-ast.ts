import type { CstNode, IToken } from 'chevrotain';
import type { Span } from '../diagnostics/span.js';
import type * as A from './ast.js';

/**
 * CST → typed AST. After error recovery the CST may miss children; every accessor
 * here tolerates that and returns undefined, and callers drop the broken node
 * (its syntax error was already reported).
 */
type Ch = Record<string, (CstNode | IToken)[] | undefined>;
const ch = (n: CstNode): Ch => n.children as Ch;
const tok = (n: CstNode, name: string, i = 0): IToken | undefined => ch(n)[name]?.[i] as IToken | undefined;
const toks = (n: CstNode, name: string): IToken[] => (ch(n)[name] ?? []) as IToken[];
const node = (n: CstNode, name: string, i = 0): CstNode | undefined => ch(n)[name]?.[i] as CstNode | undefined;
const nodes = (n: CstNode, name: string): CstNode[] => (ch(n)[name] ?? []) as CstNode[];

export function tokenSpan(t: IToken): Span {
  return {
    start: t.startOffset,
    end: (t.endOffset ?? t.startOffset) + 1,
    line: t.startLine ?? 1,
    col: t.startColumn ?? 1,
    endLine: t.endLine ?? t.startLine ?? 1,
    endCol: (t.endColumn ?? t.startColumn ?? 1) + 1,
  };
}

function cstSpan(n: CstNode): Span {
  const l = n.location;
  if (!l || Number.isNaN(l.startOffset)) return { start: 0, end: 0, line: 1, col: 1, endLine: 1, endCol: 1 };
  return {
    start: l.startOffset,
    end: (l.endOffset ?? l.startOffset) + 1,
    line: l.startLine ?? 1,
    col: l.startColumn ?? 1,
    endLine: l.endLine ?? l.startLine ?? 1,
    endCol: (l.endColumn ?? l.startColumn ?? 1) + 1,
  };
}

const valid = (t: IToken | undefined): t is IToken => !!t && !Number.isNaN(t.startOffset) && t.image !== undefined;
const ident = (t: IToken | undefined): A.Ident | undefined => (valid(t) ? { name: t.image, span: tokenSpan(t) } : undefined);
const defined = <T>(xs: (T | undefined)[]): T[] => xs.filter((x): x is T => x !== undefined);

export interface DocToken {
  readonly text: string;
  readonly start: number;
  readonly end: number;
}

export class AstBuilder {
  constructor(
    private readonly source: string,
    private readonly docs: readonly DocToken[],
  ) {}

  /** Doc comments (`///`) directly above a declaration, separated only by whitespace. */
  private docFor(start: number): string | undefined {
    // Last doc comment ending at or before `start` (docs are in source order), then walk back.
    let lo = 0;
    let hi = this.docs.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.docs[mid]!.end <= start) lo = mid + 1;
      else hi = mid;
    }
    const lines: string[] = [];
    let cursor = start;
    for (let i = lo - 1; i >= 0; i--) {
      const d = this.docs[i]!;
      if (!/^\s*$/.test(this.source.slice(d.end, cursor))) break;
      lines.unshift(d.text.replace(/^\/\/\/ ?/, ''));
      cursor = d.start;
    }
    return lines.length ? lines.join('\n') : undefined;
  }

  program(n: CstNode, file: string, comments: A.Comment[]): A.Program {
    return { file, comments, items: defined(nodes(n, 'item').map((i) => this.item(i))) };
  }

  private item(n: CstNode): A.Item | undefined {
    const c = ch(n);
    if (c.meshDecl) return this.mesh(c.meshDecl[0] as CstNode);
    if (c.configDecl) return this.config(c.configDecl[0] as CstNode);
    if (c.presetDecl) return this.preset(c.presetDecl[0] as CstNode);
    if (c.funcDecl) return this.func(c.funcDecl[0] as CstNode);
    if (c.sectionDecl) return this.section(c.sectionDecl[0] as CstNode);
    return undefined;
  }

  private mesh(n: CstNode): A.MeshDecl | undefined {
    const name = ident(tok(n, 'Identifier'));
    if (!name) return undefined;
    const axes = defined(
      nodes(n, 'meshAxis').map((a): A.MeshAxis | undefined => {
        const an = ident(tok(a, 'Identifier'));
        const size = this.exprOpt(node(a, 'expr'));
        return an && size ? { name: an, size, span: cstSpan(a) } : undefined;
      }),
    );
    const span = cstSpan(n);
    return { kind: 'mesh', name, axes, span, doc: this.docFor(span.start) };
  }

  private entries(n: CstNode | undefined): A.Entry[] {
    if (!n) return [];
    return defined(nodes(n, 'entry').map((e) => this.entry(e)));
  }

  private entry(e: CstNode): A.Entry | undefined {
    const name = ident(tok(e, 'Identifier'));
    const value = this.exprOpt(node(e, 'expr'));
    const span = cstSpan(e);
    return name && value ? { name, value, span, doc: this.docFor(span.start) } : undefined;
  }

  private config(n: CstNode): A.ConfigDecl | undefined {
    const name = ident(tok(n, 'Identifier'));
    if (!name) return undefined;
    const span = cstSpan(n);
    return { kind: 'config', name, entries: this.entries(node(n, 'entryBlock')), span, doc: this.docFor(span.start) };
  }

  private preset(n: CstNode): A.PresetDecl | undefined {
    const name = ident(tok(n, 'name'));
    if (!name) return undefined;
    const span = cstSpan(n);
    const base = ident(tok(n, 'base'));
    return { kind: 'preset', name, ...(base ? { base } : {}), entries: this.entries(node(n, 'entryBlock')), span, doc: this.docFor(span.start) };
  }

  private section(n: CstNode): A.SectionDecl | undefined {
    const kind = tok(n, 'kind');
    const target = ident(tok(n, 'Identifier'));
    if (!valid(kind) || !target) return undefined;
    const span = cstSpan(n);
    return { kind: kind.image as 'train' | 'infer', target, entries: this.entries(node(n, 'entryBlock')), span, doc: this.docFor(span.start) };
  }

  private func(n: CstNode): A.FunctionDecl | undefined {
    const kind = tok(n, 'kind');
    const name = ident(tok(n, 'Identifier'));
    const rt = node(n, 'returnTypes');
    if (!valid(kind) || !name || !rt) return undefined;
    const params = defined(
      nodes(n, 'paramDecl').map((p): A.ParamDecl | undefined => {
        const pn = ident(tok(p, 'Identifier'));
        const type = this.tensorType(node(p, 'tensorType'));
        return pn && type ? { name: pn, type, span: cstSpan(p) } : undefined;
      }),
    );
    const returns = defined(nodes(rt, 'tensorType').map((t) => this.tensorType(t)));
    const where = defined(nodes(n, 'entry').map((e) => this.entry(e)));
    const body = defined(nodes(n, 'stmt').map((s) => this.stmt(s)));
    const lb = toks(n, 'LBrace')[0];
    const rb = toks(n, 'RBrace')[0];
    const span = cstSpan(n);
    const bodySpan = valid(lb) && valid(rb) ? { ...tokenSpan(lb), end: tokenSpan(rb).end, endLine: tokenSpan(rb).endLine, endCol: tokenSpan(rb).endCol } : span;
    return { kind: kind.image as 'block' | 'model', name, params, returns, where, body, span, bodySpan, doc: this.docFor(span.start) };
  }

  tensorType(n: CstNode | undefined): A.TensorTypeNode | undefined {
    if (!n) return undefined;
    const dtype = ident(tok(n, 'dtype'));
    if (!dtype) return undefined;
    const dims = defined(
      nodes(n, 'dim').map((d): A.DimNode | undefined => {
        const size = this.dimExpr(node(d, 'dimExpr'));
        return size ? { size, axes: defined(toks(d, 'axis').map(ident)), span: cstSpan(d) } : undefined;
      }),
    );
    return { dtype, dims, partial: defined(toks(n, 'partialAxis').map(ident)), span: cstSpan(n) };
  }

  private dimExpr(n: CstNode | undefined): A.Expr | undefined {
    if (!n) return undefined;
    return this.binaryChain(n, (o) => (o.name === 'dimTerm' ? this.dimExpr(o) : this.dimFactor(o)));
  }

  private dimFactor(n: CstNode): A.Expr | undefined {
    const num = tok(n, 'NumberLiteral');
    if (valid(num)) return this.number(num);
    const id = ident(tok(n, 'Identifier'));
    if (id) return { kind: 'name', name: id.name, span: id.span };
    const inner = node(n, 'dimExpr');
    if (inner) return this.dimExpr(inner);
    const neg = node(n, 'dimFactor');
    const operand = neg && this.dimFactor(neg);
    return operand ? { kind: 'unary', op: '-', operand, span: cstSpan(n) } : undefined;
  }

  /** Left-associative chain `operand (op operand)*`, as the expr/multiplicative/dim rules produce. */
  private binaryChain(n: CstNode, sub: (o: CstNode) => A.Expr | undefined): A.Expr | undefined {
    const operands = nodes(n, 'operand');
    const ops = toks(n, 'op');
    let left = operands[0] && sub(operands[0]);
    if (!left) return undefined;
    for (let i = 1; i < operands.length; i++) {
      const right = sub(operands[i]!);
      const op = ops[i - 1];
      if (!right || !valid(op)) return undefined;
      left = {
        kind: 'binary',
        op: op.image as A.BinaryOp,
        left,
        right,
        span: { ...left.span, end: right.span.end, endLine: right.span.endLine, endCol: right.span.endCol },
      };
    }
    return left;
  }

  private stmt(n: CstNode): A.Stmt | undefined {
    const p = node(n, 'paramStmt');
    if (p) {
      const name = ident(tok(p, 'Identifier'));
      const type = this.tensorType(node(p, 'tensorType'));
      if (!name || !type) return undefined;
      const initNode = node(p, 'expr');
      const init = initNode ? this.exprOpt(initNode) : undefined;
      if (initNode && !init) return undefined;
      const span = cstSpan(p);
      return { kind: 'param', name, type, ...(init ? { init } : {}), annotations: this.annotations(p), span, doc: this.docFor(span.start) };
    }
    const l = node(n, 'letStmt');
    if (l) {
      const names = defined(toks(l, 'Identifier').map(ident));
      const value = this.exprOpt(node(l, 'expr'));
      if (!names.length || !value) return undefined;
      const span = cstSpan(l);
      return { kind: 'let', isLet: valid(tok(l, 'Let')), names, value, annotations: this.annotations(l), span, doc: this.docFor(span.start) };
    }
    const r = node(n, 'returnStmt');
    if (r) {
      const values = defined(nodes(r, 'expr').map((e) => this.exprOpt(e)));
      if (!values.length) return undefined;
      const span = cstSpan(r);
      return { kind: 'return', values, span, doc: this.docFor(span.start) };
    }
    return undefined;
  }

  private annotations(n: CstNode): A.Annotation[] {
    return defined(
      nodes(n, 'annotation').map((a): A.Annotation | undefined => {
        const t = tok(a, 'AnnotationName');
        if (!valid(t)) return undefined;
        const s = tokenSpan(t);
        return { name: { name: t.image.slice(1), span: { ...s, start: s.start + 1, col: s.col + 1 } }, args: this.args(a), span: cstSpan(a) };
      }),
    );
  }

  private args(n: CstNode): A.Arg[] {
    return defined(
      nodes(n, 'arg').map((a): A.Arg | undefined => {
        const value = this.exprOpt(node(a, 'expr'));
        if (!value) return undefined;
        const kw = ident(tok(a, 'kw'));
        return { ...(kw ? { name: kw } : {}), value, span: cstSpan(a) };
      }),
    );
  }

  exprOpt(n: CstNode | undefined): A.Expr | undefined {
    if (!n) return undefined;
    switch (n.name) {
      case 'expr':
      case 'multiplicative':
        return this.binaryChain(n, (o) => this.exprOpt(o));
      case 'unary': {
        const inner = node(n, 'unary');
        if (inner) {
          const operand = this.exprOpt(inner);
          return operand ? { kind: 'unary', op: '-', operand, span: cstSpan(n) } : undefined;
        }
        return this.exprOpt(node(n, 'power'));
      }
      case 'power': {
        const base = this.primary(node(n, 'primary'));
        const expNode = node(n, 'unary');
        if (!expNode) return base;
        const exp = this.exprOpt(expNode);
        return base && exp ? { kind: 'binary', op: '**', left: base, right: exp, span: cstSpan(n) } : undefined;
      }
      default:
        return undefined;
    }
  }

  private number(t: IToken): A.NumberLit {
    const isInt = /^\d+$/.test(t.image);
    return { kind: 'num', value: Number(t.image), text: t.image, isInt, span: tokenSpan(t) };
  }

  private primary(n: CstNode | undefined): A.Expr | undefined {
    if (!n) return undefined;
    const span = cstSpan(n);
    const num = tok(n, 'NumberLiteral');
    if (valid(num)) return this.number(num);
    const size = tok(n, 'SizeLiteral');
    if (valid(size)) return { kind: 'size', bytes: parseSize(size.image), text: size.image, span };
    const str = tok(n, 'StringLiteral');
    if (valid(str)) return { kind: 'str', value: unquote(str.image), span };
    if (valid(tok(n, 'True'))) return { kind: 'bool', value: true, span };
    if (valid(tok(n, 'False'))) return { kind: 'bool', value: false, span };
    if (valid(tok(n, 'LBracket'))) {
      const items = nodes(n, 'item').map((i) => this.exprOpt(i));
      return items.every((i) => i) ? { kind: 'list', items: items as A.Expr[], span } : undefined;
    }
    const paren = node(n, 'expr');
    if (paren) return this.exprOpt(paren);
    const rep = node(n, 'repeatExpr');
    if (rep) {
      const count = this.exprOpt(node(rep, 'expr'));
      const call = this.callOrName(node(rep, 'repeatCall'), true);
      return count && call && call.kind === 'call' ? { kind: 'repeat', count, call, span: cstSpan(rep) } : undefined;
    }
    return this.callOrName(node(n, 'callOrName'), false);
  }

  private callOrName(n: CstNode | undefined, mustCall: boolean): A.Expr | undefined {
    if (!n) return undefined;
    const id = ident(tok(n, 'Identifier'));
    if (!id) return undefined;
    if (!valid(tok(n, 'LParen'))) return mustCall ? undefined : { kind: 'name', name: id.name, span: id.span };
    return { kind: 'call', callee: id, args: this.args(n), span: cstSpan(n) };
  }
}

const UNITS: Record<string, number> = { KiB: 2 ** 10, MiB: 2 ** 20, GiB: 2 ** 30, TiB: 2 ** 40, KB: 1e3, MB: 1e6, GB: 1e9, TB: 1e12 };
function parseSize(text: string): number {
  const m = /^([\d.]+)([A-Za-z]+)$/.exec(text)!;
  return Math.round(Number(m[1]) * UNITS[m[2]!]!);
}
function unquote(s: string): string {
  return s.replace(/^"|"$/g, '').replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c === 't' ? '\t' : c));
}
