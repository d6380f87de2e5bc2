/**
 * The mdc language server, independent of its transport: `createServer(connection)` wires
 * the features to a connection from `vscode-languageserver/node` (lsp/stdio.ts) or
 * `vscode-languageserver/browser` (a web worker). No Node modules here.
 *
 * Each open document is analysed (check() with the position index) after a short pause
 * in typing; an analysis whose document changed meanwhile is dropped, never published.
 * Requests use the analysis of the document's current version, made on demand.
 */
import {
  TextDocuments,
  TextDocumentSyncKind,
  type CancellationToken,
  type Connection,
  type InitializeResult,
  type TextDocumentPositionParams,
} from 'vscode-languageserver';
import { TextDocument } from 'vscode-languageserver-textdocument';
import { format } from '../grammar/format.js';
import { parse } from '../grammar/parse.js';
import { BOM } from '../diagnostics/span.js';
import { analyze, type Analysis } from './analysis.js';
import { complete } from './completion.js';
import { toDiagnostic, toOffset, toRange } from './convert.js';
import { hoverText } from './hover.js';
import { declAt, symbols, validName } from './navigation.js';
import { codeActions, codeLenses, foldingRanges, inlayHints, semanticTokens, signatureHelp, TOKEN_LEGEND } from './presentation.js';

export interface ServerOptions {
  /** Pause after the last edit before checking (default 10 ms): a burst of keystrokes is checked once. */
  readonly debounceMs?: number;
}

interface DocState {
  timer?: ReturnType<typeof setTimeout>;
  analysis?: Promise<Analysis>;
  version?: number;
}

