import { numel } from '../layout/mesh.js';

const isObj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
const isNum = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x);

/**
 * Checks a plan's `offload` section (runtime/plan.ts PlanOffload) against its buffers,
 * outputs and updates, pushing each problem onto `p`: the optimizer's hyper-parameters are
 * in range, each param is a parameter buffer the updates leave alone and named once, its
 * gradient an f32 output of the parameter's whole shape, and the clip scale a one-element output.
 */
export function validateOffload(raw: Record<string, unknown>, p: string[]): void {
  const o = raw['offload'];
  if (o === undefined) return;
  if (!isObj(o)) return void p.push('offload must be an object { optimizer, params, clipScale? }');
  const list = (k: string) => (Array.isArray(raw[k]) ? (raw[k] as unknown[]).filter(isObj) : []);
  const whole = (x: Record<string, unknown>) => {
    const g = x['global'];
    const shape = isObj(g) ? g['shape'] : x['shape'];
    return Array.isArray(shape) && shape.every((d) => Number.isInteger(d)) ? (shape as number[]) : undefined;
  };
  const outputs = new Map(list('outputs').map((x) => [x['name'], x]));
  const buffers = new Map(list('buffers').map((b) => [b['id'], b]));
  const params = new Map(
    list('buffers')
      .filter((b) => b['role'] === 'param')
      .map((b) => [b['name'], b]),
  );
  const updated = new Set(list('updates').map((u) => u['param']));
  const opt = o['optimizer'];
  if (!isObj(opt) || (opt['kind'] !== 'adamw' && opt['kind'] !== 'sgd'))
    p.push("offload.optimizer must be { kind: 'adamw' | 'sgd', beta1, beta2, eps, weightDecay, momentum }");
  else {
    for (const k of ['beta1', 'beta2']) if (!(isNum(opt[k]) && opt[k] >= 0 && opt[k] < 1)) p.push(`offload.optimizer.${k} must be a number in [0, 1)`);
    if (!(isNum(opt['eps']) && opt['eps'] > 0)) p.push('offload.optimizer.eps must be a positive number');
    for (const k of ['weightDecay', 'momentum']) if (!(isNum(opt[k]) && opt[k] >= 0)) p.push(`offload.optimizer.${k} must be a non-negative number`);
  }
  const cs = o['clipScale'];
  if (cs !== undefined) {
    const out = outputs.get(cs);
    if (!out) p.push(`offload.clipScale ${JSON.stringify(cs)?.slice(0, 40)} is not an output of the plan`);
    else if (numel(whole(out) ?? []) !== 1) p.push(`offload.clipScale '${String(cs)}' must be a one-element output`);
  }
  if (!Array.isArray(o['params']) || !o['params'].length) return void p.push('offload.params must be a non-empty array');
  const seen = new Map<unknown, number>();
  (o['params'] as unknown[]).forEach((x, i) => {
    const at = `offload.params[${i}]`;
    if (!isObj(x) || typeof x['param'] !== 'string' || typeof x['grad'] !== 'string' || typeof x['decay'] !== 'boolean')
      return p.push(`${at} must be { param, grad, decay }`);
    const param = params.get(x['param']);
    if (!param) return p.push(`${at}.param '${x['param']}' is not a parameter buffer`);
    if (seen.has(x['param'])) p.push(`${at}.param '${x['param']}' is also offloaded by offload.params[${seen.get(x['param'])}]`);
    seen.set(x['param'], i);
    if (updated.has(x['param'])) p.push(`${at}.param '${x['param']}' is also updated on the device (updates)`);
    const grad = outputs.get(x['grad']);
    if (!grad) return p.push(`${at}.grad '${x['grad']}' is not an output of the plan`);
    const [ps, gs] = [whole(param), whole(grad)];
    if (!ps || !gs || ps.join(',') !== gs.join(','))
      p.push(`${at}: gradient '${x['grad']}' has shape [${gs?.join(', ')}], parameter '${x['param']}' [${ps?.join(', ')}]`);
    const buf = buffers.get(grad['buffer']);
    if (buf && buf['type'] !== 'f32') p.push(`${at}.grad '${x['grad']}' is stored as ${String(buf['type'])}; the host update reads f32`);
  });
}
