/// <reference types="@webgpu/types" />
import { assemble, runCollective, shardOf } from './collectives.js';
import { DeviceProgram, RuntimeError, timeLimitOf, updateCopies, type HostArray, type RunnerOptions, type Slot, type Tensor } from './executor.js';
import { initValues } from './init.js';
import { checkIntegrity, loadPlan } from './integrity.js';
import { coordsOf, deviceOf, numel } from '../layout/mesh.js';
import type { Plan, PlanMesh } from './plan.js';
import { isPipelinePlan, type PipelineAction, type PipelinePass, type PipelinePlan } from './pipeline-plan.js';
import { settle } from './settle.js';
import { adamwStep, sgdStep } from './host-optimizer.js';
import { biasCorrections, lrAt, type Schedule as LrSchedule, type StepResult, type TextBatches } from './train.js';

/** One program of one stage on the stage's devices. */
interface StageRun {
  readonly plan: Plan;
  /** Set after its first run: until then device 0 runs each submission first (see `onDevices`). */
  warm?: boolean;
  /** Per device of the stage (in stage-mesh order). */
  readonly devices: readonly DeviceProgram[];
  readonly copies: readonly { from: number; to: number }[];
}

/** Per-step scalars of a pipelined training step (the host's schedule and AdamW's bias corrections). */
export interface PipelineStepScalars {
  readonly lr: number;
  readonly bc1?: number;
  readonly bc2?: number;
  /** The 1-based step number: with training dropout, micro-batch i draws its masks from counter (step − 1)·microbatches + i. */
  readonly step?: number;
}

/**
 * Runs a pipelined plan (runtime/pipeline-plan.ts) on one GPUDevice per mesh device.
 * Stage k runs on the devices whose pipeline coordinate is k % ranks; each of its passes
 * is an SPMD plan over those devices, and the passes of a stage share its parameters,
 * optimizer state and gradient sums on each device. Values between programs (sends
 * between stages, activations kept for the backward pass) go through the host, as
 * collectives do here: every device's block is read back and written where it is read.
 * The ranks follow the schedule's order, several at once: a pass starts when what it
 * reads has been made.
 */
export class PipelineRunner {
  private constructor(
    readonly plan: PipelinePlan,
    private readonly stageMesh: PlanMesh,
    private readonly runs: ReadonlyMap<string, StageRun>,
    /** `@offload(host)` parameters: the host's copy of each, and its optimizer state. */
    private readonly host: ReadonlyMap<string, { param: Float32Array; m: Float32Array; v: Float32Array; decay: boolean }>,
  ) {}

