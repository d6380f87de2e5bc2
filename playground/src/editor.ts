/**
 * The CodeMirror 6 editor: mdc highlighting (keywords from the lexer's own list), and the
 * compiler's diagnostics as lint marks, refreshed shortly after each edit.
 */
import { StreamLanguage, type StringStream } from '@codemirror/language';
import { linter, lintGutter, type Diagnostic as LintDiagnostic } from '@codemirror/lint';
import { basicSetup, EditorView } from 'codemirror';
import type { Diagnostic } from '../../diagnostics/messages.js';
import { keywordNames } from '../../grammar/lexer.js';

const DTYPES = new Set(['f32', 'f16', 'bf16', 'i32', 'bool']);

const mdcLanguage = StreamLanguage.define<null>({
  name: 'mdc',
  token(stream: StringStream): string | null {
    if (stream.eatSpace()) return null;
    if (stream.match('//')) {
      const doc = stream.eat('/');
      stream.skipToEnd();
      return doc ? 'docString' : 'lineComment';
    }
    if (stream.match(/^"(?:[^"\\]|\\.)*"?/)) return 'string';
    if (stream.match(/^(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?/)) return 'number';
    if (stream.match(/^@(?:shard|pipeline|recompute|offload|expert)\b/)) return 'meta';
    const word = stream.match(/^[A-Za-z_][A-Za-z0-9_]*/) as RegExpMatchArray | null;
    if (word) return keywordNames.has(word[0]) ? 'keyword' : DTYPES.has(word[0]) ? 'typeName' : 'variableName';
    stream.next();
    return null;
  },
});

/** Diagnostics for a source: the worker's `check` answer. */
export type CheckSource = (source: string) => Promise<readonly Diagnostic[]>;

export function createEditor(parent: HTMLElement, doc: string, check: CheckSource): EditorView {
  const lint = linter(
    async (view) => {
      const text = view.state.doc.toString();
      const diags = await check(text);
      // The document may have changed while the worker checked; CodeMirror drops stale results itself.
      return diags.map((d): LintDiagnostic => ({
        from: Math.min(d.span.start, text.length),
        to: Math.min(Math.max(d.span.end, d.span.start), text.length),
        severity: d.severity === 'info' ? 'info' : d.severity,
        source: d.code,
        message: d.message,
      }));
    },
    { delay: 150 },
  );
  return new EditorView({ doc, parent, extensions: [basicSetup, mdcLanguage, lintGutter(), lint, EditorView.lineWrapping] });
}
