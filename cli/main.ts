import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { basename, join } from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import type { KernelTarget } from '../codegen/kernels/kernel.js';
import { usesRowKernels } from '../codegen/kernels/index.js';
import { buildPlan, buildSpmdPlan } from '../codegen/plan.js';
import { check, lower, type FrontendOptions } from '../compiler/compile.js';
import { diagnosticToJson, formatDiagnostic } from '../diagnostics/format.js';
import type { Diagnostic } from '../diagnostics/messages.js';
import { format } from '../grammar/format.js';
import { parse } from '../grammar/parse.js';
import { planTraffic, randomInput, type HostArray, type PlanIO, type Tensor } from '../runtime/index.js';
import { meshToString, parseMeshSpec, type Mesh } from '../compiler/sharding/mesh.js';
import { autoShard } from '../compiler/sharding/auto.js';
import { partition } from '../compiler/sharding/partition.js';
import { formatBytes, formatPlanReport, planReport } from '../compiler/sharding/report.js';
import { trainingMemory, type Recompute } from '../compiler/train/memory.js';
import { trainSettings } from '../compiler/train/settings.js';
import { planRecompute, type RecomputePolicy } from '../compiler/train/recompute.js';
import { lossGraph } from '../compiler/train/step.js';
import type * as A from '../grammar/ast.js';
import { writeAtomic } from './files.js';

const VERSION = '0.1.0';
export const EXIT = { ok: 0, diagnostics: 1, usage: 2 } as const;

class UsageError extends Error {}

const FRONTEND_HELP = `  --preset NAME      apply a preset's overrides of config constants
  --set NAME=VALUE   override a config constant (repeatable), e.g. --set d=128
  --dim NAME=VALUE   give a symbolic dim a value (repeatable), e.g. --dim S=64
  --model NAME       which model to use when the file has several (default: the last)
  --json             print diagnostics (and results) as JSON`;

const HELP: Record<string, string> = {
  '': `mdc ${VERSION}: compiler for .model files

Usage: mdc <command> FILE [options]

Commands:
  check FILE          check a model and print diagnostics
  compile FILE -o DIR emit WGSL kernels, a runtime plan and a typed TypeScript host module
  fmt FILE            print the file formatted (--write to rewrite it, --check to test)
  run FILE            compile and run one forward pass on WebGPU
  plan FILE           partition over a device mesh: layouts, collectives, bytes
  train FILE --data T train a byte-level language model on a text file on WebGPU

Run 'mdc <command> --help' for a command's options.
Exit codes: 0 success, 1 diagnostics or runtime error, 2 usage error.`,
  check: `Usage: mdc check FILE [options]

Parses and checks FILE (any extension) and prints diagnostics as
file:line:col: error MDCxxxx: message, with the source line and a caret.

Options:
${FRONTEND_HELP}`,
  compile: `Usage: mdc compile FILE [-o DIR] [options]

Writes to DIR (default: out):
  <Model>.plan.json   the versioned runtime plan (kernels, buffers, steps)
  kernels/*.wgsl      one file per distinct WGSL kernel
  <Model>.ts          the typed host module (TypeScript compiler API)
  <Model>.d.ts        its declarations, with the model's shapes as types

Fusion: element-wise chains (with broadcasting), matmul epilogues (bias, activation,
residual add), reductions over the last axis with the element-wise ops around them
(a layer norm or softmax written out is one kernel; reductions of one value share
one) and attention written out as softmax(q @ transpose(k) * c) @ v (the flash
kernel) each become one kernel. A transpose or slice that only an element-wise chain
reads is read in place by it, and so is a transpose of the last two dims that only
matmuls read as b. --no-fuse keeps one kernel per op. The summary line gives the
bytes bound to the plan's kernels in one run, each binding counted once per step.

Options:
  -o, --out DIR      output folder (default: out)
  --seed N           parameter initialisation seed recorded in the plan (default: 0)
  --no-fuse          one kernel per op: no fusion, attention rewrite, views or
                     transpose folding
  --subgroup-size N  compile for devices with the \`subgroups\` feature and subgroups of
                     exactly N lanes (a power of two, 4 to 128; llvmpipe: 8): subgroup
                     matmul, attention and reductions; the plan then lists the feature
                     and the runtime refuses it elsewhere. Default: portable kernels
${FRONTEND_HELP}`,
  fmt: `Usage: mdc fmt FILE [--write | --check]

Formats FILE canonically; comments are kept. Without options the result goes to stdout.

Options:
  -w, --write        rewrite FILE in place (atomically)
  --check            exit 1 if FILE is not formatted; write nothing
  --json             print diagnostics as JSON`,
  run: `Usage: mdc run FILE [--mesh AXIS=N,...] [options]

Compiles FILE and runs one forward pass on WebGPU (Dawn in Node), then prints each
output's type and a checksum. Inputs are seeded random values unless --inputs is given.

With --mesh, the model is partitioned over that mesh (as \`mdc plan\` shows) and runs on
one WebGPU device per mesh device, all on this machine's adapter; collectives are
combined on the host. Parameters are initialised whole from the seed and then sliced,
and inputs and outputs are whole tensors, so the checksums match a run without --mesh
up to float rounding.

Options:
  --mesh AXIS=N,...  run partitioned on this mesh, e.g. --mesh dp=2,tp=4 (one device per
                     mesh device); without it, one device and the layouts are ignored
  --inputs FILE      JSON object mapping input names to flat arrays of numbers
  --seed N           seed for parameters and random inputs (default: 0)
  --no-fuse          one kernel per op (as \`mdc compile --no-fuse\`)
  --target T         what the kernels may assume about the device:
                       portable  WebGPU's defaults only, the kernels \`mdc compile\`
                                 writes (default)
                       adapter   this adapter's features: subgroup matmul, attention
                                 and reductions where it offers \`subgroups\`
                       tuned     adapter, plus matmul tiles timed on this adapter (the
                                 first run tunes each new shape class, a few seconds
                                 each, and caches the winners; see README, Kernels)
${FRONTEND_HELP}`,
};

