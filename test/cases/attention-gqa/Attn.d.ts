import { type LoadOptions, type PlanKernels } from "mdc/runtime";
/** Input shapes of Attn. */
export declare const inputShapes: {
    readonly x: readonly [1, 5, 8];
    readonly mask: readonly [1, 5];
};
/** Output shapes of Attn. */
export declare const outputShapes: {
    readonly output0: readonly [1, 5, 8];
};
export interface AttnInputs {
    /** f32[1, 5, 8] */
    readonly "x": Float32Array;
    /** i32[1, 5] */
    readonly "mask": Int32Array;
}
export interface AttnOutputs {
    /** f32[1, 5, 8] */
    readonly "output0": {
        readonly shape: readonly [1, 5, 8];
        readonly data: Float32Array;
    };
}
/** Attn, compiled by mdc from input.model. */
export declare class Attn {
    private readonly model;
    private constructor();
    /** Validates the plan, creates buffers on `device`, compiles the plan's 8 kernels (pipeline creation, timed in `kernels`) and uploads the parameters: from `options.checkpoint` (safetensors bytes; `options.weightsMap` for Hugging Face names), `options.params`, or else initialised from the plan's seed. */
    static load(device: GPUDevice, options?: LoadOptions): Promise<Attn>;
    /** Runs every kernel once on zero inputs so that the first real run pays no first-use costs; resolves to its milliseconds. */
    warmup(): Promise<number>;
    /** How many kernels the plan has and how long `load` took to compile them. */
    get kernels(): PlanKernels;
    /** Runs one forward pass. */
    run(inputs: AttnInputs): Promise<AttnOutputs>;
    /** Releases the GPU buffers. */
    destroy(): void;
}
export default Attn;
