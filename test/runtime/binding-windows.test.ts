import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { lower } from '../../compiler/compile.js';
import { trainSettings } from '../../compiler/train/settings.js';
import { compileGraph } from '../../driver/compile.js';
import { planOf } from '../../driver/stages.js';
import { PlanRunner } from '../../runtime/executor.js';
import { ARENA_ALIGNMENT, bindingWindows, DEFAULT_MAX_BINDING_BYTES, type Plan } from '../../runtime/plan.js';
import { PlanError, validatePlan } from '../../runtime/validate.js';

/** Values over the binding limit, bound as windows: the windows, the plan's form of them, and the refusals (no adapter needed). */

const gpt2 = () => lower(readFileSync('samples/gpt2.model', 'utf8'), 'gpt2.model', { preset: 'tiny' }).graph!;
/** The tiny GPT-2's table is [1024, 128] f32 = 512 KiB; under a 200 000-byte limit it takes three windows of 199 936 bytes (the limit rounded down to 256) and the rest. */
const LIMIT = 200_000;

function problems(plan: Plan, mutate: (p: Record<string, any>) => void): string[] {
  const p = structuredClone(plan) as Record<string, any>;
  mutate(p);
  try {
    validatePlan(p);
    return [];
  } catch (e) {
    return [...(e as PlanError).problems];
  }
}