HELP['plan'] = `Usage: mdc plan FILE [--mesh AXIS=N,...] [options]

Partitions the model over a device mesh and prints, per device: each input's,
parameter's and output's layout and block shape, every inserted collective with its
kind, axis, bytes per device, the reason and the source line that caused it, and
parameter bytes per device. Layouts come from the annotations in FILE (\`f32[d, ffn@tp]\`,
block argument and return types) and propagate to the rest of the graph.

Options:
  --mesh AXIS=N,...  the mesh, e.g. --mesh dp=2,tp=4 (default: the meshes FILE declares)
  --auto             choose every op's strategy with the cost model (an integer program
                     solved by HiGHS): parameter layouts in FILE are ignored, input
                     layouts are kept; the objective is a training step when FILE has a
                     train section for the model, else a forward pass
  --memory-cap SIZE  under --auto, per-device bytes for parameters and their training
                     state, e.g. 16GiB or 512MiB
  --time-limit SEC   under --auto, the solver's time limit (default 60)
  --bandwidth A=B/s  under --auto, per-axis bandwidth in bytes/s, e.g.
                     --bandwidth dp=25e9,tp=300e9 (default 100e9 for every axis)
  --recompute P      none, full, selective or auto: the activation policy for the
                     training memory report (default: the train section's, else none);
                     the plan also reports the bytes it does not keep and the FLOPs it
                     rebuilds (JSON: recomputePlan)
  --memory-budget S  under --recompute auto, bytes of kept activations (whole model)
${FRONTEND_HELP}

JSON (--json, version 1): { version, file, model, devices, mesh: {axis: size},
  values: [{kind, name, type, localShape, bytesPerDevice}],
  collectives: [{kind, axis, bytesPerDevice, bytes, elements, from, to, reason,
                 span: {file, line, col, endLine, endCol}, scope}],
  paramCount, paramBytes, paramBytesPerDevice, commBytesPerDevice,
  searchSeconds (under --auto), and for a model with a train section: zero, recompute,
  memory: {params, grads, optimizer, activations, peak} (bytes per device),
  activationBytesPerLayer, flopsPerStep; diagnostics }`;

