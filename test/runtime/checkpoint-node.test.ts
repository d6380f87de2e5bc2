import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CheckpointError, type CheckpointTensors } from '../../runtime/checkpoint.js';
import { readCheckpoint, writeCheckpoint } from '../../runtime/checkpoint-node.js';

const old: CheckpointTensors = {
  w: { dtype: 'F32', shape: [2, 2], data: new Float32Array([1, 2, 3, 4]) },
  step: { dtype: 'I32', shape: [], data: new Int32Array([5]) },
};
const fresh: CheckpointTensors = { w: { dtype: 'F32', shape: [2, 2], data: new Float32Array([9, 9, 9, 9]) } };

let dir = '';
let target = '';
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'mdc-ckpt-'));
  target = join(dir, 'model.safetensors');
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** Starts the writer child (test/support/checkpoint-writer.ts) and resolves with its process and a line reader. */
function writerChild(args: string[]) {
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/support/checkpoint-writer.ts', target, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr.on('data', (d) => {
    err += d;
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  const line = (prefix: string) =>
    new Promise<string>((resolve, reject) => {
      child.stdout.on('data', (d) => {
        out += d;
        const l = out.split('\n').find((x) => x.startsWith(prefix));
        if (l) resolve(l);
      });
      child.on('exit', () => reject(new Error(`the writer exited before '${prefix}': ${out}${err}`)));
    });
  return { child, exited, line };
}

const temps = () => readdirSync(dir).filter((n) => n !== 'model.safetensors');

describe('checkpoint files', () => {
  it('write then read gives the tensors and metadata back, and leaves only the checkpoint in the directory', async () => {
    await writeCheckpoint(target, old, { step: '5', seed: '1' });
    const back = await readCheckpoint(target);
    expect(back.metadata).toEqual({ step: '5', seed: '1' });
    expect(back.tensors['w']!.data).toEqual(new Float32Array([1, 2, 3, 4]));
    expect(back.tensors['step']!.data).toEqual(new Int32Array([5]));
    expect(readdirSync(dir)).toEqual(['model.safetensors']);
    await writeCheckpoint(target, fresh, { step: '6' });
    expect((await readCheckpoint(target)).metadata).toEqual({ step: '6' });
    expect(readdirSync(dir)).toEqual(['model.safetensors']);
  });

  it('a failure between writing and renaming leaves the previous checkpoint unchanged and no temporary file', async () => {
    await writeCheckpoint(target, old, { step: 'old' });
    const before = readFileSync(target);
    let sawTemp = '';
    await expect(
      writeCheckpoint(
        target,
        fresh,
        { step: 'new' },
        {
          beforeRename: (temp) => {
            sawTemp = temp;
            throw new Error('injected: disk gone');
          },
        },
      ),
    ).rejects.toThrow('injected: disk gone');
    expect(sawTemp.startsWith(join(dir, '.model.safetensors.'))).toBe(true);
    expect(readFileSync(target).equals(before)).toBe(true);
    expect(temps()).toEqual([]);
  });

  it('a failure midway through the data does the same', async () => {
    await writeCheckpoint(target, old, { step: 'old' });
    const before = readFileSync(target);
    await expect(
      writeCheckpoint(
        target,
        fresh,
        {},
        {
          onProgress: () => {
            throw new Error('injected: ENOSPC');
          },
        },
      ),
    ).rejects.toThrow('injected: ENOSPC');
    expect(readFileSync(target).equals(before)).toBe(true);
    expect(temps()).toEqual([]);
  });

  it('a tensor that cannot be encoded is refused before anything touches the disk', async () => {
    await writeCheckpoint(target, old);
    const before = readFileSync(target);
    await expect(writeCheckpoint(target, { w: { dtype: 'F32', shape: [3], data: new Float32Array(2) } })).rejects.toThrow(CheckpointError);
    expect(readFileSync(target).equals(before)).toBe(true);
    expect(temps()).toEqual([]);
  });

  it('a writer SIGKILLed midway leaves the previous checkpoint readable and unchanged; the next write clears its temporary file', async () => {
    await writeCheckpoint(target, old, { step: 'old' });
    const before = readFileSync(target);
    const w = writerChild(['64']);
    const [, written, total] = (await w.line('midway')).split(' ').map(Number);
    const [temp] = temps();
    expect(temp).toMatch(/^\.model\.safetensors\.\d+\.[0-9a-f]{12}\.tmp$/);
    expect(statSync(join(dir, temp!)).size).toBe(written);
    expect(written).toBeLessThan(total!);
    w.child.kill('SIGKILL');
    expect(await w.exited).toEqual({ code: null, signal: 'SIGKILL' });

    expect(readFileSync(target).equals(before)).toBe(true);
    const back = await readCheckpoint(target);
    expect(back.metadata).toEqual({ step: 'old' });
    expect(back.tensors['w']!.data).toEqual(new Float32Array([1, 2, 3, 4]));
    // The killed writer's partial file is itself refused, not half-loaded.
    await expect(readCheckpoint(join(dir, temp!))).rejects.toThrow(CheckpointError);

    await writeCheckpoint(target, fresh, { step: 'after' });
    expect(readdirSync(dir)).toEqual(['model.safetensors']);
    expect((await readCheckpoint(target)).metadata).toEqual({ step: 'after' });
  });

  it('a writer SIGKILLed at whatever moment its temporary file appears leaves a whole checkpoint, old or new', async () => {
    await writeCheckpoint(target, old, { step: 'old' });
    const w = writerChild(['64', '--no-wait']);
    let done = false;
    void w.exited.then(() => {
      done = true;
    });
    while (!done && temps().length === 0) await new Promise((r) => setTimeout(r, 1));
    w.child.kill('SIGKILL');
    await w.exited;
    const step = (await readCheckpoint(target)).metadata['step'];
    expect(['old', 'new']).toContain(step);
  });

  it('a corrupt checkpoint is refused with the file and the problem named, and nothing is written', async () => {
    await writeCheckpoint(target, old, { step: 'old' });
    const bytes = readFileSync(target);
    const truncated = bytes.subarray(0, bytes.length - 2);
    writeFileSync(target, truncated);
    await expect(readCheckpoint(target)).rejects.toThrow(`${target}: truncated: tensor 'w' ends at data byte 20 but the file holds 18 bytes of data`);
    expect(readFileSync(target).equals(truncated)).toBe(true);
    expect(readdirSync(dir)).toEqual(['model.safetensors']);
    await expect(readCheckpoint(join(dir, 'missing.safetensors'))).rejects.toThrow('ENOENT');
  });
});
