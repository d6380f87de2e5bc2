import { numel } from '../layout/mesh.js';
import { validateOffload } from './validate-offload.js';
import { ARENA_ALIGNMENT, bufferBytes, COLLECTIVE_OPS, PLAN_FORMAT, PLAN_VERSION, PLAN_VERSION_COORDS, PLAN_VERSION_WINDOWS, type Plan } from './plan.js';

export class PlanError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`invalid plan:\n  ${problems.slice(0, 20).join('\n  ')}${problems.length > 20 ? `\n  … and ${problems.length - 20} more` : ''}`);
    this.name = 'PlanError';
  }
}

const isObj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
const isInt = (x: unknown, min = 0): x is number => typeof x === 'number' && Number.isInteger(x) && x >= min;
const isStr = (x: unknown): x is string => typeof x === 'string';
/** A value from the plan, as its JSON, cut short: never `undefined` or `[object Object]` in a message. */
const show = (x: unknown) => {
  const j = x === undefined ? 'nothing' : JSON.stringify(x);
  return j.length > 40 ? `${j.slice(0, 37)}...` : j;
};
const isGrid = (x: unknown): x is number[] => Array.isArray(x) && x.length === 3 && x.every((d) => isInt(d, 1) && d <= 65535);

/** Storage types a buffer may have (runtime/plan.ts StorageType). */
const STORAGE: readonly string[] = ['f32', 'i32', 'f16'];
const ROLES: readonly string[] = ['input', 'output', 'param', 'const', 'activation', 'coords'];

/**
 * Checks an untrusted plan (parsed JSON) field by field and cross-reference by
 * cross-reference. Returns the plan typed, or throws PlanError listing every problem.
 *
 * Arenas (version 3): every placement must lie inside its arena at an offset aligned to
 * ARENA_ALIGNMENT, only activations and outputs may be placed, a kernel must declare an
 * arena buffer's binding read_write, no step may bind two overlapping ranges, and no two
 * placed buffers that share bytes may be live at the same step. Liveness is worked out
 * from the steps: a buffer is live from the first step that binds it (or a collective
 * reads or writes it) to the last, and an output to the end of the run (the host reads
 * it back and updates copy it after the last step).
 */

