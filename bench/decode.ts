/**
 * KV-cache decoding benchmark, GPT-2 sample at tiny size (2 layers, width 128, 4 heads,
 * vocabulary 1024) with its context raised to 2048 (`--set ctx=2048`) so that positions up
 * to 1024 exist, one sequence, a cache of MAX positions, on this machine's WebGPU adapter:
 *
 * - per-token decode time at positions 16 … 1024 (median of REPS steps at each position,
 *   each step a submission and a read-back of the logits, as generate() runs them);
 * - at position 512: decode against recomputing the whole sequence, a forward pass over the
 *   513 tokens (the model lowered at S = 513, one submission and a read-back of its logits);
 * - tokens/s of greedy generate() from a 16-token prompt (prefill excluded);
 * - against ONNX Runtime Web's WebGPU provider running the same decode step exported to
 *   ONNX (bench/decode-ort.ts), at tiny size and at full size (GPT-2 small: 124M
 *   parameters, vocabulary 50257, a cache of 1024 positions), tokens/s of both and the
 *   ratio, after a check that ORT's logits equal mdc's.
 *
 * mdc compiles for this adapter (its subgroups, binding size and binding count: the
 * `--target adapter` of mdc run), which the full size needs for its 154 MB embedding.
 *
 * Writes bench/results/decode.md and decode.json. Run: npm run bench:decode [-- --quick]
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { compileInference } from '../driver/infer.js';
import { planOf } from '../driver/stages.js';
import { PlanRunner } from '../runtime/executor.js';
import { InferenceSession } from '../runtime/generate.js';
import { adapterSubgroupSize, nodeDevice, nodeGPU } from '../runtime/node.js';
import { compareWithOrt, type CompareResult } from './decode-ort.js';
import { ortWebGpu, provideNavigatorGpu } from './peers.js';
import { benchArgs } from './args.js';

const { quick } = benchArgs({
  command: 'bench:decode',
  about:
    "KV-cache decoding of the GPT-2 sample at tiny size on this machine's WebGPU adapter: per-token time at positions 16 to 1024, " +
    'decode against recomputing the sequence, greedy tokens/s, and the decode step exported to ONNX run by ONNX Runtime Web at tiny and full size.',
  writes: 'bench/results/decode.md and decode.json (not with --quick).',
  flags: { quick: { type: 'boolean', help: 'a cache of 520 positions, three positions, three repetitions, ONNX Runtime at tiny size only, nothing written' } },
});
const MAX = quick ? 520 : 1040;
const POSITIONS = quick ? [16, 128, 512] : [16, 64, 128, 256, 512, 768, 1024];
const REPS = quick ? 3 : 7;
const source = readFileSync('samples/gpt2.model', 'utf8');
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const gpu = await nodeGPU();
const { device, adapter, description } = await nodeDevice();
const subgroupSize = adapterSubgroupSize(adapter);
const target = {
  ...(subgroupSize ? { subgroupSize } : {}),
  maxBindingBytes: device.limits.maxStorageBufferBindingSize,
  maxStorageBuffers: device.limits.maxStorageBuffersPerShaderStage,
};
const front = { preset: 'tiny', overrides: { ctx: 2048 }, target };

const c = await compileInference(source, 'gpt2.model', { ...front, maxSeq: MAX, batch: 1 });
if (!c.plans) throw new Error(c.diagnostics.map((d) => d.message).join('\n'));
const session = await InferenceSession.create(device, c.plans);
await session.prefill([[1, 2, 3]]);
const perPosition: { position: number; ms: number }[] = [];
for (const p of POSITIONS) {
  await session.step(Int32Array.of(5), Int32Array.of(p));
  const times: number[] = [];
  for (let r = 0; r < REPS; r++) {
    const t0 = performance.now();
    await session.step(Int32Array.of(5 + r), Int32Array.of(p));
    times.push(performance.now() - t0);
  }
  perPosition.push({ position: p, ms: median(times) });
  console.log(`decode at position ${p}: ${median(times).toFixed(2)} ms`);
}

// Recompute: the whole sequence of 513 tokens through the model's forward pass.
const full = await compileInference(source, 'gpt2.model', { ...front, maxSeq: 513, batch: 1 });
const runner = await PlanRunner.create(device, planOf(full.forward!, {}));
const tokens = Int32Array.from({ length: 513 }, (_, i) => (i * 7) % 1024);
await runner.run({ tokens });
const fullTimes: number[] = [];
for (let r = 0; r < REPS; r++) {
  const t0 = performance.now();
  await runner.run({ tokens });
  fullTimes.push(performance.now() - t0);
}
runner.destroy();
const recompute = median(fullTimes);
const at512 = perPosition.find((x) => x.position === 512)!.ms;
console.log(`recompute 513 tokens: ${recompute.toFixed(2)} ms; decode at 512: ${at512.toFixed(2)} ms (${(recompute / at512).toFixed(1)}×)`);

// Greedy generation from a 16-token prompt.
const NEW = quick ? 16 : 64;
const prompt = Array.from({ length: 16 }, (_, i) => i + 1);
const gen = session.generate(prompt, { maxNewTokens: NEW });
const first = await gen.next();
const t0 = performance.now();
let made = first.done ? 0 : 1;
for await (const _ of gen) made++;
const tokensPerSecond = ((made - 1) * 1000) / (performance.now() - t0);
session.destroy();
console.log(`generate: ${tokensPerSecond.toFixed(1)} tokens/s`);

// Against ONNX Runtime Web on the same adapter: tiny size, then GPT-2 small (skipped with --quick).
provideNavigatorGpu(gpu);
const ort = await ortWebGpu(device);
const ortName = `ONNX Runtime Web ${ort.env.versions.web} (webgpu provider)`;
const cases = [
  { label: 'tiny', front, maxSeq: MAX, positions: quick ? [16] : [16, 1024], reps: quick ? 3 : 9 },
  ...(quick ? [] : [{ label: 'full (GPT-2 small)', front: { target }, maxSeq: 1024, positions: [16, 1008], reps: 5 }]),
];
const compared: CompareResult[] = [];
for (const c of cases) compared.push(await compareWithOrt(device, ort, source, c, (l) => console.log(l)));
const LOGITS_BAR = 1e-4;
for (const r of compared) {
  const worst = Math.max(...r.logitsRelError);
  if (!(worst <= LOGITS_BAR))
    throw new Error(`${r.label}: ORT's logits differ from mdc's (relative L2 ${worst}, bar ${LOGITS_BAR}): the timings would not compare one computation`);
}

/** Tokens/s with three significant digits (full size runs below 1 token/s on ORT). */
const rate = (x: number) => x.toPrecision(3);
const flat = Math.max(...perPosition.map((x) => x.ms)) / Math.min(...perPosition.map((x) => x.ms));
const result = {
  adapter: description,
  model: 'GPT-2 sample, --preset tiny, ctx 2048',
  cacheLength: MAX,
  cacheBytes: session.cacheBytes,
  perPosition,
  flatness: flat,
  recompute512Ms: recompute,
  decode512Ms: at512,
  speedup512: recompute / at512,
  tokensPerSecond,
  target,
  ort: { name: ortName, logitsBar: LOGITS_BAR, cases: compared },
  quick,
};
if (!quick) {
  mkdirSync('bench/results', { recursive: true });
  writeFileSync('bench/results/decode.json', JSON.stringify(result, null, 2) + '\n');
  const md = [
    '# KV-cache decoding',
    '',
    `GPT-2 sample at tiny size (2 layers, width 128, 4 heads, vocabulary 1024; ctx raised to 2048), one sequence, a cache of ${MAX} positions ` +
      `(${(session.cacheBytes / 1024 / 1024).toFixed(2)} MiB), on ${description}. Median of ${REPS} steps; each step is one submission and a read-back ` +
      'of the logits. Written by `npm run bench:decode` (bench/decode.ts).',
    '',
    '| position | decode ms/token |',
    '|---:|---:|',
    ...perPosition.map((x) => `| ${x.position} | ${x.ms.toFixed(2)} |`),
    '',
    `Slowest over fastest position: ${flat.toFixed(2)}×.`,
    '',
    `At position 512: decode ${at512.toFixed(2)} ms against ${recompute.toFixed(2)} ms to recompute the 513-token sequence, ${(recompute / at512).toFixed(1)}× faster.`,
    '',
    `Greedy generate() from a 16-token prompt: ${tokensPerSecond.toFixed(1)} tokens/s (${NEW} new tokens, prefill excluded).`,
    '',
    `mdc compiled for this adapter: ${subgroupSize ? `subgroups of ${subgroupSize}, ` : ''}bindings up to ${(target.maxBindingBytes / 2 ** 20).toFixed(0)} MiB, ` +
      `${target.maxStorageBuffers} storage buffers per kernel.`,
    '',
    `## Against ${ortName}`,
    '',
    "The same decode step on both, same weights, same adapter, same process: mdc's decode graph exported to ONNX with the per-layer " +
      'key and value caches as inputs and the updated caches as outputs (compiler/onnx/export.ts). One sequence. Each step is one run and a ' +
      'read-back of the logits; ORT gets the token and position as CPU tensors, keeps the caches on the GPU (GPU tensors in, its outputs ' +
      'written into a second set of GPU buffers, the two sets swapping every step) and returns the logits on the CPU. Steps of the two ' +
      'engines alternate; the table gives the median. In the exported graph the cache write is a `Where` over the whole cache and ' +
      'attention covers all cache positions with a mask, so ORT does the same work at every position, while mdc reads keys only up to the ' +
      'position; mdc writes only the new row into its cache, in place, where ORT writes a whole new cache each step.',
    '',
    '| model | cache | position | mdc ms/token | mdc tokens/s | ORT ms/token | ORT tokens/s | mdc speedup |',
    '|---|---:|---:|---:|---:|---:|---:|---:|',
    ...compared.flatMap((r) =>
      r.rows.map(
        (x) =>
          `| ${r.label} | ${r.maxSeq} | ${x.position} | ${x.mdcMs.toFixed(1)} | ${rate(x.mdcTokensPerSecond)} | ${x.ortMs.toFixed(1)} | ` +
          `${rate(x.ortTokensPerSecond)} | ${x.ratio.toFixed(1)}× |`,
      ),
    ),
    '',
    `Check before timing: three steps from empty caches on both engines (positions 0, 1, 2); ORT's logits against mdc's, relative L2 error ` +
      `(bar ${LOGITS_BAR}: two f32 engines summing in different orders): ` +
      compared.map((r) => `${r.label} ${r.logitsRelError.map((e) => e.toExponential(1)).join(', ')}`).join('; ') +
      '.',
    '',
    `Set-up (compile and weights for mdc; export, session creation and weight upload for ORT): ` +
      compared
        .map((r) => `${r.label}: mdc ${r.setupSeconds.mdc.toFixed(1)} s, ORT ${r.setupSeconds.ort.toFixed(1)} s (${(r.onnxBytes / 1e6).toFixed(0)} MB ONNX)`)
        .join('; ') +
      '.',
    '',
  ].join('\n');
  writeFileSync('bench/results/decode.md', md);
}
