/**
 * The runtime plan: the contract between the compiler and the runtime. The runtime
 * imports nothing of the compiler; these types and `validatePlan` are all it knows.
 */
export const PLAN_FORMAT = 'mdc.plan';
/**
 * The plan version the compiler writes, and the newest this runtime reads. A runtime
 * reads every version up to its own; a plan needs a runtime of at least its version.
 * - 1: one device, kernel steps only.
 * - 2: a device mesh, collective steps, and each input's, parameter's and output's
 *   global shape and layout.
 * - 3: arenas (global memory reuse): activations and outputs placed at offsets in a few
 *   shared buffers (`arenas`, `PlanBuffer.arena` and `offset`); kernels no longer carry
 *   `uniforms` (a field that was never filled); the mesh is optional (present when the
 *   plan is partitioned).
 * - 4: a partitioned plan may have one buffer of role `coords`, which each runner fills
 *   with its device's mesh coordinates (kernels that need the device's position bind it:
 *   training dropout, which draws its mask by global element index).
 * - 5: a kernel binding may be a window (`KernelBinding.window`): a byte range of the
 *   buffer the step binds there, so that a value larger than one storage binding is bound
 *   as several. A runtime that ignored the field would bind the whole buffer at every
 *   window and read the wrong elements, hence the new version.
 * The compiler writes version 5 for plans with a window, 4 for plans with a `coords`
 * buffer and 3 for every other plan, so that older runtimes still read those.
 */
export const PLAN_VERSION = 3;
/** The version of plans with a `coords` buffer. */
export const PLAN_VERSION_COORDS = 4;
/** The version of plans with a windowed binding (and possibly a `coords` buffer), and the newest this runtime reads. */
export const PLAN_VERSION_WINDOWS = 5;
export type PlanVersion = 1 | 2 | 3 | 4 | 5;

/**
 * Every arena offset is a multiple of this many bytes: the largest value WebGPU allows
 * for minStorageBufferOffsetAlignment (and its default), so every device accepts it.
 */
export const ARENA_ALIGNMENT = 256;

/**
 * The largest storage binding code generation assumes when the target names none: 128 MiB,
 * WebGPU's default maxStorageBufferBindingSize and llvmpipe's. A value larger than the
 * target's limit is bound as several windows (`bindingWindows`).
 */
export const DEFAULT_MAX_BINDING_BYTES = 128 * 2 ** 20;

/** A byte range of a buffer that one kernel binding views (plan version 5). */
export interface BindingWindow {
  /** A multiple of ARENA_ALIGNMENT, so that every device accepts it as a binding offset. */
  readonly offset: number;
  /** A positive multiple of 4. */
  readonly bytes: number;
}

/**
 * How a buffer of `bytes` bytes is bound under a binding limit of `maxBindingBytes`: one
 * window per ARENA_ALIGNMENT-aligned stretch of at most the limit (rounded down to the
 * alignment), the last holding the rest; a single window covering it all when it fits.
 */
export function bindingWindows(bytes: number, maxBindingBytes: number): BindingWindow[] {
  if (bytes <= maxBindingBytes) return [{ offset: 0, bytes }];
  const per = Math.floor(maxBindingBytes / ARENA_ALIGNMENT) * ARENA_ALIGNMENT;
  if (per < ARENA_ALIGNMENT) throw new Error(`a binding limit of ${maxBindingBytes} bytes is below the ${ARENA_ALIGNMENT}-byte binding alignment`);
  const out: BindingWindow[] = [];
  for (let offset = 0; offset < bytes; offset += per) out.push({ offset, bytes: Math.min(per, bytes - offset) });
  return out;
}

/** How a buffer holds its elements: f16 only for f16 values, never a constant (the runner converts f16 inputs, parameters and outputs to and from the host's f32). */
export type StorageType = 'f32' | 'i32' | 'f16';

/** A buffer's size: 4 bytes an element (2 for f16, rounded up to whole words), at least 4. */
export const bufferBytes = (type: StorageType, count: number) => Math.max(4, type === 'f16' ? Math.ceil(count / 2) * 4 : count * 4);
export type SourceDType = 'f32' | 'f16' | 'bf16' | 'i32' | 'bool';