export function validatePlan(raw: unknown): Plan {
  const p: string[] = [];
  if (!isObj(raw)) throw new PlanError(['the plan is not a JSON object']);
  if (raw['format'] !== PLAN_FORMAT) p.push(`format must be "${PLAN_FORMAT}", got ${show(raw['format'])}`);
  const version = raw['version'];
  if (version !== 1 && version !== 2 && version !== 3 && version !== PLAN_VERSION_COORDS && version !== PLAN_VERSION_WINDOWS)
    p.push(`version must be 1, 2, ${PLAN_VERSION}, ${PLAN_VERSION_COORDS} or ${PLAN_VERSION_WINDOWS}, got ${show(version)}`);
  if (!isStr(raw['model'])) p.push('model must be a string');
  if (!isInt(raw['seed'])) p.push('seed must be a non-negative integer');
  const arr = (k: string): unknown[] => {
    const v = raw[k];
    if (!Array.isArray(v)) {
      p.push(`${k} must be an array`);
      return [];
    }
    return v;
  };
  // Version 2 plans are all partitioned; from version 3 the mesh is there when the plan is.
  const mesh =
    version === 2 || ((version === 3 || version === PLAN_VERSION_COORDS || version === PLAN_VERSION_WINDOWS) && raw['mesh'] !== undefined)
      ? validateMesh(raw['mesh'], p)
      : undefined;
  if (version === 1 && raw['mesh'] !== undefined) p.push('mesh needs plan version 2 or later');
  const arenas = validateArenas(raw['arenas'], version, p);
  const buffers = arr('buffers');
  const bufIds = new Set<number>();
  const bufTypes = new Map<number, string>();
  const bufBytes = new Map<number, number>();
  const bufShapes = new Map<number, number[]>();
  const bufRoles = new Map<number, string>();
  const placements = new Map<number, Placed>();
  const bufNames = new Map<string, number>();
  buffers.forEach((b, i) => {
    const at = `buffers[${i}]`;
    if (!isObj(b)) return p.push(`${at} is not an object`);
    if (b['id'] !== i) p.push(`${at}.id must be ${i}`);
    if (!ROLES.includes(b['role'] as string)) p.push(`${at}.role must be one of ${ROLES.join(', ')}, got ${show(b['role'])}`);
    if (!STORAGE.includes(b['type'] as string)) p.push(`${at}.type must be f32, i32 or f16`);
    else if (b['type'] === 'f16' && b['role'] === 'const') p.push(`${at} is an f16 constant; constants are f32 or i32`);
    else if (b['type'] === 'f16' && b['dtype'] !== 'f16') p.push(`${at} is stored as f16 but holds ${show(b['dtype'])} values`);
    if (!Array.isArray(b['shape']) || !(b['shape'] as unknown[]).every((d) => isInt(d, 1))) p.push(`${at}.shape must be positive integers`);
    else {
      const n = numel(b['shape'] as number[]);
      const want = bufferBytes(b['type'] === 'f16' ? 'f16' : 'f32', n);
      if (b['bytes'] !== want) p.push(`${at}.bytes must be ${want} for shape [${(b['shape'] as number[]).join(', ')}]`);
    }
    if (!isStr(b['name']) || !b['name']) p.push(`${at}.name must be a non-empty string`);
    else if (bufNames.has(b['name'])) p.push(`${at}.name '${b['name']}' is also the name of buffers[${bufNames.get(b['name'])}]`);
    else bufNames.set(b['name'], i);
    if (b['role'] === 'param') validateInit(b['init'], at, p);
    if (b['role'] === 'coords') validateCoords(b, at, version, mesh, p);
    if (b['role'] === 'const' && (typeof b['value'] !== 'number' || (b['type'] === 'i32' && !Number.isInteger(b['value']))))
      p.push(`${at} is a const without a value${b['type'] === 'i32' ? ' (an integer: the buffer is i32)' : ''}`);
    if (b['global'] !== undefined || (mesh && b['role'] === 'param')) {
      if (!mesh) p.push(`${at}.global needs a mesh (a partitioned plan)`);
      else validateGlobal(b['global'], b['shape'], mesh, `${at}.global`, p);
    }
    const placed = validatePlacement(b, at, arenas, p);
    if (placed) placements.set(i, placed);
    bufIds.add(i);
    // A field already reported invalid is left out, so references to it add no second, garbled problem.
    if (STORAGE.includes(b['type'] as string)) bufTypes.set(i, b['type'] as string);
    bufBytes.set(i, b['bytes'] as number);
    if (ROLES.includes(b['role'] as string)) bufRoles.set(i, b['role'] as string);
    if (Array.isArray(b['shape']) && (b['shape'] as unknown[]).every((d) => isInt(d, 1))) bufShapes.set(i, b['shape'] as number[]);
  });
  const kernels = arr('kernels');
  const kBindings = new Map<number, { ok: boolean; access: string; type: string; elements: number; window?: Window }[]>();
  const kDispatch = new Map<number, number[]>();
  const kFiles = new Map<string, number>();
  kernels.forEach((k, i) => {
    const at = `kernels[${i}]`;
    if (!isObj(k)) return p.push(`${at} is not an object`);
    if (k['id'] !== i) p.push(`${at}.id must be ${i}`);
    // The file name is written beside the plan (mdc compile) and names the kernel in errors.
    if (!isStr(k['file']) || !/^[\w.-]+\.wgsl$/.test(k['file']) || k['file'].startsWith('.')) p.push(`${at}.file must be a plain file name ending in .wgsl`);
    else if (kFiles.has(k['file'])) p.push(`${at}.file '${k['file']}' is also the file of kernels[${kFiles.get(k['file'])}]`);
    else kFiles.set(k['file'], i);
    if (isGrid(k['dispatch'])) kDispatch.set(i, k['dispatch']);
    else p.push(`${at}.dispatch must be the grid the kernel was written for, three integers in 1..65535`);
    if (!isStr(k['wgsl']) || !(k['wgsl'] as string).includes('@compute')) p.push(`${at}.wgsl is not a compute shader`);
    if (!isStr(k['entryPoint'])) p.push(`${at}.entryPoint must be a string`);
    const wg = k['workgroupSize'];
    if (!Array.isArray(wg) || wg.length !== 3 || !wg.every((x) => isInt(x, 1)) || numel(wg as number[]) > 256) {
      p.push(`${at}.workgroupSize must be three positive integers whose product is at most 256`);
    }
    const bs = Array.isArray(k['bindings']) ? (k['bindings'] as unknown[]) : (p.push(`${at}.bindings must be an array`), []);
    // The windows of one value (version 5) count once here; the runner checks them all against the device's limit.
    const values = bs.filter((b) => !isObj(b) || !isObj(b['window']) || b['window']['offset'] === 0).length;
    if (values > 8) p.push(`${at} binds ${values} storage buffers; WebGPU allows 8 per stage`);
    kBindings.set(
      i,
      bs.map((b, j) => {
        if (!isObj(b) || b['binding'] !== j || (b['access'] !== 'read' && b['access'] !== 'read_write') || !STORAGE.includes(b['type'] as string)) {
          p.push(`${at}.bindings[${j}] must be { binding: ${j}, access: read|read_write, type: f32|i32|f16, elements }`);
        } else if (!isInt(b['elements'], 1)) p.push(`${at}.bindings[${j}].elements must be the positive number of elements the kernel indexes`);
        const ok = isObj(b) && b['binding'] === j && (b['access'] === 'read' || b['access'] === 'read_write') && STORAGE.includes(b['type'] as string);
        const window = ok ? validateWindow(b, `${at}.bindings[${j}]`, version, p) : undefined;
        return ok
          ? {
              ok,
              access: b['access'] as string,
              type: b['type'] as string,
              elements: isInt(b['elements'], 1) ? b['elements'] : 0,
              ...(window ? { window } : {}),
            }
          : { ok, access: '', type: '', elements: 0 };
      }),
    );
  });
  arr('steps').forEach((s, i) => {
    const at = `steps[${i}]`;
    if (!isObj(s)) return p.push(`${at} is not an object`);
    if (s['kind'] === 'collective' && [s['input'], s['output']].some((b) => bufTypes.get(b as number) === 'f16'))
      p.push(`${at}: collectives move f32 and i32 buffers only, not f16`);
    if (s['kind'] === 'collective') return validateCollective(s, at, mesh, { ids: bufIds, types: bufTypes, shapes: bufShapes, roles: bufRoles }, p);
    if (s['kind'] !== undefined && s['kind'] !== 'kernel') return p.push(`${at}.kind must be kernel or collective, got ${show(s['kind'])}`);
    const kb = kBindings.get(s['kernel'] as number);
    if (!kb) return p.push(`${at}.kernel refers to no kernel`);
    const bufs = s['buffers'];
    if (!Array.isArray(bufs) || bufs.length !== kb.length) return p.push(`${at}.buffers must list ${kb.length} buffer ids`);
    bufs.forEach((b, j) => {
      if (!bufIds.has(b as number)) return p.push(`${at}.buffers[${j}] refers to no buffer`);
      if (!kb[j]!.ok || !bufTypes.has(b as number)) return; // reported where the binding or the buffer is declared
      const w = kb[j]!.window;
      if (bufTypes.get(b as number) !== kb[j]!.type) p.push(`${at}.buffers[${j}] has type ${bufTypes.get(b as number)} but the kernel binds ${kb[j]!.type}`);
      else if (w) {
        const bytes = bufBytes.get(b as number);
        if (isInt(bytes) && w.offset + w.bytes > bytes)
          p.push(`${at}.buffers[${j}]: kernel ${s['kernel']} binds bytes [${w.offset}, ${w.offset + w.bytes}) of buffer ${b as number}, which has ${bytes}`);
      } else {
        const have = bufShapes.has(b as number) ? numel(bufShapes.get(b as number)!) : Infinity;
        if (have < kb[j]!.elements)
          p.push(`${at}.buffers[${j}]: buffer ${b as number} holds ${have} elements, but kernel ${s['kernel']} indexes ${kb[j]!.elements} in binding ${j}`);
      }
      const whole = placements.get(b as number);
      if (!whole) return;
      // A window binds only its range of the placement.
      const place = w ? { arena: whole.arena, offset: whole.offset + w.offset, end: whole.offset + w.offset + w.bytes } : whole;
      // WebGPU: one buffer bound read-only and writable in a dispatch is a usage conflict.
      if (kb[j]!.access !== 'read_write')
        p.push(`${at}.buffers[${j}] is in arena ${place.arena}, so kernel ${s['kernel']} must bind it read_write, not ${kb[j]!.access}`);
      for (let i2 = 0; i2 < j; i2++) {
        const all = placements.get(bufs[i2] as number);
        const ow = kb[i2]!.window;
        const other = all && ow ? { arena: all.arena, offset: all.offset + ow.offset, end: all.offset + ow.offset + ow.bytes } : all;
        if (other && other.arena === place.arena && other.offset < place.end && place.offset < other.end) {
          p.push(`${at} binds overlapping ranges of arena ${place.arena} (buffers ${bufs[i2]} and ${b as number}): WebGPU refuses aliased writable bindings`);
        }
      }
    });
    const d = s['dispatch'];
    const grid = kDispatch.get(s['kernel'] as number);
    if (!isGrid(d)) p.push(`${at}.dispatch must be three integers in 1..65535`);
    // A smaller grid leaves outputs unwritten; a larger one runs invocations the kernel does not guard.
    else if (grid && d.join(',') !== grid.join(','))
      p.push(`${at}.dispatch [${d.join(', ')}] is not the grid kernel ${s['kernel']} was written for, [${grid.join(', ')}]`);
  });
  for (const key of ['inputs', 'outputs']) {
    const names = new Map<string, number>();
    arr(key).forEach((io, i) => {
      if (!isObj(io) || !isStr(io['name']) || !bufIds.has(io['buffer'] as number)) return p.push(`${key}[${i}] must name an existing buffer`);
      if (names.has(io['name'])) p.push(`${key}[${i}].name '${io['name']}' is also the name of ${key}[${names.get(io['name'])}]`);
      else names.set(io['name'], i);
      const buf = io['buffer'] as number;
      if (key === 'inputs' && bufRoles.has(buf) && bufRoles.get(buf) !== 'input')
        p.push(`inputs[${i}].buffer is a ${bufRoles.get(buf)} buffer, not an input buffer`);
      const shape = io['shape'];
      const bufShape = bufShapes.get(buf);
      if (!Array.isArray(shape) || !shape.every((d) => isInt(d, 1))) p.push(`${key}[${i}].shape must be positive integers`);
      else if (bufShape && numel(shape) !== numel(bufShape))
        p.push(`${key}[${i}].shape [${shape.join(', ')}] has ${numel(shape)} elements, but its buffer ${buf} holds ${numel(bufShape)}`);
      if (mesh && bufTypes.get(io['buffer'] as number) === 'f16')
        p.push(`${key}[${i}] is an f16 buffer; a partitioned plan's host transfers are f32 and i32 only`);
      if (io['max'] !== undefined && !isInt(io['max'], 1)) p.push(`${key}[${i}].max must be a positive integer`);
      if (io['gathers'] !== undefined && (io['gathers'] !== true || io['max'] === undefined)) p.push(`${key}[${i}].gathers must be true, with a max`);
      if (io['global'] !== undefined || mesh) {
        if (!mesh) p.push(`${key}[${i}].global needs a mesh (a partitioned plan)`);
        else validateGlobal(io['global'], io['shape'], mesh, `${key}[${i}].global`, p);
      }
    });
  }
  if (raw['updates'] !== undefined) {
    // Training plans: after each run, these outputs are copied over these parameters.
    const outs = new Map((Array.isArray(raw['outputs']) ? raw['outputs'] : []).filter(isObj).map((o) => [o['name'], o['buffer'] as number]));
    const params = new Map(
      buffers
        .filter(isObj)
        .filter((b) => b['role'] === 'param')
        .map((b) => [b['name'], b['id'] as number]),
    );
    const updated = new Map<number, number>();
    if (!Array.isArray(raw['updates'])) p.push('updates must be an array');
    else
      (raw['updates'] as unknown[]).forEach((u, i) => {
        const at = `updates[${i}]`;
        if (!isObj(u) || !isStr(u['output']) || !isStr(u['param'])) return p.push(`${at} must be { output, param } names`);
        const from = outs.get(u['output']);
        const to = params.get(u['param']);
        if (from === undefined) return p.push(`${at}.output '${u['output']}' is not an output of the plan`);
        if (to === undefined) return p.push(`${at}.param '${u['param']}' is not a parameter buffer`);
        if (updated.has(to)) p.push(`${at}.param '${u['param']}' is also updated by updates[${updated.get(to)}]`);
        updated.set(to, i);
        if (bufRoles.get(from) !== 'output' && bufRoles.get(from) !== 'activation')
          p.push(`${at}.output '${u['output']}' is the ${bufRoles.get(from)} buffer ${from}, which the updates' copies could overwrite before it is read`);
        else if (bufBytes.get(from) !== bufBytes.get(to))
          p.push(`${at}: output '${u['output']}' (${bufBytes.get(from)} bytes) does not fit parameter '${u['param']}' (${bufBytes.get(to)} bytes)`);
        else if (bufTypes.get(from) !== bufTypes.get(to))
          p.push(`${at}: output '${u['output']}' is stored as ${bufTypes.get(from)}, parameter '${u['param']}' as ${bufTypes.get(to)}; an update copies bytes`);
      });
    // Outputs are read back after the updates' copies: one that is an updated parameter would read the new value.
    for (const [name, b] of outs) {
      const j = updated.get(b);
      if (j !== undefined) p.push(`output '${String(name)}' is parameter buffer ${b}, which updates[${j}] overwrites before the output is read back`);
    }
  }
  validateOffload(raw, p);
  const features = raw['features'];
  if (features !== undefined && (!Array.isArray(features) || !features.every(isStr))) p.push('features must be an array of WebGPU feature names');
  const lanes = raw['subgroupSize'];
  const subgroups = Array.isArray(features) && features.includes('subgroups');
  if (subgroups && !(isInt(lanes, 1) && ((lanes as number) & ((lanes as number) - 1)) === 0))
    p.push('subgroupSize must be a power of two: the plan uses subgroups, whose kernels assume that many lanes');
  if (!subgroups && lanes !== undefined) p.push('subgroupSize is set but features does not list subgroups');
  if (placements.size && !p.length) checkLiveOverlaps(raw as unknown as Plan, placements, p);
  if (p.length) throw new PlanError(p);
  return raw as unknown as Plan;
}