HELP['train'] = `Usage: mdc train FILE --data TEXT [options]

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
${FRONTEND_HELP}`;

const COMMON: ParseArgsConfig['options'] = {
  help: { type: 'boolean', short: 'h' },
  json: { type: 'boolean' },
  preset: { type: 'string' },
  set: { type: 'string', multiple: true },
  dim: { type: 'string', multiple: true },
  model: { type: 'string' },
};
const OPTIONS: Record<string, ParseArgsConfig['options']> = {
  check: COMMON,
  compile: { ...COMMON, out: { type: 'string', short: 'o' }, seed: { type: 'string' }, 'no-fuse': { type: 'boolean' }, 'subgroup-size': { type: 'string' } },
  fmt: { help: { type: 'boolean', short: 'h' }, json: { type: 'boolean' }, write: { type: 'boolean', short: 'w' }, check: { type: 'boolean' } },
  run: { ...COMMON, seed: { type: 'string' }, inputs: { type: 'string' }, mesh: { type: 'string' }, 'no-fuse': { type: 'boolean' }, target: { type: 'string' } },
  plan: { ...COMMON, mesh: { type: 'string' }, recompute: { type: 'string' }, 'memory-budget': { type: 'string' }, bandwidth: { type: 'string' }, auto: { type: 'boolean' }, 'memory-cap': { type: 'string' }, 'time-limit': { type: 'string' } },
  train: {
    ...COMMON, data: { type: 'string' }, steps: { type: 'string' }, batch: { type: 'string' }, seq: { type: 'string' }, lr: { type: 'string' },
    warmup: { type: 'string' }, seed: { type: 'string' }, out: { type: 'string' }, 'checkpoint-every': { type: 'string' }, resume: { type: 'string' }, precision: { type: 'string' },
  },
};

interface Io { out: (s: string) => void; err: (s: string) => void }
const stdio: Io = { out: (s) => process.stdout.write(s + '\n'), err: (s) => process.stderr.write(s + '\n') };

export async function main(argv: readonly string[], io: Io = stdio): Promise<number> {
  try {
    return await dispatch(argv, io);
  } catch (e) {
    if (e instanceof UsageError) {
      io.err(`mdc: ${e.message}`);
      io.err(`Run 'mdc --help' for usage.`);
      return EXIT.usage;
    }
    const msg = e instanceof Error ? e.message : String(e);
    io.err(`mdc: error: ${msg}`);
    if (process.env['MDC_DEBUG'] && e instanceof Error) io.err(e.stack ?? '');
    return EXIT.diagnostics;
  }
}

