/**
 * `npm run package:vscode` packs a .vsix (a zip) holding the manifest, the grammar and the
 * bundled client; the bundle, loaded the way VS Code loads it (CommonJS, with `vscode`
 * supplied from outside; here a fake of the few APIs it uses), runs **mdc: Show Plan Report**.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import Module, { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { locateMdc, planCommand, serverCommand } from '../../editors/vscode/src/locate.js';
import { GRAMMAR_PATH } from '../../scripts/gen-textmate.js';

const root = resolve(import.meta.dirname, '../..');
const mdcJs = join(root, 'bin', 'mdc.js');
let tmp: string;
let vsix: string;

beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'mdc-vscode-'));
  execFileSync('npm', ['run', '--silent', 'package:vscode', '--', '--out', tmp], { cwd: root, stdio: 'pipe' });
  vsix = join(tmp, 'mdc-0.1.0.vsix');
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const unzip = (...args: string[]) => execFileSync('unzip', args, { encoding: 'utf8', maxBuffer: 16 << 20 });

describe('npm run package:vscode', () => {
  it('packs the manifest, the language configuration, the grammar and the bundled client into a .vsix', () => {
    const names = unzip('-Z1', vsix).trim().split('\n').sort();
    expect(names).toEqual([
      '[Content_Types].xml',
      'extension.vsixmanifest',
      'extension/LICENSE.txt',
      'extension/dist/extension.js',
      'extension/language-configuration.json',
      'extension/package.json',
      'extension/readme.md',
      'extension/syntaxes/mdc.tmLanguage.json',
    ]);
    const manifest = JSON.parse(unzip('-p', vsix, 'extension/package.json'));
    expect(manifest.main).toBe('./dist/extension.js');
    expect(manifest.activationEvents).toEqual(['onLanguage:mdc']);
    expect(manifest.contributes.languages).toEqual([
      { id: 'mdc', aliases: ['mdc', 'Model'], extensions: ['.model'], configuration: './language-configuration.json' },
    ]);
    expect(manifest.contributes.grammars).toEqual([{ language: 'mdc', scopeName: 'source.mdc', path: './syntaxes/mdc.tmLanguage.json' }]);
    expect(manifest.contributes.commands).toEqual([{ command: 'mdc.showPlan', title: 'Show Plan Report', category: 'mdc' }]);
    expect(unzip('-p', vsix, 'extension/syntaxes/mdc.tmLanguage.json')).toBe(readFileSync(GRAMMAR_PATH, 'utf8'));
    const config = JSON.parse(unzip('-p', vsix, 'extension/language-configuration.json'));
    expect(config.comments).toEqual({ lineComment: '//', blockComment: ['/*', '*/'] });
    const bundle = unzip('-p', vsix, 'extension/dist/extension.js');
    // vscode stays external (VS Code supplies it); the language client is bundled in.
    expect(bundle).toContain('require("vscode")');
    expect(bundle).not.toContain('require("vscode-languageclient');
  });
});

/** A fake of the VS Code APIs the extension uses, recording what it shows. */
function fakeVscode(settings: Record<string, unknown>, file: string | undefined) {
  const commands = new Map<string, (...a: unknown[]) => unknown>();
  const channel = { text: '', shown: false };
  const messages: string[] = [];
  const api = {
    commands: { registerCommand: (name: string, fn: (...a: unknown[]) => unknown) => (commands.set(name, fn), { dispose() {} }) },
    window: {
      activeTextEditor: file && { document: { uri: { scheme: 'file', fsPath: file }, languageId: 'mdc', isDirty: false, save: async () => true } },
      createOutputChannel: (name: string) => ({
        name,
        append: (s: string) => void (channel.text += s),
        appendLine: (s: string) => void (channel.text += s + '\n'),
        clear: () => void (channel.text = ''),
        show: () => void (channel.shown = true),
        dispose() {},
      }),
      showErrorMessage: async (m: string) => void messages.push(`error: ${m}`),
      showWarningMessage: async (m: string) => void messages.push(`warning: ${m}`),
    },
    workspace: { workspaceFolders: [], getConfiguration: () => ({ get: (k: string, d: unknown) => (k in settings ? settings[k] : d) }) },
  };
  // The bundled language client subclasses VS Code's classes (CodeLens, Hover, …) as it loads: any other name is an empty class.
  const vscode = new Proxy(api, { get: (t, k) => (k in t ? t[k as keyof typeof t] : class {}) });
  return { api: vscode, commands, channel, messages };
}

