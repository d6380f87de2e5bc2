/**
 * `npm run package:vscode [-- --out DIR]`: bundles the client (src/extension.ts and
 * vscode-languageclient, `vscode` external) with esbuild into DIR/extension/dist/extension.js,
 * copies the manifest, language configuration, grammar, README and LICENSE beside it, and
 * packs that folder with @vscode/vsce into DIR/mdc-<version>.vsix. DIR defaults to
 * editors/vscode/build; `--dev` only bundles into editors/vscode/dist. Offline: no dependencies are packed (the bundle holds them) and
 * nothing is fetched.
 */
import { cpSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { createVSIX } from '@vscode/vsce';

const here = dirname(fileURLToPath(import.meta.url));
/** What the .vsix holds besides the bundle, relative to editors/vscode. */
const FILES = ['package.json', 'language-configuration.json', 'syntaxes/mdc.tmLanguage.json', 'README.md', 'LICENSE'];

function outDir(argv: readonly string[]): string {
  const i = argv.indexOf('--out');
  if (i < 0) return join(here, 'build');
  const dir = argv[i + 1];
  if (!dir || dir.startsWith('--')) throw new Error('package:vscode: --out needs a folder');
  return resolve(dir);
}

/** Bundles the client into `outfile`. */
const bundle = (outfile: string) =>
  build({
    entryPoints: [join(here, 'src', 'extension.ts')],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    external: ['vscode'],
    minify: true,
    sourcemap: false,
    logLevel: 'warning',
  });

export async function packageExtension(out: string): Promise<string> {
  const started = Date.now();
  const stage = join(out, 'extension');
  rmSync(stage, { recursive: true, force: true });
  mkdirSync(join(stage, 'syntaxes'), { recursive: true });
  for (const f of FILES) cpSync(join(here, f), join(stage, f));
  await bundle(join(stage, 'dist', 'extension.js'));
  const { version } = JSON.parse(readFileSync(join(here, 'package.json'), 'utf8')) as { version: string };
  const vsix = join(out, `mdc-${version}.vsix`);
  await createVSIX({ cwd: stage, packagePath: vsix, dependencies: false, allowMissingRepository: true });
  console.log(`package:vscode: ${vsix} in ${Date.now() - started} ms`);
  return vsix;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const argv = process.argv.slice(2);
  // --dev: only the bundle, into editors/vscode/dist, so VS Code can run the extension from this folder (F5).
  const done = argv.includes('--dev')
    ? bundle(join(here, 'dist', 'extension.js')).then(() => console.log('package:vscode: editors/vscode/dist/extension.js'))
    : packageExtension(outDir(argv));
  done.catch((e: unknown) => {
    console.error(e instanceof Error ? e.message : e);
    process.exit(1);
  });
}
