/**
 * A partitioned mdc program as the `main.py` of a PyTorch package (`mdc export --target
 * torch`): one SPMD program every rank of a `torchrun` launch runs on its own blocks, with
 * each collective of the plan as a call of the support library (runtime/torch/mdc_torch.py)
 * over the process group of its mesh-axis slice.
 *
 * `forward(mesh, params, inputs)` is the partitioned forward graph, node for node. With a
 * train section, `train_step(mesh, params, state, batch, step)` is the partitioned training
 * step, node for node too: the forward pass, mdc's own backward pass (compiler/autodiff)
 * with the collectives the partitioner put in it, the global gradient norm and the
 * optimizer update (ZeRO's reduce-scatter and all-gather included). It does not use
 * torch.autograd: executing mdc's backward graph makes the collectives the run performs the
 * plan's, one for one, and keeps the gradients' arithmetic the one mdc checks.
 *
 * The text is deterministic: names come from the model's parameters, inputs and `let`
 * names (sanitised, made unique in order), each group of statements is headed by the
 * `.model` line it comes from, lines are at most 120 characters.
 */
import { diag, type Diagnostic } from '../../diagnostics/messages.js';
import type { Graph, InitSpec, Node, Value } from '../ir.js';
import type { Mesh } from '../sharding/mesh.js';
import type { SpmdProgram } from '../sharding/partition.js';
import type { TrainSettings } from '../train/settings.js';
import type { Layout, TType } from '../types.js';
import { HELPER_NEEDS, HELPERS, pyNumber, shapeOf, TORCH, TORCH_DTYPE, type TorchCtx } from './ops.js';
import { DRIVER } from './driver.js';

/** The training step's parts the driver needs beside its partitioned graph. */
export interface TorchTraining {
  readonly spmd: SpmdProgram;
  /** How many of the partitioned graph's nodes (before partitioning) are the forward pass and loss. */
  readonly forwardNodes: number;
  readonly updates: readonly { readonly output: string; readonly param: string }[];
  /** The model's parameters (the rest of the step's parameters are optimizer state). */
  readonly params: readonly string[];
  readonly settings: TrainSettings;
}

export interface TorchExportInput {
  /** The source file (for diagnostics and the header) and its text (for the line comments). */
  readonly file: string;
  readonly source: string;
  readonly mesh: Mesh;
  readonly seed: number;
  readonly forward: SpmdProgram;
  readonly train?: TorchTraining;
}

export interface TorchExport {
  /** main.py, when every op has a torch form. */
  readonly main?: string;
  /** MDC0601 for each op (and place) with no torch form; empty when `main` is there. */
  readonly diagnostics: readonly Diagnostic[];
  /** Torch-side names of the ops used, in order of first use (for the CLI's summary). */
  readonly ops: readonly string[];
}

const MAX_LINE = 120;

const MOVES = new Set(['all_reduce', 'reduce_scatter', 'all_gather', 'all_to_all', 'shard_slice', 'partial_mask', 'reshape', 'slice']);

/** Python reserved words and the names main.py itself uses, which a model's name must not shadow. */
const RESERVED = new Set(
  (
    'False None True and as assert async await break class continue def del elif else except finally for from global if import in is ' +
    'lambda nonlocal not or pass raise return try while with yield mesh params state batch inputs step torch math mdc_torch DEVICE out time json os argparse'
  ).split(' '),
);

/** The imports at the head of every exported main.py (one-program and pipelined). */
export const PYTHON_IMPORTS: readonly string[] = [
  'import argparse',
  'import json',
  'import math',
  'import os',
  'import time',
  '',
  'import torch',
  '',
  'import mdc_torch',
];

