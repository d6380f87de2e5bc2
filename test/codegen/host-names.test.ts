/**
 * Model, input and output names that collide with the host module's own identifiers
 * (issue 19): the class is renamed with a leading `_` when the model's name is a reserved
 * word, a TypeScript type name or a name the module uses, and every emitted module, with
 * its `.d.ts`, type-checks against the runtime and can be called with those names.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { emitHost, hostClassName } from '../../codegen/host.js';
import { planOf } from '../../driver/stages.js';
import { compileOrThrow } from '../support/gpu.js';
import { typecheck } from '../support/typecheck.js';

/** Each model name, the class it must be exported as (written out, not computed), and its input names. */
const CASES: readonly (readonly [model: string, cls: string, inputs: readonly [string, string]])[] = [
  ['PlanRunner', '_PlanRunner', ['PlanRunner', 'plan']],
  ['Promise', '_Promise', ['Promise', 'inputShapes']],
  ['class', '_class', ['class', 'default']],
  ['constructor', 'constructor', ['__proto__', 'constructor']],
  ['__proto__', '__proto__', ['toString', 'hasOwnProperty']],
  ['default', '_default', ['GPUDevice', 'Record']],
  ['any', '_any', ['any', 'HostArray']],
  ['Float32Array', '_Float32Array', ['Float32Array', 'Int32Array']],
  ['Plan', 'Plan', ['run', 'load']],
];

const source = (model: string, [a, b]: readonly [string, string]) =>
  `model ${model}(${a}: f32[2, 4], ${b}: i32[4]) -> f32[2, 4] {\n  return ${a} + cast(${b}, "f32")\n}\n`;

describe('host module names', () => {
  it('renames a model whose name the module cannot declare as a class, and keeps the others', () => {
    expect(CASES.map(([m]) => hostClassName(m))).toEqual(CASES.map(([, cls]) => cls));
    // Characters an identifier cannot hold were already replaced; the result is then checked too.
    expect(hostClassName('my-model')).toBe('_my_model');
  });

  it('every emitted module and its .d.ts type-check, and the inputs are passed by their own names', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mdc-host-names-'));
    writeFileSync(join(dir, 'package.json'), '{ "type": "module" }');
    const use: string[] = [];
    CASES.forEach(([model, cls, inputs], k) => {
      const plan = planOf(compileOrThrow(source(model, inputs)), { seed: 0, source: 'names.model' });
      const host = emitHost(plan, `M${k}.plan.json`);
      expect(host.ts, model).toContain(`export class ${cls} {`);
      expect(host.ts, model).toContain(`export default ${cls};`);
      // A `__proto__` key would set the prototype of inputShapes instead of making a property.
      if (inputs.includes('__proto__')) expect(host.ts).toContain('["__proto__"]: [2, 4]');
      writeFileSync(join(dir, `M${k}.ts`), host.ts);
      writeFileSync(join(dir, `D${k}.d.ts`), host.dts);
      writeFileSync(join(dir, `M${k}.plan.json`), JSON.stringify(plan));
      const [a, b] = inputs.map((n) => JSON.stringify(n));
      use.push(
        `import C${k}, { inputShapes as S${k} } from './M${k}.js';`,
        `export async function go${k}(device: GPUDevice) {`,
        `  const m = await C${k}.load(device);`,
        `  const out = await m.run({ [${a}]: new Float32Array(8), [${b}]: new Int32Array(4) });`,
        `  const s: readonly [2, 4] = out.output0.shape;`,
        `  const n: 4 = S${k}[${b}][0];`,
        `  // @ts-expect-error ${b} must be an Int32Array`,
        `  await m.run({ [${a}]: new Float32Array(8), [${b}]: new Float32Array(4) });`,
        '  m.destroy();',
        '  return [s, n];',
        '}',
      );
    });
    writeFileSync(join(dir, 'use.ts'), use.join('\n'));
    const diags = typecheck(dir, [join(dir, 'use.ts'), ...CASES.map((_, k) => join(dir, `D${k}.d.ts`))], { skipLibCheck: false });
    expect(diags).toEqual([]);
  });
});
