import { execFileSync } from 'node:child_process';
import { lstatSync, mkdtempSync, readFileSync, readlinkSync, statSync, symlinkSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { mdc } from '../support/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'mdc-files-'));

describe('files', () => {
  it("fmt --write rewrites a symlink's target, keeps the link and the file's mode", async () => {
    const target = join(dir, 'real.model');
    writeFileSync(target, 'model M(x: f32[4]) -> f32[4] {\n    return x\n}\n');
    chmodSync(target, 0o640);
    const link = join(dir, 'link.model');
    symlinkSync(target, link);
    const r = await mdc('fmt', link, '--write');
    expect(r.code, r.err).toBe(0);
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    expect(readlinkSync(link)).toBe(target);
    expect(readFileSync(target, 'utf8')).toBe('model M(x: f32[4]) -> f32[4] {\n  return x\n}\n');
    expect(statSync(target).mode & 0o777).toBe(0o640);
  });

  it('a device or a FIFO as FILE, --data or --inputs is refused at once, not read', async () => {
    const fifo = join(dir, 'pipe');
    execFileSync('mkfifo', [fifo]);
    for (const args of [
      ['check', '/dev/zero'],
      ['check', fifo],
      ['run', 'samples/mlp.model', '--inputs', '/dev/zero'],
      ['train', 'samples/gpt2.model', '--data', fifo],
    ]) {
      const r = await mdc(...args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.err.split('\n')[0], args.join(' ')).toMatch(/is not a regular file \(a device, a pipe or a socket\), which mdc does not read$/);
    }
  });

  it('a source over the size limit is refused before it is read', async () => {
    const big = join(dir, 'big.model');
    writeFileSync(big, Buffer.alloc(2 * 2 ** 20 + 1, 0x20));
    const r = await mdc('check', big);
    expect(r.code).toBe(2);
    expect(r.err.split('\n')[0]).toBe(`mdc: '${big}' is too large: 2097153 bytes, over the 2 MiB limit for a .model file`);
  });
});
