import { meshOfEnv, meshToString, type Mesh } from '../../compiler/sharding/mesh.js';
import { formatBytes, formatPlanReport, planReport } from '../../compiler/report/plan.js';
import { offloadTargetOf, type OffloadTarget } from '../../compiler/train/offload.js';
import { dimValue } from '../../compiler/dims.js';
import { trainingMemory, type Recompute } from '../../compiler/train/memory.js';
import { planRecompute, type RecomputePolicy } from '../../compiler/train/recompute.js';
import { trainSettings } from '../../compiler/train/settings.js';
import { fineTuning } from '../../compiler/train/fine-tune.js';
import { applyCopies, compileGraph } from '../../driver/compile.js';
import { pipelineAnnotation } from '../../compiler/annotations.js';
import { pipelineAxisOf } from '../../driver/pipeline-axis.js';
import { formatPipelineReport, type PipelineReport } from '../../driver/pipeline.js';
import { formatPrediction, predictPlan } from '../../driver/predict.js';
import { lowerModel } from '../../compiler/compile.js';
import { writeAtomic } from '../files.js';
import type { Env } from '../../compiler/bind.js';
import type { Graph } from '../../compiler/ir.js';
import {
  asUsageError,
  COMMON,
  compileFile,
  EXIT,
  FRONTEND_HELP,
  frontendOptions,
  pairs,
  parseBytes,
  report,
  UsageError,
  type Command,
  type Values,
} from '../options.js';

