/**
 * A LLaMA-shaped model of about 300M parameters forward on this machine's WebGPU adapter:
 * samples/llama.model at `preset medium` (width 1024, 20 layers, 16 query heads sharing 8 KV
 * heads, SwiGLU of 2816, vocabulary 32000; 301,507,584 parameters), a few tokens, checked
 * against the CPU reference interpreter (float64) on the same weights and tokens.
 *
 * Reported: the parameter count and bytes, the time to create the runner (buffers,
 * uploads, kernel compilation), the first and a second forward (submission and read-back
 * of the logits), the oracle's time, and the logits' error: relative L2, largest
 * |difference| over the largest |logit|, and whether each position's argmax agrees.
 * Then KV-cache decoding of the same model and weights (unless --no-decode): a prefill of
 * PROMPT tokens and decode steps to the cache's end, each step's logits against the
 * oracle's forward over the whole sequence at that position, and each step's time.
 *
 * Too slow for the test suite (the oracle alone takes minutes); test/infer/llama-medium.test.ts
 * checks the preset's parameter count. Writes bench/results/llama.md and llama.json.
 * Run: npm run bench:llama [-- --preset medium --batch 1 --seq 4]
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { lower } from '../compiler/compile.js';
import { dimValue } from '../compiler/dims.js';
import { interpret } from '../compiler/reference/interpret.js';
import { compileInference } from '../driver/infer.js';
import { planOf } from '../driver/stages.js';
import { PlanRunner } from '../runtime/executor.js';
import { InferenceSession } from '../runtime/generate.js';
import { initValues } from '../runtime/init.js';
import { nodeDevice } from '../runtime/node.js';
import { benchArgs } from './args.js';

const args = benchArgs({
  command: 'bench:llama',
  about:
    "samples/llama.model (about 300M parameters at its medium preset) forward on this machine's WebGPU adapter, checked against the CPU " +
    'reference interpreter on the same weights and tokens, then KV-cache decoding of the same model, each step against the oracle.',
  writes: 'bench/results/llama.md and llama.json.',
  flags: {
    preset: { type: 'string', value: 'NAME', help: "the sample's preset", default: 'medium' },
    batch: { type: 'integer', value: 'B', help: 'sequences in the forward pass', default: 1 },
    seq: { type: 'integer', value: 'S', help: 'tokens per sequence in the forward pass', default: 4 },
    'no-decode': { type: 'boolean', help: 'the forward pass only, no KV-cache decoding' },
  },
});
const { preset, batch: B, seq: S } = args;
const decode = !args['no-decode'];
/** Decoding: the cache's length and the prompt's. */
const M = 12;
const PROMPT = 8;
const SEED = 7;
// llvmpipe compiles every kernel on first use, slowly on a loaded machine: one submission may take minutes.
const timeLimitMs = 900_000;
// f32 sums of up to 2816 terms through 20 layers against float64: the full-size GPT-2 test's bound.
const TOL = 1e-4;

const source = readFileSync('samples/llama.model', 'utf8');
const lowered = lower(source, 'llama.model', { preset, dims: { B, S } });
if (!lowered.graph) throw new Error(lowered.diagnostics.map((d) => `${d.code} ${d.message}`).join('\n'));
const graph = lowered.graph;
const numel = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);
const paramCount = graph.values.filter((v) => v.kind === 'param').reduce((n, v) => n + numel(v.type.dims.map((d) => dimValue(d)!)), 0);
const plan = planOf(graph, { seed: SEED });
const largest = plan.buffers.reduce((a, b) => (b.bytes > a.bytes ? b : a));
const windowed = plan.kernels.filter((k) => k.bindings.some((b) => b.window)).map((k) => k.name);
console.log(
  `${preset}: ${paramCount.toLocaleString('en')} parameters; largest buffer ${largest.name} ${largest.bytes} bytes; kernels with windows: ${windowed.length}`,
);

// The weights as the runtime would draw them, given explicitly so that the oracle reads the very same f32 values.
const params = new Map<string, Float32Array>();
for (const b of plan.buffers) if (b.role === 'param') params.set(b.name, initValues(b.init!, numel(b.shape), SEED, b.name));
const V = dimValue(graph.values[graph.outputs[0]!]!.type.dims.at(-1)!)!;
const tokens = Int32Array.from({ length: B * S }, (_, i) => (i * 7919 + 13) % V);

