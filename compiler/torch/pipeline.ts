/**
 * A pipelined plan (driver/pipeline.ts compilePipeline) as the `main.py` of a PyTorch
 * package. Every rank still runs one program: its pipeline coordinate says which stages it
 * holds, and it runs their (stage, pass) programs in its schedule's order, each program a
 * Python function written by the same emitter as the one-program export
 * (compiler/torch/export.ts emitFunction), collectives over the stage's mesh axes included.
 *
 * Values between programs (compiler/pipeline/cut.ts boundaries) are kept on the rank when a
 * reader runs there (the micro-batch's stash) and otherwise go point to point to the rank
 * at the same place of the reader's stage group: `mdc_torch.isend`, which does not wait
 * for the receiver, and a blocking `mdc_torch.recv` when an action first needs the value,
 * both tagged by (boundary, micro-batch). Sends are only waited at the end of the step, so
 * a rank blocks only on a value an earlier action of another rank makes, and the schedule
 * (checked by compiler/pipeline/schedule.ts) orders every such pair: 1F1B cannot deadlock.
 * Once per step, as runtime/pipeline.ts does it: the tied copies' gradient sums are
 * exchanged and added in stage order, U1's sums of squares are exchanged and added in
 * stage order, U2 updates each stage.
 */
import { diag, type Diagnostic } from '../../diagnostics/messages.js';
import type { Span } from '../../diagnostics/span.js';
import type { Boundary, StageProgram } from '../pipeline/cut.js';
import { printSchedule, type Schedule } from '../pipeline/schedule.js';
import type { Mesh } from '../sharding/mesh.js';
import type { SpmdProgram } from '../sharding/partition.js';
import type { TrainSettings } from '../train/settings.js';
import { DRIVER } from './driver.js';
import { emitFunction, inputRows, PYTHON_IMPORTS, outputRows, paramRows, refusal, table, wrap, type TorchExport } from './export.js';
import { HELPER_NEEDS, HELPERS, pyNumber, TORCH_DTYPE } from './ops.js';
import { PIPELINE_DRIVER } from './pipeline-driver.js';

/** The parts of driver/pipeline.ts's PipelineCompiled the export reads. */
export interface TorchPipelinePlan {
  readonly schedule: Schedule;
  readonly spmd: SpmdProgram;
  readonly programs: readonly StageProgram[];
  readonly boundaries: readonly Boundary[];
  readonly shared: ReadonlyMap<string, readonly number[]>;
}

export interface TorchPipelineInput {
  readonly file: string;
  readonly source: string;
  readonly mesh: Mesh;
  readonly seed: number;
  /** The pipeline axis, its size, the number of stages and where @pipeline is (for refusals). */
  readonly axis: string;
  readonly stages: number;
  readonly span: Span;
  readonly forward: TorchPipelinePlan;
  readonly train?: { readonly plan: TorchPipelinePlan; readonly settings: TrainSettings };
}

