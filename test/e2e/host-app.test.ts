/**
 * The compiled host module as an application developer meets it: mdc packed with `npm pack`,
 * put into a fresh project's node_modules, `mdc compile` run there, an app type-checked with
 * the options `tsc --init` writes and run with Node on the WebGPU adapter; the README's
 * "Use your compiled model" section is run as written.
 *
 * The tarball is unpacked into node_modules/mdc by hand and mdc's dependencies are linked from
 * this repository's node_modules: `npm install <tarball> --offline` needs the registry's
 * metadata of every dependency, which npm's cache here does not hold, and a test needs nothing
 * outside the repository. What is tested is what npm would install: the packed files, the
 * package's `exports`, and only its `dependencies` (not its devDependencies).
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lower } from '../../compiler/compile.js';
import { dimValue } from '../../compiler/dims.js';
import { interpret } from '../../compiler/reference/interpret.js';
import { encodeCheckpoint } from '../../runtime/checkpoint.js';
import { gpuStatus } from '../support/gpu.js';

const REPO = resolve('.');
const status = await gpuStatus();
const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { dependencies: Record<string, string> };

/** The compiler options `tsc --init` (TypeScript 5.9) writes, less the emit-only ones. */
const INIT_OPTIONS: ts.CompilerOptions = {
  module: ts.ModuleKind.NodeNext,
  moduleResolution: ts.ModuleResolutionKind.NodeNext,
  target: ts.ScriptTarget.ESNext,
  types: [],
  noUncheckedIndexedAccess: true,
  exactOptionalPropertyTypes: true,
  strict: true,
  verbatimModuleSyntax: true,
  isolatedModules: true,
  noUncheckedSideEffectImports: true,
  moduleDetection: ts.ModuleDetectionKind.Force,
  skipLibCheck: true,
  noEmit: true,
};

/** The problems in the project's own files (node_modules left out), as `file: message`. */
function typecheck(dir: string, files: readonly string[], extra: ts.CompilerOptions = {}): string[] {
  const program = ts.createProgram(
    files.map((f) => join(dir, f)),
    { ...INIT_OPTIONS, ...extra },
  );
  return ts
    .getPreEmitDiagnostics(program)
    .filter((d) => !d.file || (d.file.fileName.startsWith(dir) && !d.file.fileName.includes('/node_modules/')))
    .map((d) => `${d.file ? d.file.fileName.slice(dir.length + 1) : ''}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`);
}

/** Builds dist/ into `stage` (the repository's own dist/ may be stale or in use), then packs it as `npm publish` would. */
function pack(stage: string): string {
  const config = ts.getParsedCommandLineOfConfigFile(
    'tsconfig.build.json',
    { outDir: join(stage, 'dist') },
    { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => {} },
  )!;
  const program = ts.createProgram(config.fileNames, config.options);
  const emitted = program.emit();
  if (emitted.emitSkipped) throw new Error('the build emitted nothing');
  // Type errors are left to `npm run typecheck`; the app's own type check below meets any in what it uses.
  for (const f of ['package.json', 'bin', 'samples', 'bundler/model.d.ts', 'README.md']) cpSync(f, join(stage, f), { recursive: true });
  const r = spawnSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', stage], { cwd: stage, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`npm pack failed: ${r.stderr}`);
  return join(stage, (JSON.parse(r.stdout) as { filename: string }[])[0]!.filename);
}

