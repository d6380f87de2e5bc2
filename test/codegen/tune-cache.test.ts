import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import type { KernelTarget } from '../../codegen/kernels/kernel.js';
import type { MatmulShape } from '../../codegen/kernels/matmul/shape.js';

// The timing is replaced (a real one takes seconds per class): what is tested is what the cache lets through.
const timed: string[] = [];
vi.mock('../../codegen/tune/matmul.js', () => ({
  tuneMatmul: async (_device: unknown, s: MatmulShape, target: KernelTarget) => {
    timed.push(`${s.M}x${s.N}x${s.K}`);
    const config = (await import('../../codegen/kernels/matmul/config.js')).candidates(s, target)[0]!;
    return { shapeClass: 'x', best: { config, ms: 1, gflops: 1 }, tried: [{ config, ms: 1, gflops: 1 }] };
  },
}));

const { tuneTarget } = await import('../../codegen/tune/index.js');
const { loadEntries, loadRowUnits } = await import('../../codegen/tune/cache.js');
const { candidates } = await import('../../codegen/kernels/matmul/config.js');

const shape = (M: number, N: number, K: number): MatmulShape => ({ M, N, K, batch: [], aBatch: [], bBatch: [] });
const cacheFile = (content: unknown) => {
  const file = join(mkdtempSync(join(tmpdir(), 'mdc-tune-cache-')), 'tuning.json');
  writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content));
  return file;
};
const entry = (config: unknown) => ({ config, ms: 1, shape: [128, 128, 128, 1], tunedAt: '2024-01-01T00:00:00.000Z' });
const s128 = shape(128, 128, 128);

describe('a corrupt tuning cache is ignored and reported, never turned into a kernel', () => {
  it('a file that is not JSON, or not a tuning cache, reads as empty with a warning', () => {
    const warnings: string[] = [];
    const bad = cacheFile('{"format": "mdc.tuning", "version": 2, "adap');
    expect(loadEntries('gpu A', bad, (w) => warnings.push(w))).toEqual({});
    expect(warnings).toEqual([`tuning cache ${bad} is not JSON (Unterminated string in JSON at position 44); ignoring it and tuning afresh`]);
    const other = cacheFile([1, 2, 3]);
    expect(loadEntries('gpu A', other, (w) => warnings.push(w))).toEqual({});
    expect(warnings[1]).toBe(`tuning cache ${other} is not an mdc tuning cache (format "mdc.tuning" with adapters); ignoring it and tuning afresh`);
  });

  it('entries that are not configurations, and row thresholds the tuner does not time, are left out with a warning', () => {
    const good = entry(candidates(s128, {})[0]);
    const file = cacheFile({
      format: 'mdc.tuning',
      version: 2,
      adapters: { 'gpu A': { m128n128k128v4: good, m8n8k8v4: entry({ kind: 'fast' }), m1n8k8v4: 'tiled' } },
      rows: { 'gpu A': { rowUnits: 17, tunedAt: '' } },
    });
    const warnings: string[] = [];
    expect(loadEntries('gpu A', file, (w) => warnings.push(w))).toEqual({ m128n128k128v4: good });
    expect(loadRowUnits('gpu A', file, (w) => warnings.push(w))).toBeUndefined();
    expect(warnings).toEqual([
      `tuning cache ${file}: entry 'm8n8k8v4' of adapter 'gpu A' is not a matmul configuration; ignoring it`,
      `tuning cache ${file}: entry 'm1n8k8v4' of adapter 'gpu A' is not a matmul configuration; ignoring it`,
      `tuning cache ${file}: the row threshold of adapter 'gpu A' is 17, not one of 16, 64, 256, 4096; ignoring it`,
    ]);
  });

  it('a well-formed configuration the tuner does not time for the shape is tuned again, not used', async () => {
    // A 1×1 tile of 256 × 1 invocations: a valid kind with values no candidate has.
    const odd = { kind: 'tiled', tm: 1, tn: 1, wgx: 256, wgy: 1, tk: 1, raster: 'm' };
    const file = cacheFile({ format: 'mdc.tuning', version: 2, adapters: { 'gpu A': { m128n128k128v4: entry(odd) } } });
    const log: string[] = [];
    timed.length = 0;
    const r = await tuneTarget({} as GPUDevice, 'gpu A', {}, [s128], { file, rows: false, log: (l) => log.push(l) });
    expect(log[0]).toBe(
      `tuning cache ${file}: entry 'm128n128k128v4' (${JSON.stringify(odd)}) is not a configuration mdc times for this shape; tuning it again`,
    );
    expect(timed).toEqual(['128x128x128']);
    expect(r.target.tuning!.entries['m128n128k128v4']).toEqual(candidates(s128, {})[0]);
    // A cached candidate, in any key order, is used as it is.
    const c = candidates(s128, {})[1]!;
    const reordered = Object.fromEntries(Object.entries(c).reverse());
    const file2 = cacheFile({ format: 'mdc.tuning', version: 2, adapters: { 'gpu A': { m128n128k128v4: entry(reordered) } } });
    timed.length = 0;
    const r2 = await tuneTarget({} as GPUDevice, 'gpu A', {}, [s128], { file: file2, rows: false });
    expect(timed).toEqual([]);
    expect(r2.target.tuning!.entries['m128n128k128v4']).toEqual(c);
  });
});
