/// <reference types="@webgpu/types" />
/**
 * Numerical tests on WebGPU: one shared device per test file, a `runBoth` that runs a
 * model source on the device and on the CPU oracle with the same inputs and parameters,
 * and the error measures the tests assert on.
 *
 * Vitest gives each test file its own module graph, so the cached device below is
 * "one device per file": never create another one in a test.
 */
import { describe, it } from 'vitest';
import type { KernelTarget } from '../../codegen/kernels/kernel.js';
import { planOf } from '../../driver/stages.js';
import { lower, type FrontendOptions } from '../../compiler/compile.js';
import type { Graph } from '../../compiler/ir.js';
import { interpret } from '../../compiler/reference/interpret.js';
import type { RefTensor } from '../../compiler/ops/tensor.js';
import { initValues, PlanRunner, randomInput, type HostArray, type Plan, type PlanInit, type Tensor } from '../../runtime/index.js';
import { adapterSubgroupSize, describeAdapter, nodeGPU, requestDevice } from '../../runtime/node.js';
import { UNDER_CI } from './ci.js';

/** Under CI a missing adapter is a failure, never a skip: a green CI must mean the kernels ran. */
export const GPU_REQUIRED = UNDER_CI;

export interface GpuStatus {
  /** True only when there is no adapter and we are not under CI. */
  readonly skip: boolean;
  /** The adapter's description, or why there is none. */
  readonly detail: string;
  /** A suite title that says why it was skipped, when it is. */
  title(name: string): string;
}

/**
 * The `GPU` instance is held here for the file's lifetime: Dawn aborts at a random later
 * dispatch when the garbage collector frees the instance under a live device.
 */
let adapterPromise: Promise<{ gpu?: GPU; adapter?: GPUAdapter; reason?: string }> | undefined;
let devicePromise: Promise<GPUDevice> | undefined;

function findAdapter() {
  adapterPromise ??= (async () => {
    try {
      const gpu = await nodeGPU();
      const adapter = await gpu.requestAdapter();
      return adapter ? { gpu, adapter } : { gpu, reason: 'requestAdapter() returned null (no Vulkan driver? run scripts/ensure-vulkan.sh)' };
    } catch (e) {
      return { reason: `the webgpu package failed to load: ${(e as Error).message}` };
    }
  })();
  return adapterPromise;
}

/** Probes for an adapter once per file; call at the top level to decide skip-or-run. */
export async function gpuStatus(): Promise<GpuStatus> {
  const { adapter, reason } = await findAdapter();
  const skip = !adapter && !GPU_REQUIRED;
  const detail = adapter ? describeAdapter(adapter) : reason!;
  return { skip, detail, title: (name) => (skip ? `${name} [SKIPPED: no WebGPU adapter: ${detail}]` : name) };
}

/** Adapter features that decide which kernels a suite can run. */
export type AdapterFeature = 'shader-f16' | 'subgroups';

export interface FeatureStatus {
  readonly feature: AdapterFeature;
  /** The adapter offers the feature (for `subgroups`: with one fixed lane count, which codegen needs). */
  readonly has: boolean;
  /** True only when the feature (or the adapter) is missing and we are not under CI. */
  readonly skip: boolean;
  /** Why the feature is missing, or the adapter's description. */
  readonly detail: string;
}

/** Probes the file's adapter for `feature`; call at the top level and pass the result to `describeWithFeature`. */
export async function featureStatus(feature: AdapterFeature): Promise<FeatureStatus> {
  const { adapter, reason } = await findAdapter();
  const has = !!adapter && (feature === 'subgroups' ? adapterSubgroupSize(adapter) !== undefined : adapter.features.has(feature));
  const detail = !adapter
    ? `no WebGPU adapter: ${reason}`
    : has
      ? describeAdapter(adapter)
      : `${describeAdapter(adapter)} does not offer '${feature}'${feature === 'subgroups' && adapter.features.has('subgroups') ? ' with a fixed subgroup size' : ''}`;
  return { feature, has, skip: !has && !GPU_REQUIRED, detail };
}

