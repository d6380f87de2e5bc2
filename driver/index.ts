/**
 * The package's main export: source text in, a runtime plan (or diagnostics) out.
 *
 *   import { compile, formatDiagnostic } from 'mdc';
 *   const r = compile(source, 'gpt2.model', { preset: 'tiny' });
 *   if (r.diagnostics.length) for (const d of r.diagnostics) console.error(formatDiagnostic(d, source));
 *   else run(r.plan!);                      // with 'mdc/runtime'
 */
export { compile, compileGraph, type CompileOptions, type Compiled, type GraphOptions, type Stage } from './compile.js';
export { optimize, planOf, spmdPlanOf } from './stages.js';
export { VerifyError } from './verify.js';
export { formatDiagnostic, diagnosticToJson } from '../diagnostics/format.js';
export type { Diagnostic } from '../diagnostics/messages.js';
export type { Plan } from '../runtime/plan.js';
export { compileInference, cacheBytes, type InferOptions, type InferCompiled } from './infer.js';
export { pipeline, type TextGenerator, type TextGenerationOptions, type TextCallOptions } from './text-generation.js';
