/// <reference types="@webgpu/types" />
import { initValues } from './init.js';
import { fromHalves, toHalves } from './half.js';
import { planAllocation, type Plan, type PlanAllocation, type PlanBuffer, type PlanIO } from './plan.js';
import { settle } from './settle.js';
import { loadPlan } from './integrity.js';
import { numel } from '../layout/mesh.js';

export type HostArray = Float32Array | Int32Array;
export interface Tensor {
  readonly shape: readonly number[];
  readonly data: HostArray;
}

export interface RunnerOptions {
  /**
   * Parameter values by name (rounded to f16 on upload where the plan stores one as
   * f16). Without it every parameter is initialised from the plan's seed; with it,
   * every name must be a parameter of the plan and every parameter must be given,
   * unless `initRest` is set.
   */
  readonly params?: ReadonlyMap<string, Float32Array>;
  /** With `params`: initialise the parameters it does not give from the seed instead of refusing. */
  readonly initRest?: boolean;
  /** Overrides the plan's seed. */
  readonly seed?: number;
  /**
   * Default true: one GPUBuffer per arena of the plan, each placed buffer bound as a
   * range of it. False: a GPUBuffer for every plan buffer, as if the plan had no arenas
   * (more memory, the same results bit for bit; for comparisons).
   */
  readonly arenas?: boolean;
  /**
   * How long one submission (the kernels between host steps, with its copies) may take
   * before the run fails naming its kernels, in milliseconds; default DEFAULT_TIME_LIMIT_MS.
   * A kernel that never finishes (a hand-edited loop, a driver hang) fails the run
   * instead of hanging it; the device is then left busy, so destroy the runner.
   */
  readonly timeLimitMs?: number;
  /**
   * The plan was edited after mdc wrote it, on purpose: run it without checking its seal
   * (runtime/integrity.ts), validated like any hand-written plan. Default false: a plan
   * whose contents do not match its `integrity` is refused.
   */
  readonly edited?: boolean;
}

/** One minute: the largest models here take seconds per submission on llvmpipe. */
export const DEFAULT_TIME_LIMIT_MS = 60_000;

const src = (a: HostArray | Uint16Array) => a as unknown as GPUAllowSharedBufferSource;
/** Host values as buffer `b` holds them: their halves where the plan stores it as f16. */
const stored = (b: PlanBuffer, data: HostArray) => src(b.type === 'f16' ? toHalves(data, b.bytes) : data);

/** A runner's kernels: how many, and how long creating their pipelines took. */
export interface PlanKernels {
  readonly count: number;
  readonly compileMilliseconds: number;
}

export class RuntimeError extends Error {
  override name = 'RuntimeError';
}

/**
 * Runs a plan on one GPUDevice: the same code in Node (Dawn through the `webgpu`
 * package) and in browsers (navigator.gpu). Buffers, pipelines and bind groups are
 * made once; `run` uploads inputs, encodes every step in one pass and reads outputs.
 */
export class PlanRunner {
  /** The plan's parameter updates as buffer copies, worked out once. */
  private readonly copies: { from: number; to: number }[];

  private constructor(
    readonly plan: Plan,
    private readonly program: DeviceProgram,
  ) {
    this.copies = updateCopies(plan);
  }

  static async create(device: GPUDevice, rawPlan: unknown, opts: RunnerOptions = {}): Promise<PlanRunner> {
    const plan = await loadPlan(rawPlan, opts.edited);
    if (plan.mesh) throw new RuntimeError(`plan '${plan.model}' is partitioned over ${plan.mesh.devices} devices; run it with MeshRunner`);
    const seed = opts.seed ?? plan.seed;
    checkParams(plan, opts);
    const program = await DeviceProgram.create(
      device,
      plan,
      (b) => {
        const count = numel(b.shape);
        const given = opts.params?.get(b.name);
        if (given && given.length !== count)
          throw new RuntimeError(`param '${b.name}' has ${given.length} values; its shape [${b.shape.join(', ')}] needs ${count}`);
        return given ?? initValues(b.init!, count, seed, b.name);
      },
      { arenas: opts.arenas !== false, timeLimitMs: timeLimitOf(opts) },
    );
    return new PlanRunner(plan, program);
  }