export type PlanInit =
  | { readonly kind: 'normal'; readonly mean: number; readonly std: number }
  | { readonly kind: 'uniform'; readonly low: number; readonly high: number }
  | { readonly kind: 'constant'; readonly value: number };

/**
 * `coords` (version 4, partitioned plans): i32, one element per mesh axis in the mesh's
 * order; each runner writes its device's coordinates there before the first run.
 */
export type BufferRole = 'input' | 'output' | 'param' | 'const' | 'activation' | 'coords';

export interface PlanBuffer {
  readonly id: number;
  readonly name: string;
  readonly role: BufferRole;
  readonly type: StorageType;
  readonly dtype: SourceDType;
  readonly shape: readonly number[];
  /** Element count × 4 (× 2 for f16, rounded up to a multiple of 4), at least 4. */
  readonly bytes: number;
  readonly init?: PlanInit;
  /** Constants: the scalar value. */
  readonly value?: number;
  /** Parameters of a partitioned plan: the whole tensor, initialised once and then sliced per device. */
  readonly global?: PlanGlobal;
  /**
   * Version 3: the arena (index into `Plan.arenas`) holding this buffer, which is then
   * bytes [offset, offset + bytes) of it; absent, the buffer is a GPUBuffer of its own.
   * Only activations and outputs are placed: inputs, parameters and constants are
   * written or kept by the host across runs. Buffers live at the same step never share
   * a byte (the compiler's memory plan; the validator checks it from the steps).
   */
  readonly arena?: number;
  /** With `arena`: the byte offset, a multiple of ARENA_ALIGNMENT. */
  readonly offset?: number;
}

export type Access = 'read' | 'read_write';

export interface KernelBinding {
  readonly binding: number;
  readonly name: string;
  readonly access: Access;
  readonly type: StorageType;
  /**
   * How many elements the kernel indexes in the bound buffer (the value it was written
   * for): every buffer a step binds here must hold at least this many.
   */
  readonly elements: number;
  /**
   * Version 5: the binding views bytes [offset, offset + bytes) of the step's buffer, not
   * all of it (`elements` counts within the window). A value over the binding limit is
   * bound as consecutive windows in consecutive bindings, and the kernel picks the window
   * an element falls in (docs/kernels.md, "Values larger than one binding").
   */
  readonly window?: BindingWindow;
}

export interface PlanKernel {
  readonly id: number;
  readonly name: string;
  readonly file: string;
  readonly wgsl: string;
  readonly entryPoint: string;
  readonly workgroupSize: readonly [number, number, number];
  /**
   * The workgroup grid the kernel was written for: every step running it dispatches
   * exactly this grid (a smaller one would leave outputs unwritten).
   */
  readonly dispatch: readonly [number, number, number];
  /**
   * In binding order. A kernel step binding an arena buffer declares it `read_write`
   * even when it only reads it: WebGPU forbids one buffer (the arena) bound read-only and
   * writable in the same dispatch.
   */
  readonly bindings: readonly KernelBinding[];
}

export type PlanStep = PlanKernelStep | PlanCollectiveStep;

export interface PlanKernelStep {
  /** Absent in emitted plans: a step without a kind is a kernel step. */
  readonly kind?: 'kernel';
  readonly kernel: number;
  /** Buffer id for each binding, in binding order. */
  readonly buffers: readonly number[];
  readonly dispatch: readonly [number, number, number];
  /** What the step computes and where it came from, for errors and traces. */
  readonly op: string;
  readonly scope: string;
  readonly line: number;
  readonly col: number;
}

export const COLLECTIVE_OPS = ['all_reduce', 'reduce_scatter', 'all_gather', 'all_to_all', 'shard_slice', 'partial_mask'] as const;
export type CollectiveOp = (typeof COLLECTIVE_OPS)[number];

/**
 * A step that combines the blocks devices hold of one value (partitioned plans, version 2 and later). Each
 * device reads its `input` buffer, holding a block of shape `shape`; the devices of a
 * group (those that differ only in their coordinate on `axis`, ordered by it) combine
 * their blocks, and each device writes its result to `output`:
 * - all_reduce: the elementwise sum over the group.
 * - reduce_scatter: the sum, cut into group-size blocks along `dim`; device k keeps block k.
 * - all_gather: the blocks concatenated along `dim` in group order.
 * - all_to_all: the blocks concatenated along `dim`, cut along `to`; device k keeps block k.
 * - shard_slice: local, no traffic: device k keeps block k of its own block along `dim`.
 * - partial_mask: local: coordinate 0 on `axis` keeps its block, the others hold zeros.
 */
