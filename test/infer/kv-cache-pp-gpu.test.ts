/**
 * Pipeline-parallel KV-cache decoding on WebGPU: the GPT-2 sample's `@pipeline(stages = 2)`
 * stack on `[pp: 2]` (two devices, one layer each) and on `[pp: 2, tp: 2]` (four devices,
 * each stage's layer split by heads over its two). Each stage's devices hold only their
 * layers' weights and KV cache; the hidden states go from stage 0 to stage 1 at every step,
 * and stage 1 makes the logits. The law is the one-device test's (kv-cache-gpu.test.ts):
 * after a prefill, every decode step's logits equal those of a full forward pass over the
 * whole sequence at that position. The oracle is the CPU reference interpreter (float64)
 * running the model as lowered for one device with the same weights; it never sees the
 * stages, the cache or the decode graph.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { compileInference, type InferCompiled } from '../../driver/infer.js';
import { InferenceSession, inferenceParams } from '../../runtime/generate.js';
import { stageDevices } from '../../runtime/generate-pipeline.js';
import type { Plan } from '../../runtime/plan.js';
import { interpret } from '../../compiler/reference/interpret.js';
import { formatDiagnostic } from '../../diagnostics/format.js';
import { cliGreedyTokens, drawn, gap, oracleGreedy, oracleLogits as oracle } from '../support/infer.js';
import { destroySharedDevices, gpuStatus, sharedDevices, uniformI32 } from '../support/gpu.js';

const status = await gpuStatus();
afterAll(destroySharedDevices);

const source = readFileSync('samples/gpt2.model', 'utf8');
const M = 16;
const SEED = 5;
const PP = { axes: [{ name: 'pp', size: 2 }] };
const PP_TP = {
  axes: [
    { name: 'pp', size: 2 },
    { name: 'tp', size: 2 },
  ],
};
/** f32 on the devices against float64, as in the one-device and tensor-parallel tests: 1e-4 of the row's largest logit. */
const TOL = 1e-4;

const params = (p: Plan) =>
  p.buffers
    .filter((b) => b.role === 'param')
    .map((b) => b.name)
    .sort();