async function dispatch(argv: readonly string[], io: Io): Promise<number> {
  const [cmd, ...rest] = argv;
  if (!cmd || cmd === '--help' || cmd === '-h' || cmd === 'help') {
    io.out(HELP['']!);
    return cmd ? EXIT.ok : EXIT.usage;
  }
  if (cmd === '--version' || cmd === '-v') {
    io.out(VERSION);
    return EXIT.ok;
  }
  const options = OPTIONS[cmd];
  if (!options) throw new UsageError(`unknown command '${cmd}'; expected check, compile, fmt, run, plan or train`);
  let parsed;
  try {
    parsed = parseArgs({ args: [...rest], options, allowPositionals: true, strict: true });
  } catch (e) {
    throw new UsageError((e as Error).message.replace(/^TypeError \[\w+\]: /, ''));
  }
  const v = parsed.values as Record<string, string | boolean | string[] | undefined>;
  if (v['help']) {
    io.out(HELP[cmd]!);
    return EXIT.ok;
  }
  if (parsed.positionals.length !== 1) throw new UsageError(`${cmd} takes exactly one FILE, got ${parsed.positionals.length}`);
  const file = parsed.positionals[0]!;
  const source = readSource(file);
  const json = !!v['json'];
  switch (cmd) {
    case 'check': return runCheck(file, source, frontendOptions(v), json, io);
    case 'compile': return runCompile(file, source, frontendOptions(v), (v['out'] as string | undefined) ?? 'out', intOption(v['seed'], 'seed'), !v['no-fuse'], subgroupTarget(v['subgroup-size']), json, io);
    case 'fmt': return runFmt(file, source, !!v['write'], !!v['check'], json, io);
    case 'plan': return runPlan(file, source, frontendOptions(v), v, json, io);
    case 'train': {
      if (!v['data']) throw new UsageError('train needs --data TEXTFILE');
      const pos = (k: string) => (v[k] === undefined ? undefined : positive(v[k], k));
      const lr = v['lr'] === undefined ? undefined : Number(v['lr']);
      if (lr !== undefined && !(lr > 0 && Number.isFinite(lr))) throw new UsageError(`--lr must be a positive number, got '${v['lr']}'`);
      const steps = pos('steps');
      const batch = pos('batch');
      const seq = pos('seq');
      const ck = pos('checkpoint-every');
      const args = {
        file, source, frontend: frontendOptions(v), data: v['data'] as string, out: (v['out'] as string | undefined) ?? 'train-out', json,
        ...(steps !== undefined ? { steps } : {}), ...(batch !== undefined ? { batch } : {}), ...(seq !== undefined ? { seq } : {}),
        ...(lr !== undefined ? { lr } : {}), ...(v['warmup'] !== undefined ? { warmup: intOption(v['warmup'], 'warmup') } : {}),
        ...(v['seed'] !== undefined ? { seed: intOption(v['seed'], 'seed') } : {}), ...(ck !== undefined ? { checkpointEvery: ck } : {}),
        ...(v['resume'] ? { resume: v['resume'] as string } : {}),
        ...(v['precision'] !== undefined ? { precision: precisionOption(v['precision']) } : {}),
      };
      const { runTrain, TrainUsageError } = await import('./train.js');
      const tty = !json && process.stderr.isTTY && io === stdio;
      try {
        return await runTrain(args, { out: io.out, err: io.err, ...(tty ? { progress: (s: string) => process.stderr.write(`\r${s}\x1b[K`) } : {}) }, (ds) => report(ds, source, json, io, { file, ok: false }));
      } catch (e) {
        if (e instanceof TrainUsageError) throw new UsageError(e.message);
        throw e;
      }
    }
    default: return runRun(file, source, frontendOptions(v), intOption(v['seed'], 'seed'), v['inputs'] as string | undefined, !v['no-fuse'], targetOption(v['target']), json, io);
  }
}

function readSource(file: string): string {
  let buf: Buffer;
  try {
    buf = readFileSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new UsageError(code === 'ENOENT' ? `cannot read '${file}': no such file` : code === 'EISDIR' ? `'${file}' is a directory` : `cannot read '${file}': ${(e as Error).message}`);
  }
  return buf.toString('utf8');
}

function sectionString(section: A.SectionDecl | undefined, key: string): string | undefined {
  const e = section?.entries.find((x) => x.name.name === key);
  if (!e) return undefined;
  return e.value.kind === 'str' ? e.value.value : e.value.kind === 'name' ? e.value.name : undefined;
}

function parseBytes(text: string, flag = 'memory-cap'): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(B|KiB|MiB|GiB|TiB|KB|MB|GB|TB)?\s*$/i.exec(text);
  if (!m) throw new UsageError(`--${flag} expects a size such as 16GiB or 512MiB, got '${text}'`);
  const unit = (m[2] ?? 'B').toLowerCase();
  const mult: Record<string, number> = { b: 1, kib: 2 ** 10, mib: 2 ** 20, gib: 2 ** 30, tib: 2 ** 40, kb: 1e3, mb: 1e6, gb: 1e9, tb: 1e12 };
  return Number(m[1]) * mult[unit]!;
}

function precisionOption(x: unknown): 'f32' | 'bf16' | 'f16' {
  if (x === 'f32' || x === 'bf16' || x === 'f16') return x;
  throw new UsageError(`--precision must be f32, bf16 or f16, got '${x}'`);
}

function positive(x: unknown, name: string): number {
  const n = Number(x);
  if (!Number.isSafeInteger(n) || n < 1) throw new UsageError(`--${name} must be a positive integer, got '${x}'`);
  return n;
}

