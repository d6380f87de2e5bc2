import { diag, type Diagnostic } from '../../diagnostics/messages.js';
import type * as A from '../../grammar/ast.js';
import { constInt, loraAnnotation, pipelineAnnotation } from '../annotations.js';
import type { ParamPattern } from './freeze.js';
import type { LoraDecl } from './lora.js';
import type { Env } from '../bind.js';
import { typeNodeText } from '../../grammar/ast-text.js';
import type { RecomputePolicy } from './recompute.js';
import { recomputePolicy } from './recompute-policy.js';
import { offloadConflicts, offloadTargets, type OffloadTarget } from './offload.js';

/** The pipeline schedules a train section can name (compiler/pipeline/schedule.ts makes them). */
export type PipelineSchedule = 'gpipe' | '1f1b' | 'interleaved' | 'zb-h1';
const SCHEDULE_NAMES: Readonly<Record<string, PipelineSchedule>> = {
  gpipe: 'gpipe',
  '1f1b': '1f1b',
  interleaved: 'interleaved',
  'zb-h1': 'zb-h1',
  zb_h1: 'zb-h1',
};

/** A model's `train` section, read into typed settings (command-line flags override them). */
export interface TrainSettings {
  /** `cross_entropy(<output>, labels)`: the output holding logits; or the name of a scalar output that is the loss. */
  readonly loss:
    | { readonly kind: 'cross_entropy' | 'mse'; readonly output: string }
    | { readonly kind: 'output'; readonly output: string }
    /** `contrastive(a, b)`: InfoNCE between the rows of two outputs [B, D] (train/step.ts lossGraph). */
    | { readonly kind: 'contrastive'; readonly output: string; readonly other: string };
  /** `metrics = [accuracy, f1, perplexity]`: computed on the host from the loss's output on the validation split (runtime/trainer.ts). */
  readonly metrics?: readonly string[];
  readonly optimizer: OptimizerSpec;
  readonly steps?: number;
  readonly batch?: number;
  readonly seq?: number;
  readonly seed?: number;
  readonly warmup?: number;
  readonly gradClip?: number;
  readonly zero?: number;
  /**
   * `microbatches = N`: the batch is split into N micro-batches whose gradients are
   * accumulated before the optimizer step (a positive integer dividing `batch` when the
   * section gives one). Read and validated here; the training step decides how it runs.
   */
  readonly microbatches?: number;
  /** `copies = N`: each (micro-)batch runs as N interleaved copies of the model (train/copies.ts); also read for inference by copiesSetting. */
  readonly copies?: number;
  /** `schedule = ...`: how pipeline stages order their micro-batch passes (default 1f1b; only with @pipeline). */
  readonly schedule?: PipelineSchedule;
  /** Mixed precision: bf16 or f16 compute with f32 master weights (f16 with dynamic loss scaling). */
  readonly precision?: 'f32' | 'bf16' | 'f16';
  /** Activation recompute (`recompute = "selective"`; `auto` with `memory_budget = 60MiB`, bytes of activations kept). */
  readonly recompute?: RecomputeSetting;
  /** Params written `@offload(host)`: their optimizer state and update live on the host (train/offload.ts). */
  readonly offload?: readonly OffloadTarget[];
  /** `freeze = ["wte", "Layer.*.Attention.*"]`: globs over parameter names that get no gradient, state or update (train/freeze.ts). */
  readonly freeze?: readonly ParamPattern[];
  /** `train_also = [...]`: with @lora adapters, the parameters besides the adapters that still train (norms, a task head). */
  readonly trainAlso?: readonly ParamPattern[];
  /** Params declared `@lora(rank = r, alpha = a)` in the model or its blocks (train/lora.ts). */
  readonly lora?: readonly LoraDecl[];
}

export interface RecomputeSetting {
  readonly policy: RecomputePolicy;
  /** Bytes of activations kept, whole model; what `auto` plans under (train/recompute.ts). */
  readonly budget?: number;
}