/** A fresh project with mdc "installed" from `tarball` (see the file's comment); @types/node as the app's own dev dependency. */
function project(dir: string, tarball: string): void {
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module', dependencies: { mdc: 'file:mdc.tgz' } }));
  const mdc = join(dir, 'node_modules', 'mdc');
  mkdirSync(mdc, { recursive: true });
  const r = spawnSync('tar', ['-xzf', tarball, '-C', mdc, '--strip-components=1'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`tar failed: ${r.stderr}`);
  for (const dep of [...Object.keys(pkg.dependencies), '@types/node']) {
    const to = join(dir, 'node_modules', dep);
    mkdirSync(dirname(to), { recursive: true });
    symlinkSync(join(REPO, 'node_modules', dep), to, 'dir');
  }
  mkdirSync(join(dir, 'node_modules', '.bin'));
  symlinkSync('../mdc/bin/mdc.js', join(dir, 'node_modules', '.bin', 'mdc'));
}

/**
 * What the machine prints whatever the app does: npm's warning about this machine's npm
 * configuration, and Dawn's notes on the limits it lowers. Anything else on stderr fails.
 */
const MACHINE_NOISE = /^(npm warn Unknown (env|project) config|Warning: maxDynamic\w+ artificially reduced)/;

function sh(dir: string, command: string) {
  const r = spawnSync('sh', ['-c', command], { cwd: dir, encoding: 'utf8', timeout: 120_000 });
  const err = r.stderr
    .split('\n')
    .filter((l) => l && !MACHINE_NOISE.test(l))
    .join('\n');
  return { code: r.status, out: r.stdout, err };
}

/** Type-checks `file` of `dir` under INIT_OPTIONS, transpiles it beside itself and runs it with Node. */
function runApp(dir: string, file: string) {
  const js = ts.transpileModule(readFileSync(join(dir, file), 'utf8'), { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } });
  const out = file.replace(/\.ts$/, '.js');
  writeFileSync(join(dir, out), js.outputText);
  return sh(dir, `node ${out}`);
}