export function exportTorch(x: TorchExportInput): TorchExport {
  const diagnostics: Diagnostic[] = [];
  const seen = new Set<string>();
  const programs = [x.forward.local, ...(x.train ? [x.train.spmd.local] : [])];
  for (const g of programs)
    for (const n of g.nodes) {
      const why = refusal(n, g);
      const key = `${n.op}@${n.span.start}`;
      if (why && !seen.has(key)) {
        seen.add(key);
        diagnostics.push(diag(x.file, n.span, 'MDC0601', n.op, 'torch', why));
      }
    }
  if (x.train?.settings.precision && x.train.settings.precision !== 'f32')
    diagnostics.push(
      diag(
        x.file,
        x.train.spmd.local.nodes.at(-1)!.span,
        'MDC0601',
        `precision = ${x.train.settings.precision}`,
        'torch',
        'mixed precision (loss scaling) is not exported yet',
      ),
    );
  if (diagnostics.length) return { diagnostics, ops: [] };

  const lines = x.source.split(/\r\n|\r|\n/);
  const helpers = new Set<keyof typeof HELPERS>(['_k', '_bc', '_idiv']);
  const ops: string[] = [];
  const fwd = emitFunction(x.forward.local, { name: 'forward', args: 'mesh, params, inputs', lines, file: x.file, helpers, ops });
  const step = x.train
    ? emitFunction(x.train.spmd.local, {
        name: 'train_step',
        args: 'mesh, params, state, batch, step',
        lines,
        file: x.file,
        helpers,
        ops,
        forwardNodes: forwardLocalNodes(x.train.spmd, x.train.forwardNodes),
        modelParams: new Set(x.train.params),
      })
    : undefined;
  for (const h of [...helpers]) for (const need of HELPER_NEEDS[h] ?? []) helpers.add(need);
  const order = Object.keys(HELPERS).filter((h) => helpers.has(h as keyof typeof HELPERS)) as (keyof typeof HELPERS)[];

  const mesh = x.mesh.axes.map((a) => `${a.name}=${a.size}`).join(',');
  const devices = x.mesh.axes.reduce((n, a) => n * a.size, 1);
  const base = x.file.split(/[\\/]/).pop()!;
  const t = x.train?.settings;
  const out: string[] = [
    '"""',
    `${x.forward.local.name} from ${base}, partitioned by mdc over the mesh [${x.mesh.axes.map((a) => `${a.name}: ${a.size}`).join(', ')}] (${devices} ranks).`,
    '',
    'Generated by `mdc export --target torch`; every rank runs this same program on its own blocks of each tensor.',
    'Run on one node:',
    `    torchrun --nproc_per_node=${devices} main.py [--steps N] [--out DIR]`,
    'and on several (here two), on each node with its --node_rank:',
    `    torchrun --nnodes=2 --nproc_per_node=${devices / 2 >= 1 && devices % 2 === 0 ? devices / 2 : devices} --node_rank=R --rdzv_backend=c10d \\`,
    '        --rdzv_endpoint=HOST:PORT main.py [--steps N] [--out DIR]',
    `--steps 0 runs the forward pass${t ? "; --steps N > 0 runs N training steps (mdc's own backward pass, no torch.autograd)" : ''}.`,
    'See docs/torch.md.',
    '"""',
    '',
    ...PYTHON_IMPORTS,
    '',
    `MODEL = ${JSON.stringify(x.forward.local.name)}`,
    `MESH = ${JSON.stringify(mesh)}`,
    `AXES = [${x.mesh.axes.map((a) => `(${JSON.stringify(a.name)}, ${a.size})`).join(', ')}]`,
    'SIZES = dict(AXES)',
    `SEED = ${x.seed}`,
    `MICROBATCHES = ${t?.microbatches ?? 1}`,
    `LR = ${t ? pyNumber(t.optimizer.lr) : 'None'}`,
    `WARMUP = ${t?.warmup !== undefined ? t.warmup : 'None'}`,
    `BETAS = ${t?.optimizer.kind === 'adamw' ? `(${pyNumber(t.optimizer.beta1)}, ${pyNumber(t.optimizer.beta2)})` : 'None'}`,
    'DEVICE = torch.device("cpu")',
    '',
    "# Each parameter: (global shape, the mesh axes each dim is split over, mdc's initialiser, dtype).",
    ...table('FORWARD_PARAMS', paramRows(x.forward)),
    '# Each input: (global shape, split axes, dtype, the id range [0, max) of integer inputs that index something).',
    ...table('FORWARD_INPUTS', inputRows(x.forward)),
    '# Each output: (global shape, split axes).',
    ...table('FORWARD_OUTPUTS', outputRows(x.forward)),
    ...(x.train
      ? [
          ...table('TRAIN_PARAMS', paramRows(x.train.spmd)),
          ...table('TRAIN_INPUTS', inputRows(x.train.spmd)),
          `MODEL_PARAMS = [${''}`,
          ...x.train.params.map((p) => `    ${JSON.stringify(p)},`),
          ']',
          '# After each run of train_step: output new.<name> replaces parameter or state <name>.',
          'UPDATES = [',
          ...x.train.updates.map((u) => `    (${JSON.stringify(u.output)}, ${JSON.stringify(u.param)}),`),
          ']',
        ]
      : ['TRAIN_PARAMS = None', 'TRAIN_INPUTS = None', 'MODEL_PARAMS = []', 'UPDATES = []']),
    '',
    '',
    ...order.flatMap((h) => [HELPERS[h], '', '']),
    ...fwd,
    ...(step ? ['', '', ...step] : []),
    '',
    '',
    DRIVER,
  ];
  const text = out.join('\n').split('\n').map(wrap).join('\n');
  return { main: text.replace(/\n{4,}/g, '\n\n\n') + '\n', diagnostics: [], ops };
}

