import { afterAll, describe, expect, it } from 'vitest';
import { compile } from '../../driver/compile.js';
import { PlanRunner } from '../../runtime/executor.js';
import { ArrayDataset, Trainer } from '../../runtime/trainer.js';
import { gpuStatus } from '../support/gpu.js';
import { mulberry32 } from '../support/random.js';

/**
 * The runtime's Trainer used as a library, Hugging Face style, on WebGPU: a linear
 * regression trained with `loss = mse(pred, labels)`; evaluate() reports the validation
 * MSE, and predict() returns what the forward plan computes from the trained weights,
 * checked against the same weights applied on the host.
 */
const status = await gpuStatus();

const SOURCE = `model Line(x: f32[B, 2]) -> f32[B, 1] where B = 8 {
  param w: f32[2, 1] = normal(0, 0.1)
  param b: f32[1] = zeros()
  let pred = x @ w + b
  return pred
}
train Line {
  loss = mse(pred, labels)
  optimizer = adamw(lr = 0.05, weight_decay = 0)
}`;

describe.skipIf(status.skip)(status.title('Trainer API'), () => {
  const devices: GPUDevice[] = [];
  afterAll(() => devices.forEach((d) => d.destroy()));

  it('trains a regression, evaluates it and predicts with the trained weights', async () => {
    const train = await compile(SOURCE, 'line.model', { train: true, seed: 3 });
    const fwd = await compile(SOURCE, 'line.model', { seed: 3 });
    expect(train.diagnostics).toEqual([]);
    const { nodeDevices } = await import('../../runtime/node.js');
    const {
      devices: [device],
    } = await nodeDevices(1);
    devices.push(device!);
    // y = 2·x0 − x1 + 0.5, no noise: the MSE can fall to ~0.
    const rand = mulberry32(11);
    const n = 160;
    const x = Float32Array.from({ length: 2 * n }, () => rand() * 2 - 1);
    const y = Float32Array.from({ length: n }, (_, i) => 2 * x[2 * i]! - x[2 * i + 1]! + 0.5);
    const { train: tr, validation } = new ArrayDataset({ x, labels: y }, n).split(0.2, 1);
    const model = await PlanRunner.create(device!, train.plan!);
    const forward = await PlanRunner.create(device!, fwd.plan!);
    const trainer = new Trainer({
      model,
      forward,
      train: tr,
      eval: validation,
      batchSize: 8,
      epochs: 12,
      seed: 5,
      optimizer: { lr: 0.05, betas: [0.9, 0.95] },
      schedule: { kind: 'linear', warmup: 5 },
      task: { loss: 'mse', output: 'pred', labels: 'labels' },
    });
    const before = await trainer.evaluate();
    await trainer.train();
    expect(trainer.evals).toHaveLength(12);
    const after = trainer.evals.at(-1)!;
    // Starting from w ~ 0 the MSE is about Var(y) ≈ 1.9; twelve epochs bring it near 0.
    expect(before.loss).toBeGreaterThan(0.5);
    expect(after.loss).toBeLessThan(0.01);
    const p = await trainer.predict(validation);
    expect(p.shape).toEqual([validation.length, 1]);
    const params = await model.readParams();
    const [w, b] = [params.get('w')!, params.get('b')!];
    const vx = validation.columns['x']!;
    for (let i = 0; i < validation.length; i++) {
      const want = vx[2 * i]! * w[0]! + vx[2 * i + 1]! * w[1]! + b[0]!;
      // Two f32 products and two adds: within a few ulps of O(1) values.
      expect(Math.abs(p.data[i]! - want)).toBeLessThan(1e-5);
    }
    // The trained weights are the line's.
    expect(Math.abs(w[0]! - 2)).toBeLessThan(0.1);
    expect(Math.abs(w[1]! + 1)).toBeLessThan(0.1);
    model.destroy();
    forward.destroy();
  });
});