describe('pipeline-parallel inference plans (no device)', () => {
  it('cut both plans into two stages, each holding its layer’s weights and cache; the hidden states cross between them', async () => {
    const c = await compileInference(source, 'gpt2.model', { preset: 'tiny', maxSeq: M, batch: 2, partition: PP });
    expect(c.diagnostics).toEqual([]);
    const p = c.plans!;
    const pipe = p.pipeline!;
    expect([pipe.axis, pipe.ranks, pipe.mesh.devices]).toEqual(['pp', 2, 2]);
    expect(pipe.stages.map((s) => s.layers)).toEqual([
      [0, 1],
      [1, 2],
    ]);
    // Stage 0 on device 0, stage 1 on device 1 (the file's dp and tp at 1).
    expect([stageDevices(pipe, 0), stageDevices(pipe, 1)]).toEqual([[0], [1]]);
    // Each layer's cache whole ([batch 2, 16, width 128]) on its stage.
    expect(p.cache.map((e) => [e.k, e.stage, e.block])).toEqual([
      ['cache.k.0', 0, [2, 16, 128]],
      ['cache.k.1', 1, [2, 16, 128]],
    ]);
    const layer = (n: number) => ['ln1_g', 'ln1_b', 'ln2_g', 'ln2_b'].map((x) => `Layer.${n}.${x}`);
    const attn = (n: number) => ['wq', 'bq', 'wk', 'bk', 'wv', 'bv', 'wo', 'bo'].map((x) => `Layer.${n}.Attention.${x}`);
    const mlp = (n: number) => ['w1', 'b1', 'w2', 'b2'].map((x) => `Layer.${n}.Mlp.${x}`);
    // By hand: stage 0 has the embeddings and layer 0; stage 1 layer 1, the final norm and the tied head (wte again).
    const want = [
      [...layer(0), ...attn(0), ...mlp(0), 'cache.k.0', 'cache.v.0', 'wte', 'wpe'].sort(),
      [...layer(1), ...attn(1), ...mlp(1), 'cache.k.1', 'cache.v.1', 'lnf_g', 'lnf_b', 'wte'].sort(),
    ];
    pipe.stages.forEach((s, k) => {
      for (const plan of [s.prefill, s.decode]) {
        expect(params(plan), `stage ${k}`).toEqual(want[k]);
        expect(plan.mesh?.devices).toBe(1);
      }
      expect(s.prefill.updates!.map((u) => u.param)).toEqual([`cache.k.${k}`, `cache.v.${k}`]);
      // The decode step writes its rows into the stage's cache in place: no update copies it.
      expect(s.decode.updates ?? []).toEqual([]);
      const written = s.decode.steps.flatMap((st) => (st.kind !== 'collective' && st.op === 'kv_write' ? [st] : []));
      const out = written.map((st) => s.decode.buffers[st.buffers[s.decode.kernels[st.kernel]!.bindings.findIndex((b) => b.name === 'out')]!]!.name);
      expect(out).toEqual([`cache.k.${k}`, `cache.v.${k}`]);
    });
    // The decode step: stage 0 takes the tokens and positions and sends one [2, 1, 128] row per sequence; stage 1 takes it and the positions and makes the logits.
    const [d0, d1] = [pipe.stages[0]!.decode, pipe.stages[1]!.decode];
    const sent = d1.inputs.filter((io) => io.name !== 'positions');
    expect(sent.map((io) => [io.dtype, io.shape])).toEqual([['f32', [2, 1, 128]]]);
    expect(d0.outputs.map((o) => o.name)).toContain(sent[0]!.name);
    expect(d0.inputs.map((io) => io.name).sort()).toEqual(['positions', 'tokens']);
    expect([d0.outputs.some((o) => o.name === 'logits'), d1.outputs.some((o) => o.name === 'logits')]).toEqual([false, true]);
    // The prefill sends the whole prompt's hidden states.
    expect(pipe.stages[1]!.prefill.inputs.map((io) => io.shape)).toEqual([[2, 16, 128]]);
    expect(inferenceParams(p).length).toBe(new Set([...want[0]!, ...want[1]!]).size);
  });

  it('on [pp: 2, tp: 2] each stage splits its layer’s cache by heads over its two devices', async () => {
    const c = await compileInference(source, 'gpt2.model', { preset: 'tiny', maxSeq: M, batch: 2, partition: PP_TP });
    expect(c.diagnostics).toEqual([]);
    const pipe = c.plans!.pipeline!;
    // The mesh is the file's axes then the new one: [dp: 1, tp: 2, pp: 2]; stage 0 is pp = 0, devices 0 and 2.
    expect(pipe.mesh.axes.map((a) => `${a.name}=${a.size}`)).toEqual(['dp=1', 'tp=2', 'pp=2']);
    expect([stageDevices(pipe, 0), stageDevices(pipe, 1)]).toEqual([
      [0, 2],
      [1, 3],
    ]);
    expect(c.plans!.cache.map((e) => [e.stage, e.block])).toEqual([
      [0, [2, 16, 64]],
      [1, [2, 16, 64]],
    ]);
    for (const s of pipe.stages) {
      for (const plan of [s.prefill, s.decode]) {
        expect(plan.mesh?.devices).toBe(2);
        // One layer per stage: the row-parallel wo and w2 end in one all-reduce each.
        expect(plan.steps.filter((x) => x.kind === 'collective').map((x) => x.kind === 'collective' && x.op)).toEqual(['all_reduce', 'all_reduce']);
      }
    }
  });

  it('mdc plan reports each stage’s cache bytes per device', async () => {
    const { main } = await import('../../cli/main.js');
    const out: string[] = [];
    const args = ['plan', 'samples/gpt2.model', '--preset', 'tiny', '--mesh', 'dp=1,tp=1,pp=2', '--json'];
    expect(await main(args, { out: (x) => out.push(x), err: () => undefined })).toBe(0);
    // By hand: one layer per stage × (k and v) × batch 2 × 128 positions (the infer section) × width 128 × 4 bytes.
    const one = 2 * 2 * 128 * 128 * 4;
    expect((JSON.parse(out.join('\n')) as { kvCache: unknown }).kvCache).toEqual({
      bytesPerDevice: one,
      layers: 2,
      batch: 2,
      maxSeq: 128,
      shape: [2, 128, 128],
      block: [2, 128, 128],
      stages: [
        { stage: 0, layers: 1, bytesPerDevice: one },
        { stage: 1, layers: 1, bytesPerDevice: one },
      ],
    });
  });

  it('refuses stages that do not lay evenly on the pipeline axis, and more stages than layers, at the @pipeline', async () => {
    const uneven = await compileInference(source, 'gpt2.model', { preset: 'tiny', maxSeq: M, batch: 1, partition: { axes: [{ name: 'pp', size: 4 }] } });
    expect(uneven.diagnostics.map((d) => formatDiagnostic(d))).toEqual([
      'gpt2.model:69:31: error MDC0135: @pipeline: 2 stages cannot be laid evenly on pp = 4 for decoding: give a multiple of 4 stages (each rank then holds stages/pp)',
    ]);
    const short = await compileInference(source, 'gpt2.model', { preset: 'tiny', maxSeq: M, batch: 1, overrides: { layers: 1 }, partition: PP });
    expect(short.diagnostics.map((d) => formatDiagnostic(d))).toEqual([
      'gpt2.model:69:31: error MDC0135: @pipeline: 2 pipeline stages need at least 2 layers; the stack has 1',
    ]);
    // Without @pipeline the pp axis splits nothing: the caller's mistake, as for any unused axis.
    const flat = source.replace(' @pipeline(stages = 2)', '');
    await expect(compileInference(flat, 'gpt2.model', { preset: 'tiny', maxSeq: M, batch: 1, partition: PP })).rejects.toThrow(
      "mesh axis 'pp' (2 devices) splits nothing",
    );
  });
});