export interface OptimizerSpec {
  readonly kind: 'adamw' | 'sgd';
  readonly lr: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  /** Decoupled weight decay, applied to parameters of rank ≥ 2 (not biases and norm gains). */
  readonly weightDecay: number;
  readonly momentum: number;
}

export const DEFAULT_OPTIMIZER: OptimizerSpec = { kind: 'adamw', lr: 3e-4, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1, momentum: 0.9 };

const OPT_ARGS = ['lr', 'beta1', 'beta2', 'eps', 'weight_decay', 'momentum'];

/** Reads the train section of `model` (or defaults when it has none); diagnostics for malformed entries. */
export function trainSettings(env: Env, model: string): { settings?: TrainSettings; diagnostics: Diagnostic[] } {
  const ds: Diagnostic[] = [];
  const section = env.sections.find((s) => s.kind === 'train' && s.target.name === model);
  const entry = (k: string) => section?.entries.find((e) => e.name.name === k);
  const num = (k: string, integer: boolean): number | undefined => {
    const e = entry(k);
    if (!e) return undefined;
    const v = constant(e.value, env);
    if (v === undefined || (integer && !Number.isInteger(v)) || v < 0) {
      ds.push(diag(env.file, e.value.span, 'MDC0503', k, integer ? 'a non-negative integer' : 'a non-negative number'));
      return undefined;
    }
    return v;
  };

  let loss: TrainSettings['loss'] | undefined;
  const le = entry('loss');
  if (!le) loss = { kind: 'output', output: '' };
  else if (le.value.kind === 'name') loss = { kind: 'output', output: le.value.name };
  else if (
    le.value.kind === 'call' &&
    (le.value.callee.name === 'cross_entropy' || le.value.callee.name === 'mse') &&
    le.value.args.length === 2 &&
    le.value.args[0]!.value.kind === 'name' &&
    le.value.args[1]!.value.kind === 'name' &&
    (le.value.args[1]!.value as A.NameRef).name === 'labels'
  ) {
    loss = { kind: le.value.callee.name as 'cross_entropy' | 'mse', output: (le.value.args[0]!.value as A.NameRef).name };
  } else if (
    le.value.kind === 'call' &&
    le.value.callee.name === 'contrastive' &&
    le.value.args.length === 2 &&
    le.value.args.every((x) => x.value.kind === 'name' && !x.name)
  ) {
    const [a, b] = le.value.args.map((x) => x.value as A.NameRef);
    loss = { kind: 'contrastive', output: a!.name, other: b!.name };
    const outputs = outputNames(env, model);
    if (outputs.length && !outputs.includes(b!.name)) ds.push(diag(env.file, b!.span, 'MDC0506', b!.name, outputs.join(', ')));
  } else ds.push(diag(env.file, le.value.span, 'MDC0504'));

  let optimizer = DEFAULT_OPTIMIZER;
  const oe = entry('optimizer');
  if (oe) {
    const call = oe.value.kind === 'call' ? oe.value : undefined;
    const name = call ? call.callee.name : oe.value.kind === 'name' ? oe.value.name : undefined;
    if (name === 'adamw' || name === 'sgd') {
      const o: Record<string, number> = { ...DEFAULT_OPTIMIZER, ...(name === 'sgd' ? { weightDecay: 0 } : {}) } as unknown as Record<string, number>;
      for (const a of call?.args ?? []) {
        const key = a.name?.name;
        const v = constant(a.value, env);
        if (!key || !OPT_ARGS.includes(key)) {
          ds.push(diag(env.file, a.span, 'MDC0505', name, key ?? 'a positional argument', OPT_ARGS.join(', ')));
          continue;
        }
        // eps keeps the update's denominator above zero; a beta of 1 divides the bias correction by zero.
        const want =
          v === undefined || v < 0
            ? 'a non-negative number'
            : key === 'eps' && !(v > 0)
              ? 'a positive number'
              : (key === 'beta1' || key === 'beta2') && !(v < 1)
                ? 'a number from 0 up to, not including, 1'
                : undefined;
        if (want || v === undefined) {
          ds.push(diag(env.file, a.value.span, 'MDC0503', `${name}(${key})`, want ?? 'a non-negative number'));
          continue;
        }
        o[key === 'weight_decay' ? 'weightDecay' : key] = v;
      }
      optimizer = { ...(o as unknown as OptimizerSpec), kind: name };
    }
    // Unknown optimizers are reported by bind (MDC0502).
  }
  let precision: TrainSettings['precision'];
  const pe = entry('precision');
  if (pe) {
    const v = pe.value.kind === 'str' ? pe.value.value : pe.value.kind === 'name' ? pe.value.name : undefined;
    if (v === 'f32' || v === 'bf16' || v === 'f16') precision = v;
    else ds.push(diag(env.file, pe.value.span, 'MDC0503', 'precision', '"f32", "bf16" or "f16"'));
  }
  // The policy comes from @recompute on the model's layer stacks or from `recompute = ...` here.
  const rp = recomputePolicy(env, model);
  ds.push(...rp.diagnostics);
  const recompute: RecomputeSetting | undefined = rp.policy ? { policy: rp.policy, ...(rp.budget !== undefined ? { budget: rp.budget } : {}) } : undefined;
  const batch = num('batch', true);
  let microbatches: number | undefined;
  const me = entry('microbatches');
  if (me) {
    const v = constant(me.value, env);
    if (v === undefined || !Number.isInteger(v) || v < 1) ds.push(diag(env.file, me.value.span, 'MDC0503', 'microbatches', 'a positive integer'));
    else if (batch !== undefined && batch % v !== 0)
      ds.push(diag(env.file, me.value.span, 'MDC0503', 'microbatches', `a positive integer dividing batch (${batch})`));
    else microbatches = v;
  }
  const copies = readCopies(env, entry('copies'), batch !== undefined ? batch / (microbatches ?? 1) : undefined, ds);
  let zero: number | undefined;
  const ze = entry('zero');
  if (ze) {
    const v = constant(ze.value, env);
    if (v === undefined || ![0, 1, 2, 3].includes(v)) ds.push(diag(env.file, ze.value.span, 'MDC0503', 'zero', 'a ZeRO level: 0, 1, 2 or 3'));
    else zero = v;
  }
  // The order of micro-batch passes over pipeline stages: needs a pipelined layer stack.
  let schedule: PipelineSchedule | undefined;
  const se = entry('schedule');
  if (se) {
    const v = se.value.kind === 'str' ? se.value.value : se.value.kind === 'name' ? se.value.name : undefined;
    const kind = v !== undefined && Object.hasOwn(SCHEDULE_NAMES, v) ? SCHEDULE_NAMES[v] : undefined;
    const decl = env.models.get(model);
    if (!kind) ds.push(diag(env.file, se.value.span, 'MDC0503', 'schedule', '"gpipe", "1f1b", "interleaved" or "zb-h1"'));
    else if (!decl || !pipelineAnnotation(env, decl))
      ds.push(
        diag(env.file, se.name.span, 'MDC0509', `${kind} orders pipeline stages, and ${model} has none: add @pipeline(stages = N) to its repeat(...) stack`),
      );
    else schedule = kind;
  }
  if (le && loss?.output) ds.push(...checkLossOutput(env, model, loss, le.value));
  const metrics = readMetrics(env, model, entry('metrics'), loss, ds);
  const freeze = patterns(env, entry('freeze'), ds);
  const trainAlso = patterns(env, entry('train_also'), ds);
  const lora = loraDecls(env);
  const offload = offloadTargets(env, model);
  ds.push(...offloadConflicts(env.file, offload, precision, zero));
  const settings: TrainSettings = {
    ...(precision ? { precision } : {}),
    ...(recompute ? { recompute } : {}),
    loss: loss ?? { kind: 'output', output: '' },
    optimizer,
    ...opt('steps', num('steps', true)),
    ...opt('batch', batch),
    ...opt('seq', num('seq', true)),
    ...opt('seed', num('seed', true)),
    ...opt('warmup', num('warmup', true)),
    ...opt('gradClip', num('grad_clip', false)),
    ...opt('zero', zero),
    ...opt('microbatches', microbatches),
    ...opt('copies', copies),
    ...(offload.length ? { offload } : {}),
    ...(schedule ? { schedule } : {}),
    ...(metrics.length ? { metrics } : {}),
    ...(freeze.length ? { freeze } : {}),
    ...(trainAlso.length ? { trainAlso } : {}),
    ...(lora.length ? { lora } : {}),
  };
  return ds.length ? { diagnostics: ds } : { settings, diagnostics: [] };
}

