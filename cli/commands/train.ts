import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Env } from '../../compiler/bind.js';
import { lowerModel } from '../../compiler/compile.js';
import { dimValue } from '../../compiler/dims.js';
import type { RecomputeSetting } from '../../compiler/train/settings.js';
import type { Diagnostic } from '../../diagnostics/messages.js';
import { applyCopies, compileGraph } from '../../driver/compile.js';
import { typeNodeText } from '../../grammar/ast-text.js';
import { formatBytes } from '../../compiler/report/plan.js';
import { CheckpointError, crc32, type CheckpointTensors } from '../../runtime/checkpoint.js';
import { planAllocation } from '../../runtime/plan.js';
import { firstNonFinite, LossScaler, TextBatches, Trainer, type StepResult } from '../../runtime/train.js';
import { HostOffload, stateNames } from '../../runtime/offload.js';
import { readInputFile, regularFileSize, writeAtomic } from '../files.js';
import { fineTuneLine } from '../init-weights.js';
import { weightsMapOption } from '../weights.js';
import { curvesSvg } from '../train-report.js';
import {
  COMMON,
  EXIT,
  frontendOptions,
  FRONTEND_HELP,
  intOption,
  meshOption,
  asUsageError,
  parseBytes,
  positive,
  report as reportDiagnostics,
  UsageError,
  type Command,
  type Values,
} from '../options.js';
import { meshDevices, numel, stridesOf } from '../../layout/mesh.js';
import { pipelineAnnotation } from '../../compiler/annotations.js';
import { offloadTargetOf } from '../../compiler/train/offload.js';
import { pipelineAxisOf } from '../../driver/pipeline-axis.js';
import type { PipelinePlan } from '../../runtime/pipeline-plan.js';
import { PipelineRunner as PipelineRunnerType } from '../../runtime/pipeline.js';
import { isDatasetFile, readTrainSection, runDatasetTrain } from './train-data.js';
import { DATASET_FLAGS, DATASET_HELP, DATASET_OPTIONS, dataArgs, dataIo } from './train-data-options.js';

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
  /** `--init FILE`: start from these weights (fine-tuning); adapters and optimizer state start fresh (cli/init-weights.ts). */
  readonly init?: string;
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
  const read = await readTrainSection(a, v, io, report);
  if (!read) return EXIT.diagnostics;
  const { env, modelName, settings } = read;
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
  // The batch and sequence length set the token input's symbolic dims (B and S, or whatever it names them), with or without a where clause.
  // The model's batch dim is one micro-batch's rows.
  const rows = batch / microbatches;
  const flags = `--batch ${batch}${microbatches > 1 ? ` in ${microbatches} micro-batches` : ''} and --seq ${seq}`;
  const token = tokenDims(env, modelName);
  if (token?.batch?.devices && rows % token.batch.devices !== 0)
    throw new UsageError(
      `${flags} give ${rows} row${rows === 1 ? '' : 's'} per ${microbatches > 1 ? 'micro-batch' : 'step'}, ` +
        `but ${modelName}'s token input splits its batch dim over ${token.batch.axes} (${token.batch.devices} devices): choose a batch of rows divisible by ${token.batch.devices}`,
    );
  const dims = { ...(frontend.dims ?? {}), ...(token?.batch ? { [token.batch.name]: rows } : {}), ...(token?.seq ? { [token.seq.name]: seq } : {}) };
  const lowered = lowerModel(env, a.file, { ...frontend, dims, training: true });
  if (!lowered.graph) {
    report(lowered.diagnostics);
    return EXIT.diagnostics;
  }
  const g = lowered.graph;
  const tokenInputs = g.inputs.filter((id) => g.values[id]!.type.dtype === 'i32');
  if (tokenInputs.length !== 1 || g.inputs.length !== 1)
    throw new UsageError(
      `mdc train needs a model with one i32 token input [B, S] to train on text; ${g.name} takes ${g.inputs.map((id) => g.values[id]!.name).join(', ')}: ` +
        'to train it on examples, pass a dataset file (.jsonl, .csv, .npy, .safetensors, IDX; see --help)',
    );
  const tokenName = g.values[tokenInputs[0]!]!.name!;
  const tokenShape = g.values[tokenInputs[0]!]!.type.dims.map((d) => dimValue(d));
  if (tokenShape.length !== 2 || tokenShape[0] !== rows || tokenShape[1] !== seq) {
    const fix =
      tokenShape.length !== 2
        ? 'mdc train needs a token input of two dims, [batch, sequence]'
        : `name its dims (i32[B, S]) for the flags to set them, or pass --batch ${tokenShape[0]! * microbatches} --seq ${tokenShape[1]}`;
    throw new UsageError(
      `${flags} need ${g.name}'s token input '${tokenName}' to be [${rows}, ${seq}], but it is ${token!.text} = [${tokenShape.join(', ')}]: ${fix}`,
    );
  }
  const logits = g.values[g.outputs[Math.max(0, g.outputNames.indexOf(settings.loss.output))]!]!;
  const vocab = dimValue(logits.type.dims.at(-1)!)!;
  if (vocab < 256) throw new UsageError(`byte-level training needs a vocabulary of at least 256 (the model's is ${vocab}); try --set vocab=256`);

  const full = {
    ...settings,
    optimizer,
    precision,
    microbatches,
    ...(recompute ? { recompute } : {}),
    // Without a train section the loss is cross-entropy on the model's first output.
    ...(settings.loss.kind === 'cross_entropy' ? {} : { loss: { kind: 'cross_entropy' as const, output: g.outputNames[0]! } }),
  };
  // --mesh: partitioned over it (MeshRunner), or pipelined when the model's @pipeline axis is in it (PipelineRunner).
  const mesh = meshOption(v);
  const ann = pipelineAnnotation(env, env.models.get(g.name)!);
  const pipelined = pipelineAxisOf(ann, mesh);
  // `copies = N` in the train section: the step runs as N interleaved copies of the model (compiler/train/copies.ts).
  const copied = applyCopies(env, g, a.file, mesh, full);
  if ('diagnostics' in copied) {
    report(copied.diagnostics);
    return EXIT.diagnostics;
  }
  let pipe: PipelinePlan | undefined;
  let compiled: Awaited<ReturnType<typeof compileGraph>> | undefined;
  if (pipelined) {
    const { compilePipeline } = await import('../../driver/pipeline.js');
    const c = compilePipeline(copied.graph, ann!, mesh!, { file: a.file, settings: full, seed, copies: copied.copies });
    if (!c.result?.plan) {
      report(c.diagnostics);
      return EXIT.diagnostics;
    }
    pipe = c.result.plan;
  } else {
    compiled = await compileGraph(copied.graph, { file: a.file, seed, train: full, copies: copied.copies, ...(mesh ? { partition: mesh } : {}) }).catch(
      asUsageError,
    );
    if (!compiled.plan) {
      report(compiled.diagnostics);
      return EXIT.diagnostics;
    }
  }
  const plan = compiled?.plan;
  if (pipe && settings.offload && g.values.some((x) => x.kind === 'param' && offloadTargetOf(settings.offload!, x.name!)))
    throw new UsageError(`@offload(host) with pipeline stages is not supported yet: train without --mesh ${String(v['mesh'])}, or without @offload`);
  /** Every tensor the devices keep across steps (parameters, optimizer state), with its whole shape: what a checkpoint holds. */
  const paramList = pipe
    ? pipelineParams(pipe)
    : plan!.buffers.filter((b) => b.role === 'param').map((b) => ({ name: b.name, shape: b.global?.shape ?? b.shape }));
  const kernels = pipe ? pipe.programs.reduce((n, p) => n + p.plan.kernels.length, 0) : plan!.kernels.length;
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
    ...(mesh ? { mesh: mesh.axes.map((x) => `${x.name}=${x.size}`).join(',') } : {}),
  };
  // f16 needs loss scaling (its range is narrow); bf16 has f32's exponent range.
  const scaler = precision === 'f32' ? undefined : new LossScaler(precision === 'f16' ? 2 ** 16 : 1);

  // Resume: parameters and optimizer state from the checkpoint, and the step it reached.
  let params: Map<string, Float32Array> | undefined;
  /** `@offload(host)` parameters' optimizer state, which the host keeps: saved as opt.m.<name> / opt.v.<name> like the device's. */
  const hostStateNames = (plan?.offload?.params ?? []).flatMap((o) => stateNames(plan!.offload!, o.param));
  const hostState = new Map<string, Float32Array>();
  let start = 1;
  let history: StepResult[] = [];
  let lastGood: number | undefined;
  const target = join(a.out, 'checkpoint.safetensors');
  if (a.resume) {
    const { readCheckpoint } = await import('../../runtime/checkpoint-node.js');
    const refuse = (why: string): never => {
      throw new Error(`cannot resume from '${a.resume}': ${why}`);
    };
    let ck;
    try {
      ck = await readCheckpoint(a.resume);
    } catch (e) {
      if (e instanceof CheckpointError || (e as NodeJS.ErrnoException).code === 'ENOENT')
        throw new Error(`cannot resume from '${a.resume}': ${(e as Error).message}`, { cause: e });
      throw e;
    }
    for (const [k, v] of Object.entries(identity)) {
      if (ck.metadata[k] !== v) refuse(`it was written with ${k} = ${ck.metadata[k] ?? '(none)'}, this run has ${v}`);
    }
    const step = Number(ck.metadata['step']);
    if (!/^[1-9][0-9]*$/.test(ck.metadata['step'] ?? '') || !Number.isSafeInteger(step))
      refuse(`its step ${JSON.stringify(ck.metadata['step'] ?? null)} is not a step number`);
    if (step >= steps)
      throw new UsageError(`--resume '${a.resume}' is at step ${step}, and the run has ${steps} steps: nothing is left to train (raise --steps)`);
    const modelParams = paramList;
    params = new Map();
    for (const b of modelParams) {
      const tensor = ck.tensors[b.name];
      if (!tensor) refuse(`it has no tensor '${b.name}' (the model's f32[${b.shape.join(', ')}])`);
      if (tensor.dtype !== 'F32' || tensor.shape.length !== b.shape.length || tensor.shape.some((n, i) => n !== b.shape[i]))
        refuse(`tensor '${b.name}' is ${tensor.dtype}[${tensor.shape.join(', ')}], the model's is f32[${b.shape.join(', ')}]`);
      params.set(b.name, tensor.data as Float32Array);
    }
    for (const name of hostStateNames) {
      const tensor = ck.tensors[name];
      if (tensor?.dtype !== 'F32') refuse(`it has no f32 tensor '${name}' (host optimizer state of an @offload(host) parameter)`);
      hostState.set(name, tensor.data as Float32Array);
    }
    const extra = Object.keys(ck.tensors).filter((k) => !params!.has(k) && !hostState.has(k));
    if (extra.length) refuse(`it has tensors the model does not: ${extra.slice(0, 3).join(', ')}${extra.length > 3 ? `, … (${extra.length})` : ''}`);
    start = step + 1;
    if (resolve(a.resume) === resolve(target)) lastGood = step;
    if (scaler) {
      scaler.scale = Number(ck.metadata['loss_scale']);
      scaler.goodSteps = Number(ck.metadata['good_steps']);
      if (!(scaler.scale > 0) || !Number.isInteger(scaler.goodSteps)) refuse('its loss scale metadata is missing or invalid');
    }
    const log = join(a.out, 'losses.json');
    if (existsSync(log)) history = readLosses(log).filter((x) => x.step < start);
  }

  if (a.init) {
    const { initWeights } = await import('../init-weights.js');
    const mapped = v['weights-map'] !== undefined ? { map: weightsMapOption(v, a.file), ...(plan ? { plan } : {}) } : undefined;
    params = await initWeights(a.init, paramList, g.name, mapped);
  }
  const { nodeDevices } = await import('../../runtime/node.js');
  const { devices, description } = await nodeDevices(mesh ? meshDevices(mesh) : 1);
  if (!a.json) io.err(`compiling ${kernels} kernels…`);
  const c0 = performance.now();
  const given = params ? { params, ...(a.init ? { initRest: true } : {}) } : {};
  const runner = pipe
    ? await (await import('../../runtime/pipeline.js')).PipelineRunner.create(devices, pipe, given)
    : mesh
      ? await (await import('../../runtime/mesh.js')).MeshRunner.create(devices, plan!, given)
      : await (await import('../../runtime/executor.js')).PlanRunner.create(devices[0]!, plan!, given);
  const offload = plan ? HostOffload.create(plan, { seed, ...(params ? { params } : {}) }) : undefined;
  if (offload && params) {
    try {
      offload.restore(hostState);
    } catch (e) {
      throw new Error(`cannot resume from '${a.resume}': ${(e as Error).message}`, { cause: e });
    }
  }
  if (!a.json) io.err(`compiled ${kernels} kernels in ${(performance.now() - c0).toFixed(0)} ms`);
  const data = new TextBatches(text, batch, seq, seed);
  const lrs = { lr: optimizer.lr, warmup, steps };
  const betas = optimizer.kind === 'adamw' ? ([optimizer.beta1, optimizer.beta2] as const) : undefined;
  const trainer =
    runner instanceof PipelineRunnerType
      ? new (await import('../../runtime/pipeline.js')).PipelineTrainer(runner, data, lrs, betas, tokenName)
      : new Trainer(runner as Exclude<typeof runner, PipelineRunnerType>, data, lrs, betas, tokenName, scaler, microbatches, offload);
  mkdirSync(a.out, { recursive: true });
  const every = a.checkpointEvery ?? Math.max(1, Math.ceil(steps / 4));
  const paramCount = g.values.filter((x) => x.kind === 'param').reduce((n, x) => n + numel(x.type.dims.map((d) => dimValue(d)!)), 0);
  if (!a.json) {
    io.out(
      `training ${g.name} (${paramCount.toLocaleString('en-US')} parameters) on ${description}: ${steps} steps of ${batch}×${seq} bytes from ` +
        `${a.data}${microbatches > 1 ? ` in ${microbatches} micro-batches of ${batch / microbatches}` : ''}${start > 1 ? `, resuming at step ${start}` : ''}`,
    );
    const ft = fineTuneLine(compiled?.training);
    if (ft) io.out(ft);
    const rp = compiled?.recompute;
    if (rp)
      io.out(
        `recompute ${rp.policy}: ${(rp.savedBytes / 2 ** 20).toFixed(2)} MiB of activations rebuilt in the backward pass instead of kept, ${(rp.extraFlops / 1e9).toFixed(3)} GFLOP more per step`,
      );
    if (pipe) io.out(`pipeline: ${pipe.stages} stages on ${pipelined}=${pipe.ranks}, schedule ${pipe.schedule.kind}, ${pipe.microbatches} micro-batches`);
    else if (!mesh)
      io.out(
        `device memory: ${formatBytes(runner.allocatedBytes)} allocated (activations in ${plan!.arenas?.length ?? 0} ` +
          `arena${plan!.arenas?.length === 1 ? '' : 's'}; ${formatBytes(planAllocation(plan!, false).bytes)} with a buffer per value)`,
      );
    else io.out(`device memory: ${formatBytes(runner.allocatedBytes)} allocated on ${devices.length} devices`);
  }

  const paramOrder = paramList;
  /** The first parameter (or optimizer state) the device holds that is NaN or ±Inf, as `'name' NaN at [i, j]`. */
  const nonFinite = (all: ReadonlyMap<string, Float32Array>) => {
    const bad = firstNonFinite(paramOrder.map((b) => [b.name, all.get(b.name)!] as const));
    if (!bad) return undefined;
    const shape = paramOrder.find((b) => b.name === bad.name)!.shape;
    const at = stridesOf(shape).map((stride, i) => Math.floor(bad.index / stride) % shape[i]!);
    return `'${bad.name}' ${bad.value} at [${at.join(', ')}]`;
  };
  const kept = () => (lastGood === undefined ? 'no checkpoint was written' : `${target} keeps step ${lastGood}`);
  const lower = `lower --lr (now ${optimizer.lr})`;

  const save = async (step: number) => {
    const all = await runner.readParams();
    const bad = nonFinite(all);
    if (bad) throw new Error(`step ${step}'s update made parameter ${bad}; it was not saved: ${kept()}; ${lower}`);
    const tensors: CheckpointTensors = Object.fromEntries([
      ...paramOrder.map((b) => [b.name, { dtype: 'F32' as const, shape: b.shape, data: all.get(b.name)! }] as const),
      // Host state has its parameter's shape: the name after `opt.m.` or `opt.v.`.
      ...[...(offload?.state ?? [])].map(
        ([name, data]) => [name, { dtype: 'F32' as const, shape: paramOrder.find((b) => b.name === name.slice(6))!.shape, data }] as const,
      ),
    ]);
    const { writeCheckpoint } = await import('../../runtime/checkpoint-node.js');
    await writeCheckpoint(join(a.out, 'checkpoint.safetensors'), tensors, {
      ...identity,
      step: String(step),
      loss: String(history.at(-1)?.loss ?? ''),
      ...(scaler ? { loss_scale: String(scaler.scale), good_steps: String(scaler.goodSteps) } : {}),
    });
    writeAtomic(join(a.out, 'losses.json'), JSON.stringify(history, null, 1) + '\n');
    writeAtomic(join(a.out, 'loss.svg'), lossSvg(history, `${g.name}: training loss (byte-level, ${batch}×${seq} per step)`));
    lastGood = step;
  };

  try {
    for (let step = start; step <= steps; step++) {
      const res = await trainer.step(step);
      if (!res.skipped && !(Number.isFinite(res.loss) && Number.isFinite(res.gradNorm))) {
        const bad = nonFinite(await runner.readParams());
        const what = Number.isFinite(res.loss) ? `the gradient norm became ${res.gradNorm}` : `the loss became ${res.loss}`;
        throw new Error(`${what} at step ${step}${bad ? ` and the update made parameter ${bad}` : ''}; ${kept()}; ${lower}`);
      }
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
    for (const d of devices) d.destroy();
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

/** The names of a model's token input dims [batch, seq], where they are symbolic dims (not constants or numbers) that the flags set. */
function tokenDims(env: Env, model: string) {
  const decl = env.models.get(model);
  if (decl?.params.length !== 1) return undefined;
  const type = decl.params[0]!.type;
  const symbolic = (i: number) => {
    const d = type.dims[i];
    if (d?.size.kind !== 'name' || env.consts.has(d.size.name)) return undefined;
    const devices = d.axes.reduce((n, x) => n * (env.meshAxes.get(x.name) ?? 1), 1);
    return { name: d.size.name, axes: d.axes.map((x) => x.name).join('×'), devices };
  };
  return { text: typeNodeText(type), batch: symbolic(0), seq: symbolic(1) };
}

/** The loss log of an earlier run (OUT/losses.json), checked: a damaged file is named, not half-used. */
function readLosses(path: string): StepResult[] {
  const damaged = (why: string): never => {
    throw new Error(`cannot resume: '${path}' is damaged (${why}); move it away to resume without the earlier losses`);
  };
  let log: unknown;
  try {
    log = JSON.parse(readInputFile(path, 'the loss log').toString('utf8'));
  } catch (e) {
    if (e instanceof UsageError) throw e;
    damaged(`not JSON: ${(e as Error).message}`);
  }
  if (!Array.isArray(log)) damaged('not a list of steps');
  (log as unknown[]).forEach((x, i) => {
    const r = x as Partial<Record<keyof StepResult, unknown>> | null;
    // A step skipped for overflow (mixed precision) logs a non-finite loss, which JSON writes as null.
    if (typeof r !== 'object' || r === null || !Number.isSafeInteger(r.step) || (typeof r.loss !== 'number' && r.loss !== null))
      damaged(`entry ${i} is not a step with a whole 'step' and a number 'loss': ${JSON.stringify(x)?.slice(0, 80)}`);
  });
  return log as StepResult[];
}

function bar(i: number, n: number): string {
  const w = 20;
  const done = Math.round((i / n) * w);
  return `[${'#'.repeat(done)}${'.'.repeat(w - done)}]`;
}

/** The loss curve of a text run as a small standalone SVG (steps on x, loss from 0 on y, ln 256 marked: a byte model's loss at chance). */
export function lossSvg(h: readonly StepResult[], title: string): string {
  const points = h.map((p) => [p.step, p.loss] as const);
  return curvesSvg([{ name: 'training loss', points }], title, { yFrom: 0, reference: { y: Math.log(256), label: 'ln 256' }, tick: (v) => v.toFixed(2) });
}

export const command: Command = {
  help: `Usage: mdc train FILE --data DATASET [options]
       mdc train FILE --data TEXT [options]

With a dataset file (.jsonl, .csv, .npy, .safetensors, IDX), trains the model on its
examples: each input of the model and the train section's labels come from the column of
the same name. With any other file, trains the model as a byte-level language model
(tokens are UTF-8 bytes, so the vocabulary must be at least 256) on WebGPU.
${DATASET_HELP}
Text training: the loss and optimizer come from FILE's train section
(\`loss = cross_entropy(logits, labels)\`, \`optimizer = adamw(lr = 3e-4)\`); flags override.
Parameters and optimizer state stay on the device, except the optimizer state and
update of @offload(host) parameters, which the host keeps and computes. Every --checkpoint-every steps and at
the end, OUT/checkpoint.safetensors (written atomically), OUT/losses.json and OUT/loss.svg
are written. Batches depend only on (seed, step), so --resume continues with the same
losses as an uninterrupted run.

Options:
  --data FILE             the training text (required)
  --steps N               total steps (default: train section, else 100)
  --batch B, --seq S      sequences per step and their length: the dims of the model's
                          token input (i32[B, S], whatever their names; they need no
                          where clause); default: train section, else 8 and 64
  --lr X                  peak learning rate (linear warm-up, then cosine to a tenth)
  --warmup N              warm-up steps (default: a tenth of the steps, at most 10)
  --seed N                parameter initialisation and batch order (default 0)
  --out DIR               where checkpoints and curves go (default: train-out)
  --checkpoint-every N    default: a quarter of the steps
  --resume CKPT           continue from a checkpoint written by mdc train
  --init FILE             start from these weights instead of the seed's (fine-tuning):
                          an mdc checkpoint or a safetensors file with the model's
                          parameter names (or any names through --weights-map M); every
                          parameter must be in it but @lora adapters, which start fresh
                          (A random, B zero) like the optimizer state; freeze = [...] and
                          @lora in the train section choose what trains
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
  --mesh AXIS=N,...       train on one WebGPU device per mesh device of this machine's
                          adapter: partitioned as mdc plan shows, and pipelined when the
                          model's @pipeline axis (default pp) is in the mesh, e.g.
                          --mesh pp=2,dp=2,tp=2 (schedule: the train section's, else 1f1b)
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
    init: { type: 'string' },
    'weights-map': { type: 'string' },
    precision: { type: 'string' },
    microbatches: { type: 'string' },
    recompute: { type: 'string' },
    'memory-budget': { type: 'string' },
    mesh: { type: 'string' },
    ...DATASET_OPTIONS,
  },
  run(file, source, v, io) {
    if (!v['data']) throw new UsageError('train needs --data FILE: a dataset (.jsonl, .csv, .npy, .safetensors, IDX) or a text to train on');
    if (isDatasetFile(v['data'] as string, v['format'] as string | undefined)) return runDatasetTrain(dataArgs(file, source, v), v, dataIo(v, io));
    for (const k of DATASET_FLAGS)
      if (v[k] !== undefined) throw new UsageError(`--${k} applies to dataset files (.jsonl, .csv, .npy, .safetensors, IDX), not text`);
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
    if (v['init'] !== undefined && v['resume'] !== undefined)
      throw new UsageError('--init starts a new run from weights and --resume continues a stopped one: give one of them');
    if (v['weights-map'] !== undefined && v['init'] === undefined) throw new UsageError('--weights-map needs --init FILE, the weights it maps');
    if (v['resume'] !== undefined) regularFileSize(v['resume'] as string, '--resume', 'checkpoint.safetensors');
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
      ...(v['resume'] !== undefined ? { resume: v['resume'] as string } : {}),
      ...(v['init'] !== undefined ? { init: v['init'] as string } : {}),
      ...(precision !== undefined ? { precision } : {}),
      ...(microbatches !== undefined ? { microbatches } : {}),
      ...(policy !== undefined ? { recompute: { policy: policy as RecomputeSetting['policy'], ...(budget !== undefined ? { budget } : {}) } } : {}),
    };
    const tty = !json && (process.stderr.isTTY || process.env['MDC_STDERR_TTY'] === '1') && io.interactive === true;
    return runTrain(args, v, { ...io, ...(tty ? { progress: (s: string) => process.stderr.write(`\r${s}\x1b[K`) } : {}) });
  },
};

/** The tensors a pipelined plan's stages keep across steps (parameters and optimizer state, not the per-step gradient sums), each once, whole. */
function pipelineParams(plan: PipelinePlan): { name: string; shape: readonly number[] }[] {
  const seen = new Map<string, readonly number[]>();
  for (const p of plan.programs)
    for (const b of p.plan.buffers) if (b.role === 'param' && !b.name.startsWith('acc.') && !seen.has(b.name)) seen.set(b.name, b.global?.shape ?? b.shape);
  return [...seen].map(([name, shape]) => ({ name, shape }));
}
