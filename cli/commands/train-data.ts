import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Env } from '../../compiler/bind.js';
import { lowerModel } from '../../compiler/compile.js';
import { dimValue } from '../../compiler/dims.js';
import { applyLora } from '../../compiler/train/lora.js';
import { trainSettings, type TrainSettings } from '../../compiler/train/settings.js';
import type { Diagnostic } from '../../diagnostics/messages.js';
import { compileGraph } from '../../driver/compile.js';
import { numel } from '../../layout/mesh.js';
import { CheckpointError, crc32, type CheckpointTensors } from '../../runtime/checkpoint.js';
import { arrayFormatOf, loadArrays, streamArrays, type ArrayFormat } from '../../runtime/dataset-arrays.js';
import type { SplitOptions } from '../../runtime/datasets-node.js';
import type { DatasetInput, DatasetSpec } from '../../runtime/datasets.js';
import type { Plan } from '../../runtime/plan.js';
import type { StepResult } from '../../runtime/train.js';
import { Trainer, TrainError, type TrainData, type EarlyStopping, type EvalResult, type MetricName, type ScheduleKind } from '../../runtime/trainer.js';
import { writeAtomic } from '../files.js';
import { fineTuneLine } from '../init-weights.js';
import { compileFile, EXIT, frontendOptions, report as reportDiagnostics, UsageError, type Io, type Values } from '../options.js';
import { lossCurve, metricsCurve, reportHtml } from '../train-report.js';

/**
 * `mdc train FILE --data F` for a dataset file (JSONL, CSV, .npy, safetensors, IDX): the
 * model's inputs and the train section's labels filled by column name, trained by the
 * runtime's Trainer (runtime/trainer.ts) with evaluation on a validation split each epoch.
 * Byte-level text training stays in train.ts.
 */
export interface DataTrainArgs {
  readonly file: string;
  readonly source: string;
  readonly data: string;
  readonly labels?: string;
  readonly eval?: string;
  readonly evalLabels?: string;
  readonly validation?: number;
  readonly columns: Readonly<Record<string, readonly string[]>>;
  readonly format?: ArrayFormat;
  readonly epochs?: number;
  readonly steps?: number;
  readonly batch?: number;
  readonly accumulate?: number;
  readonly lr?: number;
  readonly warmup?: number;
  readonly schedule?: ScheduleKind;
  readonly seed?: number;
  readonly out: string;
  readonly checkpointEvery?: number;
  readonly resume?: string;
  /** `--init FILE` (with `--weights-map M`): start from these weights, a fine-tuning run (cli/init-weights.ts). */
  readonly init?: string;
  readonly weightsMap?: boolean;
  readonly earlyStop?: EarlyStopping;
  readonly report?: string;
  /** --stream: JSONL/CSV read as needed instead of loaded whole. */
  readonly stream?: boolean;
  /** --metrics: instead of the train section's. */
  readonly metrics?: readonly MetricName[];
  readonly json: boolean;
}

export interface DataTrainIo extends Io {
  /** Rewrites the progress line (stderr); undefined: no progress line. */
  progress?: (s: string) => void;
}

/** Whether --data names a dataset file this path trains on (not text for the byte-level path). */
export function isDatasetFile(path: string, format?: string): boolean {
  return format !== undefined ? format !== 'text' : arrayFormatOf(path) !== undefined;
}

const CONTROL_INPUTS = new Set(['lr', 'bc1', 'bc2', 'apply', 'dropout_step', 'loss_scale', 'inv_loss_scale']);

/**
 * The file checked and the train section of the model mdc train trains (`--model`, else the
 * file's last), read into settings; undefined when either has diagnostics (reported).
 */
export async function readTrainSection(
  a: { readonly file: string; readonly source: string },
  v: Values,
  io: Io,
  report: (ds: readonly Diagnostic[]) => void,
): Promise<{ env: Env; modelName: string; settings: TrainSettings } | undefined> {
  const checked = await compileFile(a.file, a.source, v, io, { until: 'check', concrete: false });
  if (!checked) return undefined;
  const env = checked.checked.env!;
  const models = [...env.models.keys()];
  const modelName = frontendOptions(v).model ?? models[models.length - 1]!;
  const s = trainSettings(env, modelName);
  if (!s.settings) {
    report(s.diagnostics);
    return undefined;
  }
  return { env, modelName, settings: s.settings };
}