export interface PlanCollectiveStep {
  readonly kind: 'collective';
  readonly op: CollectiveOp;
  readonly axis: string;
  readonly dim?: number;
  readonly to?: number;
  readonly input: number;
  readonly output: number;
  /** The shape of the block each device holds before the step (the input buffer may be a reshape's alias). */
  readonly shape: readonly number[];
  readonly scope: string;
  readonly line: number;
  readonly col: number;
}

export interface PlanIO {
  readonly name: string;
  readonly buffer: number;
  readonly dtype: SourceDType;
  /** The shape in the buffer: in a partitioned plan, the block each device holds. */
  readonly shape: readonly number[];
  /** Integer inputs: the valid id range [0, max) when the compiler knows it (embedding tables, labels). */
  readonly max?: number;
  /** The input indexes an embedding table: the runtime refuses ids outside [0, max). */
  readonly gathers?: boolean;
  /** Partitioned plans: the whole tensor the caller passes or receives, and how it is split. */
  readonly global?: PlanGlobal;
}

/** Devices are numbered row-major over the axes: on [dp: 2, tp: 4] device 5 has dp = 1, tp = 1. */
export interface PlanMesh {
  readonly axes: readonly { readonly name: string; readonly size: number }[];
  /** The product of the axis sizes. */
  readonly devices: number;
}

/**
 * How a whole tensor lies on the mesh: per dim, the axes that split it (major first);
 * `partial`, the axes over which it is a pending sum (device 0 on such an axis holds the value).
 */
export interface PlanLayout {
  readonly axes: readonly (readonly string[])[];
  readonly partial: readonly string[];
}

export interface PlanGlobal {
  readonly shape: readonly number[];
  readonly layout: PlanLayout;
}

export interface Plan {
  readonly format: typeof PLAN_FORMAT;
  readonly version: PlanVersion;
  readonly model: string;
  readonly source: string;
  readonly seed: number;
  readonly buffers: readonly PlanBuffer[];
  readonly inputs: readonly PlanIO[];
  readonly outputs: readonly PlanIO[];
  readonly kernels: readonly PlanKernel[];
  readonly steps: readonly PlanStep[];
  /** Version 2 and later: the device mesh the plan is partitioned over (absent: one device). */
  readonly mesh?: PlanMesh;
  /**
   * Version 3: each arena's size in bytes, a multiple of ARENA_ALIGNMENT. The runtime
   * allocates one GPUBuffer per arena (per device of a mesh) and binds each placed
   * buffer as a range of it. The compiler caps arenas (by default at 128 MiB, WebGPU's
   * default maxStorageBufferBindingSize); the runtime refuses an arena over the
   * device's maxBufferSize.
   */
  readonly arenas?: readonly number[];
  /**
   * WebGPU features the device must have enabled (`subgroups`), present only when the
   * plan was compiled for a target that offers them; portable plans have none.
   */
  readonly features?: readonly string[];
  /**
   * With `subgroups`: the lane count the subgroup kernels were written for (a workgroup
   * of that many invocations is one subgroup); the runtime refuses a device whose
   * subgroups may have another size.
   */
  readonly subgroupSize?: number;
  /**
   * Training plans: after every run, each named output is copied over the named
   * parameter (on the device, in the same submission), so parameters and optimizer
   * state stay resident between steps.
   */
  readonly updates?: readonly PlanUpdate[];
  /**
   * Training plans with `@offload(host)` parameters: the host keeps their optimizer state and
   * computes their update (runtime/offload.ts), which `updates` leaves out. Optional, and
   * absent from every other plan.
   */
  readonly offload?: PlanOffload;
  /**
   * The SHA-256 of the rest of the plan (runtime/integrity.ts), written by the compiler and
   * checked by the runners before anything else; absent only in hand-written plans.
   */
  readonly integrity?: string;
}

export interface PlanUpdate {
  readonly output: string;
  readonly param: string;
}