function intOption(x: unknown, name: string): number {
  if (x === undefined) return 0;
  const n = Number(x);
  if (!Number.isSafeInteger(n) || n < 0) throw new UsageError(`--${name} must be a non-negative integer, got '${x}'`);
  return n;
}

function pairs(list: unknown, flag: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const item of (list as string[] | undefined) ?? []) {
    for (const part of item.split(',')) {
      const m = /^\s*([A-Za-z_]\w*)\s*=\s*(-?[\d.eE+-]+)\s*$/.exec(part);
      if (!m || !Number.isFinite(Number(m[2]))) throw new UsageError(`--${flag} expects NAME=NUMBER, got '${part}'`);
      out[m[1]!] = Number(m[2]);
    }
  }
  return out;
}

function frontendOptions(v: Record<string, unknown>): FrontendOptions {
  let mesh: Mesh | undefined;
  if (v['mesh'] !== undefined) {
    const m = parseMeshSpec(v['mesh'] as string);
    if (typeof m === 'string') throw new UsageError(`--mesh: ${m} (expected e.g. --mesh dp=2,tp=4)`);
    mesh = m;
  }
  const dims = pairs(v['dim'], 'dim');
  for (const [k, n] of Object.entries(dims)) if (!Number.isInteger(n) || n < 1) throw new UsageError(`--dim ${k} must be a positive integer, got ${n}`);
  return {
    ...(v['preset'] ? { preset: v['preset'] as string } : {}),
    ...(v['model'] ? { model: v['model'] as string } : {}),
    overrides: pairs(v['set'], 'set'),
    dims,
    ...(mesh ? { mesh: mesh.axes } : {}),
  };
}

async function runPlan(file: string, source: string, opts: FrontendOptions, v: Record<string, unknown>, json: boolean, io: Io): Promise<number> {
  const memoryCap = v['memory-cap'] === undefined ? undefined : parseBytes(v['memory-cap'] as string);
  const timeLimit = v['time-limit'] === undefined ? undefined : Number(v['time-limit']);
  if (timeLimit !== undefined && !(timeLimit > 0)) throw new UsageError(`--time-limit must be a positive number of seconds, got '${v['time-limit']}'`);
  const r = lower(source, file, opts);
  if (!r.graph || !r.env) { report(r.diagnostics, source, json, io, { file, ok: false }); return EXIT.diagnostics; }
  const mesh: Mesh = { axes: [...r.env.meshAxes].map(([name, size]) => ({ name, size })) };
  if (!mesh.axes.length) throw new UsageError(`${file} declares no mesh; give one with --mesh, e.g. --mesh dp=2,tp=4`);
  let extra: { searchSeconds?: number } = {};
  let layouts;
  if (v['auto']) {
    const training = r.env.sections.some((s) => s.kind === 'train' && s.target.name === r.graph!.name);
    const bandwidth = v['bandwidth'] === undefined ? undefined : pairs([v['bandwidth']], 'bandwidth');
    for (const [axis, bw] of Object.entries(bandwidth ?? {})) {
      if (!mesh.axes.some((x) => x.name === axis)) throw new UsageError(`--bandwidth names '${axis}', which is not an axis of the mesh ${mesh.axes.map((x) => x.name).join(', ')}`);
      if (!(bw > 0)) throw new UsageError(`--bandwidth ${axis} must be positive, got ${bw}`);
    }
    const a = await autoShard(r.graph, mesh, { training, ...(memoryCap !== undefined ? { memoryCap } : {}), ...(timeLimit !== undefined ? { timeLimit } : {}), ...(bandwidth ? { bandwidth } : {}) });
    layouts = a.layouts;
    extra = { searchSeconds: a.searchSeconds };
  }
  const p = partition(r.graph, mesh, layouts ? { layouts } : {});
  // Training memory when the model has a train section (ZeRO level from it, recompute from --recompute or it).
  const settings = trainSettings(r.env, r.graph.name).settings;
  const section = r.env.sections.find((s) => s.kind === 'train' && s.target.name === r.graph!.name);
  const recompute = (v['recompute'] as string | undefined) ?? sectionString(section, 'recompute') ?? 'none';
  if (!['none', 'full', 'selective', 'auto'].includes(recompute)) throw new UsageError(`--recompute must be none, full, selective or auto, got '${recompute}'`);
  const budget = v['memory-budget'] === undefined ? undefined : parseBytes(v['memory-budget'] as string, 'memory-budget');
  if (recompute === 'auto' && budget === undefined) throw new UsageError('--recompute auto needs --memory-budget SIZE (bytes of activations kept, whole model)');
  let training;
  let recomputeReport;
  if (section && settings) {
    const loss = lossGraph(r.graph, settings, file).graph;
    if (loss) {
      const rp = await planRecompute(loss, recompute as RecomputePolicy, budget !== undefined ? { budget } : {});
      recomputeReport = { policy: rp.policy, savedBytes: rp.savedBytes, extraFlops: rp.extraFlops, ...(rp.method ? { method: rp.method, seconds: rp.seconds } : {}) };
    }
    // The per-device memory model knows none/full/selective; auto reports as selective-or-better via the recompute row.
    training = trainingMemory(r.graph, p, { zero: settings.zero ?? 0, recompute: (recompute === 'auto' ? 'none' : recompute) as Recompute, optimizer: settings.optimizer.kind });
  }
  const rep = { ...planReport(file, r.graph, p, { ...extra, ...(training ? { training } : {}) }), ...(recomputeReport ? { recomputePlan: recomputeReport } : {}) };
  if (json) io.out(JSON.stringify({ ...rep, diagnostics: [] }, null, 2));
  else {
    for (const line of formatPlanReport(rep, mesh)) io.out(line);
    if (recomputeReport) io.out(`recompute ${recomputeReport.policy}: ${(recomputeReport.savedBytes / 2 ** 20).toFixed(2)} MiB of activations not kept (whole model), ${(recomputeReport.extraFlops / 1e9).toFixed(3)} GFLOP rebuilt per step${'method' in recomputeReport ? ` (${recomputeReport.method})` : ''}`);
  }
  return EXIT.ok;
}

