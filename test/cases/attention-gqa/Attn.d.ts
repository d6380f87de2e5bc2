import { type RunnerOptions } from "mdc/runtime";
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
    private readonly runner;
    private constructor();
    /** Validates the plan, creates buffers and pipelines on `device` and initialises parameters. */
    static load(device: GPUDevice, options?: RunnerOptions): Promise<Attn>;
    /** Runs one forward pass. */
    run(inputs: AttnInputs): Promise<AttnOutputs>;
    /** Releases the GPU buffers. */
    destroy(): void;
}
export default Attn;
