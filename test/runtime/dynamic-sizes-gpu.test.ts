import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { compile } from '../../driver/compile.js';
import { sizeDims } from '../../driver/shrink.js';
import { PlanRunner } from '../../runtime/executor.js';
import { HostModel } from '../../runtime/host-model.js';
import { initValues } from '../../runtime/init.js';
import type { Plan } from '../../runtime/plan.js';
import { destroySharedDevices, gpuStatus, sharedDevice, uniformF32, uniformI32 } from '../support/gpu.js';

/**
 * The host model run at batch and sequence sizes below the compiled ones (padded inputs,
 * cut outputs) against the same model compiled separately at those sizes, on the WebGPU
 * adapter; and a dim the compiler refused is refused by `run`, naming the op.
 */
const GPT2 = readFileSync('samples/gpt2.model', 'utf8');
/** The sample's `B@dp` needs a batch divisible by its mesh's 2: a one-device mesh lets a compile take B = 1. */
const ONE_DEVICE = [
  { name: 'dp', size: 1 },
  { name: 'tp', size: 1 },
];

async function compiled(source: string, file: string, opts: { preset?: string; dims?: Record<string, number> } = {}) {
  const r = await compile(source, file, { ...opts, mesh: ONE_DEVICE, seed: 3 });
  if (!r.plan) throw new Error(`${file} does not compile: ${r.diagnostics.map((d) => d.message).join('; ')}`);
  return { plan: r.plan, dims: sizeDims(r) };
}

const paramsOf = (plan: Plan) =>
  new Map(
    plan.buffers
      .filter((b) => b.role === 'param')
      .map(
        (b) =>
          [
            b.name,
            initValues(
              b.init!,
              b.shape.reduce((a, c) => a * c, 1),
              plan.seed,
              b.name,
            ),
          ] as const,
      ),
  );

const gpu = await gpuStatus();
afterAll(destroySharedDevices);

describe.skipIf(gpu.skip)(gpu.title('dynamic batch and sequence sizes'), () => {
  it('GPT-2 tiny compiled at B = 2, S = 64 runs at (1, 16), (2, 5) and (1, 64) as compiles at those sizes do (rel 1e-5)', async () => {
    const device = await sharedDevice();
    const big = await compiled(GPT2, 'gpt2.model', { preset: 'tiny' });
    const model = await HostModel.load(device, big.plan, { params: paramsOf(big.plan) }, big.dims);
    try {
      for (const [B, S] of [
        [1, 16],
        [2, 5],
        [1, 64],
      ] as const) {
        const small = await compiled(GPT2, 'gpt2.model', { preset: 'tiny', dims: { B, S } });
        const runner = await PlanRunner.create(device, small.plan, { params: paramsOf(small.plan) });
        const tokens = uniformI32(B * S, 0, 1023, B * 100 + S);
        let want;
        try {
          want = (await runner.run({ tokens }))['logits']!;
        } finally {
          runner.destroy();
        }
        const got = (await model.run({ tokens }, { B, S }))['logits']!;
        expect(got.shape).toEqual([B, S, 1024]);
        expect(want.shape).toEqual([B, S, 1024]);
        // Both are f32 on the GPU with kernels tiled for different shapes: sums in other orders, hence a relative 1e-5 of the largest logit.
        let err = 0;
        let scale = 0;
        for (let i = 0; i < want.data.length; i++) {
          err = Math.max(err, Math.abs(got.data[i]! - want.data[i]!));
          scale = Math.max(scale, Math.abs(want.data[i]!));
        }
        expect(scale).toBeGreaterThan(0);
        expect(err / scale, `B = ${B}, S = ${S}`).toBeLessThan(1e-5);
      }
      await expect(model.run({ tokens: new Int32Array(65) }, { B: 1, S: 65 })).rejects.toThrow(
        'GPT2: S = 65 is not an integer from 1 to 64, the size it was compiled at',
      );
    } finally {
      model.destroy();
    }
  });

  it('a model with bidirectional attention refuses a shorter sequence, naming the attention; a smaller batch runs', async () => {
    const device = await sharedDevice();
    const src = `model Enc(x: f32[B, S, 8]) -> f32[B, S, 8] where B = 2, S = 4 {
  param w: f32[8, 8] = normal(0, 0.3)
  let h = x @ w
  return attention(h, h, h, heads = 2)
}
`;
    const big = await compiled(src, 'enc.model');
    const model = await HostModel.load(device, big.plan, {}, big.dims);
    try {
      await expect(model.run({ x: new Float32Array(16) }, { S: 2 })).rejects.toThrow(
        'Enc cannot run at S = 2 (compiled at 4): attention at enc.model:4:10 attends to every position of S, not causally: an earlier position would read the padding',
      );
      const small = await compiled(src, 'enc.model', { dims: { B: 1 } });
      const x = uniformF32(32, -1, 1, 4);
      const runner = await PlanRunner.create(device, small.plan);
      try {
        const want = (await runner.run({ x }))['output0']!;
        const got = (await model.run({ x }, { B: 1 }))['output0']!;
        expect(got.shape).toEqual([1, 4, 8]);
        // One batch row is computed alike in both plans: the same kernels' arithmetic per row (rel 1e-6).
        for (let i = 0; i < 32; i++) expect(Math.abs(got.data[i]! - want.data[i]!)).toBeLessThan(1e-6 * Math.max(1, Math.abs(want.data[i]!)));
      } finally {
        runner.destroy();
      }
    } finally {
      model.destroy();
    }
  });
});