  static async create(devices: readonly GPUDevice[], raw: unknown, opts: RunnerOptions = {}): Promise<PipelineRunner> {
    if (!isPipelinePlan(raw))
      throw new RuntimeError(`not a pipelined plan (format '${String((raw as { format?: unknown })?.format)}'); run it with PlanRunner or MeshRunner`);
    await checkIntegrity(raw, opts.edited);
    const plan = raw;
    checkShape(plan, devices.length);
    const stageMesh: PlanMesh = {
      axes: plan.mesh.axes.filter((a) => a.name !== plan.axis),
      devices: plan.mesh.devices / plan.ranks,
    };
    const seed = opts.seed ?? plan.seed;
    const known = new Set(plan.programs.flatMap((p) => p.plan.buffers.filter((b) => b.role === 'param').map((b) => b.name)));
    for (const k of opts.params?.keys() ?? []) if (!known.has(k)) throw new RuntimeError(`unknown parameter '${k}' of ${plan.model}`);
    // As checkParams for one plan: given parameters cover every one (gradient sums, zero at each step's start, excepted).
    const missing = opts.params && !opts.initRest ? [...known].filter((k) => !k.startsWith('acc.') && !opts.params!.has(k)) : [];
    if (missing.length)
      throw new RuntimeError(
        `missing parameter${missing.length > 1 ? 's' : ''} ${missing.slice(0, 12).join(', ')}${missing.length > 12 ? `, … (${missing.length} in all)` : ''} ` +
          `of ${plan.model} (pass initRest: true to initialise the ones not given from the seed)`,
      );
    const whole = new Map<string, Float32Array>();
    const shared = new Map<number, Map<string, Slot>>();
    const runs = new Map<string, StageRun>();
    try {
      for (const prog of plan.programs) {
        const p = await loadPlan(prog.plan, opts.edited);
        const rank = prog.stage % plan.ranks;
        const progs: DeviceProgram[] = [];
        runs.set(key(prog.stage, prog.pass), { plan: p, devices: progs, copies: updateCopies(p) });
        for (let j = 0; j < stageMesh.devices; j++) {
          const d = globalDevice(plan, stageMesh, rank, j);
          const slots = shared.get(d) ?? shared.set(d, new Map()).get(d)!;
          const coords = coordsOf(stageMesh, j);
          progs.push(
            await DeviceProgram.create(
              devices[d]!,
              p,
              (b) => {
                const g = b.global!;
                let w = whole.get(b.name);
                if (!w) {
                  const given = opts.params?.get(b.name);
                  if (given && given.length !== numel(g.shape))
                    throw new RuntimeError(`param '${b.name}' has ${given.length} values; its shape [${g.shape.join(', ')}] needs ${numel(g.shape)}`);
                  w = given ?? initValues(b.init!, numel(g.shape), seed, b.name);
                  whole.set(b.name, w);
                }
                return shardOf(stageMesh, w, g.shape, g.layout, j) as Float32Array;
              },
              { arenas: opts.arenas !== false, timeLimitMs: timeLimitOf(opts), coords: stageMesh.axes.map((a) => coords[a.name]!), shared: slots },
            ),
          );
        }
      }
    } catch (e) {
      for (const r of runs.values()) for (const p of r.devices) p.destroy();
      throw e;
    }
    const host = new Map(
      (plan.offload?.params ?? []).map((o) => {
        const w = whole.get(o.param);
        if (!w) throw new RuntimeError(`@offload(host) parameter '${o.param}' is held by no stage of ${plan.model}`);
        return [o.param, { param: Float32Array.from(w), m: new Float32Array(w.length), v: new Float32Array(w.length), decay: o.decay }] as const;
      }),
    );
    return new PipelineRunner(plan, stageMesh, runs, host);
  }

  /**
   * A forward pass over the whole batch: each input is split into the plan's micro-batches
   * along its batch dim, the stages run them in the schedule's order, and the last stage's
   * outputs are put back together.
   */
  async run(inputs: Readonly<Record<string, HostArray>>): Promise<Record<string, Tensor>> {
    if (this.plan.training) throw new RuntimeError(`plan '${this.plan.model}' is a training step; call step()`);
    const { outputs } = await this.schedule(inputs, () => ({}));
    return Object.fromEntries(
      this.plan.outputs.map((o) => {
        const parts = Array.from({ length: this.plan.microbatches }, (_, i) => outputs.get(`${o.name}#${i}`)!);
        return [o.name, { shape: o.shape, data: concat(parts) }];
      }),
    );
  }

