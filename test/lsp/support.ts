/**
 * Language-server tests in the style of Langium's test utilities, driving the real server
 * process over JSON-RPC: each helper opens the text as a new document (a `<|>` marker is
 * the cursor and is removed from the text), asks, closes it, and asserts the answer.
 */
import type { CompletionItem, Diagnostic, Hover, Location, TextEdit, WorkspaceEdit } from 'vscode-languageserver-protocol';
import { expect } from 'vitest';
import type { Client } from './client.js';

export { Client, marked } from './client.js';

/** A published diagnostic as `mdc check` prints its first line: `file:line:col: error CODE: message`. */
export function diagnosticText(file: string, d: Diagnostic): string {
  return `${file}:${d.range.start.line + 1}:${d.range.start.character + 1}: error ${String(d.code)}: ${d.message}`;
}

/** A range as `line:col-line:col` (1-based), for assertions. */
export const rangeText = (r: { start: { line: number; character: number }; end: { line: number; character: number } }) =>
  `${r.start.line + 1}:${r.start.character + 1}-${r.end.line + 1}:${r.end.character + 1}`;

export async function expectDiagnostics(c: Client, text: string, expected: readonly string[]): Promise<void> {
  await c.with(text, async (uri) => {
    const p = await c.diagnostics(uri);
    expect(p.diagnostics.map((d) => diagnosticText(uri.slice(uri.lastIndexOf('/') + 1), d))).toEqual(expected);
  });
}

/** Hover at the marker: its markdown contains each expected piece (the exact first code line when `exact`). */
export async function expectHover(c: Client, text: string, expected: readonly string[]): Promise<Hover | null> {
  return c.with(text, async (uri, m) => {
    const h = await c.request<Hover | null>('textDocument/hover', { textDocument: { uri }, position: m.position });
    const value = h && typeof h.contents === 'object' && 'value' in h.contents ? h.contents.value : '';
    for (const e of expected) expect(value).toContain(e);
    return h;
  });
}

export async function expectCompletion(c: Client, text: string, includes: readonly string[], excludes: readonly string[] = []): Promise<string[]> {
  return c.with(text, async (uri, m) => {
    const items = await c.request<CompletionItem[]>('textDocument/completion', { textDocument: { uri }, position: m.position });
    const labels = items.map((i) => i.label);
    for (const l of includes) expect(labels).toContain(l);
    for (const l of excludes) expect(labels).not.toContain(l);
    return labels;
  });
}

/** Go-to-definition at the marker lands on this range (`line:col-line:col`), or on nothing. */
export async function expectDefinition(c: Client, text: string, expected: string | null): Promise<void> {
  await c.with(text, async (uri, m) => {
    const loc = await c.request<Location | null>('textDocument/definition', { textDocument: { uri }, position: m.position });
    expect(loc ? rangeText(loc.range) : null).toEqual(expected);
  });
}

export async function expectReferences(c: Client, text: string, expected: readonly string[]): Promise<void> {
  await c.with(text, async (uri, m) => {
    const locs = await c.request<Location[]>('textDocument/references', { textDocument: { uri }, position: m.position, context: { includeDeclaration: true } });
    expect(locs.map((l) => rangeText(l.range))).toEqual(expected);
  });
}

/** Renames at the marker and returns the document with the edits applied. */
export async function rename(c: Client, text: string, newName: string): Promise<string> {
  return c.with(text, async (uri, m) => {
    const edit = await c.request<WorkspaceEdit | null>('textDocument/rename', { textDocument: { uri }, position: m.position, newName });
    return applyEdits(m.text, edit?.changes?.[uri] ?? []);
  });
}

export function applyEdits(text: string, edits: readonly TextEdit[]): string {
  const lines = text.split('\n');
  const offset = (p: { line: number; character: number }) => lines.slice(0, p.line).reduce((n, l) => n + l.length + 1, 0) + p.character;
  const sorted = [...edits].sort((a, b) => offset(b.range.start) - offset(a.range.start));
  let out = text;
  for (const e of sorted) out = out.slice(0, offset(e.range.start)) + e.newText + out.slice(offset(e.range.end));
  return out;
}
