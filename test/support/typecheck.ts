import { resolve } from 'node:path';
import ts from 'typescript';

/**
 * Type-checks `files` (in `dir`) as a strict NodeNext project would, with `mdc/runtime`
 * resolved to this repository's runtime and WebGPU's types loaded: how a user's project
 * meets a compiled host module. Returns the messages of the problems in `dir`'s files
 * (`file: message`), empty when they type-check.
 */
export function typecheck(dir: string, files: readonly string[], opts: { skipLibCheck?: boolean } = {}): string[] {
  const program = ts.createProgram([...files], {
    strict: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    resolveJsonModule: true,
    noEmit: true,
    skipLibCheck: opts.skipLibCheck ?? true,
    types: ['@webgpu/types'],
    typeRoots: [resolve('node_modules/@types'), resolve('node_modules')],
    baseUrl: dir,
    paths: { 'mdc/runtime': [resolve('runtime/index.ts')] },
  });
  return ts
    .getPreEmitDiagnostics(program)
    .filter((d) => !d.file || d.file.fileName.startsWith(dir))
    .map((d) => `${d.file ? d.file.fileName.slice(dir.length + 1) : ''}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`);
}
