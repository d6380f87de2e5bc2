/**
 * The VS Code client for mdc: starts the language server (`mdc lsp --stdio`) for `.model`
 * files and adds **mdc: Show Plan Report**, which runs `mdc plan` on the current file and
 * shows the report in an output channel. mdc itself is found by locate.ts.
 */
import { execFile } from 'node:child_process';
import * as vscode from 'vscode';
import { LanguageClient, type LanguageClientOptions, type ServerOptions } from 'vscode-languageclient/node';
import { locateMdc, planCommand, serverCommand } from './locate';

/** What one activation holds; `deactivate` (which VS Code calls without arguments) stops the current one's client. */
type Session = { client?: LanguageClient; readonly plan: vscode.OutputChannel };
let current: Session | undefined;

function settings(context: vscode.ExtensionContext) {
  const config = vscode.workspace.getConfiguration('mdc');
  const folders = (vscode.workspace.workspaceFolders ?? []).filter((f) => f.uri.scheme === 'file').map((f) => f.uri.fsPath);
  const mdc = locateMdc({ configured: config.get('path', ''), workspaceFolders: folders, extensionPath: context.extensionPath });
  return {
    mdc,
    node: config.get('node', 'node'),
    server: config.get('server.enable', true),
    planArgs: config.get<string[]>('plan.arguments', []),
    cwd: folders[0],
  };
}

const NOT_FOUND = 'mdc: could not find mdc (bin/mdc.js). Set "mdc.path" to mdc\'s bin/mdc.js or package folder, or install mdc in the workspace.';

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  const session: Session = { plan: vscode.window.createOutputChannel('mdc Plan') };
  current = session;
  context.subscriptions.push(
    session.plan,
    vscode.commands.registerCommand('mdc.showPlan', () => showPlan(context, session)),
  );

  let found: ReturnType<typeof settings>;
  try {
    found = settings(context);
  } catch (e) {
    void vscode.window.showErrorMessage(`mdc: ${(e as Error).message}`);
    return;
  }
  if (!found.server) return;
  if (!found.mdc) {
    void vscode.window.showWarningMessage(NOT_FOUND);
    return;
  }
  const run = serverCommand(found.node, found.mdc);
  const serverOptions: ServerOptions = { command: run.command, args: [...run.args], options: found.cwd ? { cwd: found.cwd } : {} };
  const clientOptions: LanguageClientOptions = {
    documentSelector: [
      { scheme: 'file', language: 'mdc' },
      { scheme: 'untitled', language: 'mdc' },
    ],
  };
  session.client = new LanguageClient('mdc', 'mdc language server', serverOptions, clientOptions);
  await session.client.start();
}

export async function deactivate(): Promise<void> {
  const client = current?.client;
  current = undefined;
  if (client) await client.stop();
}

/** Runs `mdc plan` on the active `.model` file (saved first, since mdc reads the file) and shows its output. */
async function showPlan(context: vscode.ExtensionContext, session: Session): Promise<void> {
  const doc = vscode.window.activeTextEditor?.document;
  if (!doc || doc.languageId !== 'mdc' || doc.uri.scheme !== 'file') {
    void vscode.window.showErrorMessage('mdc: Show Plan Report needs a saved .model file in the active editor.');
    return;
  }
  if (doc.isDirty && !(await doc.save())) {
    void vscode.window.showErrorMessage(`mdc: could not save ${doc.uri.fsPath}; the plan report reads the file on disk.`);
    return;
  }
  let found: ReturnType<typeof settings>;
  try {
    found = settings(context);
  } catch (e) {
    void vscode.window.showErrorMessage(`mdc: ${(e as Error).message}`);
    return;
  }
  if (!found.mdc) {
    void vscode.window.showErrorMessage(NOT_FOUND);
    return;
  }
  const run = planCommand(found.node, found.mdc, doc.uri.fsPath, found.planArgs);
  const out = session.plan;
  out.clear();
  out.appendLine(`$ mdc ${run.args.slice(1).join(' ')}`);
  out.show(true);
  const result = await new Promise<{ code: number; stdout: string; stderr: string }>((done) => {
    execFile(run.command, [...run.args], { cwd: found.cwd, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      done({ code, stdout, stderr: stderr || (err && code === -1 ? err.message : '') });
    });
  });
  out.append(result.stdout);
  if (result.stderr) out.append(result.stderr.endsWith('\n') ? result.stderr : result.stderr + '\n');
  if (result.code !== 0) {
    out.appendLine(`mdc plan exited with code ${result.code}`);
    void vscode.window.showErrorMessage(`mdc plan failed (exit code ${result.code}): see the "mdc Plan" output.`);
  }
}
