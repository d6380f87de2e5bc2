import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import type { KernelTarget } from '../../codegen/kernels/kernel.js';
import type { MatmulShape } from '../../codegen/kernels/matmul/shape.js';

// Tuning one class on a real adapter takes seconds; here the timing itself is replaced,
// so what is tested is the bookkeeping around it: save each class when it is timed.
const calls: string[] = [];
vi.mock('../../codegen/tune/matmul.js', () => ({
  tuneMatmul: async (_device: unknown, s: MatmulShape, target: KernelTarget) => {
    calls.push(`${s.M}x${s.N}x${s.K}`);
    if (calls.length === 2) throw new Error('interrupted');
    // One of the configurations the tuner times: the cache keeps no other.
    const config = (await import('../../codegen/kernels/matmul/config.js')).candidates(s, target)[0]!;
    return { shapeClass: 'x', best: { config, ms: 1, gflops: 1 }, tried: [{ config, ms: 1, gflops: 1 }] };
  },
}));

const { tuneTarget } = await import('../../codegen/tune/index.js');
const { loadEntries } = await import('../../codegen/tune/cache.js');

const shape = (M: number, N: number, K: number): MatmulShape => ({ M, N, K, batch: [], aBatch: [], bBatch: [] });

describe('tuning', () => {
  it('saves each shape class as soon as it is timed, says which class of how many it is on, and resumes after an interruption', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'mdc-tune-')), 'tuning.json');
    const log: string[] = [];
    const shapes = [shape(128, 128, 128), shape(512, 512, 512), shape(8, 8, 8)];
    await expect(tuneTarget({} as GPUDevice, 'gpu A', {}, shapes, { file, rows: false, log: (l) => log.push(l) })).rejects.toThrow('interrupted');
    expect(Object.keys(loadEntries('gpu A', file))).toEqual(['m128n128k128v4']);
    expect(log[0]).toBe('tuning matmul class 1/3: m128n128k128v4…');
    expect(log[2]).toBe('tuning matmul class 2/3: m512n512k512v4…');
    // The second attempt starts where the first stopped: the saved class is not timed again.
    calls.length = 5; // past the interruption
    const log2: string[] = [];
    await tuneTarget({} as GPUDevice, 'gpu A', {}, shapes, { file, rows: false, log: (l) => log2.push(l) });
    expect(calls.slice(5)).toEqual(['512x512x512', '8x8x8']);
    expect(log2[0]).toBe('tuning matmul class 1/2: m512n512k512v4…');
    expect(Object.keys(loadEntries('gpu A', file)).sort()).toEqual(['m128n128k128v4', 'm512n512k512v4', 'm8n8k8v4']);
  });
});
