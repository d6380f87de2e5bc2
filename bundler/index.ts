/**
 * The bundler plugin (unplugin): `import Gpt2 from './gpt2.model'` in Vite, Rollup,
 * esbuild or webpack yields the model's compiled host module, the class whose
 * `load(device)` and `run(inputs)` the README describes, with the plan inlined.
 *
 *   import mdc from 'mdc/bundler';
 *   export default { plugins: [mdc.vite({ preset: 'tiny' })] };   // vite.config.ts
 *
 * One `load` hook compiles each `.model` file with the one pipeline (driver/compile.ts),
 * so a bundle, `mdc compile` and `mdc run` agree. Diagnostics become the bundler's error,
 * located at the first one and listing all of them as `file:line:col: error MDCxxxx: …`.
 * The file is a watched dependency, so watch mode rebuilds on a change. The plan and its
 * kernels are also emitted as assets (under `assets`, default `mdc/`), and with `dts`
 * each model gets its declarations beside it as `<file>.model.d.ts`.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { isAbsolute, relative, sep } from 'node:path';
import { createUnplugin, type UnpluginInstance } from 'unplugin';
import { compileModelModule, type ModelCompileOptions } from './module.js';

export { compileModelModule, type ModelAsset, type ModelCompileOptions, type ModelModule } from './module.js';

export interface MdcPluginOptions extends ModelCompileOptions {
  /**
   * The folder of the bundle's output the plan and kernels are emitted to (default `mdc`),
   * as `<Model>.plan.json` and `<Model>/<kernel>.wgsl`; false emits none. esbuild emits
   * them only when built with `outdir`.
   */
  readonly assets?: string | false;
  /** Write each model's declarations beside it as `<file>.model.d.ts` (default false); rewritten only when they change. */
  readonly dts?: boolean;
  /**
   * What a model's file name is relative to in diagnostics and in the plan's `source`
   * (default: the bundler's root, Vite's `root`, esbuild's `absWorkingDir`, webpack's
   * `context`, else the working directory), so that a bundle holds no absolute path.
   */
  readonly root?: string;
}

/** The most bytes of a `.model` file the plugin reads, as the CLI (2 MiB). */
const MAX_SOURCE_BYTES = 2 * 2 ** 20;
const MODEL_ID = /\.model$/;

export const unplugin: UnpluginInstance<MdcPluginOptions | undefined, false> = createUnplugin<MdcPluginOptions | undefined, false>((options = {}) => {
  let root = options.root;
  let serving = false;
  const name = (id: string) => {
    const r = relative(root ?? process.cwd(), id);
    return (r && !r.startsWith('..') && !isAbsolute(r) ? r : id).split(sep).join('/');
  };
  return {
    name: 'mdc',
    vite: {
      configResolved(config) {
        root = options.root ?? config.root;
        serving = config.command === 'serve';
      },
    },
    esbuild: {
      onLoadFilter: MODEL_ID,
      loader: 'js',
      config(o) {
        root = options.root ?? o.absWorkingDir;
      },
    },
    webpack(compiler) {
      root = options.root ?? compiler.context;
    },
    load: {
      filter: { id: MODEL_ID },
      async handler(id) {
        this.addWatchFile(id);
        const bytes = await readFile(id);
        if (bytes.length > MAX_SOURCE_BYTES) {
          this.error(`${name(id)}: ${bytes.length} bytes, over the ${MAX_SOURCE_BYTES / 2 ** 20} MiB limit for a .model file`);
          return 'export default undefined;';
        }
        const file = name(id);
        const m = await compileModelModule(bytes.toString('utf8'), file, options);
        if (!m.ok) {
          const first = m.diagnostics[0];
          // Rollup and Vite throw here; esbuild and webpack collect the error and fail the build after the hook returns.
          this.error({ message: m.message, id, ...(first ? { loc: { file: id, line: first.span.line, column: first.span.col - 1 } } : {}) });
          return 'export default undefined;';
        }
        if (options.assets !== false && !serving) {
          const dir = (options.assets ?? 'mdc').replace(/\/+$/, '');
          for (const a of m.assets) this.emitFile({ type: 'asset', fileName: dir ? `${dir}/${a.fileName}` : a.fileName, source: a.source });
        }
        if (options.dts) await writeIfChanged(`${id}.d.ts`, m.dts);
        return { code: m.js, map: null };
      },
    },
  };
});

async function writeIfChanged(path: string, text: string): Promise<void> {
  const old = await readFile(path, 'utf8').catch(() => undefined);
  if (old !== text) await writeFile(path, text);
}

export const vite = unplugin.vite;
export const rollup = unplugin.rollup;
export const esbuild = unplugin.esbuild;
export const webpack = unplugin.webpack;
export default unplugin;