export function createServer(connection: Connection, opts: ServerOptions = {}): { documents: TextDocuments<TextDocument> } {
  const documents = new TextDocuments(TextDocument);
  const states = new Map<string, DocState>();
  const debounce = opts.debounceMs ?? 10;

  /** The analysis of a document's current version (made now if the last one is stale). */
  const current = (doc: TextDocument): Promise<Analysis> => {
    const st = states.get(doc.uri) ?? states.set(doc.uri, {}).get(doc.uri)!;
    if (!st.analysis || st.version !== doc.version) {
      st.version = doc.version;
      st.analysis = analyze(doc.getText(), fileName(doc.uri), doc.version);
    }
    return st.analysis;
  };

  const publish = async (uri: string) => {
    const doc = documents.get(uri);
    if (!doc) return;
    const version = doc.version;
    const a = await current(doc);
    // Stale: the document changed (or closed) while it was checked; the newer version publishes.
    if (documents.get(uri)?.version !== version) return;
    await connection.sendDiagnostics({ uri, version, diagnostics: a.diagnostics.map((d) => toDiagnostic(doc, a.bom, d)) });
  };

  const schedule = (doc: TextDocument) => {
    const st = states.get(doc.uri) ?? states.set(doc.uri, {}).get(doc.uri)!;
    if (st.timer) clearTimeout(st.timer);
    st.timer = setTimeout(() => {
      st.timer = undefined;
      publish(doc.uri).catch((e) => connection.console.error(`mdc: checking ${doc.uri} failed: ${e instanceof Error ? e.stack : String(e)}`));
    }, debounce);
  };

  documents.onDidChangeContent((e) => schedule(e.document));
  documents.onDidClose((e) => {
    const st = states.get(e.document.uri);
    if (st?.timer) clearTimeout(st.timer);
    states.delete(e.document.uri);
    void connection.sendDiagnostics({ uri: e.document.uri, diagnostics: [] });
  });

  connection.onInitialize((): InitializeResult => ({
    capabilities: {
      textDocumentSync: TextDocumentSyncKind.Incremental,
      hoverProvider: true,
      completionProvider: { triggerCharacters: ['@', '(', ',', ' '] },
      signatureHelpProvider: { triggerCharacters: ['(', ','] },
      definitionProvider: true,
      referencesProvider: true,
      renameProvider: { prepareProvider: true },
      documentSymbolProvider: true,
      documentFormattingProvider: true,
      foldingRangeProvider: true,
      semanticTokensProvider: { legend: TOKEN_LEGEND, full: true },
      inlayHintProvider: true,
      codeLensProvider: { resolveProvider: false },
      codeActionProvider: { codeActionKinds: ['quickfix'] },
    },
    serverInfo: { name: 'mdc', version: '0.1.0' },
  }));

  /** Runs a request against the current analysis, with the cursor as an offset into the analysed text. */
  const at =
    <R>(f: (a: Analysis, offset: number, doc: TextDocument) => R, none: R) =>
    async (p: TextDocumentPositionParams, token?: CancellationToken): Promise<R> => {
      const doc = documents.get(p.textDocument.uri);
      if (!doc) return none;
      const a = await current(doc);
      if (token?.isCancellationRequested || a.version !== doc.version) return none;
      return f(a, toOffset(doc, a.bom, p.position), doc);
    };
  const whole =
    <P extends { textDocument: { uri: string } }, R>(f: (a: Analysis, doc: TextDocument, p: P) => R, none: R) =>
    async (p: P): Promise<R> => {
      const doc = documents.get(p.textDocument.uri);
      if (!doc) return none;
      const a = await current(doc);
      return a.version === doc.version ? f(a, doc, p) : none;
    };

  connection.onHover(
    at((a, offset, doc) => {
      const o = a.index.at(offset);
      const text = o && hoverText(o, a);
      return text ? { contents: { kind: 'markdown' as const, value: text }, range: toRange(doc, a.bom, o.span) } : null;
    }, null),
  );
  connection.onCompletion(at((a, offset) => complete(a, offset), []));
  connection.onSignatureHelp(at((a, offset) => signatureHelp(a, offset), null));
  connection.onDefinition(
    at((a, offset, doc) => {
      const d = declAt(a, offset);
      return d ? { uri: doc.uri, range: toRange(doc, a.bom, d.span) } : null;
    }, null),
  );
  connection.onReferences(
    at((a, offset, doc) => {
      const d = declAt(a, offset);
      return d ? a.index.occurrencesOf(d).map((o) => ({ uri: doc.uri, range: toRange(doc, a.bom, o.span) })) : [];
    }, []),
  );
  connection.onPrepareRename(
    at((a, offset, doc) => {
      const o = a.index.at(offset);
      return o?.decl ? toRange(doc, a.bom, o.span) : null;
    }, null),
  );
  connection.onRenameRequest(async (p) => {
    const doc = documents.get(p.textDocument.uri);
    if (!doc) return null;
    if (!validName(p.newName)) throw new Error(`'${p.newName}' is not a name: a name is a letter or _ then letters, digits or _, and no keyword`);
    const a = await current(doc);
    const d = declAt(a, toOffset(doc, a.bom, p.position));
    if (!d) return null;
    return { changes: { [doc.uri]: a.index.occurrencesOf(d).map((o) => ({ range: toRange(doc, a.bom, o.span), newText: p.newName })) } };
  });
  connection.onDocumentSymbol(whole((a, doc) => symbols(a, doc), []));
  connection.onDocumentFormatting((p) => {
    const doc = documents.get(p.textDocument.uri);
    if (!doc) return [];
    const text = doc.getText();
    const r = parse(text, fileName(doc.uri));
    // A file that does not parse is left alone: formatting it would drop what the parser skipped.
    if (r.diagnostics.length) return [];
    const formatted = (text.startsWith(BOM) ? BOM : '') + format(r.program, r.lines.text);
    return formatted === text ? [] : [{ range: { start: doc.positionAt(0), end: doc.positionAt(text.length) }, newText: formatted }];
  });
  connection.onFoldingRanges(whole((a, doc) => foldingRanges(a, doc), []));
  connection.languages.semanticTokens.on(whole((a, doc) => semanticTokens(a, doc), { data: [] }));
  connection.languages.inlayHint.on(whole((a, doc, p) => inlayHints(a, doc, p.range), []));
  connection.onCodeLens(whole((a, doc) => codeLenses(a, doc), []));
  connection.onCodeAction(whole((a, doc, p) => codeActions(a, doc, p), []));

  documents.listen(connection);
  return { documents };
}

/** The file name diagnostics carry: the URI's last path segment, decoded. */
export function fileName(uri: string): string {
  const last = uri.slice(uri.lastIndexOf('/') + 1);
  try {
    return decodeURIComponent(last) || uri;
  } catch {
    return last || uri;
  }
}
