import { readInputFile } from '../files.js';
import type { KernelTarget } from '../../codegen/kernels/kernel.js';
import { usesRowKernels } from '../../codegen/kernels/index.js';
import { meshToString } from '../../compiler/sharding/mesh.js';
import { compileGraph } from '../../driver/compile.js';
import { formatBytes } from '../../compiler/report/plan.js';
import { planAllocation, randomInput, type HostArray, type PlanIO, type Tensor } from '../../runtime/index.js';
import { COMMON, compileFile, EXIT, FRONTEND_HELP, intOption, meshOption, timeLimitOption, UsageError, type Command, type Values } from '../options.js';
import { numel } from '../../layout/mesh.js';
import { MAX_NODE_DEVICES } from '../../runtime/node.js';
import { inputProblem } from '../../runtime/executor.js';
import { WEIGHTS_HELP, WEIGHTS_OPTIONS, weightsOption } from '../weights.js';

type TargetChoice = 'portable' | 'adapter' | 'tuned';

export const command: Command = {
  help: `Usage: mdc run FILE [--mesh AXIS=N,...] [options]

Compiles FILE and runs one forward pass on WebGPU (Dawn in Node), then prints each
output's type and a checksum. Inputs are seeded random values unless --inputs is given.
Creating the kernels' pipelines (the first run's start-up) is timed apart from the
forward pass.

With --mesh, the model is partitioned over that mesh (as \`mdc plan\` shows) and runs on
one WebGPU device per mesh device, all on this machine's adapter; collectives are
combined on the host. Parameters are initialised whole from the seed and then sliced,
and inputs and outputs are whole tensors, so the checksums match a run without --mesh
up to float rounding.

Options:
  --mesh AXIS=N,...  run partitioned on this mesh, e.g. --mesh dp=2,tp=4 (one device per
                     mesh device); without it, one device and the layouts are ignored
  --inputs FILE      JSON object mapping every input's name to a flat array of numbers
                     (each key an input of the model, integer ids within their table)
  --seed N           seed for parameters and random inputs (default: 0)
  --no-fuse          one kernel per op (as \`mdc compile --no-fuse\`)
  --time-limit S     fail the run if one submission of kernels takes longer than S
                     seconds (default: 60), naming its kernels
  --target T         what the kernels may assume about the device:
                       portable  WebGPU's defaults only, the kernels \`mdc compile\`
                                 writes (default)
                       adapter   this adapter's features: subgroup matmul, attention
                                 and reductions where it offers \`subgroups\`
                       tuned     adapter, plus matmul tiles timed on this adapter (the
                                 first run tunes each new shape class, a few seconds
                                 each, and caches each winner as soon as it is timed)
${WEIGHTS_HELP}
${FRONTEND_HELP}`,
  options: {
    ...COMMON,
    seed: { type: 'string' },
    inputs: { type: 'string' },
    mesh: { type: 'string' },
    'no-fuse': { type: 'boolean' },
    'time-limit': { type: 'string' },
    target: { type: 'string' },
    ...WEIGHTS_OPTIONS,
  },
  async run(file, source, v, io) {
    const json = !!v['json'];
    const seed = intOption(v['seed'], 'seed');
    const fuse = !v['no-fuse'];
    const targetChoice = targetOption(v['target']);
    const timeLimitMs = timeLimitOption(v['time-limit']);
    const given = readInputs(v);
    const mesh = meshOption(v);
    const meshDevices = mesh ? numel(mesh.axes.map((a) => a.size)) : 1;
    if (meshDevices > MAX_NODE_DEVICES)
      throw new UsageError(
        `--mesh ${String(v['mesh'])} needs ${meshDevices} devices; mdc run makes at most ${MAX_NODE_DEVICES} on one adapter, since each compiles every ` +
          `kernel again (llvmpipe runs out of code memory past about 100); mdc plan takes any mesh`,
      );
    // With a mesh, partitioning once here reports what it refuses (a mesh axis nothing splits, heads a split cannot divide).
    const r = await compileFile(file, source, v, io, mesh ? { until: 'partition', partition: mesh } : { until: 'lower' });
    if (!r) return EXIT.diagnostics;
    // A pipelined model on a mesh with its pipeline axis: its stages run as a pipelined forward pass.
    if (r.pipeline) {
      if (targetChoice !== 'portable') throw new UsageError(`--target ${targetChoice} does not apply to pipelined plans yet; run without --target`);
      return runPipelined(file, source, v, io, { seed, fuse, timeLimitMs, given, json });
    }
    const { nodeDevice, nodeDevices, adapterSubgroupSize } = await import('../../runtime/node.js');
    const { PlanRunner } = await import('../../runtime/executor.js');
    const { MeshRunner } = await import('../../runtime/mesh.js');
    const first = await nodeDevice();
    try {
      let target: KernelTarget = {};
      if (targetChoice !== 'portable') {
        const subgroupSize = adapterSubgroupSize(first.adapter);
        target = { ...(subgroupSize ? { subgroupSize } : {}), ...(first.adapter.features.has('shader-f16') ? { shaderF16: true } : {}) };
        // Values over this device's binding limit are bound as windows, with as many bindings per kernel as it allows.
        const limits = first.device.limits;
        target = { ...target, maxBindingBytes: limits.maxStorageBufferBindingSize, maxStorageBuffers: limits.maxStorageBuffersPerShaderStage };
        if (targetChoice === 'tuned') {
          const { matmulShapes, tuneTarget } = await import('../../codegen/tune/index.js');
          // Tiles are tuned for the matmuls of the plan as it will be optimized.
          const local = (await compileGraph(r.forward!, { file, fuse, ...(mesh ? { partition: mesh } : {}), until: 'optimize' })).optimized!.graph;
          target = (await tuneTarget(first.device, first.description, target, matmulShapes(local), { log: (l) => io.err(l), rows: usesRowKernels(local) }))
            .target;
        }
      }
      const plan = (
        await compileGraph(r.forward!, { file, seed, fuse, target, ...(mesh ? { partition: mesh } : {}), ...(r.copies ? { copies: r.copies } : {}) })
      ).plan!;
      const params = await weightsOption(v, file, plan, { env: r.checked.env!, model: plan.model });
      // The caller's view: whole tensors, also when each device holds a block.
      const wholeShape = (o: PlanIO) => o.global?.shape ?? o.shape;
      const inputs: Record<string, HostArray> = {};
      const names = plan.inputs.map((i) => i.name);
      checkGivenNames(v, given, names, plan.model);
      const from = `--inputs ${String(v['inputs'])}`;
      for (const inp of plan.inputs) {
        const shape = wholeShape(inp);
        const type = plan.buffers[inp.buffer]!.type;
        const g = given[inp.name];
        if (g === undefined) {
          inputs[inp.name] = randomInput(type, numel(shape), seed, inp.name, inp.max);
          continue;
        }
        if (!Array.isArray(g))
          throw new UsageError(
            `${from}: input '${inp.name}' must be a flat array of ${numel(shape)} numbers (${inp.dtype}[${shape.join(', ')}]), not ${kindOf(g)}`,
          );
        // The runner's own check, before the values become typed arrays (which would truncate or wrap them).
        const problem = inputProblem(plan, inp, shape, g, true);
        if (problem) throw new UsageError(`${from}: ${problem}`);
        inputs[inp.name] = type === 'i32' ? Int32Array.from(g as number[]) : Float32Array.from(g as number[]);
      }
      if (plan.mesh) first.device.destroy();
      const { devices, description } = plan.mesh ? await nodeDevices(plan.mesh.devices) : { devices: [first.device], description: first.description };
      if (!json) io.err(`compiling ${plan.kernels.length} kernels${plan.mesh ? ` on ${devices.length} devices` : ''}…`);
      const opts = { timeLimitMs, ...(params ? { params } : {}) };
      const { outs, ms, compileMs, deviceBytes } = await timedRun(
        devices,
        () => (plan.mesh ? MeshRunner.create(devices, plan, opts) : PlanRunner.create(devices[0]!, plan, opts)),
        inputs,
      );
      const rows = plan.outputs.map((o) => outputRow(o.name, `${o.dtype}[${wholeShape(o).join(', ')}]`, wholeShape(o), outs[o.name]!.data));
      warnNonFinite(rows, json, io);
      const collectives = plan.steps.filter((s) => s.kind === 'collective').length;
      const meshJson = mesh ? { devices: devices.length, mesh: Object.fromEntries(mesh.axes.map((a) => [a.name, a.size])), collectives } : {};
      if (json)
        io.out(
          JSON.stringify(
            {
              file,
              ok: true,
              adapter: description,
              target: targetChoice,
              ...meshJson,
              compileMilliseconds: compileMs,
              milliseconds: ms,
              deviceBytes,
              outputs: rows,
              diagnostics: [],
            },
            null,
            2,
          ),
        );
      else {
        const where = mesh ? `${devices.length} devices (mesh ${meshToString(mesh)}) of ${description}` : description;
        io.out(
          `ran ${plan.model} on ${where} (${targetChoice === 'portable' ? '' : `target ${targetChoice}, `}${plan.steps.length} ` +
            `steps${mesh ? `, ${collectives} collectives` : ''}; kernels compiled in ${compileMs.toFixed(0)} ms, forward ${ms.toFixed(1)} ms)`,
        );
        for (const row of rows)
          io.out(
            `  ${row.name}: ${row.type}  sum=${row.sum.toPrecision(8)}  mean|x|=${row.meanAbs.toPrecision(6)}  first=[${row.first.map((x) => x.toPrecision(5)).join(', ')}]`,
          );
        io.out(
          `device memory: ${formatBytes(deviceBytes)} allocated${devices.length > 1 ? ` on ${devices.length} devices` : ''} (activations in ${plan.arenas?.length ?? 0} ` +
            `arena${plan.arenas?.length === 1 ? '' : 's'}; ${formatBytes(planAllocation(plan, false).bytes * devices.length)} with a buffer per value)`,
        );
      }
      return EXIT.ok;
    } finally {
      first.device.destroy(); // also on a usage error before the run; destroying twice is harmless
    }
  },
};

