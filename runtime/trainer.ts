import { permutation, splitIndices } from './datasets.js';
import type { HostArray, Tensor } from './executor.js';
import { biasCorrections, lrAt, type StepResult } from './train.js';

/**
 * A Trainer in the shape Hugging Face users know: `new Trainer({ model, train, eval,
 * optimizer, schedule, callbacks })`, then `train()`, `evaluate()` and `predict()`.
 * Browser-safe; the caller compiles the plans and owns files (mdc train writes the
 * checkpoints from `onCheckpoint`).
 *
 * Determinism: the examples of step t are a function of (seed, t) alone (each epoch a
 * permutation drawn from the seed and the epoch), the learning rate a function of t, and
 * evaluation runs a forward plan on the parameters as they are; so a run resumed from a
 * checkpoint of step s (parameters and optimizer state restored exactly, the histories up
 * to s) computes the same numbers as one that never stopped.
 */

/** Examples held in memory as one typed array per plan input, `length` rows each. */
export class ArrayDataset {
  private readonly sizes: Record<string, number>;

  constructor(
    readonly columns: Readonly<Record<string, HostArray>>,
    readonly length: number,
  ) {
    this.sizes = {};
    for (const [k, a] of Object.entries(columns)) {
      if (length > 0 ? a.length % length !== 0 : a.length !== 0)
        throw new RangeError(`column '${k}' has ${a.length} values, not a whole number per row of ${length} rows`);
      this.sizes[k] = length > 0 ? a.length / length : 0;
    }
  }

  /** Values per row of a column. */
  size(name: string): number {
    return this.sizes[name]!;
  }

  /** The rows at `indices`, in that order; `rows` pads the result with copies of its last row (a plan's fixed batch). */
  gather(indices: ArrayLike<number>, rows = indices.length): Record<string, HostArray> {
    const out: Record<string, HostArray> = {};
    for (const [k, a] of Object.entries(this.columns)) {
      const n = this.sizes[k]!;
      const b = a instanceof Int32Array ? new Int32Array(rows * n) : new Float32Array(rows * n);
      for (let r = 0; r < rows; r++) {
        const i = indices[Math.min(r, indices.length - 1)]!;
        b.set(a.subarray(i * n, (i + 1) * n), r * n);
      }
      out[k] = b;
    }
    return out;
  }

  subset(indices: ArrayLike<number>): ArrayDataset {
    return new ArrayDataset(this.gather(indices), indices.length);
  }

  /** Disjoint train and validation parts, the validation part a seeded `fraction` of the rows. */
  split(fraction: number, seed: number): { train: ArrayDataset; validation: ArrayDataset } {
    const { train, validation } = splitIndices(this.length, fraction, seed);
    return { train: this.subset(train), validation: this.subset(validation) };
  }
}

/**
 * Examples read as they are needed, for files larger than memory (runtime/datasets-node.ts
 * streams JSONL and CSV): `length` examples an epoch, and each epoch's batches in an order
 * that depends only on the epoch (the same every time it is asked, so a resumed run skips
 * to its step and sees what an uninterrupted one saw). No epoch: file order, for evaluation.
 */
export interface BatchStream {
  readonly length: number;
  /** Values per example of each column (a short last batch's rows are its length over this). */
  readonly sizes: Readonly<Record<string, number>>;
  batches(rows: number, opts: { readonly epoch?: number; readonly dropLast: boolean }): AsyncIterator<Record<string, HostArray>>;
}

export type TrainData = ArrayDataset | BatchStream;

/** What the Trainer needs of a runner of the training plan (a PlanRunner or MeshRunner). */
export interface StepRunner {
  run(inputs: Readonly<Record<string, HostArray>>, only?: readonly string[]): Promise<Record<string, Tensor>>;
  readParams(): Promise<Map<string, Float32Array>>;
  readonly plan?: { readonly inputs: readonly { readonly name: string }[] };
}

/** A runner of the model's forward plan (for evaluate and predict): the training plan's parameters are written into it. */
export interface ForwardRunner {
  run(inputs: Readonly<Record<string, HostArray>>, only?: readonly string[]): Promise<Record<string, Tensor>>;
  writeParams(values: ReadonlyMap<string, Float32Array>): void;
  readonly plan: {
    readonly inputs: readonly { readonly name: string; readonly shape: readonly number[] }[];
    readonly buffers: readonly { readonly role: string; readonly name: string }[];
  };
}

