import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { compile } from '../../driver/compile.js';
import { parseMeshSpec, type Mesh } from '../../compiler/sharding/mesh.js';
import { meshDevices } from '../../layout/mesh.js';
import { lrAt } from '../../runtime/train.js';
import type { PipelinePlan } from '../../runtime/pipeline-plan.js';
import { mdc } from '../support/cli.js';
import { readTrace, runTorch, torchAvailable } from '../support/torchrun.js';
import { gather, referenceRun, type Oracle } from './oracle.js';
import { expectedPipelineTrace, moved } from './pipeline-plan.js';

/**
 * Issue 17's pipeline case: samples/gpt2.model --preset tiny (2 layers, @pipeline(stages = 2),
 * tied wte) exported for [pp: 2, dp: 2, tp: 2] runs as 8 ranks on loopback, schedule 1F1B with
 * the train section's 2 micro-batches. The oracle is mdc's float64 CPU reference of the
 * unpipelined, unpartitioned model (test/torch/oracle.ts) from the same seed, with each step's
 * learning rate from runtime/train.ts lrAt as mdc train feeds it (warm-up 0 and a cosine over
 * the 3 steps: 2.325e-4, 9.75e-5, 3e-5). Each rank's collectives and transfers must be those
 * of mdc's sealed pipelined plan (test/torch/pipeline-plan.ts), in order.
 */
const FILE = 'samples/gpt2.model';
const PRESET = 'tiny';
const MESH = 'pp=2,dp=2,tp=2';
const STEPS = 3;

function maxAbs(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

describe('mdc export --target torch: GPT-2 tiny pipelined on [pp: 2, dp: 2, tp: 2], 8 ranks, 1F1B', () => {
  const mesh = parseMeshSpec(MESH) as Mesh;
  const ranks = meshDevices(mesh);
  const dir = mkdtempSync(join(tmpdir(), 'mdc-torch-pp-'));
  const source = readFileSync(FILE, 'utf8');
  let oracle: Oracle;
  let forwardPlan: PipelinePlan;
  let trainPlan: PipelinePlan;

  beforeAll(async () => {
    expect(torchAvailable(), 'Debian python3-torch (scripts/ensure-torch.sh)').toBe(true);
    const r = await mdc('export', FILE, '--preset', PRESET, '--target', 'torch', '--mesh', MESH, '-o', join(dir, 'pkg'));
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toContain('2 pipeline stages over pp');
    const main = readFileSync(join(dir, 'pkg', 'main.py'), 'utf8');
    // One function per (stage, pass) program, the schedule printed.
    for (const f of ['train_stage0_F', 'train_stage0_B', 'train_stage1_F', 'train_stage1_B', 'train_stage0_U2', 'forward_stage1_F'])
      expect(main).toContain(`def ${f}(mesh, params, state, batch, step):`);
    expect(main).toContain('#   rank 0: F0 F1 B0 B1');
    const fwd = await compile(source, FILE, { preset: PRESET, partition: mesh });
    const step = await compile(source, FILE, { preset: PRESET, partition: mesh, train: true });
    forwardPlan = fwd.pipeline!.plan!;
    trainPlan = step.pipeline!.plan!;
    expect(trainPlan.schedule.kind).toBe('1f1b');
    expect(trainPlan.microbatches).toBe(2);
    expect(trainPlan.shared.map((s) => s.param)).toEqual(['wte']);
    const s = step.settings!;
    const schedule = { lr: s.optimizer.lr, warmup: s.warmup ?? Math.min(10, Math.floor(STEPS / 10)), steps: STEPS };
    oracle = await referenceRun(FILE, { preset: PRESET, seed: 0, steps: STEPS, lr: (t) => lrAt(t, schedule) });
  }, 240_000);

  it('runs the forward pass: outputs equal the CPU reference; transfers and collectives equal the plan', async () => {
    const trace = join(dir, 'trace-forward');
    const run = await runTorch({
      dir: join(dir, 'pkg'),
      args: ['--steps', '0', '--out', join(dir, 'fw')],
      nproc: ranks,
      env: { MDC_TORCH_TRACE: trace },
      timeoutMs: 240_000,
    });
    expect(run.code, run.stderr).toBe(0);
    const got = gather(join(dir, 'fw'), ranks).tensors;
    // f32 against float64 through 2 layers and the tied vocabulary projection: measured 6.5e-7, bound 1e-5 (as the GPT-2 dp × tp case).
    for (const [name, want] of Object.entries(oracle.forward)) expect(maxAbs(got.get(name)!, want), name).toBeLessThan(1e-5);
    const byRank = readTrace(trace);
    for (let r = 0; r < ranks; r++) {
      const want = expectedPipelineTrace(forwardPlan, mesh, r, 1);
      expect(want.some((m) => m.op === 'send') || want.some((m) => m.op === 'recv')).toBe(true);
      expect(moved(byRank.get(r) ?? []), `rank ${r}`).toEqual(want);
    }
  }, 300_000);

  it(`trains ${STEPS} steps: losses and parameters equal the CPU reference; transfers and collectives equal the plan`, async () => {
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
    // Losses: measured 2.3e-7 apart; bound 1e-5.
    expect(got.losses).toHaveLength(STEPS);
    got.losses!.forEach((l, i) => expect(Math.abs(l - oracle.losses[i]!), `step ${i + 1}`).toBeLessThan(1e-5));
    // Parameters and AdamW's moments (ZeRO-1 within each stage's dp group): the reference's, gradient sums (acc.*) aside.
    // The tied wte and its state are written by both stages; gather() requires the copies to agree exactly.
    const want = [...oracle.params.keys()].filter((k) => !k.startsWith('acc.')).sort();
    expect([...got.tensors.keys()].sort()).toEqual(want);
    // Bound as the GPT-2 dp × tp case: AdamW moves an element up to lr per step, f32 noise in tiny gradients; measured 6.3e-6 (wpe).
    for (const name of want) expect(maxAbs(got.tensors.get(name)!, oracle.params.get(name)!), name).toBeLessThan(1e-4);
    const byRank = readTrace(trace);
    for (let r = 0; r < ranks; r++) {
      const expected = expectedPipelineTrace(trainPlan, mesh, r, STEPS);
      for (const op of ['send', 'recv', 'all_reduce', 'reduce_scatter', 'all_gather'])
        expect(
          expected.some((m) => m.op === op),
          `${op} on rank ${r}`,
        ).toBe(true);
      expect(moved(byRank.get(r) ?? []), `rank ${r}`).toEqual(expected);
    }
  }, 300_000);
});