/** A parameter's initialiser: a kind the runtime knows, with finite arguments it can use. */
function validateInit(init: unknown, buffer: string, p: string[]): void {
  const at = `${buffer}.init`;
  const fin = (k: string) => isObj(init) && typeof init[k] === 'number' && Number.isFinite(init[k]);
  if (!isObj(init)) p.push(`${buffer} is a param without init`);
  else if (init['kind'] === 'normal') {
    if (!fin('mean') || !fin('std') || (init['std'] as number) < 0) p.push(`${at}: normal needs a finite mean and a finite std ≥ 0`);
  } else if (init['kind'] === 'uniform') {
    if (!fin('low') || !fin('high') || (init['low'] as number) > (init['high'] as number)) p.push(`${at}: uniform needs finite low ≤ high`);
  } else if (init['kind'] === 'constant') {
    if (!fin('value')) p.push(`${at}: constant needs a finite value`);
  } else p.push(`${at}.kind must be normal, uniform or constant, got ${show(init['kind'])}`);
}

interface CheckedMesh {
  readonly sizes: ReadonlyMap<string, number>;
  readonly devices: number;
}

function validateMesh(m: unknown, p: string[]): CheckedMesh | undefined {
  if (!isObj(m) || !Array.isArray(m['axes']) || !m['axes'].length) {
    p.push('mesh must be { axes: [{ name, size }, ...], devices } in a partitioned plan');
    return undefined;
  }
  const sizes = new Map<string, number>();
  (m['axes'] as unknown[]).forEach((a, i) => {
    if (!isObj(a) || !isStr(a['name']) || !isInt(a['size'], 1)) return p.push(`mesh.axes[${i}] must be { name: string, size: positive integer }`);
    if (sizes.has(a['name'])) p.push(`mesh.axes[${i}]: axis '${a['name']}' is given twice`);
    sizes.set(a['name'], a['size']);
  });
  const devices = numel([...sizes.values()]);
  if (m['devices'] !== devices) p.push(`mesh.devices must be ${devices}, the product of the axis sizes`);
  return { sizes, devices };
}

