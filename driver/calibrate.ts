/// <reference types="@webgpu/types" />
/**
 * `mdc calibrate`: measures the local WebGPU adapter (here Mesa's llvmpipe) and describes it in
 * the hardware format (compiler/cost/hardware.ts), so that `mdc plan --hardware` can predict
 * steps on this machine. Each rate is the slope between two sizes of one mdc-compiled model run
 * through PlanRunner (the median of a few runs at each size), so fixed per-run costs fall out:
 *
 * - matmul: N×N @ N×N at two N → FLOP/s. An adapter has no datasheet here, so the measured matmul
 *   rate is the f32 peak and the matmul efficiency is 1;
 * - attention: one head over S keys at two S → its rate as a share of that peak;
 * - streaming: exp over two lengths → bytes read and written per second (memory efficiency 1);
 * - kernel latency: the slope between chains of 1 and 9 tiny matmuls (one kernel each);
 * - the link between devices of one machine (mdc's multi-device runs move collectives through
 *   the host): a buffer read back and written again, at two sizes → bandwidth; of 256 bytes → latency.
 */
import { compile } from './compile.js';
import { PlanRunner, type Plan } from '../runtime/index.js';
import type { Hardware } from '../compiler/cost/hardware.js';
import type { KernelTarget } from '../codegen/kernels/kernel.js';

export interface CalibrateOptions {
  /** Smaller sizes and fewer runs (tests, a quick look). */
  readonly quick?: boolean;
  readonly name?: string;
  /** The adapter's description, for the file's text. */
  readonly adapter?: string;
  /** Device memory to record (llvmpipe's is the host's). */
  readonly memoryBytes?: number;
  /** What the kernels may assume about the adapter (its subgroups), as `mdc run` compiles for it. */
  readonly target?: KernelTarget;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function runnerOf(device: GPUDevice, source: string, target: KernelTarget): Promise<PlanRunner> {
  const r = await compile(source, 'calibrate.model', { target });
  if (!r.plan) throw new Error(`calibration model did not compile: ${r.diagnostics.map((d) => d.message).join('; ')}`);
  return PlanRunner.create(device, r.plan as Plan);
}

/** Median seconds of a run of `source` with its one input `x` of `n` zeros (nothing read back). */
async function secondsOf(device: GPUDevice, target: KernelTarget, source: string, n: number, runs: number): Promise<number> {
  const runner = await runnerOf(device, source, target);
  const x = new Float32Array(n);
  await runner.run({ x }, []);
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await runner.run({ x }, []);
    await device.queue.onSubmittedWorkDone();
    times.push((performance.now() - t0) / 1000);
  }
  runner.destroy();
  return median(times);
}

/** Work per second from two sizes: (work2 − work1) / (t2 − t1); a slope that is not positive falls back to work2 / t2. */
const slope = (w1: number, t1: number, w2: number, t2: number) => (t2 > t1 ? (w2 - w1) / (t2 - t1) : w2 / t2);

const matmulModel = (n: number) => `model M(x: f32[${n}, ${n}]) -> f32[${n}, ${n}] {\n  param w: f32[${n}, ${n}] = normal(0, 0.02)\n  return x @ w\n}\n`;
const attentionModel = (s: number, d: number) =>
  `model A(x: f32[1, ${s}, ${d}]) -> f32[1, ${s}, ${d}] {\n  return attention(x, x, x, heads = 1, causal = false)\n}\n`;
const chainModel = (k: number) =>
  `model C(x: f32[8, 8]) -> f32[8, 8] {\n${Array.from({ length: k }, (_, i) => `  param w${i}: f32[8, 8] = normal(0, 0.02)\n`).join('')}` +
  `  let h = x @ w0\n${Array.from({ length: k - 1 }, (_, i) => `  h = h @ w${i + 1}\n`).join('')}  return h\n}\n`;
const streamModel = (n: number) => `model E(x: f32[${n}]) -> f32[${n}] {\n  return exp(x)\n}\n`;

