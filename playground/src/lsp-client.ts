/**
 * The page's language client, as small as the playground needs: it opens one document,
 * sends each edit as the whole text with a new version, hands on the diagnostics the
 * server publishes for the version that is current (older ones are dropped), and asks the
 * server for hovers and completions at a position.
 */
import {
  BrowserMessageReader,
  BrowserMessageWriter,
  createProtocolConnection,
  DidChangeTextDocumentNotification,
  DidOpenTextDocumentNotification,
  InitializedNotification,
  InitializeRequest,
  PublishDiagnosticsNotification,
  CompletionRequest,
  HoverRequest,
  type CompletionItem,
  type Diagnostic,
  type Position,
  type ProtocolConnection,
} from 'vscode-languageserver-protocol/browser';

export class LspClient {
  private version = 0;
  private readonly connection: ProtocolConnection;
  private readonly ready: Promise<void>;

  constructor(
    worker: Worker,
    private readonly uri: string,
    text: string,
    onDiagnostics: (diagnostics: readonly Diagnostic[]) => void,
  ) {
    const connection = createProtocolConnection(new BrowserMessageReader(worker), new BrowserMessageWriter(worker));
    this.connection = connection;
    connection.onNotification(PublishDiagnosticsNotification.type, (p) => {
      if (p.uri === this.uri && (p.version === undefined || p.version === this.version)) onDiagnostics(p.diagnostics);
    });
    connection.listen();
    this.ready = (async () => {
      await connection.sendRequest(InitializeRequest.type, { processId: null, rootUri: null, capabilities: {} });
      await connection.sendNotification(InitializedNotification.type, {});
      this.version = 1;
      await connection.sendNotification(DidOpenTextDocumentNotification.type, { textDocument: { uri, languageId: 'mdc', version: 1, text } });
    })();
  }

  /** Sends the document's new text. */
  async change(text: string): Promise<void> {
    await this.ready;
    const version = ++this.version;
    await this.connection.sendNotification(DidChangeTextDocumentNotification.type, { textDocument: { uri: this.uri, version }, contentChanges: [{ text }] });
  }

  /** The hover's text (markdown) at `position`, or undefined. */
  async hover(position: Position): Promise<string | undefined> {
    await this.ready;
    const h = await this.connection.sendRequest(HoverRequest.type, { textDocument: { uri: this.uri }, position });
    if (!h) return undefined;
    const parts = Array.isArray(h.contents) ? h.contents : [h.contents];
    return parts.map((c) => (typeof c === 'string' ? c : c.value)).join('\n\n');
  }

  /** The server's completions at `position`. */
  async complete(position: Position): Promise<readonly CompletionItem[]> {
    await this.ready;
    const r = await this.connection.sendRequest(CompletionRequest.type, { textDocument: { uri: this.uri }, position });
    return Array.isArray(r) ? r : (r?.items ?? []);
  }
}