  /** How many kernels the plan has, and the milliseconds `create` spent compiling them (pipeline creation). */
  get kernels(): PlanKernels {
    return { count: this.plan.kernels.length, compileMilliseconds: this.program.compileMilliseconds };
  }

  /**
   * Runs every step once on zero inputs (id 0 for integer inputs), reading nothing back
   * and applying no parameter update, so that a first real run pays no first-use costs;
   * returns its milliseconds. The kernels themselves are compiled by `create`. Steps that
   * write a parameter buffer (a decode step's cache written in place) are left out, so the
   * parameters stay as they were.
   */
  async warmup(): Promise<number> {
    const t0 = performance.now();
    for (const io of this.plan.inputs) {
      const count = numel(io.shape);
      this.program.write(io.buffer, this.plan.buffers[io.buffer]!.type === 'i32' ? new Int32Array(count) : new Float32Array(count));
    }
    await settle(
      this.program.execute(
        this.plan.steps.flatMap((s, i) => (writesParam(this.plan, s) ? [] : [i])),
        [],
      ),
    );
    return performance.now() - t0;
  }

  /** The device bytes the runner keeps allocated (arenas and buffers of their own; not the transient read-back buffers). */
  get allocatedBytes(): number {
    return this.program.allocation.bytes;
  }

  /** What `allocatedBytes` is made of. */
  get allocation(): PlanAllocation {
    return this.program.allocation;
  }

  /**
   * Uploads inputs, runs every step, applies the plan's parameter updates (training
   * plans) and returns the outputs by name (`only`: just these outputs are read back).
   */
  async run(inputs: Readonly<Record<string, HostArray>>, only?: readonly string[]): Promise<Record<string, Tensor>> {
    checkInputs(this.plan, inputs, (io) => io.shape);
    for (const io of this.plan.inputs) this.program.write(io.buffer, inputs[io.name]!);
    const outs = this.plan.outputs.filter((o) => !only || only.includes(o.name));
    const reads = outs.map((o) => ({ buffer: o.buffer, count: numel(o.shape) }));
    const data = await settle(
      this.program.execute(
        this.plan.steps.map((_, i) => i),
        reads,
        this.copies,
      ),
    );
    return Object.fromEntries(outs.map((o, i) => [o.name, { shape: o.shape, data: data[i]! }]));
  }

  /** Writes parameter values over the device's, by name (host offload's new parameters); the next run sees them. */
  writeParams(values: ReadonlyMap<string, Float32Array>): void {
    for (const [name, data] of values) {
      const b = this.plan.buffers.find((x) => x.role === 'param' && x.name === name);
      if (!b) throw new RuntimeError(`cannot write '${name}': ${this.plan.model} has no such parameter`);
      if (data.length !== numel(b.shape)) throw new RuntimeError(`cannot write '${name}': ${data.length} values for shape [${b.shape.join(', ')}]`);
      this.program.write(b.id, data);
    }
  }

  /** Reads every parameter buffer back (for checkpoints), by name. */
  async readParams(): Promise<Map<string, Float32Array>> {
    const params = this.plan.buffers.filter((b) => b.role === 'param');
    const data = await settle(
      this.program.execute(
        [],
        params.map((b) => ({ buffer: b.id, count: numel(b.shape) })),
      ),
    );
    return new Map(params.map((b, i) => [b.name, data[i] as Float32Array]));
  }

  destroy() {
    this.program.destroy();
  }
}

/** The runner's time limit per submission: a positive number of milliseconds. */
export function timeLimitOf(opts: RunnerOptions): number {
  const t = opts.timeLimitMs ?? DEFAULT_TIME_LIMIT_MS;
  if (typeof t !== 'number' || !(t > 0)) throw new RuntimeError(`timeLimitMs must be a positive number of milliseconds, got ${String(t)}`);
  return t;
}

