/// <reference types="@webgpu/types" />
/**
 * Kernel benchmark: mdc's generated WGSL against TensorFlow.js's WebGPU backend and ONNX
 * Runtime Web's WebGPU provider, measured in the same run on the same adapter (here
 * Mesa's llvmpipe unless the machine has a GPU). Matmul in GFLOP/s at 256³, 512³, 1024³
 * and transformer shapes (including the M = 1 decode GEMV), softmax / layer norm / GELU
 * in GB/s (bytes read + written once), attention in GFLOP/s for sequence 128–1024.
 * Every number is the median of several samples after a warm-up, each sample timed to
 * queue completion (onSubmittedWorkDone); short kernels are repeated within a sample.
 *
 * mdc's matmuls use the adapter's target (its subgroups) and a tuning table from the
 * per-adapter cache (codegen/tune/cache.ts), tuning the classes it lacks first; the
 * untuned portable default is reported too. Writes bench/results/kernels.md and
 * kernels.json. `--quick`: small sizes, two samples, no tuning, no ONNX Runtime (its
 * WebAssembly module alone takes about a minute to compile here), nothing written (CI smoke).
 * Run: npm run bench:kernels [-- --quick]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { relative } from 'node:path';
import { configName, chooseConfig } from '../codegen/kernels/matmul/config.js';
import type { KernelTarget } from '../codegen/kernels/kernel.js';
import { matmulShape, shapeClass } from '../codegen/kernels/matmul/shape.js';
import { buildPlan } from '../codegen/plan.js';
import { defaultCacheFile } from '../codegen/tune/cache.js';
import { matmulShapes, tuneTarget } from '../codegen/tune/index.js';
import { bindGroupOf, dispatchTimer, interleave, pipelineOf, storageBuffer, type Timer, type TimingOptions } from '../codegen/tune/time.js';
import { lower } from '../compiler/compile.js';
import type { Graph } from '../compiler/ir.js';
import { randomInput, type Plan } from '../runtime/index.js';
import { adapterSubgroupSize, nodeDevice, nodeGPU } from '../runtime/node.js';
import { provideNavigatorGpu, startOrt, startTf, type OrtPeer, type PeerFailure, type TfPeer } from './peers.js';

const quick = process.argv.includes('--quick');
const RUNS = quick ? 2 : 7;
const timing: TimingOptions = { runs: RUNS, reps: 'auto', targetMs: quick ? 5 : 40 };

interface Row { kernel: string; case: string; impl: string; median: number; unit: string }
const rows: Row[] = [];
const notes: string[] = [];
const round = (x: number) => Number(x.toPrecision(4));

// ------------------------------------------------------------------ the cases

interface Case {
  readonly kernel: string;
  readonly name: string;
  readonly source: string;
  /** Work per run: flops (GFLOP/s) or bytes (GB/s). */
  readonly work: number;
  readonly unit: 'GFLOP/s' | 'GB/s';
  /** The same computation in TF.js, on tensors shaped like the model's inputs (in order). */
  readonly tf?: (tf: TfPeer['tf'], xs: import('@tensorflow/tfjs-core').Tensor[]) => import('@tensorflow/tfjs-core').Tensor;
}

const T = (s: readonly number[]) => `f32[${s.join(', ')}]`;
const src = (args: Record<string, readonly number[]>, ret: readonly number[], body: string) =>
  `model B(${Object.entries(args).map(([n, s]) => `${n}: ${T(s)}`).join(', ')}) -> ${T(ret)} {\n  ${body}\n}\n`;

