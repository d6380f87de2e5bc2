import type { ArrayFormat } from '../../runtime/dataset-arrays.js';
import { METRICS, type EarlyStopping, type MetricName, type ScheduleKind } from '../../runtime/trainer.js';
import { regularFileSize } from '../files.js';
import { intOption, positive, UsageError, type Io, type Values } from '../options.js';
import type { DataTrainArgs, DataTrainIo } from './train-data.js';

/** mdc train's options for dataset files (train-data.ts): their spec, help and parsing. */

export const DATASET_OPTIONS = {
  labels: { type: 'string' },
  eval: { type: 'string' },
  'eval-labels': { type: 'string' },
  validation: { type: 'string' },
  column: { type: 'string', multiple: true },
  format: { type: 'string' },
  epochs: { type: 'string' },
  accumulate: { type: 'string' },
  schedule: { type: 'string' },
  'early-stop': { type: 'string' },
  report: { type: 'string' },
  metrics: { type: 'string' },
  stream: { type: 'boolean' },
  progress: { type: 'boolean' },
} as const;

/** Flags that only dataset training reads: refused with a text file. */
export const DATASET_FLAGS = Object.keys(DATASET_OPTIONS);
/** Flags of text training that a dataset run does not read: refused there, not ignored. */
const TEXT_FLAGS = ['seq', 'precision', 'microbatches', 'recompute', 'memory-budget', 'mesh'];

export const DATASET_HELP = `
Dataset formats (by extension, or --format):
  .jsonl / .ndjson   one JSON object per line: {"x": [0.1, 0.5], "labels": 1}
  .csv               a header row naming the columns; one example per row
  .safetensors       one tensor per column, its first dim the rows
  .npy, IDX          one array per file, its first dim the rows: the model's one data
                     input; --labels FILE gives the labels (.npy or IDX, e.g. MNIST's
                     train-labels-idx1-ubyte.gz; gzip is read as such). IDX bytes become
                     f32 in [0, 1] for a float input.
Columns: each input of the model, and \`labels\` (added by the train section's loss), is
filled from the column of its name; --column x=pixels renames, --column x=f0,f1,f2 gathers
scalar columns in order. Values are checked before training: a missing column, a wrong
dtype or shape, NaN, a label outside 0..classes-1 (-100 marks no label) or an empty file
stops with the file and line.
Losses (train section): loss = cross_entropy(logits, labels) (logits [B, C] and i32
labels [B], or [B, S, V] and [B, S]); loss = mse(pred, labels) (f32 labels of pred's shape);
loss = contrastive(a, b) (InfoNCE between rows of two outputs [B, D]; no labels);
loss = <scalar output> (the model computes it). Metrics: metrics = [accuracy, f1,
perplexity], computed on the validation split after each epoch (F1 is macro-averaged).

Dataset options:
  --data FILE             the training examples (required)
  --labels FILE           labels for .npy / IDX data
  --eval FILE             a separate evaluation set (with --eval-labels FILE for .npy/IDX);
                          otherwise --validation X holds out a seeded fraction X of --data
                          (default 0.1 when the train section names metrics, else none)
  --column IN=COL[,COL…]  which column(s) fill input IN (repeatable)
  --format F              jsonl, csv, npy, safetensors or idx, whatever the extension
  --stream                read JSONL/CSV as training needs it instead of loading it whole
                          (files larger than memory): a first pass counts and checks the
                          rows; each epoch is shuffled through a buffer of 10,000 examples
                          and --validation holds out rows by a hash of their index
  --epochs N              passes over the training set (default 1); --steps N instead
                          caps the run at N optimizer steps
  --batch B               examples per run of the model (its first input dim; default: train
                          section, else 32)
  --accumulate N          runs whose gradients each optimizer step accumulates (default:
                          the train section's microbatches, else 1): a step sees B×N examples
  --schedule S            constant, linear or cosine (default; to a tenth of --lr), after
                          --warmup N linear warm-up steps (default: train section, else 0)
  --early-stop M[:P]      stop when validation metric M (loss, accuracy, f1, perplexity)
                          has not improved for P evaluations (default 2)
  --metrics M,M…          the validation metrics (accuracy, f1, perplexity), instead of
                          the train section's metrics = [...]
  --report FILE           an HTML report with the loss and metric curves
  --progress              a progress line with ETA on stderr (default: when it is a terminal)
  --steps, --lr, --seed, --out, --checkpoint-every (default: a quarter of the steps),
  --resume, --init, --weights-map and --json work as for text (below); the text-only
  flags (--seq, --precision, --microbatches, --recompute, --mesh) are refused with a dataset.
Each epoch's order is a permutation drawn from --seed and the epoch, so --resume continues
with the losses and metrics of an uninterrupted run, bit for bit. OUT holds
checkpoint.safetensors, history.json (losses and evaluations), loss.svg and metrics.svg.
`;