/** A whole tensor's shape and layout, and that the block it gives each device has shape `local`. */
function validateGlobal(g: unknown, local: unknown, mesh: CheckedMesh, at: string, p: string[]): void {
  if (!isObj(g) || !Array.isArray(g['shape']) || !(g['shape'] as unknown[]).every((d) => isInt(d, 1)) || !isObj(g['layout'])) {
    p.push(`${at} must be { shape: positive integers, layout: { axes, partial } }`);
    return;
  }
  const shape = g['shape'] as number[];
  const l = g['layout'];
  const axes = l['axes'];
  const partial = l['partial'];
  if (
    !Array.isArray(axes) ||
    axes.length !== shape.length ||
    !axes.every((a) => Array.isArray(a) && a.every(isStr)) ||
    !Array.isArray(partial) ||
    !partial.every(isStr)
  ) {
    p.push(`${at}.layout must list the axes of each of its ${shape.length} dims and the partial axes`);
    return;
  }
  const all = [...(axes as string[][]).flat(), ...(partial as string[])];
  const unknown = all.filter((a) => !mesh.sizes.has(a));
  if (unknown.length) return void p.push(`${at}.layout names ${unknown.map((a) => `'${a}'`).join(', ')}, not an axis of the mesh`);
  const twice = all.filter((a, i) => all.indexOf(a) !== i);
  if (twice.length) return void p.push(`${at}.layout uses axis '${twice[0]}' twice`);
  const want = shape.map((s, d) => s / (axes[d] as string[]).reduce((n, a) => n * mesh.sizes.get(a)!, 1));
  if (!want.every((x) => Number.isInteger(x))) return void p.push(`${at}: the layout's splits do not divide [${shape.join(', ')}]`);
  if (!Array.isArray(local) || local.join(',') !== want.join(',')) {
    p.push(`${at}: a device's block of [${shape.join(', ')}] is [${want.join(', ')}], but the buffer is [${Array.isArray(local) ? local.join(', ') : '?'}]`);
  }
}

