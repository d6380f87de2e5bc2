/// <reference types="@webgpu/types" />
/**
 * Kernel benchmark: mdc's generated WGSL against TensorFlow.js's WebGPU backend and ONNX
 * Runtime Web's WebGPU provider, measured in the same run on the same adapter (here
 * Mesa's llvmpipe unless the machine has a GPU). Matmul in GFLOP/s at 256³, 512³, 1024³
 * and transformer shapes (including the M = 1 decode GEMV), softmax / layer norm / GELU
 * in GB/s (bytes read + written once), attention in GFLOP/s for sequence 128–1024,
 * matmuls with a transposed b (tied-embedding logits, fused and --no-fuse), and the
 * latency of GPT-2-small-shaped forwards at sequence 128 and 1 (bench/forward.ts) fused,
 * unfused (`--no-fuse`) and through the peers, with the unfused forward's time split by
 * kind of kernel.
 * Every number is the median of several samples after a warm-up, each sample timed to
 * queue completion (onSubmittedWorkDone); short kernels are repeated within a sample.
 *
 * mdc's matmuls use the adapter's target (its subgroups) and a tuning table from the
 * per-adapter cache (codegen/tune/cache.ts), tuning the classes it lacks first; the
 * untuned portable default is reported too. Writes bench/results/kernels.md and
 * kernels.json. `--quick`: small sizes, two samples, no tuning, no ONNX Runtime (its
 * WebAssembly module alone takes about a minute to compile here), nothing written (CI smoke).
 * `--forward-only`: only the forward, nothing written. Norm and softmax written out in
 * primitive ops are also timed with fusion off (`--no-fuse`).
 * `--only KERNEL`: the cases of that kernel alone, printed, nothing written.
 * Run: npm run bench:kernels [-- --quick | --forward-only | --only KERNEL]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { relative } from 'node:path';
import { configName, chooseConfig } from '../codegen/kernels/matmul/config.js';
import type { KernelTarget } from '../codegen/kernels/kernel.js';
import { matmulShape, shapeClass } from '../codegen/kernels/matmul/shape.js';
import { optimize, planOf } from '../driver/stages.js';
import { defaultCacheFile } from '../codegen/tune/cache.js';
import { matmulShapes, tuneTarget } from '../codegen/tune/index.js';
import { bindGroupOf, dispatchTimer, interleave, pipelineOf, storageBuffer, type Timer, type TimingOptions } from '../codegen/tune/time.js';
import { lower } from '../compiler/compile.js';
import { FUSIBLE_ELEMENTWISE } from '../compiler/fusion/fuse.js';
import type { Graph } from '../compiler/ir.js';
import { PlanRunner, planTraffic, randomInput, toHalves, type Plan, type PlanTraffic } from '../runtime/index.js';
import { adapterSubgroupSize, nodeDevice, nodeGPU } from '../runtime/node.js';
import { forwardParams, gpt2Forward, tfGpt2, type ForwardCase } from './forward.js';
import { provideNavigatorGpu, startOrt, startTf, type OrtPeer, type PeerFailure, type TfPeer } from './peers.js';
import { relativeL2 } from '../test/support/rel-error.js';
import { benchArgs } from './args.js';

const args = benchArgs({
  command: 'bench:kernels',
  about:
    "mdc's generated WGSL against TensorFlow.js's WebGPU backend and ONNX Runtime Web's WebGPU provider on this machine's adapter: matmul, " +
    'softmax, layer norm, GELU, attention, transposed matmuls, and GPT-2-small-shaped forwards fused, unfused and through the peers.',
  writes: 'bench/results/kernels.md and kernels.json (not with --quick, --forward-only or --only).',
  flags: {
    quick: { type: 'boolean', help: 'small sizes, two samples, no tuning, no ONNX Runtime, nothing written (the CI smoke run)' },
    'forward-only': { type: 'boolean', help: 'only the forward passes, nothing written' },
    only: { type: 'string', value: 'KERNEL', help: "only that kernel's cases, by its full name (softmax, attention written out), printed, nothing written" },
  },
  words: { value: 'WORDS', help: "after --only, the rest of a kernel's name: --only attention written out" },
  check: (v) =>
    v.only === undefined && v.words.length > 0
      ? `unexpected argument '${v.words[0]}'; words continue a kernel's name after --only`
      : v.only !== undefined && !v.only.trim()
        ? '--only needs a kernel name, e.g. --only softmax'
        : undefined,
});
const { quick } = args;
const forwardOnly = args['forward-only'];
/** `--only KERNEL`: the cases of that kernel alone, by its full name (words after it continue the name); no forward, nothing written. */
const only = args.only === undefined ? undefined : [args.only, ...args.words].join(' ');
const RUNS = quick ? 2 : 7;
const FORWARD_RUNS = quick ? 2 : 11;
/** ms of idle before each sample: a peer's worker threads still spinning after its sample would otherwise run into the next one on this two-core machine. */
const PAUSE_MS = 50;
const timing: TimingOptions = { runs: RUNS, reps: 'auto', targetMs: quick ? 5 : 40 };

