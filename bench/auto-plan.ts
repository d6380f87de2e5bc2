/**
 * Whole-plan search benchmark (`npm run bench:auto`, docs/cost-model.md "Whole-plan search").
 *
 * 1. Speed: `autoPlan` (what `mdc plan --auto --devices N --hardware a100-80gb` runs) for GPT-3's
 *    width with dropout (bench/models/gpt3-dropout.model, global batch 1,536) at 12/24/48/96
 *    layers and 64/256/1,024/4,096 devices, each in a fresh process so every figure includes
 *    the cold start of the compiler's code (the process's own start-up is not counted).
 * 2. Quality: every row of Megatron-LM's Table 1 searched on the row's GPU count and batch, its
 *    winner's predicted throughput against the published configuration's (t, p, d, micro-batch 1,
 *    1F1B, full recompute) costed by the same model, both within the A100's 80 GiB.
 * Writes bench/results/auto-plan.md and .json.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { autoPlan, AutoPlanError, type AutoPlan } from '../driver/auto-plan.js';
import { loadHardware } from '../driver/hardware.js';
import { MEGATRON_PRESETS, MEGATRON_TABLE, publishedCandidate } from '../test/support/megatron.js';
import type { Evaluated } from '../compiler/cost/plan-search.js';
import { benchArgs } from './args.js';

const args = benchArgs({
  command: 'bench:auto',
  about:
    'Whole-plan search (mdc plan --auto): its time for GPT-3 with dropout at 12 to 96 layers on 64 to 4,096 A100s, each cell in a fresh process, ' +
    "and every row of Megatron-LM's Table 1 searched on its GPUs and batch, the winner's predicted throughput against the published configuration's.",
  writes: 'bench/results/auto-plan.md and auto-plan.json.',
  flags: {
    cell: {
      type: 'string',
      value: 'LAYERS,DEVICES',
      help: 'internal: search one cell of the timing table in this process and print it as JSON, nothing written',
    },
  },
  check: (v) => (v.cell === undefined || /^\d+,\d+$/.test(v.cell) ? undefined : `--cell must be two whole numbers, LAYERS,DEVICES, not '${v.cell}'`),
});

const GPT3 = 'bench/models/gpt3-dropout.model';
const hw = loadHardware('a100-80gb');

/** One cell, in this process: the search's seconds and its winner. */
function cell(layers: number, devices: number) {
  const t0 = performance.now();
  let r: AutoPlan | undefined;
  let error: string | undefined;
  try {
    const out = autoPlan({ file: GPT3, source: readFileSync(GPT3, 'utf8'), frontend: { overrides: { layers }, dims: { B: 16 } }, devices, hardware: hw });
    if ('diagnostics' in out) throw new Error(out.diagnostics.map((d) => d.message).join('; '));
    r = out;
  } catch (e) {
    if (!(e instanceof AutoPlanError)) throw e;
    error = e.message;
  }
  const seconds = (performance.now() - t0) / 1000;
  const w = r?.result.winner;
  return {
    layers,
    devices,
    seconds: Number(seconds.toFixed(3)),
    candidates: r?.result.candidates ?? null,
    simulated: r?.result.simulated ?? null,
    winner: w ? short(w) : null,
    tflopsPerDevice: w ? Number(w.tflopsPerDevice.toFixed(1)) : null,
    ...(error ? { error } : {}),
  };
}

const short = (e: Evaluated) =>
  `dp=${e.dp} pp=${e.pp} tp=${e.tp} mb=${e.microBatchSize}×${e.microbatches} ${e.schedule}${e.virtual > 1 ? `(v=${e.virtual})` : ''} ZeRO-${e.zero} ${e.recompute}`;

if (args.cell !== undefined) {
  const [layers, devices] = args.cell.split(',').map(Number);
  process.stdout.write(JSON.stringify(cell(layers!, devices!)));
  process.exit(0);
}

const LAYERS = [12, 24, 48, 96];
const DEVICES = [64, 256, 1024, 4096];
const speed: ReturnType<typeof cell>[] = [];
for (const layers of LAYERS)
  for (const devices of DEVICES) {
    const out = execFileSync(process.execPath, ['--import', 'tsx', 'bench/auto-plan.ts', '--cell', `${layers},${devices}`], { encoding: 'utf8' });
    const c = JSON.parse(out);
    speed.push(c);
    console.error(`${layers} layers, ${devices} devices: ${c.seconds} s  ${c.winner ?? c.error}`);
  }