interface BufferFacts {
  readonly ids: ReadonlySet<number>;
  readonly types: ReadonlyMap<number, string>;
  readonly shapes: ReadonlyMap<number, number[]>;
  readonly roles: ReadonlyMap<number, string>;
}

function validateCollective(s: Record<string, unknown>, at: string, mesh: CheckedMesh | undefined, b: BufferFacts, p: string[]): void {
  if (!mesh) return void p.push(`${at} is a collective step, which needs a mesh (a partitioned plan)`);
  const op = s['op'] as string;
  if (!(COLLECTIVE_OPS as readonly string[]).includes(op)) return void p.push(`${at}.op must be one of ${COLLECTIVE_OPS.join(', ')}, got ${show(op)}`);
  const n = mesh.sizes.get(s['axis'] as string);
  if (n === undefined) return void p.push(`${at}.axis ${show(s['axis'])} is not an axis of the mesh`);
  const shape = s['shape'];
  if (!Array.isArray(shape) || !shape.every((d) => isInt(d, 1))) return void p.push(`${at}.shape must be positive integers`);
  const rank = shape.length;
  const needsDim = op !== 'all_reduce' && op !== 'partial_mask';
  if (needsDim ? !isInt(s['dim']) || (s['dim'] as number) >= rank : s['dim'] !== undefined) {
    return void p.push(needsDim ? `${at}: ${op} needs dim, an integer in 0..${rank - 1}` : `${at}: ${op} takes no dim`);
  }
  if (op === 'all_to_all' ? !isInt(s['to']) || (s['to'] as number) >= rank || s['to'] === s['dim'] : s['to'] !== undefined) {
    return void p.push(op === 'all_to_all' ? `${at}: all_to_all needs to, an integer in 0..${rank - 1} other than dim` : `${at}: ${op} takes no to`);
  }
  const dim = s['dim'] as number;
  const out = (shape as number[]).slice();
  if (op === 'all_gather' || op === 'all_to_all') out[dim] *= n;
  if (op === 'reduce_scatter' || op === 'shard_slice') out[dim] /= n;
  if (op === 'all_to_all') out[s['to'] as number] /= n;
  if (!out.every((x) => Number.isInteger(x))) return void p.push(`${at}: ${op} over '${s['axis']}' (${n} devices) does not divide [${shape.join(', ')}]`);
  const input = s['input'] as number;
  const output = s['output'] as number;
  if (!b.ids.has(input)) return void p.push(`${at}.input refers to no buffer`);
  if (!b.ids.has(output)) return void p.push(`${at}.output refers to no buffer`);
  if (output === input) return void p.push(`${at}.output must differ from its input`);
  if (b.types.has(input) && b.types.has(output) && b.types.get(input) !== b.types.get(output))
    p.push(`${at}: input buffer is ${b.types.get(input)} but output buffer is ${b.types.get(output)}`);
  const inShape = b.shapes.get(input);
  if (inShape && numel(inShape) !== numel(shape)) p.push(`${at}.shape [${shape.join(', ')}] does not fit input buffer [${inShape.join(', ')}]`);
  const outShape = b.shapes.get(output);
  if (outShape && outShape.join(',') !== out.join(','))
    p.push(`${at}: ${op} of [${shape.join(', ')}] over '${s['axis']}' gives [${out.join(', ')}], but the output buffer is [${outShape.join(', ')}]`);
  const role = b.roles.get(output);
  if (role !== undefined && role !== 'activation' && role !== 'output') p.push(`${at}.output must be an activation or output buffer, not ${role}`);
}