/** Whether a kernel step binds a parameter buffer for writing. */
const writesParam = (plan: Plan, s: Plan['steps'][number]) =>
  s.kind !== 'collective' && plan.kernels[s.kernel]!.bindings.some((b, i) => b.access === 'read_write' && plan.buffers[s.buffers[i]!]!.role === 'param');

/** A training plan's updates as buffer copies: each named output's buffer onto its parameter's. */
export function updateCopies(plan: Plan): { from: number; to: number }[] {
  const outputs = new Map(plan.outputs.map((o) => [o.name, o.buffer]));
  const params = new Map(plan.buffers.filter((b) => b.role === 'param').map((b) => [b.name, b.id]));
  return (plan.updates ?? []).map((u) => ({ from: outputs.get(u.output)!, to: params.get(u.param)! }));
}

/**
 * Given parameters must name parameters of the plan, and (unless `initRest`) cover all
 * of them: weights silently initialised at random in place of a misspelt or forgotten
 * one would give a wrong answer without a word.
 */
export function checkParams(plan: Plan, opts: RunnerOptions): void {
  if (!opts.params) return;
  const names = plan.buffers.filter((b) => b.role === 'param').map((b) => b.name);
  const known = new Set(names);
  const unknown = [...opts.params.keys()].filter((k) => !known.has(k));
  const list = (xs: readonly string[]) => (xs.length > 12 ? `${xs.slice(0, 12).join(', ')}, … (${xs.length} in all)` : xs.join(', '));
  if (unknown.length) throw new RuntimeError(`unknown parameter${unknown.length > 1 ? 's' : ''} ${list(unknown)}: ${plan.model} has ${list(names)}`);
  const missing = opts.initRest ? [] : names.filter((n) => !opts.params!.has(n));
  if (missing.length)
    throw new RuntimeError(
      `missing parameter${missing.length > 1 ? 's' : ''} ${list(missing)} of ${plan.model} (pass initRest: true to initialise the ones not given from the seed)`,
    );
}

/**
 * Checks the caller's inputs by name, kind and values against the plan (`inputProblem`);
 * `shapeOf` gives the shape the caller passes (the whole tensor in a partitioned plan).
 */
export function checkInputs(plan: Plan, inputs: Readonly<Record<string, HostArray>>, shapeOf: (io: PlanIO) => readonly number[]): void {
  if (typeof inputs !== 'object' || inputs === null || Array.isArray(inputs))
    throw new RuntimeError(`inputs must be an object mapping input names to typed arrays; ${plan.model} takes ${plan.inputs.map((i) => i.name).join(', ')}`);
  const unknown = Object.keys(inputs).filter((k) => !plan.inputs.some((io) => io.name === k));
  if (unknown.length) throw new RuntimeError(`unknown input(s): ${unknown.join(', ')}; the model takes ${plan.inputs.map((i) => i.name).join(', ')}`);
  for (const io of plan.inputs) {
    // Own properties only: an input named 'toString' or '__proto__' must not find Object.prototype's.
    const data = Object.prototype.hasOwnProperty.call(inputs, io.name) ? inputs[io.name] : undefined;
    const shape = shapeOf(io);
    if (!data) throw new RuntimeError(`missing input '${io.name}' (${io.dtype}[${shape.join(', ')}])`);
    const wantInt = plan.buffers[io.buffer]!.type === 'i32';
    if (wantInt ? !(data instanceof Int32Array) : !(data instanceof Float32Array)) {
      throw new RuntimeError(`input '${io.name}' must be ${wantInt ? 'an Int32Array' : 'a Float32Array'}`);
    }
    const problem = inputProblem(plan, io, shape, data);
    if (problem) throw new RuntimeError(problem);
  }
}

/**
 * What is wrong with `values` as input `io` of shape `shape`, or undefined: the one check
 * of input values, for the runners and for `mdc run --inputs`. The count must be the
 * shape's; an integer input takes 32-bit integers, and ids an embedding gathers with
 * (`gathers`) must lie in its table, [0, max): a kernel reading past the table would
 * read another buffer's bytes or zeros. `finite` also refuses NaN and ±Infinity in a
 * float input (JSON cannot mean them; a program may pass them on purpose).
 */
