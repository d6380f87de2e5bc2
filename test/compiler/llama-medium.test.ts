/**
 * samples/llama.model's `preset medium`, the LLaMA-shaped model of about 300M parameters
 * that `npm run bench:llama` runs forward on WebGPU against the CPU reference (too slow
 * for the suite: bench/results/llama.md). Here, without a device: its parameter count,
 * derived by hand from the shapes, and the plan's largest buffer, which must fit one
 * storage binding for the benchmark's claim that nothing is windowed.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { lower } from '../../compiler/compile.js';
import { dimValue } from '../../compiler/dims.js';
import { planOf } from '../../driver/stages.js';
import { DEFAULT_MAX_BINDING_BYTES } from '../../runtime/plan.js';

const source = readFileSync('samples/llama.model', 'utf8');

describe('LLaMA preset medium', () => {
  const g = lower(source, 'llama.model', { preset: 'medium', dims: { B: 1, S: 4 } }).graph!;

  it('has 301,507,584 parameters', () => {
    const count = g.values.filter((v) => v.kind === 'param').reduce((n, v) => n + v.type.dims.reduce((a, d) => a * dimValue(d)!, 1), 0);
    // By hand: width 1024, 20 layers, 16 heads of 64 with 8 KV heads (k and v 512 wide), SwiGLU 2816, vocabulary 32000.
    const d = 1024;
    const layer = 2 * d + 2 * d * d + 2 * d * 512 + 3 * d * 2816;
    expect(layer).toBe(11_798_528);
    expect(count).toBe(20 * layer + 2 * 32000 * d + d);
    expect(count).toBe(301_507_584);
  });

  it('binds every buffer whole: the largest, each 32000 × 1024 table, is under one storage binding', () => {
    const plan = planOf(g, {});
    const largest = Math.max(...plan.buffers.map((b) => b.bytes));
    expect(largest).toBe(32000 * 1024 * 4);
    expect(largest).toBeLessThanOrEqual(DEFAULT_MAX_BINDING_BYTES);
    expect(plan.kernels.filter((k) => k.bindings.some((b) => b.window))).toEqual([]);
  });
});
