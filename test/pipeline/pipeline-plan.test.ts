import { describe, expect, it } from 'vitest';
import { compile } from '../../driver/compile.js';
import { splitStages } from '../../compiler/pipeline/split.js';
import { seededRandom } from '../support/random.js';
import { flopsOf } from '../../compiler/ops/registry.js';
import { shapeOf } from '../../compiler/sharding/mesh.js';
import { mdc } from '../support/cli.js';

/**
 * Pipelined plans without a GPU: what `mdc plan` reports, how layers are split, what the
 * cut produces, and the requests that cannot be pipelined (each a located diagnostic).
 */

const layerModel = (layers: number, annotation: string, train = '') => `
mesh M = [pp: 2, dp: 2]
config C { layers = ${layers}, d = 8 }
block Layer(x: f32[B, d]) -> f32[B, d] {
  param w: f32[d, d] = normal(0, 0.1)
  return tanh(x @ w)
}
model N(x: f32[B@dp, d]) -> f32[B@dp, d] where B = 4 {
  param w0: f32[d, d] = normal(0, 0.1)
  let h = repeat(layers) Layer(x @ w0) ${annotation}
  return h
}
${train}
`;
const onMesh = (axes: Record<string, number>) => {
  const list = Object.entries(axes).map(([name, size]) => ({ name, size }));
  return { mesh: list, partition: { axes: list } };
};

describe('mdc plan of a pipelined model', () => {
  it('lists the stage transfers as send_recv collectives on pp and the schedule per rank', async () => {
    const r = await mdc(...(['plan', 'samples/gpt2.model', '--preset', 'tiny', '--mesh', 'pp=2,dp=2,tp=2', '--json'] as const));
    expect(r.code).toBe(0);
    const rep = JSON.parse(r.out);
    expect(rep.devices).toBe(8);
    expect(rep.mesh).toEqual({ pp: 2, dp: 2, tp: 2 });
    const sends = rep.collectives.filter((c: { kind: string }) => c.kind === 'send_recv');
    // Megatron's two per micro-batch: the hidden states forward, their gradient back; [B/dp, S, d] f32 each.
    expect(sends.map((c: { axis: string; bytesPerDevice: number; perStep: number }) => [c.axis, c.bytesPerDevice, c.perStep])).toEqual([
      ['pp', 1 * 64 * 128 * 4, 2],
      ['pp', 1 * 64 * 128 * 4, 2],
    ]);
    expect(sends[0].reason).toMatch(/activation of Layer\.0 flows on from stage 0 to stage 1/);
    expect(sends[1].reason).toMatch(/gradient of Layer\.1 flows back from stage 1 to stage 0/);
    expect(sends[0].span.file).toBe('samples/gpt2.model');
    expect(rep.pipeline).toMatchObject({
      axis: 'pp',
      ranks: 2,
      virtual: 1,
      stages: 2,
      microbatches: 2,
      layers: [
        [0, 1],
        [1, 2],
      ],
    });
    expect(rep.schedule.kind).toBe('1f1b');
    // Rank r runs on the devices whose pp coordinate is r: pp is the first axis, so 0..3 and 4..7.
    expect(rep.schedule.ranks.map((x: { devices: number[] }) => x.devices)).toEqual([
      [0, 1, 2, 3],
      [4, 5, 6, 7],
    ]);
    const actions = (rank: number) => rep.schedule.ranks[rank].actions.map((a: { pass: string; microbatch: number }) => `${a.pass}${a.microbatch}`).join(' ');
    expect(actions(0)).toBe('F0 F1 B0 B1');
    expect(actions(1)).toBe('F0 B0 F1 B1');
    // Within a stage nothing is gathered over pp: the only pp collectives are the sends.
    expect(rep.collectives.filter((c: { axis: string; kind: string }) => c.axis === 'pp' && c.kind !== 'send_recv')).toEqual([]);
  }, 120_000);

  it('draws the schedule in the text report, and says when the mesh has no pipeline axis', async () => {
    const r = await mdc(...(['plan', 'samples/gpt2.model', '--preset', 'tiny', '--mesh', 'pp=2,dp=2,tp=2'] as const));
    expect(r.code).toBe(0);
    expect(r.out).toContain('pipeline over pp: 2 stages on 2 ranks, 2 micro-batches, schedule 1f1b, bubble 50.0% of busy time');
    expect(r.out).toMatch(/rank 0: F0 F1 \.\s+B0 \.\s+B1/);
    const plain = await mdc(...(['plan', 'samples/gpt2.model', '--preset', 'tiny', '--json'] as const));
    expect(JSON.parse(plain.out).pipeline).toEqual({
      applied: false,
      reason: expect.stringContaining("@pipeline(stages = 2) lays its stages along 'pp', and the mesh [dp: 2, tp: 4] has no such axis"),
    });
  }, 120_000);
});

