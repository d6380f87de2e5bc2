import type { Diagnostic } from './messages.js';
import { LineIndex } from './span.js';

/** `file:line:col: error MDC0203: message`, then the source line and a caret, like tsc/rustc. */
export function formatDiagnostic(d: Diagnostic, source?: string, index?: LineIndex): string {
  const head = `${d.file}:${d.span.line}:${d.span.col}: ${d.severity} ${d.code}: ${d.message}`;
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
  // Control characters would move the terminal's cursor: shown as '?'.
  // eslint-disable-next-line no-control-regex
  text = text.replace(/[\u0000-\u0008\u000b-\u001f\u007f]/g, '?').replace(/\t/g, ' ');
  const width = d.span.endLine === d.span.line ? Math.max(1, Math.min(d.span.endCol - d.span.col, text.length - col + 1)) : 1;
  const gutter = String(d.span.line).length;
  return `${head}\n ${' '.repeat(gutter)} |\n ${d.span.line} | ${text}\n ${' '.repeat(gutter)} | ${' '.repeat(Math.max(0, col - 1))}${'^'.repeat(Math.max(1, width))}`;
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
