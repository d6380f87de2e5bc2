import { describe, expect, it } from 'vitest';
import { pipelineTime } from '../../compiler/cost/step.js';
import { axisLinks, hardwareFrom, ringSeconds, type Hardware } from '../../compiler/cost/hardware.js';
import { loadHardware } from '../../driver/hardware.js';
import { mdc } from '../support/cli.js';

const uniform = (stages: number, F: number, B: number, W = 0) => Array.from({ length: stages }, () => ({ F, B, W }));

describe('pipeline time with uniform stages', () => {
  // Megatron-LM's bubble: p − 1 idle slots of F + B per rank against m busy ones, so (p − 1)/m;
  // interleaving makes each slot a chunk of 1/v the work, so (p − 1)/(v·m).
  for (const [p, m] of [
    [2, 4],
    [4, 8],
    [4, 16],
    [8, 32],
  ] as const) {
    it(`gpipe and 1f1b: (p − 1)/m for p = ${p}, m = ${m}`, () => {
      for (const kind of ['gpipe', '1f1b'] as const) expect(pipelineTime(kind, p, 1, m, uniform(p, 1, 2)).bubbleRatio).toBeCloseTo((p - 1) / m, 12);
    });
    it(`interleaved: (p − 1)/(v·m) for p = ${p}, m = ${m}, v = 2 and 3`, () => {
      for (const v of [2, 3]) expect(pipelineTime('interleaved', p, v, m, uniform(p * v, 1 / v, 2 / v)).bubbleRatio).toBeCloseTo((p - 1) / (v * m), 12);
    });
    it(`zb-h1 idles less than 1f1b at the same in-flight bound, p = ${p}, m = ${m}`, () => {
      // The same work per micro-batch: 1f1b's backward of 2 split into B = 1 and W = 1.
      const one = pipelineTime('1f1b', p, 1, m, uniform(p, 1, 2));
      const zb = pipelineTime('zb-h1', p, 1, m, uniform(p, 1, 1, 1));
      expect(zb.bubbleRatio).toBeLessThan(one.bubbleRatio);
      expect(Math.max(...zb.peakInFlight)).toBe(Math.max(...one.peakInFlight));
    });
  }
  it('a slow stage sets the pace: the makespan is at least m times its F + B', () => {
    const stages = [...uniform(3, 1, 2), { F: 2, B: 4, W: 0 }];
    expect(pipelineTime('1f1b', 4, 1, 8, stages).makespan).toBeGreaterThanOrEqual(8 * 6);
  });
});

describe('hardware descriptions', () => {
  const a100 = loadHardware('a100-80gb');
  it('every description in hardware/ loads, and a broken one says which field', () => {
    for (const name of ['a100-80gb', 'h100-80gb', 'webgpu-laptop', 'llvmpipe']) expect(loadHardware(name).name).toBe(name);
    expect(() => hardwareFrom({ ...a100, efficiency: { matmul: 1.5 } }, 'x.json')).toThrow(/x\.json: efficiency\.matmul must be a number in \(0, 1\]/);
    expect(() => loadHardware('a200')).toThrow(/no hardware description 'a200': choose one of .*a100-80gb/);
  });
  it('maps the innermost axes inside a node and the rest onto InfiniBand, k devices of an axis sharing a node using k adapters', () => {
    const mesh = (axes: [string, number][]) => ({ axes: axes.map(([name, size]) => ({ name, size })) });
    const l = axisLinks(
      a100,
      mesh([
        ['dp', 4],
        ['pp', 2],
        ['tp', 8],
      ]),
    );
    expect(l.get('tp')!.name).toBe('nvlink');
    expect(l.get('pp')).toMatchObject({ name: 'infiniband', bandwidth: 25e9 });
    expect(l.get('dp')).toMatchObject({ name: 'infiniband', bandwidth: 25e9 });
    // 32-way data parallel alone: 8 devices per node, each with its adapter: 8 × 25 GB/s, under NVLink's 300.
    expect(axisLinks(a100, mesh([['dp', 32]])).get('dp')).toMatchObject({ name: 'infiniband', bandwidth: 200e9 });
    expect(
      axisLinks(
        a100,
        mesh([
          ['dp', 16],
          ['tp', 2],
        ]),
      ).get('dp'),
    ).toMatchObject({ name: 'infiniband', bandwidth: 100e9 });
  });
  it('times a ring step as bytes over the achieved bandwidth plus a latency per hop', () => {
    const hw: Hardware = hardwareFrom({ ...a100, links: [{ name: 'x', bandwidth: 100, latency: 0.5, efficiency: 0.5 }] }, 'x');
    // 2(n − 1)/n · 1000 bytes for n = 4: 1500 bytes at 50 B/s = 30 s, plus 6 hops of 0.5 s.
    expect(ringSeconds(hw.links[0]!, 1500, 6)).toBe(33);
  });
});

describe('mdc plan --hardware', () => {
  it('adds predicted, whose throughput is the model FLOPs over devices and step time', async () => {
    const r = await mdc(
      'plan',
      'bench/models/megatron-gpt.model',
      '--preset',
      'tiny',
      '--mesh',
      'dp=2,tp=2',
      '--dim',
      'B=2',
      '--hardware',
      'a100-80gb',
      '--json',
    );
    expect(r.err).toBe('');
    const j = JSON.parse(r.out);
    expect(Object.keys(j.predicted).sort()).toEqual(['bubbleFraction', 'commSeconds', 'peakBytesPerDevice', 'stepSeconds', 'tflopsPerDevice']);
    // Model FLOPs per step: 3 passes (no recompute) of the forward, 2 micro-batches (the preset's).
    expect((j.predicted.tflopsPerDevice * 1e12 * 4 * j.predicted.stepSeconds) / (2 * j.flopsPerStep)).toBeCloseTo(1, 9);
    expect(j.predicted.bubbleFraction).toBe(0);
    expect(j.predicted.commSeconds).toBeGreaterThan(0);
    expect(j.predicted.commSeconds).toBeLessThan(j.predicted.stepSeconds);
    const text = await mdc('plan', 'bench/models/megatron-gpt.model', '--preset', 'tiny', '--mesh', 'dp=2,tp=2', '--dim', 'B=2', '--hardware', 'a100-80gb');
    expect(text.out).toMatch(/predicted on a100-80gb: step [\d.]+ (ms|µs|s), [\d.]+ TFLOP\/s per device/);
  });
  it('an unknown description is a usage error naming the known ones', async () => {
    const r = await mdc('plan', 'bench/models/megatron-gpt.model', '--preset', 'tiny', '--hardware', 'tpu-v9');
    expect(r.code).not.toBe(0);
    expect(r.err).toMatch(/--hardware: no hardware description 'tpu-v9': choose one of a100-80gb, /);
  });
});