/** Why node n has no torch form, or undefined when it has one. */
export function refusal(n: Node, g: Graph): string | undefined {
  const rule = TORCH[n.op];
  if (!rule) return n.op === 'fused' ? 'fused nodes are not exported (export before fusion)' : 'no torch form yet';
  const r = rule(probeCtx(n, g), n.attrs);
  return typeof r === 'string' ? undefined : r.refuse;
}

function probeCtx(n: Node, g: Graph): TorchCtx {
  return { ins: n.inputs.map((_, i) => `x${i}`), vin: n.inputs.map((i) => g.values[i]!), vout: n.outputs.map((o) => g.values[o]!), use: (h) => h };
}

/** The number of leading local nodes that belong to the first `forwardNodes` nodes of the partitioned graph. */
function forwardLocalNodes(p: SpmdProgram, forwardNodes: number): number {
  const i = p.origin.findIndex((o) => o >= forwardNodes);
  return i < 0 ? p.local.nodes.length : i;
}

export interface FunctionOpts {
  readonly name: string;
  readonly args: string;
  readonly lines: readonly string[];
  readonly file: string;
  readonly helpers: Set<keyof typeof HELPERS>;
  readonly ops: string[];
  /** train_step: where the backward pass starts (the fault point goes there). */
  readonly forwardNodes?: number;
  /** train_step: the parameters read from `params` (the others from `state`). */
  readonly modelParams?: ReadonlySet<string>;
}