function report(ds: readonly Diagnostic[], source: string, json: boolean, io: Io, extra: Record<string, unknown> = {}) {
  if (json) {
    io.out(JSON.stringify({ ...extra, diagnostics: ds.map(diagnosticToJson) }, null, 2));
    return;
  }
  for (const d of ds) io.err(formatDiagnostic(d, source));
  if (ds.length) io.err(`\n${ds.length} error${ds.length === 1 ? '' : 's'}.`);
}

function runCheck(file: string, source: string, opts: FrontendOptions, json: boolean, io: Io): number {
  const r = check(source, file, opts);
  report(r.diagnostics, source, json, io, { file, ok: r.diagnostics.length === 0 });
  if (!json && !r.diagnostics.length) io.out(`${file}: ok`);
  return r.diagnostics.length ? EXIT.diagnostics : EXIT.ok;
}

function lowerOrReport(file: string, source: string, opts: FrontendOptions, json: boolean, io: Io) {
  const r = lower(source, file, opts);
  if (!r.graph) report(r.diagnostics, source, json, io, { file, ok: false });
  return r.graph;
}

/** Writes a file through a temporary name and a rename, so readers never see half a file. */

function subgroupTarget(x: unknown): KernelTarget {
  if (x === undefined) return {};
  const n = Number(x);
  if (!Number.isInteger(n) || n < 4 || n > 128 || (n & (n - 1)) !== 0) throw new UsageError(`--subgroup-size must be a power of two from 4 to 128, got '${String(x)}'`);
  return { subgroupSize: n };
}

