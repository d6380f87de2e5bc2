import type { Value } from '../ir.js';
import type { Ctx } from '../ops/grad-ctx.js';
import type { TType } from '../types.js';
import type { OptimizerSpec } from './settings.js';

/** A new value of the step: `name` (a parameter or its optimizer state) becomes `value`, which has `old`'s type. */
export interface OptimizerOutput {
  readonly name: string;
  readonly value: Value;
  readonly old: Value;
  readonly like: TType;
}

/**
 * The optimizer's update of one parameter from its gradient `g` (already clipped), as IR
 * ops: AdamW (moments `opt.m.<name>`, `opt.v.<name>`, bias corrections bc1 and bc2 as
 * inputs, decoupled weight decay on matrices) or SGD with momentum (`opt.m.<name>`).
 * `state(prefix, param)` makes (or finds) an optimizer-state parameter. The one definition
 * the one-program training step (step.ts) and the pipelined one (compiler/pipeline/train.ts)
 * share, and the host's update (runtime/host-optimizer.ts) mirrors op for op.
 */
export function optimizerUpdate(
  c: Ctx,
  opt: OptimizerSpec,
  name: string,
  param: Value,
  g: Value,
  scalars: { readonly lr: Value; readonly bc1?: Value | undefined; readonly bc2?: Value | undefined },
  state: (prefix: string, param: Value) => Value,
): OptimizerOutput[] {
  const decay = param.type.dims.length >= 2 && opt.weightDecay > 0;
  const m = state('opt.m.', param);
  if (opt.kind === 'adamw') {
    const v = state('opt.v.', param);
    const m2 = c.bin('add', c.bin('mul', m, c.scalar(opt.beta1, 'f32')), c.bin('mul', g, c.scalar(1 - opt.beta1, 'f32')));
    const v2 = c.bin('add', c.bin('mul', v, c.scalar(opt.beta2, 'f32')), c.bin('mul', c.bin('mul', g, g), c.scalar(1 - opt.beta2, 'f32')));
    const denom = c.bin('add', c.op('sqrt', [c.bin('mul', v2, scalars.bc2!)], param.type), c.scalar(opt.eps, 'f32'));
    let step = c.bin('div', c.bin('mul', m2, scalars.bc1!), denom);
    if (decay) step = c.bin('add', step, c.bin('mul', param, c.scalar(opt.weightDecay, 'f32')));
    return [
      { name, value: c.bin('sub', param, c.bin('mul', step, scalars.lr)), old: param, like: param.type },
      { name: `opt.m.${name}`, value: m2, old: m, like: m.type },
      { name: `opt.v.${name}`, value: v2, old: v, like: v.type },
    ];
  }
  const m2 = c.bin('add', c.bin('mul', m, c.scalar(opt.momentum, 'f32')), g);
  let step = m2;
  if (decay) step = c.bin('add', step, c.bin('mul', param, c.scalar(opt.weightDecay, 'f32')));
  return [
    { name, value: c.bin('sub', param, c.bin('mul', step, scalars.lr)), old: param, like: param.type },
    { name: `opt.m.${name}`, value: m2, old: m, like: m.type },
  ];
}
