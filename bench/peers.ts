/// <reference types="@webgpu/types" />
/**
 * The peers of the kernel benchmark, on the same adapter as mdc in the same process:
 * TensorFlow.js's WebGPU backend and ONNX Runtime Web's WebGPU execution provider, both
 * given the `webgpu` package's GPU as `navigator.gpu`. Each is timed like mdc: one
 * submission per sample (TF.js: `reps` ops then a flush; ORT: `reps` session runs with
 * inputs and outputs on the GPU), to queue completion on the peer's own device.
 */
import { prepareTimer, type Timer, type TimingOptions } from '../codegen/tune/time.js';
import { dimValue } from '../compiler/dims.js';
import type { Graph } from '../compiler/ir.js';
import { graphToOnnx } from '../test/support/onnx.js';

/** A peer that could not start, and why. */
export interface PeerFailure {
  readonly name: string;
  readonly reason: string;
}

/** `navigator.gpu` for libraries written for browsers; Node 20 has no `navigator` of its own. */
export function provideNavigatorGpu(gpu: GPU): void {
  const nav = (globalThis as { navigator?: object }).navigator;
  if (nav && 'gpu' in nav) return;
  Object.defineProperty(globalThis, 'navigator', { value: { ...(nav ?? {}), gpu, userAgent: 'node' }, configurable: true, writable: true });
}

// ------------------------------------------------------------------ TensorFlow.js

export type Tf = typeof import('@tensorflow/tfjs-core');
export type Tensor = import('@tensorflow/tfjs-core').Tensor;

export interface TfPeer {
  readonly name: string;
  readonly tf: Tf;
  readonly device: GPUDevice;
  /** A timer of `op` (called `reps` times per sample). */
  timer(op: () => Tensor, opts: TimingOptions): Promise<Timer>;
}

interface TfWebGpuBackend {
  device: GPUDevice;
  commandEncoder: GPUCommandEncoder | null;
  endComputePassEncoder(): void;
  submitQueue(): void;
}

export async function startTf(): Promise<TfPeer> {
  const tf = await import('@tensorflow/tfjs-core');
  await import('@tensorflow/tfjs-backend-webgpu');
  if (!(await tf.setBackend('webgpu'))) throw new Error("tf.setBackend('webgpu') returned false");
  await tf.ready();
  const backend = tf.backend() as unknown as TfWebGpuBackend;
  const version = (tf as unknown as { version_core: string }).version_core;
  // TF.js batches dispatches and submits lazily: end its pass and submit what it holds.
  const flush = () => {
    backend.endComputePassEncoder();
    if (backend.commandEncoder) backend.submitQueue();
  };
  return {
    name: `TF.js ${version} webgpu`,
    tf,
    device: backend.device,
    timer: (op, opts) =>
      prepareTimer(
        backend.device,
        (reps) => {
          tf.tidy(() => {
            for (let r = 0; r < reps; r++) op();
          });
          flush();
        },
        opts,
      ),
  };
}

// ------------------------------------------------------------------ ONNX Runtime Web

type Ort = typeof import('onnxruntime-web');

export interface OrtPeer {
  readonly name: string;
  /**
   * A timer of runs of the graph exported to ONNX (parameters as initializers with the
   * values `params` gives), `inputs` uploaded once to the GPU; `run` gives the outputs
   * once (for checking the peer computes the same thing); `release` frees the session.
   */
  timer(
    g: Graph,
    inputs: Readonly<Record<string, Float32Array | Int32Array>>,
    opts: TimingOptions,
    params?: ReadonlyMap<string, Float32Array>,
  ): Promise<Timer & { run(): Promise<Record<string, Float32Array>>; release(): Promise<void> }>;
}

/**
 * ONNX Runtime Web 1.2x's WebGPU provider hands `queue.writeBuffer` views of its
 * WebAssembly memory, which is a SharedArrayBuffer; Dawn's Node binding refuses those
 * ("Invalid argument"). Copying such views into an ordinary buffer first lets it run.
 */