async function runCompile(file: string, source: string, opts: FrontendOptions, outDir: string, seed: number, fuse: boolean, target: KernelTarget, json: boolean, io: Io): Promise<number> {
  const graph = lowerOrReport(file, source, opts, json, io);
  if (!graph) return EXIT.diagnostics;
  const plan = buildPlan(graph, { seed, source: basename(file), fuse, target });
  const planFile = `${plan.model}.plan.json`;
  // The TypeScript compiler is large: load it only when a host module is emitted.
  const { emitHost } = await import('../codegen/host.js');
  const host = emitHost(plan, planFile);
  mkdirSync(join(outDir, 'kernels'), { recursive: true });
  const written: string[] = [];
  const put = (rel: string, data: string) => { writeAtomic(join(outDir, rel), data); written.push(join(outDir, rel)); };
  put(planFile, JSON.stringify(plan, null, 1) + '\n');
  // Stale kernels from an earlier compile would mislead: the folder holds exactly this plan's kernels.
  rmSync(join(outDir, 'kernels'), { recursive: true, force: true });
  mkdirSync(join(outDir, 'kernels'), { recursive: true });
  for (const k of plan.kernels) put(join('kernels', k.file), k.wgsl);
  put(`${plan.model}.ts`, host.ts);
  put(`${plan.model}.d.ts`, host.dts);
  const params = plan.buffers.filter((b) => b.role === 'param').reduce((a, b) => a + b.shape.reduce((x, y) => x * y, 1), 0);
  const traffic = planTraffic(plan);
  if (json) io.out(JSON.stringify({ file, ok: true, model: plan.model, kernels: plan.kernels.length, steps: plan.steps.length, bytesBound: traffic.bytes, params, files: written, diagnostics: [] }, null, 2));
  else io.out(`compiled ${plan.model}: ${plan.kernels.length} kernels, ${plan.steps.length} steps binding ${formatBytes(traffic.bytes)} per run, ${formatCount(params)} parameters → ${outDir}/`);
  return EXIT.ok;
}

function runFmt(file: string, source: string, write: boolean, checkOnly: boolean, json: boolean, io: Io): number {
  const r = parse(source, file);
  if (r.diagnostics.length) {
    report(r.diagnostics, source, json, io, { file, ok: false });
    return EXIT.diagnostics;
  }
  const formatted = format(r.program, source);
  if (checkOnly) {
    if (formatted !== source) { io.err(`${file}: not formatted`); return EXIT.diagnostics; }
    io.out(`${file}: formatted`);
    return EXIT.ok;
  }
  if (write) {
    if (formatted !== source) writeAtomic(file, formatted);
    return EXIT.ok;
  }
  io.out(formatted.replace(/\n$/, ''));
  return EXIT.ok;
}

type TargetChoice = 'portable' | 'adapter' | 'tuned';

function targetOption(v: unknown): TargetChoice {
  if (v === undefined) return 'portable';
  if (v === 'portable' || v === 'adapter' || v === 'tuned') return v;
  throw new UsageError(`--target must be portable, adapter or tuned, not '${String(v)}'`);
}

