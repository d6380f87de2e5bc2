/**
 * Golden cases: test/cases/<name>/input.model beside what it must give. Two kinds:
 *
 * - Diagnostics cases, a folder with `expected.txt` (and optionally `options.json`): the
 *   first line of every formatted diagnostic, `input.model:L:C: error MDCxxxx: message`,
 *   one per line, all of them, in order. `options.json` may say which stage runs:
 *   `{ "via": "check" }` (the default, `mdc check`), `"lower"` (errors that only exist at
 *   concrete dims, repeats unrolled) or `"train"` (the train section read and the training
 *   step built: driver/compile.ts with `train: true`), `"export-onnx"` (the lowered graph
 *   exported to ONNX: ops with no ONNX form); any other key is a front-end option
 *   (`preset`, `overrides`, `mesh`, `model`, `dims`).
 * - Compile cases, any other folder: compiled, and its kernels, plan and host module
 *   compared file by file; one that fails to compile is compared with
 *   `expect-diagnostics.txt` (the full formatted diagnostics, source excerpts included).
 *
 * A new diagnostics case: `input.model` and an empty `expected.txt` (or an `options.json`);
 * a folder with `input.model` alone is a compile case. Refresh with UPDATE_SNAPSHOTS=1
 * and review the diff; expected lines are read and judged, not pasted. Under CI
 * expectations are only compared: UPDATE_SNAPSHOTS is refused and a missing expected file
 * is a failure, not a write.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { emitHost } from '../codegen/host.js';
import { compile } from '../driver/compile.js';
import { compileInference } from '../driver/infer.js';
import { planOf } from '../driver/stages.js';
import { check, lower, type FrontendOptions } from '../compiler/compile.js';
import type { Diagnostic } from '../diagnostics/messages.js';
import { meshOfEnv } from '../compiler/sharding/mesh.js';
import { formatDiagnostic } from '../diagnostics/format.js';
import { exportOnnx } from '../compiler/onnx/export.js';
import { UNDER_CI } from './support/ci.js';

const ROOT = 'test/cases';
const update = process.env['UPDATE_SNAPSHOTS'] === '1';
// Rewriting and then comparing with the rewritten file cannot fail: never under CI.
if (update && UNDER_CI) throw new Error('UPDATE_SNAPSHOTS=1 is refused under CI: a rewritten expectation compares equal to itself');

const missingUnderCi = (name: string, file: string) =>
  new Error(`${name}: no ${file}; under CI it is not written (run locally with UPDATE_SNAPSHOTS=1, review and commit it)`);

function outputs(name: string, source: string): Record<string, string> {
  const r = lower(source, 'input.model', { preset: source.includes('preset tiny') ? 'tiny' : undefined });
  if (!r.graph) return { 'expect-diagnostics.txt': r.diagnostics.map((d) => formatDiagnostic(d, source)).join('\n') + '\n' };
  const plan = planOf(r.graph, { seed: 0, source: 'input.model' });
  const host = emitHost(plan, `${plan.model}.plan.json`);
  const files: Record<string, string> = {
    [`${plan.model}.plan.json`]: JSON.stringify({ ...plan, kernels: plan.kernels.map((k) => ({ ...k, wgsl: `<${k.file}>` })) }, null, 1) + '\n',
    // The inlined plan is the plan file above; the host module's golden shows the code around it.
    [`${plan.model}.ts`]: host.ts.replace(/JSON\.parse\(".*"\)/, 'JSON.parse("<plan>")'),
    [`${plan.model}.d.ts`]: host.dts,
  };
  for (const k of plan.kernels) files[`kernels/${k.file}`] = k.wgsl;
  void name;
  return files;
}

function readExpected(dir: string, prefix = ''): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of readdirSync(join(dir, prefix), { withFileTypes: true })) {
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    if (e.isDirectory()) Object.assign(out, readExpected(dir, rel));
    else if (rel !== 'input.model') out[rel] = readFileSync(join(dir, rel), 'utf8');
  }
  return out;
}

/** A folder holding `expected.txt` or `options.json` is a diagnostics case. */
const isDiagnosticsCase = (dir: string) => existsSync(join(dir, 'expected.txt')) || existsSync(join(dir, 'options.json'));