describe('binding windows', () => {
  it('cover a buffer exactly, in aligned stretches of at most the limit; one window when it fits', () => {
    expect(bindingWindows(1000, 1000)).toEqual([{ offset: 0, bytes: 1000 }]);
    // GPT-2 small's table under WebGPU's default limit: 128 MiB and the remaining 19.2 MiB.
    expect(bindingWindows(50257 * 768 * 4, DEFAULT_MAX_BINDING_BYTES)).toEqual([
      { offset: 0, bytes: 134217728 },
      { offset: 134217728, bytes: 154389504 - 134217728 },
    ]);
    for (const [bytes, limit] of [
      [524288, LIMIT],
      [4100, 1000],
      [1024, 256],
    ] as const) {
      const ws = bindingWindows(bytes, limit);
      let end = 0;
      for (const w of ws) {
        expect(w.offset).toBe(end);
        expect(w.offset % ARENA_ALIGNMENT).toBe(0);
        expect(w.bytes).toBeLessThanOrEqual(limit);
        end += w.bytes;
      }
      expect(end).toBe(bytes);
    }
    expect(() => bindingWindows(1024, 100)).toThrow('a binding limit of 100 bytes is below the 256-byte binding alignment');
  });

  it('a plan binds a value over the target limit as consecutive windows of its buffer (version 5); without one it is unchanged', () => {
    const g = gpt2();
    expect(planOf(g).version).toBe(3);
    const plan = planOf(g, { target: { maxBindingBytes: LIMIT } });
    expect(plan.version).toBe(5);
    const wte = plan.buffers.find((b) => b.name === 'wte')!;
    const gather = plan.steps.find((s) => s.kind !== 'collective' && s.op === 'embedding')!;
    if (gather.kind === 'collective') throw new Error('unreachable');
    const k = plan.kernels[gather.kernel]!;
    const tableBindings = k.bindings.filter((_, j) => gather.buffers[j] === wte.id);
    expect(tableBindings.map((b) => [b.name, b.window, b.elements])).toEqual([
      ['table_w0', { offset: 0, bytes: 199936 }, 49984],
      ['table_w1', { offset: 199936, bytes: 199936 }, 49984],
      ['table_w2', { offset: 399872, bytes: 124416 }, 31104],
    ]);
    // The kernel reads the table through one helper that picks the window; no binding is over the limit.
    expect(k.wgsl).toContain('fn mdc_ld_table(i: u32) -> vec4<f32> {');
    expect(k.wgsl).toContain('if (i < 12496u) { return table_w0[i]; }');
    expect(k.wgsl).toContain('return table_w2[i - 24992u];');
    for (const s of plan.steps) {
      if (s.kind === 'collective') continue;
      s.buffers.forEach((b, j) => expect(plan.kernels[s.kernel]!.bindings[j]!.window?.bytes ?? plan.buffers[b]!.bytes).toBeLessThanOrEqual(LIMIT));
    }
    expect(() => validatePlan(plan)).not.toThrow();
  });

  it('the validator refuses a window in an older version, off the alignment, past the buffer, or smaller than its elements', () => {
    const plan = planOf(gpt2(), { target: { maxBindingBytes: LIMIT } });
    const k = plan.kernels.findIndex((x) => x.name === 'embedding');
    const at = `kernels[${k}].bindings[1]`;
    const step = plan.steps.findIndex((s) => s.kind !== 'collective' && s.kernel === k);
    expect(problems(plan, (p) => void (p['version'] = 4))).toEqual(
      expect.arrayContaining([`kernels[${k}].bindings[0].window needs plan version 5`, `${at}.window needs plan version 5`]),
    );
    expect(problems(plan, (p) => void (p['kernels'][k].bindings[1].window.offset = 100))).toEqual([
      `${at}.window must be { offset: a multiple of 256, bytes: a positive multiple of 4 }, got {"offset":100,"bytes":199936}`,
    ]);
    expect(problems(plan, (p) => void (p['kernels'][k].bindings[2].window.offset = 524288 - 256 * 400))).toEqual([
      `steps[${step}].buffers[2]: kernel ${k} binds bytes [421888, 546304) of buffer 1, which has 524288`,
    ]);
    expect(problems(plan, (p) => void (p['kernels'][k].bindings[1].elements = 49985))).toEqual([
      `${at} indexes 49985 elements, more than its 199936-byte window holds`,
    ]);
  });

  it('the runner refuses a binding over the device limit, naming the way to compile for it, before allocating anything', async () => {
    const plan = planOf(gpt2());
    const device = {
      features: new Set<string>(),
      limits: { maxStorageBufferBindingSize: LIMIT, maxBufferSize: 2 ** 30, minStorageBufferOffsetAlignment: 256, maxStorageBuffersPerShaderStage: 8 },
    } as unknown as GPUDevice;
    await expect(PlanRunner.create(device, plan)).rejects.toThrow(
      `kernel k000_embedding.wgsl binds buffer 'wte' (524288 bytes), over this device's maxStorageBufferBindingSize (${LIMIT}); compile the plan for this device's binding limit`,
    );
    // Compiled for the limit, it gets past the binding checks to the allocation (which the fake device cannot do).
    const fits = planOf(gpt2(), { target: { maxBindingBytes: LIMIT } });
    await expect(
      PlanRunner.create({ ...device, limits: { ...device.limits, maxStorageBuffersPerShaderStage: 2 } } as unknown as GPUDevice, fits),
    ).rejects.toThrow(
      /kernel k000_embedding\.wgsl has 5 storage bindings \(windows of values over the binding limit included\), over this device's maxStorageBuffersPerShaderStage \(2\)/,
    );
  });

  it('a kernel whose windows would need more bindings than the target allows binds its values whole, and a device that cannot bind them refuses the plan', async () => {
    const src = readFileSync('samples/gpt2.model', 'utf8');
    const r = lower(src, 'gpt2.model', { preset: 'tiny', overrides: { d: 32, heads: 2, layers: 1, vocab: 512 }, dims: { B: 2, S: 16 } });
    const train = { ...trainSettings(r.env!, r.graph!.name).settings!, microbatches: 1 };
    const small = 48 * 1024;
    // The LM head's backward matmul (fused with its epilogue, 9 bindings) and AdamW's update of the table (12) are over 8 once windowed.
    const portable = (await compileGraph(r.graph!, { file: 'gpt2.model', target: { maxBindingBytes: small }, train })).plan!;
    const whole = portable.kernels.filter((k) => k.bindings.some((b) => !b.window && b.elements * 4 > small));
    expect(whole.length).toBeGreaterThan(0);
    expect(portable.kernels.some((k) => k.bindings.some((b) => b.window))).toBe(true);
    const device = {
      features: new Set<string>(),
      limits: { maxStorageBufferBindingSize: small, maxBufferSize: 2 ** 30, minStorageBufferOffsetAlignment: 256, maxStorageBuffersPerShaderStage: 8 },
    } as unknown as GPUDevice;
    await expect(PlanRunner.create(device, portable)).rejects.toThrow(
      /binds buffer '.*' \(\d+ bytes\), over this device's maxStorageBufferBindingSize \(49152\)/,
    );
    // A target with 16 bindings windows every value.
    const fits = await compileGraph(r.graph!, { file: 'gpt2.model', target: { maxBindingBytes: small, maxStorageBuffers: 16 }, train });
    expect(fits.plan!.version).toBe(5);
    expect(fits.plan!.kernels.every((k) => k.bindings.every((b) => b.window || b.elements * 4 <= small))).toBe(true);
  });
});
