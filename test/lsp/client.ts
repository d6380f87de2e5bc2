/**
 * A JSON-RPC client of the real server process (`mdc lsp --stdio`, from source through tsx),
 * for the LSP tests and bench/lsp.ts.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import {
  createMessageConnection,
  IPCMessageReader,
  IPCMessageWriter,
  StreamMessageReader,
  StreamMessageWriter,
  type MessageConnection,
} from 'vscode-jsonrpc/node';
import type { PublishDiagnosticsParams } from 'vscode-languageserver-protocol';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export class Client {
  private readonly latest = new Map<string, PublishDiagnosticsParams>();
  private readonly waiters: { uri: string; version: number; resolve: (p: PublishDiagnosticsParams) => void }[] = [];
  private docs = 0;
  stderr = '';

  private constructor(
    readonly proc: ChildProcess,
    readonly rpc: MessageConnection,
  ) {
    rpc.onNotification('textDocument/publishDiagnostics', (p: PublishDiagnosticsParams) => {
      this.latest.set(p.uri, p);
      for (const w of [...this.waiters]) {
        if (w.uri === p.uri && (p.version ?? 0) >= w.version) {
          this.waiters.splice(this.waiters.indexOf(w), 1);
          w.resolve(p);
        }
      }
    });
  }

  /**
   * Spawns `mdc lsp --stdio` (or `--node-ipc`) and initializes it: from source through tsx
   * (the tests), or `built`, the compiled CLI in dist/ as users run it (the benchmark).
   */
  static async start(built = false, transport: 'stdio' | 'node-ipc' = 'stdio'): Promise<Client> {
    const cli = built ? ['bin/mdc.js'] : ['--import', 'tsx', 'cli/bin.ts'];
    const ipc = transport === 'node-ipc';
    const proc = spawn(process.execPath, ['--expose-gc', ...cli, 'lsp', `--${transport}`], {
      cwd: ROOT,
      stdio: ['pipe', 'pipe', 'pipe', ...(ipc ? ['ipc' as const] : [])],
    });
    const rpc = ipc
      ? createMessageConnection(new IPCMessageReader(proc), new IPCMessageWriter(proc))
      : createMessageConnection(new StreamMessageReader(proc.stdout!), new StreamMessageWriter(proc.stdin!));
    const c = new Client(proc, rpc);
    proc.stderr!.on('data', (d: Buffer) => (c.stderr += d.toString()));
    rpc.listen();
    await rpc.sendRequest('initialize', { processId: process.pid, rootUri: null, capabilities: {} });
    await rpc.sendNotification('initialized', {});
    return c;
  }

  async stop(): Promise<void> {
    await this.rpc.sendRequest('shutdown');
    await this.rpc.sendNotification('exit');
    await new Promise<void>((resolve) => (this.proc.exitCode !== null ? resolve() : this.proc.on('exit', () => resolve())));
    this.rpc.dispose();
  }

  newUri(): string {
    return `file:///test/doc${++this.docs}.model`;
  }

  async open(text: string, uri = this.newUri()): Promise<string> {
    await this.rpc.sendNotification('textDocument/didOpen', { textDocument: { uri, languageId: 'mdc', version: 1, text } });
    return uri;
  }

  async close(uri: string): Promise<void> {
    await this.rpc.sendNotification('textDocument/didClose', { textDocument: { uri } });
  }

  /** The diagnostics published for a document at (or after) a version. */
  diagnostics(uri: string, version = 1): Promise<PublishDiagnosticsParams> {
    const p = this.latest.get(uri);
    if (p && (p.version ?? 0) >= version) return Promise.resolve(p);
    return new Promise((resolve) => this.waiters.push({ uri, version, resolve }));
  }

  request<R>(method: string, params: object): Promise<R> {
    return this.rpc.sendRequest(method, params) as Promise<R>;
  }

  /** Opens `text` (with its marker removed), runs `f` on it and closes it. */
  async with<R>(text: string, f: (uri: string, m: Marked) => Promise<R>): Promise<R> {
    const m = marked(text);
    const uri = await this.open(m.text);
    try {
      return await f(uri, m);
    } finally {
      await this.close(uri);
    }
  }
}

export interface Marked {
  readonly text: string;
  /** The marker's position (line and character, 0-based). */
  readonly position: { line: number; character: number };
}

/** The text without its `<|>` marker, and where the marker was. */
export function marked(text: string): Marked {
  const at = text.indexOf('<|>');
  const clean = at < 0 ? text : text.slice(0, at) + text.slice(at + 3);
  const before = clean.slice(0, Math.max(0, at));
  const line = before.split('\n').length - 1;
  return { text: clean, position: { line, character: before.length - before.lastIndexOf('\n') - 1 } };
}
