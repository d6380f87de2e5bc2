/// <reference types="@webgpu/types" />
import { checkInputs, checkParams, DeviceProgram, RuntimeError, timeLimitOf, type RunnerOptions, type Slot } from './executor.js';
import { DeviceRun, MeshRun, type PlanRun } from './generate-mesh.js';
import { StagedRun, type InferencePipeline } from './generate-pipeline.js';
import { initValues } from './init.js';
import { loadPlan } from './integrity.js';
import type { Plan, PlanBuffer } from './plan.js';
import { numel } from '../layout/mesh.js';

/**
 * Generation with a KV cache: the prefill plan runs once over the prompts (padded to the
 * cache's length) and fills the cache; the decode plan then runs once per new token, at
 * one position per sequence. Both plans live on one device and bind the same GPUBuffers
 * for the parameters they share, the cache included (DeviceProgram's `shared`), so the
 * cache never leaves the device. Plans partitioned over a mesh (tensor-parallel decoding,
 * the cache split with the heads) run on one device per mesh device, each holding its
 * block of the weights and of the cache for both plans (runtime/generate-mesh.ts). Plans
 * cut into pipeline stages run stage after stage, each stage on its devices with its
 * layers' weights and cache (runtime/generate-pipeline.ts). The compiler makes the plans
 * (driver/infer.ts).
 */

/** The two plans and what generation needs to know of them. */
export interface InferencePlans {
  /** The plans; with `pipeline`, stage 0's (`pipeline.stages` holds every stage's). */
  readonly prefill: Plan;
  readonly decode: Plan;
  /** Pipeline-parallel decoding: one prefill and one decode plan per stage. */
  readonly pipeline?: InferencePipeline;
  /** The cache's length: prompt and generated tokens together. */
  readonly maxSeq: number;
  /** Sequences decoded together. */
  readonly batch: number;
  readonly vocab: number;
  /** The token input's name (both plans), the decode plan's positions input, and the logits output. */
  readonly tokens: string;
  readonly positions: string;
  readonly logits: string;
  /**
   * `shape`: the whole entry; `block`: one device's block of it (the shape on a mesh; absent or equal on one device);
   * `stage`: with a pipeline, the stage whose devices hold it.
   */
  readonly cache: readonly {
    readonly k: string;
    readonly v: string;
    readonly shape: readonly number[];
    readonly block?: readonly number[];
    readonly stage?: number;
  }[];
  /** The infer section's generation settings. */
  readonly defaults: GenerateOptions;
}

export interface GenerateOptions {
  /** New tokens at most (default 20). Hugging Face's `max_new_tokens` is accepted too. */
  readonly maxNewTokens?: number;
  /** 0 (the default) is greedy: the most likely token each step. */
  readonly temperature?: number;
  /** Sample among the k most likely tokens only (0: all). */
  readonly topK?: number;
  /** Sample among the smallest set of most likely tokens whose probability reaches p (1: all). */
  readonly topP?: number;
  /** False: greedy whatever the temperature (Hugging Face's `do_sample`). */
  readonly doSample?: boolean;
  /** Token ids that end a sequence (the stop token is yielded, then the sequence ends). */
  readonly stop?: readonly number[];
  /** Seed of the sampler: the same seed, prompt and options give the same tokens. */
  readonly seed?: number;
}

/** Accepts Hugging Face's snake_case names beside the camelCase ones. */
export function generateOptions(o: GenerateOptions & Record<string, unknown>, defaults: GenerateOptions = {}): Required<Omit<GenerateOptions, 'doSample'>> {
  const pick = <T>(camel: keyof GenerateOptions, snake: string): T | undefined => (o[camel] ?? o[snake] ?? defaults[camel]) as T | undefined;
  const maxNewTokens = pick<number>('maxNewTokens', 'max_new_tokens') ?? 20;
  const doSample = pick<boolean>('doSample', 'do_sample');
  const temperature = doSample === false ? 0 : (pick<number>('temperature', 'temperature') ?? (doSample ? 1 : 0));
  const topK = pick<number>('topK', 'top_k') ?? 0;
  const topP = pick<number>('topP', 'top_p') ?? 1;
  const seed = pick<number>('seed', 'seed') ?? 0;
  const stop = pick<readonly number[]>('stop', 'stop') ?? [];
  if (!Number.isInteger(maxNewTokens) || maxNewTokens < 0) throw new RuntimeError(`maxNewTokens must be a non-negative integer, got ${String(maxNewTokens)}`);
  if (typeof temperature !== 'number' || !(temperature >= 0)) throw new RuntimeError(`temperature must be a number ≥ 0, got ${String(temperature)}`);
  if (!Number.isInteger(topK) || topK < 0) throw new RuntimeError(`topK must be a non-negative integer, got ${String(topK)}`);
  if (typeof topP !== 'number' || !(topP > 0 && topP <= 1)) throw new RuntimeError(`topP must be in (0, 1], got ${String(topP)}`);
  if (!Number.isInteger(seed)) throw new RuntimeError(`seed must be an integer, got ${String(seed)}`);
  if (!Array.isArray(stop) || stop.some((t) => !Number.isInteger(t))) throw new RuntimeError('stop must be an array of token ids');
  return { maxNewTokens, temperature, topK, topP, seed, stop };
}

