import { PLAN_FORMAT, PLAN_VERSION, type Plan } from './plan.js';

export class PlanError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`invalid plan:\n  ${problems.slice(0, 20).join('\n  ')}${problems.length > 20 ? `\n  … and ${problems.length - 20} more` : ''}`);
    this.name = 'PlanError';
  }
}

const isObj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
const isInt = (x: unknown, min = 0): x is number => typeof x === 'number' && Number.isInteger(x) && x >= min;
const isStr = (x: unknown): x is string => typeof x === 'string';

/**
 * Checks an untrusted plan (parsed JSON) field by field and cross-reference by
 * cross-reference. Returns the plan typed, or throws PlanError listing every problem.
 */
export function validatePlan(raw: unknown): Plan {
  const p: string[] = [];
  if (!isObj(raw)) throw new PlanError(['the plan is not a JSON object']);
  if (raw['format'] !== PLAN_FORMAT) p.push(`format must be "${PLAN_FORMAT}", got ${JSON.stringify(raw['format'])}`);
  if (raw['version'] !== PLAN_VERSION) p.push(`version must be ${PLAN_VERSION}, got ${JSON.stringify(raw['version'])}`);
  if (!isStr(raw['model'])) p.push('model must be a string');
  if (!isInt(raw['seed'])) p.push('seed must be a non-negative integer');
  const arr = (k: string): unknown[] => {
    const v = raw[k];
    if (!Array.isArray(v)) { p.push(`${k} must be an array`); return []; }
    return v;
  };
  const buffers = arr('buffers');
  const bufTypes = new Map<number, string>();
  const bufBytes = new Map<number, number>();
  buffers.forEach((b, i) => {
    const at = `buffers[${i}]`;
    if (!isObj(b)) return p.push(`${at} is not an object`);
    if (b['id'] !== i) p.push(`${at}.id must be ${i}`);
    if (!['input', 'output', 'param', 'const', 'activation'].includes(b['role'] as string)) p.push(`${at}.role is invalid`);
    if (b['type'] !== 'f32' && b['type'] !== 'i32') p.push(`${at}.type must be f32 or i32`);
    if (!Array.isArray(b['shape']) || !(b['shape'] as unknown[]).every((d) => isInt(d, 1))) p.push(`${at}.shape must be positive integers`);
    else {
      const n = (b['shape'] as number[]).reduce((a, c) => a * c, 1);
      if (b['bytes'] !== Math.max(4, n * 4)) p.push(`${at}.bytes must be ${Math.max(4, n * 4)} for shape [${(b['shape'] as number[]).join(', ')}]`);
    }
    if (b['role'] === 'param' && !isObj(b['init'])) p.push(`${at} is a param without init`);
    if (b['role'] === 'const' && typeof b['value'] !== 'number') p.push(`${at} is a const without a value`);
    bufTypes.set(i, b['type'] as string);
    bufBytes.set(i, b['bytes'] as number);
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
      if (!isObj(b) || b['binding'] !== j || (b['access'] !== 'read' && b['access'] !== 'read_write') || (b['type'] !== 'f32' && b['type'] !== 'i32')) {
        p.push(`${at}.bindings[${j}] must be { binding: ${j}, access: read|read_write, type: f32|i32 }`);
      }
      return { access: isObj(b) ? (b['access'] as string) : '', type: isObj(b) ? (b['type'] as string) : '' };
    }));
    if (!Array.isArray(k['uniforms'])) p.push(`${at}.uniforms must be an array`);
  });
  arr('steps').forEach((s, i) => {
    const at = `steps[${i}]`;
    if (!isObj(s)) return p.push(`${at} is not an object`);
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
      if (!isObj(io) || !isStr(io['name']) || !bufTypes.has(io['buffer'] as number)) p.push(`${key}[${i}] must name an existing buffer`);
    });
  }
  if (p.length) throw new PlanError(p);
  return raw as unknown as Plan;
}
