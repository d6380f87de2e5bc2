import type { HostArray, Tensor } from './executor.js';
import type { HostOffload, OffloadRunner } from './offload.js';

/**
 * Host side of training: the learning-rate schedule, AdamW's bias corrections, byte-level
 * batches drawn deterministically from a text, and a step driver around a training plan
 * (compiler/train/step.ts), whose parameters and optimizer state stay on the device.
 * Browser-safe: no Node imports.
 */

export interface Schedule {
  readonly lr: number;
  /** Linear warm-up steps from 0 to lr. */
  readonly warmup: number;
  /** Total steps; after warm-up the rate follows a cosine down to `minRatio`·lr at the last step. */
  readonly steps: number;
  readonly minRatio?: number;
}

/** The learning rate at 1-based step `t`. */
export function lrAt(t: number, s: Schedule): number {
  if (s.warmup > 0 && t <= s.warmup) return (s.lr * t) / s.warmup;
  const span = Math.max(1, s.steps - s.warmup);
  const progress = Math.min(1, Math.max(0, (t - s.warmup) / span));
  const min = s.lr * (s.minRatio ?? 0.1);
  return min + 0.5 * (s.lr - min) * (1 + Math.cos(Math.PI * progress));
}

/** AdamW's bias corrections at 1-based step t: 1/(1-β1^t), 1/(1-β2^t). */
export function biasCorrections(t: number, beta1: number, beta2: number): [number, number] {
  return [1 / (1 - beta1 ** t), 1 / (1 - beta2 ** t)];
}