/**
 * The one gate for suites that need an adapter feature. With the feature: `describe(name, body)`.
 * Without it: skipped (the title says why) outside CI; under CI the body is replaced by one
 * failing test that names the missing feature, so a green CI means the feature's kernels ran.
 */
export function describeWithFeature(status: FeatureStatus, name: string, body: () => void): void {
  if (status.has) describe(name, body);
  else if (status.skip) describe.skip(`${name} [SKIPPED: ${status.detail}]`, body);
  else {
    describe(name, () => {
      it(`needs the adapter feature '${status.feature}' (CI=${process.env['CI']}: a missing feature fails, it does not skip)`, () => {
        throw new Error(`missing adapter feature '${status.feature}': ${status.detail}`);
      });
    });
  }
}

/** The codegen target of the file's adapter: its subgroup size when it offers subgroups (portable when there is no adapter). */
export async function adapterTarget(): Promise<KernelTarget> {
  const { adapter } = await findAdapter();
  const subgroupSize = adapter ? adapterSubgroupSize(adapter) : undefined;
  return { ...(subgroupSize ? { subgroupSize } : {}), ...(adapter?.features.has('shader-f16') ? { shaderF16: true } : {}) };
}

/** The file's one device. Throws (so every test fails) when there is no adapter. */
export function sharedDevice(): Promise<GPUDevice> {
  devicePromise ??= (async () => {
    const { adapter, reason } = await findAdapter();
    if (!adapter) throw new Error(`no WebGPU adapter${GPU_REQUIRED ? ' and CI=true requires one' : ''}: ${reason}`);
    return requestDevice(adapter);
  })();
  return devicePromise;
}

let devicesPromise: Promise<GPUDevice[]> | undefined;

/**
 * The file's device set for partitioned plans: the shared device first, then more from
 * the same instance and physical adapter (each through its own adapter object, since an
 * adapter makes only one device). Grows on demand; returns the first `n`.
 */
export function sharedDevices(n: number): Promise<GPUDevice[]> {
  const prev = devicesPromise;
  devicesPromise = (async () => {
    const have = prev ? await prev : [await sharedDevice()];
    const { gpu } = await findAdapter();
    while (have.length < n) {
      const adapter = await gpu!.requestAdapter();
      if (!adapter) throw new Error(`requestAdapter() returned null for device ${have.length}`);
      have.push(await requestDevice(adapter));
    }
    return have;
  })();
  return devicesPromise.then((d) => d.slice(0, n));
}

/** Destroys the file's devices (call in afterAll); the adapter and GPU instance stay cached. */
export async function destroySharedDevices(): Promise<void> {
  const all = devicesPromise ? await devicesPromise : devicePromise ? [await devicePromise] : [];
  for (const d of all) d.destroy();
  devicesPromise = undefined;
  devicePromise = undefined;
}

// ---------------------------------------------------------------- running a model on both

export interface RunOptions extends FrontendOptions {
  /** Plan seed: parameters are initialised from it and their names. */
  readonly seed?: number;
  /** Inputs by name; inputs not given are seeded random (floats in [-1, 1), ints in [0, max)). */
  readonly inputs?: Readonly<Record<string, HostArray>>;
  /** Seed for the random inputs. */
  readonly inputSeed?: number;
  /**
   * Parameter values to use instead of the initialisers (given to both sides), e.g. to make
   * zero-initialised biases non-zero so that adding them is actually checked.
   */
  readonly params?: (name: string, count: number, init: PlanInit) => Float32Array | undefined;
  /** The codegen target (subgroups, forced or tuned tile configurations); default: the portable one. */
  readonly target?: KernelTarget;
  /** Fuse before code generation (buildPlan's default, true); false: one kernel per op. */
  readonly fuse?: boolean;
}

export interface BothResult {
  readonly graph: Graph;
  readonly plan: Plan;
  readonly inputs: Readonly<Record<string, HostArray>>;
  /** The parameter values both sides used, by name. */
  readonly params: ReadonlyMap<string, Float32Array>;
  readonly gpu: Readonly<Record<string, Tensor>>;
  readonly cpu: Readonly<Record<string, RefTensor>>;
  /** Wall time of the GPU side (pipeline creation + one run), for budgeting the suite. */
  readonly gpuMs: number;
}