/** Rows of logits against the oracle's rows (`at`: each row's offset in `want`): relative L2 error, largest |difference| over largest |logit|, argmax agreement. */
function compare(got: ArrayLike<number>, want: ArrayLike<number>, at: readonly number[]) {
  let [num, den, maxDiff, scale, agree] = [0, 0, 0, 0, 0];
  at.forEach((w, r) => {
    let [bg, bc] = [0, 0];
    for (let i = 0; i < V; i++) {
      const [g, c] = [got[r * V + i]!, want[w + i]!];
      num += (g - c) ** 2;
      den += c * c;
      maxDiff = Math.max(maxDiff, Math.abs(g - c));
      scale = Math.max(scale, Math.abs(c));
      if (g > got[r * V + bg]!) bg = i;
      if (c > want[w + bc]!) bc = i;
    }
    if (bg === bc) agree++;
  });
  const rel = Math.sqrt(num / den);
  return { rel, maxDiffOverScale: maxDiff / scale, argmaxAgree: `${agree}/${at.length}`, pass: rel < TOL && maxDiff / scale < TOL };
}
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

const { device, description } = await nodeDevice();
let t = performance.now();
const runner = await PlanRunner.create(device, plan, { params, timeLimitMs });
const createMs = performance.now() - t;
t = performance.now();
const gpu = (await runner.run({ tokens }))['logits']!.data;
const firstMs = performance.now() - t;
t = performance.now();
await runner.run({ tokens });
const secondMs = performance.now() - t;
runner.destroy();
console.log(`WebGPU: runner ${seconds(createMs)}, first forward ${seconds(firstMs)}, second ${seconds(secondMs)}`);

t = performance.now();
const cpu = interpret(graph, { tokens }, (name) => params.get(name)!)['logits']!.data;
const oracleMs = performance.now() - t;
const forward = compare(
  gpu,
  cpu,
  Array.from({ length: B * S }, (_, r) => r * V),
);
console.log(`oracle ${seconds(oracleMs)}; logits rel ${forward.rel.toExponential(2)}, max |diff| / max |logit| ${forward.maxDiffOverScale.toExponential(2)}`);

/** KV-cache decoding: one sequence, a prefill of PROMPT tokens, then steps at PROMPT … M − 1. */
async function decodeRun() {
  const c = await compileInference(source, 'llama.model', { preset, maxSeq: M, batch: 1, seed: SEED });
  if (!c.plans) throw new Error(c.diagnostics.map((d) => `${d.code} ${d.message}`).join('\n'));
  const seq = Int32Array.from({ length: M }, (_, i) => (i * 104729 + 7) % V);
  let t = performance.now();
  const session = await InferenceSession.create(device, c.plans, { params, timeLimitMs });
  const createMs = performance.now() - t;
  const logits: Float32Array[] = [];
  const steps: number[] = [];
  let prefillMs: number;
  try {
    t = performance.now();
    const pre = await session.prefill([Array.from(seq.subarray(0, PROMPT))]);
    prefillMs = performance.now() - t;
    logits.push(pre.slice((PROMPT - 1) * V, PROMPT * V));
    for (let p = PROMPT; p < M; p++) {
      t = performance.now();
      logits.push(await session.step(Int32Array.of(seq[p]!), Int32Array.of(p)));
      steps.push(performance.now() - t);
    }
  } finally {
    session.destroy();
  }
  t = performance.now();
  const want = interpret(c.forward!, { tokens: seq }, (name) => params.get(name)!)['logits']!.data;
  const oracleMs = performance.now() - t;
  const rows = new Float32Array(logits.length * V);
  logits.forEach((l, k) => rows.set(l, k * V));
  const err = compare(
    rows,
    want,
    logits.map((_, k) => (PROMPT - 1 + k) * V),
  );
  console.log(`decode: prefill ${seconds(prefillMs)}, steps ${steps.map(seconds).join(', ')}; rel ${err.rel.toExponential(2)}`);
  return { maxSeq: M, prompt: PROMPT, sessionCreateMs: createMs, prefillMs, stepMs: steps, oracleMs, ...err };
}
const decoded = decode ? await decodeRun() : undefined;
// The machine's load when the run ended: other jobs on its two cores stretch every time above.
const load = loadavg()[0]!;