/** One Python function: the graph's values bound to names, its nodes as statements, its outputs returned by name. */
export function emitFunction(g: Graph, o: FunctionOpts): string[] {
  const names = new Names();
  const expr = new Map<number, string>();
  const body: string[] = [];
  const base = o.file.split(/[\\/]/).pop()!;
  for (const v of g.values) {
    if (v.kind === 'input') {
      const n = names.take(v.name!);
      body.push(`${n} = ${o.modelParams ? 'batch' : 'inputs'}[${JSON.stringify(v.name)}]`);
      expr.set(v.id, n);
    } else if (v.kind === 'param') {
      const n = names.take(v.name!);
      const from = o.modelParams && !o.modelParams.has(v.name!) ? 'state' : 'params';
      body.push(`${n} = ${from}[${JSON.stringify(v.name)}]`);
      expr.set(v.id, n);
    } else if (v.kind === 'const') {
      const int = v.type.dtype === 'i32';
      expr.set(v.id, `_k(${pyNumber(v.scalar!, int)}, ${TORCH_DTYPE[v.type.dtype]})`);
    }
  }
  const updateOf = new Map<number, string>();
  for (const v of g.values) {
    const m = v.kind === 'param' && o.modelParams && !o.modelParams.has(v.name!) ? /^(?:opt\.[mv]|acc)\.(.*)$/.exec(v.name!) : null;
    if (m) updateOf.set(v.id, m[1]!);
  }
  let line = -1;
  g.nodes.forEach((n, i) => {
    if (o.forwardNodes !== undefined && i === o.forwardNodes) {
      body.push('', "# The backward pass (mdc's, compiler/autodiff) and the optimizer update.", 'mdc_torch.fault_point(mesh, step)');
      line = -1;
    }
    if (n.span.line !== line) {
      line = n.span.line;
      const text = (o.lines[line - 1] ?? '').trim();
      const head = `# ${base}:${line}: `;
      body.push(head + (head.length + 4 + text.length > MAX_LINE ? `${text.slice(0, MAX_LINE - head.length - 8)}...` : text));
    }
    const ctx: TorchCtx = {
      ins: n.inputs.map((id) => expr.get(id)!),
      vin: n.inputs.map((id) => g.values[id]!),
      vout: n.outputs.map((id) => g.values[id]!),
      use: (h) => {
        o.helpers.add(h);
        return h;
      },
    };
    const e = TORCH[n.op]!(ctx, n.attrs) as string;
    if (!o.ops.includes(n.op)) o.ops.push(n.op);
    const back = o.forwardNodes !== undefined && i >= o.forwardNodes;
    // The optimizer's ops read a parameter's state (opt.m.<name>, opt.v.<name>, acc.<name>) or a value made from it: named after the parameter.
    const updating = n.inputs.map((id) => updateOf.get(id)).find((u) => u !== undefined);
    if (updating !== undefined) n.outputs.forEach((id) => updateOf.set(id, updating));
    const stem =
      updating !== undefined ? `update_${updating}` : `${back ? 'd_' : ''}${n.scope ? `${n.scope}_` : ''}${letName(o.lines[n.span.line - 1] ?? '') ?? n.op}`;
    const outs = n.outputs.map(() => names.take(stem));
    body.push(`${outs.join(', ')} = ${e}`);
    n.outputs.forEach((id, k) => expr.set(id, outs[k]!));
  });
  body.push('return {');
  g.outputs.forEach((id, k) => body.push(`    ${JSON.stringify(g.outputNames[k])}: ${expr.get(id)!},`));
  body.push('}');
  return [`def ${o.name}(${o.args}):`, ...body.map((l) => (l ? `    ${l}` : ''))];
}

/** The name a `let x = ...` (or `x = ...`) line gives, which its nodes' values are named after. */
function letName(line: string): string | undefined {
  return /^\s*(?:let\s+)?([A-Za-z_]\w*)\s*=(?!=)/.exec(line)?.[1];
}

/** Python identifiers from model names: non-word characters become `_`, reserved words and repeats get a suffix. */
class Names {
  private readonly used = new Map<string, number>();
  take(raw: string): string {
    let base = raw.replace(/\W+/g, '_').replace(/^_+|_+$/g, '') || 'v';
    if (/^\d/.test(base)) base = `v_${base}`;
    if (RESERVED.has(base)) base = `${base}_`;
    const k = this.used.get(base);
    this.used.set(base, (k ?? 0) + 1);
    return k === undefined ? base : `${base}_${k}`;
  }
}

const axesOf = (l: Layout | undefined, rank: number) =>
  `[${Array.from({ length: rank }, (_, d) => `[${(l?.axes[d] ?? []).map((a) => JSON.stringify(a)).join(', ')}]`).join(', ')}]`;
const globalShape = (t: TType) => shapeOf({ type: t } as Value);

function initDict(i: InitSpec | undefined): string {
  if (!i) return '{"kind": "constant", "value": 0.0}';
  if (i.kind === 'normal') return `{"kind": "normal", "mean": ${pyNumber(i.mean)}, "std": ${pyNumber(i.std)}}`;
  if (i.kind === 'uniform') return `{"kind": "uniform", "low": ${pyNumber(i.low)}, "high": ${pyNumber(i.high)}}`;
  return `{"kind": "constant", "value": ${pyNumber(i.value)}}`;
}