/** A kernel binding's window (version 5): bytes [offset, offset + bytes) of the step's buffer. */
interface Window {
  readonly offset: number;
  readonly bytes: number;
}

/** The binding's window, checked (an aligned offset, whole elements, the kernel's elements inside it), or undefined. */
function validateWindow(b: Record<string, unknown>, at: string, version: unknown, p: string[]): Window | undefined {
  const w = b['window'];
  if (w === undefined) return undefined;
  if (version !== PLAN_VERSION_WINDOWS) p.push(`${at}.window needs plan version ${PLAN_VERSION_WINDOWS}`);
  if (!isObj(w) || !isInt(w['offset']) || w['offset'] % ARENA_ALIGNMENT !== 0 || !isInt(w['bytes'], 4) || w['bytes'] % 4 !== 0)
    return void p.push(`${at}.window must be { offset: a multiple of ${ARENA_ALIGNMENT}, bytes: a positive multiple of 4 }, got ${show(w)}`);
  const size = b['type'] === 'f16' ? 2 : 4;
  if (isInt(b['elements'], 1) && b['elements'] * size > w['bytes'])
    p.push(`${at} indexes ${b['elements']} elements, more than its ${w['bytes']}-byte window holds`);
  return { offset: w['offset'], bytes: w['bytes'] };
}

