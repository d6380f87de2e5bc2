import { bufferBytes, COLLECTIVE_OPS, numel, PLAN_FORMAT, type Plan } from './plan.js';

export class PlanError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`invalid plan:\n  ${problems.slice(0, 20).join('\n  ')}${problems.length > 20 ? `\n  … and ${problems.length - 20} more` : ''}`);
    this.name = 'PlanError';
  }
}

const isObj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
const isInt = (x: unknown, min = 0): x is number => typeof x === 'number' && Number.isInteger(x) && x >= min;
const isStr = (x: unknown): x is string => typeof x === 'string';

/** Storage types a buffer may have (runtime/plan.ts StorageType). */
const STORAGE: readonly string[] = ['f32', 'i32', 'f16'];

/**
 * Checks an untrusted plan (parsed JSON) field by field and cross-reference by
 * cross-reference. Returns the plan typed, or throws PlanError listing every problem.
 */

export function validatePlan(raw: unknown): Plan {
  const p: string[] = [];
  if (!isObj(raw)) throw new PlanError(['the plan is not a JSON object']);
  if (raw['format'] !== PLAN_FORMAT) p.push(`format must be "${PLAN_FORMAT}", got ${JSON.stringify(raw['format'])}`);
  const version = raw['version'];
  if (version !== 1 && version !== 2) p.push(`version must be 1 or 2, got ${JSON.stringify(version)}`);
  if (!isStr(raw['model'])) p.push('model must be a string');
  if (!isInt(raw['seed'])) p.push('seed must be a non-negative integer');
  const arr = (k: string): unknown[] => {
    const v = raw[k];
    if (!Array.isArray(v)) { p.push(`${k} must be an array`); return []; }
    return v;
  };
  const mesh = version === 2 ? validateMesh(raw['mesh'], p) : undefined;
  if (version === 1 && raw['mesh'] !== undefined) p.push('mesh needs plan version 2');
  const buffers = arr('buffers');
  const bufTypes = new Map<number, string>();
  const bufBytes = new Map<number, number>();
  const bufShapes = new Map<number, number[]>();
  const bufRoles = new Map<number, string>();
  buffers.forEach((b, i) => {
    const at = `buffers[${i}]`;
    if (!isObj(b)) return p.push(`${at} is not an object`);
    if (b['id'] !== i) p.push(`${at}.id must be ${i}`);
    if (!['input', 'output', 'param', 'const', 'activation'].includes(b['role'] as string)) p.push(`${at}.role is invalid`);
    if (!STORAGE.includes(b['type'] as string)) p.push(`${at}.type must be f32, i32 or f16`);
    else if (b['type'] === 'f16' && b['role'] === 'const') p.push(`${at} is an f16 constant; constants are f32 or i32`);
    else if (b['type'] === 'f16' && b['dtype'] !== 'f16') p.push(`${at} is stored as f16 but holds ${String(b['dtype'])} values`);
    if (!Array.isArray(b['shape']) || !(b['shape'] as unknown[]).every((d) => isInt(d, 1))) p.push(`${at}.shape must be positive integers`);
    else {
      const n = (b['shape'] as number[]).reduce((a, c) => a * c, 1);
      const want = bufferBytes(b['type'] === 'f16' ? 'f16' : 'f32', n);
      if (b['bytes'] !== want) p.push(`${at}.bytes must be ${want} for shape [${(b['shape'] as number[]).join(', ')}]`);
    }
    if (b['role'] === 'param' && !isObj(b['init'])) p.push(`${at} is a param without init`);
    if (b['role'] === 'const' && typeof b['value'] !== 'number') p.push(`${at} is a const without a value`);
    if (b['global'] !== undefined || (mesh && b['role'] === 'param')) {
      if (!mesh) p.push(`${at}.global needs a mesh (plan version 2)`);
      else validateGlobal(b['global'], b['shape'], mesh, `${at}.global`, p);
    }
    bufTypes.set(i, b['type'] as string);
    bufBytes.set(i, b['bytes'] as number);
    bufRoles.set(i, b['role'] as string);
    if (Array.isArray(b['shape'])) bufShapes.set(i, b['shape'] as number[]);
  });
  const kernels = arr('kernels');
  const kBindings = new Map<number, { access: string; type: string }[]>();
  kernels.forEach((k, i) => {
    const at = `kernels[${i}]`;
    if (!isObj(k)) return p.push(`${at} is not an object`);
    if (k['id'] !== i) p.push(`${at}.id must be ${i}`);
    if (!isStr(k['wgsl']) || !(k['wgsl'] as string).includes('@compute')) p.push(`${at}.wgsl is not a compute shader`);
    if (!isStr(k['entryPoint'])) p.push(`${at}.entryPoint must be a string`);
    const wg = k['workgroupSize'];
    if (!Array.isArray(wg) || wg.length !== 3 || !wg.every((x) => isInt(x, 1)) || (wg as number[]).reduce((a, c) => a * c, 1) > 256) {
      p.push(`${at}.workgroupSize must be three positive integers whose product is at most 256`);
    }
    const bs = Array.isArray(k['bindings']) ? (k['bindings'] as unknown[]) : (p.push(`${at}.bindings must be an array`), []);
    if (bs.length > 8) p.push(`${at} binds ${bs.length} storage buffers; WebGPU allows 8 per stage`);
    kBindings.set(i, bs.map((b, j) => {
      if (!isObj(b) || b['binding'] !== j || (b['access'] !== 'read' && b['access'] !== 'read_write') || !STORAGE.includes(b['type'] as string)) {
        p.push(`${at}.bindings[${j}] must be { binding: ${j}, access: read|read_write, type: f32|i32|f16 }`);
      }
      return { access: isObj(b) ? (b['access'] as string) : '', type: isObj(b) ? (b['type'] as string) : '' };
    }));
    if (!Array.isArray(k['uniforms'])) p.push(`${at}.uniforms must be an array`);
  });
  arr('steps').forEach((s, i) => {
    const at = `steps[${i}]`;
    if (!isObj(s)) return p.push(`${at} is not an object`);
    if (s['kind'] === 'collective' && [s['input'], s['output']].some((b) => bufTypes.get(b as number) === 'f16')) p.push(`${at}: collectives move f32 and i32 buffers only, not f16`);
    if (s['kind'] === 'collective') return validateCollective(s, at, mesh, { types: bufTypes, shapes: bufShapes, roles: bufRoles }, p);
    if (s['kind'] !== undefined && s['kind'] !== 'kernel') return p.push(`${at}.kind must be kernel or collective, got ${JSON.stringify(s['kind'])}`);
    const kb = kBindings.get(s['kernel'] as number);
    if (!kb) return p.push(`${at}.kernel refers to no kernel`);
    const bufs = s['buffers'];
    if (!Array.isArray(bufs) || bufs.length !== kb.length) return p.push(`${at}.buffers must list ${kb.length} buffer ids`);
    bufs.forEach((b, j) => {
      if (!bufTypes.has(b as number)) p.push(`${at}.buffers[${j}] refers to no buffer`);
      else if (bufTypes.get(b as number) !== kb[j]!.type) p.push(`${at}.buffers[${j}] has type ${bufTypes.get(b as number)} but the kernel binds ${kb[j]!.type}`);
    });
    const d = s['dispatch'];
    if (!Array.isArray(d) || d.length !== 3 || !d.every((x) => isInt(x, 1) && x <= 65535)) p.push(`${at}.dispatch must be three integers in 1..65535`);
  });
  for (const key of ['inputs', 'outputs']) {
    arr(key).forEach((io, i) => {
      if (!isObj(io) || !isStr(io['name']) || !bufTypes.has(io['buffer'] as number)) return p.push(`${key}[${i}] must name an existing buffer`);
      if (mesh && bufTypes.get(io['buffer'] as number) === 'f16') p.push(`${key}[${i}] is an f16 buffer; a partitioned plan's host transfers are f32 and i32 only`);
      if (io['max'] !== undefined && !isInt(io['max'], 1)) p.push(`${key}[${i}].max must be a positive integer`);
      if (io['gathers'] !== undefined && (io['gathers'] !== true || io['max'] === undefined)) p.push(`${key}[${i}].gathers must be true, with a max`);
      if (io['global'] !== undefined || mesh) {
        if (!mesh) p.push(`${key}[${i}].global needs a mesh (plan version 2)`);
        else validateGlobal(io['global'], io['shape'], mesh, `${key}[${i}].global`, p);
      }
    });
  }
  if (raw['updates'] !== undefined) {
    // Training plans: after each run, these outputs are copied over these parameters.
    const outs = new Map((Array.isArray(raw['outputs']) ? raw['outputs'] : []).filter(isObj).map((o) => [o['name'], o['buffer'] as number]));
    const params = new Map(buffers.filter(isObj).filter((b) => b['role'] === 'param').map((b) => [b['name'], b['id'] as number]));
    if (!Array.isArray(raw['updates'])) p.push('updates must be an array');
    else (raw['updates'] as unknown[]).forEach((u, i) => {
      const at = `updates[${i}]`;
      if (!isObj(u) || !isStr(u['output']) || !isStr(u['param'])) return p.push(`${at} must be { output, param } names`);
      const from = outs.get(u['output']);
      const to = params.get(u['param']);
      if (from === undefined) return p.push(`${at}.output '${u['output']}' is not an output of the plan`);
      if (to === undefined) return p.push(`${at}.param '${u['param']}' is not a parameter buffer`);
      if (bufBytes.get(from) !== bufBytes.get(to)) p.push(`${at}: output '${u['output']}' (${bufBytes.get(from)} bytes) does not fit parameter '${u['param']}' (${bufBytes.get(to)} bytes)`);
      else if (bufTypes.get(from) !== bufTypes.get(to)) p.push(`${at}: output '${u['output']}' is stored as ${bufTypes.get(from)}, parameter '${u['param']}' as ${bufTypes.get(to)}; an update copies bytes`);
    });
  }
  const features = raw['features'];
  if (features !== undefined && (!Array.isArray(features) || !features.every(isStr))) p.push('features must be an array of WebGPU feature names');
  const lanes = raw['subgroupSize'];
  const subgroups = Array.isArray(features) && features.includes('subgroups');
  if (subgroups && !(isInt(lanes, 1) && ((lanes as number) & ((lanes as number) - 1)) === 0)) p.push('subgroupSize must be a power of two: the plan uses subgroups, whose kernels assume that many lanes');
  if (!subgroups && lanes !== undefined) p.push('subgroupSize is set but features does not list subgroups');
  if (p.length) throw new PlanError(p);
  return raw as unknown as Plan;
}

