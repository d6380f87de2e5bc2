import { afterAll, describe, expect, it } from 'vitest';
import { compile } from '../../driver/compile.js';
import { PlanRunner } from '../../runtime/executor.js';
import { MeshRunner } from '../../runtime/mesh.js';
import { PipelineRunner } from '../../runtime/pipeline.js';
import { biasCorrections } from '../../runtime/train.js';
import { destroySharedDevices, sharedDevices } from '../support/gpu.js';

/**
 * Pipelined plans against the single-device run of the same model (the law:
 * pipelined == one device). Training compares every parameter after 3 AdamW steps with
 * the one-device plan accumulating the same micro-batches; the forward compares outputs.
 *
 * Tolerances: a pipelined step computes every micro-batch's gradients with the same
 * kernels, but adds the tied embedding's two stages' sums once per step (the one-device
 * step adds the two contributions per micro-batch), sums the norm's squares stage by
 * stage, and splits matmul sums over tp; AdamW then divides by √v, which turns a last-bit
 * difference of a near-zero gradient into more. Parameters agree within 1e-6 absolute (the
 * worst seen is 7.5e-9; lr = 1e-3 for 3 steps moves a weight by up to 3e-3, so a lost or
 * doubled micro-batch fails), losses within 1e-5 relative.
 */

const gpt = (stages: number, layers: number, schedule: string, extra = '', train = '') => `
mesh Cluster = [pp: 2, dp: 2, tp: 2]
config C { vocab = 64, d = 32, heads = 4, layers = ${layers}, ffn = 4 * d, eps = 1e-5 }
block Attention(x: f32[B, S, d]) -> f32[B, S, d] {
  param wq: f32[d, d@tp] = normal(0, 0.02)
  param wk: f32[d, d@tp] = normal(0, 0.02)
  param wv: f32[d, d@tp] = normal(0, 0.02)
  param bq: f32[d@tp] = normal(0, 0.02)
  param wo: f32[d@tp, d] = normal(0, 0.02)
  param bo: f32[d] = zeros()
  let a = attention(x @ wq + bq, x @ wk, x @ wv, heads = heads, causal = true)
  return a @ wo + bo
}
block Layer(x: f32[B, S, d]) -> f32[B, S, d] {
  param g1: f32[d] = ones()
  param b1: f32[d] = zeros()
  param g2: f32[d] = ones()
  param b2: f32[d] = zeros()
  param w1: f32[d, ffn@tp] = normal(0, 0.02)
  param w2: f32[ffn@tp, d] = normal(0, 0.02)
  let h = x + Attention(layer_norm(x, g1, b1, eps))
  return h + gelu(layer_norm(h, g2, b2, eps) @ w1) @ w2
}
model G(tokens: i32[B@dp, S]) -> f32[B@dp, S, vocab] where B = 2, S = 8 {
  param wte: f32[vocab, d] = normal(0, 0.02)
  param wpe: f32[S, d] = normal(0, 0.01)
  param gf: f32[d] = ones()
  param bf: f32[d] = zeros()
  let h = embedding(wte, tokens) + wpe
  h = repeat(layers) Layer(h) @pipeline(stages = ${stages}${extra})
  return layer_norm(h, gf, bf, eps) @ transpose(wte)
}
train G {
  loss = cross_entropy(output0, labels)
  optimizer = adamw(lr = 1e-3)
  schedule = ${schedule}
  ${train}
}
`;

type Axes = Record<string, number>;
const meshOf = (axes: Axes) => ({ axes: Object.entries(axes).map(([name, size]) => ({ name, size })) });
/** Compile options partitioning over `axes` (the --mesh option and the partition). */
const onMesh = (axes: Axes) => ({ mesh: meshOf(axes).axes, partition: meshOf(axes) });
const devicesOf = (axes: Axes) => Object.values(axes).reduce((a, b) => a * b, 1);
const ids = (n: number, seed: number) => Int32Array.from({ length: n }, (_, i) => (i * 7919 + seed * 104729 + ((i * i) % 13)) % 64);
const LIMIT = { timeLimitMs: 600_000 };

function worstDiff(a: ReadonlyMap<string, Float32Array>, b: ReadonlyMap<string, Float32Array>): { diff: number; name: string; compared: number } {
  let diff = 0;
  let name = '';
  let compared = 0;
  for (const [k, x] of a) {
    if (k.startsWith('opt.') || k.startsWith('acc.')) continue;
    const y = b.get(k);
    expect(y, `the one-device plan has parameter ${k}`).toBeDefined();
    compared++;
    for (let i = 0; i < x.length; i++) {
      const d = Math.abs(x[i]! - y![i]!);
      if (!(d <= diff)) {
        diff = d;
        name = k;
      }
    }
  }
  return { diff, name, compared };
}

/**
 * Trains `source` 3 steps pipelined on `axes` and `reference` (default the same source) on
 * one device (batch `batch` in `m` micro-batches); returns the worst parameter difference.
 */
