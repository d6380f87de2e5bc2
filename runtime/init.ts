import type { PlanInit, StorageType } from './plan.js';

/**
 * Deterministic parameter initialisation: a parameter's values depend only on the seed,
 * its name and its init spec, never on the order parameters are created in, so the
 * CPU oracle, every device and every run agree.
 */
export function initValues(init: PlanInit, count: number, seed: number, name: string): Float32Array {
  const out = new Float32Array(count);
  if (init.kind === 'constant') return out.fill(init.value);
  let s = hashString(name) ^ Math.imul(seed | 0, 0x9e3779b1);
  const next = () => {
    // mulberry32
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  if (init.kind === 'uniform') {
    for (let i = 0; i < count; i++) out[i] = init.low + (init.high - init.low) * next();
    return out;
  }
  for (let i = 0; i < count; i += 2) {
    // Box–Muller; u1 in (0, 1] so log is finite.
    const u1 = 1 - next();
    const u2 = next();
    const r = Math.sqrt(-2 * Math.log(u1));
    out[i] = init.mean + init.std * r * Math.cos(2 * Math.PI * u2);
    if (i + 1 < count) out[i + 1] = init.mean + init.std * r * Math.sin(2 * Math.PI * u2);
  }
  return out;
}

function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** Seeded random inputs for `mdc run` and tests: ints in [0, max), floats in [-1, 1). */
export function randomInput(type: StorageType, count: number, seed: number, name: string, max = 2): Float32Array | Int32Array {
  if (type !== 'i32') return initValues({ kind: 'uniform', low: -1, high: 1 }, count, seed, `input:${name}`);
  const u = initValues({ kind: 'uniform', low: 0, high: 1 }, count, seed, `input:${name}`);
  return Int32Array.from(u, (x) => Math.min(max - 1, Math.floor(x * max)));
}