  /**
   * One training step over the whole batch: every micro-batch's forward and backward in the
   * schedule's order (gradients summed on each stage), the tied copies' sums added, the
   * global gradient norm from the stages' sums of squares, and each stage's optimizer step.
   * Returns the mean of the micro-batches' losses and the norm.
   */
  async step(inputs: Readonly<Record<string, HostArray>>, scalars: PipelineStepScalars): Promise<{ loss: number; gradNorm: number }> {
    if (!this.plan.training) throw new RuntimeError(`plan '${this.plan.model}' is a forward pass; call run()`);
    // Training dropout reads the i32 input `dropout_step` (compiler/train/dropout-step.ts) in the F and
    // B programs: micro-batch i gets (t − 1)·m + i, the counter Trainer gives the one-program step.
    const t = scalars.step;
    const { outputs } = await this.schedule(inputs, (i): Record<string, number> =>
      t !== undefined ? { dropout_step: (t - 1) * this.plan.microbatches + i } : {},
    );
    let loss = 0;
    for (let i = 0; i < this.plan.microbatches; i++) loss += outputs.get(`loss#${i}`)!.data[0]!;
    await this.addSharedSums();
    const S = this.plan.stages;
    let sumsq = 0;
    const sums = await Promise.all(Array.from({ length: S }, (_, k) => this.runPass(k, 'U1', {}, [`sumsq.${k}`])));
    for (let k = 0; k < S; k++) sumsq = Math.fround(sumsq + (sums[k]!.get(`sumsq.${k}`)?.data[0] ?? 0));
    // Offloaded parameters' gradient sums, before U2 resets them.
    const grads = new Map<string, Float32Array>();
    for (const name of this.host.keys()) grads.set(name, await this.readWhole(`acc.${name}`));
    const fixed: Record<string, number> = { lr: scalars.lr, sumsq, ...(scalars.bc1 !== undefined ? { bc1: scalars.bc1, bc2: scalars.bc2! } : {}) };
    const after = await Promise.all(Array.from({ length: S }, (_, k) => this.runPass(k, 'U2', fixed, k === 0 ? ['grad_norm', 'clip_scale'] : [])));
    const scale = after[0]!.get('clip_scale')?.data[0];
    for (const [name, h] of this.host) {
      const hp = this.plan.offload!.optimizer;
      const s = { lr: scalars.lr, ...(scalars.bc1 !== undefined ? { bc1: scalars.bc1, bc2: scalars.bc2! } : {}), ...(scale !== undefined ? { scale } : {}) };
      if (hp.kind === 'adamw') adamwStep(h.param, grads.get(name)!, h.m, h.v, hp, s, h.decay);
      else sgdStep(h.param, grads.get(name)!, h.m, hp, s, h.decay);
      this.writeWhole(name, h.param);
    }
    return { loss: loss / this.plan.microbatches, gradNorm: after[0]!.get('grad_norm')?.data[0] ?? Math.sqrt(sumsq) };
  }

  /** The device bytes the runner keeps allocated, all devices together. */
  get allocatedBytes(): number {
    let n = 0;
    for (const r of this.runs.values()) for (const p of r.devices) n += p.allocation.bytes;
    return n;
  }

  /** The model's parameters and optimizer state, whole, by name (each from the first stage holding it; not the per-step gradient sums). */
  async readParams(): Promise<Map<string, Float32Array>> {
    const names = new Set<string>();
    for (const r of this.runs.values()) for (const b of r.plan.buffers) if (b.role === 'param' && !b.name.startsWith('acc.')) names.add(b.name);
    const out = new Map<string, Float32Array>();
    for (const name of names) out.set(name, await this.readWhole(name));
    return out;
  }

  destroy() {
    for (const r of this.runs.values()) for (const p of r.devices) p.destroy();
  }

