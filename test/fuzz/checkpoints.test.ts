import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeCheckpoint, type Checkpoint } from '../../runtime/checkpoint.js';
import { readCheckpoint } from '../../runtime/checkpoint-node.js';
import { mdc, TRAIN_GPT2_TINY } from '../support/cli.js';
import { gpuStatus } from '../support/gpu.js';
import { mutateBytes } from '../support/mutate.js';
import { mulberry32 } from '../support/random.js';

/**
 * A bounded, seeded fuzz campaign over a checkpoint `mdc train` wrote: byte flips,
 * overwrites, truncations and insertions anywhere in the file (header length, header JSON,
 * data). Every mutant is refused with a CheckpointError that names the file, by the
 * in-memory decoder and by the streaming reader alike, unless it decodes to exactly the
 * original tensors and metadata; `mdc train --resume` of a mutant fails in words and leaves
 * the file as it was.
 *
 * Reproduce: FUZZ_SEED=<seed printed> FUZZ_CHECKPOINTS=1.
 */
const RUNS = Number(process.env['FUZZ_CHECKPOINTS'] ?? 300);
const FIRST_SEED = Number(process.env['FUZZ_SEED'] ?? 20_261_203);
const dir = mkdtempSync(join(tmpdir(), 'mdc-fuzz-ck-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const status = await gpuStatus();
const base = [...TRAIN_GPT2_TINY, '--batch', '2', '--seq', '16', '--microbatches', '1'];

const same = (a: Checkpoint, b: Checkpoint) =>
  JSON.stringify(a.metadata) === JSON.stringify(b.metadata) &&
  Object.keys(a.tensors).join() === Object.keys(b.tensors).join() &&
  Object.entries(a.tensors).every(([name, t]) => {
    const u = b.tensors[name]!;
    return t.dtype === u.dtype && t.shape.join() === u.shape.join() && Buffer.from(t.data.buffer).equals(Buffer.from(u.data.buffer));
  });

describe.skipIf(status.skip)(status.title('fuzzing checkpoints mdc wrote'), () => {
  const out = join(dir, 'run');
  const file = join(out, 'checkpoint.safetensors');
  let original: Uint8Array;
  let decoded: Checkpoint;

  beforeAll(async () => {
    const r = await mdc(...base, '--steps', '1', '--out', out);
    if (r.code !== 0) throw new Error(`mdc train failed: ${r.err}`);
    original = new Uint8Array(readFileSync(file));
    decoded = decodeCheckpoint(original);
  });

  it('every damaged checkpoint is refused, naming the file, or reads back exactly as written', async () => {
    const failures: string[] = [];
    let refused = 0;
    const mutant = join(dir, 'mutant.safetensors');
    for (let seed = FIRST_SEED; seed < FIRST_SEED + RUNS && failures.length < 3; seed++) {
      const bytes = mutateBytes(original, mulberry32(seed));
      writeFileSync(mutant, bytes);
      const outcomes = [];
      for (const read of [async () => decodeCheckpoint(bytes, { source: mutant }), () => readCheckpoint(mutant)]) {
        try {
          const c = await read();
          outcomes.push('read');
          if (!same(c, decoded)) failures.push(`seed ${seed}: a damaged checkpoint was read as different tensors`);
        } catch (e) {
          outcomes.push('refused');
          if ((e as Error).name !== 'CheckpointError' || !(e as Error).message.includes(mutant) || /\bundefined\b|\[object /.test((e as Error).message))
            failures.push(`seed ${seed}: refused with ${(e as Error).name}: ${(e as Error).message.slice(0, 200)}`);
        }
      }
      if (outcomes[0] !== outcomes[1]) failures.push(`seed ${seed}: the decoder ${outcomes[0]} it, the streaming reader ${outcomes[1]} it`);
      if (outcomes[1] === 'refused') refused++;
    }
    expect(failures, failures.join('\n')).toEqual([]);
    expect(refused).toBeGreaterThan(RUNS * 0.9);
  });

  it('mdc train --resume of a damaged checkpoint fails in words and leaves the file as it was', async () => {
    for (let seed = FIRST_SEED; seed < FIRST_SEED + 4; seed++) {
      const path = join(dir, `resume-${seed}.safetensors`);
      writeFileSync(path, mutateBytes(original, mulberry32(seed)));
      const before = createHash('sha256').update(readFileSync(path)).digest('hex');
      const r = await mdc(...base, '--steps', '3', '--out', join(dir, `out-${seed}`), '--resume', path);
      expect(r.code, r.err).toBe(1);
      expect(r.err.split('\n')[0], r.err).toMatch(
        new RegExp(`^mdc: error: cannot resume from '${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}'|^mdc: error: ${path}`),
      );
      expect(r.err).not.toMatch(/^\s+at /m);
      expect(createHash('sha256').update(readFileSync(path)).digest('hex')).toBe(before);
    }
  });
});