function targetOption(v: unknown): TargetChoice {
  if (v === undefined) return 'portable';
  if (v === 'portable' || v === 'adapter' || v === 'tuned') return v;
  throw new UsageError(`--target must be portable, adapter or tuned, not '${String(v)}'`);
}

const kindOf = (x: unknown) =>
  x === null ? 'null' : Array.isArray(x) ? 'an array' : typeof x === 'object' ? 'an object' : `the ${typeof x} ${JSON.stringify(x)}`;

function readInputs(v: Values): Record<string, unknown> {
  const f = v['inputs'] as string | undefined;
  if (!f) return {};
  let given: unknown;
  const text = readInputFile(f, '--inputs').toString('utf8');
  try {
    given = JSON.parse(text);
  } catch (e) {
    throw new UsageError(`--inputs '${f}' is not JSON: ${(e as Error).message}`);
  }
  if (!given || typeof given !== 'object' || Array.isArray(given))
    throw new UsageError(`--inputs ${f} must hold a JSON object mapping input names to arrays of numbers, not ${kindOf(given)}`);
  return given as Record<string, unknown>;
}

/**
 * The names of `--inputs` against the model's inputs: each key must be one, and a file must give every one (a missing
 * input is not silently filled with random values; they are only what a run without --inputs uses).
 */
