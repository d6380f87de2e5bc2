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
import { planOf } from '../driver/stages.js';
import { PlanRunner } from '../runtime/executor.js';
import { initValues } from '../runtime/init.js';
import { nodeDevice } from '../runtime/node.js';

const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : fallback;
};
const preset = arg('preset', 'medium');
const B = Number(arg('batch', '1'));
const S = Number(arg('seq', '4'));
const SEED = 7;

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

const { device, description } = await nodeDevice();
let t = performance.now();
const runner = await PlanRunner.create(device, plan, { params });
const createMs = performance.now() - t;
t = performance.now();
const gpu = (await runner.run({ tokens }))['logits']!.data;
const firstMs = performance.now() - t;
t = performance.now();
await runner.run({ tokens });
const secondMs = performance.now() - t;
runner.destroy();
console.log(`WebGPU: runner ${(createMs / 1000).toFixed(1)} s, first forward ${(firstMs / 1000).toFixed(1)} s, second ${(secondMs / 1000).toFixed(1)} s`);

t = performance.now();
const cpu = interpret(graph, { tokens }, (name) => params.get(name)!)['logits']!.data;
const oracleMs = performance.now() - t;
// The machine's load when the run ended: other jobs on its two cores stretch every time above.
const load = loadavg()[0]!;

let num = 0;
let den = 0;
let maxDiff = 0;
let scale = 0;
let argmaxAgree = 0;
for (let r = 0; r < B * S; r++) {
  let [bg, bc] = [0, 0];
  for (let i = 0; i < V; i++) {
    const [g, c] = [gpu[r * V + i]!, cpu[r * V + i]!];
    num += (g - c) ** 2;
    den += c * c;
    maxDiff = Math.max(maxDiff, Math.abs(g - c));
    scale = Math.max(scale, Math.abs(c));
    if (g > gpu[r * V + bg]!) bg = i;
    if (c > cpu[r * V + bc]!) bc = i;
  }
  if (bg === bc) argmaxAgree++;
}
const rel = Math.sqrt(num / den);
// f32 sums of up to 2816 terms through 20 layers against float64: the full-size GPT-2 test's bound.
const TOL = 1e-4;
console.log(
  `oracle ${(oracleMs / 1000).toFixed(1)} s; logits rel ${rel.toExponential(2)}, max |diff| / max |logit| ${(maxDiff / scale).toExponential(2)}; argmax agrees at ${argmaxAgree}/${B * S}`,
);

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
  logitsRel: rel,
  maxDiffOverScale: maxDiff / scale,
  argmaxAgree: `${argmaxAgree}/${B * S}`,
  tolerance: TOL,
  pass: rel < TOL && maxDiff / scale < TOL,
};
mkdirSync('bench/results', { recursive: true });
writeFileSync('bench/results/llama.json', JSON.stringify(result, null, 2) + '\n');
const md = [
  '# LLaMA-shaped model forward on WebGPU',
  '',
  `samples/llama.model \`--preset ${preset}\`: ${paramCount.toLocaleString('en')} parameters (${((paramCount * 4) / 2 ** 30).toFixed(2)} GiB in f32), ` +
    `batch ${B}, ${S} tokens, on ${description}. Largest buffer: \`${largest.name}\`, ${largest.bytes.toLocaleString('en')} bytes` +
    `${windowed.length ? `; kernels binding windows: ${windowed.join(', ')}` : ' (under the 128 MiB storage binding limit, so no windows)'}. ` +
    'Written by `npm run bench:llama` (bench/llama.ts).',
  '',
  '| step | time |',
  '|---|---:|',
  `| runner: buffers, weight uploads, kernels | ${(createMs / 1000).toFixed(1)} s |`,
  `| first forward (submission + logits read-back) | ${(firstMs / 1000).toFixed(1)} s |`,
  `| second forward | ${(secondMs / 1000).toFixed(1)} s |`,
  `| CPU reference (float64), the oracle | ${(oracleMs / 1000).toFixed(1)} s |`,
  '',
  `Load average when the run ended: ${load.toFixed(1)} on 2 cores (other jobs share them; the times stretch with it).`,
  '',
  `Logits against the oracle: relative L2 error ${rel.toExponential(2)}, largest |difference| ${(maxDiff / scale).toExponential(2)} of the largest |logit| ` +
    `(bound ${TOL}: f32 sums of up to 2816 terms through 20 layers, as for the full-size GPT-2 test); the argmax agrees at ${argmaxAgree} of ${B * S} positions. ` +
    `${result.pass ? 'Within the bound.' : 'OUTSIDE the bound.'}`,
  '',
].join('\n');
writeFileSync('bench/results/llama.md', md);
if (!result.pass) process.exitCode = 1;
