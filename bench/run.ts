/**
 * Front-end benchmark: `mdc check samples/gpt2.model` (in process and as a CLI process)
 * and parsing / checking a generated 10,000-line model. The peer is TypeScript's own
 * parser on a generated TypeScript file of the same line count, measured in the same
 * run, so the ratio survives a noisy shared machine.
 * Writes bench/results/frontend.md and bench/results/frontend.json. Needs `npm run build` first
 * (npm ci does it).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import ts from 'typescript';
// Measure the shipped build (tsc output in dist/), not the TypeScript sources through tsx's loader.
const { check } = (await import('../dist/compiler/compile.js' as string)) as typeof import('../compiler/compile.js');
const { parse } = (await import('../dist/grammar/parse.js' as string)) as typeof import('../grammar/parse.js');

const quick = process.argv.includes('--quick');
const RUNS = quick ? 3 : 15;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}
function time(f: () => void, runs = RUNS): number {
  f(); // warm-up
  const xs: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    f();
    xs.push(performance.now() - t0);
  }
  return median(xs);
}

export function generateModel(lines: number): string {
  const out: string[] = ['config Big {', '  d = 64', '  h = 256', '}', ''];
  let i = 0;
  while (out.length < lines - 12) {
    out.push(
      `/// Block number ${i}.`,
      `block B${i}(x: f32[N, d]) -> f32[N, d] {`,
      `  param w${i}: f32[d, h] = normal(0, 0.02)`,
      `  param b${i}: f32[h] = zeros()`,
      `  param v${i}: f32[h, d] = normal(0, 0.02)`,
      `  let y = gelu(x @ w${i} + b${i}, approximate = "tanh")`,
      `  let z = layer_norm(y @ v${i} + x)  // residual`,
      `  return z * 0.5 + x`,
      '}',
      '',
    );
    i++;
  }
  out.push('model M(x: f32[N, d]) -> f32[N, d] where N = 8 {', '  let y = B0(x)', '  return y', '}');
  return out.join('\n') + '\n';
}

function generateTs(lines: number): string {
  const out: string[] = [];
  let i = 0;
  while (out.length < lines) {
    out.push(
      `/** Function number ${i}. */`,
      `export function f${i}(x: number[], w: number[][]): number[] {`,
      `  const y = x.map((v, j) => v * w[j]![0]! + ${i});`,
      `  const z = y.filter((v) => v > 0.5).map((v) => Math.tanh(v));`,
      `  // residual`,
      `  return z.length ? z : x;`,
      '}',
      '',
    );
    i++;
  }
  return out.join('\n');
}

const gpt2 = readFileSync('samples/gpt2.model', 'utf8');
const big = generateModel(10_000);
const bigTs = generateTs(big.split('\n').length);
const rows: { kernel: string; case: string; impl: string; median: number; unit: string }[] = [];
const add = (kernel: string, c: string, impl: string, median: number, unit = 'ms') => rows.push({ kernel, case: c, impl, median: Number(median.toFixed(3)), unit });

add('check', 'samples/gpt2.model (in process)', 'mdc', time(() => check(gpt2, 'gpt2.model')));
const cli = () => execFileSync(process.execPath, ['bin/mdc.js', 'check', 'samples/gpt2.model'], { stdio: 'pipe' });
add('check', 'samples/gpt2.model (mdc process, incl. Node start)', 'mdc', time(cli, quick ? 2 : 5));
add('node start', 'node -e 0 (baseline for the row above)', 'node', time(() => execFileSync(process.execPath, ['-e', '0']), quick ? 2 : 5));
const lineCount = big.split('\n').length;
const tParse = time(() => parse(big, 'big.model'));
const tTs = time(() => ts.createSourceFile('big.ts', bigTs, ts.ScriptTarget.ES2022, true));
add('parse', `generated model, ${lineCount} lines`, 'mdc', tParse);
add('parse', `generated TypeScript, ${bigTs.split('\n').length} lines`, 'typescript', tTs);
add('check', `generated model, ${lineCount} lines`, 'mdc', time(() => check(big, 'big.model'), quick ? 2 : 5));

const ratio = tParse / tTs;
const md = [
  '# Front-end benchmark',
  '',
  `Machine: ${process.platform} ${process.arch}, Node ${process.version}, ${new Date().toISOString().slice(0, 10)}. Medians of ${RUNS} runs after a warm-up${quick ? ' (quick smoke run)' : ''}.`,
  '',
  '| kernel | case | impl | median | unit |',
  '|---|---|---|---:|---|',
  ...rows.map((r) => `| ${r.kernel} | ${r.case} | ${r.impl} | ${r.median} | ${r.unit} |`),
  '',
  `Parse time of mdc relative to TypeScript's parser on the same line count: **${ratio.toFixed(2)}×** (lower is faster).`,
  `Parse throughput: ${Math.round(lineCount / (tParse / 1000)).toLocaleString('en-US')} lines/s.`,
  '',
].join('\n');
if (!quick) {
  mkdirSync('bench/results', { recursive: true });
  writeFileSync('bench/results/frontend.md', md);
  writeFileSync('bench/results/frontend.json', JSON.stringify({ rows, parseRatioVsTypeScript: ratio }, null, 2) + '\n');
}
console.log(md);

// The sharding benchmark shares the command (and --quick).
await import('./sharding.js');
await import('./memory.js');
await import('./train.js');
// Last: the kernel benchmark ends the process (it holds a WebGPU device).
await import('./kernels.js');
