/**
 * Types for `.model` imports: with `dts: true` the plugin writes `<file>.model.d.ts` beside
 * the model (the declarations `mdc compile` writes as `<Model>.d.ts`), and TypeScript then
 * checks a program's use of the import against the model's exact shapes; without one,
 * bundler/model.d.ts's `declare module '*.model'` types any model loosely. The checks run
 * the TypeScript compiler on files in the fixture project.
 */
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileModelModule } from '../../bundler/module.js';
import { buildWith, makeFixture, ROOT } from './fixture.js';

let dir = '';
beforeAll(async () => {
  dir = await makeFixture();
});
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Type-checks `text` as `app.ts` in the fixture; its diagnostics as `line: TSxxxx message` (the first line of each message). */
function typeCheck(text: string): string[] {
  const app = join(dir, 'app.ts');
  writeFileSync(app, text);
  const program = ts.createProgram({
    rootNames: [app, join(ROOT, 'bundler/model.d.ts'), join(ROOT, 'node_modules/@webgpu/types/dist/index.d.ts')],
    options: {
      strict: true,
      noEmit: true,
      skipLibCheck: true,
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.ESNext,
      moduleResolution: ts.ModuleResolutionKind.Bundler,
      types: [],
      paths: { 'mdc/runtime': [join(ROOT, 'runtime/index.ts')] },
    },
  });
  return ts
    .getPreEmitDiagnostics(program)
    .filter((d) => d.file?.fileName === app)
    .map((d) => {
      const line = d.file!.getLineAndCharacterOfPosition(d.start!).line + 1;
      return `${line}: TS${d.code} ${ts.flattenDiagnosticMessageText(d.messageText, '\n').split('\n')[0]}`;
    });
}

const APP = (shape: string, input: string) => `import Mlp, { outputShapes } from './mlp.model';
export async function f(device: GPUDevice) {
  const m = await Mlp.load(device);
  const out = await m.run({ ${input}: new Float32Array(512) });
  const s: readonly ${shape} = out.probs.shape;
  const t: readonly ${shape} = outputShapes.probs;
  return [s, t];
}
`;

describe('types for .model imports', () => {
  it('dts: true writes <file>.model.d.ts beside the model, the declarations mdc compile writes', async () => {
    expect(existsSync(join(dir, 'mlp.model.d.ts'))).toBe(false);
    const r = await buildWith('rollup', dir, { preset: 'tiny', dts: true });
    expect(r.ok).toBe(true);
    const m = await compileModelModule(readFileSync(join(dir, 'mlp.model'), 'utf8'), 'mlp.model', { preset: 'tiny' });
    if (!m.ok) throw new Error(m.message);
    expect(readFileSync(join(dir, 'mlp.model.d.ts'), 'utf8')).toBe(m.dts);
  });

  it("with the model's .d.ts, TypeScript checks the exact shapes and input names", () => {
    expect(typeCheck(APP('[8, 10]', 'x'))).toEqual([]);
    expect(typeCheck(APP('[8, 11]', 'x'))).toEqual([
      "5: TS2322 Type 'readonly [8, 10]' is not assignable to type 'readonly [8, 11]'.",
      "6: TS2322 Type 'readonly [8, 10]' is not assignable to type 'readonly [8, 11]'.",
    ]);
    expect(typeCheck(APP('[8, 10]', 'y'))).toEqual(["4: TS2353 Object literal may only specify known properties, and 'y' does not exist in type 'MlpInputs'."]);
  });

  it("without one, bundler/model.d.ts types any .model import: a model's class with load and run", () => {
    rmSync(join(dir, 'mlp.model.d.ts'));
    expect(typeCheck(APP('number[]', 'x'))).toEqual([]);
    expect(typeCheck(APP('number[]', 'x').replace('Mlp.load', 'Mlp.lode'))).toEqual([
      "3: TS2339 Property 'lode' does not exist on type '{ load(device: GPUDevice, options?: LoadOptions | undefined): Promise<LoadedModel>; }'.",
    ]);
  });
});