/** A seeded generator of uniform numbers in [0, 1) (SplitMix32-style mixing; the same seed gives the same stream everywhere). */
export function seededUniform(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    z = (z ^ (z >>> 16)) >>> 0;
    return z / 4294967296;
  };
}

/**
 * The next token from one row of logits: the argmax (lowest id on ties) when greedy, else a
 * draw from softmax(logits / temperature) cut to the top k and then to the top-p nucleus.
 */
export function pickToken(logits: ArrayLike<number>, o: { temperature: number; topK: number; topP: number }, uniform: () => number): number {
  const n = logits.length;
  if (o.temperature === 0) {
    let best = 0;
    for (let i = 1; i < n; i++) if (logits[i]! > logits[best]!) best = i;
    return best;
  }
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => logits[b]! - logits[a]! || a - b);
  const keep = o.topK > 0 ? order.slice(0, o.topK) : order;
  const top = logits[keep[0]!]!;
  const w = keep.map((i) => Math.exp((logits[i]! - top) / o.temperature));
  const total = w.reduce((a, b) => a + b, 0);
  let cut = keep.length;
  if (o.topP < 1) {
    let acc = 0;
    for (let k = 0; k < keep.length; k++) {
      acc += w[k]! / total;
      if (acc >= o.topP) {
        cut = k + 1;
        break;
      }
    }
  }
  const mass = w.slice(0, cut).reduce((a, b) => a + b, 0);
  let r = uniform() * mass;
  for (let k = 0; k < cut; k++) {
    r -= w[k]!;
    if (r < 0) return keep[k]!;
  }
  return keep[cut - 1]!;
}

/** The prefill and decode plans on one device (or one per mesh device), sharing their parameters and cache. */
export class InferenceSession {
  private constructor(
    readonly plans: InferencePlans,
    private readonly prefillRun: PlanRun,
    private readonly decodeRun: PlanRun,
  ) {}

  /**
   * `opts.params`: the model's weights by name, whole (the cache starts at zero and is never
   * given). `devices`: one device, or for plans partitioned over a mesh one per mesh device.
   */
  static async create(devices: GPUDevice | readonly GPUDevice[], plans: InferencePlans, opts: RunnerOptions = {}): Promise<InferenceSession> {
    const pipe = plans.pipeline;
    const staged = pipe
      ? await Promise.all(
          pipe.stages.map(async (s) => ({ ...s, prefill: await loadPlan(s.prefill, opts.edited), decode: await loadPlan(s.decode, opts.edited) })),
        )
      : undefined;
    const prefill = staged ? staged[0]!.prefill : await loadPlan(plans.prefill, opts.edited);
    const decode = staged ? staged[0]!.decode : await loadPlan(plans.decode, opts.edited);
    const mesh = pipe ? pipe.mesh : prefill.mesh;
    if (JSON.stringify(prefill.mesh) !== JSON.stringify(decode.mesh))
      throw new RuntimeError('the prefill and decode plans are not partitioned over the same mesh');
    const list = Array.isArray(devices) ? (devices as readonly GPUDevice[]) : [devices as GPUDevice];
    if (list.length !== (mesh?.devices ?? 1))
      throw new RuntimeError(
        mesh
          ? `the inference plans are partitioned over ${mesh.devices} devices (${mesh.axes.map((a) => `${a.name}=${a.size}`).join(',')}), but ${list.length} were given`
          : `the inference plans run on one device, but ${list.length} were given`,
      );
    const cacheNames = new Set(plans.cache.flatMap((c) => [c.k, c.v]));
    const given = opts.params ? new Map([...opts.params].filter(([k]) => !cacheNames.has(k))) : undefined;
    const withCache = given ? { ...opts, params: given, initRest: true } : opts;
    const params = inferenceParams(staged ? { prefill, decode, pipeline: { ...pipe!, stages: staged } } : { prefill, decode });
    if (given) {
      // Every weight must be given; only the cache is initialised here.
      const missing = params.filter((b) => !cacheNames.has(b.name) && !given.has(b.name)).map((b) => b.name);
      if (missing.length && !opts.initRest) throw new RuntimeError(`missing parameter(s) ${missing.slice(0, 12).join(', ')} of ${prefill.model}`);
    }
    if (staged) {
      // checkParams per plan would call another stage's weights unknown.
      const known = new Set(params.map((b) => b.name));
      for (const k of given?.keys() ?? []) if (!known.has(k)) throw new RuntimeError(`unknown parameter '${k}' of ${prefill.model}`);
    } else checkParams(prefill, withCache);
    const seed = opts.seed ?? prefill.seed;
    // Whole values (a mesh slices them per device), made once per name: both plans and every device read the same.
    const made = new Map<string, Float32Array>();
    const values = (b: { name: string; shape: readonly number[]; global?: { shape: readonly number[] }; init?: Plan['buffers'][number]['init'] }) => {
      const shape = b.global?.shape ?? b.shape;
      const count = numel(shape);
      const v = given?.get(b.name);
      if (v && v.length !== count) throw new RuntimeError(`param '${b.name}' has ${v.length} values; its shape [${shape.join(', ')}] needs ${count}`);
      if (v) return v;
      if (!made.has(b.name)) made.set(b.name, initValues(b.init!, count, seed, b.name));
      return made.get(b.name)!;
    };
    const common = { arenas: opts.arenas !== false, timeLimitMs: timeLimitOf(opts) };
    const shared = list.map(() => new Map<string, Slot>());
    const make = async (plan: Plan, which: 'prefill' | 'decode'): Promise<PlanRun> =>
      staged
        ? StagedRun.create(
            list,
            pipe!,
            staged.map((s) => s[which]),
            values,
            shared,
            common,
          )
        : mesh
          ? MeshRun.create(list, plan, values, shared, common)
          : new DeviceRun(plan, await DeviceProgram.create(list[0]!, plan, values, { ...common, shared: shared[0]! }));
    const pp = await make(prefill, 'prefill');
    try {
      return new InferenceSession(
        { ...plans, prefill, decode, ...(staged ? { pipeline: { ...pipe!, stages: staged } } : {}) },
        pp,
        await make(decode, 'decode'),
      );
    } catch (e) {
      pp.destroy();
      throw e;
    }
  }

