import type { Graph } from '../compiler/ir.js';
import { alignUp, DEFAULT_MAX_ARENA_BYTES } from '../compiler/memory/arena.js';
import { planMemory, type MemoryPlan, type MemoryPlanOptions } from '../compiler/memory/plan.js';
import type { SpmdProgram } from '../compiler/sharding/partition.js';
import { shapeOf as globalShapeOf } from '../compiler/sharding/mesh.js';
import {
  ARENA_ALIGNMENT,
  bindingWindows,
  bufferBytes,
  DEFAULT_MAX_BINDING_BYTES,
  COLLECTIVE_OPS,
  PLAN_FORMAT,
  PLAN_VERSION,
  PLAN_VERSION_COORDS,
  PLAN_VERSION_WINDOWS,
  type BindingWindow,
  type CollectiveOp,
  type Plan,
  type PlanBuffer,
  type PlanGlobal,
  type PlanIO,
  type PlanKernel,
  type PlanOffload,
  type PlanStep,
} from '../runtime/plan.js';
import { KERNELS, storesHalf } from './kernels/index.js';
import { kvWriteInPlaceKernel } from './kernels/decode.js';
import { inPlaceWrites } from './in-place.js';
import { seal } from './seal.js';
import { BindingCountError, MESH_COORDS, meshCoordsValue, shapeOf, storageOf, type KernelSpec, type KernelTarget } from './kernels/kernel.js';
import { numel } from '../layout/mesh.js';

export interface PlanOptions {
  readonly seed?: number;
  readonly source?: string;
  /**
   * What the kernels may assume about the device (subgroups) and tuned tile choices.
   * Absent: the portable defaults, so the same graph always gives the same plan.
   */
  readonly target?: KernelTarget;
  /** Training plans: outputs copied over parameters after each run. */
  readonly updates?: readonly { readonly output: string; readonly param: string }[];
  /** Training plans: the update of `@offload(host)` parameters, which the host computes. */
  readonly offload?: PlanOffload;
  /**
   * Where activations and outputs live (global memory reuse): the memory stage's plan,
   * which the driver makes with `memoryPlanFor(graph, opts, spmd)` (codegen runs no
   * compiler pass itself); it must be that one (same sizes, same values kept out).
   * `false`: no arenas, a buffer per value (tests compare the two). Required.
   */
  readonly memory?: MemoryPlan | false;
  /**
   * The largest arena, in bytes. Default 128 MiB: WebGPU's default maxStorageBufferBindingSize
   * (and llvmpipe's), under its default maxBufferSize, so every device can allocate each
   * arena and bind any range of it. A value larger than this keeps a buffer of its own.
   */
  readonly maxArenaBytes?: number;
}

const isCollective = (op: string): op is CollectiveOp => (COLLECTIVE_OPS as readonly string[]).includes(op);

/**
 * The optimized graph (driver/compile.ts runs the passes) → runtime plan: a buffer per
 * value (reshapes alias their input), activations and outputs placed in arenas by the
 * memory plan (`opts.memory`), a kernel per node (identical WGSL shared), steps in
 * topological order. With the SPMD program the graph was optimized from
 * (compiler/sharding/partition.ts), a partitioned plan that every device of the mesh
 * runs on its own blocks (and its own arenas): buffers have local shapes, collective nodes
 * become collective steps, and inputs, parameters and outputs carry their global shape
 * and layout so that the runtime slices whole values for each device and assembles
 * outputs. `optimized.origin` maps each value to its id in `spmd.local`, by which the
 * program's global types and layouts are keyed.
 */
export function emitPlan(optimized: { readonly graph: Graph; readonly origin: readonly number[] }, spmd?: SpmdProgram, opts: PlanOptions = {}): Plan {
  return build(optimized.graph, opts, spmd, (id) => optimized.origin[id]!);
}

/** The values a plan stores as f16 (none without shader-f16, and none in a partitioned plan). */
const halfValues = (g: Graph, opts: PlanOptions, spmd: boolean): Set<number> =>
  opts.target?.shaderF16 && !spmd ? f16Values(g, opts.updates) : new Set<number>();

