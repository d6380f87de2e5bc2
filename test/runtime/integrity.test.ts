import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { compile } from '../../driver/compile.js';
import { loadPlan, sealedText } from '../../runtime/integrity.js';

const mlp = async (): Promise<Record<string, any>> => {
  const r = await compile(readFileSync('samples/mlp.model', 'utf8'), 'mlp.model', { preset: 'tiny' });
  return JSON.parse(JSON.stringify(r.plan)) as Record<string, any>;
};

describe('plan integrity', () => {
  it('mdc seals a plan with the SHA-256 of its JSON without the seal, which Node computes the same', async () => {
    const plan = await mlp();
    const { integrity, ...rest } = plan;
    expect(Object.keys(plan).at(-1)).toBe('integrity');
    expect(integrity).toBe(`sha256-${createHash('sha256').update(JSON.stringify(rest)).digest('hex')}`);
    expect(sealedText(plan)).toBe(JSON.stringify(rest));
    await expect(loadPlan(plan)).resolves.toMatchObject({ model: 'Mlp' });
  });

  it('refuses a plan changed after mdc wrote it, even one character, unless the edit is declared', async () => {
    const plan = await mlp();
    plan['kernels'][0].wgsl = plan['kernels'][0].wgsl.replace('0.0', '1.0');
    const said =
      'invalid plan:\n  integrity: the plan was changed after mdc wrote it (its SHA-256 does not match); recompile it, or pass { edited: true } if the edit was deliberate';
    await expect(loadPlan(plan)).rejects.toThrow(said);
    await expect(loadPlan(plan, true)).resolves.toMatchObject({ model: 'Mlp' });
  });

  it('refuses an unsealed or malformed seal, and validates a declared hand-written plan as any other', async () => {
    const plan = await mlp();
    const { integrity: _, ...unsealed } = plan;
    await expect(loadPlan(unsealed)).rejects.toThrow('integrity: the plan is not sealed by mdc (no "integrity" field)');
    await expect(loadPlan({ ...plan, integrity: 'md5-abc' })).rejects.toThrow('integrity must be "sha256-" and 64 hex digits, got "md5-abc"');
    await expect(loadPlan({ ...unsealed, seed: -1 }, true)).rejects.toThrow('seed must be a non-negative integer');
    await expect(loadPlan('not a plan')).rejects.toThrow('the plan is not a JSON object');
  });
});
