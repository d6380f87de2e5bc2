import { createHash } from 'node:crypto';
import { mkdtempSync, openSync, closeSync, readSync, rmSync, statSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { CheckpointData, CheckpointTensors } from '../../runtime/checkpoint.js';
import { visitCheckpoint, writeCheckpoint } from '../../runtime/checkpoint-node.js';

/**
 * A checkpoint past Node's 2 GiB readFile limit (AdamW on ~180M parameters): three F32
 * tensors of 1 GiB each and a small I32 one, 3 GiB in all, written and read back
 * through file handles. The writer's tensors are overlapping windows of one 1 GiB + 2 MiB
 * buffer (so each tensor's bytes differ but the test holds ~1 GiB); the reader visits one
 * tensor at a time. Each tensor's sha256 must come back, and a byte flipped 2.5 GiB into
 * the file must be caught by the checksum.
 */
const GiB = 2 ** 30;
const ELEMENTS = GiB / 4;
const STRIDE = 2 ** 18; // elements (1 MiB) between the windows

const dir = mkdtempSync(join(tmpdir(), 'mdc-ckpt-large-'));
const path = join(dir, 'big.safetensors');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const sha = (d: CheckpointData) =>
  createHash('sha256')
    .update(new Uint8Array(d.buffer, d.byteOffset, d.byteLength))
    .digest('hex');

describe('checkpoints over 2 GiB', () => {
  const written = new Map<string, { sha: string; shape: readonly number[]; count: number; ends: number[] }>();
  const ends = (d: CheckpointData) => {
    const bits = new Int32Array(d.buffer, d.byteOffset, d.length);
    return [bits[0]!, bits[d.length - 1]!];
  };
  let header = 0;

  it('write 3 GiB of tensors and read every one back with the same sha256, shape and end values', async () => {
    let tensors: CheckpointTensors | undefined;
    {
      const base = new Int32Array(ELEMENTS + 2 * STRIDE);
      for (let i = 0; i < base.length; i++) base[i] = Math.imul(i, 0x9e3779b1) ^ (i >>> 7);
      const floats = new Float32Array(base.buffer);
      const window = (k: number) => floats.subarray(k * STRIDE, k * STRIDE + ELEMENTS);
      tensors = {
        'h.0.w': { dtype: 'F32', shape: [2 ** 14, 2 ** 14], data: window(0) },
        'h.1.w': { dtype: 'F32', shape: [ELEMENTS], data: window(1) },
        'adam.m.h.1.w': { dtype: 'F32', shape: [2 ** 14, 2 ** 8, 2 ** 6], data: window(2) },
        step: { dtype: 'I32', shape: [2], data: Int32Array.of(7, -7) },
      };
    }
    for (const [name, t] of Object.entries(tensors)) written.set(name, { sha: sha(t.data), shape: t.shape, count: t.data.length, ends: ends(t.data) });
    await writeCheckpoint(path, tensors, { step: '7' });
    tensors = undefined;
    const size = statSync(path).size;
    const fd = openSync(path, 'r');
    const prefix = Buffer.alloc(8);
    readSync(fd, prefix, 0, 8, 0);
    closeSync(fd);
    header = Number(prefix.readBigUInt64LE(0));
    expect(size).toBe(8 + header + 3 * GiB + 8);

    const seen: string[] = [];
    const metadata = await visitCheckpoint(path, (name, t) => {
      seen.push(name);
      const w = written.get(name)!;
      expect([t.dtype, t.shape, t.data.length]).toEqual([name === 'step' ? 'I32' : 'F32', w.shape, w.count]);
      expect(ends(t.data), name).toEqual(w.ends);
      expect(sha(t.data), name).toBe(w.sha);
    });
    expect(metadata).toEqual({ step: '7' });
    // File order: 4-byte dtypes by name.
    expect(seen).toEqual(['adam.m.h.1.w', 'h.0.w', 'h.1.w', 'step']);
  }, 300_000);

  it('a byte flipped 2.5 GiB into the file is refused by the checksum after the last tensor', async () => {
    const at = 8 + header + 2.5 * GiB;
    const fd = openSync(path, 'r+');
    const b = Buffer.alloc(1);
    readSync(fd, b, 0, 1, at);
    b[0] = b[0]! ^ 0x10;
    writeSync(fd, b, 0, 1, at);
    closeSync(fd);
    let visited = 0;
    await expect(visitCheckpoint(path, () => void visited++)).rejects.toThrow(
      new RegExp(`^${path.replace(/[.\\]/g, '\\$&')}: the file is corrupt: its CRC-32 is [0-9a-f]{8}, the header recorded [0-9a-f]{8}$`),
    );
    expect(visited).toBe(4);
  }, 300_000);
});
