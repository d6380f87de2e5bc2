/// <reference types="@webgpu/types" />
import { assemble, runCollective, shardOf } from './collectives.js';
import {
  checkInputs,
  checkParams,
  DeviceProgram,
  RuntimeError,
  timeLimitOf,
  updateCopies,
  type HostArray,
  type RunnerOptions,
  type Tensor,
} from './executor.js';
import { initValues } from './init.js';
import { coordsOf, numel } from '../layout/mesh.js';
import { type Plan, type PlanAllocation, type PlanCollectiveStep, type PlanMesh } from './plan.js';
import { settle } from './settle.js';
import { loadPlan } from './integrity.js';

/**
 * Runs a partitioned plan on one GPUDevice per mesh device, each with its own arenas. The devices may
 * share one adapter. Kernel steps run on every device; at a collective step each
 * device's input block is read back, the blocks are combined on the host per group
 * (there is no device-to-device link to use) and each device's result is written to its
 * output buffer. Callers pass whole inputs and parameters and get whole outputs: the
 * runner slices and assembles them by the plan's layouts.
 */
export class MeshRunner {
  private constructor(
    readonly plan: Plan,
    readonly mesh: PlanMesh,
    private readonly programs: readonly DeviceProgram[],
    /** The kernel steps (indices) before each collective, with the collective. */
    private readonly segments: readonly { readonly kernels: readonly number[]; readonly collective: PlanCollectiveStep }[],
    /** The kernel steps after the last collective. */
    private readonly tail: readonly number[],
  ) {
    this.copies = updateCopies(plan);
  }

  /**
   * Default true: collectives are deferred (runDeferred) from the second run on; false:
   * the runner waits for each collective before submitting the kernels after it.
   */
  deferCollectives = true;

  /** Set after the first run: see `execute`. */
  private warm = false;
  /** The plan's parameter updates as buffer copies, worked out once. */
  private readonly copies: { from: number; to: number }[];

  /** `opts.params` gives whole parameter values (their global shapes) by name. */
  static async create(devices: readonly GPUDevice[], rawPlan: unknown, opts: RunnerOptions = {}): Promise<MeshRunner> {
    const plan = await loadPlan(rawPlan, opts.edited);
    const mesh = plan.mesh;
    if (!mesh) throw new RuntimeError(`plan '${plan.model}' is not partitioned; run it with PlanRunner`);
    if (devices.length !== mesh.devices) {
      throw new RuntimeError(
        `plan '${plan.model}' is partitioned over ${mesh.devices} devices (${mesh.axes.map((a) => `${a.name}=${a.size}`).join(',')}), but ${devices.length} were given`,
      );
    }
    const seed = opts.seed ?? plan.seed;
    checkParams(plan, opts);
    const wholeParams = new Map<string, Float32Array>();
    for (const b of plan.buffers) {
      if (b.role !== 'param') continue;
      const shape = b.global!.shape;
      const count = numel(shape);
      const given = opts.params?.get(b.name);
      if (given && given.length !== count)
        throw new RuntimeError(`param '${b.name}' has ${given.length} values; its shape [${shape.join(', ')}] needs ${count}`);
      // Initialised whole, then sliced: sharded and unsharded runs use the same weights.
      wholeParams.set(b.name, given ?? initValues(b.init!, count, seed, b.name));
    }
    const programs: DeviceProgram[] = [];
    try {
      // One device at a time: Dawn's Node binding has crashed on concurrent pipeline creation.
      for (let d = 0; d < devices.length; d++) {
        programs.push(
          await DeviceProgram.create(devices[d]!, plan, (b) => shardOf(mesh, wholeParams.get(b.name)!, b.global!.shape, b.global!.layout, d) as Float32Array, {
            arenas: opts.arenas !== false,
            timeLimitMs: timeLimitOf(opts),
            coords: mesh.axes.map((a) => coordsOf(mesh, d)[a.name]!),
          }),
        );
      }
    } catch (e) {
      for (const p of programs) p.destroy();
      throw e;
    }
    const segments: { kernels: number[]; collective: PlanCollectiveStep }[] = [];
    let kernels: number[] = [];
    plan.steps.forEach((s, i) => {
      if (s.kind !== 'collective') kernels.push(i);
      else {
        segments.push({ kernels, collective: s });
        kernels = [];
      }
    });
    return new MeshRunner(plan, mesh, programs, segments, kernels);
  }

