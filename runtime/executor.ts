/// <reference types="@webgpu/types" />
import { initValues } from './init.js';
import type { Plan, PlanIO } from './plan.js';
import { settle } from './settle.js';
import { validatePlan } from './validate.js';

export type HostArray = Float32Array | Int32Array;
export interface Tensor { readonly shape: readonly number[]; readonly data: HostArray }

export interface RunnerOptions {
  /** Parameter values by name; parameters not given are initialised from the plan's seed. */
  readonly params?: ReadonlyMap<string, Float32Array>;
  /** Overrides the plan's seed. */
  readonly seed?: number;
}

const src = (a: HostArray) => a as unknown as GPUAllowSharedBufferSource;

export class RuntimeError extends Error {
  override name = 'RuntimeError';
}

/**
 * Runs a plan on one GPUDevice: the same code in Node (Dawn through the `webgpu`
 * package) and in browsers (navigator.gpu). Buffers, pipelines and bind groups are
 * made once; `run` uploads inputs, encodes every step in one pass and reads outputs.
 */
export class PlanRunner {
  private constructor(
    readonly plan: Plan,
    private readonly device: GPUDevice,
    private readonly buffers: GPUBuffer[],
    private readonly pipelines: GPUComputePipeline[],
    private readonly bindGroups: GPUBindGroup[],
  ) {}

  static async create(device: GPUDevice, rawPlan: unknown, opts: RunnerOptions = {}): Promise<PlanRunner> {
    const plan = validatePlan(rawPlan);
    const seed = opts.seed ?? plan.seed;
    const tooBig = plan.buffers.find((b) => b.bytes > device.limits.maxStorageBufferBindingSize);
    if (tooBig) {
      throw new RuntimeError(`buffer '${tooBig.name}' needs ${tooBig.bytes} bytes, over this device's maxStorageBufferBindingSize (${device.limits.maxStorageBufferBindingSize}); splitting large tensors across bindings is not implemented yet, so run a smaller variant (e.g. --preset tiny)`);
    }
    const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC;
    const buffers = plan.buffers.map((b) => device.createBuffer({ size: b.bytes, usage, label: b.name }));
    for (const b of plan.buffers) {
      const count = b.shape.reduce((x, y) => x * y, 1);
      if (b.role === 'param') {
        const given = opts.params?.get(b.name);
        if (given && given.length !== count) throw new RuntimeError(`param '${b.name}' has ${given.length} values; its shape [${b.shape.join(', ')}] needs ${count}`);
        device.queue.writeBuffer(buffers[b.id]!, 0, src(given ?? initValues(b.init!, count, seed, b.name)));
      } else if (b.role === 'const') {
        device.queue.writeBuffer(buffers[b.id]!, 0, b.type === 'i32' ? Int32Array.of(b.value!) : Float32Array.of(b.value!));
      }
    }
    device.pushErrorScope('validation');
    // Sequential: Dawn's Node binding has crashed here on concurrent async pipeline creation.
    const pipelines: GPUComputePipeline[] = [];
    for (const k of plan.kernels) {
      const module = device.createShaderModule({ code: k.wgsl, label: k.file });
      const info = await settle(module.getCompilationInfo());
      const errors = info.messages.filter((m) => m.type === 'error');
      if (errors.length) {
        await settle(device.popErrorScope());
        throw new RuntimeError(`kernel ${k.file} does not compile:\n${errors.map((e) => `  ${e.lineNum}:${e.linePos}: ${e.message}`).join('\n')}`);
      }
      pipelines.push(device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: k.entryPoint }, label: k.file }));
    }
    const bindGroups = plan.steps.map((s, i) => device.createBindGroup({
      layout: pipelines[s.kernel]!.getBindGroupLayout(0),
      entries: s.buffers.map((b, j) => ({ binding: j, resource: { buffer: buffers[b]! } })),
      label: `step${i}:${s.op}`,
    }));
    const err = await settle(device.popErrorScope());
    if (err) throw new RuntimeError(`WebGPU rejected the plan: ${err.message}`);
    return new PlanRunner(plan, device, buffers, pipelines, bindGroups);
  }

  /** Uploads inputs, runs every step and returns the outputs by name. */
  async run(inputs: Readonly<Record<string, HostArray>>): Promise<Record<string, Tensor>> {
    for (const io of this.plan.inputs) this.upload(io, inputs[io.name]);
    const unknown = Object.keys(inputs).filter((k) => !this.plan.inputs.some((io) => io.name === k));
    if (unknown.length) throw new RuntimeError(`unknown input(s): ${unknown.join(', ')}; the model takes ${this.plan.inputs.map((i) => i.name).join(', ')}`);
    this.device.pushErrorScope('validation');
    const enc = this.device.createCommandEncoder();
    const pass = enc.beginComputePass();
    this.plan.steps.forEach((s, i) => {
      pass.setPipeline(this.pipelines[s.kernel]!);
      pass.setBindGroup(0, this.bindGroups[i]!);
      pass.dispatchWorkgroups(s.dispatch[0], s.dispatch[1], s.dispatch[2]);
    });
    pass.end();
    const staging = this.plan.outputs.map((o) => {
      const b = this.plan.buffers[o.buffer]!;
      const st = this.device.createBuffer({ size: b.bytes, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
      enc.copyBufferToBuffer(this.buffers[o.buffer]!, 0, st, 0, b.bytes);
      return st;
    });
    this.device.queue.submit([enc.finish()]);
    const err = await settle(this.device.popErrorScope());
    if (err) throw new RuntimeError(`WebGPU rejected a step: ${err.message}`);
    const out: Record<string, Tensor> = {};
    await Promise.all(staging.map(async (st, i) => {
      const o = this.plan.outputs[i]!;
      await settle(st.mapAsync(GPUMapMode.READ));
      const count = o.shape.reduce((a, b) => a * b, 1);
      const copy = this.plan.buffers[o.buffer]!.type === 'i32'
        ? new Int32Array(st.getMappedRange().slice(0, count * 4))
        : new Float32Array(st.getMappedRange().slice(0, count * 4));
      st.unmap();
      st.destroy();
      out[o.name] = { shape: o.shape, data: copy };
    }));
    return out;
  }

  private upload(io: PlanIO, data: HostArray | undefined) {
    if (!data) throw new RuntimeError(`missing input '${io.name}' (${io.dtype}[${io.shape.join(', ')}])`);
    const count = io.shape.reduce((a, b) => a * b, 1);
    const wantInt = this.plan.buffers[io.buffer]!.type === 'i32';
    if (wantInt !== data instanceof Int32Array) {
      throw new RuntimeError(`input '${io.name}' must be ${wantInt ? 'an Int32Array' : 'a Float32Array'}`);
    }
    if (data.length !== count) throw new RuntimeError(`input '${io.name}' has ${data.length} values; shape [${io.shape.join(', ')}] needs ${count}`);
    this.device.queue.writeBuffer(this.buffers[io.buffer]!, 0, src(data));
  }

  destroy() {
    for (const b of this.buffers) b.destroy();
  }
}
