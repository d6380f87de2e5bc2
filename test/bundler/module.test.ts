/**
 * The module the plugin makes from a `.model` file (bundler/module.ts), without a
 * bundler: the options reach the one pipeline under the CLI's names, the JavaScript is the
 * host module with its plan inlined, and failures are the diagnostics as `mdc check` prints them.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileModelModule } from '../../bundler/module.js';
import { compile } from '../../driver/compile.js';
import { buildWith, makeFixture, ROOT } from './fixture.js';

const MLP = readFileSync(join(ROOT, 'samples/mlp.model'), 'utf8');

async function ok(opts: Parameters<typeof compileModelModule>[2]) {
  const m = await compileModelModule(MLP, 'mlp.model', opts);
  if (!m.ok) throw new Error(m.message);
  return m;
}

describe('a .model file as a JavaScript module', () => {
  it('is the host module with the plan compile() makes inlined: same plan, imports only the runtime', async () => {
    const m = await ok({ preset: 'tiny' });
    const r = await compile(MLP, 'mlp.model', { preset: 'tiny' });
    expect(m.plan).toEqual(r.plan);
    const lines = m.js.split('\n').filter((l) => /^(import|export)\b/.test(l));
    expect(lines).toEqual([
      'import { HostModel } from "mdc/runtime";',
      'export const inputShapes = { "x": [8, 64] };',
      'export const outputShapes = { "probs": [8, 10] };',
      // The record of the model's dims (docs/host-module.md, "Smaller batch and sequence sizes").
      expect.stringMatching(/^export const sizeDims = JSON\.parse\("\[\{\\"name\\":\\"B\\"/),
      'export class Mlp {',
      'export default Mlp;',
    ]);
    // Run the module with a stand-in runtime whose HostModel.load returns the plan it is given: the inlined plan, whole.
    const stub = 'data:text/javascript,export const HostModel = { load: async (device, plan) => plan };';
    const js = (await ok({ preset: 'tiny', runtime: stub })).js;
    const mod = (await import(`data:text/javascript;base64,${Buffer.from(js).toString('base64')}`)) as { default: { load(d: unknown): Promise<unknown> } };
    expect(((await mod.default.load(null)) as { model: unknown }).model).toEqual(r.plan);
    expect(m.assets.map((a) => a.fileName)).toEqual(['Mlp.plan.json', ...r.plan!.kernels.map((k) => `Mlp/${k.file}`)]);
  });

  it('takes the CLI options: preset, set, dims, model, fuse, seed, and the runtime module to import', async () => {
    const fused = await ok({});
    const unfused = await ok({ fuse: false });
    expect([fused.plan.kernels.length, unfused.plan.kernels.length]).toEqual([3, 6]);
    expect((await ok({ seed: 7 })).plan.seed).toBe(7);
    expect((await ok({ set: { classes: 12 }, dims: { B: 2 } })).plan.outputs.map((o) => o.shape)).toEqual([[2, 12]]);
    expect((await ok({ model: 'Mlp', runtime: '/srv/mdc-runtime.js' })).js).toContain('import { HostModel } from "/srv/mdc-runtime.js";');
  });

  it('fails naming an option that names nothing in the file, and what the file has', async () => {
    const failure = async (opts: Parameters<typeof compileModelModule>[2]) => {
      const m = await compileModelModule(MLP, 'mlp.model', opts);
      return m.ok ? 'compiled' : { diagnostics: m.diagnostics, message: m.message };
    };
    expect(await failure({ preset: 'nope', set: { zz: 1 } })).toEqual({
      diagnostics: [],
      message: "mlp.model: the mdc plugin's option preset nope: the file has no such preset; its presets: 'tiny'",
    });
    expect(await failure({ set: { zz: 1 } })).toEqual({
      diagnostics: [],
      message: "mlp.model: the mdc plugin's option set zz: the file has no config constant 'zz'; its constants: 'inputs', 'hidden', 'classes'",
    });
    expect(await failure({ dims: { T: 4 } })).toEqual({
      diagnostics: [],
      message: "mlp.model: the mdc plugin's option dim T: model Mlp has no symbolic dim 'T'; its symbolic dims: 'B'",
    });
  });
});

describe('the plugin refuses a source over the 2 MiB limit, as the CLI does', () => {
  let dir = '';
  beforeAll(async () => {
    dir = await makeFixture();
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });
  it('rollup: the build fails naming the file and its size', async () => {
    writeFileSync(join(dir, 'big.model'), MLP + ' '.repeat(2 * 2 ** 20 + 1 - Buffer.byteLength(MLP)));
    writeFileSync(join(dir, 'big.js'), "import M from './big.model';\nconsole.log(M);\n");
    const r = await buildWith('rollup', dir, {}, 'big.js');
    expect(r.ok ? '' : r.message).toContain('big.model: 2097153 bytes, over the 2 MiB limit for a .model file');
  });
});