async function trainBoth(source: string, axes: Axes, batch: number, m: number, reference = source) {
  const rows = batch / m;
  const dims = { B: rows, S: 8 };
  const pc = await compile(source, 'g.model', { train: { microbatches: m }, ...onMesh(axes), dims });
  expect(pc.diagnostics).toEqual([]);
  // The same mesh for the front end (its dims must divide), one device for the run.
  const sc = await compile(reference, 'g.model', { train: { microbatches: m }, mesh: meshOf(axes).axes, dims });
  expect(sc.diagnostics).toEqual([]);
  const devices = await sharedDevices(devicesOf(axes));
  const pr = await PipelineRunner.create(devices, pc.pipeline!.plan!, LIMIT);
  const sr = await PlanRunner.create(devices[0]!, sc.plan!, LIMIT);
  const losses: [number, number][] = [];
  try {
    for (let t = 1; t <= 3; t++) {
      const tokens = ids(batch * 8, t);
      const labels = ids(batch * 8, t + 50);
      const [bc1, bc2] = biasCorrections(t, 0.9, 0.999);
      // `step`: with training dropout, micro-batch i draws its masks from counter (t − 1)·m + i on both sides.
      const p = await pr.step({ tokens, labels }, { lr: 1e-3, bc1, bc2, step: t });
      const dropout = sc.plan!.inputs.some((io) => io.name === 'dropout_step');
      let loss = 0;
      const n = rows * 8;
      for (let i = 0; i < m; i++) {
        const out = await sr.run(
          {
            tokens: tokens.subarray(i * n, (i + 1) * n),
            labels: labels.subarray(i * n, (i + 1) * n),
            lr: Float32Array.of(1e-3),
            bc1: Float32Array.of(bc1),
            bc2: Float32Array.of(bc2),
            ...(m > 1 ? { apply: Float32Array.of(i === m - 1 ? 1 : 0) } : {}),
            ...(dropout ? { dropout_step: Int32Array.of((t - 1) * m + i) } : {}),
          },
          ['loss'],
        );
        loss += out['loss']!.data[0]! / m;
      }
      losses.push([p.loss, loss]);
    }
    return { ...worstDiff(await pr.readParams(), await sr.readParams()), losses, plan: pc.pipeline!.plan! };
  } finally {
    pr.destroy();
    sr.destroy();
  }
}

function expectSameTraining(r: Awaited<ReturnType<typeof trainBoth>>) {
  expect(r.compared).toBeGreaterThan(10);
  expect(r.diff, `worst parameter ${r.name}`).toBeLessThan(1e-6);
  for (const [p, s] of r.losses) expect(Math.abs(p - s) / Math.abs(s)).toBeLessThan(1e-5);
  // The losses moved: the comparison is of a model that trained.
  expect(r.losses[2]![1]).not.toBe(r.losses[0]![1]);
}

afterAll(destroySharedDevices);

describe('pipelined training equals one device', () => {
  it('4 stages on 4 devices (1f1b, 8 micro-batches)', async () => {
    const r = await trainBoth(gpt(4, 4, '"1f1b"'), { pp: 4, dp: 1, tp: 1 }, 8, 8);
    expect(r.plan.stages).toBe(4);
    expect(r.plan.layers).toEqual([
      [0, 1],
      [1, 2],
      [2, 3],
      [3, 4],
    ]);
    expectSameTraining(r);
  }, 900_000);

  it('[pp: 2, dp: 2, tp: 2] on 8 devices (1f1b, 8 micro-batches)', async () => {
    const r = await trainBoth(gpt(2, 2, '"1f1b"'), { pp: 2, dp: 2, tp: 2 }, 16, 8);
    expectSameTraining(r);
  }, 900_000);

  for (const [schedule, stages] of [
    ['gpipe', 2],
    ['interleaved', 4],
    ['"zb-h1"', 2],
  ] as const) {
    it(`${schedule} on [pp: 2] (4 micro-batches)`, async () => {
      const r = await trainBoth(gpt(stages, 4, schedule), { pp: 2, dp: 1, tp: 1 }, 8, 4);
      expect(r.plan.schedule.kind).toBe(schedule.replaceAll('"', ''));
      if (schedule === '"zb-h1"') expect(r.plan.programs.some((p) => p.pass === 'W')).toBe(true);
      expectSameTraining(r);
    }, 900_000);
  }
});

describe('training dropout in a pipeline', () => {
  it('new masks per micro-batch and step, as one device draws them, on [pp: 2] (4 micro-batches)', async () => {
    const attn = 'let h = x + Attention(layer_norm(x, g1, b1, eps))';
    const src = gpt(2, 2, '"1f1b"').replace(attn, 'let h = x + dropout(Attention(layer_norm(x, g1, b1, eps)), 0.2)');
    expect(src).toContain('dropout(');
    const r = await trainBoth(src, { pp: 2, dp: 1, tp: 1 }, 8, 4);
    // Every stage's forward and backward programs read the counter.
    const readers = r.plan.programs.filter((p) => p.plan.inputs.some((io) => io.name === 'dropout_step')).map((p) => `${p.stage}${p.pass}`);
    expect(readers.sort()).toEqual(['0B', '0F', '1B', '1F']);
    expectSameTraining(r);
  }, 900_000);
});

