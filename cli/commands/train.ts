import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { lowerModel } from '../../compiler/compile.js';
import { dimValue } from '../../compiler/dims.js';
import { trainSettings, type RecomputeSetting } from '../../compiler/train/settings.js';
import type { Diagnostic } from '../../diagnostics/messages.js';
import { compileGraph } from '../../driver/compile.js';
import { formatBytes } from '../../compiler/report/plan.js';
import { CheckpointError, crc32, type CheckpointTensors } from '../../runtime/checkpoint.js';
import { planAllocation } from '../../runtime/plan.js';
import { LossScaler, TextBatches, Trainer, type StepResult } from '../../runtime/train.js';
import { readInputFile, writeAtomic } from '../files.js';
import {
  COMMON,
  compileFile,
  EXIT,
  frontendOptions,
  FRONTEND_HELP,
  intOption,
  parseBytes,
  positive,
  report as reportDiagnostics,
  UsageError,
  type Command,
  type Values,
} from '../options.js';
import { numel } from '../../layout/mesh.js';

interface TrainArgs {
  readonly file: string;
  readonly source: string;
  readonly data: string;
  readonly steps?: number;
  readonly batch?: number;
  readonly seq?: number;
  readonly lr?: number;
  readonly warmup?: number;
  readonly seed?: number;
  readonly out: string;
  readonly checkpointEvery?: number;
  readonly resume?: string;
  readonly precision?: 'f32' | 'bf16' | 'f16';
  readonly microbatches?: number;
  readonly recompute?: RecomputeSetting;
  readonly json: boolean;
}

interface TrainIo {
  out: (s: string) => void;
  err: (s: string) => void;
  /** Rewrites the current progress line (a terminal), or undefined to print plain lines. */
  progress?: (s: string) => void;
}

