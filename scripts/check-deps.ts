/**
 * Keeps the folders' dependencies pointing one way (STYLE.md), and prints the line
 * budget per folder so growth stays visible:
 *   diagnostics ← grammar ← compiler ← codegen ← driver (the one compile pipeline);
 *   runtime imports nothing of the compiler; cli (and later lsp, plugin) are adapters
 *   over the driver.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve, dirname } from 'node:path';

const ALLOWED: Record<string, string[]> = {
  diagnostics: [],
  grammar: ['diagnostics'],
  compiler: ['diagnostics', 'grammar'],
  runtime: [],
  codegen: ['diagnostics', 'compiler', 'runtime'],
  driver: ['diagnostics', 'grammar', 'compiler', 'codegen', 'runtime'],
  cli: ['diagnostics', 'grammar', 'compiler', 'codegen', 'runtime', 'driver'],
};

/**
 * Passes inside a folder that must stay low in the pipeline: each may import only what
 * is listed (files or folders, relative to the root) besides its own folder.
 */
const INNER: Record<string, string[]> = {
  'compiler/fusion': ['compiler/ir.ts', 'compiler/ops', 'compiler/types.ts', 'compiler/dims.ts', 'diagnostics'],
  'compiler/memory': ['compiler/ir.ts', 'compiler/types.ts', 'compiler/dims.ts', 'diagnostics'],
};

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : [];
  });
}

const root = resolve('.');
const problems: string[] = [];
const budget: [string, number, number][] = [];
/** Calls `check` with each relative import of each file under `folder` (as a root-relative path) and adds the folder to the budget. */
function scan(folder: string, check: (file: string, spec: string, target: string) => void) {
  let lines = 0;
  const list = files(folder);
  for (const f of list) {
    const text = readFileSync(f, 'utf8');
    lines += text.split('\n').length;
    for (const m of text.matchAll(/(?:from\s+|import\s*\(\s*)['"](\.{1,2}\/[^'"]+)['"]/g)) check(f, m[1]!, relative(root, resolve(dirname(f), m[1]!)));
  }
  budget.push([folder, list.length, lines]);
}
for (const folder of Object.keys(ALLOWED)) {
  scan(folder, (f, spec, path) => {
    const target = path.split('/')[0]!;
    if (target !== folder && !ALLOWED[folder]!.includes(target)) problems.push(`${f}: imports ${spec} (${folder} may not depend on ${target})`);
  });
}
for (const [folder, allowed] of Object.entries(INNER)) {
  scan(folder, (f, spec, path) => {
    const target = path.replace(/\.js$/, '.ts');
    if (![folder, ...allowed].some((a) => target === a || target.startsWith(a + '/'))) problems.push(`${f}: imports ${spec} (${folder} may depend only on ${allowed.join(', ')})`);
  });
}
console.log('line budget:');
for (const [f, n, l] of budget) console.log(`  ${f.padEnd(16)} ${String(n).padStart(3)} files ${String(l).padStart(6)} lines`);
if (problems.length) {
  console.error(`dependency rule broken:\n  ${problems.join('\n  ')}`);
  process.exit(1);
}
console.log('dependencies point one way: ok');