const result = {
  adapter: description,
  model: `samples/llama.model --preset ${preset}`,
  parameters: paramCount,
  parameterBytes: paramCount * 4,
  largestBuffer: { name: largest.name, bytes: largest.bytes },
  windowedKernels: windowed,
  batch: B,
  seq: S,
  runnerCreateMs: createMs,
  firstForwardMs: firstMs,
  secondForwardMs: secondMs,
  oracleMs,
  loadAverage: load,
  tolerance: TOL,
  forward,
  ...(decoded ? { decode: decoded } : {}),
  peakRssBytes: process.resourceUsage().maxRSS * 1024,
};
const pass = forward.pass && (!decoded || decoded.pass);
mkdirSync('bench/results', { recursive: true });
writeFileSync('bench/results/llama.json', JSON.stringify(result, null, 2) + '\n');
const verdict = (e: { pass: boolean }) => (e.pass ? 'Within the bound.' : 'OUTSIDE the bound.');
const md = [
  '# LLaMA-shaped model on WebGPU',
  '',
  `samples/llama.model \`--preset ${preset}\`: ${paramCount.toLocaleString('en')} parameters (${((paramCount * 4) / 2 ** 30).toFixed(2)} GiB in f32), ` +
    `on ${description}. Largest buffer: \`${largest.name}\`, ${largest.bytes.toLocaleString('en')} bytes` +
    `${windowed.length ? `; kernels binding windows: ${windowed.join(', ')}` : ' (under the 128 MiB storage binding limit, so no windows)'}. ` +
    'The oracle is the CPU reference interpreter (float64) on the same f32 weights. Written by `npm run bench:llama` (bench/llama.ts).',
  '',
  `## Forward, batch ${B}, ${S} tokens`,
  '',
  '| step | time |',
  '|---|---:|',
  `| runner: buffers, weight uploads, kernels | ${seconds(createMs)} |`,
  `| first forward (submission + logits read-back) | ${seconds(firstMs)} |`,
  `| second forward | ${seconds(secondMs)} |`,
  `| CPU reference, the oracle | ${seconds(oracleMs)} |`,
  '',
  `Logits: relative L2 error ${forward.rel.toExponential(2)}, largest |difference| ${forward.maxDiffOverScale.toExponential(2)} of the largest |logit| ` +
    `(bound ${TOL}: f32 sums of up to 2816 terms through 20 layers, as for the full-size GPT-2 test); the argmax agrees at ${forward.argmaxAgree} positions. ` +
    verdict(forward),
  '',
  ...(decoded
    ? [
        `## KV-cache decoding, a cache of ${M} positions`,
        '',
        `A prefill of ${PROMPT} tokens in ${seconds(decoded.prefillMs)} (the session, both plans' kernels and the weights: ${seconds(decoded.sessionCreateMs)}), ` +
          `then decode steps at positions ${PROMPT}–${M - 1} in ${decoded.stepMs.map(seconds).join(', ')}. ` +
          `The prefill's last row and every step's logits against the oracle's forward over the whole ${M}-token sequence (${seconds(decoded.oracleMs)}): ` +
          `relative L2 error ${decoded.rel.toExponential(2)}, largest |difference| ${decoded.maxDiffOverScale.toExponential(2)} of the largest |logit|; ` +
          `the argmax agrees at ${decoded.argmaxAgree} rows. ${verdict(decoded)}`,
        '',
      ]
    : []),
  `Load average when the run ended: ${load.toFixed(1)} on 2 cores (other jobs share them; the times stretch with it). ` +
    `Peak resident memory: ${(result.peakRssBytes / 1e9).toFixed(1)} GB.`,
  '',
].join('\n');
writeFileSync('bench/results/llama.md', md);
if (!pass) process.exitCode = 1;