async function runTrain(a: TrainArgs, v: Values, io: TrainIo): Promise<number> {
  const report = (ds: readonly Diagnostic[]) => reportDiagnostics(ds, a.source, a.json, io, { file: a.file, ok: false });
  const text: Uint8Array = readInputFile(a.data, '--data');
  const frontend = frontendOptions(v);
  const checked = await compileFile(a.file, a.source, v, io, { until: 'check', concrete: false });
  if (!checked) return EXIT.diagnostics;
  const env = checked.checked.env!;
  const models = [...env.models.keys()];
  const modelName = frontend.model ?? models[models.length - 1]!;
  const s = trainSettings(env, modelName);
  if (!s.settings) {
    report(s.diagnostics);
    return EXIT.diagnostics;
  }
  const settings = s.settings;
  const batch = a.batch ?? settings.batch ?? 8;
  const microbatches = a.microbatches ?? settings.microbatches ?? 1;
  if (batch % microbatches !== 0)
    throw new UsageError(`${microbatches} micro-batches do not divide a batch of ${batch}; choose --batch or --microbatches so that they do`);
  const recompute = a.recompute ?? settings.recompute;
  if (settings.loss.kind === 'output' && settings.loss.output)
    throw new UsageError(
      `mdc train trains byte-level language models on cross_entropy(<logits>, labels); the train section's loss is the output '${settings.loss.output}'`,
    );
  const seq = a.seq ?? settings.seq ?? 64;
  const steps = a.steps ?? settings.steps ?? 100;
  const seed = a.seed ?? settings.seed ?? 0;
  const warmup = a.warmup ?? settings.warmup ?? Math.min(10, Math.floor(steps / 10));
  const optimizer = { ...settings.optimizer, ...(a.lr !== undefined ? { lr: a.lr } : {}) };
  const precision = a.precision ?? settings.precision ?? 'f32';
  // The batch and sequence length are the model's B and S.
  // The model's B is one micro-batch's rows.
  const lowered = lowerModel(env, a.file, { ...frontend, dims: { ...(frontend.dims ?? {}), B: batch / microbatches, S: seq }, training: true });
  if (!lowered.graph) {
    report(lowered.diagnostics);
    return EXIT.diagnostics;
  }
  const g = lowered.graph;
  const tokenInputs = g.inputs.filter((id) => g.values[id]!.type.dtype === 'i32');
  if (tokenInputs.length !== 1 || g.inputs.length !== 1)
    throw new UsageError(`mdc train needs a model with one i32 token input [B, S]; ${g.name} takes ${g.inputs.map((id) => g.values[id]!.name).join(', ')}`);
  const tokenName = g.values[tokenInputs[0]!]!.name!;
  const logits = g.values[g.outputs[Math.max(0, g.outputNames.indexOf(settings.loss.output))]!]!;
  const vocab = dimValue(logits.type.dims.at(-1)!)!;
  if (vocab < 256) throw new UsageError(`byte-level training needs a vocabulary of at least 256 (the model's is ${vocab}); try --set vocab=256`);

  const compiled = await compileGraph(g, {
    file: a.file,
    seed,
    train: {
      ...settings,
      optimizer,
      precision,
      microbatches,
      ...(recompute ? { recompute } : {}),
      // Without a train section the loss is cross-entropy on the model's first output.
      ...(settings.loss.kind === 'cross_entropy' ? {} : { loss: { kind: 'cross_entropy' as const, output: g.outputNames[0]! } }),
    },
  });
  if (!compiled.plan) {
    report(compiled.diagnostics);
    return EXIT.diagnostics;
  }
  const plan = compiled.plan;
  const trained = compiled.training!;
  const dataCrc = String(crc32(text));
  const identity: Record<string, string> = {
    format: 'mdc-train-1',
    model: g.name,
    seed: String(seed),
    batch: String(batch),
    seq: String(seq),
    data_crc32: dataCrc,
    precision,
    ...(microbatches > 1 ? { microbatches: String(microbatches) } : {}),
  };
  // f16 needs loss scaling (its range is narrow); bf16 has f32's exponent range.
  const scaler = precision === 'f32' ? undefined : new LossScaler(precision === 'f16' ? 2 ** 16 : 1);

  // Resume: parameters and optimizer state from the checkpoint, and the step it reached.
  let params: Map<string, Float32Array> | undefined;
  let start = 1;
  let history: StepResult[] = [];
  if (a.resume) {
    const { readCheckpoint } = await import('../../runtime/checkpoint-node.js');
    let ck;
    try {
      ck = await readCheckpoint(a.resume);
    } catch (e) {
      if (e instanceof CheckpointError || (e as NodeJS.ErrnoException).code === 'ENOENT')
        throw new Error(`cannot resume from '${a.resume}': ${(e as Error).message}`, { cause: e });
      throw e;
    }
    for (const [k, v] of Object.entries(identity)) {
      if (ck.metadata[k] !== v)
        throw new Error(`cannot resume from '${a.resume}': it was written with ${k} = ${ck.metadata[k] ?? '(none)'}, this run has ${v}`);
    }
    params = new Map();
    for (const b of plan.buffers.filter((x) => x.role === 'param')) {
      const tensor = ck.tensors[b.name];
      const count = numel(b.shape);
      if (!tensor || tensor.dtype !== 'F32' || tensor.data.length !== count)
        throw new Error(`cannot resume from '${a.resume}': tensor '${b.name}' is missing or not f32[${b.shape.join(', ')}]`);
      params.set(b.name, tensor.data as Float32Array);
    }
    start = Number(ck.metadata['step']) + 1;
    if (scaler) {
      scaler.scale = Number(ck.metadata['loss_scale']);
      scaler.goodSteps = Number(ck.metadata['good_steps']);
      if (!(scaler.scale > 0) || !Number.isInteger(scaler.goodSteps))
        throw new Error(`cannot resume from '${a.resume}': its loss scale metadata is missing or invalid`);
    }
    const log = join(a.out, 'losses.json');
    if (existsSync(log)) history = (JSON.parse(readFileSync(log, 'utf8')) as StepResult[]).filter((x) => x.step < start);
  }

  const { nodeDevice } = await import('../../runtime/node.js');
  const { PlanRunner } = await import('../../runtime/executor.js');
  const { device, description } = await nodeDevice();
  if (!a.json) io.err(`compiling ${plan.kernels.length} kernels…`);
  const c0 = performance.now();
  const runner = await PlanRunner.create(device, plan, params ? { params } : {});
  if (!a.json) io.err(`compiled ${plan.kernels.length} kernels in ${(performance.now() - c0).toFixed(0)} ms`);
  const trainer = new Trainer(
    runner,
    new TextBatches(text, batch, seq, seed),
    { lr: optimizer.lr, warmup, steps },
    optimizer.kind === 'adamw' ? [optimizer.beta1, optimizer.beta2] : undefined,
    tokenName,
    scaler,
    microbatches,
  );
  mkdirSync(a.out, { recursive: true });
  const every = a.checkpointEvery ?? Math.max(1, Math.ceil(steps / 4));
  const paramCount = trained.params.reduce((n, name) => n + numel(plan.buffers.find((b) => b.name === name)!.shape), 0);
  if (!a.json) {
    io.out(
      `training ${g.name} (${paramCount.toLocaleString('en-US')} parameters) on ${description}: ${steps} steps of ${batch}×${seq} bytes from ` +
        `${a.data}${microbatches > 1 ? ` in ${microbatches} micro-batches of ${batch / microbatches}` : ''}${start > 1 ? `, resuming at step ${start}` : ''}`,
    );
    const rp = compiled.recompute;
    if (rp)
      io.out(
        `recompute ${rp.policy}: ${(rp.savedBytes / 2 ** 20).toFixed(2)} MiB of activations rebuilt in the backward pass instead of kept, ${(rp.extraFlops / 1e9).toFixed(3)} GFLOP more per step`,
      );
    io.out(
      `device memory: ${formatBytes(runner.allocatedBytes)} allocated (activations in ${plan.arenas?.length ?? 0} ` +
        `arena${plan.arenas?.length === 1 ? '' : 's'}; ${formatBytes(planAllocation(plan, false).bytes)} with a buffer per value)`,
    );
  }

  const save = async (step: number) => {
    const all = await runner.readParams();
    const tensors: CheckpointTensors = Object.fromEntries(
      plan.buffers.filter((b) => b.role === 'param').map((b) => [b.name, { dtype: 'F32' as const, shape: b.shape, data: all.get(b.name)! }]),
    );
    const { writeCheckpoint } = await import('../../runtime/checkpoint-node.js');
    await writeCheckpoint(join(a.out, 'checkpoint.safetensors'), tensors, {
      ...identity,
      step: String(step),
      loss: String(history.at(-1)?.loss ?? ''),
      ...(scaler ? { loss_scale: String(scaler.scale), good_steps: String(scaler.goodSteps) } : {}),
    });
    writeAtomic(join(a.out, 'losses.json'), JSON.stringify(history, null, 1) + '\n');
    writeAtomic(join(a.out, 'loss.svg'), lossSvg(history, `${g.name}: training loss (byte-level, ${batch}×${seq} per step)`));
  };

  try {
    for (let step = start; step <= steps; step++) {
      const res = await trainer.step(step);
      if (!Number.isFinite(res.loss) && !res.skipped) throw new Error(`the loss became ${res.loss} at step ${step}; lower --lr (now ${optimizer.lr})`);
      history.push(res);
      const tokS = (batch * seq) / res.seconds;
      const mp = res.lossScale !== undefined ? `  scale ${res.lossScale}${res.skipped ? ' (overflow: step skipped)' : ''}` : '';
      const line = `step ${step}/${steps}  loss ${res.loss.toFixed(4)}  grad norm ${res.gradNorm.toFixed(3)}  lr ${res.lr.toExponential(2)}${mp}  ${Math.round(tokS).toLocaleString('en-US')} tok/s`;
      if (!a.json) {
        if (io.progress) io.progress(`${bar(step, steps)} ${line}`);
        else if (step === start || step === steps || step % Math.max(1, Math.floor(steps / 20)) === 0) io.out(line);
      }
      if (step % every === 0 || step === steps) await save(step);
    }
  } finally {
    runner.destroy();
    device.destroy();
  }
  if (io.progress && !a.json) io.out('');
  const firstLoss = history[0]?.loss ?? NaN;
  const lastLoss = history.at(-1)?.loss ?? NaN;
  if (a.json)
    io.out(
      JSON.stringify(
        {
          file: a.file,
          ok: true,
          adapter: description,
          steps,
          batch,
          seq,
          parameters: paramCount,
          losses: history.map((h) => h.loss),
          out: a.out,
          diagnostics: [],
        },
        null,
        2,
      ),
    );
  else
    io.out(`loss ${firstLoss.toFixed(4)} → ${lastLoss.toFixed(4)} (ln 256 = ${Math.log(256).toFixed(4)}); checkpoint, losses.json and loss.svg in ${a.out}/`);
  return 0;
}

