import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MANIFEST } from '../../cli/output.js';
import { mdc } from '../support/cli.js';

const root = mkdtempSync(join(tmpdir(), 'mdc-output-'));
let n = 0;
const fresh = () => join(root, `o${n++}`);

/** Every file under `dir` (relative path → sha256), so "nothing changed" is one comparison. */
function hashTree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out[relative(dir, p)] = createHash('sha256').update(readFileSync(p)).digest('hex');
    }
  };
  walk(dir);
  return out;
}

const compile = (out: string, ...flags: string[]) => mdc('compile', 'samples/gpt2.model', '-o', out, ...flags);

describe('mdc compile -o: the output folder', () => {
  it('never touches a file mdc did not write, in the folder or in its kernels/, and records what it wrote', async () => {
    const out = fresh();
    mkdirSync(join(out, 'kernels'), { recursive: true });
    writeFileSync(join(out, 'notes.txt'), 'mine\n');
    writeFileSync(join(out, 'kernels', 'k999_mine.wgsl'), '// my kernel\n');
    writeFileSync(join(out, 'kernels', 'README'), 'hand-written\n');
    const mine = hashTree(out);
    const r = await compile(out, '--preset', 'tiny');
    expect(r.code, r.err).toBe(0);
    const after = hashTree(out);
    for (const [file, h] of Object.entries(mine)) expect(after[file], file).toBe(h);
    const manifest = JSON.parse(readFileSync(join(out, MANIFEST), 'utf8'));
    const listed = Object.keys(manifest.models.GPT2).sort();
    expect(listed).toEqual(
      Object.keys(after)
        .filter((f) => !(f in mine) && f !== MANIFEST)
        .sort(),
    );
    for (const f of listed) expect(manifest.models.GPT2[f], f).toBe(after[f]);
  });

  it('refuses, before writing anything, when a file of the same name is not one mdc wrote', async () => {
    const out = fresh();
    mkdirSync(out);
    writeFileSync(join(out, 'GPT2.ts'), '// my own GPT2.ts\n');
    const before = hashTree(out);
    const r = await compile(out, '--preset', 'tiny');
    expect(r.code).toBe(2);
    expect(r.err.split('\n')[0]).toBe(
      `mdc: '${out}' has files mdc did not write (or that were edited since): GPT2.ts; mdc does not overwrite them — move them or choose another -o folder`,
    );
    expect(hashTree(out)).toEqual(before);
  });

  it('refuses to overwrite an output the user edited, and replaces an unedited one', async () => {
    const out = fresh();
    expect((await compile(out, '--preset', 'tiny')).code).toBe(0);
    const plan = join(out, 'GPT2.plan.json');
    writeFileSync(plan, readFileSync(plan, 'utf8').replace('"GPT2"', '"Edited"'));
    const before = hashTree(out);
    const r = await compile(out);
    expect(r.code).toBe(2);
    expect(r.err.split('\n')[0]).toContain('GPT2.plan.json (changed since mdc wrote it)');
    expect(hashTree(out)).toEqual(before);
  });

  it("removes the stale kernels of the model's earlier compile, keeps an edited one with a warning", async () => {
    const out = fresh();
    expect((await compile(out, '--preset', 'tiny')).code).toBe(0);
    const tiny = new Set(readdirSync(join(out, 'kernels')));
    const r1 = await compile(out, '--preset', 'tiny', '--no-fuse');
    expect(r1.code, r1.err).toBe(0);
    const unfused = new Set(readdirSync(join(out, 'kernels')));
    const stale = [...tiny].filter((k) => !unfused.has(k));
    expect(stale.length).toBeGreaterThan(0);
    // Every kernel of the fused compile that the unfused one does not produce is gone.
    const manifest = JSON.parse(readFileSync(join(out, MANIFEST), 'utf8'));
    expect(Object.keys(manifest.models.GPT2).filter((f) => f.startsWith('kernels/')).length).toBe(unfused.size);
    // Now edit one kernel that the next (fused) compile will not produce.
    const unfusedOnly = [...unfused].filter((k) => !tiny.has(k));
    const edited = join(out, 'kernels', unfusedOnly[0]!);
    writeFileSync(edited, '// edited by hand\n');
    const r2 = await compile(out, '--preset', 'tiny');
    expect(r2.code, r2.err).toBe(0);
    expect(r2.err).toBe(`mdc: warning: kept '${edited}': a kernel of an earlier compile that was edited since mdc wrote it`);
    expect(readFileSync(edited, 'utf8')).toBe('// edited by hand\n');
    expect(new Set(readdirSync(join(out, 'kernels')))).toEqual(new Set([...tiny, unfusedOnly[0]!]));
  });

  it('keeps the files of another model compiled into the same folder', async () => {
    const out = fresh();
    expect((await mdc('compile', 'samples/mlp.model', '-o', out)).code).toBe(0);
    const mlp = hashTree(out);
    expect((await compile(out, '--preset', 'tiny')).code).toBe(0);
    const both = hashTree(out);
    for (const [f, h] of Object.entries(mlp)) if (f !== MANIFEST) expect(both[f], f).toBe(h);
    expect(Object.keys(JSON.parse(readFileSync(join(out, MANIFEST), 'utf8')).models).sort()).toEqual(['GPT2', 'Mlp']);
  });

  it('a new folder appears whole: no staging folder is left beside it', async () => {
    const parent = fresh();
    mkdirSync(parent);
    expect((await compile(join(parent, 'deep', 'out'), '--preset', 'tiny')).code).toBe(0);
    expect(readdirSync(join(parent, 'deep'))).toEqual(['out']);
    expect(readdirSync(join(parent, 'deep', 'out')).some((f) => f.includes('.tmp'))).toBe(false);
  });

  it('refuses an empty, root or non-folder output path', async () => {
    const file = join(fresh() + '.txt');
    writeFileSync(file, 'x');
    for (const [o, msg] of [
      ['', 'mdc: -o needs a folder name, e.g. -o out'],
      ['  ', 'mdc: -o needs a folder name, e.g. -o out'],
      ['/', "mdc: -o '/' is the filesystem's root; give a folder of its own, e.g. -o out"],
      [file, `mdc: -o '${file}' exists and is not a folder`],
    ] as const) {
      const r = await mdc('compile', 'samples/mlp.model', '-o', o);
      expect(r.code, o).toBe(2);
      expect(r.err.split('\n')[0], o).toBe(msg);
    }
    expect(readFileSync(file, 'utf8')).toBe('x');
    expect(existsSync(join(root, 'kernels'))).toBe(false);
    expect(statSync(root).isDirectory()).toBe(true);
  });

  it('refuses a manifest that is not mdc’s instead of trusting it', async () => {
    const out = fresh();
    mkdirSync(out);
    writeFileSync(join(out, MANIFEST), '{"mdc": 1, "models": {"GPT2": {"GPT2.ts": 5}}}');
    const r = await compile(out, '--preset', 'tiny');
    expect(r.code).toBe(2);
    expect(r.err.split('\n')[0]).toBe(
      `mdc: '${join(out, MANIFEST)}' is not mdc's manifest (unexpected contents); move it away or choose another output folder`,
    );
  });
});