/** The oracle's logits at this file's cache length and seed (test/support/infer.ts). */
const oracleLogits = (c: InferCompiled, seqs: readonly (readonly number[])[], m = M) => oracle(c, seqs, m, SEED);

/** Prefill two sequences of different lengths, then decode the rest of each: every logit row against the oracle's. */
async function decodeAgainstOracle(session: InferenceSession, one: InferCompiled, V: number, seeds: readonly [number, number]): Promise<number> {
  const full = [Array.from(uniformI32(M, 0, V, seeds[0])), Array.from(uniformI32(M, 0, V, seeds[1]))];
  const prompt = [5, 9];
  const want = oracleLogits(one, full);
  let worst = 0;
  const pre = await session.prefill(full.map((s, b) => s.slice(0, prompt[b])));
  for (let b = 0; b < 2; b++) {
    const at = (b * M + prompt[b]! - 1) * V;
    const { diff, scale } = gap(pre.subarray(at, at + V), want, at, V);
    expect(diff, `prefill, sequence ${b}`).toBeLessThanOrEqual(TOL * scale);
    worst = Math.max(worst, diff / scale);
  }
  let checked = 0;
  for (let step = 0; step < M - 9; step++) {
    const pos = Int32Array.from(prompt, (p) => p + step);
    const tokens = Int32Array.from(full.map((s, b) => s[pos[b]!]!));
    const logits = await session.step(tokens, pos);
    for (let b = 0; b < 2; b++) {
      const { diff, scale } = gap(logits.subarray(b * V, (b + 1) * V), want, (b * M + pos[b]!) * V, V);
      expect(scale).toBeGreaterThan(0);
      expect(diff, `sequence ${b} at position ${pos[b]}`).toBeLessThanOrEqual(TOL * scale);
      worst = Math.max(worst, diff / scale);
      checked++;
    }
  }
  expect(checked).toBe(2 * (M - 9));
  return worst;
}