const count = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/** Compiles `source`, fails loudly on any diagnostic. */
export function compileOrThrow(source: string, opts: FrontendOptions = {}): Graph {
  const r = lower(source, 'test.model', opts);
  if (!r.graph) {
    const ds = r.diagnostics.map((d) => `  ${d.span.line}:${d.span.col} ${d.code} ${d.message}`).join('\n');
    throw new Error(`model does not compile:\n${ds}\n--- source ---\n${source}`);
  }
  return r.graph;
}

/**
 * lower → buildPlan (fused unless `fuse: false`) → PlanRunner on the shared device, and
 * the CPU oracle on the same (unfused) graph and inputs, with parameters from
 * `initValues(init, count, plan.seed, name)`: exactly the values the runner uploads.
 */
export async function runBoth(source: string, opts: RunOptions = {}): Promise<BothResult> {
  const { seed, inputSeed, inputs, params, target, fuse, ...frontend } = opts;
  return runGraphBoth(compileOrThrow(source, frontend), { seed, inputSeed, inputs, params, target, fuse });
}

/** `runBoth` for a graph built directly (ops the surface language cannot reach). */
export async function runGraphBoth(
  graph: Graph,
  opts: Pick<RunOptions, 'seed' | 'inputSeed' | 'inputs' | 'params' | 'target' | 'fuse'> = {},
): Promise<BothResult> {
  const { plan, inputs, params, overridden } = prepareRun(graph, opts);
  const device = await sharedDevice();
  const t0 = performance.now();
  // Parameters not overridden are initialised by the runner itself from the plan's seed:
  // that the oracle's `initValues` copy agrees with it is part of what is tested.
  const runner = await PlanRunner.create(device, plan, { params: overridden, initRest: true });
  let gpu: Record<string, Tensor>;
  try {
    gpu = await runner.run(inputs);
  } finally {
    runner.destroy();
  }
  const gpuMs = performance.now() - t0;
  const cpu = interpret(graph, inputs, (name) => params.get(name)!);
  return { graph, plan, inputs, params, gpu, cpu, gpuMs };
}

/** What `runBoth` gives without the device: the plan, inputs and parameters, and the CPU oracle's outputs. */
export type OracleResult = Omit<BothResult, 'gpu' | 'gpuMs'>;

/**
 * The CPU oracle alone, on exactly the inputs and parameters `runBoth` with the same
 * options would use (no adapter needed: the plan is only compiled, for its inputs and
 * parameter initialisers).
 */
export function runOracle(source: string, opts: Omit<RunOptions, 'target'> = {}): OracleResult {
  const { seed, inputSeed, inputs: given, params: override, fuse, ...frontend } = opts;
  const graph = compileOrThrow(source, frontend);
  const { plan, inputs, params } = prepareRun(graph, { seed, inputSeed, inputs: given, params: override, fuse });
  return { graph, plan, inputs, params, cpu: interpret(graph, inputs, (name) => params.get(name)!) };
}

/** The plan of `graph`, its inputs (given or seeded) and its parameters (overridden or from the plan's seed). */
function prepareRun(graph: Graph, opts: Pick<RunOptions, 'seed' | 'inputSeed' | 'inputs' | 'params' | 'target' | 'fuse'>) {
  const { seed = 7, inputSeed = 11, inputs: given = {}, params: override } = opts;
  const plan = planOf(graph, { seed, verify: true, ...(opts.target ? { target: opts.target } : {}), ...(opts.fuse === false ? { fuse: false } : {}) });
  const inputs: Record<string, HostArray> = {};
  for (const io of plan.inputs) {
    const type = plan.buffers[io.buffer]!.type;
    inputs[io.name] = given[io.name] ?? randomInput(type, count(io.shape), inputSeed, io.name, io.max ?? 2);
  }
  const params = new Map<string, Float32Array>();
  const overridden = new Map<string, Float32Array>();
  for (const b of plan.buffers) {
    if (b.role !== 'param') continue;
    const mine = override?.(b.name, count(b.shape), b.init!);
    if (mine) overridden.set(b.name, mine);
    params.set(b.name, mine ?? initValues(b.init!, count(b.shape), plan.seed, b.name));
  }
  return { plan, inputs, params, overridden };
}