describe.skipIf(status.skip)(status.title('the host module in a fresh project with mdc installed'), () => {
  let root = '';
  let app = '';
  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'mdc-app-'));
    const stage = join(root, 'stage');
    app = join(root, 'app');
    mkdirSync(stage);
    mkdirSync(app);
    project(app, pack(stage));
  }, 300_000);
  afterAll(() => {
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it('compiles to .js, .d.ts and .ts; the README section type-checks as tsc --init sets up a project, and runs', () => {
    const readme = readFileSync('README.md', 'utf8');
    const section = /## Use your compiled model\n([\s\S]*?)\n## /.exec(readme)![1]!;
    const blocks = [...section.matchAll(/```(sh|ts)\n([\s\S]*?)```/g)].map((m) => ({ lang: m[1]!, code: m[2]! }));
    expect(blocks.map((b) => b.lang)).toEqual(['sh', 'ts']);
    expect(section.trim().split('\n').length).toBeLessThanOrEqual(20);
    for (const line of blocks[0]!.code.trim().split('\n')) {
      const r = sh(app, line);
      expect(r.err).toBe('');
      expect(r.code).toBe(0);
    }
    for (const f of ['Mlp.js', 'Mlp.d.ts', 'Mlp.ts', 'Mlp.plan.json']) expect(existsSync(join(app, 'model', f))).toBe(true);
    writeFileSync(join(app, 'app.ts'), blocks[1]!.code);
    expect(typecheck(app, ['app.ts'])).toEqual([]);
    const r = runApp(app, 'app.ts');
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    // `[ 8, 10 ] Float32Array(10) [ ... ]`: the first row of a softmax sums to 1.
    const [, shape, row] = /^(\[ 8, 10 \]) Float32Array\(10\) \[([^\]]*)\]/.exec(r.out) ?? [];
    expect(shape).toBe('[ 8, 10 ]');
    const probs = row!.split(',').map(Number);
    expect(probs).toHaveLength(10);
    expect(Math.abs(probs.reduce((a, b) => a + b, 0) - 1)).toBeLessThan(1e-5);
  }, 300_000);

  it("resolves WebGPU's types through mdc itself: misuse is a type error in the .d.ts's terms, also without the .ts", () => {
    mkdirSync(join(app, 'only-js'));
    for (const f of ['Mlp.js', 'Mlp.d.ts']) cpSync(join(app, 'model', f), join(app, 'only-js', f));
    const use = (from: string) =>
      [
        "import { nodeDevice } from 'mdc/runtime/node';",
        `import Mlp, { type MlpOutputs } from './${from}/Mlp.js';`,
        'export async function go() {',
        '  const { device } = await nodeDevice();',
        '  const limits: GPUSupportedLimits = device.limits;',
        '  // @ts-expect-error a device is a GPUDevice, not a string',
        "  await Mlp.load('gpu');",
        '  const m = await Mlp.load(device, { checkpoint: new Uint8Array(8), weightsMap: "gpt2" });',
        '  const out: MlpOutputs = await m.run({ x: new Float32Array(512) });',
        '  const s: readonly [8, 10] = out.probs.shape;',
        '  // @ts-expect-error the input is named x',
        '  await m.run({ y: new Float32Array(512) });',
        '  return [limits, s];',
        '}',
      ].join('\n');
    writeFileSync(join(app, 'use-ts.ts'), use('model'));
    writeFileSync(join(app, 'use-dts.ts'), use('only-js'));
    expect(typecheck(app, ['use-ts.ts', 'use-dts.ts'])).toEqual([]);
    // The declarations are checked too, as a project without skipLibCheck would.
    expect(typecheck(app, ['use-dts.ts'], { skipLibCheck: false }).filter((d) => d.startsWith('only-js/'))).toEqual([]);
  });

  it('loads an mdc checkpoint through the installed package and matches the CPU reference; refuses a wrong one', () => {
    const source = readFileSync('samples/mlp.model', 'utf8');
    const graph = lower(source, 'mlp.model', { preset: 'tiny' }).graph!;
    // Parameters that are not the seed's: a checkpoint that was not used would show.
    const params = new Map<string, Float32Array>();
    const shapes = new Map(graph.values.filter((v) => v.kind === 'param').map((v) => [v.name!, v.type.dims.map((d) => dimValue(d)!)]));
    for (const [name, shape] of shapes) {
      const n = shape.reduce((a, d) => a * d, 1);
      params.set(
        name,
        Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37 + name.length) * 0.1),
      );
    }
    const x = Float32Array.from({ length: 8 * 64 }, (_, i) => Math.cos(i * 0.11));
    const tensors = Object.fromEntries([...params].map(([name, data]) => [name, { dtype: 'F32' as const, shape: shapes.get(name)!, data }]));
    writeFileSync(join(app, 'good.safetensors'), encodeCheckpoint(tensors, {}));
    const { b2: _dropped, ...missing } = tensors;
    writeFileSync(join(app, 'bad.safetensors'), encodeCheckpoint({ ...missing, w3: tensors['b1']! }, {}));
    writeFileSync(join(app, 'x.json'), JSON.stringify([...x]));
    writeFileSync(
      join(app, 'ckpt.ts'),
      [
        "import { readFile } from 'node:fs/promises';",
        "import { nodeDevice } from 'mdc/runtime/node';",
        "import Mlp from './model/Mlp.js';",
        'const { device } = await nodeDevice();',
        "const x = Float32Array.from(JSON.parse(await readFile('x.json', 'utf8')) as number[]);",
        "const mlp = await Mlp.load(device, { checkpoint: await readFile('good.safetensors') });",
        'const out = await mlp.run({ x });',
        'console.log(JSON.stringify([...out.probs.data]));',
        "await Mlp.load(device, { checkpoint: await readFile('bad.safetensors'), checkpointName: 'bad.safetensors' }).catch((e: Error) => console.log(JSON.stringify(e.message)));",
        'mlp.destroy();',
      ].join('\n'),
    );
    expect(typecheck(app, ['ckpt.ts'], { types: ['node'] })).toEqual([]);
    const r = runApp(app, 'ckpt.ts');
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const [probs, refusal] = r.out.trim().split('\n');
    const want = interpret(graph, { x }, (name) => params.get(name)!)['probs']!.data;
    const got = JSON.parse(probs!) as number[];
    // f32 kernels against the float64 reference over a 64-term and a 32-term dot product and a softmax: 1e-6 is ~10 ulps at 1.
    expect(got).toHaveLength(want.length);
    expect(Math.max(...got.map((g, i) => Math.abs(g - want[i]!)))).toBeLessThan(1e-6);
    expect(JSON.parse(refusal!)).toBe(
      [
        'bad.safetensors: cannot load into Mlp: 2 problems:',
        "  tensor 'w3' (F32[32]) matches no entry of the map 'Mlp's parameter names'; did you mean 'w1'?",
        "  parameter 'b2' (f32[10]) of Mlp is missing: the map reads it from 'b2', which the file does not have",
      ].join('\n'),
    );
  }, 300_000);
});