export async function runDatasetTrain(a: DataTrainArgs, v: Values, io: DataTrainIo): Promise<number> {
  const report = (ds: readonly Diagnostic[]) => reportDiagnostics(ds, a.source, a.json, io, { file: a.file, ok: false });
  const frontend = frontendOptions(v);
  const read = await readTrainSection(a, v, io, report);
  if (!read) return EXIT.diagnostics;
  const { env, modelName, settings } = read;
  if (settings.precision && settings.precision !== 'f32')
    throw new UsageError(`training from a dataset file runs in f32; the train section sets precision = ${settings.precision}`);
  const batch = a.batch ?? settings.batch ?? 32;
  const accumulate = a.accumulate ?? settings.microbatches ?? 1;
  const seed = a.seed ?? settings.seed ?? 0;
  const optimizer = { ...settings.optimizer, ...(a.lr !== undefined ? { lr: a.lr } : {}) };
  const bdim = batchDim(env, modelName);
  const dims = { ...(frontend.dims ?? {}), ...(bdim ? { [bdim]: batch } : {}) };
  const lowered = lowerModel(env, a.file, { ...frontend, dims, training: true });
  if (!lowered.graph) {
    report(lowered.diagnostics);
    return EXIT.diagnostics;
  }
  const g = lowered.graph;
  for (const id of g.inputs) {
    const x = g.values[id]!;
    const shape = x.type.dims.map((d) => dimValue(d));
    if (shape[0] !== batch)
      throw new UsageError(
        `--batch ${batch} needs ${g.name}'s input '${x.name}' to have ${batch} rows first, but it is [${shape.join(', ')}]: ` +
          `name its first dim (e.g. f32[B, ...]) for --batch to set it, or pass --batch ${shape[0]}`,
      );
  }
  // Without a train section the loss is cross-entropy on the first output.
  const loss: TrainSettings['loss'] =
    settings.loss.kind === 'output' && !settings.loss.output ? { kind: 'cross_entropy', output: g.outputNames[0]! } : settings.loss;
  const out = loss.kind === 'output' ? undefined : g.values[g.outputs[g.outputNames.indexOf(loss.output)]!];
  const classes = loss.kind === 'cross_entropy' && out ? dimValue(out.type.dims.at(-1)!)! : undefined;
  const full: TrainSettings = { ...settings, loss, optimizer, microbatches: accumulate };
  const compiled = await compileGraph(g, { file: a.file, seed, train: full });
  if (!compiled.plan) {
    report(compiled.diagnostics);
    return EXIT.diagnostics;
  }
  const plan = compiled.plan;

  // Data: every input of the training plan but the per-step scalars, by column name (--column renames).
  const ios: DatasetInput[] = plan.inputs.filter((i) => !CONTROL_INPUTS.has(i.name));
  const labelInputs = loss.kind === 'output' || loss.kind === 'contrastive' ? [] : ['labels'];
  for (const k of Object.keys(a.columns))
    if (!ios.some((i) => i.name === k)) throw new UsageError(`--column ${k}=…: ${g.name} has no input '${k}' (it takes ${ios.map((i) => i.name).join(', ')})`);
  const spec: DatasetSpec = {
    inputs: ios,
    columns: Object.fromEntries(ios.map((i) => [i.name, a.columns[i.name] ?? i.name])),
    labels: labelInputs,
    ...(classes !== undefined ? { classes: { labels: classes } } : {}),
  };
  // A DatasetError's message starts with the file and line (or row): printed as it is.
  const load = (path: string, labels: string | undefined) =>
    loadArrays(path, spec, { ...(a.format ? { format: a.format } : {}), ...(labels ? { labels } : {}) });
  const streamed = (path: string, split?: SplitOptions) =>
    streamArrays(path, spec, { seed, ...(split ? { split } : {}), ...(a.format ? { format: a.format } : {}) });
  const metrics = a.metrics ?? ((settings.metrics ?? []) as MetricName[]);
  if (metrics.length && loss.kind !== 'cross_entropy')
    throw new UsageError(`--metrics ${metrics.join(',')} read class logits, and ${g.name}'s loss is not cross_entropy(<logits>, labels)`);
  const fraction = a.validation ?? (a.eval === undefined && metrics.length ? 0.1 : 0);
  let train: TrainData;
  let evalSet: TrainData | undefined;
  if (a.stream) {
    const part = (side: 'train' | 'validation') => (fraction > 0 && a.eval === undefined ? { fraction, seed, part: side } : undefined);
    train = await streamed(a.data, part('train'));
    if (a.eval !== undefined) evalSet = await streamed(a.eval);
    else if (fraction > 0) evalSet = await streamed(a.data, part('validation'));
  } else {
    const all = await load(a.data, a.labels);
    train = all;
    if (a.eval !== undefined) evalSet = await load(a.eval, a.evalLabels);
    else if (fraction > 0) ({ train, validation: evalSet } = all.split(fraction, seed));
  }
  if (evalSet?.length === 0) evalSet = undefined;
  const es = a.earlyStop;
  if (es && (!evalSet || loss.kind === 'output' || loss.kind === 'contrastive'))
    throw new UsageError(
      `--early-stop ${es.metric} watches evaluations, and this run has none: give --validation X or --eval FILE with a cross_entropy or mse loss`,
    );
  if (es && es.metric !== 'loss' && !metrics.includes(es.metric))
    throw new UsageError(`--early-stop ${es.metric}: the run does not compute ${es.metric}; add it to --metrics or the train section's metrics`);

  // The forward plan evaluates and predicts on the training plan's parameters.
  let forwardPlan: Plan | undefined;
  if (evalSet && (loss.kind === 'cross_entropy' || loss.kind === 'mse')) {
    const fl = lowerModel(env, a.file, { ...frontend, dims, training: false });
    // With @lora adapters the model being trained is the adapted one: evaluating the bare forward graph would score the
    // base weights alone (the adapters exist only in the training plan), so the forward plan gets the same adapters.
    const adapted = fl.graph && settings.lora?.length ? applyLora(fl.graph, settings.lora, a.file) : { graph: fl.graph, diagnostics: fl.diagnostics };
    const fc = adapted.graph ? await compileGraph(adapted.graph, { file: a.file, seed }) : undefined;
    if (!fc?.plan) {
      report(fc?.diagnostics ?? adapted.diagnostics);
      return EXIT.diagnostics;
    }
    forwardPlan = fc.plan;
  }

  const crc = (p: string | undefined) => (p ? String(crc32(readFileSync(p))) : '');
  const identity: Record<string, string> = {
    format: 'mdc-train-data-1',
    model: g.name,
    seed: String(seed),
    batch: String(batch),
    accumulate: String(accumulate),
    data_crc32: crc(a.data) + (a.labels ? `+${crc(a.labels)}` : ''),
    validation: a.eval !== undefined ? `file ${crc(a.eval)}` : String(fraction),
    lr: String(optimizer.lr),
    schedule: `${a.schedule ?? 'cosine'}/${a.warmup ?? settings.warmup ?? 0}`,
    ...(a.stream ? { order: 'stream' } : {}),
  };
  const paramList = plan.buffers.filter((b) => b.role === 'param').map((b) => ({ name: b.name, shape: b.shape }));
  const target = join(a.out, 'checkpoint.safetensors');
  const logPath = join(a.out, 'history.json');
  let resume: { step: number; history: StepResult[]; evals: EvalResult[] } | undefined;
  let params: Map<string, Float32Array> | undefined;
  if (a.resume) ({ resume, params } = await readResume(a.resume, identity, paramList, logPath));
  if (a.init) {
    const { initWeights } = await import('../init-weights.js');
    const { weightsMapOption } = await import('../weights.js');
    params = await initWeights(a.init, paramList, g.name, a.weightsMap ? { map: weightsMapOption(v, a.file), plan } : undefined);
  }

  // What the Trainer would refuse, refused before any device is taken.
  const steps = a.steps ?? (a.epochs === undefined ? settings.steps : undefined);
  const perEpoch = Math.floor(train.length / (batch * accumulate));
  if (perEpoch < 1)
    throw new UsageError(
      `${a.data} has ${train.length} training examples, fewer than one step's ${batch * accumulate} (--batch ${batch} × --accumulate ${accumulate})`,
    );
  const planned = steps ?? (a.epochs ?? 1) * perEpoch;
  if (resume && resume.step >= planned)
    throw new UsageError(`--resume '${a.resume}' is at step ${resume.step}, and the run has ${planned} steps: nothing is left to train`);

  const { nodeDevices } = await import('../../runtime/node.js');
  const { PlanRunner } = await import('../../runtime/executor.js');
  const { devices, description } = await nodeDevices(1);
  const device = devices[0]!;
  if (!a.json) io.err(`compiling ${plan.kernels.length + (forwardPlan?.kernels.length ?? 0)} kernels…`);
  const runner = await PlanRunner.create(device, plan, params ? { params, ...(a.init ? { initRest: true } : {}) } : {});
  const forward = forwardPlan ? await PlanRunner.create(device, forwardPlan) : undefined;
  const title = `${g.name}: ${loss.kind === 'output' ? loss.output : `${loss.kind}(${loss.output}, labels)`}`;
  const t0 = performance.now();
  const evalLine = (e: EvalResult) =>
    `epoch ${e.epoch} (step ${e.step}): validation loss ${e.loss.toFixed(4)}` +
    (['accuracy', 'f1', 'perplexity'] as const)
      .filter((k) => e[k] !== undefined)
      .map((k) => `  ${k} ${e[k]!.toFixed(4)}`)
      .join('');
  const save = async (step: number) => {
    // The histories first: a checkpoint is never ahead of them (resume drops entries after its step).
    writeAtomic(logPath, JSON.stringify({ steps: trainer.history, evals: trainer.evals }, null, 1) + '\n');
    const all = await runner.readParams();
    const tensors: CheckpointTensors = Object.fromEntries(
      paramList.map((b) => [b.name, { dtype: 'F32' as const, shape: b.shape, data: all.get(b.name)! }] as const),
    );
    const { writeCheckpoint } = await import('../../runtime/checkpoint-node.js');
    await writeCheckpoint(target, tensors, { ...identity, step: String(step) });
    writeAtomic(join(a.out, 'loss.svg'), lossCurve(trainer.history, trainer.evals, `${title}: loss`));
    const m = metricsCurve(trainer.evals, `${g.name}: validation metrics`);
    if (m) writeAtomic(join(a.out, 'metrics.svg'), m);
  };
  let timed = 0;
  const trainer: Trainer = new Trainer({
    model: runner,
    ...(forward ? { forward } : {}),
    train,
    ...(evalSet ? { eval: evalSet } : {}),
    batchSize: batch,
    accumulate,
    epochs: a.epochs ?? 1,
    ...(steps !== undefined ? { steps } : {}),
    seed,
    optimizer: { lr: optimizer.lr, ...(optimizer.kind === 'adamw' ? { betas: [optimizer.beta1, optimizer.beta2] as const } : {}) },
    schedule: { kind: a.schedule ?? 'cosine', warmup: a.warmup ?? settings.warmup ?? 0 },
    task: { loss: loss.kind === 'mse' ? 'mse' : 'cross_entropy', output: loss.output, labels: 'labels' },
    metrics,
    ...(a.earlyStop ? { earlyStopping: a.earlyStop } : {}),
    ...(resume ? { resume } : {}),
    checkpointEvery: a.checkpointEvery ?? Math.max(1, Math.ceil(planned / 4)),
    callbacks: {
      onStep: (r) => {
        if (a.json) return;
        const per = (performance.now() - t0) / 1000 / ++timed;
        const line = `step ${r.step}/${total}  loss ${r.loss.toFixed(4)}  lr ${r.lr.toExponential(2)}  ETA ${eta(per * (total - r.step))}`;
        if (io.progress) io.progress(`${bar(r.step, total)} ${line}`);
        else if (timed === 1 || r.step === total || r.step % Math.max(1, Math.floor(total / 20)) === 0) io.out(line);
      },
      onEvaluate: (e) => {
        if (a.json) return;
        if (io.progress) io.progress('');
        io.out(evalLine(e));
      },
      onCheckpoint: save,
    },
  });
  const total = trainer.totalSteps;
  mkdirSync(a.out, { recursive: true });
  const paramCount = g.values.filter((x) => x.kind === 'param').reduce((n, x) => n + numel(x.type.dims.map((d) => dimValue(d)!)), 0);
  const epochs = Math.ceil(total / trainer.stepsPerEpoch);
  if (!a.json)
    io.out(
      `training ${g.name} (${paramCount.toLocaleString('en-US')} parameters) on ${description}: ${total} steps (${epochs} epoch${epochs === 1 ? '' : 's'} of ` +
        `${trainer.stepsPerEpoch}) of ${batch}${accumulate > 1 ? `×${accumulate}` : ''} examples from ${a.data} (${train.length} rows` +
        `${evalSet ? `, ${evalSet.length} for validation` : ''})${resume ? `, resuming at step ${resume.step + 1}` : ''}${a.init ? `, starting from ${a.init}` : ''}`,
    );
  const ft = fineTuneLine(compiled.training);
  if (ft && !a.json) io.out(ft);
  try {
    await trainer.train();
  } catch (e) {
    if (e instanceof TrainError)
      throw new Error(`${e.message}; ${existsSync(target) ? `${target} keeps the last checkpoint` : 'no checkpoint was written'}; lower --lr`, { cause: e });
    throw e;
  } finally {
    forward?.destroy();
    runner.destroy();
    for (const d of devices) d.destroy();
  }
  if (a.report) {
    const settingsTable = {
      model: g.name,
      data: a.data,
      examples: train.length,
      validation: evalSet?.length ?? 0,
      batch,
      accumulate,
      steps: total,
      epochs,
      seed,
      lr: optimizer.lr,
    };
    writeAtomic(a.report, reportHtml(title, settingsTable, trainer.history, trainer.evals));
  }
  const last = trainer.evals.at(-1);
  if (a.json) {
    io.out(
      JSON.stringify(
        {
          file: a.file,
          ok: true,
          adapter: description,
          steps: total,
          epochs,
          batch,
          accumulate,
          parameters: paramCount,
          examples: train.length,
          validation: evalSet?.length ?? 0,
          losses: trainer.history.map((h) => h.loss),
          evals: trainer.evals,
          ...(trainer.stoppedEarly ? { stoppedEarly: trainer.stoppedEarly } : {}),
          seconds: (performance.now() - t0) / 1000,
          out: a.out,
          diagnostics: [],
        },
        null,
        2,
      ),
    );
  } else {
    if (trainer.stoppedEarly) io.out(`stopped early: ${trainer.stoppedEarly}`);
    const h = trainer.history;
    io.out(
      `loss ${h[0]!.loss.toFixed(4)} → ${h.at(-1)!.loss.toFixed(4)}${last ? `; ${evalLine(last)}` : ''}; checkpoint, history.json and curves in ${a.out}/` +
        (a.report ? `; report ${a.report}` : ''),
    );
  }
  return 0;
}