export const command: Command = {
  help: `Usage: mdc plan FILE [--mesh AXIS=N,...] [options]

Partitions the model over a device mesh and prints, per device: each input's,
parameter's and output's layout and block shape, every inserted collective with its
kind, axis, bytes per device, the reason and the source line that caused it, and
parameter bytes per device. Layouts come from the annotations in FILE (\`f32[d, ffn@tp]\`,
block argument and return types) and propagate to the rest of the graph. A model with a
train section is planned as it trains, with its dropout live.

Options:
  --mesh AXIS=N,...  the mesh, e.g. --mesh dp=2,tp=4 (default: the meshes FILE declares)
  --auto             choose every op's strategy with the cost model (an integer program
                     solved by HiGHS): parameter layouts in FILE are ignored, input
                     layouts are kept; the objective is a training step when FILE has a
                     train section for the model, else a forward pass
  --memory-cap SIZE  under --auto, per-device bytes for parameters and their training
                     state, e.g. 16GiB or 512MiB (with --devices: everything a device holds)
  --devices N        under --auto with --hardware: search the whole plan for N devices
                     (data/pipeline/tensor sizes, stages, micro-batches, schedule, ZeRO,
                     recompute) and explain the winner against the runner-up
                     (docs/cost-model.md, Whole-plan search)
  --time-limit SEC   under --auto, the solver's time limit (default 60)
  --bandwidth A=B/s  under --auto, per-axis bandwidth in bytes/s, e.g.
                     --bandwidth dp=25e9,tp=300e9 (default 100e9 for every axis)
  --recompute P      none, full, selective or auto: the activation policy for the
                     training memory report (default: @recompute or the train section's,
                     else none);
                     the plan also reports the bytes it does not keep and the FLOPs it
                     rebuilds (JSON: recomputePlan)
  --memory-budget S  under --recompute auto, bytes of kept activations per device
  --hardware NAME    predict the step on a described cluster (hardware/NAME.json, e.g.
                     a100-80gb, h100-80gb, webgpu-laptop, or a path to a .json file):
                     step time, TFLOP/s per device, bubble, exposed communication, peak
                     memory per device (docs/cost-model.md)
  --report FILE      also write the plan as one self-contained HTML page: the schedule
                     per device, memory per device, communication per mesh axis and
                     the layouts per layer (docs/report.md)
${FRONTEND_HELP}

JSON (--json, version 1): { version, file, model, devices, mesh: {axis: size},
  values: [{kind, name, type, localShape, bytesPerDevice}],
  collectives: [{kind, axis, bytesPerDevice, bytes, elements, from, to, reason,
                 span: {file, line, col, endLine, endCol}, scope}],
  paramCount, paramBytes, paramBytesPerDevice, commBytesPerDevice,
  searchSeconds (under --auto), and for a model with a train section: zero, recompute,
  memory: {params, grads, optimizer, activations, peak} (bytes per device),
  activationBytesPerLayer, flopsPerStep, and with @offload(host) params:
  offload: {params: [{name, bytes}], toHostBytesPerStep, toDeviceBytesPerStep};
  with --hardware: predicted: {stepSeconds, tflopsPerDevice, bubbleFraction, commSeconds,
  peakBytesPerDevice}; diagnostics }`,
  options: {
    ...COMMON,
    mesh: { type: 'string' },
    recompute: { type: 'string' },
    'memory-budget': { type: 'string' },
    bandwidth: { type: 'string' },
    auto: { type: 'boolean' },
    'memory-cap': { type: 'string' },
    'time-limit': { type: 'string' },
    hardware: { type: 'string' },
    devices: { type: 'string' },
    report: { type: 'string' },
  },
  async run(file, source, v, io) {
    const json = !!v['json'];
    const memoryCap = v['memory-cap'] === undefined ? undefined : parseBytes(v['memory-cap'] as string, 'memory-cap');
    const timeLimit = v['time-limit'] === undefined ? undefined : Number(v['time-limit']);
    if (timeLimit !== undefined && !(timeLimit > 0)) throw new UsageError(`--time-limit must be a positive number of seconds, got '${v['time-limit']}'`);
    if (!v['auto'])
      for (const k of ['memory-cap', 'time-limit', 'bandwidth', 'devices']) if (v[k] !== undefined) throw new UsageError(`--${k} only applies with --auto`);
    const recomputeFlag = v['recompute'] as string | undefined;
    if (recomputeFlag !== undefined && !['none', 'full', 'selective', 'auto'].includes(recomputeFlag))
      throw new UsageError(`--recompute must be none, full, selective or auto, got '${recomputeFlag}'`);
    const hardware = v['hardware'] === undefined ? undefined : await loadHardwareFlag(v['hardware'] as string);
    if (v['devices'] !== undefined) {
      if (v['report'] !== undefined)
        throw new UsageError(
          '--report draws a plan for a given mesh: run mdc plan again with the mesh --auto --devices chooses (--mesh …), and --report there',
        );
      return (await import('./plan-auto.js')).planWholeAuto(file, source, v, io, hardware, memoryCap);
    }
    const r = await compileFile(file, source, v, io, { until: 'lower' });
    if (!r) return EXIT.diagnostics;
    const env = r.checked.env!;
    const mesh = meshOfEnv(env);
    if (!mesh.axes.length) throw new UsageError(`${file} declares no mesh; give one with --mesh, e.g. --mesh dp=2,tp=4`);
    const section = env.sections.find((s) => s.kind === 'train' && s.target.name === r.forward!.name);
    // A model that trains is planned as it trains: lowered again with dropout live (the
    // first lowering has it off), so its masks and their layouts are in the partition.
    const lowered = section && r.forward!.nodes.some((n) => n.op === 'dropout') ? trainingForward(env, file, v) : r.forward!;
    // `copies = N` in the train section: the step is planned as the copies it runs as.
    const copied = applyCopies(env, lowered, file, mesh);
    if ('diagnostics' in copied) {
      report(copied.diagnostics, source, json, io, { file, ok: false });
      return EXIT.diagnostics;
    }
    // A fine-tuning step holds its @lora adapters beside their weights and trains only some parameters (train/freeze.ts).
    const tuned = section ? fineTuning(copied.graph, trainSettings(env, copied.graph.name).settings, file) : { graph: copied.graph };
    if ('diagnostics' in tuned) {
      report(tuned.diagnostics, source, json, io, { file, ok: false });
      return EXIT.diagnostics;
    }
    const graph = tuned.graph;
    let extra: { searchSeconds?: number } = {};
    let layouts;
    if (v['auto']) {
      const bandwidth = v['bandwidth'] === undefined ? undefined : pairs([v['bandwidth']], 'bandwidth');
      for (const [axis, bw] of Object.entries(bandwidth ?? {})) {
        if (!mesh.axes.some((x) => x.name === axis))
          throw new UsageError(`--bandwidth names '${axis}', which is not an axis of the mesh ${mesh.axes.map((x) => x.name).join(', ')}`);
        if (!(bw > 0)) throw new UsageError(`--bandwidth ${axis} must be positive, got ${bw}`);
      }
      const { autoShard } = await import('../../compiler/sharding/auto.js');
      const a = await autoShard(graph, mesh, {
        training: !!section,
        ...(memoryCap !== undefined ? { memoryCap } : {}),
        ...(timeLimit !== undefined ? { timeLimit } : {}),
        ...(bandwidth ? { bandwidth } : {}),
      });
      layouts = a.layouts;
      extra = { searchSeconds: a.searchSeconds };
    }
    // A pipelined model on a mesh with its pipeline axis: each stage is partitioned over the rest of the mesh.
    const ann = pipelineAnnotation(env, env.models.get(graph.name)!);
    const ppAxis = pipelineAxisOf(ann, mesh);
    if (ppAxis && v['auto']) throw new UsageError(`--auto does not plan pipeline stages yet: give a mesh without '${ppAxis}', or plan without --auto`);
    const stageMesh = ppAxis ? { axes: mesh.axes.filter((a) => a.name !== ppAxis) } : mesh;
    let pipe: PipelineReport | undefined;
    if (ppAxis) {
      const settings = section ? trainSettings(env, graph.name).settings : undefined;
      const { compilePipeline, pipelineReport } = await import('../../driver/pipeline.js');
      const c = compilePipeline(graph, ann!, mesh, { file, ...(settings ? { settings } : {}), copies: copied.copies, planOnly: true });
      if (!c.result) {
        report(c.diagnostics, source, json, io, { file, ok: false });
        return EXIT.diagnostics;
      }
      pipe = pipelineReport(c.result, ann!, mesh);
    }
    const partitioned = await compileGraph(graph, { file, partition: stageMesh, ...(layouts ? { layouts } : {}), until: 'partition' }).catch(asUsageError);
    if (partitioned.diagnostics.length) {
      report(partitioned.diagnostics, source, json, io, { file, ok: false });
      return EXIT.diagnostics;
    }
    const p = partitioned.spmd!;
    // Training memory when the model has a train section (ZeRO level from it, recompute from --recompute or it).
    const settings = trainSettings(env, graph.name).settings;
    // The policy of --recompute, else the file's (@recompute or the train section's), else none.
    const budgetFlag = v['memory-budget'] === undefined ? undefined : parseBytes(v['memory-budget'] as string, 'memory-budget');
    if (budgetFlag !== undefined && recomputeFlag !== 'auto') throw new UsageError('--memory-budget only applies with --recompute auto');
    const recompute = recomputeFlag ?? settings?.recompute?.policy ?? 'none';
    const budget = recomputeFlag ? budgetFlag : settings?.recompute?.budget;
    if (recompute === 'auto' && budget === undefined)
      throw new UsageError('--recompute auto needs --memory-budget SIZE (bytes of activations kept per device)');
    let training;
    let recomputeReport;
    if (section && settings) {
      // The recompute plan of each device's program (its blocks of every activation), so
      // the memory report and the recompute line describe the same values.
      const rp = await planRecompute(p.local, recompute as RecomputePolicy, budget !== undefined ? { budget } : {});
      recomputeReport = {
        policy: rp.policy,
        savedBytes: rp.savedBytes,
        extraFlops: rp.extraFlops,
        ...(rp.method ? { method: rp.method, seconds: rp.seconds } : {}),
      };
      training = trainingMemory(graph, p, {
        zero: settings.zero ?? 0,
        recompute: recompute as Recompute,
        optimizer: settings.optimizer.kind,
        dropped: rp.dropped,
        ...(settings.precision ? { precision: settings.precision } : {}),
        ...(tuned.frozen?.size ? { frozen: tuned.frozen } : {}),
      });
    }
    const offload = section && settings?.offload ? hostOffload(graph, settings.offload, settings.gradClip) : undefined;
    const base = planReport(file, graph, p, { ...extra, ...(training ? { training } : {}) });
    const transfers = (pipe?.transfers ?? []).map((t) => ({
      ...t,
      span: { file, line: t.span.line, col: t.span.col, endLine: t.span.endLine, endCol: t.span.endCol },
    }));
    const rep = {
      ...base,
      ...(pipe
        ? {
            devices: base.devices * mesh.axes.find((a) => a.name === ppAxis)!.size,
            mesh: Object.fromEntries(mesh.axes.map((a) => [a.name, a.size])),
            collectives: [...base.collectives, ...transfers],
            commBytesPerDevice: base.commBytesPerDevice + transfers.reduce((n, t) => n + t.bytesPerDevice * t.perStep, 0),
            pipeline: pipe.pipeline,
            schedule: pipe.schedule,
          }
        : ann
          ? { pipeline: { applied: false, reason: unpipelined(ann.stages, ann.axis, mesh) } }
          : {}),
      ...(recomputeReport ? { recomputePlan: recomputeReport } : {}),
      ...(offload ? { offload } : {}),
    };
    const prediction = hardware
      ? predictPlan({
          graph,
          spmd: p,
          mesh,
          hardware,
          ...(section && settings ? { settings, recompute, ...(training ? { memory: training } : {}) } : {}),
          ...(pipe ? { pipeline: pipe } : {}),
        })
      : undefined;
    const predicted = prediction && {
      stepSeconds: prediction.stepSeconds,
      tflopsPerDevice: prediction.tflopsPerDevice,
      bubbleFraction: prediction.bubbleFraction,
      commSeconds: prediction.commSeconds,
      peakBytesPerDevice: Math.round(prediction.peakBytesPerDevice),
    };
    if (v['report'] !== undefined) {
      const { planPage } = await import('../../driver/report.js');
      const page = planPage({
        graph,
        mesh,
        report: rep,
        spmd: p,
        ...(training ? { training } : {}),
        microbatches: settings?.microbatches ?? 1,
        ...(pipe ? { pipeline: pipe } : {}),
        ...(prediction ? { prediction } : {}),
        ...(hardware ? { hardware } : {}),
      });
      writeReport(v['report'] as string, page);
    }
    const kvCache = await kvCacheReport(file, source, v, mesh);
    if (json) io.out(JSON.stringify({ ...rep, ...(predicted ? { predicted } : {}), ...(kvCache ? { kvCache } : {}), diagnostics: [] }, null, 2));
    else {
      if (kvCache)
        io.out(
          `kv cache: ${formatBytes(kvCache.bytesPerDevice)} per device (${kvCache.layers} attention layers, batch ${kvCache.batch}, max_seq ${kvCache.maxSeq}; ` +
            `decoding on ${meshToString(mesh)}, each device holds [${kvCache.block.join(', ')}] of every [${kvCache.shape.join(', ')}] keys or values` +
            (kvCache.stages
              ? `; by pipeline stage: ${kvCache.stages.map((s) => `stage ${s.stage} ${s.layers} layer${s.layers === 1 ? '' : 's'}, ${formatBytes(s.bytesPerDevice)}`).join('; ')})`
              : ')'),
        );
      for (const line of formatPlanReport(rep, mesh)) io.out(line);
      if (pipe) for (const line of formatPipelineReport(pipe)) io.out(line);
      else if (ann) io.out(`pipeline: ${unpipelined(ann.stages, ann.axis, mesh)}`);
      if (recomputeReport)
        io.out(
          `recompute ${recomputeReport.policy}: ${(recomputeReport.savedBytes / 2 ** 20).toFixed(2)} MiB of activations not kept per device, ` +
            `${(recomputeReport.extraFlops / 1e9).toFixed(3)} GFLOP rebuilt per device and step${'method' in recomputeReport ? ` (${recomputeReport.method})` : ''}`,
        );
      if (offload)
        io.out(
          `host offload: ${offload.params.length} parameter${offload.params.length === 1 ? '' : 's'} (${offload.params.map((x) => x.name).join(', ')}) ` +
            `updated on the host: ${formatBytes(offload.toHostBytesPerStep)} of gradients to the host and ${formatBytes(offload.toDeviceBytesPerStep)} of parameters to the devices per step`,
        );
      if (prediction && hardware) for (const line of formatPrediction(prediction, hardware)) io.out(line);
    }
    return EXIT.ok;
  },
};

