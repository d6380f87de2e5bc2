import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { calibrate } from '../../driver/calibrate.js';
import { hardwareFrom } from '../../compiler/cost/hardware.js';
import { adapterTarget, destroySharedDevices, gpuStatus, sharedDevice } from '../support/gpu.js';
import { mdc } from '../support/cli.js';

/** mdc calibrate measures the adapter into a description mdc plan --hardware reads. */
const status = await gpuStatus();
afterAll(destroySharedDevices);

describe.skipIf(status.skip)(status.title('calibrating this machine’s adapter'), () => {
  it('writes a well-formed description whose rates are the measurements, and mdc plan predicts with it', { timeout: 300_000 }, async () => {
    const hw = await calibrate(await sharedDevice(), { quick: true, target: await adapterTarget() });
    const { measured, ...file } = hw;
    expect(hardwareFrom(JSON.parse(JSON.stringify(file)), 'measured')).toMatchObject({ name: 'llvmpipe', efficiency: { matmul: 1 } });
    // The peak is the measured matmul rate (4 significant digits), the attention share its own rate over that.
    expect(file.peakFlops['f32']! / measured['matmulFlops']!).toBeCloseTo(1, 3);
    expect(file.efficiency.attention).toBeCloseTo(Math.min(1, measured['attentionFlops']! / measured['matmulFlops']!), 3);
    expect(file.memoryBandwidth / measured['streamBytesPerSecond']!).toBeCloseTo(1, 3);
    const path = join(mkdtempSync(join(tmpdir(), 'mdc-hw-')), 'here.json');
    writeFileSync(path, JSON.stringify(file));
    const r = await mdc('plan', 'samples/gpt2.model', '--preset', 'tiny', '--hardware', path, '--json');
    expect(r.err).toBe('');
    const p = JSON.parse(r.out).predicted;
    expect(p.stepSeconds).toBeGreaterThan(0);
    // A step of the tiny GPT-2 (2 micro-batches of forward and backward, flopsPerStep each, over the
    // mesh's devices) takes longer than its FLOPs per device at the measured peak.
    const j = JSON.parse(r.out);
    expect(p.stepSeconds).toBeGreaterThan((2 * j.flopsPerStep) / j.devices / file.peakFlops['f32']!);
    expect(readFileSync(path, 'utf8')).toContain('"llvmpipe"');
  });
});
