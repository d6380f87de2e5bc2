import type { IToken } from 'chevrotain';
import { diag, type Diagnostic } from '../diagnostics/messages.js';
import { LineIndex, type Span } from '../diagnostics/span.js';
import type { Comment, Program } from './ast.js';
import { AstBuilder, tokenSpan } from './build-ast.js';
import { BlockComment, keywordNames, mdcLexer, NumberLiteral, StringLiteral } from './lexer.js';
import { getParser } from './parser.js';

export const MAX_NESTING = 256;
export const MAX_ERRORS = 50;
/** The checker recurses over the AST: a bound on real nesting (calls, lists, operands of operands). */
export const MAX_AST_DEPTH = 512;
/**
 * `x + x + ... + x` parses flat but becomes a left-leaning tree as deep as the chain is long,
 * which the checker and the formatter recurse over: a size limit of its own, not nesting.
 */
export const MAX_CHAIN = 1000;

const OPERAND_END = new Set(['Identifier', 'NumberLiteral', 'SizeLiteral', 'StringLiteral', 'True', 'False', 'RParen', 'RBracket']);
const EXPR_END = new Set(['Comma', 'Semicolon', 'Equals', 'Colon', 'Arrow']);

export interface ParseResult {
  readonly program: Program;
  readonly diagnostics: readonly Diagnostic[];
  readonly lines: LineIndex;
}

/**
 * Source text → typed AST plus syntax diagnostics. Never throws on any input. A leading
 * byte-order mark is not part of the text: spans are offsets into `lines.text`, the source
 * without it, and the first line's columns count from what follows it.
 */
export function parse(source: string, file = '<input>'): ParseResult {
  const lines = new LineIndex(source);
  const text = lines.text;
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
    if (t.tokenType === StringLiteral && !/^"(?:[^"\\\n\r]|\\.)*"$/.test(t.image)) {
      diagnostics.push(diag(file, tokenSpan(t), 'MDC0004'));
    } else if (t.tokenType === NumberLiteral && !isRepresentable(t.image)) {
      diagnostics.push(diag(file, tokenSpan(t), 'MDC0007', t.image));
    }
  }
  if (diagnostics.length) {
    // The passes above each scan the whole file: report in source order, within the cap.
    const ordered = diagnostics.sort((a, b) => a.span.start - b.span.start).slice(0, MAX_ERRORS);
    return capped({ ...empty(), diagnostics: ordered });
  }

  // A recursive-descent parser would exhaust the stack on pathological nesting: refuse it up front.
  // Prefix '-' and '**' recurse like brackets do; they count until the expression ends.
  let depth = 0;
  const chains: number[] = [0];
  let chain = 0;
  let prev: IToken | undefined;
  for (const t of lexed.tokens) {
    const n = t.tokenType.name;
    if (n === 'LParen' || n === 'LBracket' || n === 'LBrace') {
      depth++;
      chains.push(0);
    } else if (n === 'RParen' || n === 'RBracket' || n === 'RBrace') {
      depth = Math.max(0, depth - 1);
      if (chains.length > 1) chain -= chains.pop()!;
    } else if (n === 'Power' || (n === 'Minus' && !(prev && OPERAND_END.has(prev.tokenType.name)))) {
      chains[chains.length - 1]!++;
      chain++;
    } else if (EXPR_END.has(n) || keywordNames.has(t.image)) {
      chain -= chains[chains.length - 1]!;
      chains[chains.length - 1] = 0;
    }
    if (depth + chain > MAX_NESTING) {
      diagnostics.push(diag(file, tokenSpan(t), 'MDC0005', MAX_NESTING));
      return empty();
    }
    prev = t;
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
  const tooDeep = deepNode(program);
  if (tooDeep) {
    const d = tooDeep.chain ? diag(file, tooDeep.span, 'MDC0009', MAX_CHAIN) : diag(file, tooDeep.span, 'MDC0005', MAX_AST_DEPTH);
    return capped({ ...empty(), diagnostics: [...dedupe(diagnostics), d] });
  }
  return capped({ program, diagnostics: dedupe(diagnostics), lines });

  function capped(r: ParseResult): ParseResult {
    if (r.diagnostics.length >= MAX_ERRORS) {
      const last = r.diagnostics[r.diagnostics.length - 1]!;
      return { ...r, diagnostics: [...r.diagnostics, diag(file, last.span, 'MDC0006', MAX_ERRORS)] };
    }
    return r;
  }
}

/**
 * The first node nested deeper than MAX_AST_DEPTH objects, or more than MAX_CHAIN operators
 * into a left-associative chain, found without recursion. The left operand of a binary
 * operator continues its chain rather than nesting (`a + b + c` is one level deep), but
 * chains inside chains add up: the path from the root, which the checker recurses along,
 * stays within MAX_AST_DEPTH + MAX_CHAIN.
 */
function deepNode(program: Program): { span: Span; chain: boolean } | undefined {
  // Four parallel stacks (node, nesting, chain, path length): no tuple per node, so a big file makes no garbage here.
  const nodes: unknown[] = [program.items];
  const depth: number[] = [0];
  const chains: number[] = [0];
  const paths: number[] = [0];
  while (nodes.length) {
    const o = nodes.pop();
    const d = depth.pop()!;
    const chain = chains.pop()!;
    const path = paths.pop()!;
    if (Array.isArray(o)) {
      for (const x of o) {
        if (!x || typeof x !== 'object') continue;
        nodes.push(x);
        depth.push(d);
        chains.push(0);
        paths.push(path);
      }
      continue;
    }
    if (!o || typeof o !== 'object') continue;
    const span = (o as { span?: Span }).span;
    if (span && (chain > MAX_CHAIN || path > MAX_AST_DEPTH + MAX_CHAIN)) return { span, chain: true };
    if (span && d > MAX_AST_DEPTH) return { span, chain: false };
    const binary = (o as { kind?: unknown }).kind === 'binary';
    const fields = o as Record<string, unknown>;
    for (const k in fields) {
      const v = fields[k];
      if (k === 'span' || k === 'bodySpan' || !v || typeof v !== 'object') continue;
      // The left operand of a binary operator continues its chain; anything else nests one level.
      const continues = binary && k === 'left';
      nodes.push(v);
      paths.push(path + 1);
      depth.push(continues ? d : d + 1);
      chains.push(continues ? chain + 1 : 0);
    }
  }
  return undefined;
}

/** Numbers must survive the trip to a double: no overflow to Infinity, no integer that rounds. */
function isRepresentable(image: string): boolean {
  const v = Number(image);
  return Number.isFinite(v) && (!/^\d+$/.test(image) || Number.isSafeInteger(v));
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
