import { describe, expect, it } from 'vitest';
import { mdc } from '../support/cli.js';

describe('mdc plan', () => {
  it('--json has the documented fields, one entry per collective', async () => {
    const r = await mdc('plan', 'samples/gpt2.model', '--preset', 'tiny', '--json');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out);
    expect(j.version).toBe(1);
    expect(j.devices).toBe(8);
    expect(j.mesh).toEqual({ dp: 2, tp: 4 });
    expect(j.diagnostics).toEqual([]);
    expect(j.collectives).toHaveLength(4);
    for (const c of j.collectives) {
      expect(Object.keys(c).sort()).toEqual(['axis', 'bytes', 'bytesPerDevice', 'elements', 'from', 'kind', 'reason', 'scope', 'span', 'to'].sort());
      expect(c).toMatchObject({ kind: 'all_reduce', axis: 'tp', from: 'f32[2@dp, 64, 128] partial(tp)', to: 'f32[2@dp, 64, 128]' });
      // Ring all-reduce over 4 devices: 2·(4−1)/4 of the 1 × 64 × 128 f32 block each device holds.
      expect(c.bytes).toBe(64 * 128 * 4);
      expect(c.bytesPerDevice).toBe((2 * 3 * 64 * 128 * 4) / 4);
      expect(c.span.file).toBe('samples/gpt2.model');
      expect(c.reason).toContain('partial');
    }
    expect(j.paramBytesPerDevice).toBeLessThan(j.paramBytes);
    expect(j.commBytesPerDevice).toBe(j.collectives.reduce((n: number, c: { bytesPerDevice: number }) => n + c.bytesPerDevice, 0));
    const wq = j.values.find((v: { name: string }) => v.name === 'Layer.0.Attention.wq');
    expect(wq).toMatchObject({ kind: 'param', type: 'f32[128, 128@tp]', localShape: [128, 32], bytesPerDevice: 128 * 32 * 4 });
    expect(j.searchSeconds).toBeUndefined();
  });

  it('prints layouts and collectives with their source lines, byte-identical twice', async () => {
    const a = await mdc('plan', 'samples/mixtral.model', '--preset', 'tiny');
    const b = await mdc('plan', 'samples/mixtral.model', '--preset', 'tiny');
    expect(a.code).toBe(0);
    expect(a.out).toBe(b.out);
    expect(a.out).toContain('Mixtral on mesh [ep: 4, tp: 2]: 8 devices');
    expect(a.out).toMatch(/samples\/mixtral\.model:\d+:\d+: all_to_all\(ep\) f32\[4, 160@ep, 128\] → f32\[4@ep, 160, 128\]/);
    expect(a.out).toContain('because');
  });

  it("--mesh replaces the file's mesh; --auto reports its search time", async () => {
    const r = await mdc('plan', 'samples/gpt2.model', '--preset', 'tiny', '--mesh', 'dp=1,tp=2', '--json');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out).devices).toBe(2);
    const auto = await mdc('plan', 'samples/gpt2.model', '--preset', 'tiny', '--auto', '--json');
    expect(auto.code).toBe(0);
    expect(JSON.parse(auto.out).searchSeconds).toBeGreaterThan(0);
    const text = await mdc('plan', 'samples/gpt2.model', '--preset', 'tiny', '--auto');
    expect(text.out).toMatch(/strategy search: \d+\.\d{3} s/);
  });

  it('usage errors exit 2, layout errors exit 1 with a located diagnostic', async () => {
    for (const bad of ['dp=2,tp', 'dp=0', 'dp=2,dp=2', '']) {
      const r = await mdc('plan', 'samples/gpt2.model', '--mesh', bad);
      expect(r.code, bad).toBe(2);
      expect(r.err).toContain('--mesh');
    }
    const noMesh = await mdc('plan', 'samples/mlp.model');
    expect(noMesh.code).toBe(2);
    expect(noMesh.err).toContain('declares no mesh');
    expect((await mdc('plan', 'samples/gpt2.model', '--auto', '--memory-cap', 'lots')).code).toBe(2);
    const r = await mdc('plan', 'samples/gpt2.model', '--preset', 'tiny', '--mesh', 'dp=2,tp=3');
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^samples\/gpt2\.model:\d+:\d+: error MDC0402: dim 128 of f32\[d, d@tp\] is not divisible by tp \(3 devices\)/);
    const help = await mdc('plan', '--help');
    expect(help.code).toBe(0);
    expect(help.out).toContain('Usage: mdc plan');
  });

  it('an impossible memory cap under --auto is an error, not a plan', async () => {
    const r = await mdc('plan', 'samples/gpt2.model', '--preset', 'tiny', '--auto', '--memory-cap', '1KiB');
    expect(r.code).toBe(1);
    expect(r.err).toContain('no plan keeps the parameters and their training state within the memory cap');
  });
});
