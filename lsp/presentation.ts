/** The features that present the index: folding, semantic tokens, signature help, inlay hints, code lens and quick fixes. */
import {
  CodeActionKind,
  InlayHintKind,
  type CodeAction,
  type CodeActionParams,
  type CodeLens,
  type Diagnostic,
  type FoldingRange,
  type InlayHint,
  type Range,
  type SemanticTokens,
  type SemanticTokensLegend,
  type SignatureHelp,
} from 'vscode-languageserver';
import type { TextDocument } from 'vscode-languageserver-textdocument';
import { OPS } from '../compiler/ops/registry.js';
import { concreteShape, printType } from '../compiler/types.js';
import { typeNodeText } from '../grammar/ast-text.js';
import type * as A from '../grammar/ast.js';
import type { Analysis } from './analysis.js';
import { enclosingCall } from './completion.js';
import type { DeclKind, Occurrence } from './index.js';

export const TOKEN_LEGEND: SemanticTokensLegend = {
  tokenTypes: ['namespace', 'class', 'function', 'variable', 'parameter', 'property', 'enumMember', 'typeParameter'],
  tokenModifiers: ['declaration', 'readonly', 'defaultLibrary'],
};
const TYPE_OF: Record<DeclKind, number> = {
  mesh: 0,
  config: 0,
  preset: 0,
  section: 0,
  model: 1,
  block: 2,
  const: 3,
  let: 3,
  input: 4,
  param: 5,
  axis: 6,
  dim: 7,
};

export function foldingRanges(a: Analysis, doc: TextDocument): FoldingRange[] {
  const out: FoldingRange[] = [];
  const fold = (s: { start: number; end: number }, kind?: string) => {
    const r = { start: doc.positionAt(s.start + a.bom).line, end: doc.positionAt(s.end + a.bom).line };
    if (r.end > r.start) out.push({ startLine: r.start, endLine: r.end - 1, ...(kind ? { kind } : {}) });
  };
  for (const item of a.index.program.items) fold(item.span);
  for (const c of a.index.program.comments) fold(c.span, 'comment');
  return out.sort((x, y) => x.startLine - y.startLine);
}

/** One token per name: its declaration's kind (an op is a default-library function), relative positions as LSP encodes them. */
export function semanticTokens(a: Analysis, doc: TextDocument): SemanticTokens {
  const toks = a.index.occurrences
    .filter((o): o is Occurrence => !!(o.decl || o.op))
    .map((o) => ({ o, p: doc.positionAt(o.span.start + a.bom) }))
    .sort((x, y) => x.p.line - y.p.line || x.p.character - y.p.character);
  const data: number[] = [];
  let line = 0;
  let ch = 0;
  for (const { o, p } of toks) {
    const type = o.op ? 2 : TYPE_OF[o.decl!.kind];
    const mods = (o.isDecl ? 1 : 0) | (o.decl?.kind === 'const' ? 2 : 0) | (o.op ? 4 : 0);
    data.push(p.line - line, p.line === line ? p.character - ch : p.character, o.span.end - o.span.start, type, mods);
    line = p.line;
    ch = p.character;
  }
  return { data };
}

export function signatureHelp(a: Analysis, offset: number): SignatureHelp | null {
  const call = enclosingCall(a.text.slice(a.bom), offset);
  if (!call) return null;
  const op = OPS.get(call.name);
  const block = a.index.program.items.find((i): i is A.FunctionDecl => i.kind === 'block' && i.name.name === call.name);
  const params = op ? op.args.map((s) => `${s.name}: ${s.kind}`) : block ? block.params.map((p) => `${p.name.name}: ${typeNodeText(p.type)}`) : undefined;
  if (!params) return null;
  return {
    signatures: [{ label: `${call.name}(${params.join(', ')})`, ...(op ? { documentation: op.doc } : {}), parameters: params.map((label) => ({ label })) }],
    activeSignature: 0,
    activeParameter: Math.min(call.argIndex, Math.max(0, params.length - 1)),
  };
}