function bar(i: number, n: number): string {
  const w = 20;
  const done = Math.round((i / n) * w);
  return `[${'#'.repeat(done)}${'.'.repeat(w - done)}]`;
}

/** The loss curve as a small standalone SVG (steps on x, loss on y). */
export function lossSvg(h: readonly StepResult[], title: string): string {
  const W = 640;
  const H = 360;
  const m = { l: 56, r: 16, t: 32, b: 40 };
  const xs = h.map((p) => p.step);
  const ys = h.map((p) => p.loss);
  const x0 = Math.min(...xs, 1);
  const x1 = Math.max(...xs, x0 + 1);
  const y0 = Math.min(0, ...ys);
  const y1 = Math.max(...ys, y0 + 1);
  const X = (x: number) => m.l + ((x - x0) / (x1 - x0)) * (W - m.l - m.r);
  const Y = (y: number) => H - m.b - ((y - y0) / (y1 - y0)) * (H - m.t - m.b);
  const pts = h.map((p) => `${X(p.step).toFixed(1)},${Y(p.loss).toFixed(1)}`).join(' ');
  const ticks = Array.from({ length: 5 }, (_, i) => y0 + ((y1 - y0) * i) / 4);
  const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="20" text-anchor="middle">${esc(title)}</text>`,
    `<line x1="${m.l}" y1="${H - m.b}" x2="${W - m.r}" y2="${H - m.b}" stroke="black"/>`,
    `<line x1="${m.l}" y1="${m.t}" x2="${m.l}" y2="${H - m.b}" stroke="black"/>`,
    ...ticks.map(
      (v) =>
        `<text x="${m.l - 6}" y="${Y(v) + 4}" text-anchor="end">${v.toFixed(2)}</text><line x1="${m.l}" y1="${Y(v)}" x2="${W - m.r}" y2="${Y(v)}" stroke="#ddd"/>`,
    ),
    `<text x="${m.l}" y="${H - 12}">step ${x0}</text><text x="${W - m.r}" y="${H - 12}" text-anchor="end">step ${x1}</text>`,
    `<line x1="${m.l}" y1="${Y(Math.log(256))}" x2="${W - m.r}" y2="${Y(Math.log(256))}" stroke="#c66" stroke-dasharray="4 3"/>`,
    `<text x="${W - m.r}" y="${Y(Math.log(256)) - 4}" text-anchor="end" fill="#c66">ln 256</text>`,
    `<polyline fill="none" stroke="#1f5fbf" stroke-width="1.5" points="${pts}"/>`,
    '</svg>',
    '',
  ].join('\n');
}

export const command: Command = {
  help: `Usage: mdc train FILE --data TEXT [options]

Trains the model as a byte-level language model (tokens are UTF-8 bytes, so the vocabulary
must be at least 256) on WebGPU. The loss and optimizer come from FILE's train section
(\`loss = cross_entropy(logits, labels)\`, \`optimizer = adamw(lr = 3e-4)\`); flags override.
Parameters and optimizer state stay on the device. Every --checkpoint-every steps and at
the end, OUT/checkpoint.safetensors (written atomically), OUT/losses.json and OUT/loss.svg
are written. Batches depend only on (seed, step), so --resume continues with the same
losses as an uninterrupted run.

Options:
  --data FILE             the training text (required)
  --steps N               total steps (default: train section, else 100)
  --batch B, --seq S      sequences per step and their length (the model's B and S;
                          default: train section, else 8 and 64)
  --lr X                  peak learning rate (linear warm-up, then cosine to a tenth)
  --warmup N              warm-up steps (default: a tenth of the steps, at most 10)
  --seed N                parameter initialisation and batch order (default 0)
  --out DIR               where checkpoints and curves go (default: train-out)
  --checkpoint-every N    default: a quarter of the steps
  --resume CKPT           continue from a checkpoint written by mdc train
  --precision P           f32 (default), bf16 or f16: low-precision weights and
                          activations with f32 master weights and optimizer; f16 adds
                          dynamic loss scaling (overflowing steps are skipped)
  --microbatches N        split each batch into N micro-batches whose gradients are
                          accumulated before one optimizer step (default: the train
                          section's microbatches, else 1); N must divide --batch
  --recompute P           none, full, selective or auto: activations the backward pass
                          rebuilds instead of keeping (default: @recompute or the train
                          section's recompute, else none); the losses do not change
  --memory-budget SIZE    under --recompute auto, bytes of activations kept (e.g. 64MiB)
${FRONTEND_HELP}`,
  options: {
    ...COMMON,
    data: { type: 'string' },
    steps: { type: 'string' },
    batch: { type: 'string' },
    seq: { type: 'string' },
    lr: { type: 'string' },
    warmup: { type: 'string' },
    seed: { type: 'string' },
    out: { type: 'string' },
    'checkpoint-every': { type: 'string' },
    resume: { type: 'string' },
    precision: { type: 'string' },
    microbatches: { type: 'string' },
    recompute: { type: 'string' },
    'memory-budget': { type: 'string' },
  },
  run(file, source, v, io) {
    if (!v['data']) throw new UsageError('train needs --data TEXTFILE, the text to train on');
    const pos = (k: string) => (v[k] === undefined ? undefined : positive(v[k], k));
    const lr = v['lr'] === undefined ? undefined : Number(v['lr']);
    if (lr !== undefined && !(lr > 0 && Number.isFinite(lr))) throw new UsageError(`--lr must be a positive number, got '${v['lr']}'`);
    const precision = v['precision'];
    if (precision !== undefined && precision !== 'f32' && precision !== 'bf16' && precision !== 'f16')
      throw new UsageError(`--precision must be f32, bf16 or f16, got '${precision}'`);
    const steps = pos('steps');
    const batch = pos('batch');
    const seq = pos('seq');
    const ck = pos('checkpoint-every');
    const microbatches = pos('microbatches');
    const policy = v['recompute'] as string | undefined;
    if (policy !== undefined && !['none', 'full', 'selective', 'auto'].includes(policy))
      throw new UsageError(`--recompute must be none, full, selective or auto, got '${policy}'`);
    const budget = v['memory-budget'] === undefined ? undefined : parseBytes(v['memory-budget'] as string, 'memory-budget');
    if (budget !== undefined && policy !== 'auto') throw new UsageError('--memory-budget only applies with --recompute auto');
    if (policy === 'auto' && budget === undefined) throw new UsageError('--recompute auto needs --memory-budget SIZE (bytes of activations kept, whole model)');
    const json = !!v['json'];
    const args: TrainArgs = {
      file,
      source,
      data: v['data'] as string,
      out: (v['out'] as string | undefined) ?? 'train-out',
      json,
      ...(steps !== undefined ? { steps } : {}),
      ...(batch !== undefined ? { batch } : {}),
      ...(seq !== undefined ? { seq } : {}),
      ...(lr !== undefined ? { lr } : {}),
      ...(v['warmup'] !== undefined ? { warmup: intOption(v['warmup'], 'warmup') } : {}),
      ...(v['seed'] !== undefined ? { seed: intOption(v['seed'], 'seed') } : {}),
      ...(ck !== undefined ? { checkpointEvery: ck } : {}),
      ...(v['resume'] ? { resume: v['resume'] as string } : {}),
      ...(precision !== undefined ? { precision } : {}),
      ...(microbatches !== undefined ? { microbatches } : {}),
      ...(policy !== undefined ? { recompute: { policy: policy as RecomputeSetting['policy'], ...(budget !== undefined ? { budget } : {}) } } : {}),
    };
    const tty = !json && (process.stderr.isTTY || process.env['MDC_STDERR_TTY'] === '1') && io.interactive === true;
    return runTrain(args, v, { ...io, ...(tty ? { progress: (s: string) => process.stderr.write(`\r${s}\x1b[K`) } : {}) });
  },
};
