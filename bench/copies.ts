/**
 * Multi-copy benchmark: step time of GPT-2 tiny (2 layers, width 128, S = 64, batch 4)
 * tensor-parallel over 4 WebGPU devices ([tp: 4]), with copies = 1 and copies = 2, each
 * with MeshRunner's collectives deferred (the default) and awaited one by one, for the
 * forward pass and for a training step (AdamW). One process, one adapter; the four
 * configurations run round-robin, step by step, so that load on the machine falls on all
 * of them alike; the median of the timed steps is reported.
 * Writes bench/results/copies.md and bench/results/copies.json (not in --quick mode).
 * Run: node --import tsx bench/copies.ts [--quick]
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { compile } from '../driver/compile.js';
import type { Mesh } from '../compiler/sharding/mesh.js';
import { MeshRunner, randomInput, type HostArray, type Plan } from '../runtime/index.js';
import { biasCorrections } from '../runtime/train.js';
import { nodeDevices } from '../runtime/node.js';
import { benchArgs } from './args.js';

const { quick } = benchArgs({
  command: 'bench/copies.ts',
  about:
    'Step time of GPT-2 tiny tensor-parallel over 4 WebGPU devices with copies = 1 and 2, collectives deferred and awaited one by one, ' +
    'forward and training step, the median of the timed steps.',
  writes: 'bench/results/copies.md and copies.json (not with --quick).',
  flags: { quick: { type: 'boolean', help: 'two timed steps per configuration, nothing written' } },
});
const REPS = quick ? 2 : 9;
const WARM = 2;
const src = readFileSync('samples/gpt2.model', 'utf8').replace(/@pipeline\([^)]*\)\s*/g, '');
const B = 4;
const S = 64;
const mesh: Mesh = {
  axes: [
    { name: 'dp', size: 1 },
    { name: 'tp', size: 4 },
  ],
};

async function planFor(copies: number, train: boolean): Promise<Plan> {
  const s = src.replace(/(train GPT2 \{\n)/, `$1  copies = ${copies}\n`);
  const r = await compile(s, 'gpt2.model', {
    preset: 'tiny',
    dims: { B, S },
    partition: mesh,
    ...(train ? { train: { microbatches: 1, zero: 0, copies } } : {}),
  });
  if (!r.plan) throw new Error(r.diagnostics.map((d) => d.message).join('\n'));
  return r.plan;
}

const tokens = randomInput('i32', B * S, 1, 'tokens', 1024);
const labels = randomInput('i32', B * S, 1, 'labels', 1024);
const [bc1, bc2] = biasCorrections(1, 0.9, 0.95);
const trainInputs: Record<string, HostArray> = { tokens, labels, lr: Float32Array.of(1e-4), bc1: Float32Array.of(bc1), bc2: Float32Array.of(bc2) };

const { devices, description: adapterText } = await nodeDevices(4);

interface Row {
  pass: string;
  copies: number;
  collectives: string;
  median_ms: number;
  min_ms: number;
  max_ms: number;
  steps: number;
  collective_steps: number;
}
const rows: Row[] = [];
for (const train of [false, true]) {
  const runners = new Map<number, MeshRunner>();
  for (const copies of [1, 2]) {
    const plan = await planFor(copies, train);
    const inputs: Record<string, HostArray> = train ? Object.fromEntries(plan.inputs.map((i) => [i.name, trainInputs[i.name]!])) : { tokens };
    const runner = await MeshRunner.create(devices, plan, { seed: 0 });
    runners.set(copies, runner);
    (runner as unknown as { inputs: typeof inputs }).inputs = inputs;
  }
  const configs = [1, 2].flatMap((copies) => [true, false].map((defer) => ({ copies, defer, times: [] as number[] })));
  for (let rep = 0; rep < WARM + REPS; rep++) {
    for (const c of configs) {
      const runner = runners.get(c.copies)!;
      runner.deferCollectives = c.defer;
      const t0 = performance.now();
      await runner.run((runner as unknown as { inputs: Record<string, HostArray> }).inputs, train ? ['loss'] : undefined);
      if (rep >= WARM) c.times.push(performance.now() - t0);
    }
  }
  for (const c of configs) {
    const plan = runners.get(c.copies)!.plan;
    const sorted = [...c.times].sort((a, b) => a - b);
    rows.push({
      pass: train ? 'training step' : 'forward',
      copies: c.copies,
      collectives: c.defer ? 'deferred' : 'awaited',
      median_ms: Number(sorted[Math.floor(sorted.length / 2)]!.toFixed(1)),
      min_ms: Number(sorted[0]!.toFixed(1)),
      max_ms: Number(sorted.at(-1)!.toFixed(1)),
      steps: plan.steps.length,
      collective_steps: plan.steps.filter((s) => s.kind === 'collective').length,
    });
  }
  for (const r of runners.values()) r.destroy();
}
for (const d of devices) d.destroy();

console.table(rows);
if (!quick) {
  mkdirSync('bench/results', { recursive: true });
  const date = new Date().toISOString().slice(0, 10);
  writeFileSync(
    'bench/results/copies.json',
    JSON.stringify({ date, adapter: adapterText, node: process.version, reps: REPS, model: `GPT-2 tiny, B = ${B}, S = ${S}`, mesh: 'tp=4', rows }, null, 1) +
      '\n',
  );
  const base = (pass: string) => rows.find((r) => r.pass === pass && r.copies === 1 && r.collectives === 'awaited')!.median_ms;
  const md = [
    '# Multi-copy benchmark',
    '',
    `Machine: ${process.platform} ${process.arch}, Node ${process.version}, ${date}; adapter: ${adapterText}. GPT-2 tiny (2 layers, width 128), B = ${B}, S = ${S}, ` +
      `tensor-parallel over 4 devices of one adapter ([tp: 4]). Median of ${REPS} steps after ${WARM} warm-up steps, the four configurations round-robin in one process.`,
    '',
    '| pass | copies | collectives | median (ms) | min–max (ms) | vs copies 1, awaited | plan steps | collective steps |',
    '|---|---:|---|---:|---:|---:|---:|---:|',
    ...rows.map(
      (r) =>
        `| ${r.pass} | ${r.copies} | ${r.collectives} | ${r.median_ms} | ${r.min_ms}–${r.max_ms} | ${(r.median_ms / base(r.pass)).toFixed(2)}× | ${r.steps} | ${r.collective_steps} |`,
    ),
    '',
  ].join('\n');
  writeFileSync('bench/results/copies.md', md);
}