export type ScheduleKind = 'constant' | 'linear' | 'cosine';
export interface LrSchedule {
  readonly kind: ScheduleKind;
  /** Linear warm-up steps from 0 to the optimizer's lr. */
  readonly warmup: number;
  /** Where linear and cosine end at the last step, as a fraction of lr (default: linear 0, cosine 0.1). */
  readonly minRatio?: number;
}

/** The learning rate at 1-based step t of `steps`. */
export function learningRate(t: number, lr: number, steps: number, s: LrSchedule): number {
  if (s.warmup > 0 && t <= s.warmup) return (lr * t) / s.warmup;
  if (s.kind === 'constant') return lr;
  if (s.kind === 'cosine') return lrAt(t, { lr, warmup: s.warmup, steps, minRatio: s.minRatio ?? 0.1 });
  const progress = Math.min(1, Math.max(0, (t - s.warmup) / Math.max(1, steps - s.warmup)));
  const min = lr * (s.minRatio ?? 0);
  return lr - (lr - min) * progress;
}

export type MetricName = 'accuracy' | 'f1' | 'perplexity';
export const METRICS: readonly MetricName[] = ['accuracy', 'f1', 'perplexity'];

/** The task's loss, as the host recomputes it from the forward plan's output. */
export interface Task {
  readonly loss: 'cross_entropy' | 'mse';
  /** The forward plan's output the loss reads (logits, or predictions for mse). */
  readonly output: string;
  /** The dataset column holding labels (targets for mse). */
  readonly labels: string;
}

export interface EvalResult {
  readonly epoch: number;
  readonly step: number;
  readonly loss: number;
  readonly accuracy?: number;
  readonly f1?: number;
  readonly perplexity?: number;
}

export interface TrainerCallbacks {
  onStep?(r: StepResult, trainer: Trainer): void | Promise<void>;
  onEvaluate?(e: EvalResult, trainer: Trainer): void | Promise<void>;
  /** Every `checkpointEvery` steps, at the end and when early stopping ends the run: the caller saves parameters and `history`/`evals`. */
  onCheckpoint?(step: number, trainer: Trainer): void | Promise<void>;
}

export interface EarlyStopping {
  readonly metric: 'loss' | MetricName;
  /** Evaluations without improvement before training stops. */
  readonly patience: number;
}

export interface TrainerOptions {
  /** The training plan's runner; its plan was compiled with `microbatches` = accumulate (compiler/train/step.ts). */
  readonly model: StepRunner;
  /** The forward plan's runner, needed by evaluate() and predict(). */
  readonly forward?: ForwardRunner;
  readonly train: TrainData;
  readonly eval?: TrainData;
  /** Rows per run of the training plan (its batch dim). */
  readonly batchSize: number;
  /** Runs whose gradients one optimizer step accumulates (default 1). */
  readonly accumulate?: number;
  /** Passes over `train` (default 1), unless `steps` is given. */
  readonly epochs?: number;
  readonly steps?: number;
  readonly seed: number;
  readonly optimizer: { readonly lr: number; readonly betas?: readonly [number, number] };
  readonly schedule?: LrSchedule;
  readonly task: Task;
  readonly metrics?: readonly MetricName[];
  readonly earlyStopping?: EarlyStopping;
  readonly checkpointEvery?: number;
  readonly callbacks?: TrainerCallbacks;
  /** Continue after `step`, with the histories of the run that reached it (entries after it are dropped). */
  readonly resume?: { readonly step: number; readonly history: readonly StepResult[]; readonly evals: readonly EvalResult[] };
}

export class TrainError extends Error {}

export class Trainer {
  readonly history: StepResult[];
  readonly evals: EvalResult[];
  readonly stepsPerEpoch: number;
  readonly totalSteps: number;
  private readonly accumulate: number;
  private readonly dropoutStep: boolean;
  private order?: { epoch: number; perm: Uint32Array };
  /** A streamed training set: the epoch being read and the index of its next batch. */
  private cursor?: { epoch: number; next: number; it: AsyncIterator<Record<string, HostArray>> };
  private start: number;
  /** Why train() stopped early, if it did. */
  stoppedEarly?: string;

