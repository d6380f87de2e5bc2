/**
 * The mdc language server (lsp/server.ts, the same one `mdc lsp --stdio` starts) in a web
 * worker, over `vscode-languageserver/browser`'s message transport (postMessage).
 */
import { BrowserMessageReader, BrowserMessageWriter, createConnection } from 'vscode-languageserver/browser';
import { createServer } from '../../lsp/server.js';

// The DOM typings (no WebWorker lib here) lack DedicatedWorkerGlobalScope; the transport needs only postMessage and onmessage.
const scope = self as unknown as ConstructorParameters<typeof BrowserMessageReader>[0];
const connection = createConnection(new BrowserMessageReader(scope), new BrowserMessageWriter(scope));
createServer(connection);
connection.listen();
