/// <reference types="@webgpu/types" />
import { assemble, runCollective, shardOf } from './collectives.js';
import { DeviceProgram, updateCopies, type HostArray, type Slot } from './executor.js';
import { coordsOf, numel } from '../layout/mesh.js';
import type { Plan, PlanBuffer, PlanCollectiveStep, PlanMesh } from './plan.js';
import { settle } from './settle.js';

/**
 * How InferenceSession runs one of its two plans: whole inputs in, one whole output back,
 * the plan's parameter updates (the cache's new blocks) applied on the device(s).
 */
export interface PlanRun {
  run(inputs: Readonly<Record<string, Int32Array>>, output: string): Promise<Float32Array>;
  /** As `run`, with inputs of any dtype (values between pipeline stages) and several outputs read back, whole, in order. */
  runAll(inputs: Readonly<Record<string, HostArray>>, outputs: readonly string[]): Promise<HostArray[]>;
  /** Writes a parameter's whole value over the one on the device(s) (a mesh writes each device its block). */
  writeParam(b: PlanBuffer, whole: Float32Array): void;
  destroy(): void;
}

/** A plan on one device. */
export class DeviceRun implements PlanRun {
  private readonly copies: { from: number; to: number }[];
  constructor(
    private readonly plan: Plan,
    private readonly program: DeviceProgram,
  ) {
    this.copies = updateCopies(plan);
  }

  async run(inputs: Readonly<Record<string, Int32Array>>, output: string): Promise<Float32Array> {
    return (await this.runAll(inputs, [output]))[0] as Float32Array;
  }

  async runAll(inputs: Readonly<Record<string, HostArray>>, outputs: readonly string[]): Promise<HostArray[]> {
    for (const io of this.plan.inputs) this.program.write(io.buffer, inputs[io.name]!);
    const reads = outputs.map((name) => {
      const out = this.plan.outputs.find((o) => o.name === name)!;
      return { buffer: out.buffer, count: numel(out.shape) };
    });
    return settle(
      this.program.execute(
        this.plan.steps.map((_, i) => i),
        reads,
        this.copies,
      ),
    );
  }

  writeParam(b: PlanBuffer, whole: Float32Array): void {
    this.program.write(b.id, whole);
  }

  destroy(): void {
    this.program.destroy();
  }
}

/**
 * A partitioned plan on one device per mesh device, as MeshRunner runs one: the kernel
 * steps between two collectives run on every device, each collective's blocks are read
 * back, combined on the host and written back. The parameter buffers (weights and KV
 * cache) belong to the devices' `shared` maps, so the prefill and decode runs of a session
 * bind the same blocks.
 */
export class MeshRun implements PlanRun {
  private readonly copies: { from: number; to: number }[];
  private readonly segments: { kernels: number[]; collective: PlanCollectiveStep }[] = [];
  private readonly tail: number[] = [];
  private warm = false;

  private constructor(
    private readonly plan: Plan,
    private readonly mesh: PlanMesh,
    private readonly programs: readonly DeviceProgram[],
  ) {
    this.copies = updateCopies(plan);
    let kernels: number[] = [];
    plan.steps.forEach((s, i) => {
      if (s.kind !== 'collective') kernels.push(i);
      else {
        this.segments.push({ kernels, collective: s });
        kernels = [];
      }
    });
    this.tail = kernels;
  }

  /**
   * `whole(b)`: a parameter's whole value (its global shape), sliced here per device.
   * `shared[d]`: device d's parameters by name, filled by the first plan created on it.
   */
  static async create(
    devices: readonly GPUDevice[],
    plan: Plan,
    whole: (b: PlanBuffer) => Float32Array,
    shared: readonly Map<string, Slot>[],
    opts: { readonly arenas: boolean; readonly timeLimitMs: number },
  ): Promise<MeshRun> {
    const mesh = plan.mesh!;
    const programs: DeviceProgram[] = [];
    try {
      // One device at a time, as MeshRunner does (Dawn's Node binding and concurrent pipeline creation).
      for (let d = 0; d < devices.length; d++) {
        const block = (b: PlanBuffer) => shardOf(mesh, whole(b), b.global!.shape, b.global!.layout, d) as Float32Array;
        programs.push(
          await DeviceProgram.create(devices[d]!, plan, block, {
            ...opts,
            shared: shared[d]!,
            coords: mesh.axes.map((a) => coordsOf(mesh, d)[a.name]!),
          }),
        );
      }
    } catch (e) {
      for (const p of programs) p.destroy();
      throw e;
    }
    return new MeshRun(plan, mesh, programs);
  }

  writeParam(b: PlanBuffer, whole: Float32Array): void {
    this.programs.forEach((p, d) => p.write(b.id, shardOf(this.mesh, whole, b.global!.shape, b.global!.layout, d)));
  }

  async run(inputs: Readonly<Record<string, Int32Array>>, output: string): Promise<Float32Array> {
    return (await this.runAll(inputs, [output]))[0] as Float32Array;
  }

  async runAll(inputs: Readonly<Record<string, HostArray>>, outputs: readonly string[]): Promise<HostArray[]> {
    for (const io of this.plan.inputs) {
      const g = io.global!;
      this.programs.forEach((p, d) => p.write(io.buffer, shardOf(this.mesh, inputs[io.name]!, g.shape, g.layout, d)));
    }
    for (const { kernels, collective: c } of this.segments) {
      const blocks = await this.execute(kernels, [{ buffer: c.input, count: numel(c.shape) }]);
      const results = runCollective(
        this.mesh,
        c,
        blocks.map((b) => b[0]!),
      );
      this.programs.forEach((p, d) => p.write(c.output, results[d]!));
    }
    const outs = outputs.map((name) => this.plan.outputs.find((x) => x.name === name)!);
    const blocks = await this.execute(
      this.tail,
      outs.map((o) => ({ buffer: o.buffer, count: numel(o.shape) })),
      this.copies,
    );
    this.warm = true;
    return outs.map((o, k) =>
      assemble(
        this.mesh,
        blocks.map((b) => b[k]!),
        o.global!.shape,
        o.global!.layout,
      ),
    );
  }

  /** Kernel steps on every device; on the first run device 0 goes first so the others find its kernels compiled (llvmpipe). */
  private async execute(
    kernels: readonly number[],
    reads: readonly { buffer: number; count: number }[],
    copies: readonly { from: number; to: number }[] = [],
  ): Promise<HostArray[][]> {
    if (this.warm) return settle(Promise.all(this.programs.map((p) => p.execute(kernels, reads, copies))));
    const [first, ...rest] = this.programs;
    const head = await settle(first!.execute(kernels, reads, copies));
    return [head, ...(await settle(Promise.all(rest.map((p) => p.execute(kernels, reads, copies)))))];
  }

  destroy(): void {
    for (const p of this.programs) p.destroy();
  }
}