/**
 * With an infer section: the KV cache's bytes on each device when decoding on the plan's
 * mesh, the cache split as the model's layouts split the keys and values (driver/infer.ts);
 * undefined without one. A model the transform refuses reports nothing here (mdc generate says why).
 */
async function kvCacheReport(file: string, source: string, v: Values, mesh: Mesh) {
  if (!/^\s*infer\s/m.test(source)) return undefined;
  const { compileInference, cacheBytes } = await import('../../driver/infer.js');
  const c = await compileInference(source, file, { ...frontendOptions(v), partition: mesh, graphsOnly: true }).catch(() => undefined);
  if (!c?.cache?.length) return undefined;
  const shape = c.cache[0]!.shape;
  const blocks = c.cacheBlocks ?? c.cache.map((e) => e.shape);
  // Pipeline stages: a stage's devices hold its layers' caches only; the report's bytes are the fullest stage's.
  const stages = c.cacheStages;
  const perStage = stages
    ? Array.from({ length: Math.max(...stages) + 1 }, (_, k) => cacheBytes(blocks.filter((_, i) => stages[i] === k).map((b) => ({ shape: b }))))
    : undefined;
  return {
    bytesPerDevice: perStage ? Math.max(...perStage) : cacheBytes(blocks.map((b) => ({ shape: b }))),
    layers: c.cache.length,
    batch: shape[0]!,
    maxSeq: shape[1]!,
    shape,
    block: blocks[0]!,
    ...(perStage ? { stages: perStage.map((bytesPerDevice, stage) => ({ stage, layers: stages!.filter((k) => k === stage).length, bytesPerDevice })) } : {}),
  };
}

