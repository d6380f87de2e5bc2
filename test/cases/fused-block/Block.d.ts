import { type LoadOptions, type PlanKernels } from "mdc/runtime";
/** Input shapes of Block. */
export declare const inputShapes: {
    readonly x: readonly [2, 3, 8];
    readonly scale: readonly [8];
};
/** Output shapes of Block. */
export declare const outputShapes: {
    readonly y: readonly [2, 3, 8];
    readonly output1: readonly [2, 3, 8];
};
export interface BlockInputs {
    /** f32[2, 3, 8] */
    readonly "x": Float32Array;
    /** f32[8] */
    readonly "scale": Float32Array;
}
export interface BlockOutputs {
    /** f32[2, 3, 8] */
    readonly "y": {
        readonly shape: readonly [2, 3, 8];
        readonly data: Float32Array;
    };
    /** f32[2, 3, 8] */
    readonly "output1": {
        readonly shape: readonly [2, 3, 8];
        readonly data: Float32Array;
    };
}
/** Block, compiled by mdc from input.model. */
export declare class Block {
    private readonly model;
    private constructor();
    /** Validates the plan, creates buffers on `device`, compiles the plan's 4 kernels (pipeline creation, timed in `kernels`) and uploads the parameters: from `options.checkpoint` (safetensors bytes; `options.weightsMap` for Hugging Face names), `options.params`, or else initialised from the plan's seed. */
    static load(device: GPUDevice, options?: LoadOptions): Promise<Block>;
    /** Runs every kernel once on zero inputs so that the first real run pays no first-use costs; resolves to its milliseconds. */
    warmup(): Promise<number>;
    /** How many kernels the plan has and how long `load` took to compile them. */
    get kernels(): PlanKernels;
    /** Runs one forward pass. */
    run(inputs: BlockInputs): Promise<BlockOutputs>;
    /** Releases the GPU buffers. */
    destroy(): void;
}
export default Block;