  /** Runs every rank's actions in order, ranks side by side; returns what the passes made that the caller reads (loss, outputs). */
  private async schedule(inputs: Readonly<Record<string, HostArray>>, scalars: (microbatch: number) => Readonly<Record<string, number>>) {
    const plan = this.plan;
    const m = plan.microbatches;
    const slices = new Map<string, HostArray[]>();
    for (const io of plan.inputs) {
      const data = Object.prototype.hasOwnProperty.call(inputs, io.name) ? inputs[io.name] : undefined;
      if (!data) throw new RuntimeError(`missing input '${io.name}' (${io.dtype}[${io.shape.join(', ')}])`);
      if (data.length !== numel(io.shape))
        throw new RuntimeError(`input '${io.name}' has ${data.length} values; ${io.dtype}[${io.shape.join(', ')}] needs ${numel(io.shape)}`);
      const part = data.length / m;
      slices.set(
        io.name,
        Array.from({ length: m }, (_, i) => data.slice(i * part, (i + 1) * part)),
      );
    }
    const unknown = Object.keys(inputs).filter((k) => !slices.has(k));
    if (unknown.length) throw new RuntimeError(`unknown input(s): ${unknown.join(', ')}; ${plan.model} takes ${plan.inputs.map((i) => i.name).join(', ')}`);
    // Values between programs, per micro-batch: `${name}#${i}` → each device's block; dropped once every reader has run.
    const mailbox = new Map<string, HostArray[]>();
    const readersLeft = new Map<string, number>();
    const outputs = new Map<string, Tensor>();
    const wanted = new Set(plan.training ? ['loss'] : plan.outputs.map((o) => o.name));
    const next = plan.schedule.perRank.map(() => 0);
    const ready = (a: PipelineAction) => {
      const r = this.runs.get(key(a.stage, a.pass));
      return !r || r.plan.inputs.every((io) => !/^t\d+$/.test(io.name) || mailbox.has(`${io.name}#${a.microbatch}`));
    };
    const act = async (a: PipelineAction) => {
      const r = this.runs.get(key(a.stage, a.pass));
      if (!r) return;
      const feed: Record<string, HostArray | HostArray[]> = {};
      for (const io of r.plan.inputs) {
        const box = `${io.name}#${a.microbatch}`;
        if (mailbox.has(box)) {
          feed[io.name] = mailbox.get(box)!;
          const left = (readersLeft.get(box) ?? 1) - 1;
          if (left <= 0) {
            mailbox.delete(box);
            readersLeft.delete(box);
          } else readersLeft.set(box, left);
        } else if (slices.has(io.name)) feed[io.name] = slices.get(io.name)![a.microbatch]!;
      }
      const reads = r.plan.outputs.filter((o) => /^t\d+$/.test(o.name) || wanted.has(o.name)).map((o) => o.name);
      const made = await this.runStage(r, feed, scalars(a.microbatch), reads);
      for (const [name, blocks] of made) {
        if (/^t\d+$/.test(name)) {
          const box = `${name}#${a.microbatch}`;
          mailbox.set(box, blocks);
          readersLeft.set(box, this.readers(name));
        } else {
          const o = r.plan.outputs.find((x) => x.name === name)!;
          outputs.set(`${name}#${a.microbatch}`, { shape: o.global!.shape, data: assemble(this.stageMesh, blocks, o.global!.shape, o.global!.layout) });
        }
      }
    };
    for (;;) {
      const batch: Promise<void>[] = [];
      plan.schedule.perRank.forEach((list, rank) => {
        const a = list[next[rank]!];
        if (a && ready(a)) {
          next[rank]!++;
          batch.push(act(a));
        }
      });
      if (!batch.length) {
        if (next.every((n, rank) => n >= plan.schedule.perRank[rank]!.length)) break;
        const stuck = plan.schedule.perRank.map((l, rank) => l[next[rank]!]).find((a) => a);
        throw new RuntimeError(
          `the pipeline schedule cannot go on: no rank's next pass has its inputs (first waiting: ${stuck?.pass}${stuck?.microbatch} on stage ${stuck?.stage})`,
        );
      }
      await Promise.all(batch);
    }
    return { outputs };
  }

  /** How many programs read each boundary value, by name (made on first use). */
  private readerCounts?: Map<string, number>;

  private readers(name: string): number {
    this.readerCounts ??= new Map(this.plan.boundaries.map((b) => [b.name, b.to.length]));
    return this.readerCounts.get(name) ?? 1;
  }

  /** Runs one pass of stage k with scalar inputs, returning the named outputs, whole. */
  private async runPass(k: number, pass: PipelinePass, scalars: Readonly<Record<string, number>>, read: readonly string[]) {
    const r = this.runs.get(key(k, pass));
    const out = new Map<string, Tensor>();
    if (!r) return out;
    const made = await this.runStage(r, {}, scalars, read);
    for (const [name, blocks] of made) {
      const o = r.plan.outputs.find((x) => x.name === name)!;
      out.set(name, { shape: o.global!.shape, data: assemble(this.stageMesh, blocks, o.global!.shape, o.global!.layout) });
    }
    return out;
  }