function checkGivenNames(v: Values, given: Record<string, unknown>, names: readonly string[], model: string): void {
  if (v['inputs'] === undefined) return;
  const from = `--inputs ${String(v['inputs'])}`;
  const list = (xs: readonly string[]) => xs.map((n) => `'${n}'`).join(', ');
  for (const key of Object.keys(given))
    if (!names.includes(key)) throw new UsageError(`${from} names '${key}', which is not an input of ${model}; its inputs: ${list(names)}`);
  const missing = names.filter((n) => !(n in given));
  if (missing.length)
    throw new UsageError(
      `${from} gives no ${list(missing)}: a file of inputs must give every input of ${model} (${list(names)}); without --inputs all are seeded random values`,
    );
}

/** `mdc run --mesh` of a pipelined model: the pipelined forward pass (runtime/pipeline.ts), reported as a plan's run is. */
async function runPipelined(
  file: string,
  source: string,
  v: Values,
  io: Parameters<Command['run']>[3],
  o: { seed: number; fuse: boolean; timeLimitMs: number | undefined; given: Record<string, unknown>; json: boolean },
): Promise<number> {
  const mesh = meshOption(v)!;
  const r = await compileFile(file, source, v, io, { partition: mesh, seed: o.seed, fuse: o.fuse });
  if (!r) return EXIT.diagnostics;
  const plan = r.pipeline!.plan!;
  const params = await weightsOption(
    v,
    file,
    { model: plan.model, buffers: plan.programs.flatMap((p) => p.plan.buffers) },
    { env: r.checked.env!, model: plan.model },
  );
  // Input values are checked against the program that reads them (its ids' table size); shapes are the whole batch.
  const readers = plan.programs.flatMap((p) => p.plan.inputs.map((io) => ({ io, plan: p.plan })));
  const inputs: Record<string, HostArray> = {};
  checkGivenNames(
    v,
    o.given,
    plan.inputs.map((i) => i.name),
    plan.model,
  );
  const from = `--inputs ${String(v['inputs'])}`;
  for (const inp of plan.inputs) {
    const reader = readers.find((x) => x.io.name === inp.name)!;
    const type = reader.plan.buffers[reader.io.buffer]!.type;
    const g = o.given[inp.name];
    if (g === undefined) {
      inputs[inp.name] = randomInput(type, numel(inp.shape), o.seed, inp.name, reader.io.max);
      continue;
    }
    if (!Array.isArray(g))
      throw new UsageError(`${from}: input '${inp.name}' must be a flat array of ${numel(inp.shape)} numbers (${inp.dtype}[${inp.shape.join(', ')}])`);
    const problem = inputProblem(reader.plan, reader.io, inp.shape, g, true);
    if (problem) throw new UsageError(`${from}: ${problem}`);
    inputs[inp.name] = type === 'i32' ? Int32Array.from(g as number[]) : Float32Array.from(g as number[]);
  }
  const { nodeDevices } = await import('../../runtime/node.js');
  const { PipelineRunner } = await import('../../runtime/pipeline.js');
  const { devices, description } = await nodeDevices(plan.mesh.devices);
  const kernels = plan.programs.reduce((n, p) => n + p.plan.kernels.length, 0);
  if (!o.json) io.err(`compiling ${kernels} kernels of ${plan.programs.length} stage programs on ${devices.length} devices…`);
  const opts = { ...(o.timeLimitMs !== undefined ? { timeLimitMs: o.timeLimitMs } : {}), ...(params ? { params } : {}) };
  const { outs, ms, compileMs, deviceBytes } = await timedRun(devices, () => PipelineRunner.create(devices, plan, opts), inputs);
  const rows = plan.outputs.map((out) => outputRow(out.name, `${out.dtype}[${out.shape.join(', ')}]`, out.shape, outs[out.name]!.data));
  warnNonFinite(rows, o.json, io);
  const pipeline = { axis: plan.axis, stages: plan.stages, ranks: plan.ranks, microbatches: plan.microbatches };
  if (o.json)
    io.out(
      JSON.stringify(
        {
          file,
          ok: true,
          adapter: description,
          devices: devices.length,
          mesh: Object.fromEntries(mesh.axes.map((a) => [a.name, a.size])),
          pipeline,
          compileMilliseconds: compileMs,
          milliseconds: ms,
          deviceBytes,
          outputs: rows,
          diagnostics: [],
        },
        null,
        2,
      ),
    );
  else {
    io.out(
      `ran ${plan.model} pipelined in ${plan.stages} stages over ${plan.axis} on ${devices.length} devices (mesh ${meshToString(mesh)}) of ${description}; ` +
        `kernels compiled in ${compileMs.toFixed(0)} ms, forward ${ms.toFixed(1)} ms`,
    );
    for (const row of rows)
      io.out(
        `  ${row.name}: [${row.shape.join(', ')}]  sum=${row.sum.toPrecision(8)}  mean|x|=${row.meanAbs.toPrecision(6)}  first=[${row.first.map((x) => x.toPrecision(5)).join(', ')}]`,
      );
    io.out(`device memory: ${formatBytes(deviceBytes)} allocated on ${devices.length} devices`);
  }
  return EXIT.ok;
}

