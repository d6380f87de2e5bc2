import type { Diagnostic } from './messages.js';
import { LineIndex } from './span.js';

/**
 * Characters a terminal acts on instead of showing: C0 and C1 controls, DEL, and the
 * bidirectional marks and overrides that reorder what is shown ("Trojan Source").
 */
// eslint-disable-next-line no-control-regex
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/**
 * Text from a source or a command line made safe to print: each unprintable character
 * becomes `\u001b`-style text, so a message can neither repaint the terminal nor fake a
 * line of its own. With `lines`, newlines are kept (a multi-line message).
 */
export function escapeControls(s: string, lines = false): string {
  return s.replace(UNPRINTABLE, (c) => (lines && c === '\n' ? c : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`));
}

/** `file:line:col: error MDC0203: message`, then the source line and a caret, like tsc/rustc. */
export function formatDiagnostic(d: Diagnostic, source?: string, index?: LineIndex): string {
  const head = escapeControls(`${d.file}:${d.span.line}:${d.span.col}: ${d.severity} ${d.code}: ${d.message}`);
  if (source === undefined) return head;
  const lines = index ?? new LineIndex(source);
  let text = lines.lineText(d.span.line);
  let col = d.span.col;
  // Keep very long lines readable: show a window around the caret.
  if (text.length > 160) {
    const from = Math.max(0, col - 60);
    text = (from > 0 ? '…' : '') + text.slice(from, from + 120) + (from + 120 < text.length ? '…' : '');
    col = col - from + (from > 0 ? 1 : 0);
  }
  text = text.replace(/\t/g, ' ');
  const width = d.span.endLine === d.span.line ? Math.max(1, Math.min(d.span.endCol - d.span.col, text.length - col + 1)) : 1;
  // An escaped character is several columns wide: the caret moves and widens with it.
  const before = escapeControls(text.slice(0, col - 1)).length;
  const under = Math.max(1, escapeControls(text.slice(col - 1, col - 1 + width)).length);
  const gutter = String(d.span.line).length;
  return `${head}\n ${' '.repeat(gutter)} |\n ${d.span.line} | ${escapeControls(text)}\n ${' '.repeat(gutter)} | ${' '.repeat(before)}${'^'.repeat(under)}`;
}

export function diagnosticToJson(d: Diagnostic) {
  return {
    file: d.file,
    code: d.code,
    severity: d.severity,
    message: d.message,
    line: d.span.line,
    col: d.span.col,
    endLine: d.span.endLine,
    endCol: d.span.endCol,
  };
}