interface CaseOptions extends FrontendOptions {
  readonly via?: 'check' | 'lower' | 'train' | 'partition' | 'export-onnx' | 'infer';
}
const OPTION_KEYS = ['via', 'preset', 'overrides', 'mesh', 'model', 'dims'];

function caseOptions(name: string, dir: string): CaseOptions {
  const file = join(dir, 'options.json');
  if (!existsSync(file)) return {};
  const opts = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  const unknown = Object.keys(opts).filter((k) => !OPTION_KEYS.includes(k));
  if (unknown.length) throw new Error(`${name}/options.json: unknown key(s) ${unknown.join(', ')}: expected ${OPTION_KEYS.join(', ')}`);
  if (opts['via'] !== undefined && !['check', 'lower', 'train', 'partition', 'export-onnx', 'infer'].includes(opts['via'] as string)) {
    throw new Error(`${name}/options.json: via must be "check", "lower", "train", "partition", "export-onnx" or "infer", got ${JSON.stringify(opts['via'])}`);
  }
  return opts as CaseOptions;
}

/** The first line of each diagnostic, one per line (no diagnostics: empty text). */
async function diagnosticLines(source: string, opts: CaseOptions): Promise<string> {
  const { via = 'check', ...frontend } = opts;
  const file = 'input.model';
  // `partition`: partitioned over the file's meshes (their axes together), as mdc plan does.
  // `infer`: the prefill and decode plans of its infer section (driver/infer.ts).
  const ds: readonly Diagnostic[] =
    via === 'infer'
      ? (await compileInference(source, file, frontend)).diagnostics
      : via === 'partition'
        ? (await compile(source, file, { ...frontend, partition: meshOfEnv(check(source, file, frontend).env!), until: 'partition' })).diagnostics
        : via === 'train'
          ? (await compile(source, file, { ...frontend, train: true, until: 'train' })).diagnostics
          : via === 'export-onnx'
            ? exportOnnx(lower(source, file, frontend).graph!, new Map(), { file }).diagnostics
            : via === 'lower'
              ? lower(source, file, frontend).diagnostics
              : check(source, file, frontend).diagnostics;
  return ds.map((d) => `${formatDiagnostic(d, source).split('\n')[0]!}\n`).join('');
}

const names = readdirSync(ROOT).sort();

describe('golden cases', () => {
  for (const name of names.filter((n) => !isDiagnosticsCase(join(ROOT, n)))) {
    it(name, () => {
      const dir = join(ROOT, name);
      const actual = outputs(name, readFileSync(join(dir, 'input.model'), 'utf8'));
      if (update || !existsSync(join(dir, Object.keys(actual)[0]!))) {
        if (UNDER_CI) throw missingUnderCi(name, Object.keys(actual)[0]!);
        for (const e of readdirSync(dir)) if (e !== 'input.model') rmSync(join(dir, e), { recursive: true, force: true });
        for (const [rel, text] of Object.entries(actual)) {
          mkdirSync(join(dir, rel, '..'), { recursive: true });
          writeFileSync(join(dir, rel), text);
        }
        if (!update) throw new Error(`${name}: no expected outputs yet; wrote them — review and commit them`);
      }
      expect(actual).toEqual(readExpected(dir));
    });
  }
});

describe('diagnostics cases', () => {
  for (const name of names.filter((n) => isDiagnosticsCase(join(ROOT, n)))) {
    it(name, async () => {
      const dir = join(ROOT, name);
      const actual = await diagnosticLines(readFileSync(join(dir, 'input.model'), 'utf8'), caseOptions(name, dir));
      const file = join(dir, 'expected.txt');
      if (update || !existsSync(file)) {
        if (UNDER_CI) throw missingUnderCi(name, 'expected.txt');
        writeFileSync(file, actual);
        if (!update) throw new Error(`${name}: no expected.txt yet; wrote it — review and commit it`);
      }
      expect(actual).toBe(readFileSync(file, 'utf8'));
    });
  }
});
