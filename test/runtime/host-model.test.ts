import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { lower } from '../../compiler/compile.js';
import { planOf } from '../../driver/stages.js';
import { encodeCheckpoint, type CheckpointTensors } from '../../runtime/checkpoint.js';
import { checkpointParams, runnerOptions } from '../../runtime/host-model.js';

/** The tiny MLP sample's plan: w1 [64, 32], b1 [32], w2 [32, 10], b2 [10]. */
const plan = planOf(lower(readFileSync('samples/mlp.model', 'utf8'), 'mlp.model', { preset: 'tiny' }).graph!, { seed: 0, source: 'mlp.model' });
const f32 = (shape: number[], at = 0) => ({
  dtype: 'F32' as const,
  shape,
  data: Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => i + at),
});
const weights: CheckpointTensors = { w1: f32([64, 32]), b1: f32([32], 1), w2: f32([32, 10], 2), b2: f32([10], 3) };
const message = (f: () => unknown) => {
  try {
    f();
  } catch (e) {
    return (e as Error).message;
  }
  return 'no error';
};

describe('load(device, { checkpoint }): the parameters a checkpoint gives', () => {
  it("reads the model's own names, value for value", () => {
    const p = checkpointParams(plan, encodeCheckpoint(weights));
    expect([...p.keys()].sort()).toEqual(['b1', 'b2', 'w1', 'w2']);
    expect([...p.get('b2')!]).toEqual([3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
  });

  it("passes over mdc train's optimizer state, and refuses mdc train's checkpoint of another model", () => {
    const opt = { 'opt.m.w1': f32([64, 32]), 'opt.v.w1': f32([64, 32]), 'opt.m.b2': f32([10]) };
    const train = { format: 'mdc-train-1', model: 'Mlp', step: '3' };
    expect([...checkpointParams(plan, encodeCheckpoint({ ...weights, ...opt }, train)).keys()].sort()).toEqual(['b1', 'b2', 'w1', 'w2']);
    // Without mdc train's metadata the same tensors are no parameters of the model.
    expect(message(() => checkpointParams(plan, encodeCheckpoint({ ...weights, ...opt }), undefined, 'c.safetensors'))).toMatch(
      /^c\.safetensors: cannot load into Mlp: 3 problems:\n {2}tensor 'opt\.m\.b2' \(F32\[10\]\) matches no entry/,
    );
    expect(message(() => checkpointParams(plan, encodeCheckpoint(weights, { ...train, model: 'GPT2' }), undefined, 'c.safetensors'))).toBe(
      "c.safetensors: it is mdc train's checkpoint of model 'GPT2', not of Mlp",
    );
  });

  it('refuses a shape that differs, naming both', () => {
    expect(message(() => checkpointParams(plan, encodeCheckpoint({ ...weights, w2: f32([10, 32]) }), undefined, 'c.safetensors'))).toBe(
      "c.safetensors: cannot load into Mlp: tensor 'w2' (F32[10, 32]) gives [10, 32], but parameter 'w2' is f32[32, 10] in Mlp",
    );
  });

  it('refuses a map without a checkpoint, and parameters given twice', () => {
    expect(message(() => runnerOptions(plan, { weightsMap: 'gpt2' }))).toBe('checkpoint: a weightsMap was given without a checkpoint to read');
    expect(message(() => runnerOptions(plan, { checkpoint: encodeCheckpoint(weights), params: new Map() }))).toBe(
      'checkpoint: give the parameters either as `params` or as a `checkpoint`, not both',
    );
    expect(runnerOptions(plan, { seed: 4 })).toEqual({ seed: 4 });
  });
});