const matmulCase = (M: number, K: number, N: number, label?: string): Case => ({
  kernel: 'matmul', name: `${M}×${K} @ ${K}×${N}${label ? ` (${label})` : ''}`, unit: 'GFLOP/s', work: 2 * M * N * K,
  source: src({ a: [M, K], b: [K, N] }, [M, N], 'return a @ b'),
  tf: (tf, [a, b]) => tf.matMul(a!, b!),
});
const cases: Case[] = [];
if (quick) cases.push(matmulCase(64, 64, 64), matmulCase(1, 64, 256, 'GEMV'));
else {
  cases.push(matmulCase(256, 256, 256), matmulCase(512, 512, 512), matmulCase(1024, 1024, 1024));
  cases.push(matmulCase(128, 768, 3072, 'GPT-2 MLP up'), matmulCase(128, 3072, 768, 'GPT-2 MLP down'), matmulCase(1, 768, 3072, 'decode GEMV'));
}
{
  const [rows_, len] = quick ? [16, 256] : [1024, 1024];
  cases.push({
    kernel: 'softmax', name: `${T([rows_, len])}, last axis`, unit: 'GB/s', work: 2 * rows_ * len * 4,
    source: src({ x: [rows_, len] }, [rows_, len], 'return softmax(x)'), tf: (tf, [x]) => tf.softmax(x!),
  });
  const [r2, d] = quick ? [16, 256] : [512, 768];
  cases.push({
    kernel: 'layer_norm', name: `${T([r2, d])} with weight and bias`, unit: 'GB/s', work: (2 * r2 * d + 2 * d) * 4,
    source: src({ x: [r2, d], w: [d], b: [d] }, [r2, d], 'return layer_norm(x, w, b, 1e-5)'),
    // TF.js core has no layer norm op: tf.moments, then (x − mean)·rsqrt(var + ε)·w + b.
    tf: (tf, [x, w, b]) => {
      const { mean, variance } = tf.moments(x!, -1, true);
      return tf.add(tf.mul(tf.mul(tf.sub(x!, mean), tf.rsqrt(tf.add(variance, 1e-5))), w!), b!);
    },
  });
  const [r3, n3] = quick ? [16, 1024] : [512, 3072];
  cases.push({
    kernel: 'gelu', name: `${T([r3, n3])}, exact (erf)`, unit: 'GB/s', work: 2 * r3 * n3 * 4,
    source: src({ x: [r3, n3] }, [r3, n3], 'return gelu(x)'),
    // TF.js core has no GELU op: x · ½(1 + erf(x/√2)) as tfjs-layers composes it.
    tf: (tf, [x]) => tf.mul(tf.mul(x!, 0.5), tf.add(1, tf.erf(tf.mul(x!, Math.SQRT1_2)))),
  });
}
for (const S of quick ? [32] : [128, 256, 512, 1024]) {
  const d = quick ? 64 : 768;
  const H = quick ? 2 : 12;
  // Causal: each query attends to its prefix, about S²/2 (q·k and p·v) pairs of d-long dot products.
  cases.push({
    kernel: 'attention', name: `causal, seq ${S}, ${H} heads of ${d / H}`, unit: 'GFLOP/s', work: 2 * 2 * d * (S * (S + 1)) / 2,
    source: src({ q: [1, S, d], k: [1, S, d], v: [1, S, d] }, [1, S, d], `return attention(q, k, v, heads = ${H}, causal = true)`),
    tf: (tf, [q, k, v]) => {
      const heads = (x: import('@tensorflow/tfjs-core').Tensor) => tf.transpose(tf.reshape(x, [S, H, d / H]), [1, 0, 2]);
      const mask = tf.mul(tf.sub(1, tf.linalg.bandPart(tf.ones([S, S]), -1, 0)), -1e9);
      const scores = tf.add(tf.mul(tf.matMul(heads(q!), heads(k!), false, true), 1 / Math.sqrt(d / H)), mask);
      return tf.reshape(tf.transpose(tf.matMul(tf.softmax(scores), heads(v!)), [1, 0, 2]), [1, S, d]);
    },
  });
}

// ------------------------------------------------------------------ mdc

function graphOf(c: Case): Graph {
  const r = lower(c.source, 'bench.model');
  if (!r.graph) throw new Error(`${c.name}: ${r.diagnostics.map((d) => d.message).join('; ')}`);
  return r.graph;
}

const inputsOf = (plan: Plan) => Object.fromEntries(plan.inputs.map((io) =>
  [io.name, randomInput(plan.buffers[io.buffer]!.type, io.shape.reduce((a, b) => a * b, 1), 3, io.name)] as const));

/** A timer of a plan's kernel steps, run back to back in one pass, inputs random; `release` frees its buffers. */
async function planTimer(device: GPUDevice, plan: Plan): Promise<Timer & { release(): Promise<void> }> {
  const inputs = inputsOf(plan);
  const buffers = plan.buffers.map((b) => {
    const io = plan.inputs.find((x) => x.buffer === b.id);
    return storageBuffer(device, io ? inputs[io.name]! : b.bytes / 4);
  });
  const release = async () => { for (const b of buffers) b.destroy(); };
  try {
    const pipelines: GPUComputePipeline[] = [];
    for (const k of plan.kernels) pipelines.push(await pipelineOf(device, k.wgsl, k.file));
    const steps = plan.steps.flatMap((s) => (s.kind === 'collective' ? [] : [{
      pipeline: pipelines[s.kernel]!, bindGroup: bindGroupOf(device, pipelines[s.kernel]!, s.buffers.map((b) => buffers[b]!)), dispatch: s.dispatch,
    }]));
    const timer = await dispatchTimer(device, steps, timing);
    return { sample: () => timer.sample(), release };
  } catch (e) {
    await release();
    throw e;
  }
}