/** A 32-bit mix of the seed and step (so batch t is the same whatever happened before it). */
function mix(seed: number, t: number): number {
  let h = (seed ^ Math.imul(t + 0x9e3779b9, 0x85ebca6b)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d) >>> 0;
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

/** Byte-level language-model batches: tokens are UTF-8 bytes (vocabulary 256), labels the next byte. */
export class TextBatches {
  constructor(
    readonly bytes: Uint8Array,
    readonly batch: number,
    readonly seq: number,
    readonly seed: number,
  ) {
    if (bytes.length < seq + 2) throw new RangeError(`the text has ${bytes.length} bytes; sequences of ${seq} need at least ${seq + 2}`);
  }

  /** Batch for 1-based step t: `batch` windows at offsets drawn from (seed, t). */
  at(t: number): { tokens: Int32Array; labels: Int32Array } {
    const { batch: B, seq: S } = this;
    const tokens = new Int32Array(B * S);
    const labels = new Int32Array(B * S);
    let state = mix(this.seed, t);
    for (let b = 0; b < B; b++) {
      state = mix(state, b + 1);
      const off = state % (this.bytes.length - S - 1);
      for (let i = 0; i < S; i++) {
        tokens[b * S + i] = this.bytes[off + i]!;
        labels[b * S + i] = this.bytes[off + i + 1]!;
      }
    }
    return { tokens, labels };
  }
}

export interface StepResult {
  readonly step: number;
  readonly loss: number;
  readonly gradNorm: number;
  readonly lr: number;
  readonly seconds: number;
  /** Mixed precision: the loss scale this step used, and whether its gradients overflowed (the step changed nothing). */
  readonly lossScale?: number;
  readonly skipped?: boolean;
}

/**
 * Dynamic loss scaling for mixed precision: the loss is multiplied by `scale` before the
 * backward pass. When gradients overflow, the step is skipped (the training graph keeps
 * every old value) and the scale halves; after `interval` good steps in a row it doubles.
 */
export class LossScaler {
  constructor(
    public scale = 2 ** 16,
    public goodSteps = 0,
    readonly interval = 200,
    readonly min = 1,
  ) {}

  /** Records a step's outcome from its gradient norm; returns whether it was skipped. */
  update(gradNorm: number): boolean {
    if (!Number.isFinite(gradNorm)) {
      this.scale = Math.max(this.min, this.scale / 2);
      this.goodSteps = 0;
      return true;
    }
    if (++this.goodSteps >= this.interval) {
      this.scale *= 2;
      this.goodSteps = 0;
    }
    return false;
  }
}

/** Drives a training plan one step at a time. */
export class Trainer {
  /** The plan takes the training dropout counter `dropout_step` (compiler/train/dropout-step.ts). */
  private readonly dropoutStep: boolean;

  constructor(
    /**
     * A PlanRunner, or a MeshRunner for a partitioned plan (`writeParams` is only used with
     * `offload`; `plan.inputs` tells whether the plan draws dropout masks per step).
     */
    private readonly runner: Pick<OffloadRunner, 'run'> &
      Partial<OffloadRunner> & { readonly plan?: { readonly inputs: readonly { readonly name: string }[] } },
    private readonly data: TextBatches,
    private readonly schedule: Schedule,
    private readonly betas: readonly [number, number] | undefined,
    /** The model's token input (its labels input is `labels`). */
    private readonly tokenInput = 'tokens',
    /** Mixed-precision plans take `loss_scale` and `inv_loss_scale` inputs. */
    readonly scaler?: LossScaler,
    /**
     * Plans compiled with `microbatches = N` (compiler/train/step.ts) take a batch of
     * `data.batch / N` rows and an `apply` input: each step runs them N times on
     * consecutive row ranges of the step's batch, accumulating, and the last run applies
     * the update. The step's loss is the mean of the N micro-batch losses.
     */
    readonly microbatches = 1,
    /**
     * Plans with `@offload(host)` parameters (runtime/offload.ts): after the run that
     * applies, the host updates them from their gradients and writes them back.
     */
    readonly offload?: HostOffload,
  ) {
    if (!Number.isInteger(microbatches) || microbatches < 1 || data.batch % microbatches !== 0) {
      throw new RangeError(`${microbatches} micro-batches do not divide a batch of ${data.batch}`);
    }
    if (offload && !runner.writeParams) throw new RangeError('host offload writes the parameters it updates: the runner needs writeParams');
    this.dropoutStep = !!runner.plan?.inputs.some((i) => i.name === 'dropout_step');
  }

  async step(t: number): Promise<StepResult> {
    const batch = this.data.at(t);
    const lr = lrAt(t, this.schedule);
    const inputs: Record<string, HostArray> = { lr: Float32Array.of(lr) };
    if (this.betas) {
      const [bc1, bc2] = biasCorrections(t, this.betas[0], this.betas[1]);
      inputs['bc1'] = Float32Array.of(bc1);
      inputs['bc2'] = Float32Array.of(bc2);
    }
    const scale = this.scaler?.scale;
    if (scale !== undefined) {
      inputs['loss_scale'] = Float32Array.of(scale);
      inputs['inv_loss_scale'] = Float32Array.of(1 / scale);
    }
    const t0 = performance.now();
    const n = this.microbatches;
    const rows = (this.data.batch / n) * this.data.seq;
    let loss = 0;
    let out: Record<string, Tensor> = {};
    for (let m = 0; m < n; m++) {
      const slice = (a: Int32Array) => (n === 1 ? a : a.subarray(m * rows, (m + 1) * rows));
      const micro = {
        ...inputs,
        [this.tokenInput]: slice(batch.tokens),
        labels: slice(batch.labels),
        ...(n > 1 ? { apply: Float32Array.of(m === n - 1 ? 1 : 0) } : {}),
        // A counter per run, from the step number alone: a resumed run draws the masks of an uninterrupted one.
        ...(this.dropoutStep ? { dropout_step: Int32Array.of((t - 1) * n + m) } : {}),
      };
      out = await this.runner.run(micro, m === n - 1 ? ['loss', 'grad_norm', ...(this.offload?.outputs ?? [])] : ['loss']);
      loss += out['loss']!.data[0]! / n;
    }
    if (this.offload) {
      const scalars = { lr: inputs['lr']![0]!, ...(inputs['bc1'] ? { bc1: inputs['bc1'][0]!, bc2: inputs['bc2']![0]! } : {}) };
      this.runner.writeParams!(this.offload.apply(out, scalars));
    }
    const gradNorm = out['grad_norm']!.data[0]!;
    const base = { step: t, loss: n === 1 ? out['loss']!.data[0]! : loss, gradNorm, lr, seconds: (performance.now() - t0) / 1000 };
    if (!this.scaler) return base;
    return { ...base, lossScale: scale!, skipped: this.scaler.update(gradNorm) };
  }
}

/** Where a set of tensors first holds NaN or ±Inf: the tensor (in the order given), the element's index and its value. */
export function firstNonFinite(tensors: Iterable<readonly [string, Float32Array]>): { name: string; index: number; value: number } | undefined {
  for (const [name, data] of tensors) {
    for (let i = 0; i < data.length; i++) {
      const x = data[i]!;
      // x - x is 0 for every finite x and NaN for NaN and ±Inf: one compare per element.
      if (x - x !== 0) return { name, index: i, value: x };
    }
  }
  return undefined;
}
