import type { Plan } from '../../runtime/plan.js';
import { initValues } from '../../runtime/init.js';

/**
 * Whole weights for the LLaMA sample's plans (every parameter but the KV cache), drawn so
 * that rotary matters to the logits. At the sample's own init (normal, std 0.02) the
 * attention scores are about 0.05, attention is close to a plain average, and a token
 * turned by the wrong angle moves the logits by about 1e-7 of their scale, below any f32
 * tolerance. With query and key projections at std 0.2 (scores of a few units) and the
 * other matrices at 0.05, the wrong angle moves them by about their whole scale.
 * Constant-initialised parameters (the norms' gains) keep their init.
 */
export function sharpWeights(plan: Plan, seed: number): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  for (const b of plan.buffers) {
    if (b.role !== 'param' || b.name.startsWith('cache.') || !b.init) continue;
    const count = (b.global?.shape ?? b.shape).reduce((a, d) => a * d, 1);
    const init = b.init.kind === 'constant' ? b.init : { kind: 'normal' as const, mean: 0, std: /\.w[qk]$/.test(b.name) ? 0.2 : 0.05 };
    out.set(b.name, initValues(init, count, seed, b.name));
  }
  return out;
}
