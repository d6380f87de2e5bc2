/**
 * Whole-plan search (issue 14 item 4): `mdc plan --auto --devices N --hardware NAME`.
 * Oracles: hand-derived stage splits and FLOP counts, the schedule simulator of
 * compiler/pipeline/schedule.ts (a separate implementation) for the search's fast runs,
 * `mdc plan --hardware` on the fully lowered model for the one-layer-times-L costing, and the
 * search's own smallest plan re-run at exactly its reported memory.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { autoPlan, AutoPlanError, type AutoPlan } from '../../driver/auto-plan.js';
import { loadHardware } from '../../driver/hardware.js';
import { runSchedule, scheduleTime, stageBoundaries } from '../../compiler/cost/plan-search.js';
import { makeSchedule, simulate, type ScheduleKind } from '../../compiler/pipeline/schedule.js';
import { flopsOf } from '../../compiler/ops/registry.js';
import { lower } from '../../compiler/compile.js';
import { autoShard } from '../../compiler/sharding/auto.js';
import { mdc } from '../support/cli.js';
import { MEGATRON_TABLE, publishedCandidate } from '../support/megatron.js';

const hw = loadHardware('a100-80gb');
const MEGATRON = 'bench/models/megatron-gpt.model';
const GPT3 = 'bench/models/gpt3-dropout.model';
const PRESETS: Record<number, string> = { 2304: 'gpt1p7b', 8192: 'gpt39b', 12288: 'gpt146b' };

function search(file: string, frontend: Parameters<typeof autoPlan>[0]['frontend'], devices: number, memoryCap?: number): AutoPlan {
  const r = autoPlan({ file, source: readFileSync(file, 'utf8'), frontend, devices, hardware: hw, ...(memoryCap !== undefined ? { memoryCap } : {}) });
  if ('diagnostics' in r) throw new Error(r.diagnostics.map((d) => d.message).join('; '));
  return r;
}

describe('repeated layers with dropout', () => {
  it('48 dropout layers tie to one layer in the intra-op search (once: Maximum call stack size exceeded)', { timeout: 120_000 }, async () => {
    const mesh = [
      { name: 'dp', size: 2 },
      { name: 'tp', size: 2 },
    ];
    const distinct = async (layers: number) => {
      const r = lower(readFileSync(GPT3, 'utf8'), GPT3, {
        overrides: { layers, d: 64, heads: 4, vocab: 256, ctx: 32 },
        dims: { B: 2 },
        mesh,
        training: true,
      });
      expect(r.graph!.nodes.filter((n) => n.op === 'dropout').length).toBe(2 * layers);
      return (await autoShard(r.graph!, { axes: mesh }, { training: true })).distinctNodes;
    };
    // Tied: 48 layers are as many decisions as 2 (every layer after the first maps onto it).
    expect(await distinct(48)).toBe(await distinct(2));
  });
});

describe('data movement costs no FLOPs', () => {
  it('reshape, transpose and slice count 0 FLOPs', () => {
    expect(flopsOf({ op: 'reshape', attrs: { shape: [4, 6] } }, [[2, 12]], [[4, 6]])).toBe(0);
    expect(flopsOf({ op: 'transpose', attrs: { perm: [1, 0] } }, [[2, 12]], [[12, 2]])).toBe(0);
    expect(flopsOf({ op: 'slice', attrs: { axis: 0, start: 0, end: 1 } }, [[2, 12]], [[1, 12]])).toBe(0);
    // Against a matmul of the same operands, which does count (2mnk).
    expect(
      flopsOf(
        { op: 'matmul', attrs: {} },
        [
          [2, 12],
          [12, 3],
        ],
        [[2, 3]],
      ),
    ).toBe(2 * 2 * 12 * 3);
  });
});

describe('stage boundaries', () => {
  it('balance the ends: 10 layers on 4 stages with the last carrying 2 layers of extra work', () => {
    // Longest stage 3: stages of 3, 3, 3 and 1 + 2.
    expect(stageBoundaries(10, 4, 1, 0, 2)).toEqual([3, 3, 3, 1]);
  });
  it('uniform under interleaving, the remainder in the middle', () => {
    expect(stageBoundaries(10, 4, 1, 0, 2, true)).toEqual([2, 3, 3, 2]);
    expect(stageBoundaries(96, 48, 1, 5, 5, true)).toEqual(Array.from({ length: 48 }, () => 2));
  });
});

describe('the fast schedule runs against compiler/pipeline/schedule.ts simulate', () => {
  const stagesFor = (S: number) => Array.from({ length: S }, (_, k) => ({ F: 1 + (k === 0 ? 0.3 : 0), B: 2 + (k === S - 1 ? 0.7 : 0), W: 0.5 }));
  const cases: [ScheduleKind, number, number, number][] = [
    ['1f1b', 4, 1, 13],
    ['gpipe', 3, 1, 7],
    ['interleaved', 4, 2, 8],
    ['zb-h1', 4, 1, 9],
  ];
  for (const [kind, p, v, m] of cases)
    it(`${kind}, p = ${p}, v = ${v}, m = ${m}: same makespan, busy time and in-flight peak`, () => {
      const stages = stagesFor(p * v).map((s) => (kind === 'zb-h1' ? s : { ...s, W: 0 }));
      const s = makeSchedule({ kind, ranks: p, virtual: v, microbatches: m });
      const want = simulate(s, { comm: 0.05 }, stages);
      const got = runSchedule(s, stages, 0.05);
      expect(got.makespan).toBeCloseTo(want.makespan, 9);
      got.busy.forEach((b, r) => expect(b).toBeCloseTo(want.busy[r]!, 9));
      expect(got.peakInFlight).toEqual(want.peakInFlight);
    });
  for (const [kind, v] of [
    ['1f1b', 1],
    ['interleaved', 2],
    ['zb-h1', 1],
  ] as const)
    it(`${kind}: the steady-state extrapolation past 4p micro-batches equals the full simulation`, () => {
      const p = 4;
      const m = 40;
      const stages = stagesFor(p * v).map((s) => (kind === 'zb-h1' ? s : { ...s, W: 0 }));
      const want = simulate(makeSchedule({ kind, ranks: p, virtual: v, microbatches: m }), { comm: 0.05 }, stages);
      const got = scheduleTime(kind, p, v, m, stages, 0.05);
      expect(Math.abs(got.makespan / want.makespan - 1)).toBeLessThan(1e-9);
      expect(got.peakInFlight).toEqual(want.peakInFlight);
    });
});

describe('one layer times L against the fully lowered plan', () => {
  it('the 1.7B row (32 GPUs, t = 1): the search costs the published plan as mdc plan --hardware does', { timeout: 120_000 }, async () => {
    const r = await mdc(
      'plan',
      MEGATRON,
      '--preset',
      'gpt1p7b',
      '--mesh',
      'dp=32,tp=1',
      '--dim',
      'B=32',
      '--recompute',
      'full',
      '--hardware',
      'a100-80gb',
      '--json',
    );
    expect(r.err).toBe('');
    const want = JSON.parse(r.out).predicted;
    const e = search(MEGATRON, { preset: 'gpt1p7b', dims: { B: 32 } }, 32).evaluate({
      dp: 32,
      pp: 1,
      tp: 1,
      microBatchSize: 1,
      microbatches: 16,
      schedule: '1f1b',
      virtual: 1,
      zero: 0,
      recompute: 'full',
    })!;
    expect(Math.abs(e.stepSeconds / want.stepSeconds - 1)).toBeLessThan(0.005);
    expect(Math.abs(e.tflopsPerDevice / want.tflopsPerDevice - 1)).toBeLessThan(0.005);
  });
});

describe("the search against Megatron-LM's published configurations, under mdc's own model", () => {
  for (const row of MEGATRON_TABLE.rows.filter((x) => PRESETS[x.hidden]))
    it(`${row.params_b}B on ${row.gpus} GPUs: at least the throughput of t = ${row.t}, p = ${row.p}, and it fits`, { timeout: 120_000 }, () => {
      const dp = row.gpus / (row.t * row.p);
      const r = search(MEGATRON, { preset: PRESETS[row.hidden]!, dims: { B: dp } }, row.gpus);
      expect(r.batch).toBe(row.batch);
      const pub = r.evaluate(publishedCandidate(row))!;
      const w = r.result.winner!;
      expect(w.dp * w.pp * w.tp).toBe(row.gpus);
      expect(w.dp * w.microBatchSize * w.microbatches).toBe(row.batch);
      expect(w.stageLayers.reduce((a, b) => a + b, 0)).toBe(row.layers);
      expect(w.tflopsPerDevice).toBeGreaterThanOrEqual(pub.tflopsPerDevice);
      expect(w.peakBytesPerDevice).toBeLessThanOrEqual(hw.memoryBytes);
      // The explanation: the winner, a runner-up on another mesh shape, and why.
      const u = r.result.runnerUp!;
      expect(`${u.dp}x${u.pp}x${u.tp}`).not.toBe(`${w.dp}x${w.pp}x${w.tp}`);
      expect(u.stepSeconds).toBeGreaterThanOrEqual(w.stepSeconds);
      expect(r.lines.filter((l) => /^ {2}(winner|runner-up|why):/.test(l))).toHaveLength(3);
    });
});

describe('GPT-3 175B with dropout on 1,024 A100s', () => {
  it('finds a plan that fits, and a cap no plan meets is explained with the smallest plan, which fits at exactly its needs', { timeout: 120_000 }, () => {
    const r = search(GPT3, { dims: { B: 16 } }, 1024);
    expect(r.layers).toBe(96);
    expect(r.batch).toBe(1536);
    expect(r.result.winner!.peakBytesPerDevice).toBeLessThanOrEqual(hw.memoryBytes);
    let message = '';
    try {
      search(GPT3, { dims: { B: 16 } }, 1024, 2 ** 30);
    } catch (e) {
      expect(e).toBeInstanceOf(AutoPlanError);
      message = (e as Error).message;
    }
    expect(message).toMatch(/^no plan of 1024 devices fits in 1\.00 GiB per device: the smallest needs [\d.]+ GiB per device \(dp=/);
    const need = Number(/the smallest needs ([\d.]+) GiB/.exec(message)![1]) * 2 ** 30;
    // 175B parameters' training state spread over all 1,024 devices is a floor on any plan's needs.
    expect(need).toBeGreaterThan((1.7e11 * 16) / 1024 / 3);
    const again = search(GPT3, { dims: { B: 16 } }, 1024, need + 0.01 * 2 ** 30);
    expect(again.result.winner!.peakBytesPerDevice).toBeLessThanOrEqual(need + 0.01 * 2 ** 30);
  });
});

describe('models the search does not take are refused in words', () => {
  const refusal = (file: string) => {
    try {
      search(file, { preset: 'tiny' }, 8);
    } catch (e) {
      expect(e).toBeInstanceOf(AutoPlanError);
      return (e as Error).message;
    }
    return 'no refusal';
  };
  it('no repeat(NAME) layer stack (samples/mlp.model)', () => {
    expect(refusal('samples/mlp.model')).toMatch(/needs a layer stack repeat\(NAME\) whose NAME is a config constant/);
  });
  it('experts split over the batch axis (samples/mixtral.model)', () => {
    expect(refusal('samples/mixtral.model')).toMatch(/does not search expert parallelism: parameter Layer\.0\.\S+ is split over 'ep'/);
  });
});

describe('mdc plan --auto --devices', () => {
  it('prints the winner, the runner-up and why; JSON carries both', { timeout: 120_000 }, async () => {
    const args = ['plan', MEGATRON, '--preset', 'gpt1p7b', '--dim', 'B=32', '--auto', '--devices', '32', '--hardware', 'a100-80gb'];
    const t = await mdc(...args);
    expect(t.code).toBe(0);
    expect(t.out).toMatch(/auto plan for 32 devices of a100-80gb/);
    expect(t.out).toMatch(/\n {2}winner: {4}dp=\d+ pp=\d+ tp=\d+/);
    expect(t.out).toMatch(/\n {2}runner-up: dp=/);
    const j = JSON.parse((await mdc(...args, '--json')).out);
    expect(j.winner.mesh.dp * j.winner.mesh.pp * j.winner.mesh.tp).toBe(32);
    expect(j.batch).toBe(512);
    expect(j.winner.predicted.peakBytesPerDevice).toBeLessThanOrEqual(hw.memoryBytes);
  });
  it('refuses --devices without --auto, without --hardware, or not a positive whole number', async () => {
    const base = ['plan', MEGATRON, '--preset', 'gpt1p7b', '--dim', 'B=32'];
    const a = await mdc(...base, '--devices', '32', '--hardware', 'a100-80gb');
    expect(a.code).toBe(2);
    expect(a.err).toMatch(/--devices only applies with --auto/);
    const b = await mdc(...base, '--auto', '--devices', '32');
    expect(b.code).toBe(2);
    expect(b.err).toMatch(/give --hardware NAME/);
    const c = await mdc(...base, '--auto', '--devices', '0', '--hardware', 'a100-80gb');
    expect(c.code).toBe(2);
    expect(c.err).toMatch(/--devices must be a positive whole number/);
  });
  it('says plainly when no plan fits the cap, with the smallest plan needs', { timeout: 120_000 }, async () => {
    const r = await mdc(
      'plan',
      MEGATRON,
      '--preset',
      'gpt1p7b',
      '--dim',
      'B=32',
      '--auto',
      '--devices',
      '32',
      '--hardware',
      'a100-80gb',
      '--memory-cap',
      '1GiB',
    );
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/no plan of 32 devices fits in 1\.00 GiB per device: the smallest needs [\d.]+ GiB per device/);
  });
});
