import { afterAll, describe, expect, it } from 'vitest';
import { compile } from '../../driver/compile.js';
import { PlanRunner } from '../../runtime/executor.js';
import { ArrayDataset, classificationMetrics, Trainer } from '../../runtime/trainer.js';
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

  it('labels of -100 are left out of the training loss on the device, as the host metrics leave them out', async () => {
    const source = `model C(x: f32[B, 3]) -> f32[B, 4] where B = 6 {
  param w: f32[3, 4] = normal(0, 1)
  let logits = x @ w
  return logits
}
train C { loss = cross_entropy(logits, labels) }`;
    const train = await compile(source, 'c.model', { train: true, seed: 2 });
    const fwd = await compile(source, 'c.model', { seed: 2 });
    const device = devices[0]!;
    const model = await PlanRunner.create(device, train.plan!);
    const forward = await PlanRunner.create(device, fwd.plan!);
    const rand = mulberry32(4);
    const x = Float32Array.from({ length: 18 }, () => rand() * 2 - 1);
    const labels = Int32Array.of(1, -100, 3, 0, -100, 2);
    // lr 0: the step computes the loss and changes nothing.
    const out = await model.run({ x, labels, lr: Float32Array.of(0), bc1: Float32Array.of(1), bc2: Float32Array.of(1) }, ['loss']);
    const logits = (await forward.run({ x }, ['logits']))['logits']!.data as Float32Array;
    // The oracle: cross-entropy of the four labelled rows, in float64 on the host.
    let want = 0;
    labels.forEach((y, r) => {
      if (y < 0) return;
      const row = Array.from(logits.subarray(r * 4, r * 4 + 4));
      want += Math.log(row.reduce((a, v) => a + Math.exp(v), 0)) - row[y]!;
    });
    want /= 4;
    // f32 log-sum-exp over 4 logits of O(1): within 1e-5 relative.
    expect(Math.abs(out['loss']!.data[0]! - want)).toBeLessThan(1e-5 * Math.max(1, want));
    expect(classificationMetrics(logits, labels, []).loss).toBeCloseTo(want, 5);
    model.destroy();
    forward.destroy();
  });
});
