/**
 * The runtime plan: the contract between the compiler and the runtime. The runtime
 * imports nothing of the compiler; these types and `validatePlan` are all it knows.
 */
export const PLAN_FORMAT = 'mdc.plan';
export const PLAN_VERSION = 1;

/** How tensors are stored on the device. f16/bf16 tensors are stored and computed as f32 for now. */
export type StorageType = 'f32' | 'i32';
export type SourceDType = 'f32' | 'f16' | 'bf16' | 'i32' | 'bool';

export type PlanInit =
  | { readonly kind: 'normal'; readonly mean: number; readonly std: number }
  | { readonly kind: 'uniform'; readonly low: number; readonly high: number }
  | { readonly kind: 'constant'; readonly value: number };

export type BufferRole = 'input' | 'output' | 'param' | 'const' | 'activation';

export interface PlanBuffer {
  readonly id: number;
  readonly name: string;
  readonly role: BufferRole;
  readonly type: StorageType;
  readonly dtype: SourceDType;
  readonly shape: readonly number[];
  /** Element count × 4, at least 4. */
  readonly bytes: number;
  readonly init?: PlanInit;
  /** Constants: the scalar value. */
  readonly value?: number;
}

export type Access = 'read' | 'read_write';

export interface KernelBinding {
  readonly binding: number;
  readonly name: string;
  readonly access: Access;
  readonly type: StorageType;
}

export interface KernelUniform {
  readonly name: string;
  readonly type: 'u32' | 'i32' | 'f32';
  readonly offset: number;
}

export interface PlanKernel {
  readonly id: number;
  readonly name: string;
  readonly file: string;
  readonly wgsl: string;
  readonly entryPoint: string;
  readonly workgroupSize: readonly [number, number, number];
  readonly bindings: readonly KernelBinding[];
  readonly uniforms: readonly KernelUniform[];
}

export interface PlanStep {
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

export interface PlanIO {
  readonly name: string;
  readonly buffer: number;
  readonly dtype: SourceDType;
  readonly shape: readonly number[];
  /** Integer inputs: the valid id range [0, max) when the compiler knows it (embedding tables, labels). */
  readonly max?: number;
}

export interface Plan {
  readonly format: typeof PLAN_FORMAT;
  readonly version: typeof PLAN_VERSION;
  readonly model: string;
  readonly source: string;
  readonly seed: number;
  readonly buffers: readonly PlanBuffer[];
  readonly inputs: readonly PlanIO[];
  readonly outputs: readonly PlanIO[];
  readonly kernels: readonly PlanKernel[];
  readonly steps: readonly PlanStep[];
}