export function inputProblem(plan: Plan, io: PlanIO, shape: readonly number[], values: ArrayLike<unknown>, finite = false): string | undefined {
  const count = numel(shape);
  const what = `${io.dtype}[${shape.join(', ')}]`;
  if (values.length !== count) return `input '${io.name}' has ${values.length} values; ${what} needs ${count}`;
  const int = plan.buffers[io.buffer]!.type === 'i32';
  if (!int && !finite && values instanceof Float32Array) return undefined;
  const ids = io.gathers && io.max !== undefined ? io.max : undefined;
  for (let i = 0; i < count; i++) {
    const x = values[i];
    const at = `input '${io.name}'[${i}] is ${typeof x === 'number' ? x : JSON.stringify(x)}`;
    if (typeof x !== 'number') return `${at}, not a number (${what})`;
    if (int && ids !== undefined && !(Number.isInteger(x) && x >= 0 && x < ids)) return `${at}, outside its table's ids 0..${ids - 1} (${what})`;
    if (int && !(Number.isInteger(x) && x >= -(2 ** 31) && x < 2 ** 31)) return `${at}, not a 32-bit integer (${what})`;
    if (!int && finite && !Number.isFinite(x)) return `${at}, not a finite number (${what})`;
  }
  return undefined;
}

/** Where a plan buffer lives on the device: a GPUBuffer of its own, or a range of an arena. */
export interface Slot {
  readonly gpu: GPUBuffer;
  readonly offset: number;
  readonly size: number;
}

/**
 * One device's share of a plan: its buffers (one per arena, and one for each buffer the
 * plan does not place), pipelines and the bind groups of the kernel steps. PlanRunner
 * drives one; MeshRunner drives one per device and runs the collective steps between
 * their kernel steps.
 */
export class DeviceProgram {
  private constructor(
    readonly device: GPUDevice,
    private readonly plan: Plan,
    /** Per plan buffer: where it is. */
    private readonly slots: Slot[],
    /** Every GPUBuffer made (arenas first), for destroy. */
    private readonly owned: GPUBuffer[],
    readonly allocation: PlanAllocation,
    private readonly pipelines: GPUComputePipeline[],
    private readonly bindGroups: (GPUBindGroup | undefined)[],
    /** Milliseconds the plan's pipelines took to create (the kernels' compilation). */
    readonly compileMilliseconds: number,
    private readonly timeLimitMs: number,
  ) {}

  /** The error scopes of writes not yet checked: `execute` awaits them with its own. */
  private pendingScopes: Promise<GPUError | null>[] = [];