/** A placed buffer's bytes [offset, end) in its arena. */
interface Placed {
  readonly arena: number;
  readonly offset: number;
  readonly end: number;
}

/** A `coords` buffer (version 4): the device's mesh coordinates, one i32 per axis of the plan's mesh. */
function validateCoords(b: Record<string, unknown>, at: string, version: unknown, mesh: CheckedMesh | undefined, p: string[]): void {
  if (version !== PLAN_VERSION_COORDS && version !== PLAN_VERSION_WINDOWS)
    p.push(`${at} is a coords buffer, which needs plan version ${PLAN_VERSION_COORDS} or later`);
  if (!mesh) return void p.push(`${at} is a coords buffer in a plan without a mesh`);
  const shape = b['shape'];
  if (b['type'] !== 'i32' || !Array.isArray(shape) || shape.length !== 1 || shape[0] !== mesh.sizes.size)
    p.push(`${at} is a coords buffer: it must be i32 of shape [${mesh.sizes.size}], one element per mesh axis`);
}

function validateArenas(a: unknown, version: unknown, p: string[]): readonly number[] | undefined {
  if (a === undefined) return undefined;
  // Placements are still checked against the arenas of a plan whose version is wrong.
  if (version === 1 || version === 2) p.push(`arenas need plan version ${PLAN_VERSION}`);
  if (!Array.isArray(a) || !a.every((x) => isInt(x, 4) && x % 4 === 0)) {
    p.push('arenas must be an array of sizes in bytes, positive multiples of 4');
    return undefined;
  }
  return a as number[];
}