/**
 * The memory plan's options as codegen stores values: each value's bytes as its plan
 * buffer has them (f16 storage included); activations and outputs in the arena, outputs
 * whole to the end of the run (read back, and copied over parameters by updates);
 * inputs, parameters and constants in buffers of their own (the host writes inputs
 * every run and keeps parameters and constants across runs). Kept out as well, in
 * buffers of their own: a value larger than an arena (a device with a larger binding
 * limit runs it), and a value some node reads twice (`attention(q, k, k)`, `x @ w + x`):
 * its kernel binds it twice, and WebGPU refuses two writable bindings of one range,
 * while every arena binding must be writable (KernelTarget.arenaValues: the printer declares them read_write).
 */
export function memoryOptionsFor(g: Graph, opts: Pick<PlanOptions, 'target' | 'updates' | 'maxArenaBytes'> = {}, spmd = false): MemoryPlanOptions {
  const half = halfValues(g, opts, spmd);
  const maxArenaBytes = opts.maxArenaBytes ?? DEFAULT_MAX_ARENA_BYTES;
  const bytesOf = (id: number) => bufferBytes(half.has(id) ? 'f16' : 'f32', numel(shapeOf(g.values[id]!)));
  const out = new Set(g.values.filter((v) => alignUp(bytesOf(v.id), ARENA_ALIGNMENT) > maxArenaBytes).map((v) => v.id));
  // Read twice by one node, directly or through reshapes (views of the same bytes).
  const root = new Map<number, number>();
  const rootOf = (id: number) => root.get(id) ?? id;
  for (const n of g.nodes) {
    if (n.op === 'reshape') root.set(n.outputs[0]!, rootOf(n.inputs[0]!));
    const seen = new Set<number>();
    for (const r of n.inputs.map(rootOf)) (seen.has(r) ? out : seen).add(r);
  }
  // A kv_write run in place writes its cache parameter's buffer, not an arena range of its own.
  for (const w of inPlaceWrites(g, opts.updates)) out.add(w.output);
  return {
    inputs: 'external',
    params: 'external',
    consts: 'external',
    outputs: 'step',
    alignment: ARENA_ALIGNMENT,
    maxArenaBytes,
    bytesOf: (v) => bytesOf(v.id),
    ...(out.size ? { externalValues: out } : {}),
  };
}

/** The memory plan codegen places activations and outputs by (driver/compile.ts's memory stage). */
export function memoryPlanFor(g: Graph, opts: Pick<PlanOptions, 'target' | 'updates' | 'maxArenaBytes'> = {}, spmd = false): MemoryPlan {
  return planMemory(g, memoryOptionsFor(g, opts, spmd));
}

/**
 * The values to store as f16 on a target with shader-f16: f16 tensors produced (or, for
 * inputs and parameters, given) and consumed only by kernels that convert f16 storage
 * (matmuls, element-wise ops and fused bodies, the row kernels of norms, softmax and
 * last-axis reductions, attention, embedding, transpose, slice, concat: storesHalf). The
 * host still passes and reads f32: the runner converts inputs and parameters as it
 * uploads them and outputs as it reads them. A training step's updates copy bytes, so
 * neither side of one is f16 (`updates`). Other f16 tensors stay f32 on the device,
 * holding more precision than their type promises.
 */
export function f16Values(g: Graph, updates: readonly { readonly output: string; readonly param: string }[] = []): Set<number> {
  const ok = new Set<number>();
  const kir = g.nodes.map((n) => storesHalf(n, g));
  const updated = new Set(updates.map((u) => u.param));
  for (const v of g.values) if ((v.kind === 'input' || (v.kind === 'param' && !updated.has(v.name!))) && v.type.dtype === 'f16') ok.add(v.id);
  for (const n of g.nodes) {
    if (!kir[n.id]) continue;
    for (const o of n.outputs) if (g.values[o]!.type.dtype === 'f16') ok.add(o);
  }
  const updateSources = new Set(updates.map((u) => u.output));
  g.outputs.forEach((o, i) => {
    if (updateSources.has(g.outputNames[i]!)) ok.delete(o);
  });
  for (const n of g.nodes) if (!kir[n.id]) for (const i of n.inputs) ok.delete(i);
  return ok;
}

