import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { main } from '../../cli/main.js';
import { lower } from '../../compiler/compile.js';
import { partition } from '../../compiler/sharding/partition.js';
import { trainingMemory } from '../../compiler/train/memory.js';

const gpt2 = readFileSync('samples/gpt2.model', 'utf8');

describe('training memory per device', () => {
  const g = lower(gpt2, 'gpt2.model').graph!;
  const p = partition(g, { axes: [{ name: 'dp', size: 2 }, { name: 'tp', size: 4 }] });
  const at = (zero: number) => trainingMemory(g, p, { zero });

  it('ZeRO 1, 2, 3 split optimizer state, then gradients, then parameters over data parallel (dp = 2)', () => {
    const [z0, z1, z2, z3] = [0, 1, 2, 3].map(at);
    expect(z0!.dataParallel).toBe(2);
    expect(z0!.memory.optimizer).toBe(2 * z0!.memory.grads); // two AdamW moments per f32 gradient
    expect(z1!.memory.optimizer).toBe(z0!.memory.optimizer / 2);
    expect(z1!.memory.grads).toBe(z0!.memory.grads);
    expect(z2!.memory.grads).toBe(z0!.memory.grads / 2);
    expect(z3!.memory.params).toBeLessThan(z0!.memory.params);
    expect(z3!.memory.params).toBeGreaterThan(z0!.memory.params / 2); // plus one layer gathered at a time
    for (const z of [z0, z1, z2, z3]) {
      const m = z!.memory;
      expect(m.peak).toBe(m.params + m.grads + m.optimizer + m.activations);
    }
  });

  it('recompute: full keeps far less than none; selective drops the attention core', () => {
    const none = trainingMemory(g, p, { recompute: 'none' }).memory.activations;
    const full = trainingMemory(g, p, { recompute: 'full' }).memory.activations;
    const sel = trainingMemory(g, p, { recompute: 'selective' }).memory.activations;
    expect(full).toBeLessThan(none);
    expect(sel).toBeLessThan(none);
    expect(sel).toBeGreaterThan(full);
  });

  it('FLOPs per step are about 6 × parameters × tokens (Kaplan et al.), plus attention', () => {
    const m = at(0);
    expect(m.paramCount).toBe(124_439_808);
    const tokens = 2 * 64;
    expect(m.flopsPerStep / (6 * m.paramCount * tokens)).toBeGreaterThan(0.95);
    expect(m.flopsPerStep / (6 * m.paramCount * tokens)).toBeLessThan(1.15);
  });

  it('mdc plan --json reports memory, activationBytesPerLayer, paramCount and flopsPerStep', async () => {
    const out: string[] = [];
    const code = await main(['plan', 'samples/gpt2.model', '--json', '--recompute', 'selective'], { out: (s) => out.push(s), err: () => {} });
    expect(code).toBe(0);
    const j = JSON.parse(out.join('\n'));
    expect(Object.keys(j.memory).sort()).toEqual(['activations', 'grads', 'optimizer', 'params', 'peak']);
    expect(j.zero).toBe(1); // from the sample's train section
    expect(j.recompute).toBe('selective');
    expect(Object.keys(j.activationBytesPerLayer)).toContain('Layer.11');
    expect(j.paramCount).toBe(124_439_808);
    expect(j.flopsPerStep).toBeGreaterThan(0);
  });

  it('mdc plan reports what a recompute policy saves and rebuilds; auto needs a budget and stays within it', async () => {
    const plan = async (...args: string[]) => {
      const out: string[] = [];
      const err: string[] = [];
      const code = await main(['plan', 'samples/gpt2.model', '--json', ...args], { out: (s) => out.push(s), err: (s) => err.push(s) });
      return { code, json: code === 0 ? JSON.parse(out.join('\n')) : undefined, err: err.join('\n') };
    };
    const full = (await plan('--recompute', 'full')).json.recomputePlan;
    const sel = (await plan('--recompute', 'selective')).json.recomputePlan;
    expect(full.savedBytes).toBeGreaterThan(sel.savedBytes);
    expect(sel.savedBytes).toBeGreaterThan(0);
    expect(full.extraFlops).toBeGreaterThan(0);
    const auto = (await plan('--recompute', 'auto', '--memory-budget', '60MiB')).json.recomputePlan;
    expect(auto.method).toBe('ilp');
    // With the budget between "rebuild everything" and "keep everything", auto rebuilds less than full.
    expect(auto.extraFlops).toBeLessThan(full.extraFlops);
    expect((await plan('--recompute', 'auto')).code).toBe(2);
    expect((await plan('--recompute', 'sometimes')).code).toBe(2);
  });
});