async function runRun(file: string, source: string, opts: FrontendOptions, seed: number, inputsFile: string | undefined, fuse: boolean, targetChoice: TargetChoice, json: boolean, io: Io): Promise<number> {
  const graph = lowerOrReport(file, source, opts, json, io);
  if (!graph) return EXIT.diagnostics;
  const mesh: Mesh | undefined = opts.mesh ? { axes: opts.mesh.map((a) => ({ name: a.name, size: a.size })) } : undefined;
  const { nodeDevice, nodeDevices, adapterSubgroupSize } = await import('../runtime/node.js');
  const { PlanRunner } = await import('../runtime/executor.js');
  const { MeshRunner } = await import('../runtime/mesh.js');
  const spmd = mesh ? partition(graph, mesh) : undefined;
  const first = await nodeDevice();
  try {
    let target: KernelTarget = {};
    if (targetChoice !== 'portable') {
      const subgroupSize = adapterSubgroupSize(first.adapter);
      target = { ...(subgroupSize ? { subgroupSize } : {}), ...(first.adapter.features.has('shader-f16') ? { shaderF16: true } : {}) };
      if (targetChoice === 'tuned') {
        const { matmulShapes, tuneTarget } = await import('../codegen/tune/index.js');
        target = (await tuneTarget(first.device, first.description, target, matmulShapes(spmd?.local ?? graph, fuse), { log: (l) => io.err(l), rows: usesRowKernels(spmd?.local ?? graph) })).target;
      }
    }
    const plan = spmd ? buildSpmdPlan(spmd, { seed, source: basename(file), fuse, target }) : buildPlan(graph, { seed, source: basename(file), fuse, target });
    // The caller's view: whole tensors, also when each device holds a block.
    const wholeShape = (o: PlanIO) => o.global?.shape ?? o.shape;
    let given: Record<string, unknown> = {};
    if (inputsFile) {
      try {
        given = JSON.parse(readFileSync(inputsFile, 'utf8')) as Record<string, unknown>;
      } catch (e) {
        throw new UsageError(`cannot read inputs from '${inputsFile}': ${(e as Error).message}`);
      }
    }
    const inputs: Record<string, HostArray> = {};
    for (const inp of plan.inputs) {
      const shape = wholeShape(inp);
      const count = shape.reduce((a, b) => a * b, 1);
      const type = plan.buffers[inp.buffer]!.type;
      const g = given[inp.name];
      if (g === undefined) inputs[inp.name] = randomInput(type, count, seed, inp.name, inp.max);
      else {
        if (!Array.isArray(g) || g.length !== count || !g.every((x) => typeof x === 'number')) {
          throw new UsageError(`input '${inp.name}' in ${inputsFile} must be an array of ${count} numbers (${inp.dtype}[${shape.join(', ')}])`);
        }
        inputs[inp.name] = type === 'i32' ? Int32Array.from(g as number[]) : Float32Array.from(g as number[]);
      }
    }
    if (plan.mesh) first.device.destroy();
    const { devices, description } = plan.mesh ? await nodeDevices(plan.mesh.devices) : { devices: [first.device], description: first.description };
    let outs: Record<string, Tensor>;
    let ms: number;
    try {
      const runner = plan.mesh ? await MeshRunner.create(devices, plan) : await PlanRunner.create(devices[0]!, plan);
      const t0 = performance.now();
      try {
        outs = await runner.run(inputs);
      } finally {
        runner.destroy();
      }
      ms = performance.now() - t0;
    } finally {
      for (const d of devices) d.destroy();
    }
    const rows = plan.outputs.map((o) => {
      const t = outs[o.name]!;
      let sum = 0;
      let abs = 0;
      for (const x of t.data) { sum += x; abs += Math.abs(x); }
      return { name: o.name, type: `${o.dtype}[${wholeShape(o).join(', ')}]`, shape: wholeShape(o), sum, meanAbs: abs / t.data.length, first: Array.from(t.data.slice(0, 4)) };
    });
    const collectives = plan.steps.filter((s) => s.kind === 'collective').length;
    const meshJson = mesh ? { devices: devices.length, mesh: Object.fromEntries(mesh.axes.map((a) => [a.name, a.size])), collectives } : {};
    if (json) io.out(JSON.stringify({ file, ok: true, adapter: description, target: targetChoice, ...meshJson, milliseconds: ms, outputs: rows, diagnostics: [] }, null, 2));
    else {
      const where = mesh ? `${devices.length} devices (mesh ${meshToString(mesh)}) of ${description}` : description;
      io.out(`ran ${plan.model} on ${where} (${targetChoice === 'portable' ? '' : `target ${targetChoice}, `}${plan.steps.length} steps${mesh ? `, ${collectives} collectives` : ''}, ${ms.toFixed(1)} ms)`);
      for (const r of rows) io.out(`  ${r.name}: ${r.type}  sum=${r.sum.toPrecision(8)}  mean|x|=${r.meanAbs.toPrecision(6)}  first=[${r.first.map((x) => x.toPrecision(5)).join(', ')}]`);
    }
    return EXIT.ok;
  } finally {
    first.device.destroy(); // also on a usage error before the run; destroying twice is harmless
  }
}

function formatCount(n: number): string {
  return n >= 1e9 ? `${(n / 1e9).toFixed(2)}B` : n >= 1e6 ? `${(n / 1e6).toFixed(2)}M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)}K` : String(n);
}
