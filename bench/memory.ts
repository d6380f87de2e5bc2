/**
 * Memory-planning benchmark: for every sample, full size and `--preset tiny`, three
 * graphs: the forward pass; the training step compiler/autodiff builds (with the sum of
 * the first output as the loss); and a mirrored backward pass that keeps every
 * activation until its gradient is taken (the longest lifetimes). Per graph: the arena's
 * lower bound (the most 256-byte-aligned bytes live at one step), the planned peak, their
 * ratio, the bytes without reuse (one buffer per value, as plans were built before arenas) and the
 * planning time (median of 5 runs). Parameters are kept out of the arena (their own buffers, updated
 * by the optimizer); inputs and outputs stay whole for the step.
 *
 * The cap is llvmpipe's 128 MiB maxStorageBufferBindingSize where every value fits it;
 * a graph with a larger value (full-size GPT-2's tied head, LLaMA's and Mixtral's output
 * projection gradients) is planned with no cap instead, and says so.
 *
 * Second part, the plans as the runtime allocates them (compile → plan with arenas): per
 * sample and size, the forward plan and (samples with a train section) the training
 * step's plan; device bytes with a buffer per plan buffer (before arenas) and with the
 * plan's arenas (after), the memory plan's lower bound for what the arenas hold, and the
 * ratios. Plans within llvmpipe's limits are also created on the device, and the
 * runner's allocatedBytes is what is reported (it equals planAllocation).
 * Writes bench/results/memory.md and bench/results/memory.json (not in --quick mode).
 * Run: npm run bench:memory [-- --quick]
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { lower } from '../compiler/compile.js';
import { formatBytes } from '../compiler/report/plan.js';
import { compile } from '../driver/compile.js';
import { PlanRunner } from '../runtime/executor.js';
import { nodeDevice } from '../runtime/node.js';
import { planAllocation, type Plan } from '../runtime/plan.js';
import type { Graph } from '../compiler/ir.js';
import { MemoryPlanError, planMemory, type MemoryPlan, type MemoryPlanOptions } from '../compiler/memory/plan.js';
import { withAutodiff, withMirroredBackward } from '../test/support/training-like.js';
import { benchArgs } from './args.js';

const { quick } = benchArgs({
  command: 'bench:memory',
  about:
    "The static memory planner on every sample, full size and tiny: forward, autodiff training step and a mirrored backward, each plan's " +
    'peak against the lower bound and its planning time; then the device bytes of the compiled plans with and without arenas.',
  writes: 'bench/results/memory.md and memory.json (not with --quick).',
  flags: { quick: { type: 'boolean', help: 'one planning run per graph instead of five, no plans created on the device, nothing written' } },
});
const SAMPLES = ['mlp', 'gpt2', 'bert-base', 'llama', 'vit-b16', 'mixtral'];
const CAP = 128 * 1024 * 1024;

interface Row {
  sample: string;
  size: 'full' | 'tiny';
  graph: 'forward' | 'autodiff' | 'mirrored backward';
  nodes: number;
  buffers: number;
  cap: number | null;
  arenas: number;
  lowerBound: number;
  peak: number;
  ratio: number;
  noReuse: number;
  planMs: number;
  heuristic: string;
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
    for (const [graph, g] of [
      ['forward', fwd],
      ['autodiff', withAutodiff(trainFwd)],
      ['mirrored backward', withMirroredBackward(trainFwd)],
    ] as const) {
      const r = plan(g);
      rows.push({
        sample,
        size,
        graph,
        nodes: g.nodes.length,
        buffers: r.plan.buffers.length,
        cap: r.cap,
        arenas: r.plan.arenas.length,
        lowerBound: r.plan.lowerBound,
        peak: r.plan.peakBytes,
        ratio: r.plan.peakBytes / r.plan.lowerBound,
        noReuse: r.plan.noReuseBytes,
        planMs: Number(r.ms.toFixed(2)),
        heuristic: r.plan.heuristic,
      });
    }
  }
}

// ---------------------------------------------------------------- arenas in plans

interface PlanRow {
  sample: string;
  size: 'full' | 'tiny';
  graph: 'forward' | 'training step';
  buffers: number;
  placed: number;
  arenas: number;
  /** Activations and outputs kept out of the arenas (larger than an arena, or read twice by one node). */
  keptOut: number;
  /** Device bytes with a buffer per plan buffer, and with the plan's arenas. */
  before: number;
  after: number;
  /** Of `after`: the arenas, and buffers of their own (inputs, parameters, constants, values kept out). */
  arenaBytes: number;
  ownBytes: number;
  /** The memory plan's lower bound for what the arenas hold: the most aligned bytes live at one step. */
  lowerBound: number;
  /** arenaBytes / lowerBound, and after / (ownBytes + lowerBound): the best any placement could do with the same buffers kept out. */
  arenaRatio: number;
  totalRatio: number;
  /** Measured on the device (runner.allocatedBytes), or why not. */
  measured: number | string;
}
const planRows: PlanRow[] = [];
const LLVMPIPE_BINDING = 128 * 1024 * 1024;
const device = quick ? undefined : (await nodeDevice()).device;