interface Row {
  kernel: string;
  case: string;
  impl: string;
  median: number;
  unit: string;
}
const rows: Row[] = [];
const notes: string[] = [];
const round = (x: number) => Number(x.toPrecision(4));
const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(1);

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
  /** Changes to mdc's target for this case (f16 storage on or off). */
  readonly target?: Partial<KernelTarget>;
  /** Also time mdc's plan with fusion off (`--no-fuse`). */
  readonly unfused?: boolean;
}

const T = (s: readonly number[]) => `f32[${s.join(', ')}]`;
const src = (args: Record<string, readonly number[]>, ret: readonly number[], body: string) =>
  `model B(${Object.entries(args)
    .map(([n, s]) => `${n}: ${T(s)}`)
    .join(', ')}) -> ${T(ret)} {\n  ${body}\n}\n`;

const matmulCase = (M: number, K: number, N: number, label?: string): Case => ({
  kernel: 'matmul',
  name: `${M}×${K} @ ${K}×${N}${label ? ` (${label})` : ''}`,
  unit: 'GFLOP/s',
  work: 2 * M * N * K,
  source: src({ a: [M, K], b: [K, N] }, [M, N], 'return a @ b'),
  tf: (tf, [a, b]) => tf.matMul(a!, b!),
});
const cases: Case[] = [];
if (forwardOnly) {
  /* the forward alone */
} else if (quick) cases.push(matmulCase(64, 64, 64), matmulCase(1, 64, 256, 'GEMV'));
else {
  cases.push(matmulCase(256, 256, 256), matmulCase(512, 512, 512), matmulCase(1024, 1024, 1024));
  cases.push(matmulCase(128, 768, 3072, 'GPT-2 MLP up'), matmulCase(128, 3072, 768, 'GPT-2 MLP down'), matmulCase(1, 768, 3072, 'decode GEMV'));
  // Logits against a tied embedding stored [vocab, d]: b read transposed (folded into the matmul, no copy).
  for (const [M, label] of [
    [128, 'GPT-2 logits'],
    [1, 'decode logits'],
  ] as const) {
    const [K, N] = [768, 8192];
    cases.push({
      kernel: 'matmul, b transposed',
      name: `${M}×${K} @ transpose(${N}×${K}) (${label})`,
      unit: 'GFLOP/s',
      work: 2 * M * N * K,
      source: src({ a: [M, K], b: [N, K] }, [M, N], 'return a @ transpose(b, [1, 0])'),
      tf: (tf, [a, b]) => tf.matMul(a!, b!, false, true),
      unfused: true,
    });
  }
}
if (!forwardOnly) {
  const [rows_, len] = quick ? [16, 256] : [1024, 1024];
  cases.push({
    kernel: 'softmax',
    name: `${T([rows_, len])}, last axis`,
    unit: 'GB/s',
    work: 2 * rows_ * len * 4,
    source: src({ x: [rows_, len] }, [rows_, len], 'return softmax(x)'),
    tf: (tf, [x]) => tf.softmax(x!),
  });
  const [r2, d] = quick ? [16, 256] : [512, 768];
  cases.push({
    kernel: 'layer_norm',
    name: `${T([r2, d])} with weight and bias`,
    unit: 'GB/s',
    work: (2 * r2 * d + 2 * d) * 4,
    source: src({ x: [r2, d], w: [d], b: [d] }, [r2, d], 'return layer_norm(x, w, b, 1e-5)'),
    // TF.js core has no layer norm op: tf.moments, then (x − mean)·rsqrt(var + ε)·w + b.
    tf: (tf, [x, w, b]) => {
      const { mean, variance } = tf.moments(x!, -1, true);
      return tf.add(tf.mul(tf.mul(tf.sub(x!, mean), tf.rsqrt(tf.add(variance, 1e-5))), w!), b!);
    },
  });
  const [r3, n3] = quick ? [16, 1024] : [512, 3072];
  cases.push({
    kernel: 'gelu',
    name: `${T([r3, n3])}, exact (erf)`,
    unit: 'GB/s',
    work: 2 * r3 * n3 * 4,
    source: src({ x: [r3, n3] }, [r3, n3], 'return gelu(x)'),
    // TF.js core has no GELU op: x · ½(1 + erf(x/√2)) as tfjs-layers composes it.
    tf: (tf, [x]) => tf.mul(tf.mul(x!, 0.5), tf.add(1, tf.erf(tf.mul(x!, Math.SQRT1_2)))),
  });
}
// Norm and softmax written out in primitive ops: fusion makes each one rows kernel;
// `--no-fuse` runs one kernel per op. TF.js runs the same ops.
if (!forwardOnly) {
  const [r4, d4] = quick ? [16, 256] : [512, 768];
  cases.push({
    kernel: 'layer_norm written out',
    name: `${T([r4, d4])}: mean, x − mean, square, mean, + ε, rsqrt, ·, ·w, +b`,
    unit: 'GB/s',
    work: (2 * r4 * d4 + 2 * d4) * 4,
    unfused: true,
    source: src(
      { x: [r4, d4], w: [d4], b: [d4] },
      [r4, d4],
      'let xc = x - mean(x, -1, keepdim = true)\n  return xc * rsqrt(mean(xc * xc, -1, keepdim = true) + 0.00001) * w + b',
    ),
    tf: (tf, [x, w, b]) => {
      const xc = tf.sub(x!, tf.mean(x!, -1, true));
      return tf.add(tf.mul(tf.mul(xc, tf.rsqrt(tf.add(tf.mean(tf.mul(xc, xc), -1, true), 1e-5))), w!), b!);
    },
  });
  const [r5, n5] = quick ? [16, 256] : [1024, 1024];
  cases.push({
    kernel: 'softmax written out',
    name: `${T([r5, n5])}: max, x − max, exp, sum, ÷`,
    unit: 'GB/s',
    work: 2 * r5 * n5 * 4,
    unfused: true,
    source: src({ x: [r5, n5] }, [r5, n5], 'let e = exp(x - max(x, -1, keepdim = true))\n  return e / sum(e, -1, keepdim = true)'),
    tf: (tf, [x]) => {
      const e = tf.exp(tf.sub(x!, tf.max(x!, -1, true)));
      return tf.div(e, tf.sum(e, -1, true));
    },
  });
}
// An MLP block whose activations are f16 (the casts of the input and weights, the hidden
// activation), stored as f16 where the adapter has shader-f16 and as f32 otherwise (the
// same plan otherwise; the casts run in both).
if (!forwardOnly && !quick) {
  const [M, d, f] = [128, 768, 3072];
  const mlp = src({ x: [M, d], w1: [d, f], w2: [f, d] }, [M, d], 'let h = gelu(cast(x, "f16") @ cast(w1, "f16"))\n  return cast(h @ cast(w2, "f16"), "f32")');
  for (const half of [true, false]) {
    cases.push({
      kernel: 'mlp_block',
      name: `${M}×${d} → ${f} (GELU) → ${d}, f16 activations stored as ${half ? 'f16' : 'f32'}`,
      unit: 'GFLOP/s',
      work: 2 * 2 * M * d * f,
      source: mlp,
      target: { shaderF16: half },
      tf: (tf, [x, w1, w2]) => {
        const a = tf.matMul(x!, w1!);
        return tf.matMul(tf.mul(tf.mul(a, 0.5), tf.add(1, tf.erf(tf.mul(a, Math.SQRT1_2)))), w2!);
      },
    });
  }
  // The same block with its weights as parameters: f16 ones, which the plan stores as f16
  // (no cast kernels for them), against f32 ones with no casts at all. mdc only: the
  // peer's weights would be inputs.
  for (const dt of ['f16', 'f32']) {
    const body = dt === 'f16' ? 'return cast(gelu(cast(x, "f16") @ w1) @ w2, "f32")' : 'return gelu(x @ w1) @ w2';
    cases.push({
      kernel: 'mlp_block',
      name: `${M}×${d} → ${f} (GELU) → ${d}, ${dt} weights and activations${dt === 'f16' ? ' stored as f16' : ''}`,
      unit: 'GFLOP/s',
      work: 2 * 2 * M * d * f,
      source: `model B(x: ${T([M, d])}) -> ${T([M, d])} {\n  param w1: ${dt}[${d}, ${f}] = normal(0, 0.02)\n  param w2: ${dt}[${f}, ${d}] = normal(0, 0.02)\n  ${body}\n}\n`,
      ...(dt === 'f16' ? { target: { shaderF16: true } } : {}),
    });
  }
}
for (const S of forwardOnly ? [] : quick ? [32] : [128, 256, 512, 1024]) {
  const d = quick ? 64 : 768;
  const H = quick ? 2 : 12;
  // Causal: each query attends to its prefix, about S²/2 (q·k and p·v) pairs of d-long dot products.
  cases.push({
    kernel: 'attention',
    name: `causal, seq ${S}, ${H} heads of ${d / H}`,
    unit: 'GFLOP/s',
    work: (2 * 2 * d * (S * (S + 1))) / 2,
    source: src({ q: [1, S, d], k: [1, S, d], v: [1, S, d] }, [1, S, d], `return attention(q, k, v, heads = ${H}, causal = true)`),
    tf: (tf, [q, k, v]) => {
      const heads = (x: import('@tensorflow/tfjs-core').Tensor) => tf.transpose(tf.reshape(x, [S, H, d / H]), [1, 0, 2]);
      const mask = tf.mul(tf.sub(1, tf.linalg.bandPart(tf.ones([S, S]), -1, 0)), -1e9);
      const scores = tf.add(tf.mul(tf.matMul(heads(q!), heads(k!), false, true), 1 / Math.sqrt(d / H)), mask);
      return tf.reshape(tf.transpose(tf.matMul(tf.softmax(scores), heads(v!)), [1, 0, 2]), [1, S, d]);
    },
  });
}

