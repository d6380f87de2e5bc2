import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { mdc } from '../support/cli.js';
import { runTorch, torchAvailable } from '../support/torchrun.js';

/**
 * A rank that dies mid-step (MDC_TORCH_KILL: between the forward and the backward pass of
 * step 2, where main.py calls mdc_torch.fault_point) ends the whole run with a clear error
 * on every other rank, within a bound, never a hang: the golden dp × tp classifier, 4 ranks,
 * collectives timing out after 10 s.
 */
it('a rank killed mid-step: every other rank exits non-zero with a one-line error, the run ends within 90 s', async () => {
  expect(torchAvailable(), 'Debian python3-torch (scripts/ensure-torch.sh)').toBe(true);
  const dir = join(mkdtempSync(join(tmpdir(), 'mdc-torch-kill-')), 'pkg');
  const r = await mdc('export', 'test/torch/golden/mlp/input.model', '--target', 'torch', '-o', dir);
  expect(r.code, r.err).toBe(0);
  const run = await runTorch({ dir, args: ['--steps', '3', '--timeout', '10'], nproc: 4, env: { MDC_TORCH_KILL: '2:2' }, timeoutMs: 180_000 });
  expect(run.timedOut).toBe(false);
  expect(run.code).not.toBe(0);
  expect(run.ranks[2]!.code).toBe(137);
  // Python start-up with torch on 2 shared cores is most of it; the others end ~1 s after the kill (docs/torch.md).
  expect(run.ms).toBeLessThan(90_000);
  for (const k of [0, 1, 3]) {
    expect(run.ranks[k]!.code, `rank ${k}`).not.toBe(0);
    expect(run.ranks[k]!.out, `rank ${k}`).toMatch(new RegExp(`mdc_torch: rank ${k}: \\w+ over \\w+ failed: `));
  }
  // Step 1 finished on every rank before the kill: rank 0 printed it, and not step 2.
  expect(run.ranks[0]!.out).toContain('step 1: loss');
  expect(run.ranks[0]!.out).not.toContain('step 2: loss');
}, 200_000);
