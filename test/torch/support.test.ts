import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { decodeCheckpoint, encodeCheckpoint, type CheckpointTensors } from '../../runtime/checkpoint.js';
import { initValues } from '../../runtime/init.js';
import type { PlanInit } from '../../runtime/plan.js';
import { MDC_TORCH_DIR, readTrace, runTorch, torchAvailable, TORCH_PYTHON } from '../support/torchrun.js';
import { compareResults, expectedTrace, RANKS, writeCases } from './collective-cases.js';

/**
 * The torch support library (runtime/torch/mdc_torch.py) that `mdc export --target torch`
 * packages call, against mdc's own definitions: parameter init bit for bit against
 * runtime/init.ts, safetensors against runtime/checkpoint.ts both ways, every collective
 * against its group reference (compiler/ops/collectives.ts) under torchrun with Gloo, the trace
 * files, and a rank that dies mid-step. The two-node run is two-node.test.ts.
 */
const FIXTURES = resolve(import.meta.dirname, 'fixtures');
const work = mkdtempSync(join(tmpdir(), 'mdc-torch-support-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** One plain python process (no torchrun) running a fixture, with mdc_torch importable. */
function python(script: string, ...args: string[]): string {
  const r = spawnSync(TORCH_PYTHON, [join(FIXTURES, script), ...args], { encoding: 'utf8', env: { ...process.env, PYTHONPATH: MDC_TORCH_DIR } });
  if (r.status !== 0) throw new Error(`${script} exited ${r.status}:\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

describe('torch support library', () => {
  it("has Debian's torch to run on (scripts/ensure-torch.sh installs it)", () => {
    expect(torchAvailable()).toBe(true);
  });

  it('init_param equals initValues of the whole parameter, cut to the block, bit for bit', () => {
    const inits: PlanInit[] = [
      { kind: 'normal', mean: 0, std: 0.02 },
      { kind: 'normal', mean: 0.5, std: 2 },
      { kind: 'uniform', low: -0.1, high: 0.3 },
      { kind: 'constant', value: 0.1 },
    ];
    // Blocks with odd and even starts in both dims (a normal block starting on an odd element
    // begins mid-pair), the whole, single rows and columns; names with a non-ASCII character
    // (the hash is over UTF-16 code units) and seeds negative, zero and past 2^31.
    const blocks: { global: number[]; start: number[]; shape: number[] }[] = [
      { global: [7, 10], start: [0, 0], shape: [7, 10] },
      { global: [7, 10], start: [1, 3], shape: [5, 7] },
      { global: [7, 10], start: [2, 4], shape: [3, 5] },
      { global: [7, 10], start: [6, 9], shape: [1, 1] },
      { global: [7, 10], start: [0, 5], shape: [7, 1] },
      { global: [1000, 513], start: [0, 0], shape: [1000, 513] },
      { global: [1000, 513], start: [501, 257], shape: [499, 256] },
      { global: [1000, 513], start: [250, 0], shape: [250, 513] },
      { global: [1000, 513], start: [3, 1], shape: [997, 512] },
    ];
    const names = ['Layer.0.Attention.wq', 'wte', 'blöck.w'];
    const seeds = [0, 42, -7, 2 ** 31 + 5];
    const cases = [];
    let k = 0;
    for (const init of inits)
      for (const b of blocks) {
        // Every block with every init; names and seeds in rotation (the large whole parameter once per init).
        const name = names[k % names.length]!;
        const seed = seeds[k++ % seeds.length]!;
        cases.push({ name, init, global_shape: b.global, start: b.start, shape: b.shape, seed });
      }
    const file = join(work, 'init-cases.json');
    const out = join(work, 'init-out.bin');
    writeFileSync(file, JSON.stringify(cases));
    python('init_blocks.py', file, out);
    const got = new Uint32Array(new Uint8Array(readFileSync(out)).buffer);
    let at = 0;
    let mismatches = 0;
    const counts: Record<string, number> = {};
    for (const c of cases) {
      const whole = new Uint32Array(initValues(c.init, c.global_shape[0]! * c.global_shape[1]!, c.seed, c.name).buffer);
      for (let i = 0; i < c.shape[0]!; i++)
        for (let j = 0; j < c.shape[1]!; j++) {
          const want = whole[(c.start[0]! + i) * c.global_shape[1]! + c.start[1]! + j]!;
          if (got[at++] !== want) mismatches++;
        }
      counts[c.init.kind] = (counts[c.init.kind] ?? 0) + c.shape[0]! * c.shape[1]!;
    }
    expect(at).toBe(got.length);
    // 5.1 million values compared: each init over every block (1,279,586 values), normal twice.
    expect(counts).toEqual({ normal: 2 * 1_279_586, uniform: 1_279_586, constant: 1_279_586 });
    expect(mismatches).toBe(0);
  });

  it("reads mdc's safetensors files and writes files mdc reads, F32/F16/BF16/I32 (and I64 in Python) with metadata", () => {
    const tensors: CheckpointTensors = {
      'Layer.0.w': { dtype: 'F32', shape: [2, 3], data: new Float32Array([1, -2, 3.5, 1e-8, -0, Infinity]) },
      halves: { dtype: 'F16', shape: [3], data: new Uint16Array([0x3c00, 0xc000, 0x7e00]) },
      brains: { dtype: 'BF16', shape: [2, 2], data: new Uint16Array([0x3f80, 0xbf80, 0x7f80, 0x0001]) },
      step: { dtype: 'I32', shape: [], data: new Int32Array([41]) },
      empty: { dtype: 'F32', shape: [0, 5], data: new Float32Array(0) },
      tokens: { dtype: 'I32', shape: [1, 4], data: new Int32Array([0, -1, 2147483647, -2147483648]) },
    };
    const meta = { step: '41', ünï: 'cödé' };
    const from = join(work, 'from-ts.safetensors');
    const to = join(work, 'from-py.safetensors');
    writeFileSync(from, encodeCheckpoint(tensors, meta));
    const report = JSON.parse(python('safetensors_roundtrip.py', from, to)) as Record<string, unknown>;
    // Python's view of mdc's file, as the fixture describes it.
    expect(report).toEqual({
      metadata: meta,
      tensors: {
        'Layer.0.w': ['torch.float32', [2, 3], [1, -2, 3.5, Math.fround(1e-8), -0, 'inf']],
        halves: ['torch.float16', [3], [1, -2, 'nan']],
        brains: ['torch.bfloat16', [2, 2], [1, -1, 'inf', 9.183549615799121e-41]],
        step: ['torch.int32', [], [41]],
        empty: ['torch.float32', [0, 5], []],
        tokens: ['torch.int32', [1, 4], [0, -1, 2147483647, -2147483648]],
      },
      python_round_trip: true,
    });
    // Python's file, read by mdc's reader with its checksum required: the same tensors, metadata and an I64 mdc skips.
    const back = decodeCheckpoint(readFileSync(to), { skipOtherDtypes: true });
    expect(back.metadata).toEqual({ ...meta, writer: 'mdc_torch' });
    expect(back.skipped?.map((s) => [s.name, s.dtype, s.shape])).toEqual([['longs', 'I64', [3]]]);
    for (const [name, t] of Object.entries(tensors)) {
      const b = back.tensors[name]!;
      expect([name, b.dtype, b.shape]).toEqual([name, t.dtype, t.shape]);
      expect(new Uint8Array(b.data.buffer, b.data.byteOffset, b.data.byteLength)).toEqual(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
    }
    // A flipped data bit is caught by mdc_torch's reader (through mdc's checksum).
    const bytes = readFileSync(from);
    bytes[bytes.length - 1]! ^= 1;
    writeFileSync(from, bytes);
    expect(() => python('safetensors_roundtrip.py', from, to)).toThrow(/the file is corrupt: its CRC-32 is [0-9a-f]{8}, the header recorded [0-9a-f]{8}/);
  });

  it('refuses a launch whose world size is not the mesh’s, before any rendezvous', () => {
    const r = spawnSync(TORCH_PYTHON, [join(FIXTURES, 'mesh_refusal.py')], {
      encoding: 'utf8',
      env: { ...process.env, PYTHONPATH: MDC_TORCH_DIR, RANK: '0', WORLD_SIZE: '3' },
      timeout: 60_000,
    });
    expect(r.status).toBe(1);
    expect(r.stderr.trim()).toBe(
      'mdc_torch: the mesh [dp: 2, tp: 4] has 8 devices but torchrun started WORLD_SIZE=3 ranks (run with --nproc_per_node x --nnodes = 8)',
    );
  });

  it('runs every collective with mdc’s semantics on 4 ranks (Gloo, one node), traced', async () => {
    const dir = join(work, 'one-node');
    const cases = writeCases(dir);
    const trace = join(dir, 'trace');
    const run = await runTorch({
      dir: FIXTURES,
      script: 'collectives.py',
      args: [cases, join(dir, 'in'), join(dir, 'out')],
      nproc: RANKS,
      env: { MDC_TORCH_TRACE: trace },
      timeoutMs: 90_000,
    });
    expect(run.code, run.stderr + run.ranks.map((r) => r.out).join('\n')).toBe(0);
    expect(run.ranks.map((r) => r.code)).toEqual([0, 0, 0, 0]);
    const cmp = compareResults(dir);
    expect(cmp.problems).toEqual([]);
    // 23 cases × 4 ranks: 19,392 values. Measured: all bit-exact but 361 of the 4-rank float32 sums
    // (Gloo adds in its own order), the worst 1.98·2^-24·Σ|terms| from the float64 oracle.
    expect(cmp.values).toBe(19_392);
    expect(cmp.exact).toBeGreaterThan(cmp.values - 1000);
    expect(cmp.worstRelative).toBeLessThanOrEqual(3 * 2 ** -24);
    const traces = readTrace(trace);
    expect([...traces.keys()]).toEqual([0, 1, 2, 3]);
    for (const [r, entries] of traces) expect(entries).toEqual(expectedTrace(r));
  });

  it('ends every rank with a one-line error when a rank dies mid-step, well within the timeout', async () => {
    const timeoutS = 10;
    const run = await runTorch({ dir: FIXTURES, script: 'die.py', args: [String(timeoutS)], nproc: 4, env: { MDC_TORCH_KILL: '2:1' }, timeoutMs: 90_000 });
    const ended = Date.now() / 1000;
    expect(run.timedOut).toBe(false);
    expect(run.code).not.toBe(0);
    expect(run.ranks[2]!.code).toBe(137);
    expect(run.ranks[2]!.out).toContain('mdc_torch: rank 2: killed at step 1 (MDC_TORCH_KILL)');
    for (const r of [0, 1, 3]) {
      expect(run.ranks[r]!.code, run.ranks[r]!.out).not.toBe(0);
      expect(run.ranks[r]!.out).toMatch(new RegExp(`^mdc_torch: rank ${r}: all_reduce over x failed: .+$`, 'm'));
      expect(run.ranks[r]!.out).not.toContain('finished all steps');
    }
    // From the fault to the end of the whole run (torchrun included): bounded by the mesh timeout plus the
    // watchdog's 5 s grace and torchrun's 1 s poll; a dead peer's closed connections usually end it far
    // sooner (measured 1.1 s; the whole run 3.5 s idle, 17 s on a loaded machine, mostly start-up).
    const struck = Number(/^rank 2: step 1 at ([\d.]+)$/m.exec(run.ranks[2]!.out)![1]);
    expect(ended - struck).toBeLessThan(timeoutS + 10);
    expect(run.ms).toBeLessThan(90_000);
  });

  it('ends every rank with a one-line error when a rank hangs, after the mesh timeout', async () => {
    const timeoutS = 5;
    const run = await runTorch({ dir: FIXTURES, script: 'die.py', args: [String(timeoutS)], nproc: 4, env: { MDC_TORCH_STALL: '1:2' }, timeoutMs: 90_000 });
    const ended = Date.now() / 1000;
    expect(run.timedOut).toBe(false);
    expect(run.code).not.toBe(0);
    for (const r of [0, 2, 3]) {
      expect(run.ranks[r]!.code, run.ranks[r]!.out).not.toBe(0);
      expect(run.ranks[r]!.out).toMatch(new RegExp(`^mdc_torch: rank ${r}: all_reduce over x failed: .*[Tt]imed out.*$`, 'm'));
    }
    // The hung rank is stopped by torchrun (SIGTERM) once the others failed, and says so.
    expect(run.ranks[1]!.code).toBe(143);
    expect(run.ranks[1]!.out).toContain('mdc_torch: rank 1: stalled at step 2');
    expect(run.ranks[1]!.out).toContain('mdc_torch: rank 1: stopped by the launcher (a peer rank exited or failed)');
    // The others wait out the mesh timeout, then end with torchrun (measured 6.6 s after the stall with a 5 s timeout).
    const stalled = Number(/^rank 1: step 2 at ([\d.]+)$/m.exec(run.ranks[1]!.out)![1]);
    expect(ended - stalled).toBeGreaterThan(timeoutS);
    expect(ended - stalled).toBeLessThan(timeoutS + 10);
  });

  it('ends a rank whose collective never returns: on the watchdog deadline, or at once on SIGTERM', async () => {
    const watch = (grace: string, signalAfterReady: boolean) =>
      new Promise<{ code: number | null; err: string; ms: number }>((ok) => {
        const began = Date.now();
        const p = spawn(TORCH_PYTHON, [join(FIXTURES, 'watchdog.py'), grace], { env: { ...process.env, PYTHONPATH: MDC_TORCH_DIR, RANK: '0' } });
        let err = '';
        p.stderr.on('data', (d: Buffer) => (err += d.toString()));
        p.stdout.on('data', (d: Buffer) => {
          if (signalAfterReady && d.toString().includes('ready')) setTimeout(() => p.kill('SIGTERM'), 200);
        });
        const guard = setTimeout(() => p.kill('SIGKILL'), 60_000);
        p.on('close', (code) => (clearTimeout(guard), ok({ code, err, ms: Date.now() - began })));
      });
    // Deadline: the 1 s timeout plus a 1 s grace, checked every 0.5 s.
    const late = await watch('1', false);
    expect(late.code).toBe(124);
    expect(late.err).toMatch(/^mdc_torch: rank 0: all_reduce over x failed: no completion after \d+ s \(a peer rank is lost or stuck\)$/m);
    // SIGTERM from the launcher while the main thread sits in C: the watchdog thread reports the collective in flight.
    const stopped = await watch('600', true);
    expect(stopped.code).toBe(143);
    expect(stopped.err).toMatch(/^mdc_torch: rank 0: all_reduce over x failed: stopped by the launcher \(a peer rank exited or failed\)$/m);
  });
});
