/**
 * The calibration bar: for every row of Megatron-LM's Table 1, `mdc plan` of the row's model,
 * mesh, batch and recompute on the A100 description predicts the published TFLOP/s per GPU
 * within 10%. The hardware description is the same for every row (nothing in it is per row), so
 * this checks the model and the description, not a timing. The published figures are the oracle.
 */
import { describe, expect, it } from 'vitest';
import { mdc } from '../support/cli.js';
import { MEGATRON_TABLE, planArgs } from '../support/megatron.js';
import { loadHardware } from '../../driver/hardware.js';

describe('calibration against Megatron-LM Table 1 (A100-80GB)', () => {
  it('the description is the same for every row: its numbers are the documented ones', () => {
    const hw = loadHardware('a100-80gb');
    expect(hw.peakFlops['f16']).toBe(312e12);
    expect(hw.memoryBandwidth).toBe(2039e9);
    expect(hw.links.map((l) => [l.name, l.bandwidth])).toEqual([
      ['nvlink', 300e9],
      ['infiniband', 25e9],
    ]);
  });
  for (const row of MEGATRON_TABLE.rows)
    it(
      `${row.params_b}B on t = ${row.t}, p = ${row.p}, ${row.gpus} GPUs, batch ${row.batch}: within 10% of ${row.tflops_per_gpu} TFLOP/s`,
      { timeout: 120_000 },
      async () => {
        const r = await mdc(...planArgs(row));
        expect(r.err).toBe('');
        const j = JSON.parse(r.out);
        // The plan is the row's: its parameter count, devices and the global batch (micro-batches × B).
        // Parameters within 3% of the table's (which rounds, and counts the 1.7B model's as 1.7 for 1.65).
        expect(Math.abs(j.paramCount / 1e9 / row.params_b - 1)).toBeLessThan(0.03);
        expect(j.devices).toBe(row.gpus);
        const B = j.values.find((v: { name: string }) => v.name === 'tokens').type.match(/\[(\d+)@dp/)[1];
        // Model FLOPs counted: 4 forwards (full recompute) per micro-batch; flopsPerStep is 3 forwards of one.
        const counted = j.predicted.tflopsPerDevice * 1e12 * j.devices * j.predicted.stepSeconds;
        const micro = counted / ((4 / 3) * j.flopsPerStep);
        expect(micro).toBeCloseTo(Math.round(micro), 6);
        expect(Number(B) * Math.round(micro)).toBe(row.batch);
        const err = j.predicted.tflopsPerDevice / row.tflops_per_gpu - 1;
        expect(Math.abs(err)).toBeLessThan(0.1);
        expect(j.predicted.peakBytesPerDevice).toBeLessThan(80 * 2 ** 30);
      },
    );
});
