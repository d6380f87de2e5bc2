/**
 * Torch export benchmark (issue 17):
 * - export time of `mdc export --target torch` for GPT-3 175B (bench/models/megatron-gpt.model,
 *   preset gpt3: 96 layers, d = 12288, S = 2048) on 1,024 ranks ([dp: 128, tp: 8], B = 128),
 *   its forward pass (the file declares f16 parameters, whose training step mdc refuses,
 *   MDC0512), and of GPT-2 tiny's training step on 8 ranks;
 * - step time of the exported GPT-2 tiny training step (2 micro-batches of 2 × 64 tokens,
 *   AdamW) on 1 rank and on 8 ranks ([dp: 2, tp: 4], Gloo on loopback, the machine's cores
 *   shared by all ranks), against the same model written plainly in PyTorch in one process
 *   (bench/torch/plain_gpt2.py, torch.autograd and torch.optim.AdamW). A sanity check, not a
 *   race: the export runs mdc's graph op by op with no fusion.
 * Writes bench/results/torch.md and bench/results/torch.json.
 * Run: npm run bench:torch
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../cli/main.js';
import { runTorch, TORCH_PYTHON } from '../test/support/torchrun.js';
import { benchArgs } from './args.js';

benchArgs({
  command: 'bench:torch',
  about:
    'mdc export --target torch: export time for GPT-3 175B on 1,024 ranks and for GPT-2 tiny training on 8, and the exported GPT-2 tiny ' +
    'training step timed on 1 and 8 torchrun ranks against the same model written plainly in PyTorch.',
  writes: 'bench/results/torch.md and torch.json.',
  flags: {},
});

interface Row {
  case: string;
  impl: string;
  median: number;
  unit: string;
  note?: string;
}
const rows: Row[] = [];
const work = mkdtempSync(join(tmpdir(), 'mdc-bench-torch-'));
const quiet = { out: () => {}, err: (s: string) => process.stderr.write(`${s}\n`) };
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function exportTime(name: string, args: string[], runs: number, note: string) {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    const code = await main(['export', ...args, '--target', 'torch', '-o', join(work, `${name}-${i}`)], quiet);
    if (code !== 0) throw new Error(`mdc export ${args.join(' ')} failed (${code})`);
    times.push((performance.now() - t0) / 1000);
  }
  rows.push({ case: name, impl: 'mdc export --target torch', median: Number(median(times).toFixed(3)), unit: 's', note: `${runs} runs; ${note}` });
}

/** Median step time (after the first step) of an exported package, from rank 0's step lines. */
async function stepTime(name: string, mesh: string, ranks: number, steps: number) {
  const dir = join(work, `gpt2-${ranks}`);
  if ((await main(['export', 'samples/gpt2.model', '--preset', 'tiny', '--target', 'torch', '--mesh', mesh, '-o', dir], quiet)) !== 0)
    throw new Error('export failed');
  const run = await runTorch({ dir, args: ['--steps', String(steps)], nproc: ranks, timeoutMs: 600_000 });
  if (run.code !== 0) throw new Error(`${name}: torchrun failed\n${run.stderr}`);
  const times = [...run.ranks[0]!.out.matchAll(/step \d+: .*\(([\d.]+) s\)/g)].map((m) => Number(m[1]));
  if (times.length !== steps) throw new Error(`${name}: ${times.length} step lines, expected ${steps}`);
  rows.push({
    case: name,
    impl: `exported plan, ${ranks} rank${ranks > 1 ? 's' : ''}`,
    median: Number(median(times.slice(1)).toFixed(3)),
    unit: 's/step',
    note: `[${mesh}], ${steps - 1} steps`,
  });
}

await exportTime(
  'GPT-3 175B forward, 1,024 ranks [dp: 128, tp: 8]',
  ['bench/models/megatron-gpt.model', '--preset', 'gpt3', '--mesh', 'dp=128,tp=8', '--dim', 'B=128', '--forward'],
  3,
  'compile to the partition, main.py written',
);
await exportTime(
  'GPT-2 tiny training step, 8 ranks [dp: 2, tp: 4]',
  ['samples/gpt2.model', '--preset', 'tiny', '--mesh', 'dp=2,tp=4'],
  3,
  'forward pass and training step',
);

const STEPS = 6;
await stepTime('GPT-2 tiny training step (4 × 64 tokens)', 'dp=1,tp=1', 1, STEPS);
await stepTime('GPT-2 tiny training step (4 × 64 tokens)', 'dp=2,tp=4', 8, STEPS);
const plain = spawnSync(TORCH_PYTHON, ['bench/torch/plain_gpt2.py', '--steps', String(STEPS)], {
  encoding: 'utf8',
  env: { ...process.env, OMP_NUM_THREADS: '1', PYTHONDONTWRITEBYTECODE: '1' },
});
if (plain.status !== 0) throw new Error(`plain_gpt2.py failed\n${plain.stderr}`);
const p = JSON.parse(plain.stdout.trim()) as { median_s: number };
rows.push({
  case: 'GPT-2 tiny training step (4 × 64 tokens)',
  impl: 'plain PyTorch, 1 process',
  median: Number(p.median_s.toFixed(3)),
  unit: 's/step',
  note: `bench/torch/plain_gpt2.py, autograd + AdamW, ${STEPS - 1} steps, 1 thread as torchrun's ranks`,
});

const torchVersion = spawnSync(TORCH_PYTHON, ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8' }).stdout.trim();
const md = [
  '# Torch export benchmark',
  '',
  `Machine: ${process.platform} ${process.arch}, ${cpus().length} cores, Node ${process.version}, PyTorch ${torchVersion} (Gloo, CPU), ${new Date().toISOString().slice(0, 10)}.`,
  'Times are wall clock; step times are medians over the steps after the first, as rank 0 and the plain script measure them.',
  '',
  '| case | impl | median | unit | note |',
  '|---|---|---:|---|---|',
  ...rows.map((r) => `| ${r.case} | ${r.impl} | ${r.median} | ${r.unit} | ${r.note ?? ''} |`),
  '',
  "The exported step runs mdc's training graph op by op (unfused element-wise ops, the global",
  'gradient norm, the optimizer as separate ops); the plain model uses fused torch layers and',
  "torch.optim. On 8 ranks the machine's few cores are shared by all ranks and the collectives",
  'go through Gloo on loopback, so the 8-rank time measures overhead, not scaling.',
  '',
].join('\n');
mkdirSync('bench/results', { recursive: true });
writeFileSync('bench/results/torch.md', md);
writeFileSync('bench/results/torch.json', JSON.stringify({ rows }, null, 2) + '\n');
console.log(md);