  constructor(readonly opts: TrainerOptions) {
    this.accumulate = opts.accumulate ?? 1;
    const per = opts.batchSize * this.accumulate;
    this.stepsPerEpoch = Math.floor(opts.train.length / per);
    if (this.stepsPerEpoch < 1)
      throw new TrainError(`the training set has ${opts.train.length} examples, fewer than one step's ${per} (batch ${opts.batchSize} × ${this.accumulate})`);
    this.totalSteps = opts.steps ?? (opts.epochs ?? 1) * this.stepsPerEpoch;
    const r = opts.resume;
    this.start = (r?.step ?? 0) + 1;
    this.history = (r?.history ?? []).filter((h) => h.step < this.start);
    this.evals = (r?.evals ?? []).filter((e) => e.step < this.start);
    this.dropoutStep = !!opts.model.plan?.inputs.some((i) => i.name === 'dropout_step');
  }

  /** The dataset rows of step t (1-based): the next `batch × accumulate` of its epoch's permutation; the rows past the last whole step are left out. */
  rowsOf(t: number): Uint32Array {
    if (!(this.opts.train instanceof ArrayDataset)) throw new TrainError('rowsOf: the training set is streamed; its rows have no indices');
    const per = this.opts.batchSize * this.accumulate;
    const epoch = Math.floor((t - 1) / this.stepsPerEpoch);
    if (this.order?.epoch !== epoch) this.order = { epoch, perm: permutation(this.opts.train.length, epochSeed(this.opts.seed, epoch)) };
    const k = (t - 1) % this.stepsPerEpoch;
    return this.order.perm.subarray(k * per, (k + 1) * per);
  }

  async step(t: number): Promise<StepResult> {
    const { opts } = this;
    const lr = learningRate(t, opts.optimizer.lr, this.totalSteps, opts.schedule ?? { kind: 'cosine', warmup: 0 });
    const scalars: Record<string, HostArray> = { lr: Float32Array.of(lr) };
    if (opts.optimizer.betas) {
      const [bc1, bc2] = biasCorrections(t, opts.optimizer.betas[0], opts.optimizer.betas[1]);
      scalars['bc1'] = Float32Array.of(bc1);
      scalars['bc2'] = Float32Array.of(bc2);
    }
    const n = this.accumulate;
    const train = opts.train;
    const whole = train instanceof ArrayDataset ? undefined : await this.streamed(t);
    const part = (m: number) =>
      whole
        ? sliceRows(whole, n * opts.batchSize, m * opts.batchSize, opts.batchSize)
        : (train as ArrayDataset).gather(rows!.subarray(m * opts.batchSize, (m + 1) * opts.batchSize));
    const rows = train instanceof ArrayDataset ? this.rowsOf(t) : undefined;
    const t0 = performance.now();
    let loss = 0;
    let out: Record<string, Tensor> = {};
    for (let m = 0; m < n; m++) {
      const micro = {
        ...scalars,
        ...part(m),
        ...(n > 1 ? { apply: Float32Array.of(m === n - 1 ? 1 : 0) } : {}),
        ...(this.dropoutStep ? { dropout_step: Int32Array.of((t - 1) * n + m) } : {}),
      };
      out = await opts.model.run(micro, m === n - 1 ? ['loss', 'grad_norm'] : ['loss']);
      loss += out['loss']!.data[0]! / n;
    }
    const gradNorm = out['grad_norm']!.data[0]!;
    if (!Number.isFinite(loss) || !Number.isFinite(gradNorm))
      throw new TrainError(`${Number.isFinite(loss) ? `the gradient norm became ${gradNorm}` : `the loss became ${loss}`} at step ${t}`);
    return { step: t, loss: n === 1 ? out['loss']!.data[0]! : loss, gradNorm, lr, seconds: (performance.now() - t0) / 1000 };
  }

  /** Step t's examples from a streamed training set, reading on from the last step's batch (or from the epoch's start, skipping ahead). */
  private async streamed(t: number): Promise<Record<string, HostArray>> {
    const stream = this.opts.train as BatchStream;
    const per = this.opts.batchSize * this.accumulate;
    const epoch = Math.floor((t - 1) / this.stepsPerEpoch);
    const k = (t - 1) % this.stepsPerEpoch;
    if (this.cursor?.epoch !== epoch || this.cursor.next > k) this.cursor = { epoch, next: 0, it: stream.batches(per, { epoch, dropLast: true }) };
    for (;;) {
      const r = await this.cursor.it.next();
      if (r.done)
        throw new TrainError(`the training stream ended before step ${t}: epoch ${epoch + 1} gave ${this.cursor.next} batches, ${this.stepsPerEpoch} expected`);
      if (this.cursor.next++ === k) return r.value;
    }
  }

