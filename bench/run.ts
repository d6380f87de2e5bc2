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
import { benchArgs } from './args.js';

const args = benchArgs({
  command: 'bench',
  about:
    'The front-end benchmark (mdc check on the gpt2 sample in process and as a CLI process, parsing and checking a generated 10,000-line model, ' +
    "TypeScript's parser on a file of the same length as the peer), then, unless --frontend, bench:sharding, bench:memory, bench:train and " +
    'bench:kernels in this process, each given --quick when this run has it. Needs npm run build first.',
  writes: 'bench/results/frontend.md and frontend.json, then what each of the others writes.',
  flags: {
    quick: { type: 'boolean', help: 'short runs of every benchmark (the CI smoke run); nothing written' },
    baseline: { type: 'string', value: 'DIR', help: 'a built checkout of an earlier commit whose CLI is timed in the same run' },
    frontend: { type: 'boolean', help: 'the front-end benchmark only (npm run bench:frontend)' },
  },
});
// Measure the shipped build (tsc output in dist/), not the TypeScript sources through tsx's loader.
const { check, lowerModel } = (await import('../dist/compiler/compile.js' as string)) as typeof import('../compiler/compile.js');
const { compile } = (await import('../dist/driver/compile.js' as string)) as typeof import('../driver/compile.js');
const { planOf } = (await import('../dist/driver/stages.js' as string)) as typeof import('../driver/stages.js');
const { parse } = (await import('../dist/grammar/parse.js' as string)) as typeof import('../grammar/parse.js');

const { quick } = args;
/** `--baseline DIR`: a checkout of an earlier commit, built, whose CLI is timed in the same run. */
const { baseline } = args;
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

async function timeAsync(f: () => Promise<unknown>, runs = RUNS): Promise<number> {
  await f(); // warm-up
  const xs: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await f();
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
const add = (kernel: string, c: string, impl: string, median: number, unit = 'ms') =>
  rows.push({ kernel, case: c, impl, median: Number(median.toFixed(3)), unit });

add(
  'check',
  'samples/gpt2.model (in process)',
  'mdc',
  time(() => check(gpt2, 'gpt2.model')),
);
// Lowering GPT-2 small the way the CLI did before the one pipeline (check elaborated every
// model at its concrete dims, then lowering elaborated the chosen one again, unrolled),
// and through the pipeline (each model once symbolically, the chosen one once concretely).
const lowerBefore = () => lowerModel(check(gpt2, 'gpt2.model').env!, 'gpt2.model').graph!;
const lowerAfter = async () => (await compile(gpt2, 'gpt2.model', { until: 'lower' })).forward!;
if (JSON.stringify(lowerBefore()) !== JSON.stringify(await lowerAfter())) throw new Error('the two ways of lowering GPT-2 give different graphs');
const tBefore = time(lowerBefore, quick ? 2 : 9);
const tAfter = await timeAsync(lowerAfter, quick ? 2 : 9);
add('lower', 'samples/gpt2.model: check, then lower (three elaborations, before)', 'mdc', tBefore);
add('lower', 'samples/gpt2.model: compile() until lower (two elaborations)', 'mdc', tAfter);
// The whole pipeline to a plan, which now also plans memory: the plan is the one the
// optimize and codegen stages give the lowered graph directly.
const whole = async () => (await compile(gpt2, 'gpt2.model')).plan!;
if (JSON.stringify(await whole()) !== JSON.stringify(planOf(lowerBefore(), { source: 'gpt2.model' })))
  throw new Error('the pipeline and the stages give different plans');
add('compile', 'samples/gpt2.model to a plan, compile() (with the memory plan)', 'mdc', await timeAsync(whole, quick ? 2 : 5));
const processRuns = quick ? 2 : 9;
const tNode = time(() => execFileSync(process.execPath, ['-e', '0']), processRuns);
add('node start', 'node -e 0 (the peer for the process rows)', 'node', tNode);
const cliTime = (bin: string, ...args: string[]) => time(() => execFileSync(process.execPath, [bin, ...args], { stdio: 'pipe' }), processRuns);
const tCheck = cliTime('bin/mdc.js', 'check', 'samples/gpt2.model');
add('check', 'samples/gpt2.model (mdc process, incl. Node start)', 'mdc', tCheck);
add(
  'compile',
  'samples/gpt2.model -o (mdc process, incl. Node start)',
  'mdc',
  cliTime('bin/mdc.js', 'compile', 'samples/gpt2.model', '-o', 'node_modules/.cache/mdc-bench-out'),
);
if (baseline) {
  add(
    'check',
    `samples/gpt2.model (mdc process, baseline build ${baseline})`,
    'mdc baseline',
    cliTime(`${baseline}/bin/mdc.js`, 'check', 'samples/gpt2.model'),
  );
  add(
    'compile',
    `samples/gpt2.model -o (mdc process, baseline build ${baseline})`,
    'mdc baseline',
    cliTime(`${baseline}/bin/mdc.js`, 'compile', 'samples/gpt2.model', '-o', 'node_modules/.cache/mdc-bench-out-base'),
  );
}
const lineCount = big.split('\n').length;
const tParse = time(() => parse(big, 'big.model'));
const tTs = time(() => ts.createSourceFile('big.ts', bigTs, ts.ScriptTarget.ES2022, true));
add('parse', `generated model, ${lineCount} lines`, 'mdc', tParse);
add('parse', `generated TypeScript, ${bigTs.split('\n').length} lines`, 'typescript', tTs);
add(
  'check',
  `generated model, ${lineCount} lines`,
  'mdc',
  time(() => check(big, 'big.model'), quick ? 2 : 5),
);

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
  `\`mdc check\` as a process costs Node's own start-up plus **${(tCheck - tNode).toFixed(0)} ms** (goal: at most 100 ms).`,
  `Lowering GPT-2 small in process: ${tAfter.toFixed(1)} ms through the pipeline against ${tBefore.toFixed(1)} ms for the earlier check-then-lower path, **${(tBefore / tAfter).toFixed(2)}×** (the graphs are identical).`,
  `Parse throughput: ${Math.round(lineCount / (tParse / 1000)).toLocaleString('en-US')} lines/s.`,
  '',
].join('\n');
if (!quick) {
  mkdirSync('bench/results', { recursive: true });
  writeFileSync('bench/results/frontend.md', md);
  writeFileSync(
    'bench/results/frontend.json',
    JSON.stringify({ rows, parseRatioVsTypeScript: ratio, checkOverNodeMs: tCheck - tNode, lowerSpeedup: tBefore / tAfter }, null, 2) + '\n',
  );
}
console.log(md);

// The other benchmarks share the command (and --quick); `--frontend` runs this one alone.
if (args.frontend) process.exit(0);
// Each of them reads its own flags from process.argv: of this run's, only --quick is theirs too.
process.argv = [...process.argv.slice(0, 2), ...(quick ? ['--quick'] : [])];
await import('./sharding.js');
await import('./memory.js');
await import('./train.js');
// Last: the kernel benchmark ends the process (it holds a WebGPU device).
await import('./kernels.js');
