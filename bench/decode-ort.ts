/// <reference types="@webgpu/types" />
/**
 * bench:decode's comparison with ONNX Runtime Web's WebGPU provider: the same decode step
 * (mdc's decode graph exported by compiler/onnx/export.ts with the KV cache as inputs and
 * the updated cache as outputs), the same weights, on the same adapter in the same process.
 *
 * Per step both sides do one run with a read-back of the logits to the CPU. mdc runs
 * InferenceSession.step. ORT runs session.run with the token and position as CPU tensors,
 * the caches as GPU tensors, logits to the CPU and the updated caches into two sets of GPU
 * buffers that swap roles every step (the cache never leaves the GPU). ORT's run is awaited
 * through runtime/settle.ts, as mdc's own GPU waits are, which was the faster of the two
 * ways for ORT in a trial (plain await lets Dawn's binding busy-poll a core).
 */
import { exportOnnx } from '../compiler/onnx/export.js';
import { compileInference, type InferOptions } from '../driver/infer.js';
import { InferenceSession } from '../runtime/generate.js';
import { initValues } from '../runtime/init.js';
import { settle } from '../runtime/settle.js';
import type { ortWebGpu } from './peers.js';
import { relativeL2 } from '../test/support/rel-error.js';

type Ort = Awaited<ReturnType<typeof ortWebGpu>>;

export interface CompareCase {
  readonly label: string;
  readonly front: InferOptions;
  readonly maxSeq: number;
  readonly positions: readonly number[];
  readonly reps: number;
}

export interface CompareResult {
  readonly label: string;
  readonly maxSeq: number;
  readonly vocab: number;
  readonly onnxBytes: number;
  /** Relative L2 error of ORT's logits against mdc's, per step of the check (positions 0, 1, 2 from empty caches). */
  readonly logitsRelError: readonly number[];
  readonly rows: readonly { position: number; mdcMs: number; ortMs: number; mdcTokensPerSecond: number; ortTokensPerSecond: number; ratio: number }[];
  readonly setupSeconds: { mdc: number; ort: number };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const numel = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

/** Both engines on one case; `log` gets progress lines. */
export async function compareWithOrt(device: GPUDevice, ort: Ort, source: string, c: CompareCase, log: (l: string) => void): Promise<CompareResult> {
  let t0 = performance.now();
  const compiled = await compileInference(source, 'gpt2.model', { ...c.front, maxSeq: c.maxSeq, batch: 1 });
  if (!compiled.plans) throw new Error(compiled.diagnostics.map((d) => d.message).join('\n'));
  const plans = compiled.plans;
  const cacheNames = compiled.cache!.flatMap((e) => [e.k, e.v]);
  // The weights mdc would make from its seed, given to both engines.
  const params = new Map<string, Float32Array>();
  for (const b of plans.decode.buffers)
    if (b.role === 'param' && !cacheNames.includes(b.name)) params.set(b.name, initValues(b.init!, numel(b.shape), plans.decode.seed, b.name));
  const mdc = await InferenceSession.create(device, plans, { params });
  const mdcSetup = (performance.now() - t0) / 1000;
  log(`${c.label}: mdc ready in ${mdcSetup.toFixed(1)} s`);

  t0 = performance.now();
  const exported = exportOnnx(compiled.decodeGraph!, params, { paramInputs: cacheNames, producer: 'mdc-bench' });
  if (!exported.bytes) throw new Error(exported.diagnostics.map((d) => d.message).join('\n'));
  params.clear();
  const onnxBytes = exported.bytes.length;
  const location: Record<string, 'cpu' | 'gpu-buffer'> = { [plans.logits]: 'cpu' };
  for (const n of cacheNames) location[`new.${n}`] = 'gpu-buffer';
  const session = await ort.InferenceSession.create(exported.bytes, {
    executionProviders: ['webgpu'],
    preferredOutputLocation: location,
    graphOptimizationLevel: 'all',
  });
  const ortDevice = (await ort.env.webgpu.device) as GPUDevice;
  const shape = [...compiled.cache![0]!.shape];
  const bytes = 4 * numel(shape);
  const buffers: GPUBuffer[] = [];
  const cacheSet = () =>
    cacheNames.map(() => {
      const b = ortDevice.createBuffer({ size: bytes, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC });
      buffers.push(b);
      return ort.Tensor.fromGpuBuffer(b, { dataType: 'float32', dims: shape });
    });
  let current = cacheSet();
  let next = cacheSet();
  const ortSetup = (performance.now() - t0) / 1000;
  log(`${c.label}: ONNX Runtime Web ready in ${ortSetup.toFixed(1)} s (${(onnxBytes / 1e6).toFixed(1)} MB model)`);

  const ortStep = async (token: number, position: number): Promise<Float32Array> => {
    const feeds: Record<string, InstanceType<Ort['Tensor']>> = {
      [plans.tokens]: new ort.Tensor('int32', Int32Array.of(token), [1, 1]),
      [plans.positions]: new ort.Tensor('int32', Int32Array.of(position), [1]),
    };
    const fetches: Record<string, InstanceType<Ort['Tensor']> | null> = { [plans.logits]: null };
    cacheNames.forEach((n, i) => {
      feeds[n] = current[i]!;
      fetches[`new.${n}`] = next[i]!;
    });
    const out = await settle(session.run(feeds, fetches));
    [current, next] = [next, current];
    return out[plans.logits]!.data as Float32Array;
  };
  const mdcStep = (token: number, position: number) => mdc.step(Int32Array.of(token), Int32Array.of(position));

  try {
    // The check: three steps from empty caches on both, each step's logits compared.
    const logitsRelError: number[] = [];
    for (let p = 0; p < 3; p++) logitsRelError.push(relativeL2(await ortStep(11 + p, p), await mdcStep(11 + p, p)));
    log(`${c.label}: ORT's logits against mdc's, relative L2: ${logitsRelError.map((e) => e.toExponential(1)).join(', ')}`);
    const rows: CompareResult['rows'][number][] = [];
    for (const position of c.positions) {
      await mdcStep(5, position);
      await ortStep(5, position);
      const times: [number[], number[]] = [[], []];
      for (let r = 0; r < c.reps; r++) {
        // Alternating, and every other round backwards, so load from elsewhere falls on both alike.
        const order = r % 2 ? [1, 0] : [0, 1];
        for (const which of order) {
          const t = performance.now();
          await (which === 0 ? mdcStep(5 + r, position) : ortStep(5 + r, position));
          times[which]!.push(performance.now() - t);
        }
      }
      const [mdcMs, ortMs] = times.map(median) as [number, number];
      rows.push({ position, mdcMs, ortMs, mdcTokensPerSecond: 1000 / mdcMs, ortTokensPerSecond: 1000 / ortMs, ratio: ortMs / mdcMs });
      log(`${c.label} at position ${position}: mdc ${mdcMs.toFixed(1)} ms, ORT ${ortMs.toFixed(1)} ms (${(ortMs / mdcMs).toFixed(1)}×)`);
    }
    return { label: c.label, maxSeq: c.maxSeq, vocab: plans.vocab, onnxBytes, logitsRelError, rows, setupSeconds: { mdc: mdcSetup, ort: ortSetup } };
  } finally {
    mdc.destroy();
    await session.release();
    for (const b of buffers) b.destroy();
  }
}