  /**
   * Replaces weights by name, whole (sliced per device on a mesh), in place: both plans read
   * them from the next prefill on. The KV cache is not a weight and cannot be written.
   * (RLHF's rollout, runtime/rlhf.ts, writes the actor's weights here after each update.)
   */
  writeParams(values: ReadonlyMap<string, Float32Array>): void {
    const cache = new Set(this.plans.cache.flatMap((c) => [c.k, c.v]));
    for (const [name, data] of values) {
      const b = inferenceParams(this.plans).find((x) => x.name === name);
      if (!b || cache.has(name)) throw new RuntimeError(`cannot write '${name}': ${this.plans.prefill.model} has no such weight`);
      const shape = b.global?.shape ?? b.shape;
      if (data.length !== numel(shape)) throw new RuntimeError(`cannot write '${name}': ${data.length} values for shape [${shape.join(', ')}]`);
      // The decode plan binds the same buffer (the session's shared slots); writing through both keeps that from mattering.
      this.prefillRun.writeParam(b, data);
      const d = this.plans.pipeline ? b : this.plans.decode.buffers.find((x) => x.role === 'param' && x.name === name);
      if (d) this.decodeRun.writeParam(d, data);
    }
  }

  /** Bytes of the KV cache (keys and values of every layer) on each device; with pipeline stages, on the devices of the stage holding most. */
  get cacheBytes(): number {
    const perStage = new Map<number, number>();
    for (const c of this.plans.cache) perStage.set(c.stage ?? 0, (perStage.get(c.stage ?? 0) ?? 0) + 2 * 4 * numel(c.block ?? c.shape));
    return Math.max(0, ...perStage.values());
  }

  /** Checks token ids and lengths; the error names the sequence and the position. */
  private checkPrompts(prompts: readonly (readonly number[])[]): void {
    const { batch, maxSeq, vocab } = this.plans;
    if (!Array.isArray(prompts) || prompts.length < 1 || prompts.length > batch)
      throw new RuntimeError(
        `expected 1 to ${batch} prompts (the plans decode ${batch} sequences at once), got ${Array.isArray(prompts) ? prompts.length : typeof prompts}`,
      );
    prompts.forEach((p, s) => {
      if (!Array.isArray(p) || p.length === 0) throw new RuntimeError(`prompt ${s} is empty: generation needs at least one token`);
      if (p.length > maxSeq) throw new RuntimeError(`prompt ${s} has ${p.length} tokens, more than max_seq = ${maxSeq} (the KV cache's length)`);
      p.forEach((t, i) => {
        if (!Number.isInteger(t) || t < 0 || t >= vocab)
          throw new RuntimeError(`prompt ${s} token ${i} is ${String(t)}, outside the vocabulary 0..${vocab - 1}`);
      });
    });
  }

