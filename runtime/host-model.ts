/// <reference types="@webgpu/types" preserve="true" />
/**
 * What a compiled host module (codegen/host.ts) stands on: loading a plan onto a device
 * with its parameters from a safetensors checkpoint, and running it. Browser-safe: the
 * checkpoint comes as bytes (in Node, `await readFile(path)`).
 *
 * The reference above is kept in this file's declarations (`preserve`), so a project that
 * installs mdc gets WebGPU's types (`GPUDevice`, ...) through mdc's own dependency on
 * `@webgpu/types` as soon as it imports `mdc/runtime` or a host module, with no setup.
 */
import { decodeCheckpoint } from './checkpoint.js';
import { checkSizes, cutOutputs, padInputs, type RunSizes, type SizeDim } from './dynamic-sizes.js';
import { PlanRunner, type HostArray, type PlanKernels, type RunnerOptions, type Tensor } from './executor.js';
import type { Plan } from './plan.js';
import { convertTensor, planImport, type HeaderTensor } from './weights.js';
import { WeightsError, type WeightsMap } from './weights-map.js';

export interface LoadOptions extends RunnerOptions {
  /**
   * A safetensors file's bytes whose tensors become the parameters: `mdc train`'s
   * checkpoint.safetensors (the model's own parameter names; its optimizer state is
   * passed over), or with `weightsMap` a file with another publisher's names (Hugging
   * Face's). A tensor that is no parameter, a parameter the file lacks and a shape that
   * differs are each refused, all in one WeightsError.
   */
  readonly checkpoint?: Uint8Array | ArrayBuffer;
  /** With `checkpoint`: how its names map onto the parameters, a preset (`gpt2`, `bert`, `llama`) or a map (docs/weights.md). */
  readonly weightsMap?: WeightsMap | string;
  /** Names the checkpoint in errors (default `checkpoint`). */
  readonly checkpointName?: string;
}

/** `mdc train`'s checkpoints say so in their metadata (cli/commands/train.ts `identity`). */
const TRAIN_FORMAT = 'mdc-train-1';

/**
 * The parameters a checkpoint gives `plan`, by name: through `map` when one is given, else
 * by the plan's own parameter names. Every problem is collected into one WeightsError.
 */
export function checkpointParams(
  plan: Pick<Plan, 'model' | 'buffers'>,
  bytes: Uint8Array | ArrayBuffer,
  map?: WeightsMap | string,
  what = 'checkpoint',
): Map<string, Float32Array> {
  const data = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  const ck = decodeCheckpoint(data, { source: what, requireChecksum: false, skipOtherDtypes: true });
  const params = plan.buffers.filter((b) => b.role === 'param');
  const names = new Set(params.map((b) => b.name));
  let header: HeaderTensor[] = [...Object.entries(ck.tensors).map(([name, t]) => ({ name, dtype: t.dtype, shape: t.shape })), ...(ck.skipped ?? [])];
  if (!map && ck.metadata['format'] === TRAIN_FORMAT) {
    if (ck.metadata['model'] !== plan.model)
      throw new WeightsError(what, [`it is mdc train's checkpoint of model '${ck.metadata['model'] ?? '?'}', not of ${plan.model}`]);
    // The optimizer's moments of each parameter: training state, not weights.
    header = header.filter((t) => !/^opt\.[mv]\./.test(t.name) || !names.has(t.name.slice(6)));
  }
  const identity: WeightsMap = { name: `${plan.model}'s parameter names`, entries: params.map((b) => ({ source: b.name, target: b.name })) };
  const reads = planImport(header, plan, map ?? identity, what);
  const out = new Map<string, Float32Array>();
  for (const [name, read] of reads) for (const [n, v] of convertTensor(read, ck.tensors[name]!)) out.set(n, v);
  return out;
}

/** `LoadOptions` as PlanRunner takes them: a checkpoint turned into `params`. */
export function runnerOptions(plan: Plan, opts: LoadOptions = {}): RunnerOptions {
  const { checkpoint, weightsMap, checkpointName, ...rest } = opts;
  if (checkpoint === undefined) {
    if (weightsMap !== undefined) throw new WeightsError(checkpointName ?? 'checkpoint', ['a weightsMap was given without a checkpoint to read']);
    return rest;
  }
  if (rest.params) throw new WeightsError(checkpointName ?? 'checkpoint', ['give the parameters either as `params` or as a `checkpoint`, not both']);
  return { ...rest, params: checkpointParams(plan, checkpoint, weightsMap, checkpointName) };
}

/**
 * A compiled model on one device, as a host module drives it: `load` validates the plan,
 * reads the checkpoint, creates buffers and pipelines and uploads the parameters.
 */
export class HostModel {
  private constructor(
    private readonly runner: PlanRunner,
    private readonly dims: readonly SizeDim[],
  ) {}

  /** `dims`: the model's symbolic dims of its inputs and outputs, which axes each is and whether it may run smaller (the compiler's record). */
  static async load(device: GPUDevice, plan: unknown, opts: LoadOptions = {}, dims: readonly SizeDim[] = []): Promise<HostModel> {
    const p = plan as Plan;
    return new HostModel(await PlanRunner.create(device, p, runnerOptions(p, opts)), dims);
  }

  get plan(): Plan {
    return this.runner.plan;
  }

  get kernels(): PlanKernels {
    return this.runner.kernels;
  }

  warmup(): Promise<number> {
    return this.runner.warmup();
  }

  /**
   * One forward pass; with `sizes`, at dims below the compiled sizes (inputs of the smaller
   * shapes; padded to the compiled ones, outputs cut back), where the compiler found that right.
   */
  async run(inputs: Readonly<Record<string, HostArray>>, sizes?: RunSizes): Promise<Record<string, Tensor>> {
    const at = checkSizes(this.plan.model, this.dims, sizes ?? {});
    if (!at.size) return this.runner.run(inputs);
    const out = await this.runner.run(padInputs(this.plan.model, this.plan.inputs, this.dims, at, inputs));
    return cutOutputs(this.plan.outputs, this.dims, at, out);
  }

  destroy(): void {
    this.runner.destroy();
  }
}