  /** Trains from the first step not yet done to the last (or until early stopping); returns the step history. */
  async train(): Promise<StepResult[]> {
    const { opts } = this;
    const cb = opts.callbacks ?? {};
    for (let t = this.start; t <= this.totalSteps; t++) {
      const r = await this.step(t);
      this.history.push(r);
      await cb.onStep?.(r, this);
      const epochEnd = t % this.stepsPerEpoch === 0 || t === this.totalSteps;
      if (epochEnd && opts.eval && opts.forward) {
        const e = { ...(await this.evaluate()), epoch: Math.ceil(t / this.stepsPerEpoch), step: t };
        this.evals.push(e);
        await cb.onEvaluate?.(e, this);
        this.stoppedEarly = this.earlyStop();
      }
      const every = opts.checkpointEvery;
      if (cb.onCheckpoint && ((every && t % every === 0) || t === this.totalSteps || this.stoppedEarly)) await cb.onCheckpoint(t, this);
      this.start = t + 1;
      if (this.stoppedEarly) break;
    }
    return this.history;
  }

  /** Whether the evaluations so far call for a stop: the metric has not improved on its best for `patience` evaluations. */
  private earlyStop(): string | undefined {
    const es = this.opts.earlyStopping;
    if (!es || this.evals.length === 0) return undefined;
    const higher = es.metric === 'accuracy' || es.metric === 'f1';
    const values = this.evals.map((e) => e[es.metric] ?? NaN);
    let best = 0;
    values.forEach((v, i) => {
      if (higher ? v > values[best]! : v < values[best]!) best = i;
    });
    const since = values.length - 1 - best;
    return since >= es.patience ? `${es.metric} has not improved for ${since} evaluations (best ${values[best]} at step ${this.evals[best]!.step})` : undefined;
  }

  /** The forward plan's output for every row of `data`, as [rows, ...per-row shape]. */
  async predict(data: TrainData | undefined = this.opts.eval): Promise<{ data: Float32Array; shape: number[] }> {
    return this.predictKeeping(data);
  }

  /** predict(), also collecting the columns `keep` of the rows it ran (labels for evaluate()). */
  private async predictKeeping(data: TrainData | undefined, keep?: readonly string[], kept: Record<string, HostArray[]> = {}) {
    const fwd = this.opts.forward;
    if (!fwd || !data) throw new TrainError('predict needs a forward runner and a dataset');
    const all = await this.opts.model.readParams();
    const names = new Set(fwd.plan.buffers.filter((b) => b.role === 'param').map((b) => b.name));
    fwd.writeParams(new Map([...all].filter(([k]) => names.has(k))));
    const B = fwd.plan.inputs[0]!.shape[0]!;
    const inputs = fwd.plan.inputs.map((i) => i.name);
    const parts: Float32Array[] = [];
    let shape: number[] = [];
    let rows = 0;
    for await (const { batch, count } of batchesOf(data, B, [...inputs, ...(keep ?? [])])) {
      const r = (await fwd.run(Object.fromEntries(inputs.map((k) => [k, batch[k]!])), [this.opts.task.output]))[this.opts.task.output]!;
      const per = r.data.length / B;
      parts.push(r.data.slice(0, count * per) as Float32Array);
      shape = r.shape.slice(1) as number[];
      rows += count;
      for (const k of keep ?? []) (kept[k] ??= []).push(batch[k]!.slice(0, count * (batch[k]!.length / B)));
    }
    return { data: concat(parts, Float32Array), shape: [rows, ...shape] };
  }

  /** The loss and metrics on `data` (default: the eval set), from the forward plan's output on the host. */
  async evaluate(data: TrainData | undefined = this.opts.eval): Promise<EvalResult> {
    const kept: Record<string, HostArray[]> = {};
    const p = await this.predictKeeping(data, [this.opts.task.labels], kept);
    const parts = kept[this.opts.task.labels] ?? [];
    const labels = parts[0] instanceof Int32Array ? concat(parts as Int32Array[], Int32Array) : concat(parts as Float32Array[], Float32Array);
    const step = this.history.at(-1)?.step ?? 0;
    const epoch = Math.ceil(step / this.stepsPerEpoch);
    if (this.opts.task.loss === 'mse') return { epoch, step, loss: meanSquaredError(p.data, labels) };
    return { epoch, step, ...classificationMetrics(p.data, labels, this.opts.metrics ?? []) };
  }
}