/** The symbolic name of the first dim of the model's first input (the batch), when it is one the flags may set. */
function batchDim(env: Env, model: string): string | undefined {
  const d = env.models.get(model)?.params[0]?.type.dims[0];
  return d?.size.kind === 'name' && !env.consts.has(d.size.name) ? d.size.name : undefined;
}

async function readResume(path: string, identity: Record<string, string>, paramList: readonly { name: string; shape: readonly number[] }[], logPath: string) {
  const refuse = (why: string): never => {
    throw new Error(`cannot resume from '${path}': ${why}`);
  };
  const { readCheckpoint } = await import('../../runtime/checkpoint-node.js');
  let ck;
  try {
    ck = await readCheckpoint(path);
  } catch (e) {
    if (e instanceof CheckpointError || (e as NodeJS.ErrnoException).code === 'ENOENT') return refuse((e as Error).message);
    throw e;
  }
  for (const [k, v] of Object.entries(identity))
    if (ck.metadata[k] !== v) refuse(`it was written with ${k} = ${ck.metadata[k] ?? '(none)'}, this run has ${v}`);
  const step = Number(ck.metadata['step']);
  if (!/^[1-9][0-9]*$/.test(ck.metadata['step'] ?? '')) refuse(`its step ${JSON.stringify(ck.metadata['step'] ?? null)} is not a step number`);
  const params = new Map<string, Float32Array>();
  for (const b of paramList) {
    const t = ck.tensors[b.name];
    if (!t || t.dtype !== 'F32' || t.shape.join() !== b.shape.join()) refuse(`tensor '${b.name}' is missing or not f32[${b.shape.join(', ')}]`);
    params.set(b.name, t!.data as Float32Array);
  }
  let log: { steps?: unknown; evals?: unknown } = {};
  if (existsSync(resolve(logPath))) {
    try {
      log = JSON.parse(readFileSync(logPath, 'utf8')) as typeof log;
    } catch (e) {
      refuse(`its history '${logPath}' is not JSON (${(e as Error).message}); move it away to resume without the earlier losses`);
    }
  }
  if (!Array.isArray(log.steps ?? []) || !Array.isArray(log.evals ?? [])) refuse(`its history '${logPath}' is not { steps: [...], evals: [...] }`);
  const history = ((log.steps ?? []) as StepResult[]).filter((h) => typeof h?.step === 'number' && h.step <= step);
  const evals = ((log.evals ?? []) as EvalResult[]).filter((e) => typeof e?.step === 'number' && e.step <= step);
  return { resume: { step, history, evals }, params };
}

function bar(i: number, n: number): string {
  const w = 20;
  const done = Math.round((i / n) * w);
  return `[${'#'.repeat(done)}${'.'.repeat(w - done)}]`;
}

function eta(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  return s >= 3600
    ? `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`
    : s >= 60
      ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`
      : `${s}s`;
}
