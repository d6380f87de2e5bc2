import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

/** `mdc` as a user runs it: a real process, its stdout and stderr as they reach the terminal. */
const mdc = (...args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', 'cli/bin.ts', ...args], { encoding: 'utf8', timeout: 120_000 });

describe('mdc as a process', () => {
  it("run: Dawn's start-up warnings never reach the user; the kernel compilation is announced and timed apart", () => {
    const r = mdc('run', 'samples/mlp.model');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(/artificially reduced/);
    expect(r.stderr).toBe('compiling 3 kernels…\n');
    expect(r.stdout).toMatch(/kernels compiled in \d+ ms, forward \d+\.\d ms/);
  });

  it("run: a usage error in the child still exits 2 with mdc's message", () => {
    const r = mdc('run', 'samples/mlp.model', '--target', 'fastest');
    expect(r.status).toBe(2);
    expect(r.stderr).toBe("mdc: --target must be portable, adapter or tuned, not 'fastest'\nRun 'mdc run --help' for usage.\n");
  });
});