  /**
   * Runs a stage program on the stage's devices: inputs given whole (sliced per device) or as
   * blocks (one per device), scalars by name; collectives between kernel runs as MeshRunner
   * does; updates copied; returns the blocks of each output in `read`.
   */
  private async runStage(
    r: StageRun,
    feed: Readonly<Record<string, HostArray | HostArray[]>>,
    scalars: Readonly<Record<string, number>>,
    read: readonly string[],
  ): Promise<Map<string, HostArray[]>> {
    const mesh = this.stageMesh;
    for (const io of r.plan.inputs) {
      const given = feed[io.name];
      const g = io.global!;
      if (Array.isArray(given)) r.devices.forEach((p, d) => p.write(io.buffer, given[d]!));
      else if (given) r.devices.forEach((p, d) => p.write(io.buffer, shardOf(mesh, given, g.shape, g.layout, d)));
      else if (io.name in scalars) {
        const x = scalars[io.name]!;
        r.devices.forEach((p) => p.write(io.buffer, r.plan.buffers[io.buffer]!.type === 'i32' ? Int32Array.of(x) : Float32Array.of(x)));
      } else
        throw new RuntimeError(
          `stage program ${r.plan.model} has no value for its input '${io.name}'${io.name === 'dropout_step' ? ' (training dropout: give step() the step number)' : ''}`,
        );
    }
    let kernels: number[] = [];
    for (let i = 0; i < r.plan.steps.length; i++) {
      const s = r.plan.steps[i]!;
      if (s.kind !== 'collective') {
        kernels.push(i);
        continue;
      }
      const blocks = await onDevices(r, (p) => p.execute(kernels, [{ buffer: s.input, count: numel(s.shape) }]));
      const results = runCollective(
        mesh,
        s,
        blocks.map((b) => b[0]!),
      );
      r.devices.forEach((p, d) => p.write(s.output, results[d]!));
      kernels = [];
    }
    const outs = r.plan.outputs.filter((o) => read.includes(o.name));
    const blocks = await onDevices(r, (p) =>
      p.execute(
        kernels,
        outs.map((o) => ({ buffer: o.buffer, count: numel(o.shape) })),
        r.copies,
      ),
    );
    r.warm = true;
    return new Map(outs.map((o, i) => [o.name, blocks.map((b) => b[i]!)]));
  }

  /** Adds the gradient sums of parameters copied on several stages (a tied embedding), so their updates agree. */
  private async addSharedSums(): Promise<void> {
    for (const { param, stages } of this.plan.shared) {
      const name = `acc.${param}`;
      const holders = stages.map((k) => {
        const r = [...this.runs].find(([key]) => key.startsWith(`${k}/`) && this.bufferOf(this.runs.get(key)!, name) !== undefined)?.[1];
        if (!r) throw new RuntimeError(`stage ${k} holds no '${name}' to add`);
        return { r, id: this.bufferOf(r, name)! };
      });
      const count = numel(holders[0]!.r.plan.buffers[holders[0]!.id]!.shape);
      const parts = await Promise.all(holders.map(({ r, id }) => settle(Promise.all(r.devices.map((p) => p.execute([], [{ buffer: id, count }]))))));
      // Per device of the stage mesh: the sum over the stages, in stage order.
      const sums = parts[0]!.map((_, d) => {
        const out = new Float32Array(count);
        for (const part of parts) {
          const x = part[d]![0]!;
          for (let e = 0; e < count; e++) out[e] = Math.fround(out[e]! + x[e]!);
        }
        return out;
      });
      for (const { r, id } of holders) r.devices.forEach((p, d) => p.write(id, sums[d]!));
    }
  }

  /** A parameter buffer's whole value, from the first stage program holding it. */
  private async readWhole(name: string): Promise<Float32Array> {
    for (const r of this.runs.values()) {
      const id = this.bufferOf(r, name);
      if (id === undefined) continue;
      const b = r.plan.buffers[id]!;
      const blocks = await onDevices(r, (p) => p.execute([], [{ buffer: id, count: numel(b.shape) }]));
      return assemble(
        this.stageMesh,
        blocks.map((x) => x[0]!),
        b.global!.shape,
        b.global!.layout,
      ) as Float32Array;
    }
    throw new RuntimeError(`no stage of ${this.plan.model} holds '${name}'`);
  }

  /** Writes a parameter's whole value over every stage's copy of it (each device its block). */
  private writeWhole(name: string, data: Float32Array): void {
    for (const r of this.runs.values()) {
      const id = this.bufferOf(r, name);
      if (id === undefined) continue;
      const g = r.plan.buffers[id]!.global!;
      r.devices.forEach((p, d) => p.write(id, shardOf(this.stageMesh, data, g.shape, g.layout, d)));
    }
  }