/** After each `let` name with a tensor value: its inferred type, at concrete dims when known. */
export function inlayHints(a: Analysis, doc: TextDocument, range: Range): InlayHint[] {
  const from = doc.offsetAt(range.start) - a.bom;
  const to = doc.offsetAt(range.end) - a.bom;
  const out: InlayHint[] = [];
  for (const d of a.index.decls) {
    if (d.kind !== 'let' || d.span.end < from || d.span.start > to) continue;
    const seen = a.index.valueOf({ span: d.span, name: d.name, decl: d, isDecl: true });
    if (seen?.symbolic.kind !== 'tensor') continue;
    out.push({ position: doc.positionAt(d.span.end + a.bom), label: `: ${printType(seen.symbolic.v.type)}`, kind: InlayHintKind.Type, paddingLeft: false });
  }
  return out;
}

/** Above each block and model: the elements of the parameters it declares itself (at concrete dims). */
export function codeLenses(a: Analysis, doc: TextDocument): CodeLens[] {
  const out: CodeLens[] = [];
  for (const [fn, locals] of a.index.locals) {
    let n = 0;
    let known = true;
    let count = 0;
    for (const d of locals) {
      if (d.kind !== 'param') continue;
      count++;
      const v = a.index.valueOf({ span: d.span, name: d.name, decl: d, isDecl: true });
      const shape = v?.concrete?.kind === 'tensor' ? concreteShape(v.concrete.v.type) : undefined;
      if (shape) n += shape.reduce((x, y) => x * y, 1);
      else known = false;
    }
    const title = !count ? 'no parameters' : known ? `${n.toLocaleString('en-US')} parameters` : `${count} parameter tensors`;
    out.push({ range: toLine(doc, a.bom, fn.name.span), command: { title, command: '' } });
  }
  return out;
}

const toLine = (doc: TextDocument, bom: number, s: { start: number; end: number }): Range => ({
  start: doc.positionAt(s.start + bom),
  end: doc.positionAt(s.end + bom),
});

/**
 * Quick fixes: a diagnostic that says "did you mean 'x'?" replaces its span with x; a split
 * that does not divide its dim (MDC0402) can be replicated instead, or split over a mesh
 * axis whose size divides it.
 */
export function codeActions(a: Analysis, doc: TextDocument, p: CodeActionParams): CodeAction[] {
  const out: CodeAction[] = [];
  const fix = (d: Diagnostic, title: string, newText: string, isPreferred: boolean) =>
    out.push({ title, kind: CodeActionKind.QuickFix, diagnostics: [d], isPreferred, edit: { changes: { [doc.uri]: [{ range: d.range, newText }] } } });
  for (const d of p.context.diagnostics) {
    if (d.source !== 'mdc') continue;
    const message = typeof d.message === 'string' ? d.message : d.message.value;
    const m = /did you mean '([^']+)'\?/.exec(message);
    if (m) fix(d, `Change to '${m[1]}'`, m[1]!, true);
    if (d.code === 'MDC0402') splitFixes(a, doc.getText(d.range), message).forEach(([title, text], i) => fix(d, title, text, i === 0));
  }
  return out;
}

/** For a dim written `size@axes` that its axes do not divide: keep it whole, or split it over an axis that divides it. */
function splitFixes(a: Analysis, written: string, message: string): [string, string][] {
  const at = written.indexOf('@');
  if (at < 0) return [];
  const size = written.slice(0, at).trimEnd();
  const axes = written
    .slice(at + 1)
    .replace(/[()\s]/g, '')
    .split(',');
  const fixes: [string, string][] = [[`Replicate this dim (remove @${written.slice(at + 1).trim()})`, size]];
  const n = Number(/^dim (\d+) of /.exec(message)?.[1]);
  if (Number.isInteger(n))
    for (const [axis, devices] of a.checked.env?.meshAxes ?? [])
      if (!axes.includes(axis) && devices > 1 && n % devices === 0) fixes.push([`Split over ${axis} instead (${devices} devices)`, `${size}@${axis}`]);
  return fixes;
}