/** Seconds to read a buffer of `bytes` back to the host and write it to the device again. */
async function hopSeconds(device: GPUDevice, bytes: number, runs: number): Promise<number> {
  const src = device.createBuffer({ size: bytes, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
  const read = device.createBuffer({ size: bytes, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const times: number[] = [];
  for (let i = 0; i <= runs; i++) {
    const t0 = performance.now();
    const enc = device.createCommandEncoder();
    enc.copyBufferToBuffer(src, 0, read, 0, bytes);
    device.queue.submit([enc.finish()]);
    await read.mapAsync(GPUMapMode.READ);
    const data = new Uint8Array(read.getMappedRange().slice(0));
    read.unmap();
    device.queue.writeBuffer(src, 0, data);
    await device.queue.onSubmittedWorkDone();
    if (i > 0) times.push((performance.now() - t0) / 1000);
  }
  src.destroy();
  read.destroy();
  return median(times);
}

export async function calibrate(device: GPUDevice, opts: CalibrateOptions = {}): Promise<Hardware & { measured: Record<string, number> }> {
  const q = !!opts.quick;
  const runs = q ? 3 : 5;
  const target = opts.target ?? {};
  const [n1, n2] = q ? [128, 256] : [256, 512];
  const tm1 = await secondsOf(device, target, matmulModel(n1), n1 * n1, runs);
  const tm2 = await secondsOf(device, target, matmulModel(n2), n2 * n2, runs);
  const matmul = slope(2 * n1 ** 3, tm1, 2 * n2 ** 3, tm2);
  const d = 64;
  const [s1, s2] = q ? [64, 128] : [128, 256];
  const ta1 = await secondsOf(device, target, attentionModel(s1, d), s1 * d, runs);
  const ta2 = await secondsOf(device, target, attentionModel(s2, d), s2 * d, runs);
  const attention = slope(4 * s1 * s1 * d, ta1, 4 * s2 * s2 * d, ta2);
  const [e1, e2] = q ? [1 << 16, 1 << 18] : [1 << 18, 1 << 20];
  const te1 = await secondsOf(device, target, streamModel(e1), e1, runs);
  const te2 = await secondsOf(device, target, streamModel(e2), e2, runs);
  // Each run also writes its input (n floats) to the device: counted as traffic too.
  const bandwidth = slope(12 * e1, te1, 12 * e2, te2);
  // Per kernel: the slope between chains of 1 and 9 tiny matmuls (fixed costs of a run fall out).
  const tk1 = await secondsOf(device, target, chainModel(1), 64, runs);
  const tk9 = await secondsOf(device, target, chainModel(9), 64, runs);
  const latency = Math.max(0, (tk9 - tk1) / 8);
  const [b1, b2] = q ? [1 << 16, 1 << 20] : [1 << 18, 1 << 22];
  const th1 = await hopSeconds(device, b1, runs);
  const th2 = await hopSeconds(device, b2, runs);
  const link = slope(b1, th1, b2, th2);
  // A hop of 256 bytes is all latency.
  const hopLatency = await hopSeconds(device, 256, runs);
  const round = (x: number) => Number(x.toPrecision(4));
  const name = opts.name ?? 'llvmpipe';
  return {
    name,
    description: `Measured by mdc calibrate on ${opts.adapter ?? 'this machine'}: one WebGPU adapter; several devices of it exchange collectives through the host`,
    sources: [
      `mdc calibrate${q ? ' --quick' : ''}, ${new Date().toISOString().slice(0, 10)}: slopes between two sizes of mdc-compiled models run through PlanRunner (medians of ${runs} runs)`,
      `matmul ${n1}³ and ${n2}³, attention S = ${s1} and ${s2} (one head of ${d}), exp over ${e1} and ${e2} floats, host hops of ${b1} and ${b2} bytes`,
      'no datasheet: the measured matmul rate is the f32 peak (matmul efficiency 1); other kernels are shares of it; memory efficiency 1 of the measured bandwidth',
    ],
    peakFlops: { f32: round(matmul) },
    efficiency: { matmul: 1, attention: round(Math.min(1, attention / matmul)), elementwise: 1 },
    memoryBytes: opts.memoryBytes ?? 2 ** 31,
    memoryBandwidth: round(bandwidth),
    memoryEfficiency: 1,
    kernelLatency: round(latency),
    attentionScoresInMemory: false,
    links: [{ name: 'host', bandwidth: round(link), latency: round(hopLatency), efficiency: 1 }],
    measured: {
      matmulFlops: matmul,
      attentionFlops: attention,
      streamBytesPerSecond: bandwidth,
      kernelSeconds: latency,
      runSeconds: tk1,
      hostBytesPerSecond: link,
      hostHopSeconds: hopLatency,
    },
  };
}