const MEGATRON = 'bench/models/megatron-gpt.model';
const quality = [];
for (const row of MEGATRON_TABLE.rows) {
  const dp = row.gpus / (row.t * row.p);
  const r = autoPlan({
    file: MEGATRON,
    source: readFileSync(MEGATRON, 'utf8'),
    frontend: { preset: MEGATRON_PRESETS[row.hidden]!, dims: { B: dp } },
    devices: row.gpus,
    hardware: hw,
  });
  if ('diagnostics' in r) throw new Error(r.diagnostics.map((d) => d.message).join('; '));
  const pub = r.evaluate(publishedCandidate(row))!;
  const w = r.result.winner!;
  quality.push({
    model: `${row.params_b}B`,
    gpus: row.gpus,
    batch: row.batch,
    published: `t=${row.t} p=${row.p} d=${dp}`,
    publishedTflops: Number(pub.tflopsPerDevice.toFixed(1)),
    publishedPeakGiB: Number((pub.peakBytesPerDevice / 2 ** 30).toFixed(1)),
    winner: short(w),
    winnerTflops: Number(w.tflopsPerDevice.toFixed(1)),
    winnerPeakGiB: Number((w.peakBytesPerDevice / 2 ** 30).toFixed(1)),
    gain: Number((w.tflopsPerDevice / pub.tflopsPerDevice - 1).toFixed(4)),
    searchSeconds: Number(r.seconds.toFixed(2)),
  });
  console.error(`${row.params_b}B: published ${pub.tflopsPerDevice.toFixed(1)}, winner ${w.tflopsPerDevice.toFixed(1)} (${short(w)})`);
}

const at = (l: number, d: number) => speed.find((c) => c.layers === l && c.devices === d)!;
const lines = [
  '# Whole-plan search (`mdc plan --auto --devices N --hardware a100-80gb`)',
  '',
  `Generated by \`npm run bench:auto\` on ${new Date().toISOString().slice(0, 10)}; see docs/cost-model.md (Whole-plan search).`,
  '',
  '## Speed: GPT-3 175B width with dropout, global batch 1,536',
  '',
  'Seconds of `autoPlan` in a fresh process (cold compiler code, process start-up not counted); the winner below.',
  '',
  `| layers | ${DEVICES.map((d) => `${d} devices`).join(' | ')} |`,
  `|---|${DEVICES.map(() => '---').join('|')}|`,
  ...LAYERS.map((l) => `| ${l} | ${DEVICES.map((d) => at(l, d).seconds.toFixed(2)).join(' | ')} |`),
  '',
  '| layers | devices | seconds | candidates | simulated | winner | TFLOP/s per device |',
  '|---|---|---|---|---|---|---|',
  ...speed.map(
    (c) =>
      `| ${c.layers} | ${c.devices} | ${c.seconds.toFixed(2)} | ${c.candidates ?? ''} | ${c.simulated ?? ''} | ${c.winner ?? c.error} | ${c.tflopsPerDevice ?? ''} |`,
  ),
  '',
  "## Quality: Megatron-LM's Table 1 configurations against the search, under mdc's own model",
  '',
  'Published: t, p, d of the row, micro-batch 1, 1F1B, full recompute, no ZeRO (as bench:calibrate plans it).',
  '',
  '| model | GPUs | batch | published | its TFLOP/s | its peak GiB | winner | TFLOP/s | peak GiB | gain | search (s) |',
  '|---|---|---|---|---|---|---|---|---|---|---|',
  ...quality.map(
    (q) =>
      `| ${q.model} | ${q.gpus} | ${q.batch} | ${q.published} | ${q.publishedTflops} | ${q.publishedPeakGiB} | ${q.winner} | ${q.winnerTflops} | ${q.winnerPeakGiB} | ` +
      `${q.gain >= 0 ? '+' : ''}${(100 * q.gain).toFixed(1)}% | ${q.searchSeconds} |`,
  ),
  '',
];
mkdirSync('bench/results', { recursive: true });
writeFileSync('bench/results/auto-plan.md', lines.join('\n'));
writeFileSync('bench/results/auto-plan.json', JSON.stringify({ hardware: hw.name, speed, quality }, null, 2) + '\n');
console.log(lines.join('\n'));
