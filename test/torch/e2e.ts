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
 * The end-to-end check of issue 17 for one model: FILE exported for MESH runs as one rank per
 * mesh device on loopback (torchrun). Its forward outputs, its losses and its parameters (and
 * optimizer state) after STEPS training steps equal mdc's float64 CPU reference of the
 * unpartitioned model (compiler/reference, test/torch/oracle.ts) from the same seed; the
 * collectives each rank ran (MDC_TORCH_TRACE) are the plan's, in order, for every run of the step.
 */
export interface EndToEnd {
  readonly title: string;
  readonly file: string;
  readonly preset: string;
  readonly mesh: string;
  readonly steps: number;
  /** Bounds on |torch - reference|, with the measurement that set them (in the caller's comment). */
  readonly forwardTol: number;
  readonly paramTol: number;
  /** Collective kinds the plan must contain (so the comparison is not of two empty lists). */
  readonly kinds: readonly string[];
  /** 2: the ranks split over two nodes, two network namespaces joined by a veth pair (runTorch; needs root). */
  readonly nnodes?: 1 | 2;
  /** Skip the forward-pass run (a variant of a model whose forward pass another test runs). */
  readonly trainOnly?: boolean;
}

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

export function endToEnd(t: EndToEnd): void {
  describe(t.title, () => {
    const mesh = parseMeshSpec(t.mesh) as Mesh;
    const ranks = meshDevices(mesh);
    const dir = mkdtempSync(join(tmpdir(), 'mdc-torch-e2e-'));
    let oracle: Oracle;

    beforeAll(async () => {
      expect(torchAvailable(), 'Debian python3-torch (scripts/ensure-torch.sh)').toBe(true);
      const r = await mdc('export', t.file, '--preset', t.preset, '--target', 'torch', '--mesh', t.mesh, '-o', join(dir, 'pkg'));
      expect(r.err).toBe('');
      expect(r.code).toBe(0);
      oracle = await referenceRun(t.file, { preset: t.preset, seed: 0, steps: t.steps });
    }, 240_000);

    const nodes = t.nnodes ?? 1;
    const per = { nproc: ranks / nodes, ...(nodes === 2 ? { nnodes: 2 as const } : {}) };
    if (!t.trainOnly)
      it('runs the forward pass: outputs equal the CPU reference, collectives equal the plan', async () => {
        const trace = join(dir, 'trace-forward');
        const run = await runTorch({
          dir: join(dir, 'pkg'),
          args: ['--steps', '0', '--out', join(dir, 'fw')],
          ...per,
          env: { MDC_TORCH_TRACE: trace },
          timeoutMs: 240_000,
        });
        expect(run.code, run.stderr).toBe(0);
        const got = gather(join(dir, 'fw'), ranks).tensors;
        for (const [name, want] of Object.entries(oracle.forward)) expect(maxAbs(got.get(name)!, want), name).toBeLessThan(t.forwardTol);
        const source = readFileSync(t.file, 'utf8');
        const plan = (await compile(source, t.file, { preset: t.preset, partition: mesh, until: 'partition' })).spmd!;
        const byRank = readTrace(trace);
        for (let r = 0; r < ranks; r++) expect(traced(byRank.get(r) ?? []), `rank ${r}`).toEqual(expectedTrace(plan, mesh, r));
      }, 300_000);

    it(`trains ${t.steps} steps: losses and parameters equal the CPU reference, collectives equal the plan for each run`, async () => {
      const trace = join(dir, 'trace-train');
      const run = await runTorch({
        dir: join(dir, 'pkg'),
        args: ['--steps', String(t.steps), '--out', join(dir, 'tr')],
        ...per,
        env: { MDC_TORCH_TRACE: trace },
        timeoutMs: 240_000,
      });
      expect(run.code, run.stderr).toBe(0);
      const got = gather(join(dir, 'tr'), ranks);
      // Losses: f32 logits and a float64 reference, measured 1e-7 apart.
      got.losses!.forEach((l, i) => expect(Math.abs(l - oracle.losses[i]!)).toBeLessThan(1e-5));
      expect([...got.tensors.keys()].sort()).toEqual([...oracle.params.keys()].sort());
      for (const [name, want] of oracle.params) expect(maxAbs(got.tensors.get(name)!, want), name).toBeLessThan(t.paramTol);
      // The training step's plan runs once per micro-batch of each step.
      const source = readFileSync(t.file, 'utf8');
      const c = await compile(source, t.file, { preset: t.preset, partition: mesh, train: true, until: 'partition' });
      const runs = t.steps * (c.settings!.microbatches ?? 1);
      for (const k of t.kinds)
        expect(
          c.spmd!.collectives.some((x) => x.kind === k),
          k,
        ).toBe(true);
      const byRank = readTrace(trace);
      for (let r = 0; r < ranks; r++) {
        const once = expectedTrace(c.spmd!, mesh, r);
        expect(once.length).toBeGreaterThan(0);
        expect(traced(byRank.get(r) ?? []), `rank ${r}`).toEqual(Array.from({ length: runs }, () => once).flat());
      }
    }, 300_000);
  });
}
