/**
 * Memory-planning benchmark: for every sample, full size and `--preset tiny`, three
 * graphs: the forward pass; the training step compiler/autodiff builds (with the sum of
 * the first output as the loss); and a mirrored backward pass that keeps every
 * activation until its gradient is taken (the longest lifetimes). Per graph: the arena's
 * lower bound (the most 256-byte-aligned bytes live at one step), the planned peak, their
 * ratio, the bytes without reuse (one buffer per value, as plans are built today) and the
 * planning time (median of 5 runs). Parameters are kept out of the arena (their own buffers, updated
 * by the optimizer); inputs and outputs stay whole for the step.
 *
 * The cap is llvmpipe's 128 MiB maxStorageBufferBindingSize where every value fits it;
 * a graph with a larger value (full-size GPT-2's tied head, LLaMA's and Mixtral's output
 * projection gradients) is planned with no cap instead, and says so.
 * Writes bench/results/memory.md and bench/results/memory.json (not in --quick mode).
 * Run: npm run bench:memory [-- --quick]
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { lower } from '../compiler/compile.js';
import type { Graph } from '../compiler/ir.js';
import { MemoryPlanError, planMemory, type MemoryPlan, type MemoryPlanOptions } from '../compiler/memory/plan.js';
import { withAutodiff, withMirroredBackward } from '../test/support/training-like.js';

const quick = process.argv.includes('--quick');
const SAMPLES = ['mlp', 'gpt2', 'bert-base', 'llama', 'vit-b16', 'mixtral'];
const CAP = 128 * 1024 * 1024;

interface Row {
  sample: string; size: 'full' | 'tiny'; graph: 'forward' | 'autodiff' | 'mirrored backward'; nodes: number; buffers: number;
  cap: number | null; arenas: number; lowerBound: number; peak: number; ratio: number; noReuse: number; planMs: number; heuristic: string;
}
const rows: Row[] = [];

function plan(g: Graph): { plan: MemoryPlan; cap: number | null; ms: number } {
  const base: MemoryPlanOptions = { params: 'external' };
  let cap: number | null = CAP;
  try {
    planMemory(g, { ...base, maxArenaBytes: CAP });
  } catch (e) {
    if (!(e instanceof MemoryPlanError)) throw e;
    cap = null;
  }
  const opts = { ...base, maxArenaBytes: cap ?? Infinity };
  const times: number[] = [];
  let p: MemoryPlan | undefined;
  for (let i = 0; i < (quick ? 1 : 5); i++) {
    const t0 = performance.now();
    p = planMemory(g, opts);
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return { plan: p!, cap, ms: times[times.length >> 1]! };
}

for (const sample of SAMPLES) {
  const text = readFileSync(`samples/${sample}.model`, 'utf8');
  for (const size of ['full', 'tiny'] as const) {
    const opts = size === 'tiny' ? { preset: 'tiny' } : {};
    const fwd = lower(text, sample, opts).graph!;
    const trainFwd = lower(text, sample, { ...opts, training: true }).graph!;
    for (const [graph, g] of [['forward', fwd], ['autodiff', withAutodiff(trainFwd)], ['mirrored backward', withMirroredBackward(trainFwd)]] as const) {
      const r = plan(g);
      rows.push({
        sample, size, graph, nodes: g.nodes.length, buffers: r.plan.buffers.length, cap: r.cap, arenas: r.plan.arenas.length,
        lowerBound: r.plan.lowerBound, peak: r.plan.peakBytes, ratio: r.plan.peakBytes / r.plan.lowerBound, noReuse: r.plan.noReuseBytes,
        planMs: Number(r.ms.toFixed(2)), heuristic: r.plan.heuristic,
      });
    }
  }
}

const mib = (n: number) => (n / 1024 / 1024).toFixed(2);
const worst = rows.reduce((a, b) => (b.ratio > a.ratio ? b : a));
const md = [
  '# Memory planning benchmark',
  '',
  `Machine: ${process.platform} ${process.arch}, Node ${process.version}, ${new Date().toISOString().slice(0, 10)}. ` +
  'Sizes in MiB; planning time is the median of 5 runs (wall clock, lowering excluded).',
  '',
  'Arena: activations, inputs and outputs; parameters in their own buffers. Offsets aligned to 256 bytes. ' +
  'Cap 128 MiB per arena (llvmpipe\'s maxStorageBufferBindingSize) unless a single value exceeds it ("none"). ' +
  '"autodiff" is the training step of compiler/autodiff (loss: the sum of the first output; parameter gradients are outputs, so they stay to the end); ' +
  '"mirrored backward" keeps every forward activation until a backward node reads it (test/support/training-like.ts).',
  '',
  '| sample | size | graph | nodes | buffers | cap | arenas | lower bound | planned peak | peak / bound | no reuse | plan ms | order |',
  '|---|---|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---|',
  ...rows.map((r) => `| ${r.sample} | ${r.size} | ${r.graph} | ${r.nodes} | ${r.buffers} | ${r.cap === null ? 'none' : '128 MiB'} | ${r.arenas} | ` +
    `${mib(r.lowerBound)} | ${mib(r.peak)} | ${r.ratio.toFixed(4)} | ${mib(r.noReuse)} | ${r.planMs} | ${r.heuristic} |`),
  '',
  `Worst ratio: ${worst.ratio.toFixed(4)} (${worst.sample} ${worst.size}, ${worst.graph}); the target is at most 1.1 on every sample.`,
  '',
].join('\n');
if (!quick) {
  mkdirSync('bench/results', { recursive: true });
  writeFileSync('bench/results/memory.md', md);
  writeFileSync('bench/results/memory.json', JSON.stringify({ rows }, null, 2) + '\n');
}
console.log(md);
