import type { IToken } from 'chevrotain';
import { diag, type Diagnostic } from '../diagnostics/messages.js';
import { LineIndex, type Span } from '../diagnostics/span.js';
import type { Comment, Program } from './ast.js';
import { AstBuilder, tokenSpan } from './build-ast.js';
import { BlockComment, mdcLexer, StringLiteral } from './lexer.js';
import { getParser } from './parser.js';

export const MAX_NESTING = 256;
export const MAX_ERRORS = 50;

export interface ParseResult {
  readonly program: Program;
  readonly diagnostics: readonly Diagnostic[];
  readonly lines: LineIndex;
}

/** Source text → typed AST plus syntax diagnostics. Never throws on any input. */
export function parse(text: string, file = '<input>'): ParseResult {
  const lines = new LineIndex(text);
  const diagnostics: Diagnostic[] = [];
  const empty = (): ParseResult => ({ program: { file, items: [], comments: [] }, diagnostics, lines });

  const nul = text.indexOf('\u0000');
  if (nul >= 0) {
    diagnostics.push(diag(file, lines.span(nul, nul + 1), 'MDC0008'));
    return empty();
  }

  const lexed = mdcLexer.tokenize(text);
  for (const e of lexed.errors) {
    if (diagnostics.length >= MAX_ERRORS) break;
    const ch = text.slice(e.offset, e.offset + 1);
    const shown = /[\x20-\x7e]/.test(ch) ? `'${ch}'` : `U+${ch.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`;
    diagnostics.push(diag(file, lines.span(e.offset, e.offset + Math.max(1, e.length)), 'MDC0001', shown));
  }
  const commentToks = (lexed.groups['comments'] ?? []) as IToken[];
  for (const c of commentToks) {
    if (c.tokenType === BlockComment && !c.image.endsWith('*/')) {
      diagnostics.push(diag(file, lines.span(c.startOffset, c.startOffset + 2), 'MDC0003'));
    } else if (c.tokenType === BlockComment && c.image.length === 3) {
      // '/*/' is an opening without a close
      diagnostics.push(diag(file, lines.span(c.startOffset, c.startOffset + 2), 'MDC0003'));
    }
  }
  for (const t of lexed.tokens) {
    if (t.tokenType === StringLiteral && (t.image.length < 2 || !t.image.endsWith('"') || t.image.endsWith('\\"'))) {
      diagnostics.push(diag(file, tokenSpan(t), 'MDC0004'));
    }
  }
  if (diagnostics.length) return capped(empty());

  // A recursive-descent parser would exhaust the stack on pathological nesting: refuse it up front.
  let depth = 0;
  for (const t of lexed.tokens) {
    const n = t.tokenType.name;
    if (n === 'LParen' || n === 'LBracket' || n === 'LBrace') {
      if (++depth > MAX_NESTING) {
        diagnostics.push(diag(file, tokenSpan(t), 'MDC0005', MAX_NESTING));
        return empty();
      }
    } else if (n === 'RParen' || n === 'RBracket' || n === 'RBrace') depth = Math.max(0, depth - 1);
  }

  const parser = getParser();
  parser.input = lexed.tokens;
  const cst = parser.program();
  const lastTok = lexed.tokens[lexed.tokens.length - 1];
  for (const e of parser.errors) {
    if (diagnostics.length >= MAX_ERRORS) break;
    diagnostics.push({ ...diag(file, errorSpan(e.token, lastTok, text, lines), 'MDC0002', e.message) });
  }
  const comments: Comment[] = commentToks.map((c) => ({ text: c.image, span: tokenSpan(c) }));
  const docs = ((lexed.groups['docs'] ?? []) as IToken[]).map((d) => ({ text: d.image, start: d.startOffset, end: d.endOffset! + 1 }));
  for (const d of docs) comments.push({ text: d.text, span: lines.span(d.start, d.end) });
  comments.sort((a, b) => a.span.start - b.span.start);
  const program = new AstBuilder(text, docs).program(cst, file, comments);
  return capped({ program, diagnostics: dedupe(diagnostics), lines });

  function capped(r: ParseResult): ParseResult {
    if (r.diagnostics.length >= MAX_ERRORS) {
      const last = r.diagnostics[r.diagnostics.length - 1]!;
      return { ...r, diagnostics: [...r.diagnostics, diag(file, last.span, 'MDC0006', MAX_ERRORS)] };
    }
    return r;
  }
}

function errorSpan(t: IToken, last: IToken | undefined, text: string, lines: LineIndex): Span {
  if (!Number.isNaN(t.startOffset)) return tokenSpan(t);
  // End of file: point just past the last real token.
  const at = last ? last.endOffset! + 1 : text.length;
  return lines.span(at, at);
}

function dedupe(ds: Diagnostic[]): Diagnostic[] {
  const seen = new Set<string>();
  return ds.filter((d) => {
    const k = `${d.span.start}:${d.code}:${d.message}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}