export function exportTorchPipeline(x: TorchPipelineInput): TorchExport {
  const diagnostics: Diagnostic[] = [];
  const seen = new Set<string>();
  const plans = [x.forward, ...(x.train ? [x.train.plan] : [])];
  for (const p of plans)
    for (const prog of p.programs)
      for (const n of prog.spmd.local.nodes) {
        const why = refusal(n, prog.spmd.local);
        const key = `${n.op}@${n.span.start}`;
        if (why && !seen.has(key)) {
          seen.add(key);
          diagnostics.push(diag(x.file, n.span, 'MDC0601', n.op, 'torch', why));
        }
      }
  const s = x.train?.settings;
  const refuse = (what: string, why: string) => diagnostics.push(diag(x.file, x.span, 'MDC0601', what, 'torch', why));
  if (s?.precision && s.precision !== 'f32') refuse(`precision = ${s.precision}`, 'mixed precision (loss scaling) is not exported yet');
  if (s?.recompute && s.recompute.policy !== 'none') refuse(`recompute = ${s.recompute.policy}`, 'recomputation with pipeline stages is not exported yet');
  if (s?.offload?.length) refuse('@offload(host)', "the host's update of offloaded parameters is not exported yet");
  if (diagnostics.length) return { diagnostics, ops: [] };

  const lines = x.source.split(/\r\n|\r|\n/);
  const helpers = new Set<keyof typeof HELPERS>(['_k', '_bc', '_idiv']);
  const ops: string[] = [];
  const fns: string[] = [];
  const emit = (p: TorchPipelinePlan, prefix: string, params: ReadonlySet<string>) => {
    for (const prog of p.programs) {
      const name = `${prefix}stage${prog.stage}_${prog.pass}`;
      const back = prog.pass === 'B' ? { forwardNodes: 0 } : {};
      fns.push(
        `# Stage ${prog.stage}, pass ${prog.pass}.`,
        ...emitFunction(prog.spmd.local, { name, args: 'mesh, params, state, batch, step', lines, file: x.file, helpers, ops, modelParams: params, ...back }),
        '',
        '',
      );
    }
  };
  const modelParams = new Set(x.forward.spmd.local.values.filter((v) => v.kind === 'param').map((v) => v.name!));
  emit(x.forward, 'forward_', modelParams);
  if (x.train) emit(x.train.plan, 'train_', modelParams);
  for (const h of [...helpers]) for (const need of HELPER_NEEDS[h] ?? []) helpers.add(need);
  const order = Object.keys(HELPERS).filter((h) => helpers.has(h as keyof typeof HELPERS)) as (keyof typeof HELPERS)[];

  const meshText = x.mesh.axes.map((a) => `${a.name}=${a.size}`).join(',');
  const devices = x.mesh.axes.reduce((n, a) => n * a.size, 1);
  const ranks = x.mesh.axes.find((a) => a.name === x.axis)!.size;
  const base = x.file.split(/[\\/]/).pop()!;
  const model = x.forward.spmd.local.name;
  const out: string[] = [
    '"""',
    `${model} from ${base}, pipelined by mdc over the mesh [${x.mesh.axes.map((a) => `${a.name}: ${a.size}`).join(', ')}] (${devices} ranks):`,
    `${x.stages} stages along ${x.axis}, each stage's programs partitioned over the other axes.`,
    '',
    'Generated by `mdc export --target torch`; every rank runs this same program: the passes of the stages its',
    `${x.axis} coordinate holds, in its schedule's order, sending the values between stages to the other ${x.axis} ranks.`,
    'Run on one node (on Debian torch 1.13 add --redirects=2 --tee=1):',
    `    torchrun --nproc_per_node=${devices} main.py [--steps N] [--out DIR]`,
    `--steps 0 runs the forward pass${s ? "; --steps N > 0 runs N training steps (mdc's own backward pass, no torch.autograd)" : ''}.`,
    'See docs/torch.md.',
    '"""',
    '',
    ...PYTHON_IMPORTS,
    '',
    `MODEL = ${JSON.stringify(model)}`,
    `MESH = ${JSON.stringify(meshText)}`,
    `AXES = [${x.mesh.axes.map((a) => `(${JSON.stringify(a.name)}, ${a.size})`).join(', ')}]`,
    'SIZES = dict(AXES)',
    `PIPE_AXIS = ${JSON.stringify(x.axis)}`,
    `PIPE_RANKS = ${ranks}`,
    `STAGES = ${x.stages}`,
    `SEED = ${x.seed}`,
    `MICROBATCHES = ${x.train?.plan.schedule.microbatches ?? 1}`,
    `LR = ${s ? pyNumber(s.optimizer.lr) : 'None'}`,
    "# Warm-up steps of the learning rate: the train section's, else (None) as mdc train: a tenth of the run, at most 10.",
    `WARMUP = ${s?.warmup !== undefined ? s.warmup : 'None'}`,
    `BETAS = ${s?.optimizer.kind === 'adamw' ? `(${pyNumber(s.optimizer.beta1)}, ${pyNumber(s.optimizer.beta2)})` : 'None'}`,
    'DEVICE = torch.device("cpu")',
    '',
    "# Each parameter: (global shape, the mesh axes each dim is split over, mdc's initialiser, dtype).",
    ...table('FORWARD_PARAMS', paramRows(x.forward.spmd)),
    '# Each input: (global shape, split axes, dtype, the id range [0, max) of integer inputs that index something).',
    ...table('FORWARD_INPUTS', inputRows(x.forward.spmd)),
    '# Each output: (global shape, split axes).',
    ...table('FORWARD_OUTPUTS', outputRows(x.forward.spmd)),
    ...(x.train
      ? [...table('TRAIN_PARAMS', paramRows(x.train.plan.spmd)), ...table('TRAIN_INPUTS', inputRows(x.train.plan.spmd))]
      : ['TRAIN_PARAMS = None', 'TRAIN_INPUTS = None']),
    '# Parameters copied on several stages (a tied embedding): their gradient sums are added across those stages.',
    `SHARED = [${[...(x.train?.plan.shared ?? [])].map(([p, st]) => `(${JSON.stringify(p)}, [${st.join(', ')}])`).join(', ')}]`,
    '',
    '',
    ...order.flatMap((h) => [HELPERS[h], '', '']),
    ...fns,
    ...planTable('FORWARD_PLAN', 'forward_', x.forward, base),
    ...(x.train ? ['', ...planTable('TRAIN_PLAN', 'train_', x.train.plan, base)] : ['', 'TRAIN_PLAN = None']),
    '',
    '',
    DRIVER.slice(0, DRIVER.indexOf('def run(args):')).trimEnd(),
    '',
    '',
    PIPELINE_DRIVER,
  ];
  const text = out.join('\n').split('\n').map(wrap).join('\n');
  return { main: text.replace(/\n{4,}/g, '\n\n\n') + '\n', diagnostics: [], ops };
}