function validatePlacement(b: Record<string, unknown>, at: string, arenas: readonly number[] | undefined, p: string[]): Placed | undefined {
  const arena = b['arena'];
  const offset = b['offset'];
  if (arena === undefined && offset === undefined) return undefined;
  if (arena === undefined || offset === undefined) return void p.push(`${at} needs both arena and offset, or neither`);
  if (!arenas) return void p.push(`${at}.arena refers to no arena: the plan has no arenas`);
  if (!isInt(arena) || arena >= arenas.length) return void p.push(`${at}.arena must be an arena index in 0..${arenas.length - 1}, got ${show(arena)}`);
  if (!isInt(offset) || offset % ARENA_ALIGNMENT !== 0) return void p.push(`${at}.offset must be a multiple of ${ARENA_ALIGNMENT}, got ${show(offset)}`);
  if (ROLES.includes(b['role'] as string) && b['role'] !== 'activation' && b['role'] !== 'output')
    return void p.push(`${at} is a ${String(b['role'])} buffer; only activations and outputs are placed in arenas`);
  const bytes = b['bytes'];
  if (!isInt(bytes)) return undefined;
  if (offset + bytes > arenas[arena]!) return void p.push(`${at} [${offset}, ${offset + bytes}) runs past the end of arena ${arena} (${arenas[arena]} bytes)`);
  return { arena, offset, end: offset + bytes };
}

/**
 * No two placed buffers that share bytes are live at one step. Live ranges come from the
 * steps; outputs (read back, and copied by updates, after the last step) live to the end.
 */
function checkLiveOverlaps(plan: Plan, placements: ReadonlyMap<number, Placed>, p: string[]): void {
  const first = new Map<number, number>();
  const last = new Map<number, number>();
  const touch = (b: number, t: number) => {
    if (!placements.has(b)) return;
    if (!first.has(b)) first.set(b, t);
    last.set(b, t);
  };
  plan.steps.forEach((s, t) => {
    if (s.kind === 'collective') {
      touch(s.input, t);
      touch(s.output, t);
    } else for (const b of s.buffers) touch(b, t);
  });
  for (const o of plan.outputs)
    if (placements.has(o.buffer)) {
      if (!first.has(o.buffer)) first.set(o.buffer, plan.steps.length);
      last.set(o.buffer, plan.steps.length);
    }
  const byArena = new Map<number, number[]>();
  for (const b of first.keys()) {
    const a = placements.get(b)!.arena;
    byArena.set(a, [...(byArena.get(a) ?? []), b]);
  }
  const name = (b: number) => `buffers[${b}] (${plan.buffers[b]!.name})`;
  let found = 0;
  for (const [arena, list] of byArena) {
    list.sort((x, y) => placements.get(x)!.offset - placements.get(y)!.offset);
    for (let i = 0; i < list.length && found < 20; i++) {
      const a = list[i]!;
      const pa = placements.get(a)!;
      for (let j = i + 1; j < list.length && placements.get(list[j]!)!.offset < pa.end; j++) {
        const b = list[j]!;
        const from = Math.max(first.get(a)!, first.get(b)!);
        if (from > Math.min(last.get(a)!, last.get(b)!)) continue;
        const when = from === plan.steps.length ? 'after the last step' : `at step ${from}`;
        p.push(`${name(a)} and ${name(b)} share bytes of arena ${arena} and are both live ${when}`);
        if (++found >= 20) break;
      }
    }
  }
}