/** What `mdc run` reports of one output: checksums, the first values, and how many are not finite. */
function outputRow(name: string, type: string, shape: readonly number[], data: ArrayLike<number>) {
  let sum = 0;
  let abs = 0;
  const nonFinite = { nan: 0, posInf: 0, negInf: 0 };
  for (let i = 0; i < data.length; i++) {
    const x = data[i]!;
    sum += x;
    abs += Math.abs(x);
    if (x !== x) nonFinite.nan++;
    else if (x === Infinity) nonFinite.posInf++;
    else if (x === -Infinity) nonFinite.negInf++;
  }
  return { name, type, shape, sum, meanAbs: abs / data.length, first: Array.from({ length: Math.min(4, data.length) }, (_, i) => data[i]!), nonFinite };
}

/** A checksum of NaN says little about how much went wrong: count it, per output. */
function warnNonFinite(rows: readonly ReturnType<typeof outputRow>[], json: boolean, io: { err: (s: string) => void }): void {
  for (const row of rows) {
    const { nan, posInf, negInf } = row.nonFinite;
    const parts = [nan && `${nan} NaN`, posInf && `${posInf} +Infinity`, negInf && `${negInf} -Infinity`].filter(Boolean);
    if (parts.length && !json) io.err(`warning: output '${row.name}' (${row.type}) has ${parts.join(', ')} among its ${numel(row.shape)} values`);
  }
}

/**
 * Makes a runner (its kernels compiled: timed apart), runs one forward pass (timed), and
 * destroys the runner and the devices whatever happens.
 */
async function timedRun(
  devices: readonly GPUDevice[],
  create: () => Promise<{ run(inputs: Record<string, HostArray>): Promise<Record<string, Tensor>>; destroy(): void; readonly allocatedBytes: number }>,
  inputs: Record<string, HostArray>,
): Promise<{ outs: Record<string, Tensor>; ms: number; compileMs: number; deviceBytes: number }> {
  try {
    const c0 = performance.now();
    const runner = await create();
    const compileMs = performance.now() - c0;
    const t0 = performance.now();
    try {
      const outs = await runner.run(inputs);
      return { outs, ms: performance.now() - t0, compileMs, deviceBytes: runner.allocatedBytes };
    } finally {
      runner.destroy();
    }
  } finally {
    for (const d of devices) d.destroy();
  }
}