const gpu = await nodeGPU();
const { device, adapter, description } = await nodeDevice();
const subgroupSize = adapterSubgroupSize(adapter);
const base: KernelTarget = subgroupSize ? { subgroupSize } : {};
console.log(`adapter: ${description}${subgroupSize ? `, subgroups of ${subgroupSize}` : ', no subgroups'}`);

let target = base;
const won: { shapeClass: string; config: string; tuned: boolean }[] = [];
if (!quick) {
  const t0 = performance.now();
  const shapes = cases.filter((c) => c.kernel === 'matmul').flatMap((c) => matmulShapes(graphOf(c)));
  const tuned = await tuneTarget(device, description, base, shapes, { log: (l) => console.log(l) });
  target = tuned.target;
  for (const [cls, v] of tuned.classes) won.push({ shapeClass: cls, config: configName(v.config), tuned: !!v.run });
  notes.push(`Matmul tile configurations come from the tuning cache (${relative(process.cwd(), defaultCacheFile())}); ${[...tuned.classes.values()].filter((v) => v.run).length} shape classes were tuned in this run (${((performance.now() - t0) / 1000).toFixed(1)} s).`);
}

// ------------------------------------------------------------------ peers

const failures: PeerFailure[] = [];
provideNavigatorGpu(gpu);
let tfPeer: TfPeer | undefined;
let ortPeer: OrtPeer | undefined;
try { tfPeer = await startTf(); } catch (e) { failures.push({ name: 'TensorFlow.js webgpu', reason: (e as Error).message.split('\n')[0]! }); }
if (quick) failures.push({ name: 'ONNX Runtime Web webgpu', reason: 'skipped in --quick mode: compiling its WebAssembly module takes about a minute on this machine' });
else try { ortPeer = await startOrt(device); } catch (e) { failures.push({ name: 'ONNX Runtime Web webgpu', reason: (e as Error).message.split('\n')[0]! }); }

// ------------------------------------------------------------------ measure

const started = performance.now();
const rate = (c: Case, ms: number) => round(c.work / (ms / 1000) / 1e9);
for (const c of cases) {
  const g = graphOf(c);
  const plan = buildPlan(g, { target });
  const inputs = inputsOf(plan);
  // Every implementation is warmed up first; then their samples alternate (see interleave).
  const timers: { impl: string; timer: Timer; release?: () => Promise<void> | void }[] = [];
  timers.push({ impl: 'mdc', ...await planTimer(device, plan).then((t) => ({ timer: t, release: t.release })) });
  if (c.kernel === 'matmul') {
    const { shape: s } = matmulShape(g.nodes[0]!, g);
    notes.push(`${c.name}: mdc ran ${plan.kernels[0]!.name} (${configName(chooseConfig(s, target))}; class ${shapeClass(s)}).`);
    if (!quick) {
      const t = await planTimer(device, buildPlan(g));
      timers.push({ impl: 'mdc portable default (no subgroups, untuned)', timer: t, release: t.release });
    }
  }
  if (tfPeer && c.tf) {
    try {
      const tf = tfPeer.tf;
      const xs = plan.inputs.map((io) => tf.tensor(inputs[io.name]!, [...io.shape]));
      timers.push({ impl: tfPeer.name, timer: await tfPeer.timer(() => c.tf!(tf, xs), timing), release: () => xs.forEach((x) => x.dispose()) });
    } catch (e) {
      notes.push(`${c.name}: TF.js failed: ${(e as Error).message.split('\n')[0]}`);
    }
  }
  if (ortPeer) {
    try {
      const t = await ortPeer.timer(g, inputs, timing);
      timers.push({ impl: ortPeer.name, timer: t, release: t.release });
    } catch (e) {
      notes.push(`${c.name}: ONNX Runtime Web failed: ${(e as Error).message.split('\n')[0]}`);
    }
  }
  const medians = await interleave(timers.map((t) => t.timer), RUNS);
  timers.forEach((t, i) => rows.push({ kernel: c.kernel, case: c.name, impl: t.impl, median: rate(c, medians[i]!), unit: c.unit }));
  for (const t of timers) await t.release?.();
  const last = rows.filter((r) => r.case === c.name);
  console.log(last.map((r) => `${r.kernel} | ${r.case} | ${r.impl} | ${r.median} ${r.unit}`).join('\n'), `(${((performance.now() - started) / 1000).toFixed(1)} s)`);
}

