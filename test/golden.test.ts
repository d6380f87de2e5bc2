/**
 * Golden cases: test/cases/<name>/input.model beside its expected outputs. A case with
 * `expect-diagnostics.txt` must fail with exactly those diagnostics; any other case is
 * compiled and its kernels, plan and host module compared file by file.
 * Refresh with UPDATE_SNAPSHOTS=1 and review the diff.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { emitHost } from '../codegen/host.js';
import { planOf } from '../driver/compile.js';
import { lower } from '../compiler/compile.js';
import { formatDiagnostic } from '../diagnostics/format.js';

const ROOT = 'test/cases';
const update = process.env['UPDATE_SNAPSHOTS'] === '1';

function outputs(name: string, source: string): Record<string, string> {
  const r = lower(source, 'input.model', { preset: source.includes('preset tiny') ? 'tiny' : undefined });
  if (!r.graph) return { 'expect-diagnostics.txt': r.diagnostics.map((d) => formatDiagnostic(d, source)).join('\n') + '\n' };
  const plan = planOf(r.graph, { seed: 0, source: 'input.model' });
  const host = emitHost(plan, `${plan.model}.plan.json`);
  const files: Record<string, string> = {
    [`${plan.model}.plan.json`]: JSON.stringify({ ...plan, kernels: plan.kernels.map((k) => ({ ...k, wgsl: `<${k.file}>` })) }, null, 1) + '\n',
    [`${plan.model}.ts`]: host.ts,
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

describe('golden cases', () => {
  for (const name of readdirSync(ROOT).sort()) {
    it(name, () => {
      const dir = join(ROOT, name);
      const actual = outputs(name, readFileSync(join(dir, 'input.model'), 'utf8'));
      if (update || !existsSync(join(dir, Object.keys(actual)[0]!))) {
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