  /** Runs the prefill over the prompts (each padded to max_seq) and returns all logits [batch, max_seq, vocab]; fills the cache. */
  async prefill(prompts: readonly (readonly number[])[]): Promise<Float32Array> {
    this.checkPrompts(prompts);
    const { batch, maxSeq } = this.plans;
    const tokens = new Int32Array(batch * maxSeq);
    prompts.forEach((p, s) => tokens.set(p, s * maxSeq));
    return this.runPlan(this.prefillRun, this.plans.prefill, { [this.plans.tokens]: tokens });
  }

  /** One decode step: token `tokens[b]` at position `positions[b]` of each sequence; returns logits [batch, vocab] and writes the cache. */
  async step(tokens: Int32Array, positions: Int32Array): Promise<Float32Array> {
    const { batch, maxSeq } = this.plans;
    if (tokens.length !== batch || positions.length !== batch) throw new RuntimeError(`a decode step takes ${batch} tokens and ${batch} positions`);
    positions.forEach((p, b) => {
      if (!(p >= 0 && p < maxSeq)) throw new RuntimeError(`sequence ${b} is at position ${p}, outside the KV cache's 0..${maxSeq - 1}`);
    });
    return this.runPlan(this.decodeRun, this.plans.decode, { [this.plans.tokens]: tokens, [this.plans.positions]: positions });
  }

  private async runPlan(run: PlanRun, plan: Plan, inputs: Record<string, Int32Array>): Promise<Float32Array> {
    // A pipeline's `plan` is stage 0's, which may not read every input (the positions); the stages after it check what they read.
    const mine = this.plans.pipeline ? Object.fromEntries(Object.entries(inputs).filter(([k]) => plan.inputs.some((io) => io.name === k))) : inputs;
    checkInputs(plan, mine, (io) => io.global?.shape ?? io.shape);
    return run.run(inputs, this.plans.logits);
  }

  /**
   * Generates for up to `batch` prompts of any lengths together, yielding each step's new
   * token per sequence (undefined once a sequence has ended: a stop token, its
   * maxNewTokens, or the cache's end).
   */
  async *generateBatch(prompts: readonly (readonly number[])[], options: GenerateOptions = {}): AsyncGenerator<(number | undefined)[]> {
    const o = generateOptions(options as GenerateOptions & Record<string, unknown>, this.plans.defaults);
    const { batch, maxSeq, vocab } = this.plans;
    const all = await this.prefill(prompts);
    const uniform = seededUniform(o.seed);
    const n = prompts.length;
    const pos = prompts.map((p) => p.length);
    const done = prompts.map(() => o.maxNewTokens === 0);
    const stops = new Set(o.stop);
    let logits = prompts.map((p, s) => all.subarray((s * maxSeq + p.length - 1) * vocab, (s * maxSeq + p.length) * vocab));
    const last = new Int32Array(batch);
    const at = new Int32Array(batch);
    for (let made = 0; done.some((d) => !d); made++) {
      const out: (number | undefined)[] = [];
      for (let s = 0; s < n; s++) {
        if (done[s]) {
          out.push(undefined);
          continue;
        }
        const t = pickToken(logits[s]!, o, uniform);
        out.push(t);
        last[s] = t;
        at[s] = pos[s]!;
        if (stops.has(t) || made + 1 >= o.maxNewTokens || pos[s]! >= maxSeq) done[s] = true;
        pos[s]!++;
      }
      yield out;
      if (done.every((d) => d)) break;
      // Ended sequences (and unused rows) repeat a position they own, which changes nothing they read.
      for (let s = 0; s < batch; s++) at[s] = s < n ? Math.min(at[s]!, maxSeq - 1) : 0;
      const step = await this.step(last, at);
      logits = Array.from({ length: n }, (_, s) => step.subarray(s * vocab, (s + 1) * vocab));
    }
  }

  /** Streams the new token ids of one prompt. */
  async *generate(prompt: readonly number[], options: GenerateOptions = {}): AsyncGenerator<number> {
    for await (const step of this.generateBatch([prompt], options)) if (step[0] !== undefined) yield step[0];
  }

  destroy(): void {
    this.prefillRun.destroy();
    this.decodeRun.destroy();
  }
}

/** Every weight and cache buffer of the plans, once per name (with pipeline stages, each stage's). */
export function inferenceParams(plans: Pick<InferencePlans, 'prefill' | 'decode' | 'pipeline'>): PlanBuffer[] {
  const plansOf = plans.pipeline ? plans.pipeline.stages.flatMap((s) => [s.prefill, s.decode]) : [plans.prefill, plans.decode];
  const out = new Map<string, PlanBuffer>();
  for (const p of plansOf) for (const b of p.buffers) if (b.role === 'param' && !out.has(b.name)) out.set(b.name, b);
  return [...out.values()];
}