  /**
   * `params` gives each parameter buffer's values (its block, on one device of a mesh).
   * `arenas: false` gives every plan buffer its own GPUBuffer, ignoring the plan's arenas.
   * `coords`: the device's coordinates on the plan's mesh axes, for its `coords` buffer.
   */
  static async create(
    device: GPUDevice,
    plan: Plan,
    params: (b: PlanBuffer) => Float32Array,
    opts: { readonly arenas?: boolean; readonly timeLimitMs?: number; readonly coords?: readonly number[]; readonly shared?: Map<string, Slot> } = {},
  ): Promise<DeviceProgram> {
    const limits = device.limits;
    checkBindingSizes(plan, limits);
    const missing = (plan.features ?? []).filter((f) => !device.features.has(f));
    if (missing.length) {
      throw new RuntimeError(
        `plan '${plan.model}' was compiled for a device with ${missing.map((f) => `'${f}'`).join(', ')}; this device was not created ` +
          `with ${missing.length > 1 ? 'them' : 'it'} (request it in requiredFeatures, or compile the plan without a device target)`,
      );
    }
    if (plan.subgroupSize !== undefined) {
      // The subgroup kernels take a workgroup of subgroupSize invocations to be one subgroup.
      const info = (device as GPUDevice & { adapterInfo?: { subgroupMinSize?: number; subgroupMaxSize?: number } }).adapterInfo;
      const [lo, hi] = [info?.subgroupMinSize, info?.subgroupMaxSize];
      if (lo === undefined || hi === undefined)
        throw new RuntimeError(
          `plan '${plan.model}' was compiled for subgroups of ${plan.subgroupSize} lanes; this device does not ` +
            `report its subgroup size, so the plan cannot be checked against it (compile without a device target)`,
        );
      if (lo !== plan.subgroupSize || hi !== plan.subgroupSize)
        throw new RuntimeError(
          `plan '${plan.model}' was compiled for subgroups of ${plan.subgroupSize} lanes; this device's subgroups have ` +
            `${lo === hi ? `${lo}` : `${lo} to ${hi}`} lanes (compile for this device, e.g. mdc run --target adapter)`,
        );
    }
    const useArenas = opts.arenas !== false && !!plan.arenas?.length;
    if (useArenas) {
      const big = plan.arenas!.findIndex((a) => a > limits.maxBufferSize);
      if (big >= 0) {
        throw new RuntimeError(
          `plan '${plan.model}' has an arena of ${plan.arenas![big]} bytes (arena ${big}), over this device's maxBufferSize ` +
            `(${limits.maxBufferSize}); compile it with a smaller arena cap (maxArenaBytes), or run it without arenas`,
        );
      }
      const odd = plan.buffers.find((b) => b.offset !== undefined && b.offset % limits.minStorageBufferOffsetAlignment !== 0);
      if (odd)
        throw new RuntimeError(
          `buffer '${odd.name}' is at offset ${odd.offset} of arena ${odd.arena}, not a multiple of this device's minStorageBufferOffsetAlignment (${limits.minStorageBufferOffsetAlignment})`,
        );
    }
    const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC;
    const owned: GPUBuffer[] = [];
    const make = (size: number, label: string) => {
      const b = device.createBuffer({ size, usage, label });
      owned.push(b);
      return b;
    };
    try {
      const arenas = useArenas ? plan.arenas!.map((size, i) => make(size, `arena${i}`)) : [];
      // `shared`: parameters by name that several programs on this device read and update
      // (a pipeline stage's passes): the first program makes and fills each, the others bind it.
      const reused = new Set<number>();
      const slots = plan.buffers.map((b): Slot => {
        const have = b.role === 'param' ? opts.shared?.get(b.name) : undefined;
        if (have) {
          if (have.size !== b.bytes)
            throw new RuntimeError(`parameter '${b.name}' has ${b.bytes} bytes in this program and ${have.size} in another on the device`);
          reused.add(b.id);
          return have;
        }
        const slot =
          useArenas && b.arena !== undefined
            ? { gpu: arenas[b.arena]!, offset: b.offset!, size: b.bytes }
            : { gpu: make(b.bytes, b.name), offset: 0, size: b.bytes };
        if (b.role === 'param') opts.shared?.set(b.name, slot);
        return slot;
      });
      // Allocation and uploads inside error scopes: a buffer the device cannot make fails here, by name.
      const scopes = pushScopes(device);
      for (const b of plan.buffers) {
        // A parameter the plan stores as f16 is uploaded as its halves.
        if (b.role === 'param') {
          if (!reused.has(b.id)) device.queue.writeBuffer(slots[b.id]!.gpu, 0, stored(b, params(b)));
        } else if (b.role === 'const') device.queue.writeBuffer(slots[b.id]!.gpu, 0, b.type === 'i32' ? Int32Array.of(b.value!) : Float32Array.of(b.value!));
        else if (b.role === 'coords') {
          if (opts.coords?.length !== b.shape[0]) throw new RuntimeError(`plan '${plan.model}' needs the device's mesh coordinates (run it with MeshRunner)`);
          device.queue.writeBuffer(slots[b.id]!.gpu, 0, Int32Array.from(opts.coords));
        }
      }
      const failed = firstError(await settle(Promise.all(scopes.pop())));
      if (failed) throw new RuntimeError(`WebGPU could not allocate or fill the plan's buffers: ${failed}`);
      const c0 = performance.now();
      const { pipelines, bindGroups } = await compile(device, plan, slots);
      const timeLimit = opts.timeLimitMs ?? DEFAULT_TIME_LIMIT_MS;
      return new DeviceProgram(device, plan, slots, owned, planAllocation(plan, useArenas), pipelines, bindGroups, performance.now() - c0, timeLimit);
    } catch (e) {
      for (const b of owned) b.destroy();
      throw e;
    }
  }