async function measure(plan: Plan): Promise<number | string> {
  if (!device) return 'not run (--quick)';
  const big = plan.buffers.find((b) => b.bytes > device.limits.maxStorageBufferBindingSize);
  if (big) return `not run: ${big.name} (${formatBytes(big.bytes)}) is over the binding limit`;
  const runners: PlanRunner[] = [];
  try {
    const [arena, separate] = [await PlanRunner.create(device, plan), await PlanRunner.create(device, plan, { arenas: false })];
    runners.push(arena, separate);
    if (arena.allocatedBytes !== planAllocation(plan).bytes || separate.allocatedBytes !== planAllocation(plan, false).bytes)
      throw new Error(`${plan.model}: the runner allocated other bytes than the plan says`);
    return arena.allocatedBytes;
  } finally {
    for (const r of runners) r.destroy();
  }
}

for (const sample of SAMPLES) {
  const text = readFileSync(`samples/${sample}.model`, 'utf8');
  for (const size of ['tiny', 'full'] as const) {
    for (const graph of ['forward', 'training step'] as const) {
      const r = await compile(text, `${sample}.model`, {
        ...(size === 'tiny' ? { preset: 'tiny' } : {}),
        ...(graph === 'training step' ? { train: true } : {}),
      });
      if (!r.plan) continue; // no train section, or a loss that is not a scalar output
      const plan = r.plan;
      const a = planAllocation(plan);
      const lowerBound = r.memory!.lowerBound;
      planRows.push({
        sample,
        size,
        graph,
        buffers: plan.buffers.length,
        placed: plan.buffers.filter((b) => b.arena !== undefined).length,
        arenas: a.arenas,
        keptOut: plan.buffers.filter((b) => (b.role === 'activation' || b.role === 'output') && b.arena === undefined).length,
        before: a.unplacedBytes,
        after: a.bytes,
        arenaBytes: a.arenaBytes,
        ownBytes: a.bufferBytes,
        lowerBound,
        arenaRatio: lowerBound ? a.arenaBytes / lowerBound : 1,
        totalRatio: a.bytes / (a.bufferBytes + lowerBound),
        measured: await measure(plan),
      });
    }
  }
}
device?.destroy();

const mib = (n: number) => (n / 1024 / 1024).toFixed(2);
const worstArena = planRows.reduce((x, y) => (y.arenaRatio > x.arenaRatio ? y : x));
const planMd = [
  '## Arenas in plans: device bytes before and after',
  '',
  'Sizes in MiB. Each plan as `compile` makes it (fused, portable target, arenas capped at 128 MiB). "before": a GPUBuffer per plan buffer (the runtime without arenas, ' +
    '`arenas: false`); "after": the plan\'s arenas plus the buffers kept out of them (inputs, parameters, constants, and any value larger than an arena or read twice by one node). ' +
    '"kept out": activations and outputs in buffers of their own. "lower bound": the most 256-byte-aligned bytes of arena values live at one step. "arenas / bound" is the packing; "after / (own + bound)" is the whole allocation against the best ' +
    'any placement could do with the same buffers kept out. "measured": the runner\'s allocatedBytes on llvmpipe, in MiB, where the plan fits its 128 MiB binding limit.',
  '',
  '| sample | size | graph | buffers | placed | kept out | arenas | before | after | own buffers | arenas (MiB) | lower bound | arenas / bound | after / (own + bound) | after / before | measured |',
  '|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|',
  ...planRows.map(
    (r) =>
      `| ${r.sample} | ${r.size} | ${r.graph} | ${r.buffers} | ${r.placed} | ${r.keptOut} | ${r.arenas} | ${mib(r.before)} | ${mib(r.after)} | ${mib(r.ownBytes)} | ${mib(r.arenaBytes)} | ` +
      `${mib(r.lowerBound)} | ${r.arenaRatio.toFixed(4)} | ${r.totalRatio.toFixed(4)} | ${(r.after / r.before).toFixed(3)} | ${typeof r.measured === 'number' ? mib(r.measured) : r.measured} |`,
  ),
  '',
  `Worst arenas / lower bound: ${worstArena.arenaRatio.toFixed(4)} (${worstArena.sample} ${worstArena.size}, ${worstArena.graph}); the goal is at most 1.1. ` +
    `The largest values of the full-size models exceed llvmpipe's ${mib(LLVMPIPE_BINDING)} MiB binding limit, so those plans are counted, not run.`,
  '',
];

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
  ...rows.map(
    (r) =>
      `| ${r.sample} | ${r.size} | ${r.graph} | ${r.nodes} | ${r.buffers} | ${r.cap === null ? 'none' : '128 MiB'} | ${r.arenas} | ` +
      `${mib(r.lowerBound)} | ${mib(r.peak)} | ${r.ratio.toFixed(4)} | ${mib(r.noReuse)} | ${r.planMs} | ${r.heuristic} |`,
  ),
  '',
  `Worst ratio: ${worst.ratio.toFixed(4)} (${worst.sample} ${worst.size}, ${worst.graph}); the target is at most 1.1 on every sample.`,
  '',
  ...planMd,
].join('\n');
if (!quick) {
  mkdirSync('bench/results', { recursive: true });
  writeFileSync('bench/results/memory.md', md);
  writeFileSync('bench/results/memory.json', JSON.stringify({ rows, plans: planRows }, null, 2) + '\n');
}
console.log(md);