describe('the stage split', () => {
  it('balances forward FLOPs: the largest stage is as small as any contiguous split makes it (brute force)', async () => {
    const rnd = seededRandom(7);
    for (let trial = 0; trial < 12; trial++) {
      const layers = rnd.int(2, 7);
      const stages = rnd.int(1, layers);
      const src = layerModel(layers, `@pipeline(stages = ${stages})`);
      const g = await compileForward(src);
      const split = splitStages(g, { stages, block: 'Layer' });
      expect(split.layers[0]![0]).toBe(0);
      expect(split.layers.at(-1)![1]).toBe(layers);
      split.layers.forEach(([lo, hi], k) => {
        expect(hi).toBeGreaterThan(lo);
        if (k) expect(lo).toBe(split.layers[k - 1]![1]);
      });
      // Costs from the op table, node by node: every layer the same, the w0 matmul before them on stage 0.
      const cost = (scope: (s: string) => boolean) =>
        g.nodes
          .filter((n) => scope(n.scope))
          .reduce(
            (a, n) =>
              a +
              flopsOf(
                n,
                n.inputs.map((i) => shapeOf(g.values[i]!.type)),
                n.outputs.map((o) => shapeOf(g.values[o]!.type)),
              ),
            0,
          );
      const perLayer = cost((s) => s === 'Layer.0');
      const pre = cost((s) => s === '');
      expect(perLayer).toBeGreaterThan(0);
      expect(Math.max(...split.flops)).toBe(bruteForce(layers, stages, perLayer, pre));
    }
  });

  it('takes explicit layers = [...]', async () => {
    const g = await compileForward(layerModel(5, '@pipeline(stages = 2, layers = [4, 1])'));
    expect(splitStages(g, { stages: 2, block: 'Layer', layers: [4, 1] }).layers).toEqual([
      [0, 4],
      [4, 5],
    ]);
  });
});

describe('impossible requests are located diagnostics', () => {
  const at = async (src: string, axes: Record<string, number>, train: object | boolean = true) => {
    const r = await compile(src, 'n.model', { ...onMesh(axes), train: train as never });
    return r.diagnostics.map((d) => `${d.code} ${d.span.line}: ${d.message}`);
  };
  const train = (extra: string) => `train N { loss = output0; optimizer = sgd(lr = 0.1)\n${extra} }`;
  const scalarLoss = (layers: number, ann: string, extra = '') =>
    layerModel(layers, ann, train(extra))
      .replace('-> f32[B@dp, d] where B = 4 {', '-> f32[] where B = 4 {')
      .replace('return h', 'return sum(reshape(h, [B * d]), axis = 0)');

  it('stages that do not fill the ranks evenly, or several per rank without interleaving', async () => {
    expect(await at(scalarLoss(4, '@pipeline(stages = 3)'), { pp: 2, dp: 2 })).toEqual([
      'MDC0135 10: @pipeline: 3 stages cannot be laid evenly on pp = 2: give a multiple of 2 stages (each rank then holds stages/pp of them)',
    ]);
    expect(await at(scalarLoss(4, '@pipeline(stages = 4)', 'schedule = gpipe'), { pp: 2, dp: 2 })).toEqual([
      'MDC0135 10: @pipeline: 4 stages on pp = 2 put 2 on each rank, which only schedule = interleaved runs; set it, or stages = 2',
    ]);
    expect(await at(scalarLoss(4, '@pipeline(stages = 2)', 'schedule = interleaved'), { pp: 2, dp: 2 })).toEqual([
      'MDC0135 10: @pipeline: schedule = interleaved needs at least 2 stages per rank: set stages = 4 (2 per rank on pp = 2), or another schedule',
    ]);
  });

  it('fewer micro-batches than the interleaved schedule needs, and mixed precision', async () => {
    const [d] = await at(scalarLoss(4, '@pipeline(stages = 4)', 'schedule = interleaved\nmicrobatches = 3'), { pp: 2, dp: 2 }, { microbatches: 3 });
    expect(d).toMatch(/^MDC0135 10: @pipeline: .*multiple of .*2/);
    expect(await at(scalarLoss(4, '@pipeline(stages = 2)', 'precision = "bf16"'), { pp: 2, dp: 2 })).toEqual([
      'MDC0135 10: @pipeline: mixed precision (bf16) with pipeline stages is not supported yet: train in f32',
    ]);
  });

  it('more stages than layers', async () => {
    const ds = await at(scalarLoss(2, '@pipeline(stages = 4)'), { pp: 4, dp: 1 });
    expect(ds).toEqual(['MDC0135 10: @pipeline: 4 pipeline stages need at least 4 layers; the stack has 2']);
  });
});

/** The forward graph as compile() lowers it (the split needs no mesh). */
async function compileForward(src: string) {
  const r = await compile(src, 'n.model', { until: 'lower' });
  expect(r.diagnostics).toEqual([]);
  return r.forward!;
}

/** The smallest largest stage cost over every contiguous split of `layers` equal layers into `stages` (stage 0 also pays `pre`). */
function bruteForce(layers: number, stages: number, per: number, pre: number): number {
  let best = Infinity;
  const go = (start: number, k: number, worst: number) => {
    if (k === stages) {
      if (start === layers) best = Math.min(best, worst);
      return;
    }
    for (let end = start + 1; end <= layers - (stages - k - 1); end++) go(end, k + 1, Math.max(worst, (end - start) * per + (k === 0 ? pre : 0)));
  };
  go(0, 0, 0);
  return best;
}
