/** A source range. Lines and columns are 1-based; offsets are 0-based UTF-16 indices. */
export interface Span {
  readonly start: number;
  readonly end: number; // exclusive
  readonly line: number;
  readonly col: number;
  readonly endLine: number;
  readonly endCol: number;
}

export const NO_SPAN: Span = { start: 0, end: 0, line: 1, col: 1, endLine: 1, endCol: 1 };

export function joinSpans(a: Span, b: Span): Span {
  const first = a.start <= b.start ? a : b;
  const last = a.end >= b.end ? a : b;
  return { start: first.start, end: last.end, line: first.line, col: first.col, endLine: last.endLine, endCol: last.endCol };
}

/** A byte-order mark at the start of a file marks it as UTF-8 and is not part of its text (tsc and editors drop it too). */
export const BOM = '\ufeff';

export function withoutBom(text: string): string {
  return text.startsWith(BOM) ? text.slice(1) : text;
}

/**
 * Maps offsets to line/column for text that did not come from tokens. Lines end at
 * `\n`, `\r\n` or a lone `\r` (old Mac files), as the lexer counts them; a leading BOM is
 * dropped, as parse() drops it, so offsets and columns agree with the tokens'.
 */
export class LineIndex {
  readonly text: string;
  private readonly starts: number[] = [0];
  constructor(text: string) {
    this.text = withoutBom(text);
    const t = this.text;
    for (let i = 0; i < t.length; i++) {
      const c = t.charCodeAt(i);
      if (c === 10 || (c === 13 && t.charCodeAt(i + 1) !== 10)) this.starts.push(i + 1);
    }
  }
  position(offset: number): { line: number; col: number } {
    let lo = 0;
    let hi = this.starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.starts[mid]! <= offset) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo + 1, col: offset - this.starts[lo]! + 1 };
  }
  span(start: number, end: number): Span {
    const a = this.position(start);
    const b = this.position(end);
    return { start, end, line: a.line, col: a.col, endLine: b.line, endCol: b.col };
  }
  /** The text of a line without its line break. */
  lineText(line: number): string {
    const s = this.starts[line - 1];
    if (s === undefined) return '';
    const e = this.starts[line] ?? this.text.length;
    return this.text.slice(s, e).replace(/\r?\n$|\r$/, '');
  }
}
