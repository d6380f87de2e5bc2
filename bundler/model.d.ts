/// <reference types="@webgpu/types" />
/**
 * Types for `import Model from './x.model'` in a bundled project: add
 * `"types": ["mdc/bundler/model"]` to tsconfig.json, or `/// <reference types="mdc/bundler/model" />`.
 * Shapes here are any numbers; the plugin's `dts: true` writes `<file>.model.d.ts` beside each
 * model with its exact input and output shapes as literal types, which TypeScript prefers.
 */
declare module '*.model' {
  type HostArray = Float32Array | Int32Array;
  /** A compiled model on one device, as the host module's class. */
  interface LoadedModel {
    /** Runs every kernel once on zero inputs; resolves to its milliseconds. */
    warmup(): Promise<number>;
    /** How many kernels the plan has and how long `load` took to compile them. */
    readonly kernels: { readonly count: number; readonly compileMilliseconds: number };
    /** Runs one forward pass: one array per input, by name. */
    run(inputs: Readonly<Record<string, HostArray>>): Promise<Readonly<Record<string, { readonly shape: readonly number[]; readonly data: HostArray }>>>;
    /** Releases the GPU buffers. */
    destroy(): void;
  }
  /** The options of the runtime's `PlanRunner.create` (mdc/runtime `RunnerOptions`). */
  interface LoadOptions {
    readonly params?: ReadonlyMap<string, Float32Array>;
    readonly initRest?: boolean;
    readonly seed?: number;
    readonly [option: string]: unknown;
  }
  const Model: {
    /** Validates the plan, creates buffers on `device`, compiles the kernels and uploads the parameters. */
    load(device: GPUDevice, options?: LoadOptions): Promise<LoadedModel>;
  };
  export default Model;
  export const inputShapes: Readonly<Record<string, readonly number[]>>;
  export const outputShapes: Readonly<Record<string, readonly number[]>>;
}