  private bufferOf(r: StageRun, name: string): number | undefined {
    return r.plan.buffers.find((b) => b.role === 'param' && b.name === name)?.id;
  }
}

const key = (stage: number, pass: string) => `${stage}/${pass}`;

/**
 * Runs `f` on each of a stage program's devices. On its first run device 0 goes first:
 * drivers that compile at first dispatch (llvmpipe) then find the other devices'
 * identical kernels in their shader cache instead of all compiling them at once.
 */
async function onDevices(r: StageRun, f: (p: DeviceProgram) => Promise<HostArray[]>): Promise<HostArray[][]> {
  if (r.warm) return settle(Promise.all(r.devices.map(f)));
  const [first, ...rest] = r.devices;
  const head = await settle(f(first!));
  return [head, ...(await settle(Promise.all(rest.map(f))))];
}

/** The mesh device of stage-mesh device j on pipeline rank `rank`. */
function globalDevice(plan: PipelinePlan, stageMesh: PlanMesh, rank: number, j: number): number {
  return deviceOf(plan.mesh, { ...coordsOf(stageMesh, j), [plan.axis]: rank });
}

function concat(parts: readonly Tensor[]): HostArray {
  const n = parts.reduce((a, p) => a + p.data.length, 0);
  const out = parts[0]!.data instanceof Int32Array ? new Int32Array(n) : new Float32Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p.data, at);
    at += p.data.length;
  }
  return out;
}

/** The few facts the runner relies on, checked before any device work. */
function checkShape(plan: PipelinePlan, devices: number): void {
  const bad = (what: string) => new RuntimeError(`pipelined plan '${String(plan.model)}': ${what}`);
  const axis = plan.mesh?.axes?.find((a) => a.name === plan.axis);
  if (!axis) throw bad(`its pipeline axis '${String(plan.axis)}' is not an axis of its mesh`);
  if (axis.size !== plan.ranks || plan.stages !== plan.ranks * plan.virtual)
    throw bad(`ranks ${plan.ranks} × virtual ${plan.virtual} must be its ${plan.stages} stages on ${plan.axis} = ${axis.size}`);
  if (devices !== plan.mesh.devices)
    throw new RuntimeError(
      `plan '${plan.model}' is pipelined over ${plan.mesh.devices} devices (${plan.mesh.axes.map((a) => `${a.name}=${a.size}`).join(',')}), but ${devices} were given`,
    );
  if (plan.schedule.perRank.length !== plan.ranks) throw bad(`its schedule has ${plan.schedule.perRank.length} ranks, not ${plan.ranks}`);
  for (const list of plan.schedule.perRank)
    for (const a of list)
      if (!(a.stage >= 0 && a.stage < plan.stages && a.microbatch >= 0 && a.microbatch < plan.microbatches))
        throw bad(`its schedule names stage ${a.stage}, micro-batch ${a.microbatch}`);
}

/** Drives a pipelined training plan one step at a time on byte-level batches, as Trainer drives a one-program plan. */
export class PipelineTrainer {
  constructor(
    private readonly runner: PipelineRunner,
    private readonly data: TextBatches,
    private readonly schedule: LrSchedule,
    private readonly betas: readonly [number, number] | undefined,
    private readonly tokenInput = 'tokens',
  ) {
    if (data.batch % runner.plan.microbatches !== 0) throw new RangeError(`${runner.plan.microbatches} micro-batches do not divide a batch of ${data.batch}`);
  }

  async step(t: number): Promise<StepResult> {
    const batch = this.data.at(t);
    const lr = lrAt(t, this.schedule);
    const [bc1, bc2] = this.betas ? biasCorrections(t, this.betas[0], this.betas[1]) : [undefined, undefined];
    const t0 = performance.now();
    const r = await this.runner.step(
      { [this.tokenInput]: batch.tokens, labels: batch.labels },
      { lr, step: t, ...(bc1 !== undefined ? { bc1, bc2: bc2! } : {}) },
    );
    return { step: t, loss: r.loss, gradNorm: r.gradNorm, lr, seconds: (performance.now() - t0) / 1000 };
  }
}
