import type { PlanOptimizer } from './plan.js';

/**
 * The optimizer update of `@offload(host)` parameters, computed on the host. Each function
 * rounds to f32 after every operation, in the order of the training graph's ops
 * (compiler/train/step.ts), so a host-updated parameter equals a device-updated one up to
 * how the device rounds sqrt and division (llvmpipe: exactly). They keep no state: the
 * caller owns the arrays, which are updated in place. Browser-safe.
 */

/** The per-step scalars, as the plan's inputs of those names and its `clip_scale` output hold them. */
export interface StepScalars {
  readonly lr: number;
  /** AdamW's bias corrections 1/(1-β1^t) and 1/(1-β2^t). */
  readonly bc1?: number;
  readonly bc2?: number;
  /** The gradient-clipping factor; absent without clipping. */
  readonly scale?: number;
}

const f = Math.fround;

/**
 * AdamW, decoupled weight decay when `decay`:
 *   g = grad·scale; m ← m·β1 + g·(1-β1); v ← v·β2 + (g·g)·(1-β2);
 *   param ← param - ((m·bc1) / (sqrt(v·bc2) + eps) + param·wd)·lr
 */
export function adamwStep(param: Float32Array, grad: Float32Array, m: Float32Array, v: Float32Array, hp: PlanOptimizer, s: StepScalars, decay: boolean): void {
  const [b1, nb1, b2, nb2, eps, wd] = [f(hp.beta1), f(1 - hp.beta1), f(hp.beta2), f(1 - hp.beta2), f(hp.eps), f(hp.weightDecay)];
  const [lr, bc1, bc2] = [f(s.lr), f(s.bc1 ?? NaN), f(s.bc2 ?? NaN)];
  const scale = s.scale === undefined ? undefined : f(s.scale);
  for (let i = 0; i < param.length; i++) {
    const g = scale === undefined ? grad[i]! : f(grad[i]! * scale);
    const m2 = f(f(m[i]! * b1) + f(g * nb1));
    const v2 = f(f(v[i]! * b2) + f(f(g * g) * nb2));
    const denom = f(f(Math.sqrt(f(v2 * bc2))) + eps);
    let step = f(f(m2 * bc1) / denom);
    if (decay) step = f(step + f(param[i]! * wd));
    param[i] = f(param[i]! - f(step * lr));
    m[i] = m2;
    v[i] = v2;
  }
}

/** SGD with momentum: g = grad·scale; m ← m·μ + g; param ← param - (m + param·wd)·lr. */
export function sgdStep(param: Float32Array, grad: Float32Array, m: Float32Array, hp: PlanOptimizer, s: StepScalars, decay: boolean): void {
  const [mu, wd, lr] = [f(hp.momentum), f(hp.weightDecay), f(s.lr)];
  const scale = s.scale === undefined ? undefined : f(s.scale);
  for (let i = 0; i < param.length; i++) {
    const g = scale === undefined ? grad[i]! : f(grad[i]! * scale);
    const m2 = f(f(m[i]! * mu) + g);
    let step = m2;
    if (decay) step = f(step + f(param[i]! * wd));
    param[i] = f(param[i]! - f(step * lr));
    m[i] = m2;
  }
}