  /** Uploads `data` into a buffer (at its offset in its arena), as its halves where the plan stores it as f16. */
  write(buffer: number, data: HostArray): void {
    const slot = this.slots[buffer]!;
    const scopes = pushScopes(this.device);
    this.device.queue.writeBuffer(slot.gpu, slot.offset, stored(this.plan.buffers[buffer]!, data));
    this.pendingScopes.push(...scopes.pop());
  }

  /**
   * Encodes the kernel steps `steps` (indices into plan.steps) in one compute pass, then
   * copies out the first `count` elements of each buffer in `reads`; resolves with them.
   * Pending GPU promises do not keep Node alive: await it through `settle`.
   */
  async execute(
    steps: readonly number[],
    reads: readonly { readonly buffer: number; readonly count: number }[],
    copies: readonly { readonly from: number; readonly to: number }[] = [],
  ): Promise<HostArray[]> {
    const kernels = steps.map((i) => {
      const s = this.plan.steps[i]!;
      if (s.kind === 'collective') throw new RuntimeError(`step ${i} is a collective, not a kernel`);
      return [i, s] as const;
    });
    const device = this.device;
    const scopes = pushScopes(device);
    const enc = device.createCommandEncoder();
    if (kernels.length) {
      const pass = enc.beginComputePass();
      for (const [i, s] of kernels) {
        pass.setPipeline(this.pipelines[s.kernel]!);
        pass.setBindGroup(0, this.bindGroups[i]!);
        pass.dispatchWorkgroups(s.dispatch[0], s.dispatch[1], s.dispatch[2]);
      }
      pass.end();
    }
    for (const c of copies) {
      const [from, to] = [this.slots[c.from]!, this.slots[c.to]!];
      enc.copyBufferToBuffer(from.gpu, from.offset, to.gpu, to.offset, this.plan.buffers[c.to]!.bytes);
    }
    const staging = reads.map((r) => {
      const slot = this.slots[r.buffer]!;
      const st = device.createBuffer({ size: slot.size, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
      enc.copyBufferToBuffer(slot.gpu, slot.offset, st, 0, slot.size);
      return st;
    });
    device.queue.submit([enc.finish()]);
    const what = () => {
      const files = [...new Set(kernels.map(([, s]) => this.plan.kernels[s.kernel]!.file))];
      const list = files.length > 6 ? `${files.slice(0, 6).join(', ')}, … (${files.length} kernels)` : files.join(', ');
      return kernels.length ? `steps ${kernels[0]![0]}..${kernels[kernels.length - 1]![0]} (${list})` : 'the copies and read-backs';
    };
    // Asked now, so it covers this submission and not later ones a caller makes before awaiting (MeshRunner's deferred
    // collectives); and timed from now, the submission, not from when the error scopes answer.
    const done = withTimeLimit(device.queue.onSubmittedWorkDone(), this.timeLimitMs, () => {
      for (const st of staging) st.destroy();
      return new RuntimeError(
        `${what()} did not finish within ${this.timeLimitMs / 1000} s; the run is abandoned, and the device may still be busy with them ` +
          `(a longer limit: timeLimitMs, mdc run or mdc generate --time-limit)`,
      );
    });
    // Handled here so that a timeout while the scopes answer is not an unhandled rejection; `await done` below still throws it.
    done.catch(() => undefined);
    const writes = this.pendingScopes.splice(0);
    const err = firstError(await Promise.all([...writes, ...scopes.pop()]));
    if (err) {
      for (const st of staging) st.destroy();
      throw new RuntimeError(`WebGPU rejected ${what()}: ${err}`);
    }
    await done;
    return Promise.all(
      staging.map(async (st, i) => {
        const r = reads[i]!;
        await st.mapAsync(GPUMapMode.READ);
        const type = this.plan.buffers[r.buffer]!.type;
        const bytes = st.getMappedRange().slice(0, r.count * (type === 'f16' ? 2 : 4));
        st.unmap();
        st.destroy();
        return type === 'i32' ? new Int32Array(bytes) : type === 'f16' ? fromHalves(new Uint16Array(bytes), r.count) : new Float32Array(bytes);
      }),
    );
  }

  destroy() {
    for (const b of this.owned) b.destroy();
  }
}

/**
 * Every binding fits the device: a buffer bound whole within maxStorageBufferBindingSize
 * (a larger value is bound as windows when the plan is compiled for this limit,
 * KernelTarget.maxBindingBytes), and no buffer of its own over maxBufferSize.
 */
function checkBindingSizes(plan: Plan, limits: GPUSupportedLimits): void {
  for (const s of plan.steps) {
    if (s.kind === 'collective') continue;
    const k = plan.kernels[s.kernel]!;
    if (k.bindings.length > limits.maxStorageBuffersPerShaderStage)
      throw new RuntimeError(
        `kernel ${k.file} has ${k.bindings.length} storage bindings (windows of values over the binding limit included), over this device's ` +
          `maxStorageBuffersPerShaderStage (${limits.maxStorageBuffersPerShaderStage}); request the adapter's limit when creating the device, or compile for a larger binding size`,
      );
    s.buffers.forEach((id, j) => {
      const b = plan.buffers[id]!;
      const w = k.bindings[j]!.window;
      const size = w?.bytes ?? b.bytes;
      if (size > limits.maxStorageBufferBindingSize)
        throw new RuntimeError(
          `kernel ${k.file} binds ${w ? `a ${size}-byte window of ` : ''}buffer '${b.name}' (${b.bytes} bytes), over this device's ` +
            `maxStorageBufferBindingSize (${limits.maxStorageBufferBindingSize}); compile the plan for this device's binding limit ` +
            `(mdc run --target adapter, or KernelTarget.maxBindingBytes), which binds larger values as several windows`,
        );
    });
  }
  const big = plan.buffers.find((b) => b.arena === undefined && b.bytes > limits.maxBufferSize);
  if (big) throw new RuntimeError(`buffer '${big.name}' needs ${big.bytes} bytes, over this device's maxBufferSize (${limits.maxBufferSize})`);
}

/** Validation and out-of-memory error scopes around what follows; `pop` closes both (inner first). */
function pushScopes(device: GPUDevice): { pop: () => Promise<GPUError | null>[] } {
  device.pushErrorScope('out-of-memory');
  device.pushErrorScope('validation');
  return { pop: () => [device.popErrorScope(), device.popErrorScope()] };
}

/** The first error's message, saying which kind it is. */
function firstError(errors: readonly (GPUError | null)[]): string | undefined {
  const e = errors.find((x) => x);
  if (!e) return undefined;
  return e.constructor.name === 'GPUOutOfMemoryError' ? `out of memory: ${e.message}` : e.message;
}

/** `p`, or the error `timeout` makes if `p` takes longer than `ms`. */
async function withTimeLimit<T>(p: Promise<T>, ms: number, timeout: () => Error): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(timeout()), ms);
  });
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** The plan's pipelines on `device`, and a bind group per kernel step (collective steps have none). */
async function compile(device: GPUDevice, plan: Plan, slots: readonly Slot[]) {
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
  const bindGroups = plan.steps.map((s, i) =>
    s.kind === 'collective'
      ? undefined
      : device.createBindGroup({
          layout: pipelines[s.kernel]!.getBindGroupLayout(0),
          entries: s.buffers.map((b, j) => {
            // A window (plan version 5) binds its range of the buffer.
            const w = plan.kernels[s.kernel]!.bindings[j]!.window;
            return { binding: j, resource: { buffer: slots[b]!.gpu, offset: slots[b]!.offset + (w?.offset ?? 0), size: w?.bytes ?? slots[b]!.size } };
          }),
          label: `step${i}:${s.op}`,
        }),
  );
  const err = await settle(device.popErrorScope());
  if (err) throw new RuntimeError(`WebGPU rejected the plan: ${err.message}`);
  return { pipelines, bindGroups };
}