// Attention written out (no mask: a mask tensor cannot be proven causal): fusion makes it
// the flash-style op, `--no-fuse` runs matmul, scale, softmax, matmul with the score matrix in memory.
for (const S of forwardOnly ? [] : quick ? [32] : [256, 1024]) {
  const [H, Dh] = quick ? [2, 32] : [12, 64];
  const shape = [1, H, S, Dh];
  cases.push({
    kernel: 'attention written out',
    name: `softmax(q @ transpose(k) · c) @ v, [1, ${H}, ${S}, ${Dh}]`,
    unit: 'GFLOP/s',
    work: 2 * 2 * H * Dh * S * S,
    unfused: true,
    source: src({ q: shape, k: shape, v: shape }, shape, `return softmax(q @ transpose(k) * ${1 / Math.sqrt(Dh)}) @ v`),
    tf: (tf, [q, k, v]) => tf.matMul(tf.softmax(tf.mul(tf.matMul(q!, k!, false, true), 1 / Math.sqrt(Dh))), v!),
  });
}

if (only) cases.splice(0, cases.length, ...cases.filter((c) => c.kernel === only));
if (only && !cases.length) throw new Error(`--only ${only}: no case of that kernel`);

// ------------------------------------------------------------------ mdc

function graphOf(c: Case): Graph {
  const r = lower(c.source, 'bench.model');
  if (!r.graph) throw new Error(`${c.name}: ${r.diagnostics.map((d) => d.message).join('; ')}`);
  return r.graph;
}

