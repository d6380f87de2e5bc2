import { statSync } from 'node:fs';
import type { Graph } from '../../compiler/ir.js';
import { compileGraph } from '../../driver/compile.js';
import { initValues } from '../../runtime/init.js';
import { numel } from '../../layout/mesh.js';
import { writeAtomic } from '../files.js';
import {
  asUsageError,
  COMMON,
  compileFile,
  EXIT,
  frontendOptions,
  FRONTEND_HELP,
  intOption,
  positive,
  report,
  UsageError,
  type Command,
  type Io,
  type Values,
} from '../options.js';
import { WEIGHTS_HELP, WEIGHTS_OPTIONS, weightsOption } from '../weights.js';

/** What a target gets: the model's forward graph at its concrete dims and every parameter's values. */
interface ExportJob {
  readonly file: string;
  readonly source: string;
  readonly graph: Graph;
  readonly params: ReadonlyMap<string, Float32Array>;
  /** Params written as graph inputs (--decode: the KV cache). */
  readonly paramInputs?: readonly string[];
  readonly out: string;
  readonly v: Values;
  readonly io: Io;
}

/** One output format of `mdc export`: a line of help and the writer (of a file from the forward graph, or of a folder from its own compile). */
type ExportTarget =
  | { readonly help: string; readonly folder?: false; write(job: ExportJob): Promise<number> }
  | { readonly help: string; readonly folder: true; writeFolder(file: string, source: string, out: string, v: Values, io: Io): Promise<number> };

const TARGETS: Readonly<Record<string, ExportTarget>> = {
  onnx: {
    help: 'an ONNX model (opset 20, weights inside) that ONNX Runtime runs; docs/onnx.md',
    async write({ file, source, graph, params, paramInputs, out, v, io }) {
      const { exportOnnx, ONNX_OPSET } = await import('../../compiler/onnx/export.js');
      const r = exportOnnx(graph, params, { file, ...(paramInputs ? { paramInputs } : {}) });
      if (!r.bytes) {
        report(r.diagnostics, source, !!v['json'], io, { file, ok: false });
        return EXIT.diagnostics;
      }
      writeAtomic(out, r.bytes);
      if (v['json']) io.out(JSON.stringify({ file, ok: true, target: 'onnx', out, bytes: r.bytes.length, opset: ONNX_OPSET, opTypes: r.opTypes }, null, 2));
      else io.out(`wrote ${out}: ONNX opset ${ONNX_OPSET}, ${r.bytes.length} bytes, ${graph.nodes.length} mdc ops as ${r.opTypes.join(', ')}`);
      return EXIT.ok;
    },
  },
  torch: {
    help: 'a PyTorch package (main.py + mdc_torch.py) that torchrun runs, one rank per mesh device; docs/torch.md',
    folder: true,
    async writeFolder(file, source, out, v, io) {
      return (await import('./export-torch.js')).writeTorch(file, source, out, v, io);
    },
  },
};