/** Seeded uniform f32 values in [lo, hi) for hand-made inputs. */
export function uniformF32(n: number, lo: number, hi: number, seed: number): Float32Array {
  return initValues({ kind: 'uniform', low: lo, high: hi }, n, seed, `uniform:${lo}:${hi}`);
}

/** Seeded integers in [lo, hi] for hand-made inputs. */
export function uniformI32(n: number, lo: number, hi: number, seed: number): Int32Array {
  const u = initValues({ kind: 'uniform', low: 0, high: 1 }, n, seed, `int:${lo}:${hi}`);
  return Int32Array.from(u, (x) => Math.min(hi, lo + Math.floor(x * (hi - lo + 1))));
}

// ---------------------------------------------------------------- error measures

export interface ErrorStats {
  /**
   * ‖gpu − cpu‖₂ / ‖cpu‖₂ (the absolute norm when ‖cpu‖₂ = 0). NaN when either side has a
   * NaN/±∞ and the comparison does not expect them; with `nonFinite: 'expected'`, over the
   * positions finite on both sides, and NaN again when any position is not the oracle's
   * non-finite value (NaN where it has NaN, the same infinity where it has one), so a
   * tolerance check alone already fails on them.
   */
  readonly rel: number;
  /** max |gpu − cpu|, NaN or over finite positions as `rel`. */
  readonly maxAbs: number;
  /** Positions where either side is NaN/±∞. */
  readonly nonFinite: number;
  /** Positions where one side is NaN/±∞ and the other is not the same non-finite value. */
  readonly nonFiniteMismatches: number;
  readonly count: number;
}

export interface CompareOptions {
  /**
   * 'expected': the case is about NaN/±∞ (a sqrt of negatives, an infinite operand), so
   * they are compared position by position and left out of `rel`. By default any NaN/±∞ on
   * either side makes `rel` and `maxAbs` NaN, so that no tolerance check can pass on them
   * (all-NaN against all-NaN would otherwise have no finite position to disagree on).
   */
  readonly nonFinite?: 'expected';
}

/** Relative L2 and max-abs error of `actual` against the float64 oracle `expected`. */
export function errorStats(actual: ArrayLike<number>, expected: ArrayLike<number>, opts: CompareOptions = {}): ErrorStats {
  if (actual.length !== expected.length) throw new Error(`length mismatch: ${actual.length} vs ${expected.length}`);
  let num = 0;
  let den = 0;
  let maxAbs = 0;
  let nonFinite = 0;
  let bad = 0;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    if (!Number.isFinite(e) || !Number.isFinite(a)) {
      nonFinite++;
      if (!(a === e || (Number.isNaN(a) && Number.isNaN(e)))) bad++;
      continue;
    }
    const d = a - e;
    num += d * d;
    den += e * e;
    maxAbs = Math.max(maxAbs, Math.abs(d));
  }
  const rel = den > 0 ? Math.sqrt(num / den) : Math.sqrt(num);
  const poisoned = bad > 0 || (nonFinite > 0 && opts.nonFinite !== 'expected');
  return { rel: poisoned ? NaN : rel, maxAbs: poisoned ? NaN : maxAbs, nonFinite, nonFiniteMismatches: bad, count: expected.length };
}

/** Per-output error stats of a `runBoth` result (shapes checked too). */
export function compareOutputs(r: BothResult, opts: CompareOptions = {}): Record<string, ErrorStats> {
  const out: Record<string, ErrorStats> = {};
  for (const [name, t] of Object.entries(r.cpu)) {
    const g = r.gpu[name];
    if (!g) throw new Error(`GPU run has no output '${name}'`);
    if (g.shape.join(',') !== t.shape.join(',')) throw new Error(`output '${name}': GPU shape [${g.shape}] vs CPU [${t.shape}]`);
    out[name] = errorStats(g.data, t.data, opts);
  }
  return out;
}

/** The tests' seeded generator, here too for the GPU tests that pick shapes with it. */
export { seededRandom } from './random.js';
