import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readTrace, runTorch } from '../support/torchrun.js';
import { compareResults, expectedTrace, RANKS, writeCases } from './collective-cases.js';

/**
 * The collectives test of support.test.ts across two nodes: two network namespaces joined by a
 * veth pair (made by runTorch for the run, removed after), one torchrun in each with 2 ranks,
 * the rendezvous and Gloo's traffic over that link. Needs root (CI runs the tests as root).
 */
const FIXTURES = resolve(import.meta.dirname, 'fixtures');
const work = mkdtempSync(join(tmpdir(), 'mdc-torch-two-node-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('torch support library on two nodes', () => {
  it('gives the one-node results with 2 nodes × 2 ranks over a veth link', async () => {
    const cases = writeCases(work);
    const trace = join(work, 'trace');
    const run = await runTorch({
      dir: FIXTURES,
      script: 'collectives.py',
      args: [cases, join(work, 'in'), join(work, 'out')],
      nproc: RANKS / 2,
      nnodes: 2,
      env: { MDC_TORCH_TRACE: trace },
      timeoutMs: 100_000,
    });
    expect(run.code, run.stderr + run.ranks.map((r) => r.out).join('\n')).toBe(0);
    expect(run.ranks.map((r) => r.code)).toEqual([0, 0, 0, 0]);
    // Each rank met the rendezvous at node 0's veth address and bound Gloo to its own node's veth end.
    const where = run.ranks.map((r) => JSON.parse(r.out.trim().split('\n').at(-1)!) as { rank: number; master: string; ifname: string });
    expect(where.map((w) => w.rank)).toEqual([0, 1, 2, 3]);
    expect(new Set(where.map((w) => w.master)).size).toBe(1);
    expect(where[0]!.master).toMatch(/^10\.\d+\.\d+\.\d+$/);
    expect(where[0]!.ifname).toBe(where[1]!.ifname);
    expect(where[2]!.ifname).toBe(where[3]!.ifname);
    expect(where[0]!.ifname).not.toBe(where[2]!.ifname);
    const cmp = compareResults(work);
    expect(cmp.problems).toEqual([]);
    expect(cmp.values).toBe(19_392);
    // Same tolerance as on one node (support.test.ts): 4-rank float32 sums within 3·2^-24·Σ|terms|, the rest bit-exact.
    expect(cmp.worstRelative).toBeLessThanOrEqual(3 * 2 ** -24);
    const traces = readTrace(trace);
    expect([...traces.keys()]).toEqual([0, 1, 2, 3]);
    for (const [r, entries] of traces) expect(entries).toEqual(expectedTrace(r));
  });

  it('kills a run that outlives its timeout, every process of both nodes, and removes the namespaces', async () => {
    // A hung rank and a 10-minute mesh timeout: only runTorch's own 20 s timeout can end this run.
    const run = await runTorch({ dir: FIXTURES, script: 'die.py', args: ['600'], nproc: 2, nnodes: 2, env: { MDC_TORCH_STALL: '3:1' }, timeoutMs: 20_000 });
    expect(run.timedOut).toBe(true);
    expect(run.code).toBe(-1);
    expect(run.ms).toBeLessThan(30_000);
    const left = readdirSync('/proc').filter((p) => {
      try {
        return /^\d+$/.test(p) && readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(join(FIXTURES, 'die.py'));
      } catch {
        return false;
      }
    });
    expect(left).toEqual([]);
    expect(spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout).not.toContain('mdc-torch-');
  });
});