/** Loads the packed bundle as VS Code would, with `vscode` resolving to `fake`. */
function loadBundle(fake: unknown): { activate(ctx: unknown): Promise<void>; deactivate(): Promise<void> } {
  const dir = join(tmp, 'unpacked');
  rmSync(dir, { recursive: true, force: true });
  unzip('-q', vsix, 'extension/dist/extension.js', '-d', dir);
  const file = join(dir, 'extension', 'dist', 'extension.js');
  const load = (Module as unknown as { _load: (req: string, ...rest: unknown[]) => unknown })._load;
  (Module as unknown as { _load: typeof load })._load = (req, ...rest) => (req === 'vscode' ? fake : load(req, ...rest));
  try {
    const req = createRequire(file);
    delete req.cache[file]; // a fresh copy per test, bound to this test's fake
    return req(file);
  } finally {
    (Module as unknown as { _load: typeof load })._load = load;
  }
}

describe('the packed extension', () => {
  const context = () => ({ subscriptions: [] as unknown[], extensionPath: join(tmp, 'unpacked', 'extension') });

  it('Show Plan Report shows exactly what mdc plan prints for the active file', async () => {
    const model = join(tmp, 'gpt2.model');
    copyFileSync(join(root, 'samples', 'gpt2.model'), model);
    const fake = fakeVscode({ path: root, 'server.enable': false, 'plan.arguments': ['--preset', 'tiny'] }, model);
    const ext = loadBundle(fake.api);
    await ext.activate(context());
    expect([...fake.commands.keys()]).toEqual(['mdc.showPlan']);
    await fake.commands.get('mdc.showPlan')!();
    const expected = execFileSync(process.execPath, [mdcJs, 'plan', model, '--preset', 'tiny'], { encoding: 'utf8' });
    expect(fake.channel.text).toBe(`$ mdc plan ${model} --preset tiny\n${expected}`);
    expect(fake.channel.text).toContain('GPT2 on mesh [dp: 2, tp: 4]: 8 devices');
    expect(fake.channel.shown).toBe(true);
    expect(fake.messages).toEqual([]);
    await ext.deactivate();
  });

  it('Show Plan Report on a broken file shows the located diagnostic and says mdc plan failed', async () => {
    const model = join(tmp, 'broken.model');
    writeFileSync(model, 'model M(x: f32[4]) -> f32[4] {\n  return y\n}\n');
    const fake = fakeVscode({ path: root, 'server.enable': false }, model);
    const ext = loadBundle(fake.api);
    await ext.activate(context());
    await fake.commands.get('mdc.showPlan')!();
    const lines = fake.channel.text.trim().split('\n');
    expect(lines[0]).toBe(`$ mdc plan ${model}`);
    expect(lines.some((l) => l.startsWith(`${model}:2:10: error MDC`))).toBe(true);
    expect(lines.at(-1)).toBe('mdc plan exited with code 1');
    expect(fake.messages).toEqual(['error: mdc plan failed (exit code 1): see the "mdc Plan" output.']);
  });

  it('a wrong mdc.path is an error naming the setting, and the server is not started', async () => {
    const fake = fakeVscode({ path: join(tmp, 'nowhere') }, undefined);
    const ext = loadBundle(fake.api);
    await ext.activate(context());
    expect(fake.messages).toEqual([
      `error: mdc: mdc.path is ${JSON.stringify(join(tmp, 'nowhere'))}, but ${join(tmp, 'nowhere', 'bin', 'mdc.js')} is not a file`,
    ]);
  });
});

describe('locating and running mdc', () => {
  it('finds the checkout the extension is built in, a configured folder or script, and nothing elsewhere', () => {
    const ext = join(root, 'editors', 'vscode');
    expect(locateMdc({ configured: '', workspaceFolders: [], extensionPath: ext })).toBe(mdcJs);
    expect(locateMdc({ configured: root, workspaceFolders: [], extensionPath: tmp })).toBe(mdcJs);
    expect(locateMdc({ configured: 'bin/mdc.js', workspaceFolders: [root], extensionPath: tmp })).toBe(mdcJs);
    expect(locateMdc({ configured: '', workspaceFolders: [root], extensionPath: tmp })).toBe(mdcJs);
    expect(locateMdc({ configured: '', workspaceFolders: [tmp], extensionPath: join(tmp, 'a', 'b') })).toBe(undefined);
  });

  it('starts the server as node <mdc>/bin/mdc.js lsp --stdio and the plan as mdc plan FILE with the extra arguments', () => {
    expect(serverCommand('node', mdcJs)).toEqual({ command: 'node', args: [mdcJs, 'lsp', '--stdio'] });
    expect(planCommand('node', mdcJs, '/m/a.model', ['--auto'])).toEqual({ command: 'node', args: [mdcJs, 'plan', '/m/a.model', '--auto'] });
  });
});
