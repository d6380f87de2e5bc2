import { UsageError, type Command } from '../options.js';

export const command: Command = {
  help: `Usage: mdc lsp --stdio | --node-ipc

Starts the mdc language server (diagnostics, hover, completion, definition, references,
rename, symbols, formatting, folding, semantic tokens, signature help, inlay hints,
code lens, quick fixes) speaking the Language Server Protocol. It takes no FILE: the
editor sends the documents.

Options:
  --stdio            talk JSON-RPC over stdin and stdout
  --node-ipc         talk over Node's IPC channel (the parent spawned mdc with 'ipc')`,
  options: { help: { type: 'boolean', short: 'h' }, stdio: { type: 'boolean' }, 'node-ipc': { type: 'boolean' }, clientProcessId: { type: 'string' } },
  run() {
    throw new UsageError('lsp takes no FILE: run mdc lsp --stdio');
  },
  async fileless(v) {
    if (!!v['stdio'] === !!v['node-ipc']) throw new UsageError('lsp needs one transport: --stdio or --node-ipc');
    return (await import('../../lsp/stdio.js')).startNodeServer();
  },
};
