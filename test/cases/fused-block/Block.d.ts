import { type RunnerOptions } from "mdc/runtime";
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
    private readonly runner;
    private constructor();
    /** Validates the plan, creates buffers and pipelines on `device` and initialises parameters. */
    static load(device: GPUDevice, options?: RunnerOptions): Promise<Block>;
    /** Runs one forward pass. */
    run(inputs: BlockInputs): Promise<BlockOutputs>;
    /** Releases the GPU buffers. */
    destroy(): void;
}
export default Block;