export function paramRows(p: SpmdProgram): string[] {
  return p.local.values
    .filter((v) => v.kind === 'param')
    .map((v) => {
      const s = globalShape(p.globalTypes[v.id]!);
      return `${JSON.stringify(v.name)}: ([${s.join(', ')}], ${axesOf(p.layouts[v.id], s.length)}, ${initDict(v.init)}, ${TORCH_DTYPE[v.type.dtype]}),`;
    });
}

export function inputRows(p: SpmdProgram): string[] {
  const max = inputRanges(p);
  return p.local.inputs
    .map((id) => p.local.values[id]!)
    .filter((v) => v.type.dims.length > 0)
    .map((v) => {
      const s = globalShape(p.globalTypes[v.id]!);
      return `${JSON.stringify(v.name)}: ([${s.join(', ')}], ${axesOf(p.layouts[v.id], s.length)}, ${TORCH_DTYPE[v.type.dtype]}, ${max.get(v.id) ?? 'None'}),`;
    });
}

export function outputRows(p: SpmdProgram): string[] {
  return p.local.outputs.map((id, k) => {
    const s = globalShape(p.globalTypes[id]!);
    return `${JSON.stringify(p.local.outputNames[k])}: ([${s.join(', ')}], ${axesOf(p.layouts[id], s.length)}),`;
  });
}

/** Integer inputs that index something (embedding ids, labels): the whole table's rows or the vocabulary, as mdc run draws them. */
function inputRanges(p: SpmdProgram): Map<number, number> {
  const g = p.local;
  const out = new Map<number, number>();
  const origin = (id: number): number => {
    const at = g.values[id]!.producer;
    const op = at === undefined ? '' : g.nodes[at]!.op;
    return MOVES.has(op) ? origin(g.nodes[at!]!.inputs[0]!) : id;
  };
  const note = (id: number, n: number) => out.set(origin(id), Math.min(out.get(origin(id)) ?? Infinity, n));
  for (const n of g.nodes) {
    if (n.op === 'embedding') note(n.inputs[1]!, globalShape(p.globalTypes[n.inputs[0]!]!)[0]!);
    if (n.op === 'cross_entropy') note(n.inputs[1]!, globalShape(p.globalTypes[n.inputs[0]!]!).at(-1)!);
  }
  return out;
}

export function table(name: string, rows: readonly string[]): string[] {
  return [`${name} = {`, ...rows.map((r) => `    ${r}`), '}'];
}

/**
 * A line of Python at most MAX_LINE characters: a longer one is broken at spaces inside
 * brackets (Python's implicit continuation), continuation lines indented 8 more. Comments
 * and lines with no such space stay as they are.
 */
export function wrap(line: string): string {
  if (line.length <= MAX_LINE || line.trimStart().startsWith('#')) return line;
  const indent = /^\s*/.exec(line)![0] + '        ';
  // Where Python lets a line break: after an opening bracket, or at a space inside brackets (outside string literals).
  const breaks: { at: number; skip: number }[] = [];
  let depth = 0;
  let inStr = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (c === '"') inStr = !inStr;
    if (inStr) continue;
    if (c === '(' || c === '[' || c === '{') {
      depth++;
      if (line[i + 1] !== ')' && line[i + 1] !== ']' && line[i + 1] !== '}') breaks.push({ at: i + 1, skip: 0 });
    } else if (c === ')' || c === ']' || c === '}') depth--;
    else if (c === ' ' && depth > 0) breaks.push({ at: i, skip: 1 });
  }
  const parts: string[] = [];
  let from = 0;
  let prefix = '';
  while (prefix.length + line.length - from > MAX_LINE) {
    const after = breaks.filter((b) => b.at > from);
    const fit = after.filter((b) => prefix.length + b.at - from <= MAX_LINE);
    const cut = fit.length ? fit[fit.length - 1]! : after[0];
    if (!cut) break;
    parts.push(prefix + line.slice(from, cut.at));
    from = cut.at + cut.skip;
    prefix = indent;
  }
  parts.push(prefix + line.slice(from));
  return parts.join('\n');
}