const inputsOf = (plan: Plan) =>
  Object.fromEntries(
    plan.inputs.map(
      (io) =>
        [
          io.name,
          randomInput(
            plan.buffers[io.buffer]!.type,
            io.shape.reduce((a, b) => a * b, 1),
            3,
            io.name,
            io.max,
          ),
        ] as const,
    ),
  );

interface PlanTimerOptions {
  /** Parameter values by name (default: zeros). */
  readonly params?: ReadonlyMap<string, Float32Array>;
  /** Only the kernel steps of these ops (default: all). */
  readonly keep?: (op: string) => boolean;
}

/** A timer of a plan's kernel steps, run back to back in one pass, inputs random; `release` frees its buffers. */
async function planTimer(device: GPUDevice, plan: Plan, opts: PlanTimerOptions = {}): Promise<Timer & { release(): Promise<void> }> {
  const inputs = inputsOf(plan);
  const buffers = plan.buffers.map((b) => {
    const io = plan.inputs.find((x) => x.buffer === b.id);
    const param = b.role === 'param' ? opts.params?.get(b.name) : undefined;
    // A parameter stored as f16 takes its halves, as the runner uploads it.
    return storageBuffer(device, io ? inputs[io.name]! : param ? (b.type === 'f16' ? toHalves(param, b.bytes) : param) : b.bytes / 4);
  });
  const release = async () => {
    for (const b of buffers) b.destroy();
  };
  try {
    const pipelines: GPUComputePipeline[] = [];
    for (const k of plan.kernels) pipelines.push(await pipelineOf(device, k.wgsl, k.file));
    const steps = plan.steps.flatMap((s) =>
      s.kind === 'collective' || (opts.keep && !opts.keep(s.op))
        ? []
        : [
            {
              pipeline: pipelines[s.kernel]!,
              bindGroup: bindGroupOf(
                device,
                pipelines[s.kernel]!,
                s.buffers.map((b) => buffers[b]!),
              ),
              dispatch: s.dispatch,
            },
          ],
    );
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

/** The GPT-2-small-shaped forwards (sequence 128, and 1: one decode step's shape), lowered once: their matmul shapes are tuned, then they are timed. */
const forwardCases = [gpt2Forward(quick), gpt2Forward(quick, 1)];
let target = base;
const won: { shapeClass: string; config: string; tuned: boolean }[] = [];
if (!quick) {
  const t0 = performance.now();
  const shapes = [
    ...cases.filter((c) => c.kernel === 'matmul').flatMap((c) => matmulShapes(optimize(graphOf(c)).graph)),
    ...forwardCases.flatMap((f) => [...matmulShapes(optimize(f.graph).graph), ...matmulShapes(f.graph)]),
  ];
  const tuned = await tuneTarget(device, description, base, shapes, { log: (l) => console.log(l) });
  target = tuned.target;
  for (const [cls, v] of tuned.classes) won.push({ shapeClass: cls, config: configName(v.config), tuned: !!v.run });
  notes.push(
    `Row kernels (norms, softmax, last-axis reductions, fused rows bodies): rows shorter than ${tuned.rows.rowUnits ?? 'the default'} units (four elements where the row allows), and every row under 32 elements, take one invocation instead of a workgroup, ${tuned.rows.run ? `tuned in this run (${tuned.rows.run.tried.map((t) => `${t.rowUnits}: score ${t.score.toFixed(2)}`).join(', ')}; 1 per shape is the best)` : 'from the cache'}.`,
  );
  notes.push(
    `Matmul tile configurations come from the tuning cache (${relative(process.cwd(), defaultCacheFile())}); ${[...tuned.classes.values()].filter((v) => v.run).length} shape classes were tuned in this run (${((performance.now() - t0) / 1000).toFixed(1)} s).`,
  );
}

// ------------------------------------------------------------------ peers

const failures: PeerFailure[] = [];
provideNavigatorGpu(gpu);
let tfPeer: TfPeer | undefined;
let ortPeer: OrtPeer | undefined;
try {
  tfPeer = await startTf();
} catch (e) {
  failures.push({ name: 'TensorFlow.js webgpu', reason: (e as Error).message.split('\n')[0]! });
}
if (quick)
  failures.push({ name: 'ONNX Runtime Web webgpu', reason: 'skipped in --quick mode: compiling its WebAssembly module takes about a minute on this machine' });
else
  try {
    ortPeer = await startOrt(device);
  } catch (e) {
    failures.push({ name: 'ONNX Runtime Web webgpu', reason: (e as Error).message.split('\n')[0]! });
  }

// ------------------------------------------------------------------ measure

const started = performance.now();
const rate = (c: Case, ms: number) => round(c.work / (ms / 1000) / 1e9);
for (const c of cases) {
  const g = graphOf(c);
  if (c.target?.shaderF16 && !adapter.features.has('shader-f16')) {
    notes.push(`${c.name}: skipped, the adapter has no shader-f16.`);
    continue;
  }
  const caseTarget: KernelTarget = { ...target, ...c.target };
  const plan = planOf(g, { target: caseTarget });
  const inputs = inputsOf(plan);
  // Every implementation is warmed up first; then their samples alternate (see interleave).
  const timers: { impl: string; timer: Timer; release?: () => Promise<void> | void }[] = [];
  timers.push({ impl: 'mdc', ...(await planTimer(device, plan).then((t) => ({ timer: t, release: t.release }))) });
  if (c.kernel === 'matmul') {
    const { shape: s } = matmulShape(g.nodes[0]!, g);
    notes.push(`${c.name}: mdc ran ${plan.kernels[0]!.name} (${configName(chooseConfig(s, target))}; class ${shapeClass(s)}).`);
  }
  if (c.unfused) {
    const t = await planTimer(device, planOf(g, { target: caseTarget, fuse: false }));
    timers.push({ impl: 'mdc --no-fuse', timer: t, release: t.release });
  }
  if (c.kernel === 'matmul' || c.kernel === 'attention') {
    if (!quick) {
      const t = await planTimer(device, planOf(g));
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
  const medians = await interleave(
    timers.map((t) => t.timer),
    RUNS,
    PAUSE_MS,
  );
  timers.forEach((t, i) => rows.push({ kernel: c.kernel, case: c.name, impl: t.impl, median: rate(c, medians[i]!), unit: c.unit }));
  for (const t of timers) await t.release?.();
  const last = rows.filter((r) => r.case === c.name);
  console.log(
    last.map((r) => `${r.kernel} | ${r.case} | ${r.impl} | ${r.median} ${r.unit}`).join('\n'),
    `(${((performance.now() - started) / 1000).toFixed(1)} s)`,
  );
}

// ------------------------------------------------------------------ GPT-2-small-shaped forward

interface ForwardReport {
  readonly case: string;
  readonly how: string;
  /** Dispatches and bytes bound per run (runtime/plan.ts planTraffic). */
  readonly traffic: { readonly fused: PlanTraffic; readonly unfused: PlanTraffic };
  /** Median ms per implementation. */
  readonly ms: Record<string, number>;
  /** The unfused forward's kernels by kind, each kind timed alone, in the same rounds as the whole unfused forward (`unfusedWhole`), ms. */
  readonly unfusedByKind: Record<string, number>;
  readonly unfusedWhole: number;
  /** Relative L2 difference of each peer's logits from mdc's. */
  readonly agreement: Record<string, number>;
}

async function measureForward(fwd: ForwardCase): Promise<ForwardReport> {
  const fused = planOf(fwd.graph, { target });
  const unfused = planOf(fwd.graph, { target, fuse: false });
  const params = forwardParams(fused);
  const inputs = inputsOf(fused);
  const runner = await PlanRunner.create(device, fused, { params });
  const logits = (await runner.run(inputs))['logits']!.data as Float32Array;
  runner.destroy();

  const agreement: Record<string, number> = {};
  const timers: { impl: string; timer: Timer; release?: () => Promise<void> | void }[] = [];
  const add = async (impl: string, plan: Plan) => {
    const t = await planTimer(device, plan, { params });
    timers.push({ impl, timer: t, release: t.release });
  };
  await add('mdc', fused);
  await add('mdc --no-fuse', unfused);
  if (tfPeer) {
    try {
      const model = tfGpt2(tfPeer.tf, fwd.graph, params, inputs['tokens'] as Int32Array);
      const out = model.forward();
      agreement[tfPeer.name] = relativeL2(await out.data(), logits);
      out.dispose();
      timers.push({ impl: tfPeer.name, timer: await tfPeer.timer(model.forward, timing), release: model.dispose });
    } catch (e) {
      notes.push(`${fwd.name}: TF.js failed: ${(e as Error).message.split('\n')[0]}`);
    }
  }
  if (ortPeer) {
    try {
      const t = await ortPeer.timer(fwd.graph, inputs, timing, params);
      agreement[ortPeer.name] = relativeL2((await t.run())['logits']!, logits);
      timers.push({ impl: ortPeer.name, timer: t, release: t.release });
    } catch (e) {
      notes.push(`${fwd.name}: ONNX Runtime Web failed: ${(e as Error).message.split('\n')[0]}`);
    }
  }
  // More samples than the kernels: fusion's effect here is a few percent, the size of the machine's noise.
  const medians = await interleave(
    timers.map((t) => t.timer),
    FORWARD_RUNS,
    PAUSE_MS,
  );
  const ms = Object.fromEntries(timers.map((t, i) => [t.impl, round(medians[i]!)]));
  for (const t of timers) await t.release?.();

  // Where the unfused forward's time goes: the element-wise kernels are all fusion can remove.
  const kinds: [string, (op: string) => boolean][] = [
    ['element-wise', (op) => FUSIBLE_ELEMENTWISE.has(op)],
    ['matmul', (op) => op === 'matmul'],
    ['attention', (op) => op === 'attention'],
    ['other (layer norm, embedding, slice, transpose)', (op) => !FUSIBLE_ELEMENTWISE.has(op) && op !== 'matmul' && op !== 'attention'],
  ];
  // Timed in the same rounds as the whole unfused forward, so that load from elsewhere falls on all alike.
  const parts: (Timer & { release(): Promise<void> })[] = [await planTimer(device, unfused, { params })];
  for (const [, keep] of kinds) parts.push(await planTimer(device, unfused, { params, keep }));
  const [whole, ...byKind] = await interleave(parts, Math.min(RUNS, 5), PAUSE_MS);
  for (const t of parts) await t.release();
  return {
    case: fwd.name,
    how: fwd.how,
    traffic: { fused: planTraffic(fused), unfused: planTraffic(unfused) },
    ms,
    unfusedWhole: round(whole!),
    unfusedByKind: Object.fromEntries(kinds.map(([k], i) => [k, round(byKind[i]!)])),
    agreement,
  };
}

if (only) {
  device.destroy();
  process.exit(0);
}
const forwards: ForwardReport[] = [];
for (const f of forwardCases) {
  const report = await measureForward(f);
  for (const [impl, ms] of Object.entries(report.ms)) rows.push({ kernel: 'gpt2 forward', case: report.case, impl, median: ms, unit: 'ms' });
  console.log(report);
  forwards.push(report);
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
/** Cases timed with fusion on and off: the fused rate over the unfused one. */
const fusion = cases
  .filter((c) => c.unfused)
  .flatMap((c) => {
    const on = rows.find((r) => r.case === c.name && r.impl === 'mdc');
    const off = rows.find((r) => r.case === c.name && r.impl === 'mdc --no-fuse');
    return on && off ? [{ kernel: c.kernel, case: c.name, fused: on.median, unfused: off.median, unit: c.unit, ratio: round(on.median / off.median) }] : [];
  });
/** Each implementation's forward latency over mdc's fused one: above 1, the fused forward is that many times faster. */
const ratiosOf = (f: ForwardReport) =>
  Object.fromEntries(
    Object.entries(f.ms)
      .filter(([impl]) => impl !== 'mdc')
      .map(([impl, ms]) => [impl, round(ms / f.ms['mdc']!)]),
  );

/** The report of one forward: what each plan asks of the device, the bound that sets, the latencies, where the unfused time goes. */
function forwardSection(f: ForwardReport, title: string): string[] {
  const ratios = ratiosOf(f);
  const total = Object.values(f.unfusedByKind).reduce((a, b) => a + b, 0);
  const share = (kind: string) => f.unfusedByKind[kind]! / total;
  const removable = share('element-wise') + share('other (layer norm, embedding, slice, transpose)');
  return [
    `## ${title}`,
    '',
    `${f.case}: ${f.how}. One forward to the logits, all kernels in one submission, timed to queue completion; medians of ${FORWARD_RUNS} samples; lower is better.`,
    '',
    'What each plan asks of the device per run (runtime/plan.ts `planTraffic`: the bytes of every buffer bound to a dispatch, counted once per dispatch; an estimate of memory traffic, since a gather or slice binds more than it touches and tiles are reread):',
    '',
    '| plan | dispatches | MiB bound |',
    '|---|---:|---:|',
    `| mdc fused | ${f.traffic.fused.dispatches} | ${mib(f.traffic.fused.bytes)} |`,
    `| mdc \`--no-fuse\` | ${f.traffic.unfused.dispatches} | ${mib(f.traffic.unfused.bytes)} |`,
    `| --no-fuse / fused | ${round(f.traffic.unfused.dispatches / f.traffic.fused.dispatches)}× | ${round(f.traffic.unfused.bytes / f.traffic.fused.bytes)}× |`,
    '',
    `The fused plan does no less arithmetic than the unfused one (a fused body may recompute an element-wise step), so these ratios are a rough guide to what fusion can give: on a device whose time went to dispatches it would approach the first, to uniform memory traffic the second. Kernels differ in what a byte costs them (the strided transpose of the embedding costs far more per byte than a contiguous copy), so a measured gain can exceed both. On this adapter the matmul kernels take ${(100 * share('matmul')).toFixed(1)}% of the unfused forward (below), and the measured gain is ${ratios['mdc --no-fuse']}×.`,
    '',
    '| impl | median ms | its time / mdc fused |',
    '|---|---:|---:|',
    ...Object.entries(f.ms).map(([impl, ms]) => `| ${impl} | ${ms} | ${impl === 'mdc' ? '1' : `${ratios[impl]}×`} |`),
    '',
    `Where the unfused forward's time goes: its kernels by kind, each kind timed alone in the same rounds as the whole unfused forward (${f.unfusedWhole} ms in these rounds; the parts sum to ${round(total)}):`,
    '',
    '| kind | ms | share of the sum |',
    '|---|---:|---:|',
    ...Object.entries(f.unfusedByKind).map(([k, ms]) => `| ${k} | ${ms} | ${((100 * ms) / total).toFixed(1)}% |`),
    '',
    `Fusion removes the element-wise kernels (folded into matmul epilogues or into one kernel per chain), the logits' transpose of the embedding (folded into their matmul) and the position embeddings' slice (read as a view), with the writes and reads of the values between them and their dispatches; it leaves the matmuls, attention, norms and the embedding gather as they are. The kinds it takes from (element-wise, and some of "other") are ${(100 * removable).toFixed(1)}% of the unfused forward timed by kind; measured gain: ${ratios['mdc --no-fuse']}×. Run-to-run noise on this shared two-core machine is a few percent for the sequence-128 forward and larger for the one-token one (a tenth of the time, more of it in small kernels).`,
    '',
    ...Object.entries(f.agreement).map(([peer, e]) => `- ${peer} computes the same logits: relative L2 difference from mdc's ${e.toExponential(2)}.`),
    '',
  ];
}
const [forward, decode] = forwards as [ForwardReport, ForwardReport];
const forwardMd = [
  ...forwardSection(forward, 'GPT-2-small-shaped forward'),
  ...forwardSection(decode, 'GPT-2-small-shaped forward, one token'),
  "- The TF.js forward is written with tfjs ops on the same weights (bench/forward.ts): tf.moments layer norm, tf.matMul, reshape/transpose attention with an additive causal mask, GPT-2's tanh GELU written out, logits by matMul with the embedding transposed. ONNX Runtime runs the exported graph.",
  '',
];
const md = [
  '# Kernel benchmark',
  '',
  `Adapter: **${description}**${subgroupSize ? ` (subgroups of ${subgroupSize})` : ''}. Node ${process.version}, ${process.platform} ${process.arch}, ${new Date().toISOString().slice(0, 10)}.`,
  `Medians of ${RUNS} samples after a warm-up, each sample one submission timed to queue completion (onSubmittedWorkDone); kernels shorter than ${timing.targetMs} ms are repeated within a sample. The implementations' samples alternate (in reverse order every other round), so load from elsewhere on the machine falls on all of them alike, with ${PAUSE_MS} ms of idle before each sample. Higher is better in the kernel tables; the forward is a latency (ms, lower is better).${quick ? ' Quick smoke run.' : ''}`,
  '',
  '| kernel | case | impl | median | unit |',
  '|---|---|---|---:|---|',
  ...rows.filter((r) => r.unit !== 'ms').map((r) => `| ${r.kernel} | ${r.case} | ${r.impl} | ${r.median} | ${r.unit} |`),
  '',
  ...forwardMd,
  '## mdc / peer',
  '',
  `| kernel | case | ${peers.join(' | ')} |`,
  `|---|---|${peers.map(() => '---:|').join('')}`,
  ...cases.map(
    (c) =>
      `| ${c.kernel} | ${c.name} | ${peers
        .map((p) => {
          const r = ratioOf(c.name, p);
          return r === undefined ? '—' : `${r}×`;
        })
        .join(' | ')} |`,
  ),
  '',
  '## Fusion on ops written out',
  '',
  'The same computation written in primitive ops, compiled with fusion (one rows kernel for the norm and the softmax; the flash attention kernel for attention; the matmul reading b in place for a transposed b) and with `--no-fuse` (one kernel per op: the score matrix in memory, the transposed copy of b made first).',
  '',
  '| kernel | case | fused | --no-fuse | fused / --no-fuse |',
  '|---|---|---:|---:|---:|',
  ...fusion.map((f) => `| ${f.kernel} | ${f.case} | ${f.fused} ${f.unit} | ${f.unfused} ${f.unit} | ${f.ratio}× |`),
  '',
  ...(failures.length ? ['## Peers that could not run', '', ...failures.map((f) => `- ${f.name}: ${f.reason}`), ''] : []),
  ...(won.length
    ? [
        '## Matmul tile configurations (per shape class)',
        '',
        ...won.map((w) => `- ${w.shapeClass}: ${w.config}${w.tuned ? ' (tuned in this run)' : ' (from the cache)'}`),
        '',
      ]
    : []),
  '## Notes',
  '',
  '- Work counted: matmul 2·M·N·K flops; softmax, GELU: the tensor read once and written once; layer norm: also the weight and bias; attention: 2·2·d·S(S+1)/2 flops (the causal half of q·kᵀ and p·v), written out (no mask): 2·2·d·S²; MLP block: the flops of its two matmuls (the casts and GELU are not counted). The first two mdc rows of the MLP block run the same plan except for the storage of its f16 activations (f16 needs shader-f16), its weights given as inputs and cast to f16 in every run; the peers compute it in f32. The last two take the weights as parameters: f16 ones stored as f16 (no casts of them), and f32 ones with no casts at all (mdc only).',
  '- TF.js layer norm is tf.moments then (x − mean)·rsqrt(var + ε)·w + b, GELU is x·½(1+erf(x/√2)) (core has neither op), attention is reshape/transpose/matMul/softmax/matMul with an additive causal mask. ONNX Runtime runs the graph mdc exports for its cross-checks (test/support/onnx.ts), inputs and outputs on the GPU.',
  "- ONNX Runtime Web needs a shim here: its WebGPU provider passes `queue.writeBuffer` views of its shared WebAssembly memory, which Dawn's Node binding refuses; bench/peers.ts copies them first.",
  ...notes.map((n) => `- ${n}`),
  '',
].join('\n');
console.log(md);
if (!quick && !forwardOnly) {
  mkdirSync('bench/results', { recursive: true });
  writeFileSync('bench/results/kernels.md', md);
  writeFileSync(
    'bench/results/kernels.json',
    JSON.stringify(
      {
        adapter: description,
        subgroupSize: subgroupSize ?? null,
        date: new Date().toISOString().slice(0, 10),
        runs: RUNS,
        rows,
        ratios,
        fusion,
        forward: { ...forward, ratios: ratiosOf(forward) },
        decode: { ...decode, ratios: ratiosOf(decode) },
        peersNotRun: failures,
        matmulConfigs: won,
      },
      null,
      2,
    ) + '\n',
  );
}
device.destroy();
process.exit(0);
