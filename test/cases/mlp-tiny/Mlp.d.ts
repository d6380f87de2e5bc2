import { type LoadOptions, type PlanKernels } from "mdc/runtime";
/** Input shapes of Mlp. */
export declare const inputShapes: {
    readonly x: readonly [2, 6];
};
/** Output shapes of Mlp. */
export declare const outputShapes: {
    readonly probs: readonly [2, 3];
};
export interface MlpInputs {
    /** f32[2, 6] */
    readonly "x": Float32Array;
}
export interface MlpOutputs {
    /** f32[2, 3] */
    readonly "probs": {
        readonly shape: readonly [2, 3];
        readonly data: Float32Array;
    };
}
/** Mlp, compiled by mdc from input.model. */
export declare class Mlp {
    private readonly model;
    private constructor();
    /** Validates the plan, creates buffers on `device`, compiles the plan's 3 kernels (pipeline creation, timed in `kernels`) and uploads the parameters: from `options.checkpoint` (safetensors bytes; `options.weightsMap` for Hugging Face names), `options.params`, or else initialised from the plan's seed. */
    static load(device: GPUDevice, options?: LoadOptions): Promise<Mlp>;
    /** Runs every kernel once on zero inputs so that the first real run pays no first-use costs; resolves to its milliseconds. */
    warmup(): Promise<number>;
    /** How many kernels the plan has and how long `load` took to compile them. */
    get kernels(): PlanKernels;
    /** Runs one forward pass. */
    run(inputs: MlpInputs): Promise<MlpOutputs>;
    /** Releases the GPU buffers. */
    destroy(): void;
}
export default Mlp;