/** Writes --report's page, or says plainly why it cannot. */
function writeReport(path: string, page: string) {
  try {
    writeAtomic(path, page);
  } catch (e) {
    throw new UsageError(`--report: cannot write ${path}: ${(e as Error).message}`);
  }
}

/** --hardware's description, or a usage error saying what is wrong with it. */
async function loadHardwareFlag(name: string) {
  const { loadHardware } = await import('../../driver/hardware.js');
  try {
    return loadHardware(name);
  } catch (e) {
    if ((e as Error).name === 'HardwareError') throw new UsageError(`--hardware: ${(e as Error).message}`);
    throw e;
  }
}

/** Why a model's @pipeline does not apply to a mesh without its axis. */
const unpipelined = (stages: number, axis: string, mesh: Mesh) =>
  `not applied: @pipeline(stages = ${stages}) lays its stages along '${axis}', and the mesh ${meshToString(mesh)} has no such axis, ` +
  `so every device group runs all the layers (add ${axis}=N to --mesh to pipeline them)`;

/** The chosen model lowered for training (dropout live), as `mdc train` lowers it. */
function trainingForward(env: Env, file: string, v: Values): Graph {
  const lowered = lowerModel(env, file, { ...frontendOptions(v), training: true });
  if (!lowered.graph) throw new Error(`the model lowered once but not for training: ${lowered.diagnostics.map((d) => d.message).join('; ')}`);
  return lowered.graph;
}

/**
 * The host transfers of a training step with `@offload(host)` params: each one's whole
 * gradient read back (and the clip scale) and its new value written, once per step.
 */
function hostOffload(g: Graph, targets: readonly OffloadTarget[], gradClip: number | undefined) {
  const params = g.values
    .filter((v) => v.kind === 'param' && offloadTargetOf(targets, v.name!))
    .map((v) => ({ name: v.name!, bytes: v.type.dims.reduce((a, d) => a * (dimValue(d) ?? 0), 4) }));
  if (!params.length) return undefined;
  const bytes = params.reduce((a, x) => a + x.bytes, 0);
  return { params, toHostBytesPerStep: bytes + (gradClip ? 4 : 0), toDeviceBytesPerStep: bytes };
}
