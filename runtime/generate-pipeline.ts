/// <reference types="@webgpu/types" />
import { RuntimeError, type HostArray, type Slot } from './executor.js';
import { DeviceProgram } from './executor.js';
import { DeviceRun, MeshRun, type PlanRun } from './generate-mesh.js';
import { coordsOf, deviceOf } from '../layout/mesh.js';
import type { Plan, PlanBuffer, PlanMesh } from './plan.js';

/** Pipeline-parallel decoding's plans (driver/infer-pipeline.ts makes them): one prefill and one decode plan per stage. */
export interface InferencePipeline {
  /** The pipeline axis, and the whole mesh with it: the session takes one device per mesh device. */
  readonly axis: string;
  readonly mesh: PlanMesh;
  /** Devices along the axis; stage k runs on the devices whose coordinate on it is k % ranks. */
  readonly ranks: number;
  /** In stage order: each stage's plans (partitioned over the mesh without the axis) and its layers [first, end) of the stack. */
  readonly stages: readonly { readonly prefill: Plan; readonly decode: Plan; readonly layers: readonly [number, number] }[];
}

/** The mesh devices of stage `stage`, in the stage mesh's device order. */
export function stageDevices(pipe: Pick<InferencePipeline, 'axis' | 'mesh' | 'ranks'>, stage: number): number[] {
  const stageMesh = { axes: pipe.mesh.axes.filter((a) => a.name !== pipe.axis) };
  const count = pipe.mesh.devices / pipe.ranks;
  return Array.from({ length: count }, (_, j) => deviceOf(pipe.mesh, { ...coordsOf(stageMesh, j), [pipe.axis]: stage % pipe.ranks }));
}

/**
 * One of the two kinds of plan (prefill or decode) of every stage, run stage after stage
 * for each step: a stage's plan runs on its devices (one, or its group of the stage mesh,
 * as MeshRun runs a partitioned plan), and what it makes for later stages (the hidden
 * states) is read back whole and written to the stages that read it, through the host as
 * collectives are here. The session's inputs (tokens, positions) go to every stage that
 * takes them; the requested output comes from the stage that makes it (the last).
 */
export class StagedRun implements PlanRun {
  private constructor(private readonly stages: readonly { readonly plan: Plan; readonly run: PlanRun; readonly wanted: readonly string[] }[]) {}

  /**
   * `plans`: the stages' plans in order, each on `devices` at `stageDevices`. `shared[d]`: mesh
   * device d's parameters by name (the prefill and decode runs of a session bind the same).
   */
  static async create(
    devices: readonly GPUDevice[],
    pipe: InferencePipeline,
    plans: readonly Plan[],
    whole: (b: PlanBuffer) => Float32Array,
    shared: readonly Map<string, Slot>[],
    opts: { readonly arenas: boolean; readonly timeLimitMs: number },
  ): Promise<StagedRun> {
    const made: { plan: Plan; run: PlanRun; wanted: string[] }[] = [];
    try {
      for (const [s, plan] of plans.entries()) {
        const at = stageDevices(pipe, s);
        const run = plan.mesh
          ? await MeshRun.create(
              at.map((d) => devices[d]!),
              plan,
              whole,
              at.map((d) => shared[d]!),
              opts,
            )
          : new DeviceRun(plan, await DeviceProgram.create(devices[at[0]!]!, plan, whole, { ...opts, shared: shared[at[0]!]! }));
        // What later stages read of it.
        const later = new Set(plans.slice(s + 1).flatMap((p) => p.inputs.map((io) => io.name)));
        made.push({ plan, run, wanted: plan.outputs.filter((o) => later.has(o.name)).map((o) => o.name) });
      }
    } catch (e) {
      for (const m of made) m.run.destroy();
      throw e;
    }
    return new StagedRun(made);
  }

  async run(inputs: Readonly<Record<string, Int32Array>>, output: string): Promise<Float32Array> {
    return (await this.runAll(inputs, [output]))[0] as Float32Array;
  }

  async runAll(inputs: Readonly<Record<string, HostArray>>, outputs: readonly string[]): Promise<HostArray[]> {
    const values = new Map<string, HostArray>(Object.entries(inputs));
    const got = new Map<string, HostArray>();
    for (const [s, { plan, run, wanted }] of this.stages.entries()) {
      const ins: Record<string, HostArray> = {};
      for (const io of plan.inputs) {
        const v = values.get(io.name);
        if (!v) throw new RuntimeError(`pipeline stage ${s} of ${plan.model} reads '${io.name}', which no input or earlier stage gives`);
        ins[io.name] = v;
      }
      const names = [...wanted, ...outputs.filter((o) => plan.outputs.some((x) => x.name === o))];
      const outs = await run.runAll(ins, names);
      names.forEach((n, k) => (k < wanted.length ? values.set(n, outs[k]!) : got.set(n, outs[k]!)));
    }
    return outputs.map((o) => {
      const v = got.get(o);
      if (!v) throw new RuntimeError(`no pipeline stage makes '${o}'`);
      return v;
    });
  }

  /** Writes the weight to every stage holding it (a tied embedding is on the first and the last). */
  writeParam(b: PlanBuffer, whole: Float32Array): void {
    for (const { plan, run } of this.stages) {
      const mine = plan.buffers.find((x) => x.role === 'param' && x.name === b.name);
      if (mine) run.writeParam(mine, whole);
    }
  }

  destroy(): void {
    for (const s of this.stages) s.run.destroy();
  }
}
