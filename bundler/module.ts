/**
 * A `.model` file as a JavaScript module: the one compile pipeline (driver/compile.ts),
 * then the host module codegen/host.ts emits, transpiled to JavaScript with the plan
 * inlined. Nothing here knows about bundlers; bundler/index.ts adapts it to each one.
 */
import { emitHost } from '../codegen/host.js';
import { formatDiagnostic } from '../diagnostics/format.js';
import type { Diagnostic } from '../diagnostics/messages.js';
import { compile, type Compiled } from '../driver/compile.js';
import { OptionError } from '../driver/frontend.js';
import { sizeDims } from '../driver/shrink.js';
import type { Plan } from '../runtime/plan.js';

/** The plugin's compile options, named as the CLI's flags are (`--preset`, `--set`, `--dim`, `--model`, `--no-fuse`, `--seed`). */
export interface ModelCompileOptions {
  readonly preset?: string;
  /** Config constants, as `--set NAME=VALUE`. */
  readonly set?: Readonly<Record<string, number>>;
  /** Symbolic dims, as `--dim NAME=VALUE`. */
  readonly dims?: Readonly<Record<string, number>>;
  /** The model to compile when a file has several. */
  readonly model?: string;
  /** Default true; false is `--no-fuse`. */
  readonly fuse?: boolean;
  /** Parameter initialisation seed recorded in the plan (default 0). */
  readonly seed?: number;
  /** The module the host module imports `PlanRunner` from (default `mdc/runtime`). */
  readonly runtime?: string;
}

/** One file the module comes with: the plan, or a kernel, under a path relative to the assets folder. */
export interface ModelAsset {
  readonly fileName: string;
  readonly source: string;
}

export type ModelModule =
  | {
      readonly ok: true;
      readonly plan: Plan;
      /** The host module as JavaScript, the plan inlined: its default export is the model's class. */
      readonly js: string;
      /** The host module's declarations, as `mdc compile` writes them to `<Model>.d.ts`. */
      readonly dts: string;
      /** `<Model>.plan.json` and `<Model>/<kernel>.wgsl`, the plan as `mdc compile` writes it. */
      readonly assets: readonly ModelAsset[];
    }
  | {
      readonly ok: false;
      readonly diagnostics: readonly Diagnostic[];
      /** Every diagnostic as `file:line:col: error MDCxxxx: message` with its source line and caret, one after another. */
      readonly message: string;
    };

/** Compiles `source` (named `file` in diagnostics and in the plan's `source`) to a host module in JavaScript. */
export async function compileModelModule(source: string, file: string, opts: ModelCompileOptions = {}): Promise<ModelModule> {
  let r: Compiled;
  try {
    r = await compile(source, file, {
      ...(opts.preset !== undefined ? { preset: opts.preset } : {}),
      ...(opts.model !== undefined ? { model: opts.model } : {}),
      overrides: { ...opts.set },
      dims: { ...opts.dims },
      fuse: opts.fuse ?? true,
      seed: opts.seed ?? 0,
    });
  } catch (e) {
    // A plugin option that names nothing in this file: the build fails saying which.
    if (e instanceof OptionError) return { ok: false, diagnostics: [], message: `${file}: the mdc plugin's option ${e.message}` };
    throw e;
  }
  if (r.diagnostics.length || !r.plan) {
    const message = r.diagnostics.map((d) => formatDiagnostic(d, source)).join('\n');
    return { ok: false, diagnostics: r.diagnostics, message };
  }
  const plan = r.plan;
  const planFile = `${plan.model}.plan.json`;
  const planJson = JSON.stringify(plan, null, 1) + '\n';
  const host = emitHost(plan, planFile, opts.runtime ?? 'mdc/runtime', sizeDims(r));
  const js = host.js;
  const assets = [{ fileName: planFile, source: planJson }, ...plan.kernels.map((k) => ({ fileName: `${plan.model}/${k.file}`, source: k.wgsl }))];
  return { ok: true, plan, js, dts: host.dts, assets };
}
