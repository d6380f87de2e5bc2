import { formatDiagnostic } from '../../diagnostics/format.js';
import { messages, type Diagnostic } from '../../diagnostics/messages.js';
import { LineIndex } from '../../diagnostics/span.js';

/**
 * What every diagnostic owes its reader, whatever the input: a catalogued code, a
 * message with no unprinted values in it, and a span that lies inside the file (an end-of-file span may sit one
 * column past the last character). Returns the problems found, empty when all is well,
 * so a failing test prints them rather than a bare `false`.
 */
export function malformedDiagnostics(source: string, ds: readonly Diagnostic[]): string[] {
  const lines = new LineIndex(source);
  const lineCount = lines.position(source.length).line;
  const problems: string[] = [];
  for (const d of ds) {
    const where = `${d.code} at ${d.span.line}:${d.span.col}`;
    if (!/^MDC\d{4}$/.test(d.code) || !(d.code in messages)) problems.push(`${where}: code not in the catalog`);
    if (d.severity !== 'error' && d.severity !== 'warning' && d.severity !== 'info') problems.push(`${where}: severity ${String(d.severity)}`);
    if (!d.message) problems.push(`${where}: empty message`);
    // A value that leaked into a message unprinted: the reader learns nothing from it.
    if (/\bundefined\b|\bNaN\b|\[object /.test(d.message)) problems.push(`${where}: message shows an unprinted value: ${d.message}`);
    const { line, col, start, end } = d.span;
    if (!(Number.isInteger(line) && line >= 1 && line <= lineCount)) problems.push(`${where}: line outside 1..${lineCount}`);
    else if (!(Number.isInteger(col) && col >= 1 && col <= lines.lineText(line).length + 1)) problems.push(`${where}: column outside its line`);
    if (!(Number.isInteger(start) && start >= 0 && start <= end && end <= source.length + 1))
      problems.push(`${where}: offsets ${start}..${end} outside the file`);
    try {
      formatDiagnostic(d, source, lines);
    } catch (e) {
      problems.push(`${where}: formatDiagnostic threw ${String(e)}`);
    }
  }
  return problems;
}