export function dataArgs(file: string, source: string, v: Values): DataTrainArgs {
  for (const k of TEXT_FLAGS)
    if (v[k] !== undefined)
      throw new UsageError(`--${k} applies to byte-level text training, not to a dataset file${k === 'microbatches' ? ' (use --accumulate N)' : ''}`);
  const pos = (k: string) => (v[k] === undefined ? undefined : positive(v[k], k));
  const str = (k: string) => v[k] as string | undefined;
  const lr = v['lr'] === undefined ? undefined : Number(v['lr']);
  if (lr !== undefined && !(lr > 0 && Number.isFinite(lr))) throw new UsageError(`--lr must be a positive number, got '${v['lr']}'`);
  const validation = str('validation') === undefined ? undefined : Number(str('validation'));
  if (validation !== undefined && !(validation >= 0 && validation < 1))
    throw new UsageError(`--validation must be a fraction from 0 up to, not including, 1, got '${str('validation')}'`);
  if (validation !== undefined && str('eval') !== undefined)
    throw new UsageError('--validation splits --data; with --eval FILE the evaluation set is that file: pass one of them');
  if (str('eval-labels') !== undefined && str('eval') === undefined) throw new UsageError('--eval-labels goes with --eval FILE');
  if (v['stream'] && (str('labels') !== undefined || str('eval-labels') !== undefined))
    throw new UsageError('--stream reads JSONL and CSV, whose labels are a column: --labels and --eval-labels go with .npy and IDX files loaded whole');
  const format = str('format');
  if (format !== undefined && !['jsonl', 'csv', 'npy', 'safetensors', 'idx'].includes(format))
    throw new UsageError(`--format must be jsonl, csv, npy, safetensors or idx, got '${format}'`);
  const schedule = str('schedule');
  if (schedule !== undefined && !['constant', 'linear', 'cosine'].includes(schedule))
    throw new UsageError(`--schedule must be constant, linear or cosine, got '${schedule}'`);
  const columns: Record<string, string[]> = {};
  for (const c of (v['column'] as string[] | undefined) ?? []) {
    const m = /^([A-Za-z_][\w.]*)=(.+)$/.exec(c);
    const cols = m?.[2]!.split(',').map((x) => x.trim());
    if (!m || cols!.some((x) => x === '')) throw new UsageError(`--column must be INPUT=COLUMN or INPUT=COL1,COL2,…, got '${c}'`);
    if (columns[m[1]!]) throw new UsageError(`--column ${m[1]} is given twice`);
    columns[m[1]!] = cols!;
  }
  const metrics = str('metrics')
    ?.split(',')
    .map((m) => m.trim());
  for (const m of metrics ?? [])
    if (!METRICS.includes(m as never)) throw new UsageError(`--metrics takes a comma-separated list of ${METRICS.join(', ')}; got '${m}'`);
  let earlyStop: EarlyStopping | undefined;
  if (str('early-stop') !== undefined) {
    const [metric, patience = '2'] = str('early-stop')!.split(':');
    if (metric !== 'loss' && !METRICS.includes(metric as never))
      throw new UsageError(`--early-stop must be METRIC[:PATIENCE] with METRIC loss, ${METRICS.join(', ')}, got '${str('early-stop')}'`);
    earlyStop = { metric: metric as EarlyStopping['metric'], patience: positive(patience, 'early-stop patience') };
  }
  for (const k of ['data', 'labels', 'eval', 'eval-labels']) if (str(k) !== undefined) regularFileSize(str(k)!, `--${k}`);
  if (str('resume') !== undefined) regularFileSize(str('resume')!, '--resume', 'checkpoint.safetensors');
  if (str('init') !== undefined && str('resume') !== undefined)
    throw new UsageError('--init starts a new run from weights and --resume continues a stopped one: give one of them');
  if (str('weights-map') !== undefined && str('init') === undefined) throw new UsageError('--weights-map needs --init FILE, the weights it maps');
  const opt = <K extends string, T>(k: K, x: T | undefined) => (x === undefined ? {} : ({ [k]: x } as Record<K, T>));
  return {
    file,
    source,
    data: str('data')!,
    out: str('out') ?? 'train-out',
    json: !!v['json'],
    columns,
    ...opt('labels', str('labels')),
    ...opt('eval', str('eval')),
    ...opt('evalLabels', str('eval-labels')),
    ...opt('validation', validation),
    ...opt('format', format as ArrayFormat | undefined),
    ...opt('epochs', pos('epochs')),
    ...opt('steps', pos('steps')),
    ...opt('batch', pos('batch')),
    ...opt('accumulate', pos('accumulate')),
    ...opt('lr', lr),
    ...opt('warmup', v['warmup'] === undefined ? undefined : intOption(v['warmup'], 'warmup')),
    ...opt('schedule', schedule as ScheduleKind | undefined),
    ...opt('seed', v['seed'] === undefined ? undefined : intOption(v['seed'], 'seed')),
    ...opt('checkpointEvery', pos('checkpoint-every')),
    ...opt('resume', str('resume')),
    ...opt('init', str('init')),
    ...opt('weightsMap', str('weights-map') !== undefined ? true : undefined),
    ...opt('earlyStop', earlyStop),
    ...opt('report', str('report')),
    ...opt('stream', v['stream'] ? true : undefined),
    ...opt('metrics', metrics as MetricName[] | undefined),
  };
}

export function dataIo(v: Values, io: Io): DataTrainIo {
  if (v['json']) return io;
  const tty = (process.stderr.isTTY || process.env['MDC_STDERR_TTY'] === '1') && io.interactive === true;
  if (tty) return { ...io, progress: (s: string) => process.stderr.write(`\r${s}\x1b[K`) };
  // --progress without a terminal: one line per update, on stderr.
  let last = 0;
  const every = () => {
    const now = performance.now();
    return now - last >= 1000 ? ((last = now), true) : false;
  };
  if (v['progress']) return { ...io, progress: (s: string) => void (s && every() && io.err(s)) };
  return io;
}