interface CheckedMesh { readonly sizes: ReadonlyMap<string, number>; readonly devices: number }

function validateMesh(m: unknown, p: string[]): CheckedMesh | undefined {
  if (!isObj(m) || !Array.isArray(m['axes']) || !m['axes'].length) {
    p.push('mesh must be { axes: [{ name, size }, ...], devices } in a version 2 plan');
    return undefined;
  }
  const sizes = new Map<string, number>();
  (m['axes'] as unknown[]).forEach((a, i) => {
    if (!isObj(a) || !isStr(a['name']) || !isInt(a['size'], 1)) return p.push(`mesh.axes[${i}] must be { name: string, size: positive integer }`);
    if (sizes.has(a['name'])) p.push(`mesh.axes[${i}]: axis '${a['name']}' is given twice`);
    sizes.set(a['name'], a['size']);
  });
  const devices = [...sizes.values()].reduce((a, b) => a * b, 1);
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
  if (!Array.isArray(axes) || axes.length !== shape.length || !axes.every((a) => Array.isArray(a) && a.every(isStr))
    || !Array.isArray(partial) || !partial.every(isStr)) {
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

interface BufferFacts { readonly types: ReadonlyMap<number, string>; readonly shapes: ReadonlyMap<number, number[]>; readonly roles: ReadonlyMap<number, string> }

function validateCollective(s: Record<string, unknown>, at: string, mesh: CheckedMesh | undefined, b: BufferFacts, p: string[]): void {
  if (!mesh) return void p.push(`${at} is a collective step, which needs a mesh (plan version 2)`);
  const op = s['op'] as string;
  if (!(COLLECTIVE_OPS as readonly string[]).includes(op)) return void p.push(`${at}.op must be one of ${COLLECTIVE_OPS.join(', ')}, got ${JSON.stringify(op)}`);
  const n = mesh.sizes.get(s['axis'] as string);
  if (n === undefined) return void p.push(`${at}.axis ${JSON.stringify(s['axis'])} is not an axis of the mesh`);
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
  if (!b.types.has(input)) return void p.push(`${at}.input refers to no buffer`);
  if (!b.types.has(output)) return void p.push(`${at}.output refers to no buffer`);
  if (output === input) return void p.push(`${at}.output must differ from its input`);
  if (b.types.get(input) !== b.types.get(output)) p.push(`${at}: input buffer is ${b.types.get(input)} but output buffer is ${b.types.get(output)}`);
  const inShape = b.shapes.get(input);
  if (inShape && numel(inShape) !== numel(shape)) p.push(`${at}.shape [${shape.join(', ')}] does not fit input buffer [${inShape.join(', ')}]`);
  const outShape = b.shapes.get(output);
  if (outShape && outShape.join(',') !== out.join(',')) p.push(`${at}: ${op} of [${shape.join(', ')}] over '${s['axis']}' gives [${out.join(', ')}], but the output buffer is [${outShape.join(', ')}]`);
  const role = b.roles.get(output);
  if (role !== 'activation' && role !== 'output') p.push(`${at}.output must be an activation or output buffer, not ${role}`);
}
