/**
 * The CodeMirror 6 editor: mdc highlighting (keywords from the lexer's own list), the
 * language server's published diagnostics as lint marks, and its hovers and completions.
 */
import { autocompletion, type CompletionContext, type CompletionResult } from '@codemirror/autocomplete';
import { StreamLanguage, type StringStream } from '@codemirror/language';
import { lintGutter, setDiagnostics, type Diagnostic as LintDiagnostic } from '@codemirror/lint';
import { hoverTooltip } from '@codemirror/view';
import { basicSetup, EditorView } from 'codemirror';
import type { CompletionItem, Diagnostic as LspDiagnostic, Position } from 'vscode-languageserver-protocol/browser';
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
    if (stream.match(/^@(?:shard|pipeline|recompute|offload|expert|lora)\b/)) return 'meta';
    const word = stream.match(/^[A-Za-z_][A-Za-z0-9_]*/) as RegExpMatchArray | null;
    if (word) return keywordNames.has(word[0]) ? 'keyword' : DTYPES.has(word[0]) ? 'typeName' : 'variableName';
    stream.next();
    return null;
  },
});

/** An LSP position (0-based line, UTF-16 character) as an offset into the editor's text, clamped to the line. */
function offsetOf(view: EditorView, p: { line: number; character: number }): number {
  const doc = view.state.doc;
  if (p.line + 1 > doc.lines) return doc.length;
  const line = doc.line(p.line + 1);
  return Math.min(line.from + p.character, line.to);
}

const SEVERITY = { 1: 'error', 2: 'warning', 3: 'info', 4: 'hint' } as const;

/** Shows the language server's diagnostics as lint marks (and in the gutter). */
export function showDiagnostics(view: EditorView, diagnostics: readonly LspDiagnostic[]): void {
  const marks = diagnostics.map((d): LintDiagnostic => ({
    from: offsetOf(view, d.range.start),
    to: Math.max(offsetOf(view, d.range.end), offsetOf(view, d.range.start)),
    severity: SEVERITY[d.severity ?? 1],
    source: String(d.code ?? 'mdc'),
    message: typeof d.message === 'string' ? d.message : d.message.value,
  }));
  view.dispatch(setDiagnostics(view.state, marks));
}

/** What the editor asks the language server, at an LSP position. */
export interface LanguageFeatures {
  hover(position: Position): Promise<string | undefined>;
  complete(position: Position): Promise<readonly CompletionItem[]>;
}

/** An editor offset as an LSP position (0-based line, UTF-16 character). */
function positionOf(view: EditorView, offset: number): Position {
  const line = view.state.doc.lineAt(offset);
  return { line: line.number - 1, character: offset - line.from };
}

/** The server's hover as a tooltip: its markdown shown as plain text, code fences dropped. */
function hovers(features: LanguageFeatures) {
  return hoverTooltip(async (view, pos) => {
    const text = await features.hover(positionOf(view, pos));
    if (!text) return null;
    return {
      pos,
      create: () => {
        const dom = document.createElement('pre');
        dom.className = 'mdc-hover';
        dom.textContent = text.replace(/^```\w*\n?|```$/gm, '').trim();
        return { dom };
      },
    };
  });
}

/** The server's completions for the word before the cursor (or after `@`, `(`, `,`). */
function completions(features: LanguageFeatures) {
  return autocompletion({
    override: [
      async (ctx: CompletionContext): Promise<CompletionResult | null> => {
        const word = ctx.matchBefore(/[A-Za-z_][A-Za-z0-9_]*/);
        if (!word && !ctx.explicit) return null;
        const items = await features.complete(positionOf(ctx.view!, ctx.pos));
        return { from: word?.from ?? ctx.pos, options: items.map((i) => ({ label: i.label, ...(i.detail ? { detail: i.detail } : {}) })) };
      },
    ],
  });
}

/** The editor; `onChange` gets the whole text after each edit (the language server is sent it). */
export function createEditor(parent: HTMLElement, doc: string, onChange: (text: string) => void, features: LanguageFeatures): EditorView {
  const changes = EditorView.updateListener.of((u) => {
    if (u.docChanged) onChange(u.state.doc.toString());
  });
  return new EditorView({
    doc,
    parent,
    extensions: [basicSetup, mdcLanguage, lintGutter(), changes, EditorView.lineWrapping, hovers(features), completions(features)],
  });
}
