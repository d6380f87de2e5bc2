import type { HostArray, Tensor } from './executor.js';
import { adamwStep, sgdStep } from './host-optimizer.js';
import { initValues } from './init.js';
import type { Plan, PlanOffload } from './plan.js';

/** What a host update needs of a runner: PlanRunner and MeshRunner both are one. */
export interface OffloadRunner {
  run(inputs: Readonly<Record<string, HostArray>>, only?: readonly string[]): Promise<Record<string, Tensor>>;
  /** Writes whole parameter values over the device's (each device's block of them). */
  writeParams(values: ReadonlyMap<string, Float32Array>): void;
}

/**
 * The host's share of a training plan with `@offload(host)` parameters (runtime/plan.ts
 * PlanOffload): an f32 copy of each such parameter and its optimizer state (`opt.m.<name>`,
 * and `opt.v.<name>` for AdamW, zero at first, as on the device), updated after each run
 * that applies the optimizer. The copy starts as the runner's parameters do: the values
 * given, else the plan's initialiser at the seed. Browser-safe.
 */
export class HostOffload {
  private constructor(
    readonly offload: PlanOffload,
    /** The parameters' host copies, by name (whole tensors). */
    readonly params: Map<string, Float32Array>,
    /** Optimizer state by its device name, `opt.m.<param>` / `opt.v.<param>`. */
    readonly state: Map<string, Float32Array>,
  ) {}

  /** Undefined for a plan without an offload section. `params`: the values the runner was given (a resumed run). */
  static create(plan: Plan, opts: { readonly seed?: number; readonly params?: ReadonlyMap<string, Float32Array> } = {}): HostOffload | undefined {
    const o = plan.offload;
    if (!o) return undefined;
    const params = new Map<string, Float32Array>();
    const state = new Map<string, Float32Array>();
    for (const { param } of o.params) {
      const b = plan.buffers.find((x) => x.role === 'param' && x.name === param)!;
      const count = (b.global?.shape ?? b.shape).reduce((a, d) => a * d, 1);
      const given = opts.params?.get(param);
      params.set(param, Float32Array.from(given ?? initValues(b.init!, count, opts.seed ?? plan.seed, param)));
      for (const k of stateNames(o, param)) state.set(k, new Float32Array(count));
    }
    return new HostOffload(o, params, state);
  }

  /** The outputs an applying run must read back: each gradient, and the clip scale. */
  get outputs(): string[] {
    return [...this.offload.params.map((p) => p.grad), ...(this.offload.clipScale ? [this.offload.clipScale] : [])];
  }

  /**
   * Updates every offloaded parameter and its state from an applying run's outputs;
   * returns the new parameters (the host copies themselves) to write to the device.
   */
  apply(outputs: Readonly<Record<string, Tensor>>, s: { readonly lr: number; readonly bc1?: number; readonly bc2?: number }): Map<string, Float32Array> {
    const cs = this.offload.clipScale;
    const scale = cs === undefined ? undefined : outputs[cs]!.data[0]!;
    const hp = this.offload.optimizer;
    for (const p of this.offload.params) {
      const grad = outputs[p.grad]?.data;
      if (!(grad instanceof Float32Array)) throw new Error(`the run did not read back '${p.grad}', the gradient of offloaded parameter '${p.param}'`);
      const param = this.params.get(p.param)!;
      const m = this.state.get(`opt.m.${p.param}`)!;
      const step = { ...s, ...(scale === undefined ? {} : { scale }) };
      if (hp.kind === 'adamw') adamwStep(param, grad, m, this.state.get(`opt.v.${p.param}`)!, hp, step, p.decay);
      else sgdStep(param, grad, m, hp, step, p.decay);
    }
    return this.params;
  }

  /**
   * Puts back optimizer state a checkpoint saved (`opt.m.<name>`, `opt.v.<name>`, whole
   * tensors). Throws naming the first missing or misshapen one.
   */
  restore(tensors: ReadonlyMap<string, Float32Array>): void {
    for (const [name, have] of this.state) {
      const t = tensors.get(name);
      if (!t) throw new Error(`no tensor '${name}' (host optimizer state of an offloaded parameter)`);
      if (t.length !== have.length) throw new Error(`tensor '${name}' has ${t.length} values; the host state needs ${have.length}`);
      have.set(t);
    }
  }
}

/** The optimizer-state names of an offloaded parameter, as the device would name them. */
export function stateNames(o: PlanOffload, param: string): string[] {
  return o.optimizer.kind === 'adamw' ? [`opt.m.${param}`, `opt.v.${param}`] : [`opt.m.${param}`];
}