/** Batches of `rows` of `data` in order, the last one padded (a plan's fixed batch), with how many rows are real. */
async function* batchesOf(data: TrainData, rows: number, columns: readonly string[]): AsyncGenerator<{ batch: Record<string, HostArray>; count: number }> {
  if (data instanceof ArrayDataset) {
    const only = new ArrayDataset(Object.fromEntries(columns.map((k) => [k, data.columns[k]!])), data.length);
    for (let at = 0; at < data.length; at += rows) {
      const idx = Uint32Array.from({ length: Math.min(rows, data.length - at) }, (_, i) => at + i);
      yield { batch: only.gather(idx, rows), count: idx.length };
    }
    return;
  }
  const it = data.batches(rows, { dropLast: false });
  for (let r = await it.next(); !r.done; r = await it.next()) {
    const b = r.value;
    const count = b[columns[0]!]!.length / data.sizes[columns[0]!]!;
    yield { batch: count === rows ? b : padRows(b, count, rows), count };
  }
}

function padRows(b: Record<string, HostArray>, count: number, rows: number): Record<string, HostArray> {
  const out: Record<string, HostArray> = {};
  for (const [k, a] of Object.entries(b)) {
    const n = a.length / count;
    const p = a instanceof Int32Array ? new Int32Array(rows * n) : new Float32Array(rows * n);
    p.set(a);
    for (let r = count; r < rows; r++) p.set(a.subarray((count - 1) * n, count * n), r * n);
    out[k] = p;
  }
  return out;
}

/** Rows [from, from + count) of a batch of `rows` rows. */
function sliceRows(b: Record<string, HostArray>, rows: number, from: number, count: number): Record<string, HostArray> {
  return Object.fromEntries(Object.entries(b).map(([k, a]) => [k, a.subarray((from * a.length) / rows, ((from + count) * a.length) / rows)]));
}

function concat<T extends Float32Array | Int32Array>(parts: readonly T[], Kind: { new (n: number): T }): T {
  const out = new Kind(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** A seed per epoch, so each epoch's order is drawn independently of the others. */
export function epochSeed(seed: number, epoch: number): number {
  let h = (seed ^ Math.imul(epoch + 0x632be5ab, 0x9e3779b1)) >>> 0;
  h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d) >>> 0;
  return (h ^ (h >>> 13)) >>> 0;
}

export function meanSquaredError(pred: ArrayLike<number>, target: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < pred.length; i++) s += (pred[i]! - target[i]!) ** 2;
  return s / Math.max(1, pred.length);
}

/**
 * Cross-entropy (mean over rows whose label is in range; a label such as -100 is ignored,
 * as the training loss does), accuracy, macro F1 (over the classes that occur as label or
 * prediction) and perplexity (exp of the loss), from logits [rows, C] and labels [rows].
 */
export function classificationMetrics(logits: Float32Array, labels: ArrayLike<number>, metrics: readonly MetricName[]): Omit<EvalResult, 'epoch' | 'step'> {
  const rows = labels.length;
  const C = logits.length / rows;
  let total = 0;
  let count = 0;
  let right = 0;
  const tp = new Float64Array(C);
  const predicted = new Float64Array(C);
  const actual = new Float64Array(C);
  for (let r = 0; r < rows; r++) {
    const y = labels[r]!;
    if (!(y >= 0 && y < C)) continue;
    const row = logits.subarray(r * C, (r + 1) * C);
    let m = -Infinity;
    let arg = 0;
    row.forEach((v, j) => {
      if (v > m) [m, arg] = [v, j];
    });
    let s = 0;
    for (const v of row) s += Math.exp(v - m);
    total += Math.log(s) + m - row[y]!;
    count++;
    if (arg === y) {
      right++;
      tp[y]++;
    }
    predicted[arg]++;
    actual[y]++;
  }
  const loss = total / Math.max(1, count);
  const out: { loss: number; accuracy?: number; f1?: number; perplexity?: number } = { loss };
  if (metrics.includes('accuracy')) out.accuracy = right / Math.max(1, count);
  if (metrics.includes('perplexity')) out.perplexity = Math.exp(loss);
  if (metrics.includes('f1')) {
    let sum = 0;
    let classes = 0;
    for (let c = 0; c < C; c++) {
      if (predicted[c] === 0 && actual[c] === 0) continue;
      classes++;
      // F1 = 2·TP / (predicted + actual): 0 when the class is never predicted right.
      sum += (2 * tp[c]!) / (predicted[c]! + actual[c]!);
    }
    out.f1 = sum / Math.max(1, classes);
  }
  return out;
}