  get devices(): number {
    return this.programs.length;
  }

  /** The device bytes the runner keeps allocated, all devices together (each holds `allocation.bytes`). */
  get allocatedBytes(): number {
    return this.programs.reduce((a, p) => a + p.allocation.bytes, 0);
  }

  /** What one device keeps allocated: its arenas and buffers of their own. */
  get allocation(): PlanAllocation {
    return this.programs[0]!.allocation;
  }

  /**
   * Uploads each device's block of the whole inputs, runs every step, applies the plan's
   * parameter updates on every device (training plans: blocks onto blocks) and returns
   * the whole outputs by name (`only`: just these are read back and assembled).
   */
  async run(inputs: Readonly<Record<string, HostArray>>, only?: readonly string[]): Promise<Record<string, Tensor>> {
    checkInputs(this.plan, inputs, (io) => io.global!.shape);
    for (const io of this.plan.inputs) {
      const g = io.global!;
      this.programs.forEach((p, d) => p.write(io.buffer, shardOf(this.mesh, inputs[io.name]!, g.shape, g.layout, d)));
    }
    if (this.deferCollectives && this.warm) await this.runDeferred();
    else {
      for (const { kernels, collective: c } of this.segments) {
        const blocks = await this.execute(kernels, [{ buffer: c.input, count: numel(c.shape) }]);
        this.finishCollective(c, blocks);
      }
    }
    const outs = this.plan.outputs.filter((o) => !only || only.includes(o.name));
    const blocks = await this.execute(
      this.tail,
      outs.map((o) => ({ buffer: o.buffer, count: numel(o.shape) })),
      this.copies,
    );
    this.warm = true;
    return Object.fromEntries(
      outs.map((o, i) => {
        const g = o.global!;
        return [
          o.name,
          {
            shape: g.shape,
            data: assemble(
              this.mesh,
              blocks.map((b) => b[i]!),
              g.shape,
              g.layout,
            ),
          },
        ];
      }),
    );
  }

  /** Combines the devices' blocks of a collective's input on the host and writes each device's result. */
  private finishCollective(c: PlanCollectiveStep, blocks: readonly HostArray[][]): void {
    const results = runCollective(
      this.mesh,
      c,
      blocks.map((b) => b[0]!),
    );
    this.programs.forEach((p, d) => p.write(c.output, results[d]!));
  }

  /**
   * The steps up to the tail with collectives deferred: at a collective the kernels before
   * it are submitted with the read-back of its input, and the runner goes on submitting
   * the steps after it without waiting; it awaits the blocks, combines them and writes the
   * output only before the first step that binds a buffer sharing bytes with that output
   * (the output itself, or another buffer over its range of an arena), or a collective
   * whose input or output does. The queue keeps the order: the read-back precedes every
   * later step, the output's write follows every step already submitted, and none of those
   * touches its bytes. So the devices compute while the host waits for a read-back.
   */
  private async runDeferred(): Promise<void> {
    const pending: { c: PlanCollectiveStep; blocks: Promise<HostArray[][]> }[] = [];
    // Submissions without read-backs, awaited at the end for their errors.
    const fired: Promise<unknown>[] = [];
    let kernels: number[] = [];
    const flush = () => {
      if (kernels.length) fired.push(this.submit(kernels, []));
      kernels = [];
    };
    // Awaits (in order) every pending collective up to the last whose output shares bytes with one of `buffers`.
    const need = async (buffers: readonly number[]) => {
      let hit = -1;
      pending.forEach((p, k) => {
        if (buffers.some((b) => this.overlaps(b, p.c.output))) hit = k;
      });
      if (hit < 0) return;
      flush();
      for (const p of pending.splice(0, hit + 1)) this.finishCollective(p.c, await settle(p.blocks));
    };
    const last = this.segments.length ? this.plan.steps.indexOf(this.segments.at(-1)!.collective) : -1;
    for (let i = 0; i <= last; i++) {
      const s = this.plan.steps[i]!;
      if (s.kind === 'collective') {
        await need([s.input, s.output]);
        const reads = [{ buffer: s.input, count: numel(s.shape) }];
        pending.push({ c: s, blocks: this.submit(kernels, reads) });
        kernels = [];
      } else {
        await need(s.buffers);
        kernels.push(i);
      }
    }
    flush();
    for (const p of pending.splice(0)) this.finishCollective(p.c, await settle(p.blocks));
    await settle(Promise.all(fired));
  }