/**
 * `copies = N` of a model's train section, for compiles that do not train (the forward
 * pass runs as copies too, so `mdc plan` and `mdc run --mesh` show and run what training
 * does); undefined when the section does not set it or sets it wrongly (check reports that).
 */
export function copiesSetting(env: Env, model: string): { copies: number; span: A.Expr['span'] } | undefined {
  const section = env.sections.find((s) => s.kind === 'train' && s.target.name === model);
  const e = section?.entries.find((x) => x.name.name === 'copies');
  const copies = e ? readCopies(env, e, undefined, []) : undefined;
  return e && copies !== undefined ? { copies, span: e.value.span } : undefined;
}

/** `key = ["glob", ...]`: a list of strings, each a parameter-name pattern (train/freeze.ts). */
function patterns(env: Env, e: A.Entry | undefined, ds: Diagnostic[]): ParamPattern[] {
  if (!e) return [];
  const items = e.value.kind === 'list' ? e.value.items : [e.value];
  if (items.some((x) => x.kind !== 'str' || !x.value)) {
    ds.push(diag(env.file, e.value.span, 'MDC0503', e.name.name, 'a list of parameter-name patterns in quotes, e.g. ["wte", "Layer.*.Attention.*"]'));
    return [];
  }
  return items.map((x) => ({ pattern: (x as A.StringLit).value, span: x.span }));
}