describe.skipIf(status.skip)(status.title('pipeline-parallel KV-cache decoding of the GPT-2 sample (tiny) on WebGPU'), () => {
  it('pp=2 (2 devices): decode logits equal a full forward pass at every position, for two sequences of different lengths', async () => {
    const pp = await compileInference(source, 'gpt2.model', { preset: 'tiny', maxSeq: M, batch: 2, seed: SEED, partition: PP });
    const one = await compileInference(source, 'gpt2.model', { preset: 'tiny', maxSeq: M, batch: 2, seed: SEED });
    const session = await InferenceSession.create(await sharedDevices(2), pp.plans!);
    try {
      // Each device holds one layer's cache: half the one-device cache.
      expect(session.cacheBytes).toBe(2 * 2 * M * 128 * 4);
      const worst = await decodeAgainstOracle(session, one, pp.plans!.vocab, [41, 42]);
      console.log(`pp=2: worst |decode - oracle| / max|oracle| = ${worst.toExponential(2)}`);
    } finally {
      session.destroy();
    }
  });

  it('pp=2 × tp=2 (4 devices): decode logits equal a full forward pass at every position', async () => {
    const pp = await compileInference(source, 'gpt2.model', { preset: 'tiny', maxSeq: M, batch: 2, seed: SEED, partition: PP_TP });
    const one = await compileInference(source, 'gpt2.model', { preset: 'tiny', maxSeq: M, batch: 2, seed: SEED });
    const session = await InferenceSession.create(await sharedDevices(4), pp.plans!);
    try {
      // One layer per stage, half its heads per device.
      expect(session.cacheBytes).toBe((2 * 2 * M * 128 * 4) / 2);
      const worst = await decodeAgainstOracle(session, one, pp.plans!.vocab, [43, 44]);
      console.log(`pp=2 x tp=2: worst |decode - oracle| / max|oracle| = ${worst.toExponential(2)}`);
    } finally {
      session.destroy();
    }
  });

  it('four stages on pp=2 (two per rank, four layers): decode logits equal a full forward pass', async () => {
    const four = source.replace('@pipeline(stages = 2)', '@pipeline(stages = 4)');
    const opts = { preset: 'tiny', maxSeq: M, batch: 2, seed: SEED, overrides: { layers: 4 } };
    const pp = await compileInference(four, 'gpt2.model', { ...opts, partition: PP });
    const one = await compileInference(four, 'gpt2.model', opts);
    expect(pp.plans!.pipeline!.stages.map((s) => s.layers)).toEqual([
      [0, 1],
      [1, 2],
      [2, 3],
      [3, 4],
    ]);
    // Stages 0 and 2 on device 0, 1 and 3 on device 1: two layers' caches each.
    expect(pp.plans!.cache.map((e) => e.stage)).toEqual([0, 1, 2, 3]);
    const session = await InferenceSession.create(await sharedDevices(2), pp.plans!);
    try {
      const worst = await decodeAgainstOracle(session, one, pp.plans!.vocab, [45, 46]);
      console.log(`4 stages on pp=2: worst |decode - oracle| / max|oracle| = ${worst.toExponential(2)}`);
    } finally {
      session.destroy();
    }
  });

  it('pp=2 greedy generate() gives the one-device session’s tokens, which are the reference’s argmax tokens', async () => {
    const pp = await compileInference(source, 'gpt2.model', { preset: 'tiny', maxSeq: M, batch: 1, seed: SEED, partition: PP });
    const one = await compileInference(source, 'gpt2.model', { preset: 'tiny', maxSeq: M, batch: 1, seed: SEED });
    const devices = await sharedDevices(3);
    const piped = await InferenceSession.create(devices.slice(0, 2), pp.plans!);
    const single = await InferenceSession.create(devices[2]!, one.plans!);
    try {
      const prompt = [7, 300, 12];
      const got: number[] = [];
      const want: number[] = [];
      for await (const t of piped.generate(prompt, { maxNewTokens: 8, temperature: 0 })) got.push(t);
      for await (const t of single.generate(prompt, { maxNewTokens: 8, temperature: 0 })) want.push(t);
      expect(got).toHaveLength(8);
      expect(got).toEqual(want);
      expect(got).toEqual(oracleGreedy(one, prompt, 8, M, SEED));
    } finally {
      piped.destroy();
      single.destroy();
    }
  });

  it('mdc generate --mesh pp=2 streams the greedy tokens of repeated full forward passes', async () => {
    const got = await cliGreedyTokens('pp=2');
    // The oracle at the infer section's 128 positions and the CLI's seed 0.
    const one = await compileInference(source, 'gpt2.model', { preset: 'tiny', batch: 1 });
    expect(got).toEqual(oracleGreedy(one, [...Buffer.from('Hi')], 3, 128, 0));
  });

  it('mdc generate --mesh pp=2,tp=2 --weights reads every stage’s weights from the checkpoint', async () => {
    const { main } = await import('../../cli/main.js');
    const { writeCheckpoint } = await import('../../runtime/checkpoint-node.js');
    // A cache of 32 positions (--max-seq) keeps the reference's forward passes short.
    const one = await compileInference(source, 'gpt2.model', { preset: 'tiny', batch: 1, maxSeq: 32 });
    const cache = new Set(one.plans!.cache.flatMap((e) => [e.k, e.v]));
    // Weights from seed 21, not the CLI's seed 0: the tokens can only match if every stage read them.
    const w = drawn(one, 21);
    const names = inferenceParams(one.plans!).filter((b) => !cache.has(b.name));
    const dir = mkdtempSync(join(tmpdir(), 'mdc-pp-'));
    try {
      const file = join(dir, 'weights.safetensors');
      await writeCheckpoint(file, Object.fromEntries(names.map((b) => [b.name, { dtype: 'F32' as const, shape: b.shape, data: w(b.name) }])));
      const out: string[] = [];
      const args = ['generate', 'samples/gpt2.model', '--preset', 'tiny', '--prompt', 'Hi', '--max-new-tokens', '3', '--temperature', '0', '--max-seq', '32'];
      expect(await main([...args, '--mesh', 'pp=2,tp=2', '--weights', file, '--json'], { out: (x) => out.push(x), err: () => undefined })).toBe(0);
      const got = (JSON.parse(out.join('\n')) as { tokens: number[] }).tokens;
      const want = oracleGreedy(one, [...Buffer.from('Hi')], 3, 32, w);
      expect(got).toEqual(want);
      expect(want).not.toEqual(oracleGreedy(one, [...Buffer.from('Hi')], 3, 32, 0));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('pp=2 takes given weights and writeParams replaces a weight on every stage holding it (the tied wte on both)', async () => {
    const pp = await compileInference(source, 'gpt2.model', { preset: 'tiny', maxSeq: M, batch: 1, partition: PP });
    const one = await compileInference(source, 'gpt2.model', { preset: 'tiny', maxSeq: M, batch: 1 });
    // Weights drawn from seed 9 and given whole; then wte and one layer-1 weight redrawn from seed 11 and written.
    const draw = (seed: number) => drawn(one, seed);
    const cache = new Set(pp.plans!.cache.flatMap((e) => [e.k, e.v]));
    const given = new Map(
      inferenceParams(pp.plans!)
        .filter((b) => !cache.has(b.name))
        .map((b) => [b.name, draw(9)(b.name)]),
    );
    const written = new Map(['wte', 'Layer.1.Mlp.w2'].map((n) => [n, draw(11)(n)]));
    const session = await InferenceSession.create(await sharedDevices(2), pp.plans!, { params: given });
    try {
      const V = pp.plans!.vocab;
      const seq = Array.from(uniformI32(M, 0, V, 47));
      const prompt = seq.slice(0, 6);
      for (const weights of [given, new Map([...given, ...written])]) {
        if (weights !== given) session.writeParams(written);
        const want = interpret(one.forward!, { tokens: Int32Array.from(seq) }, (name) => weights.get(name)!)['logits']!.data;
        const pre = await session.prefill([prompt]);
        const at = (prompt.length - 1) * V;
        const { diff, scale } = gap(pre.subarray(at, at + V), want, at, V);
        expect(diff, weights === given ? 'given weights' : 'after writeParams').toBeLessThanOrEqual(TOL * scale);
        const step = await session.step(Int32Array.of(seq[6]!), Int32Array.of(6));
        const next = gap(step, want, 6 * V, V);
        expect(next.diff).toBeLessThanOrEqual(TOL * next.scale);
      }
      // The two draws differ where it matters: the written weights move the logits far beyond the tolerance.
      const before = interpret(one.forward!, { tokens: Int32Array.from(seq) }, (name) => given.get(name)!)['logits']!.data;
      const after = interpret(one.forward!, { tokens: Int32Array.from(seq) }, (name) => written.get(name) ?? given.get(name)!)['logits']!.data;
      const moved = gap(after, before, 5 * V, V);
      expect(moved.diff).toBeGreaterThan(100 * TOL * moved.scale);
      expect(() => session.writeParams(new Map([['cache.k.1', new Float32Array(1)]]))).toThrow("cannot write 'cache.k.1'");
    } finally {
      session.destroy();
    }
  });

  it('refuses a device count other than the whole mesh’s', async () => {
    const pp = await compileInference(source, 'gpt2.model', { preset: 'tiny', maxSeq: M, batch: 1, partition: PP });
    await expect(InferenceSession.create(await sharedDevices(1), pp.plans!)).rejects.toThrow(
      'the inference plans are partitioned over 2 devices (dp=1,tp=1,pp=2), but 1 were given',
    );
  });
});
