import { type RunnerOptions } from "mdc/runtime";
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
    private readonly runner;
    private constructor();
    /** Validates the plan, creates buffers and pipelines on `device` and initialises parameters. */
    static load(device: GPUDevice, options?: RunnerOptions): Promise<Mlp>;
    /** Runs one forward pass. */
    run(inputs: MlpInputs): Promise<MlpOutputs>;
    /** Releases the GPU buffers. */
    destroy(): void;
}
export default Mlp;
