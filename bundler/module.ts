/**
 * A `.model` file as a JavaScript module: the one compile pipeline (driver/compile.ts),
 * then the host module codegen/host.ts emits, transpiled to JavaScript with the plan
 * inlined. Nothing here knows about bundlers; bundler/index.ts adapts it to each one.
 */
import ts from 'typescript';
import { emitHost } from '../codegen/host.js';
import { formatDiagnostic } from '../diagnostics/format.js';
import type { Diagnostic } from '../diagnostics/messages.js';
import { compile, type Compiled } from '../driver/compile.js';
import { OptionError } from '../driver/frontend.js';
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
  const host = emitHost(plan, planFile, opts.runtime ?? 'mdc/runtime');
  const js = ts.transpileModule(host.ts, {
    fileName: `${plan.model}.ts`,
    compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ESNext },
    transformers: { before: [inlinePlan(`./${planFile}`, JSON.stringify(plan))] },
    reportDiagnostics: false,
  }).outputText;
  const assets = [{ fileName: planFile, source: planJson }, ...plan.kernels.map((k) => ({ fileName: `${plan.model}/${k.file}`, source: k.wgsl }))];
  return { ok: true, plan, js, dts: host.dts, assets };
}

/**
 * Replaces the host module's `import plan from './<Model>.plan.json' with { type: 'json' }`
 * by `const plan = JSON.parse("…")`: every bundler then takes the module as it is, with no
 * JSON import to resolve (esbuild refuses a `type: 'json'` attribute on a module it did not
 * load as JSON), and the module runs where nothing can be fetched. JSON.parse of a string
 * is also quicker for engines to read than the same object as a literal.
 */
function inlinePlan(specifier: string, json: string): ts.TransformerFactory<ts.SourceFile> {
  return (context) => (file) => {
    const f = context.factory;
    let found = false;
    const statements = file.statements.map((s) => {
      if (!ts.isImportDeclaration(s) || !ts.isStringLiteral(s.moduleSpecifier) || s.moduleSpecifier.text !== specifier) return s;
      const name = s.importClause?.name;
      if (!name) throw new Error(`internal error: the host module imports ${specifier} without a default binding`);
      found = true;
      const parse = f.createCallExpression(f.createPropertyAccessExpression(f.createIdentifier('JSON'), 'parse'), undefined, [f.createStringLiteral(json)]);
      return f.createVariableStatement(
        undefined,
        f.createVariableDeclarationList([f.createVariableDeclaration(name, undefined, undefined, parse)], ts.NodeFlags.Const),
      );
    });
    if (!found) throw new Error(`internal error: the host module does not import its plan as ${specifier}`);
    return f.updateSourceFile(file, statements);
  };
}