function allowSharedWriteBuffer(device: GPUDevice): void {
  type WriteBuffer = (buffer: unknown, offset: unknown, data: unknown, dataOffset?: number, size?: number) => void;
  const proto = Object.getPrototypeOf(device.queue) as { writeBuffer: WriteBuffer; __mdcShared?: boolean };
  if (proto.__mdcShared) return;
  const original = proto.writeBuffer;
  proto.writeBuffer = function (this: GPUQueue, buffer, offset, data, dataOffset, size) {
    if (ArrayBuffer.isView(data) && data.buffer instanceof SharedArrayBuffer) {
      const el = (data as unknown as { BYTES_PER_ELEMENT?: number }).BYTES_PER_ELEMENT ?? 1;
      const start = (dataOffset ?? 0) * el;
      const len = size !== undefined ? size * el : data.byteLength - start;
      const copy = new Uint8Array(len);
      copy.set(new Uint8Array(data.buffer, data.byteOffset + start, len));
      return original.call(this, buffer, offset, copy, 0, len);
    }
    return original.call(this, buffer, offset, data, dataOffset, size);
  };
  proto.__mdcShared = true;
}

/** ONNX Runtime Web with its WebGPU provider made usable in Node (`navigator.gpu` must be set first); `anyDevice`: a device of the same `webgpu` package. */
export async function ortWebGpu(anyDevice: GPUDevice): Promise<Ort> {
  allowSharedWriteBuffer(anyDevice);
  const ort = (await import('onnxruntime-web/webgpu' as string)) as Ort;
  ort.env.logLevel = 'error';
  ort.env.wasm.numThreads = 1;
  return ort;
}

export async function startOrt(anyDevice: GPUDevice): Promise<OrtPeer> {
  const ort = await ortWebGpu(anyDevice);
  return {
    name: `ONNX Runtime Web ${ort.env.versions.web} webgpu`,
    timer: async (g, inputs, opts, params = new Map()) => {
      const model = graphToOnnx(g, params);
      const session = await ort.InferenceSession.create(model.bytes, {
        executionProviders: ['webgpu'],
        preferredOutputLocation: 'gpu-buffer',
        graphOptimizationLevel: 'all',
      });
      const device = (await ort.env.webgpu.device) as GPUDevice;
      const buffers: GPUBuffer[] = [];
      const release = async () => {
        await session.release();
        for (const b of buffers) b.destroy();
      };
      try {
        const feeds: Record<string, InstanceType<Ort['Tensor']>> = {};
        for (const name of session.inputNames) {
          const data = inputs[name]!;
          const v = g.values[g.inputs.find((id) => g.values[id]!.name === name)!]!;
          const dims = v.type.dims.map((d) => dimValue(d)!);
          const buffer = device.createBuffer({
            size: Math.max(16, data.byteLength),
            usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC,
          });
          device.queue.writeBuffer(buffer, 0, data as unknown as GPUAllowSharedBufferSource);
          buffers.push(buffer);
          feeds[name] = ort.Tensor.fromGpuBuffer(buffer, { dataType: data instanceof Int32Array ? 'int32' : 'float32', dims });
        }
        const timer = await prepareTimer(
          device,
          async (reps) => {
            for (let r = 0; r < reps; r++) {
              const out = await session.run(feeds);
              for (const t of Object.values(out)) t.dispose();
            }
          },
          opts,
        );
        const run = async () => {
          const out = await session.run(feeds);
          const data: Record<string, Float32Array> = {};
          for (const [name, t] of Object.entries(out)) {
            data[name] = Float32Array.from((await t.getData()) as Float32Array);
            t.dispose();
          }
          return data;
        };
        return { sample: () => timer.sample(), run, release };
      } catch (e) {
        await release();
        throw e;
      }
    },
  };
}
