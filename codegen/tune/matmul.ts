/// <reference types="@webgpu/types" />
/**
 * The matmul autotuner, in the spirit of TVM's tuner and tinygrad's BEAM but short:
 * for a shape, time each of a handful of candidate configurations on the device and
 * keep the fastest. Results feed `KernelTarget.tuning`; they only choose among
 * configurations that are all correct, so a stale or missing table costs speed only.
 */
import { candidates, configName, type MatmulConfig } from '../kernels/matmul/config.js';
import { matmulKernelFor } from '../kernels/matmul/index.js';
import { batchCount, shapeClass, type MatmulShape } from '../kernels/matmul/shape.js';
import type { KernelTarget } from '../kernels/kernel.js';
import { printWgsl } from '../kir/wgsl.js';
import { bindGroupOf, dispatchTimer, interleave, patternFill, pipelineOf, storageBuffer, type Timer, type TimingOptions } from './time.js';
import { numel } from '../../layout/mesh.js';

export interface Timed {
  readonly config: MatmulConfig;
  readonly ms: number;
  readonly gflops: number;
}
export interface TuneResult {
  readonly shapeClass: string;
  readonly best: Timed;
  /** Every candidate tried, fastest first; failures (a kernel the device refused) carry `error`. */
  readonly tried: readonly (Timed | { readonly config: MatmulConfig; readonly error: string })[];
}

const flops = (s: MatmulShape) => 2 * s.M * s.N * s.K * batchCount(s);

/** Operands for timing `s`, filled with a fixed pattern; `destroy` frees them. */
function operands(device: GPUDevice, s: MatmulShape) {
  const size = (batch: readonly number[], r: number, cols: number) => numel(batch) * r * cols;
  const buffers = [
    storageBuffer(device, patternFill(size(s.aBatch, s.M, s.K))),
    storageBuffer(device, patternFill(size(s.bBatch, s.K, s.N))),
    storageBuffer(device, size(s.batch, s.M, s.N)),
  ];
  return { buffers, destroy: () => buffers.forEach((b) => b.destroy()) };
}

async function matmulTimer(
  device: GPUDevice,
  s: MatmulShape,
  c: MatmulConfig,
  target: KernelTarget,
  buffers: readonly GPUBuffer[],
  opts: TimingOptions,
): Promise<Timer> {
  const k = matmulKernelFor(s, { a: 0, b: 1, out: 2 }, c, target);
  const pipeline = await pipelineOf(device, printWgsl(k), `${k.name} ${configName(c)}`);
  return dispatchTimer(device, [{ pipeline, bindGroup: bindGroupOf(device, pipeline, buffers), dispatch: k.dispatch }], opts);
}

/**
 * Times every candidate configuration for `s`, their samples alternating so that load
 * from elsewhere falls on all alike, and returns the fastest.
 */
export async function tuneMatmul(device: GPUDevice, s: MatmulShape, target: KernelTarget, opts: TimingOptions = {}): Promise<TuneResult> {
  const ops = operands(device, s);
  try {
    const ready: { config: MatmulConfig; timer: Timer }[] = [];
    const failed: { config: MatmulConfig; error: string }[] = [];
    for (const c of candidates(s, target)) {
      try {
        ready.push({ config: c, timer: await matmulTimer(device, s, c, target, ops.buffers, { reps: 'auto', targetMs: 20, ...opts }) });
      } catch (e) {
        failed.push({ config: c, error: (e as Error).message });
      }
    }
    if (!ready.length) throw new Error(`no matmul configuration ran for ${shapeClass(s)}: ${failed.map((t) => t.error).join('; ')}`);
    const medians = await interleave(
      ready.map((r) => r.timer),
      opts.runs ?? 5,
    );
    const ok = ready.map((r, i) => ({ config: r.config, ms: medians[i]!, gflops: flops(s) / medians[i]! / 1e6 })).sort((a, b) => a.ms - b.ms);
    return { shapeClass: shapeClass(s), best: ok[0]!, tried: [...ok, ...failed] };
  } finally {
    ops.destroy();
  }
}
