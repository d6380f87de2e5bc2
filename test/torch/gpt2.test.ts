import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { compile } from '../../driver/compile.js';
import { parseMeshSpec, type Mesh } from '../../compiler/sharding/mesh.js';
import type { SpmdProgram } from '../../compiler/sharding/partition.js';
import { groupOf, meshDevices } from '../../layout/mesh.js';
import { mdc } from '../support/cli.js';
import { readTrace, runTorch, torchAvailable, type TraceEntry } from '../support/torchrun.js';
import { gather, referenceRun, type Oracle } from './oracle.js';

/**
 * End to end (issue 17): samples/gpt2.model --preset tiny exported for [dp: 2, tp: 4] runs as
 * 8 ranks on loopback. Its forward outputs, its losses and its parameters (and optimizer
 * state) after 3 training steps equal mdc's float64 CPU reference of the unpartitioned model
 * (compiler/reference, test/torch/oracle.ts) from the same seed; the collectives each rank
 * ran (MDC_TORCH_TRACE) are the plan's, in order, for every run of the step.
 */
const FILE = 'samples/gpt2.model';
const MESH = 'dp=2,tp=4';
const STEPS = 3;
const TRAFFIC = new Set(['all_reduce', 'reduce_scatter', 'all_gather', 'all_to_all']);

/** The plan's collectives that move data, as rank `rank` runs them once, from the partition (not from main.py). */
function expectedTrace(p: SpmdProgram, mesh: Mesh, rank: number) {
  return p.collectives.filter((c) => TRAFFIC.has(c.kind)).map((c) => ({ op: c.kind, axis: c.axis, group: groupOf(mesh, rank, c.axis), bytes: c.bytes }));
}
const traced = (entries: readonly TraceEntry[]) =>
  entries.filter((e) => TRAFFIC.has(e.op)).map((e) => ({ op: e.op, axis: e.axis, group: e.group, bytes: e.bytes }));

function maxAbs(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

describe('mdc export --target torch: GPT-2 tiny on [dp: 2, tp: 4], 8 ranks', () => {
  const mesh = parseMeshSpec(MESH) as Mesh;
  const ranks = meshDevices(mesh);
  const dir = mkdtempSync(join(tmpdir(), 'mdc-torch-gpt2-'));
  let oracle: Oracle;

  beforeAll(async () => {
    expect(torchAvailable(), 'Debian python3-torch (scripts/ensure-torch.sh)').toBe(true);
    const r = await mdc('export', FILE, '--preset', 'tiny', '--target', 'torch', '--mesh', MESH, '-o', join(dir, 'pkg'));
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    oracle = await referenceRun(FILE, { preset: 'tiny', seed: 0, steps: STEPS });
  }, 240_000);

  it('runs the forward pass: logits equal the CPU reference, collectives equal the plan', async () => {
    const trace = join(dir, 'trace-forward');
    const run = await runTorch({
      dir: join(dir, 'pkg'),
      args: ['--steps', '0', '--out', join(dir, 'fw')],
      nproc: ranks,
      env: { MDC_TORCH_TRACE: trace },
      timeoutMs: 240_000,
    });
    expect(run.code, run.stderr).toBe(0);
    const got = gather(join(dir, 'fw'), ranks).tensors.get('logits')!;
    // f32 against float64 through 2 layers (sums of 128-512 terms) and a 128-wide vocabulary
    // projection, logits up to 1.35 in size: measured 5.9e-7, bound 1e-5.
    expect(maxAbs(got, oracle.forward['logits']!)).toBeLessThan(1e-5);
    const source = readFileSync(FILE, 'utf8');
    const plan = (await compile(source, FILE, { preset: 'tiny', partition: mesh, until: 'partition' })).spmd!;
    const byRank = readTrace(trace);
    for (let r = 0; r < ranks; r++) expect(traced(byRank.get(r) ?? []), `rank ${r}`).toEqual(expectedTrace(plan, mesh, r));
  }, 300_000);

  it('trains 3 steps: losses and parameters equal the CPU reference, collectives equal the plan for each run', async () => {
    const trace = join(dir, 'trace-train');
    const run = await runTorch({
      dir: join(dir, 'pkg'),
      args: ['--steps', String(STEPS), '--out', join(dir, 'tr')],
      nproc: ranks,
      env: { MDC_TORCH_TRACE: trace },
      timeoutMs: 240_000,
    });
    expect(run.code, run.stderr).toBe(0);
    const got = gather(join(dir, 'tr'), ranks);
    // Losses: f32 logits and a float64 reference, measured 1e-7 apart.
    got.losses!.forEach((l, i) => expect(Math.abs(l - oracle.losses[i]!)).toBeLessThan(1e-5));
    // Parameters and AdamW's moments after 3 steps (lr 3e-4): AdamW divides each gradient by its
    // own running RMS, so f32 noise in the tiniest gradients moves an element by up to lr a step.
    // Measured worst 1.2e-5 (wpe), bound 1e-4 (a third of one step's largest move).
    expect([...got.tensors.keys()].sort()).toEqual([...oracle.params.keys()].sort());
    for (const [name, want] of oracle.params) expect(maxAbs(got.tensors.get(name)!, want), name).toBeLessThan(1e-4);
    // The training step's plan runs once per micro-batch: microbatches = 2, 3 steps.
    const source = readFileSync(FILE, 'utf8');
    const c = await compile(source, FILE, { preset: 'tiny', partition: mesh, train: true, until: 'partition' });
    const runs = STEPS * (c.settings!.microbatches ?? 1);
    const byRank = readTrace(trace);
    for (let r = 0; r < ranks; r++) {
      const once = expectedTrace(c.spmd!, mesh, r);
      expect(once.length).toBeGreaterThan(0);
      expect(traced(byRank.get(r) ?? []), `rank ${r}`).toEqual(Array.from({ length: runs }, () => once).flat());
    }
  }, 300_000);
});
