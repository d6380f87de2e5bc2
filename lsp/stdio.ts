/**
 * The server on Node: `mdc lsp --stdio` or `--node-ipc` (vscode-languageserver/node picks
 * the transport from the process's arguments). Adds what only Node has: `mdc/heapUsed`,
 * the heap in use after a garbage collection when one can be forced, for the robustness test.
 */
import { pathToFileURL } from 'node:url';
import { createConnection, ProposedFeatures } from 'vscode-languageserver/node';
import { createServer, type ServerOptions } from './server.js';

export function startNodeServer(opts: ServerOptions = {}): Promise<number> {
  const connection = createConnection(ProposedFeatures.all);
  createServer(connection, opts);
  connection.onRequest('mdc/heapUsed', () => {
    (globalThis as { gc?: () => void }).gc?.();
    return process.memoryUsage().heapUsed;
  });
  connection.listen();
  return new Promise((resolve) => connection.onExit(() => resolve(0)));
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) void startNodeServer();