// ------------------------------------------------------------------ report

const peers = [tfPeer?.name, ortPeer?.name].filter((x): x is string => !!x);
const ratios = cases.flatMap((c) => {
  const mdc = rows.find((r) => r.case === c.name && r.impl === 'mdc');
  return peers.flatMap((p) => {
    const peer = rows.find((r) => r.case === c.name && r.impl === p);
    return mdc && peer ? [{ kernel: c.kernel, case: c.name, peer: p, ratio: round(mdc.median / peer.median) }] : [];
  });
});
const ratioOf = (c: string, p: string) => ratios.find((r) => r.case === c && r.peer === p)?.ratio;
const md = [
  '# Kernel benchmark',
  '',
  `Adapter: **${description}**${subgroupSize ? ` (subgroups of ${subgroupSize})` : ''}. Node ${process.version}, ${process.platform} ${process.arch}, ${new Date().toISOString().slice(0, 10)}.`,
  `Medians of ${RUNS} samples after a warm-up, each sample one submission timed to queue completion (onSubmittedWorkDone); kernels shorter than ${timing.targetMs} ms are repeated within a sample. The implementations' samples alternate, so load from elsewhere on the machine falls on all of them alike. Higher is better everywhere.${quick ? ' Quick smoke run.' : ''}`,
  '',
  '| kernel | case | impl | median | unit |',
  '|---|---|---|---:|---|',
  ...rows.map((r) => `| ${r.kernel} | ${r.case} | ${r.impl} | ${r.median} | ${r.unit} |`),
  '',
  '## mdc / peer',
  '',
  `| kernel | case | ${peers.join(' | ')} |`,
  `|---|---|${peers.map(() => '---:|').join('')}`,
  ...cases.map((c) => `| ${c.kernel} | ${c.name} | ${peers.map((p) => { const r = ratioOf(c.name, p); return r === undefined ? '—' : `${r}×`; }).join(' | ')} |`),
  '',
  ...(failures.length ? ['## Peers that could not run', '', ...failures.map((f) => `- ${f.name}: ${f.reason}`), ''] : []),
  ...(won.length ? ['## Matmul tile configurations (per shape class)', '', ...won.map((w) => `- ${w.shapeClass}: ${w.config}${w.tuned ? ' (tuned in this run)' : ' (from the cache)'}`), ''] : []),
  '## Notes',
  '',
  '- Work counted: matmul 2·M·N·K flops; softmax, GELU: the tensor read once and written once; layer norm: also the weight and bias; attention: 2·2·d·S(S+1)/2 flops (the causal half of q·kᵀ and p·v).',
  '- TF.js layer norm is tf.moments then (x − mean)·rsqrt(var + ε)·w + b, GELU is x·½(1+erf(x/√2)) (core has neither op), attention is reshape/transpose/matMul/softmax/matMul with an additive causal mask. ONNX Runtime runs the graph mdc exports for its cross-checks (test/support/onnx.ts), inputs and outputs on the GPU.',
  '- ONNX Runtime Web needs a shim here: its WebGPU provider passes `queue.writeBuffer` views of its shared WebAssembly memory, which Dawn\'s Node binding refuses; bench/peers.ts copies them first.',
  ...notes.map((n) => `- ${n}`),
  '',
].join('\n');
console.log(md);
if (!quick) {
  mkdirSync('bench/results', { recursive: true });
  writeFileSync('bench/results/kernels.md', md);
  writeFileSync('bench/results/kernels.json', JSON.stringify({
    adapter: description, subgroupSize: subgroupSize ?? null, date: new Date().toISOString().slice(0, 10), runs: RUNS,
    rows, ratios, peersNotRun: failures, matmulConfigs: won,
  }, null, 2) + '\n');
}
device.destroy();
process.exit(0);