export const command: Command = {
  help: `Usage: mdc export FILE --target T -o OUT [options]

Writes FILE's model for another framework: its forward graph at its concrete dims
(--preset, --dim, the model's where clause), with the parameters initialised from the
seed exactly as \`mdc run\` does, or loaded with --weights. An op the target has no form
for is reported (MDC0601) at each place the model uses it, and nothing is written.
--target torch writes the partitioned program instead, forward pass and training step,
as a folder that torchrun runs: every collective of the plan on torch.distributed.

Targets:
${Object.entries(TARGETS)
  .map(([name, t]) => `  ${name.padEnd(8)} ${t.help}`)
  .join('\n')}

Options:
  --target T         the output format (required)
  -o, --out OUT      where to write it (required): a file, replaced atomically; for
                     torch a folder (created) that gets main.py and mdc_torch.py
  --mesh AXIS=N,...  torch: partition over this mesh (default: the file's mesh), one
                     rank per device, e.g. --mesh dp=2,tp=4
  --forward          torch: the forward pass only, without the train section's step
  --decode           onnx: the KV-cache decode step instead of the forward pass: one
                     token per sequence and its position, the per-layer key and value
                     caches as inputs (cache.k.N, cache.v.N) and the updated caches as
                     outputs (new.cache.k.N, ...); docs/onnx.md
  --max-seq N        with --decode: the caches' length (default: the infer section's)
  --seed N           seed for the parameters (default: 0, as mdc run)
${WEIGHTS_HELP}
${FRONTEND_HELP}`,
  options: {
    ...COMMON,
    target: { type: 'string' },
    out: { type: 'string', short: 'o' },
    seed: { type: 'string' },
    mesh: { type: 'string' },
    forward: { type: 'boolean' },
    decode: { type: 'boolean' },
    'max-seq': { type: 'string' },
    ...WEIGHTS_OPTIONS,
  },
  async run(file, source, v, io) {
    const name = v['target'];
    if (typeof name !== 'string') throw new UsageError(`mdc export needs --target: ${Object.keys(TARGETS).join(', ')}`);
    const target = TARGETS[name];
    if (!target) throw new UsageError(`--target ${name} is not a target of mdc export; the targets are ${Object.keys(TARGETS).join(', ')}`);
    const out = v['out'];
    if (typeof out !== 'string') throw new UsageError(`mdc export needs -o OUT, the ${target.folder ? 'folder' : 'file'} to write`);
    if ((v['decode'] || v['max-seq'] !== undefined) && name !== 'onnx') throw new UsageError(`--decode and --max-seq are for --target onnx, not ${name}`);
    if (target.folder) return target.writeFolder(file, source, out, v, io);
    if (v['mesh'] !== undefined || v['forward'])
      throw new UsageError(`--mesh and --forward are for --target torch; --target ${name} exports the forward graph whole`);
    if (statSync(out, { throwIfNoEntry: false })?.isDirectory()) throw new UsageError(`-o ${out} is a folder; give the file to write`);
    if (v['max-seq'] !== undefined && !v['decode']) throw new UsageError("--max-seq is for --decode (the KV cache's length)");
    const seed = intOption(v['seed'], 'seed');
    let graph: Graph;
    let paramInputs: string[] | undefined;
    let env: NonNullable<Awaited<ReturnType<typeof compileFile>>>['checked']['env'];
    if (v['decode']) {
      if (v['weights'] !== undefined) throw new UsageError('--decode exports seeded weights only; --weights with --decode is not supported yet');
      // The decode step's graph as mdc generate runs it; its cache is fed, so it gets no values here.
      const { compileInference } = await import('../../driver/infer.js');
      const maxSeq = v['max-seq'] !== undefined ? positive(v['max-seq'], 'max-seq') : undefined;
      const c = await compileInference(source, file, { ...frontendOptions(v), ...(maxSeq ? { maxSeq } : {}), graphsOnly: true }).catch(asUsageError);
      if (!c.decodeGraph) {
        report(c.diagnostics, source, !!v['json'], io, { file, ok: false });
        return EXIT.diagnostics;
      }
      graph = c.decodeGraph;
      paramInputs = c.cache!.flatMap((e) => [e.k, e.v]);
    } else {
      const r = await compileFile(file, source, v, io, { until: 'lower' });
      if (!r) return EXIT.diagnostics;
      graph = r.forward!;
      env = r.checked.env;
    }
    // The plan gives each parameter's initialiser and the seed, as the runtime reads them; --weights checks against it.
    const plan = (await compileGraph(graph, { file, seed, fuse: false })).plan!;
    const params = (await (env ? weightsOption(v, file, plan, { env, model: plan.model }) : undefined)) ?? new Map<string, Float32Array>();
    for (const b of plan.buffers) if (b.role === 'param' && !params.has(b.name)) params.set(b.name, initValues(b.init!, numel(b.shape), plan.seed, b.name));
    return target.write({ file, source, graph, params, ...(paramInputs ? { paramInputs } : {}), out, v, io });
  },
};
