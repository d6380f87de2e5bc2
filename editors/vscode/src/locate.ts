/**
 * Where mdc is and how to run it: plain functions of paths and settings (no `vscode`),
 * so the tests call them directly.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';

/** What the extension knows when it looks for mdc. */
export type Place = {
  /** The `mdc.path` setting: `bin/mdc.js` or the package folder, absolute or relative to the first workspace folder; '' when unset. */
  readonly configured: string;
  readonly workspaceFolders: readonly string[];
  /** The extension's folder: inside mdc's checkout (editors/vscode) when built from it. */
  readonly extensionPath: string;
};

/** A command line: the program and its arguments. */
export type CommandLine = { readonly command: string; readonly args: readonly string[] };

const isFile = (p: string) => existsSync(p) && statSync(p).isFile();
const isMdcPackage = (dir: string) => {
  try {
    return (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: unknown }).name === 'mdc' && isFile(join(dir, 'bin', 'mdc.js'));
  } catch {
    return false;
  }
};

/**
 * mdc's `bin/mdc.js`: the setting if given (an error if it names nothing runnable), else the
 * first of the workspace's node_modules/mdc, a workspace folder that is mdc, the checkout the
 * extension sits in; undefined when there is none.
 */
export function locateMdc(place: Place): string | undefined {
  if (place.configured.trim() !== '') {
    const given = isAbsolute(place.configured) ? place.configured : resolve(place.workspaceFolders[0] ?? place.extensionPath, place.configured);
    const script = isFile(given) ? given : join(given, 'bin', 'mdc.js');
    if (!isFile(script)) throw new Error(`mdc.path is ${JSON.stringify(place.configured)}, but ${script} is not a file`);
    return script;
  }
  const candidates = [...place.workspaceFolders.map((w) => join(w, 'node_modules', 'mdc')), ...place.workspaceFolders, dirname(dirname(place.extensionPath))];
  const found = candidates.find(isMdcPackage);
  return found && join(found, 'bin', 'mdc.js');
}

/** The language server's command line: mdc's stdio server, which the client talks to over the process's stdin and stdout. */
export const serverCommand = (node: string, mdc: string): CommandLine => ({ command: node, args: [mdc, 'lsp', '--stdio'] });

/** `mdc plan FILE` with the user's extra arguments (a preset, a mesh, --auto) after the file. */
export const planCommand = (node: string, mdc: string, file: string, extra: readonly string[]): CommandLine => ({
  command: node,
  args: [mdc, 'plan', file, ...extra],
});