describe('multi-copy and host offload inside pipeline stages', () => {
  it('copies = 2 on [pp: 2, tp: 2] trains as one device without copies', async () => {
    const r = await trainBoth(gpt(2, 2, '"1f1b"', '', 'copies = 2'), { pp: 2, dp: 1, tp: 2 }, 8, 2, gpt(2, 2, '"1f1b"'));
    expectSameTraining(r);
  }, 900_000);

  it('@offload(host) with clipping, on [pp: 2, dp: 2] under zb-h1, trains as one device updating everything itself', async () => {
    const offloaded = gpt(2, 2, '"zb-h1"', '', 'grad_clip = 0.05').replace(
      'param w1: f32[d, ffn@tp] = normal(0, 0.02)',
      'param w1: f32[d, ffn@tp] = normal(0, 0.02) @offload(host)',
    );
    expect(offloaded).toContain('@offload(host)');
    const r = await trainBoth(offloaded, { pp: 2, dp: 2, tp: 1 }, 8, 4, gpt(2, 2, '"zb-h1"', '', 'grad_clip = 0.05'));
    expect(r.plan.offload?.params.map((p) => p.param)).toEqual(['Layer.0.w1', 'Layer.1.w1']);
    // No stage keeps optimizer state for them.
    const names = r.plan.programs.flatMap((p) => p.plan.buffers.map((b) => b.name));
    expect(names.filter((n) => n.startsWith('opt.') && n.endsWith('.w1'))).toEqual([]);
    expectSameTraining(r);
  }, 900_000);
});

describe('pipelined forward equals one device', () => {
  it('2 stages on [pp: 2, tp: 2], and 4 interleaved stages on [pp: 2]', async () => {
    for (const [src, axes] of [
      [gpt(2, 2, '"1f1b"'), { pp: 2, dp: 1, tp: 2 }],
      [gpt(4, 4, 'interleaved'), { pp: 2, dp: 1, tp: 1 }],
    ] as const) {
      const dims = { B: 4, S: 8 };
      const pc = await compile(src, 'g.model', { ...onMesh(axes), dims });
      expect(pc.diagnostics).toEqual([]);
      const sc = await compile(src, 'g.model', { dims });
      const devices = await sharedDevices(devicesOf(axes));
      const pr = await PipelineRunner.create(devices, pc.pipeline!.plan!, LIMIT);
      const sr = await PlanRunner.create(devices[0]!, sc.plan!, LIMIT);
      const tokens = ids(32, 9);
      const a = (await pr.run({ tokens }))['output0']!;
      const b = (await sr.run({ tokens }))['output0']!;
      expect(a.shape).toEqual(b.shape);
      let worst = 0;
      for (let i = 0; i < a.data.length; i++) worst = Math.max(worst, Math.abs(a.data[i]! - b.data[i]!));
      expect(worst).toBeLessThan(1e-5);
      pr.destroy();
      sr.destroy();
    }
  }, 900_000);
});

describe('the runner refuses what it cannot run', () => {
  it('a device count other than the mesh, a forward call on a training plan, a plain plan', async () => {
    const pc = await compile(gpt(2, 2, '"1f1b"'), 'g.model', { train: { microbatches: 2 }, ...onMesh({ pp: 2, dp: 1, tp: 1 }), dims: { B: 1, S: 8 } });
    const devices = await sharedDevices(2);
    await expect(PipelineRunner.create(devices.slice(0, 1), pc.pipeline!.plan!)).rejects.toThrow(/pipelined over 2 devices .*but 1 were given/);
    const sc = await compile(gpt(2, 2, '"1f1b"'), 'g.model', { dims: { B: 1, S: 8 } });
    await expect(PipelineRunner.create(devices, sc.plan!)).rejects.toThrow(/not a pipelined plan/);
    await expect(MeshRunner.create(devices, pc.pipeline!.plan!)).rejects.toThrow();
    // Given parameters cover every one, as for a one-program plan: a forgotten one is not drawn from the seed silently.
    await expect(PipelineRunner.create(devices, pc.pipeline!.plan!, { params: new Map([['wte', new Float32Array(64 * 32)]]) })).rejects.toThrow(
      /missing parameters wpe, .* of G \(pass initRest: true/,
    );
    const pr = await PipelineRunner.create(devices, pc.pipeline!.plan!, LIMIT);
    await expect(pr.run({ tokens: ids(16, 1) })).rejects.toThrow(/training step; call step\(\)/);
    await expect(pr.step({ tokens: ids(16, 1) }, { lr: 1e-3, bc1: 1, bc2: 1 })).rejects.toThrow(/missing input 'labels'/);
    pr.destroy();
  }, 300_000);
});
