/**
 * Keeps the folders' dependencies pointing one way (STYLE.md), and prints the line
 * budget per folder so growth stays visible:
 *   diagnostics ← grammar ← compiler ← codegen ← driver (the one compile pipeline);
 *   runtime imports nothing of the compiler; cli (and later lsp, plugin) are adapters
 *   over the driver; layout (mesh and layout arithmetic) imports nothing, and every
 *   folder past grammar may import it.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve, dirname } from 'node:path';

const ALLOWED: Record<string, string[]> = {
  layout: [],
  diagnostics: [],
  grammar: ['diagnostics'],
  compiler: ['diagnostics', 'grammar', 'layout'],
  runtime: ['layout'],
  codegen: ['diagnostics', 'compiler', 'runtime', 'layout'],
  driver: ['diagnostics', 'grammar', 'compiler', 'codegen', 'runtime', 'layout'],
  cli: ['diagnostics', 'grammar', 'compiler', 'codegen', 'runtime', 'driver', 'layout', 'lsp'],
  lsp: ['diagnostics', 'grammar', 'compiler', 'layout', 'driver'],
  bundler: ['diagnostics', 'grammar', 'compiler', 'codegen', 'runtime', 'driver', 'layout'],
  // The VS Code extension runs mdc as a process (the server, `mdc plan`): it imports none of it.
  editors: [],
  playground: ['diagnostics', 'grammar', 'compiler', 'codegen', 'runtime', 'driver', 'layout', 'lsp', 'samples'],
};

/**
 * Passes inside a folder that must stay low in the pipeline: each may import only what
 * is listed (files or folders, relative to the root) besides its own folder.
 */
const INNER: Record<string, string[]> = {
  'compiler/fusion': ['compiler/ir.ts', 'compiler/ops', 'compiler/types.ts', 'compiler/dims.ts', 'diagnostics', 'layout'],
  'compiler/memory': ['compiler/ir.ts', 'compiler/types.ts', 'compiler/dims.ts', 'diagnostics', 'layout'],
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
    if (![folder, ...allowed].some((a) => target === a || target.startsWith(a + '/')))
      problems.push(`${f}: imports ${spec} (${folder} may depend only on ${allowed.join(', ')})`);
  });
}
// No cycles between compiler/'s folders (sharding → train → sharding was one): each
// folder's imports of another compiler/ folder form a graph that must be acyclic.
const compilerEdges = new Map<string, Set<string>>();
/** A file's folder inside compiler/ (`compiler/sharding`), or undefined for compiler/'s own files (ir.ts, types.ts: leaves). */
const compilerFolder = (path: string) => {
  const parts = path.split('/');
  return parts[0] === 'compiler' && parts.length > 2 ? `compiler/${parts[1]}` : undefined;
};
scan('compiler', (f, _spec, path) => {
  const from = compilerFolder(relative(root, f));
  const to = compilerFolder(path);
  if (from && to && from !== to) (compilerEdges.get(from) ?? compilerEdges.set(from, new Set()).get(from)!).add(to);
});
budget.pop(); // the second scan of compiler/ is not a folder of its own
{
  const state = new Map<string, 'busy' | 'done'>();
  const stack: string[] = [];
  const visit = (n: string) => {
    state.set(n, 'busy');
    stack.push(n);
    for (const m of compilerEdges.get(n) ?? []) {
      if (state.get(m) === 'busy') problems.push(`folder cycle inside compiler/: ${[...stack.slice(stack.indexOf(m)), m].join(' → ')}`);
      else if (!state.has(m)) visit(m);
    }
    stack.pop();
    state.set(n, 'done');
  };
  for (const n of [...compilerEdges.keys()].sort()) if (!state.has(n)) visit(n);
}

// Small files and readable lines (STYLE.md: no 5,000-line checker).
const MAX_LINES = 850;
const MAX_WIDTH = 200;
for (const folder of [...Object.keys(ALLOWED), 'scripts']) {
  for (const f of files(folder)) {
    const lines = readFileSync(f, 'utf8').split('\n');
    if (lines.length > MAX_LINES) problems.push(`${f}: ${lines.length} lines (at most ${MAX_LINES}: split it by concern)`);
    lines.forEach((l, i) => {
      if (l.length > MAX_WIDTH) problems.push(`${f}:${i + 1}: ${l.length} characters (at most ${MAX_WIDTH})`);
    });
  }
}

console.log('line budget:');
for (const [f, n, l] of budget) console.log(`  ${f.padEnd(16)} ${String(n).padStart(3)} files ${String(l).padStart(6)} lines`);
if (problems.length) {
  console.error(`dependency rule broken:\n  ${problems.join('\n  ')}`);
  process.exit(1);
}
console.log(`dependencies point one way, no folder cycles inside compiler/, files at most ${MAX_LINES} lines of at most ${MAX_WIDTH} characters: ok`);