function build(g: Graph, opts: PlanOptions, spmd?: SpmdProgram, originOf: (valueId: number) => number = (id) => id): Plan {
  const half = halfValues(g, opts, !!spmd);
  if (opts.memory === undefined) throw new Error("emitPlan needs the memory stage's plan (driver/stages.ts makes it with memoryPlanFor), or memory: false");
  const memory = opts.memory === false ? undefined : opts.memory;
  const windowed = windowedValues(g, half, opts.target?.maxBindingBytes ?? DEFAULT_MAX_BINDING_BYTES);
  const target: KernelTarget = {
    ...opts.target,
    ...(half.size ? { f16Values: half } : {}),
    ...(windowed.size ? { windowed } : {}),
    ...(memory ? { arenaValues: new Set(memory.bufferOf.keys()) } : {}),
    ...(spmd ? { spmd: { axes: spmd.mesh.axes, globalOf: (id: number) => globalOf(id)! } } : {}),
  };
  function globalOf(id: number): PlanGlobal | undefined {
    if (!spmd) return undefined;
    const valueId = originOf(id);
    const shape = globalShapeOf(spmd.globalTypes[valueId]!);
    const l = spmd.layouts[valueId]!;
    return { shape, layout: { axes: shape.map((_, d) => [...(l.axes[d] ?? [])]), partial: [...l.partial] } };
  }
  const bufferOf = new Map<number, number>();
  const buffers: PlanBuffer[] = [];
  // The device's mesh coordinates (kernels/kernel.ts MESH_COORDS): a buffer made when a kernel first binds them.
  const valueOf = (id: number) => (id === MESH_COORDS ? meshCoordsValue(spmd!.mesh.axes.length) : g.values[id]!);
  const bufferFor = (id: number): number => {
    if (id !== MESH_COORDS || bufferOf.has(id)) return bufferOf.get(id)!;
    const shape = [spmd!.mesh.axes.length];
    buffers.push({ id: buffers.length, name: 'mesh_coords', role: 'coords', type: 'i32', dtype: 'i32', shape, bytes: bufferBytes('i32', shape[0]!) });
    bufferOf.set(id, buffers.length - 1);
    return buffers.length - 1;
  };
  const outputSet = new Set(g.outputs);
  // kv_writes whose output is their cache parameter's buffer (codegen/in-place.ts); a windowed cache keeps the copy.
  const inPlace = new Map(
    inPlaceWrites(g, opts.updates)
      .filter((w) => !windowed.has(w.param) && !windowed.has(w.output))
      .map((w) => [w.node, w]),
  );
  const dropped = new Set([...inPlace.values()].map((w) => w.update));
  const updates = (opts.updates ?? []).filter((u) => !dropped.has(u.output));
  // The memory plan must be the one codegen would make: every activation and output placed
  // with exactly its buffer's bytes, nothing else placed.
  const placementOf = (valueId: number, role: PlanBuffer['role'], bytes: number) => {
    const i = memory?.bufferOf.get(valueId);
    const kept = role === 'input' || role === 'param' || role === 'const';
    if (i === undefined || !memory) return undefined;
    const p = memory.buffers[i]!;
    if (kept || p.value !== valueId || p.bytes !== bytes || p.offset % ARENA_ALIGNMENT !== 0) {
      throw new Error(
        `the memory plan does not fit this plan at value ${valueId} (${p.name}: ` +
          `${kept ? `a ${role} is not placed` : `${p.bytes} bytes at ${p.offset}, the buffer has ${bytes}`}): make it with memoryPlanFor and the same options`,
      );
    }
    return p;
  };
  const addBuffer = (valueId: number, role: PlanBuffer['role'], name: string) => {
    const v = g.values[valueId]!;
    const shape = shapeOf(v);
    const f16 = half.has(valueId);
    const bytes = bufferBytes(f16 ? 'f16' : 'f32', numel(shape));
    const place = placementOf(valueId, role, bytes);
    const b: PlanBuffer = {
      id: buffers.length,
      name,
      role,
      type: f16 ? 'f16' : storageOf(v),
      dtype: v.type.dtype,
      shape,
      bytes,
      ...(v.init ? { init: v.init } : {}),
      ...(v.scalar !== undefined ? { value: v.scalar } : {}),
      ...(spmd && role === 'param' ? { global: globalOf(valueId) } : {}),
      ...(place ? { arena: place.arena, offset: place.offset } : {}),
    };
    buffers.push(b);
    bufferOf.set(valueId, b.id);
    return b.id;
  };
  for (const v of g.values) {
    if (v.kind === 'input') addBuffer(v.id, 'input', v.name!);
    else if (v.kind === 'param') addBuffer(v.id, 'param', v.name!);
    else if (v.kind === 'const') addBuffer(v.id, 'const', `const${v.id}`);
  }

  const kernels: PlanKernel[] = [];
  const features = new Set<string>();
  const kernelByText = new Map<string, number>();
  const steps: PlanStep[] = [];
  for (const n of g.nodes) {
    if (n.op === 'reshape') {
      bufferOf.set(n.outputs[0]!, bufferOf.get(n.inputs[0]!)!);
      continue;
    }
    const written = inPlace.get(n.id);
    if (written) bufferOf.set(written.output, bufferOf.get(written.param)!);
    else
      n.outputs.forEach((o, k) => {
        const idx = g.outputs.indexOf(o);
        // A fused node's outputs are named by the op whose value each one is.
        const op = n.body ? n.body.steps[n.body.outputs[k]!]!.op : n.op;
        // Outputs after a node's first are numbered: a buffer's name is unique in the plan.
        const name = `${n.scope ? n.scope + '/' : ''}${op}${n.id}${k ? `:${k}` : ''}`;
        addBuffer(o, outputSet.has(o) ? 'output' : 'activation', idx >= 0 ? g.outputNames[idx]! : name);
      });
    if (isCollective(n.op)) {
      if (!spmd) throw new Error(`the graph has a collective '${n.op}': build its plan with buildSpmdPlan`);
      const dim = n.attrs['dim'] as number | undefined;
      const to = n.attrs['to'] as number | undefined;
      steps.push({
        kind: 'collective',
        op: n.op,
        axis: n.attrs['axis'] as string,
        ...(dim !== undefined ? { dim } : {}),
        ...(to !== undefined ? { to } : {}),
        input: bufferOf.get(n.inputs[0]!)!,
        output: bufferOf.get(n.outputs[0]!)!,
        shape: shapeOf(g.values[n.inputs[0]!]!),
        scope: n.scope,
        line: n.span.line,
        col: n.span.col,
      });
      continue;
    }
    const gen = written ? kvWriteInPlaceKernel : KERNELS.get(n.op);
    if (!gen) throw new Error(`no kernel for op '${n.op}'`);
    let specs: KernelSpec | readonly KernelSpec[];
    try {
      specs = gen(n, g, target);
    } catch (e) {
      if (!(e instanceof BindingCountError)) throw e;
      // Its values' windows would need more bindings than the target has: this kernel binds
      // them whole instead, which a device whose binding limit they exceed refuses when it
      // loads the plan (runtime/executor.ts checks every binding), as before windows existed;
      // a device with larger bindings runs it.
      const whole = new Map(target.windowed);
      for (const v of [...n.inputs, ...n.outputs]) whole.delete(v);
      try {
        specs = gen(n, g, { ...target, windowed: whole });
      } catch (e2) {
        if (e2 instanceof BindingCountError) throw new BindingCountError(`${n.op} at ${n.span.line}:${n.span.col}: ${e2.message}`, n.span);
        throw e2;
      }
    }
    const list: readonly KernelSpec[] = Array.isArray(specs) ? specs : [specs as KernelSpec];
    for (const spec of list) {
      // Windows of one value are distinct ranges of its buffer, not the buffer bound twice.
      const placed = spec.bindings.filter((b) => buffers[bufferFor(b.value)]!.arena !== undefined).map((b) => `${bufferFor(b.value)}@${b.window?.offset ?? 0}`);
      if (new Set(placed).size !== placed.length)
        throw new Error(`${n.op} node ${n.id} binds an arena buffer twice in kernel ${spec.name}: keep the value out of the arena (memoryOptionsFor)`);
      const elements = spec.bindings.map((b) => (b.window ? b.window.bytes / (b.type === 'f16' ? 2 : 4) : numel(shapeOf(valueOf(b.value)))));
      // The same text with another grid, other extents or other windows is another kernel as the runtime checks it.
      const windows = spec.bindings.map((b) => (b.window ? `${b.window.offset}+${b.window.bytes}` : '')).join(',');
      const key = `${spec.dispatch.join(',')};${elements.join(',')};${windows};${spec.wgsl}`;
      let kid = kernelByText.get(key);
      if (kid === undefined) {
        kid = kernels.length;
        kernelByText.set(key, kid);
        for (const f of spec.features ?? []) features.add(f);
        kernels.push({
          id: kid,
          name: spec.name,
          file: `k${String(kid).padStart(3, '0')}_${spec.name}.wgsl`,
          wgsl: spec.wgsl,
          entryPoint: 'main',
          workgroupSize: spec.workgroupSize,
          dispatch: spec.dispatch,
          bindings: spec.bindings.map((b, i) => ({
            binding: i,
            name: b.name,
            access: b.access,
            type: b.type,
            elements: elements[i]!,
            ...(b.window ? { window: { offset: b.window.offset, bytes: b.window.bytes } } : {}),
          })),
        });
      }
      steps.push({
        kernel: kid,
        buffers: spec.bindings.map((b) => bufferFor(b.value)),
        dispatch: spec.dispatch,
        op: n.op,
        scope: n.scope,
        line: n.span.line,
        col: n.span.col,
      });
    }
  }

  // Ids index whole tables: a partitioned plan takes the range from the global shape.
  const maxOf = inputRanges(g, spmd ? (id) => globalShapeOf(spmd.globalTypes[originOf(id)]!) : (id) => shapeOf(g.values[id]!));
  const io = (id: number, name: string): PlanIO => {
    const v = g.values[id]!;
    const range = maxOf.get(id);
    return {
      name,
      buffer: bufferOf.get(id)!,
      dtype: v.type.dtype,
      shape: shapeOf(v),
      ...(range ? { max: range.max, ...(range.gathers ? { gathers: true } : {}) } : {}),
      ...(spmd ? { global: globalOf(id) } : {}),
    };
  };
  return seal({
    format: PLAN_FORMAT,
    // A plan with windows or a coords buffer needs a runtime that knows them; the others stay readable by older runtimes.
    version:
      windowed.size && kernels.some((k) => k.bindings.some((b) => b.window))
        ? PLAN_VERSION_WINDOWS
        : bufferOf.has(MESH_COORDS)
          ? PLAN_VERSION_COORDS
          : PLAN_VERSION,
    model: g.name,
    source: opts.source ?? '',
    seed: opts.seed ?? 0,
    buffers,
    ...(memory?.arenas.length ? { arenas: [...memory.arenas] } : {}),
    inputs: g.inputs.map((id) => io(id, g.values[id]!.name!)),
    outputs: g.outputs.map((id, i) => io(id, g.outputNames[i]!)),
    kernels,
    steps,
    ...(features.size ? { features: [...features].sort() } : {}),
    ...(features.has('subgroups') ? { subgroupSize: target.subgroupSize! } : {}),
    ...(spmd ? { mesh: { axes: spmd.mesh.axes.map((a) => ({ name: a.name, size: a.size })), devices: spmd.devices } } : {}),
    ...(updates.length ? { updates: updates.map((u) => ({ output: u.output, param: u.param })) } : {}),
    ...(opts.offload ? { offload: opts.offload } : {}),
  });
}

