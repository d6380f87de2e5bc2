/**
 * The front-end options (`preset`, `overrides`, `dims`, `model`) must name something the
 * file has: an option that names nothing is refused, listing what exists, never a value
 * silently unused. `compile()` checks them once the file parses, for every caller (the
 * CLI, the bundler plugin, the library); each caller words the option its own way
 * (`--set d` on the command line).
 */
import type { FrontendOptions } from '../compiler/compile.js';
import { didYouMeanAside } from '../diagnostics/messages.js';
import type * as A from '../grammar/ast.js';

export type FrontendOption = 'preset' | 'set' | 'dim' | 'model' | 'mesh';

/** A front-end option naming nothing in the file: `${option} ${name}: ${detail}`. */
export class OptionError extends Error {
  constructor(
    readonly option: FrontendOption,
    readonly value: string,
    readonly detail: string,
  ) {
    super(`${option} ${value}: ${detail}`);
    this.name = 'OptionError';
  }
}

/** Throws OptionError for the first option of `o` that names nothing in `program`. */
export function checkFrontendNames(program: A.Program, o: FrontendOptions): void {
  const list = (xs: Iterable<string>) => [...xs].map((x) => `'${x}'`).join(', ') || 'none';
  const presets = program.items.filter((i): i is A.PresetDecl => i.kind === 'preset').map((p) => p.name.name);
  if (o.preset !== undefined && !presets.includes(o.preset))
    throw new OptionError('preset', o.preset, `the file has no such preset${didYouMeanAside(o.preset, presets)}; its presets: ${list(presets)}`);
  const consts = new Set(program.items.flatMap((i) => (i.kind === 'config' ? i.entries.map((e) => e.name.name) : [])));
  for (const k of Object.keys(o.overrides ?? {}))
    if (!consts.has(k)) throw new OptionError('set', k, `the file has no config constant '${k}'${didYouMeanAside(k, consts)}; its constants: ${list(consts)}`);
  const models = program.items.filter((i): i is A.FunctionDecl => i.kind === 'model').map((m) => m.name.name);
  if (o.model !== undefined && !models.includes(o.model))
    throw new OptionError('model', o.model, `the file has no such model${didYouMeanAside(o.model, models)}; its models: ${list(models)}`);
  const model = program.items.filter((i): i is A.FunctionDecl => i.kind === 'model').find((m) => m.name.name === (o.model ?? models.at(-1)));
  if (!model) return;
  const dims = symbolicDims(model, consts);
  for (const k of Object.keys(o.dims ?? {}))
    if (!dims.has(k))
      throw new OptionError('dim', k, `model ${model.name.name} has no symbolic dim '${k}'${didYouMeanAside(k, dims)}; its symbolic dims: ${list(dims)}`);
}

/** Names that size the model's inputs and outputs and are not config constants, and those its `where` clause sets. */
function symbolicDims(m: A.FunctionDecl, consts: ReadonlySet<string>): Set<string> {
  const out = new Set(m.where.map((w) => w.name.name));
  const visit = (e: A.Expr): void => {
    if (e.kind === 'name' && !consts.has(e.name)) out.add(e.name);
    else if (e.kind === 'binary') {
      visit(e.left);
      visit(e.right);
    } else if (e.kind === 'unary') visit(e.operand);
  };
  for (const t of [...m.params.map((p) => p.type), ...m.returns]) for (const d of t.dims) visit(d.size);
  return out;
}