/** Every well-formed `@lora(...)` on a param of a block or model (a malformed one is reported by checkAnnotations). */
export function loraDecls(env: Env): LoraDecl[] {
  const out: LoraDecl[] = [];
  for (const f of [...env.blocks.values(), ...env.models.values()]) {
    for (const s of f.body) {
      const a = s.kind === 'param' ? loraAnnotation(env, s) : undefined;
      if (a && s.kind === 'param') out.push({ owner: f.name.name, param: s.name.name, rank: a.rank, alpha: a.alpha, span: a.span });
    }
  }
  return out;
}

/** The metrics the host computes from logits (runtime/trainer.ts classificationMetrics). */
export const METRIC_NAMES = ['accuracy', 'f1', 'perplexity'];

/**
 * `metrics = [accuracy, f1]`: names of known metrics (MDC0540), each read from the loss's
 * output, so the loss must be cross_entropy on an output (MDC0541). `accuracy(logits)` may
 * name that output; naming another is MDC0541 too.
 */
function readMetrics(env: Env, model: string, e: A.Entry | undefined, loss: TrainSettings['loss'] | undefined, ds: Diagnostic[]): string[] {
  if (!e) return [];
  const out: string[] = [];
  for (const x of e.value.kind === 'list' ? e.value.items : [e.value]) {
    const call = x.kind === 'call' ? x : undefined;
    const name = call ? call.callee.name : x.kind === 'name' ? x.name : x.kind === 'str' ? x.value : undefined;
    if (!name || !METRIC_NAMES.includes(name)) {
      ds.push(diag(env.file, x.span, 'MDC0540', name ?? 'this expression', METRIC_NAMES.join(', ')));
      continue;
    }
    const arg = call?.args[0]?.value;
    const named = arg?.kind === 'name' ? arg.name : undefined;
    const outputs = named === undefined ? [] : outputNames(env, model);
    if (named !== undefined && outputs.length && !outputs.includes(named))
      ds.push(diag(env.file, arg!.span, 'MDC0541', name, `'${named}' is not an output of the model (outputs: ${outputs.join(', ')})`));
    else if (loss?.kind !== 'cross_entropy')
      ds.push(diag(env.file, x.span, 'MDC0541', name, 'it reads class logits, and the loss is not cross_entropy(<logits>, labels)'));
    else if (call && (call.args.length !== 1 || named !== loss.output))
      ds.push(diag(env.file, x.span, 'MDC0541', name, `it reads the loss's logits '${loss.output}'; write ${name} or ${name}(${loss.output})`));
    else out.push(name);
  }
  return out;
}