/**
 * The values a kernel cannot bind whole under a binding limit of `maxBindingBytes` (their
 * buffer's bytes, f16 storage included, exceed it), each with the windows it is bound as.
 */
function windowedValues(g: Graph, half: ReadonlySet<number>, maxBindingBytes: number): Map<number, readonly BindingWindow[]> {
  const out = new Map<number, readonly BindingWindow[]>();
  for (const v of g.values) {
    const bytes = bufferBytes(half.has(v.id) ? 'f16' : storageOf(v), numel(shapeOf(v)));
    if (bytes > maxBindingBytes) out.set(v.id, bindingWindows(bytes, maxBindingBytes));
  }
  return out;
}

/**
 * Integer inputs that index something (embedding ids, labels) get a valid range for
 * random inputs; those an embedding gathers with are marked, so the runtime refuses ids
 * outside the table (a label out of range is the loss's "ignore", not a mistake).
 */
function inputRanges(g: Graph, shape: (valueId: number) => number[]): Map<number, { max: number; gathers: boolean }> {
  const out = new Map<number, { max: number; gathers: boolean }>();
  // Through collectives, reshapes and slices (multi-copy deals inputs out with them) back to the input they move.
  const origin = (id: number): number => {
    const p = g.values[id]!.producer;
    const op = p === undefined ? '' : g.nodes[p]!.op;
    return isCollective(op) || op === 'reshape' || op === 'slice' ? origin(g.nodes[p!]!.inputs[0]!) : id;
  };
  const note = (id: number, n: number, gathers: boolean) => {
    const was = out.get(origin(id));
    out.set(origin(id), { max: Math.min(was?.max ?? Infinity, n), gathers: gathers || !!was?.gathers });
  };
  for (const n of g.nodes) {
    if (n.op === 'embedding') note(n.inputs[1]!, shape(n.inputs[0]!)[0]!, true);
    if (n.op === 'cross_entropy') {
      const s = shape(n.inputs[0]!);
      note(n.inputs[1]!, s[s.length - 1]!, false);
    }
  }
  return out;
}