/** One plan's programs, schedule (printed too), boundaries and per-stage parameters as a Python dict. */
function planTable(name: string, prefix: string, p: TorchPipelinePlan, base: string): string[] {
  const index = new Map(p.boundaries.map((b, i) => [b.name, i]));
  const params = new Map<number, Set<string>>();
  const rows = p.programs.map((prog) => {
    const g = prog.spmd.local;
    const mine = params.get(prog.stage) ?? params.set(prog.stage, new Set()).get(prog.stage)!;
    for (const v of g.values) if (v.kind === 'param') mine.add(v.name!);
    const reads = g.inputs.map((id) => g.values[id]!.name!).filter((n) => index.has(n));
    const writes = [...new Set(g.outputNames.filter((n) => index.has(n)))];
    const updates = prog.updates.map((u) => `(${JSON.stringify(u.output)}, ${JSON.stringify(u.param)})`).join(', ');
    const list = (xs: readonly string[]) => `[${xs.map((n) => JSON.stringify(n)).join(', ')}]`;
    return `(${prog.stage}, "${prog.pass}"): (${prefix}stage${prog.stage}_${prog.pass}, ${list(reads)}, ${list(writes)}, [${updates}]),`;
  });
  const sched = printSchedule(p.schedule, { form: 'order' }).trimEnd().split('\n');
  return [
    `${name} = {`,
    '    # (stage, pass) -> (its function, the boundary values it reads, those it makes, its updates (output, parameter)).',
    '    "programs": {',
    ...rows.map((r) => `        ${r}`),
    '    },',
    `    # The schedule (${p.schedule.kind}), per ${'pipeline'} rank its passes in order as (pass, micro-batch, stage):`,
    ...sched.map((l) => `    #   ${l}`),
    '    "schedule": [',
    ...p.schedule.perRank.map((list) => `        [${list.map((a) => `("${a.pass}", ${a.microbatch}, ${a.stage})`).join(', ')}],`),
    '    ],',
    '    # Values between programs: name -> (tag base, the stage making it, the stage of each reading pass, block shape, dtype).',
    '    "boundaries": {',
    ...p.boundaries.flatMap((b, i) => {
      const crosses = b.to.some((t) => t.stage !== b.from.stage);
      const what = !crosses
        ? `kept from ${b.from.pass} for ${[...new Set(b.to.map((t) => t.pass))].join(', ')}`
        : b.from.pass === 'F'
          ? 'activation'
          : 'gradient';
      return [
        `        # ${what}, ${base}:${b.span.line}${b.scope ? ` (${b.scope})` : ''}`,
        `        ${JSON.stringify(b.name)}: (${i}, ${b.from.stage}, [${b.to.map((t) => t.stage).join(', ')}], [${b.shape.join(', ')}], ` +
          `${TORCH_DTYPE[b.dtype as keyof typeof TORCH_DTYPE]}),`,
      ];
    }),
    '    },',
    '    # The parameters (and optimizer state) each stage holds.',
    '    "stage_params": {',
    ...[...params].sort((a, b) => a[0] - b[0]).map(([k, names]) => `        ${k}: [${[...names].map((n) => JSON.stringify(n)).join(', ')}],`),
    '    },',
    '}',
  ];
}