/** A positive integer dividing the per-step batch when the section gives one. */
function readCopies(env: Env, e: A.Entry | undefined, batch: number | undefined, ds: Diagnostic[]): number | undefined {
  if (!e) return undefined;
  const v = constant(e.value, env);
  if (v === undefined || !Number.isInteger(v) || v < 1) ds.push(diag(env.file, e.value.span, 'MDC0503', 'copies', 'a positive integer'));
  else if (batch !== undefined && (!Number.isInteger(batch) || batch % v !== 0))
    ds.push(diag(env.file, e.value.span, 'MDC0503', 'copies', `a positive integer dividing each micro-batch (${batch} rows)`));
  else return v;
  return undefined;
}

/**
 * The loss names an output of the model (MDC0506) and, for a scalar loss, one whose declared
 * type is a float scalar (MDC0507): checked on the model's signature, so `mdc check` says
 * so; lossGraph (train/step.ts) checks the lowered graph again.
 */
/** The model's output names as the lowered graph has them: a returned name, else output<i>; repeats get _1, _2. */
function outputNames(env: Env, model: string): string[] {
  const ret = env.models
    .get(model)
    ?.body.filter((s): s is A.ReturnStmt => s.kind === 'return')
    .at(-1);
  const seen = new Map<string, number>();
  return (ret?.values ?? []).map((e, i) => {
    const n = e.kind === 'name' ? e.name : `output${i}`;
    const k = seen.get(n) ?? 0;
    seen.set(n, k + 1);
    return k ? `${n}_${k}` : n;
  });
}

function checkLossOutput(env: Env, model: string, loss: TrainSettings['loss'], value: A.Expr): Diagnostic[] {
  const decl = env.models.get(model);
  const ret = decl?.body.filter((s): s is A.ReturnStmt => s.kind === 'return').at(-1);
  if (!decl || !ret) return [];
  // Output names as the lowered graph has them: a returned name, else output<i>; repeats get _1, _2.
  const seen = new Map<string, number>();
  const names = ret.values.map((e, i) => {
    const n = e.kind === 'name' ? e.name : `output${i}`;
    const k = seen.get(n) ?? 0;
    seen.set(n, k + 1);
    return k ? `${n}_${k}` : n;
  });
  const at = loss.kind !== 'output' && value.kind === 'call' ? value.args[0]!.value.span : value.span;
  const idx = names.indexOf(loss.output);
  if (idx < 0) return [diag(env.file, at, 'MDC0506', loss.output, names.join(', '))];
  const type = decl.returns[idx];
  if (loss.kind !== 'output' || !type) return [];
  // A dim is 1 when it is a constant 1, directly or through the model's where clause.
  const one = (e: A.Expr) => {
    const w = e.kind === 'name' && !env.consts.has(e.name) ? decl.where.find((x) => x.name.name === e.name) : undefined;
    return constInt(w ? w.value : e, env) === 1;
  };
  if (['f32', 'f16', 'bf16'].includes(type.dtype.name) && type.dims.every((d) => one(d.size))) return [];
  return [diag(env.file, at, 'MDC0507', loss.output, typeNodeText(type))];
}

const opt = <K extends string>(k: K, v: number | undefined) => (v === undefined ? {} : { [k]: v }) as Partial<Record<K, number>>;

/** A literal number, a negated one, or a config constant. */
function constant(e: A.Expr, env: Env): number | undefined {
  if (e.kind === 'num') return e.value;
  if (e.kind === 'unary' && e.operand.kind === 'num') return -e.operand.value;
  if (e.kind === 'name') {
    const c = env.consts.get(e.name);
    return c && (c.kind === 'int' || c.kind === 'num') ? c.value : undefined;
  }
  return undefined;
}
