/** Between mdc's spans (offsets into the text without a byte-order mark) and LSP positions (UTF-16, as both count). */
import type { Diagnostic as MdcDiagnostic } from '../diagnostics/messages.js';
import type { Span } from '../diagnostics/span.js';
import { DiagnosticSeverity, type Diagnostic, type Position, type Range } from 'vscode-languageserver';
import type { TextDocument } from 'vscode-languageserver-textdocument';

export const toRange = (doc: TextDocument, bom: number, s: Pick<Span, 'start' | 'end'>): Range => ({
  start: doc.positionAt(s.start + bom),
  end: doc.positionAt(s.end + bom),
});

export const toOffset = (doc: TextDocument, bom: number, p: Position): number => doc.offsetAt(p) - bom;

const SEVERITY = { error: DiagnosticSeverity.Error, warning: DiagnosticSeverity.Warning, info: DiagnosticSeverity.Information } as const;

export const toDiagnostic = (doc: TextDocument, bom: number, d: MdcDiagnostic): Diagnostic => ({
  range: toRange(doc, bom, d.span),
  severity: SEVERITY[d.severity],
  code: d.code,
  source: 'mdc',
  message: d.message,
});
