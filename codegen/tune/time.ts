/// <reference types="@webgpu/types" />
/**
 * Timing kernels on a device: each sample is one submission of `reps` dispatches,
 * timed from encoding to queue completion (onSubmittedWorkDone), after a warm-up
 * submission; the result is the median sample divided by `reps`.
 */

export interface TimedDispatch {
  readonly pipeline: GPUComputePipeline;
  readonly bindGroup: GPUBindGroup;
  readonly dispatch: readonly [number, number, number];
}

export interface TimingOptions {
  /** Samples after the warm-up. */
  readonly runs?: number;
  /** Dispatches per sample; 'auto': enough for a sample of about `targetMs`. */
  readonly reps?: number | 'auto';
  readonly targetMs?: number;
}

export const median = (xs: readonly number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

/** Something warmed up and calibrated: each `sample()` is one timed submission, in ms per rep. */
export interface Timer {
  sample(): Promise<number>;
}

/**
 * Warms `submit(reps)` (which must submit its work) up once, picks `reps`, and returns
 * a timer whose samples run to queue completion on `device`.
 */
export async function prepareTimer(device: GPUDevice, submit: (reps: number) => void | Promise<void>, opts: TimingOptions = {}): Promise<Timer> {
  const sample = async (reps: number) => {
    const t0 = performance.now();
    await submit(reps);
    await device.queue.onSubmittedWorkDone();
    return performance.now() - t0;
  };
  const first = await sample(1); // warm-up: pipeline caches, first-touch of buffers
  let reps = typeof opts.reps === 'number' ? opts.reps : 1;
  if (opts.reps === 'auto' || opts.reps === undefined) {
    const one = Math.max(0.05, Math.min(first, await sample(1)));
    reps = Math.max(1, Math.min(64, Math.round((opts.targetMs ?? 20) / one)));
  }
  return { sample: async () => (await sample(reps)) / reps };
}

/**
 * The median of `runs` samples of each timer, taken in rounds (one sample of each per
 * round), so that load from elsewhere on a shared machine falls on all of them alike.
 * Every other round goes backwards, so load that rises or falls during a round does not
 * always favour the timers sampled first.
 */
export async function interleave(timers: readonly Timer[], runs: number, pauseMs = 0): Promise<number[]> {
  const xs = timers.map(() => [] as number[]);
  for (let r = 0; r < runs; r++) {
    const order = [...timers.keys()];
    if (r % 2) order.reverse();
    for (const i of order) {
      // A pause lets threads another implementation left busy (a peer's thread pool) go idle first.
      if (pauseMs) await new Promise((done) => setTimeout(done, pauseMs));
      xs[i]!.push(await timers[i]!.sample());
    }
  }
  return xs.map(median);
}

/** The median of `runs` samples of `submit(reps)`, per rep, in ms. */
export async function timeSubmissions(device: GPUDevice, submit: (reps: number) => void | Promise<void>, opts: TimingOptions = {}): Promise<number> {
  const [ms] = await interleave([await prepareTimer(device, submit, opts)], opts.runs ?? 5);
  return ms!;
}

/** A timer of a sequence of dispatches run back to back in one compute pass. */
export function dispatchTimer(device: GPUDevice, steps: readonly TimedDispatch[], opts: TimingOptions = {}): Promise<Timer> {
  return prepareTimer(
    device,
    (reps) => {
      const enc = device.createCommandEncoder();
      const pass = enc.beginComputePass();
      for (let r = 0; r < reps; r++) {
        for (const s of steps) {
          pass.setPipeline(s.pipeline);
          pass.setBindGroup(0, s.bindGroup);
          pass.dispatchWorkgroups(s.dispatch[0], s.dispatch[1], s.dispatch[2]);
        }
      }
      pass.end();
      device.queue.submit([enc.finish()]);
    },
    opts,
  );
}

/** The median ms of a sequence of dispatches run back to back in one compute pass. */
export async function timeDispatches(device: GPUDevice, steps: readonly TimedDispatch[], opts: TimingOptions = {}): Promise<number> {
  const [ms] = await interleave([await dispatchTimer(device, steps, opts)], opts.runs ?? 5);
  return ms!;
}

/** A compute pipeline from WGSL, with the compiler's errors in the exception. */
export async function pipelineOf(device: GPUDevice, wgsl: string, label: string): Promise<GPUComputePipeline> {
  device.pushErrorScope('validation');
  const module = device.createShaderModule({ code: wgsl, label });
  const info = await module.getCompilationInfo();
  const errors = info.messages.filter((m) => m.type === 'error');
  const pipeline = device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' }, label });
  const err = await device.popErrorScope();
  if (errors.length || err)
    throw new Error(`${label} does not compile: ${errors.map((e) => `${e.lineNum}:${e.linePos} ${e.message}`).join('; ') || err!.message}`);
  return pipeline;
}

/** A storage buffer holding `data` (or `count` zeros). */
/** `n` floats in [-0.5, 0.5) in a fixed pattern: operands for timing, the same on every run. */
export const patternFill = (n: number) => Float32Array.from({ length: n }, (_, i) => ((i * 2654435761) % 1000) / 1000 - 0.5);

export function storageBuffer(device: GPUDevice, data: Float32Array | Int32Array | Uint16Array | number): GPUBuffer {
  const bytes = Math.max(16, typeof data === 'number' ? data * 4 : data.byteLength);
  const buffer = device.createBuffer({ size: Math.ceil(bytes / 4) * 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC });
  if (typeof data !== 'number') device.queue.writeBuffer(buffer, 0, data as unknown as GPUAllowSharedBufferSource);
  return buffer;
}

export function bindGroupOf(device: GPUDevice, pipeline: GPUComputePipeline, buffers: readonly GPUBuffer[]): GPUBindGroup {
  return device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries: buffers.map((buffer, binding) => ({ binding, resource: { buffer } })) });
}
