/**
 * `mdc plan`'s training-memory report for fine-tuning counts what the step keeps
 * (compiler/train/memory.ts `frozen`): a frozen parameter, and every weight beside `@lora`
 * adapters, holds its value but no gradient and no optimizer state, and the adapters count
 * as parameters that train. Expected bytes are derived by hand from the shapes below.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { mdc } from '../support/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'mdc-finetune-memory-'));

/** w1 [8, 16] (128), b1 [16] (16), w2 [16, 4] (64): 208 f32 parameters, the batch split over dp. */
const model = (train: string, w1Annotation = '') => `model M(x: f32[4@dp, 8]) -> f32[4@dp, 4] {
  param w1: f32[8, 16] = normal(0, 0.1)${w1Annotation}
  param b1: f32[16] = zeros()
  param w2: f32[16, 4] = normal(0, 0.1)
  let logits = relu(x @ w1 + b1) @ w2
  return logits
}
train M {
  loss = cross_entropy(logits, labels)
${train}
}
`;

async function plan(name: string, source: string) {
  const file = join(dir, `${name}.model`);
  writeFileSync(file, source);
  const r = await mdc('plan', file, '--mesh', 'dp=2', '--json');
  return { ...r, json: r.code === 0 ? (JSON.parse(r.out) as { memory: Record<string, number>; paramCount: number }) : undefined };
}

describe('mdc plan: training memory of a fine-tuning step', () => {
  it('freeze: gradients and AdamW moments drop by the frozen parameters (w1, b1: 144 elements), the parameters stay', async () => {
    const full = (await plan('full', model('  optimizer = adamw(lr = 1e-3)'))).json!.memory;
    const frozen = (await plan('frozen', model('  optimizer = adamw(lr = 1e-3)\n  freeze = ["w1", "b1"]'))).json!.memory;
    // Full: 208 parameters, f32 gradients (4 B each) and two f32 moments (8 B each).
    expect(full).toMatchObject({ params: 208 * 4, grads: 208 * 4, optimizer: 208 * 8 });
    // Frozen: w2's 64 elements train.
    expect(frozen).toMatchObject({ params: 208 * 4, grads: 64 * 4, optimizer: 64 * 8 });
    expect(full.optimizer! - frozen.optimizer!).toBe(144 * 8);
    expect(full.grads! - frozen.grads!).toBe(144 * 4);
    expect(full.peak! - frozen.peak!).toBe(144 * 12);
  });

  it('ZeRO 1 splits only what trains: the frozen step’s moments over dp = 2', async () => {
    const r = await plan('zero1', model('  zero = 1\n  freeze = ["w1", "b1"]'));
    expect(r.json!.memory).toMatchObject({ params: 208 * 4, grads: 64 * 4, optimizer: (64 * 8) / 2 });
  });

  it('@lora: the adapters are parameters that train; every other weight is frozen unless train_also names it', async () => {
    // w1 with rank 2: A [8, 2] (16) and B [2, 16] (32), 48 adapter elements beside 208.
    const lora = await plan('lora', model('', ' @lora(rank = 2, alpha = 4)'));
    expect(lora.json!.paramCount).toBe(208 + 48);
    expect(lora.json!.memory).toMatchObject({ params: 256 * 4, grads: 48 * 4, optimizer: 48 * 8 });
    const also = await plan('also', model('  train_also = ["b1"]', ' @lora(rank = 2, alpha = 4)'));
    expect(also.json!.memory).toMatchObject({ params: 256 * 4, grads: (48 + 16) * 4, optimizer: (48 + 16) * 8 });
  });

  it('a freeze pattern that matches nothing is MDC0530 here too', async () => {
    const file = join(dir, 'misspelt.model');
    writeFileSync(file, model('  freeze = ["w3"]'));
    const r = await mdc('plan', file, '--mesh', 'dp=2');
    expect(r.code).toBe(1);
    expect(r.err).toContain("misspelt.model:10:13: error MDC0530: freeze pattern 'w3' matches no parameter of M (parameters include w1, b1, w2)");
  });
});