  /** Submits kernel steps (and read-backs) on every device now; the promise settles when they are read back. */
  private submit(kernels: readonly number[], reads: readonly { buffer: number; count: number }[]): Promise<HostArray[][]> {
    const all = Promise.all(this.programs.map((p) => p.execute(kernels, reads)));
    // A failure surfaces where the blocks are awaited; kernels submitted without reads are checked by the next await.
    all.catch(() => {});
    return all;
  }

  /** Whether plan buffers a and b share bytes: the same buffer, or overlapping ranges of one arena. */
  private overlaps(a: number, b: number): boolean {
    if (a === b) return true;
    const [x, y] = [this.plan.buffers[a]!, this.plan.buffers[b]!];
    if (x.arena === undefined || x.arena !== y.arena) return false;
    return x.offset! < y.offset! + y.bytes && y.offset! < x.offset! + x.bytes;
  }

  /**
   * Runs kernel steps on every device and reads `reads` back from each. On the first
   * run device 0 goes first: drivers that compile at first dispatch (llvmpipe) then
   * find the other devices' identical kernels in their shader cache instead of all
   * compiling them at once.
   */
  private async execute(
    kernels: readonly number[],
    reads: readonly { buffer: number; count: number }[],
    copies: readonly { from: number; to: number }[] = [],
  ): Promise<HostArray[][]> {
    const [first, ...rest] = this.programs;
    if (this.warm) return settle(Promise.all(this.programs.map((p) => p.execute(kernels, reads, copies))));
    const head = await settle(first!.execute(kernels, reads, copies));
    // One settle for all devices: their queues run concurrently while the host waits.
    return [head, ...(await settle(Promise.all(rest.map((p) => p.execute(kernels, reads, copies)))))];
  }

  /** Writes whole parameter values over the devices' blocks of them, by name (host offload's new parameters). */
  writeParams(values: ReadonlyMap<string, Float32Array>): void {
    for (const [name, data] of values) {
      const b = this.plan.buffers.find((x) => x.role === 'param' && x.name === name);
      if (!b?.global || data.length !== numel(b.global.shape)) throw new RuntimeError(`cannot write '${name}': not a parameter of ${data.length} values`);
      this.programs.forEach((p, d) => p.write(b.id, shardOf(this.mesh, data, b.global!.shape, b.global!.layout, d)));
    }
  }

  /** Reads every parameter back (checkpoints), whole, by name: each device's block assembled by the parameter's layout. */
  async readParams(): Promise<Map<string, Float32Array>> {
    const params = this.plan.buffers.filter((b) => b.role === 'param');
    const blocks = await settle(
      Promise.all(
        this.programs.map((p) =>
          p.execute(
            [],
            params.map((b) => ({ buffer: b.id, count: numel(b.shape) })),
          ),
        ),
      ),
    );
    return new Map(
      params.map((b, i) => [
        b.name,
        assemble(
          this.mesh,
          blocks.map((x) => x[i]!),
          b.global!.shape,
          b.global!.layout,
        ) as Float32Array,
      ]),
    );
  }

  destroy() {
    for (const p of this.programs) p.destroy();
  }
}