/**
 * The host's part of a training step. After each run that applies the optimizer (the
 * last micro-batch of a step), the host reads each parameter's gradient output (the
 * accumulated mean, not clipped; the whole tensor of a partitioned plan), multiplies it by
 * the `clipScale` output when there is one, updates its own f32 copy of the parameter and
 * optimizer state exactly as the device's kernels would, and writes the new parameter over
 * the device's (every device's block of it). Per-step scalars (`lr`, `bc1`, `bc2`) are the
 * values the host passes as the plan's inputs of those names.
 */
export interface PlanOffload {
  readonly optimizer: PlanOptimizer;
  /** The output holding the gradient-clipping factor min(1, clip / (norm + 1e-6)); absent without clipping. */
  readonly clipScale?: string;
  readonly params: readonly PlanOffloadParam[];
}

export interface PlanOptimizer {
  readonly kind: 'adamw' | 'sgd';
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;
  readonly momentum: number;
}

export interface PlanOffloadParam {
  /** A parameter buffer (not in `updates`). */
  readonly param: string;
  /** The output carrying its gradient, of the parameter's (global) shape. */
  readonly grad: string;
  /** Whether decoupled weight decay applies (rank ≥ 2 parameters). */
  readonly decay: boolean;
}

/** Bytes an offloaded step moves between host and device: gradients read back, parameters written. */
export function offloadTraffic(plan: Plan): { readonly toHost: number; readonly toDevice: number } {
  if (!plan.offload) return { toHost: 0, toDevice: 0 };
  const whole = (name: string) => {
    const b = plan.buffers.find((x) => x.role === 'param' && x.name === name)!;
    return (b.global ? b.global.shape : b.shape).reduce((a, d) => a * d, 1) * 4;
  };
  const bytes = plan.offload.params.reduce((a, o) => a + whole(o.param), 0);
  return { toHost: bytes + (plan.offload.clipScale ? 4 : 0), toDevice: bytes };
}

/** What one run of a plan moves through its kernels (`planTraffic`). */
export interface PlanTraffic {
  /** Kernel dispatches (collective steps are not counted). */
  readonly dispatches: number;
  /**
   * Bytes of the buffers bound to those dispatches, each binding counted once per step.
   * An estimate of a run's memory traffic, not a bound either way: a gather, a slice or
   * a concat band binds more than it touches, and a kernel that rereads tiles moves
   * more than it binds. Fusion lowers it by keeping intermediates out of memory.
   */
  readonly bytes: number;
}

export function planTraffic(plan: Plan): PlanTraffic {
  let dispatches = 0;
  let bytes = 0;
  for (const s of plan.steps) {
    if (s.kind === 'collective') continue;
    dispatches++;
    for (const b of s.buffers) bytes += plan.buffers[b]!.bytes;
  }
  return { dispatches, bytes };
}

/** The device buffers a plan needs on each device (`planAllocation`). */
export interface PlanAllocation {
  /** One buffer per arena, and their bytes. */
  readonly arenas: number;
  readonly arenaBytes: number;
  /** Buffers of their own (inputs, parameters, constants, and whatever is not placed), and their bytes. */
  readonly buffers: number;
  readonly bufferBytes: number;
  /** Everything a runner allocates and keeps (per device of a mesh): arenaBytes + bufferBytes. */
  readonly bytes: number;
  /** What one buffer per plan buffer would take (`arenas: false`, or a plan without arenas). */
  readonly unplacedBytes: number;
}

/** The bytes a runner keeps allocated for `plan` on each device; with `arenas` false, one buffer per plan buffer. */
export function planAllocation(plan: Plan, arenas = true): PlanAllocation {
  const use = arenas && !!plan.arenas;
  const own = plan.buffers.filter((b) => !use || b.arena === undefined);
  const arenaBytes = use ? plan.arenas!.reduce((a, b) => a + b, 0) : 0;
  const bufferBytes = own.reduce((a, b) => a + b.bytes, 0);
  return {
    arenas: use ? plan.arenas!.length : 0,
    arenaBytes,
    buffers: own.length,
    bufferBytes,
    bytes: arenaBytes + bufferBytes,
    unplacedBytes: plan.buffers.reduce((a, b) => a + b.bytes, 0),
  };
}
