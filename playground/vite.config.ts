/**
 * Builds the playground: index.html and its module (the editor, the WebGPU runner) and
 * the compiler's web worker, both as ES modules. Two Node-only modules of the compiler
 * are replaced for the browser (see src/shims/): grammar/chevrotain.ts, which locates
 * Chevrotain's bundle through node:module, and the `highs` solver.
 */
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig, type Plugin } from 'vite';

const here = dirname(fileURLToPath(import.meta.url));
const CHEVROTAIN = resolve(here, '../grammar/chevrotain');
const shim = (name: string) => resolve(here, 'src/shims', `${name}.ts`);

/** Resolves the compiler's grammar/chevrotain.js import (from any folder) to the browser shim. */
function browserShims(): Plugin {
  return {
    name: 'mdc-playground-shims',
    enforce: 'pre',
    resolveId(source, importer) {
      if (source === 'highs') return shim('highs');
      if (importer && /chevrotain\.js$/.test(source) && resolve(dirname(importer), source).replace(/\.js$/, '') === CHEVROTAIN) return shim('chevrotain');
      return undefined;
    },
  };
}

export default defineConfig({
  root: here,
  base: './',
  plugins: [browserShims()],
  worker: { format: 'es', plugins: () => [browserShims()] },
  build: { outDir: resolve(here, 'dist'), emptyOutDir: true, target: 'es2022', chunkSizeWarningLimit: 2000 },
});
