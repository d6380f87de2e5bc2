import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readCheckpoint, writeCheckpoint } from '../../runtime/checkpoint-node.js';
import { firstNonFinite } from '../../runtime/train.js';
import { mdc, TRAIN_GPT2_TINY } from '../support/cli.js';
import { gpuStatus } from '../support/gpu.js';

/**
 * `mdc train` against a careless or hostile user (issue 19): --resume of things that are
 * not checkpoint files, checkpoints whose metadata or shapes do not fit the model, a
 * damaged losses.json, a resume with nothing left to train, a run that diverges (the last
 * good checkpoint keeps its bytes), and models whose token input dims are not `where B =
 * …, S = …`.
 */
const dir = mkdtempSync(join(tmpdir(), 'mdc-hostile-train-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const sha = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');
const HELP = "Run 'mdc train --help' for usage.";

describe('--resume of something that is not a checkpoint file', () => {
  const out = join(dir, 'shaped');
  mkdirSync(out);
  writeFileSync(join(out, 'checkpoint.safetensors'), '');
  const fifo = join(dir, 'fifo');
  execFileSync('mkfifo', [fifo]);

  it('a folder, a FIFO or a device is refused before anything is read, naming the flag and the path', async () => {
    expect(await mdc(...TRAIN_GPT2_TINY, '--resume', out)).toEqual({
      code: 2,
      out: '',
      err: `mdc: --resume '${out}' is a folder, not a file (did you mean '${out}/checkpoint.safetensors'?)\n${HELP}`,
    });
    expect(await mdc(...TRAIN_GPT2_TINY, '--resume', dir)).toEqual({ code: 2, out: '', err: `mdc: --resume '${dir}' is a folder, not a file\n${HELP}` });
    for (const path of [fifo, '/dev/zero'])
      expect(await mdc(...TRAIN_GPT2_TINY, '--resume', path)).toEqual({
        code: 2,
        out: '',
        err: `mdc: --resume '${path}' is not a regular file (a device, a pipe or a socket), which mdc does not read\n${HELP}`,
      });
    expect((await mdc(...TRAIN_GPT2_TINY, '--resume', '')).err).toBe(`mdc: cannot read --resume '': no such file\n${HELP}`);
  });

  it('readCheckpoint refuses them too (it would wait forever on the pipe)', async () => {
    await expect(readCheckpoint(out)).rejects.toThrow(`${out}: a folder, not a checkpoint file`);
    await expect(readCheckpoint(fifo)).rejects.toThrow(`${fifo}: not a regular file (a device, a pipe or a socket)`);
  });
});

describe('firstNonFinite', () => {
  it('finds the first NaN or ±Inf in order, and nothing in finite values up to the largest f32', () => {
    const big = 3.4028234663852886e38;
    expect(firstNonFinite([['a', Float32Array.of(big, -big, 0)]])).toBeUndefined();
    expect(
      firstNonFinite([
        ['a', Float32Array.of(1, 2)],
        ['b', Float32Array.of(0, -Infinity, NaN)],
        ['c', Float32Array.of(NaN)],
      ]),
    ).toEqual({
      name: 'b',
      index: 1,
      value: -Infinity,
    });
    expect(firstNonFinite([['c', Float32Array.of(5, NaN)]])).toEqual({ name: 'c', index: 1, value: NaN });
  });
});

const status = await gpuStatus();
const base = [...TRAIN_GPT2_TINY, '--batch', '2', '--seq', '16', '--microbatches', '1', '--lr', '3e-3'];

describe.skipIf(status.skip)(status.title('mdc train --resume checks the checkpoint against the run'), () => {
  const good = join(dir, 'good');
  const ck = join(good, 'checkpoint.safetensors');
  /** A copy of the good run's folder whose checkpoint is rewritten (a valid file, checksum and all) by `edit`. */
  const variant = async (name: string, edit: (c: Awaited<ReturnType<typeof readCheckpoint>>) => void) => {
    const to = join(dir, name);
    cpSync(good, to, { recursive: true });
    const c = await readCheckpoint(ck);
    edit(c);
    await writeCheckpoint(join(to, 'checkpoint.safetensors'), c.tensors, c.metadata);
    return join(to, 'checkpoint.safetensors');
  };

  it('a 2-step run to resume from', async () => {
    const r = await mdc(...base, '--steps', '2', '--out', good);
    expect(r.code, r.err).toBe(0);
    expect((await readCheckpoint(ck)).metadata['step']).toBe('2');
  });

  it('a resume with nothing left to train says so', async () => {
    expect(await mdc(...base, '--steps', '2', '--out', good, '--resume', ck)).toEqual({
      code: 2,
      out: '',
      err: `mdc: --resume '${ck}' is at step 2, and the run has 2 steps: nothing is left to train (raise --steps)\n${HELP}`,
    });
  });

  it('a step that is not a step number, a transposed tensor of the right size, a tensor the model lacks: each named', async () => {
    const refused = async (path: string) => {
      const r = await mdc(...base, '--steps', '4', '--out', join(dir, 'unused'), '--resume', path);
      expect(r.code).toBe(1);
      return r.err;
    };
    const step = await variant('step', (c) => (c.metadata['step'] = '2.5'));
    expect(await refused(step)).toBe(`mdc: error: cannot resume from '${step}': its step "2.5" is not a step number`);
    const transposed = await variant('transposed', (c) => {
      const t = c.tensors['wte']!;
      c.tensors['wte'] = { ...t, shape: [...t.shape].reverse() };
    });
    expect(await refused(transposed)).toBe(`mdc: error: cannot resume from '${transposed}': tensor 'wte' is F32[128, 256], the model's is f32[256, 128]`);
    const extra = await variant('extra', (c) => (c.tensors['Block.9.w'] = { dtype: 'F32', shape: [1], data: new Float32Array(1) }));
    expect(await refused(extra)).toBe(`mdc: error: cannot resume from '${extra}': it has tensors the model does not: Block.9.w`);
    const missing = await variant('missing', (c) => delete c.tensors['wpe']);
    expect(await refused(missing)).toBe(`mdc: error: cannot resume from '${missing}': it has no tensor 'wpe' (the model's f32[128, 128])`);
  });

  it('a damaged losses.json is named with what is wrong, and nothing is written', async () => {
    const out = join(dir, 'log');
    cpSync(good, out, { recursive: true });
    const log = join(out, 'losses.json');
    const path = join(out, 'checkpoint.safetensors');
    const before = sha(path);
    const cases: [string, string][] = [
      ['{"step": 1', `not JSON: `],
      ['{"step": 1, "loss": 5}', 'not a list of steps'],
      ['[{"step": 1, "loss": 5.5}, {"step": "2", "loss": 5}]', `entry 1 is not a step with a whole 'step' and a number 'loss': {"step":"2","loss":5}`],
      ['[null]', "entry 0 is not a step with a whole 'step' and a number 'loss': null"],
    ];
    for (const [text, why] of cases) {
      writeFileSync(log, text);
      const r = await mdc(...base, '--steps', '4', '--out', out, '--resume', path);
      expect(r.code, text).toBe(1);
      expect(r.err, text).toContain(`mdc: error: cannot resume: '${log}' is damaged (${why}`);
      expect(r.err, text).toMatch(/\); move it away to resume without the earlier losses$/);
      expect(readFileSync(log, 'utf8')).toBe(text);
    }
    expect(sha(path)).toBe(before);
  });
});

describe.skipIf(status.skip)(status.title('a diverging run never replaces the last good checkpoint'), () => {
  const good = join(dir, 'diverge');
  const ck = join(good, 'checkpoint.safetensors');

  it('an update that makes a parameter infinite is not saved: the step-2 checkpoint keeps its sha256', async () => {
    expect((await mdc(...base, '--steps', '2', '--out', good)).code).toBe(0);
    const before = sha(ck);
    const losses = readFileSync(join(good, 'losses.json'));
    // 1e39 is Infinity in f32, the plan's lr input: step 3's loss is computed before the update and is finite.
    const r = await mdc(...base, '--steps', '6', '--checkpoint-every', '1', '--lr', '1e39', '--warmup', '0', '--out', good, '--resume', ck);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(
      new RegExp(
        `^mdc: error: step 3's update made parameter '\\w+' (NaN|-?Infinity) at \\[\\d+, \\d+\\]; it was not saved: ${ck} keeps step 2; lower --lr \\(now 1e\\+39\\)$`,
        'm',
      ),
    );
    expect(sha(ck)).toBe(before);
    expect(readFileSync(join(good, 'losses.json')).equals(losses)).toBe(true);
    expect((await readCheckpoint(ck)).metadata['step']).toBe('2');
  });

  it('a loss that turns NaN stops the run at that step, naming the parameter; the checkpoint keeps its bytes', async () => {
    const before = sha(ck);
    // 3e38 is finite in f32: the weights of step 3 overflow the forward pass of step 4.
    const r = await mdc(...base, '--steps', '6', '--checkpoint-every', '2', '--lr', '3e38', '--warmup', '0', '--out', good, '--resume', ck);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(
      new RegExp(
        `^mdc: error: the loss became NaN at step 4 and the update made parameter '\\w+' (NaN|-?Infinity) at \\[\\d+, \\d+\\]; ` +
          `${ck} keeps step 2; lower --lr \\(now 3e\\+38\\)$`,
        'm',
      ),
    );
    expect(sha(ck)).toBe(before);
  });
});

describe.skipIf(status.skip)(status.title('mdc train sets the token input dims from --batch and --seq'), () => {
  const sample = readFileSync('samples/gpt2.model', 'utf8');
  const header = 'model GPT2(tokens: i32[B@dp, S]) -> f32[B@dp, S, vocab] where B = 2, S = 64 {';
  expect(sample).toContain(header);
  /** The sample with another model line, and `seq` for its sequence length in the position embedding. */
  const variant = (name: string, line: string, seq = 'S') => {
    const path = join(dir, `${name}.model`);
    writeFileSync(path, sample.replace(header, line).replace('slice(wpe, 0, 0, S)', `slice(wpe, 0, 0, ${seq})`));
    return ['train', path, ...base.slice(2)];
  };
  const trains = async (args: string[], rows: string) => {
    const r = await mdc(...args, '--steps', '1', '--out', join(dir, 'dims-out'));
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain(`1 steps of ${rows} bytes`);
  };

  it('without a where clause, and with dims named N and T', async () => {
    await trains(variant('nowhere', 'model GPT2(tokens: i32[B@dp, S]) -> f32[B@dp, S, vocab] {'), '2×16');
    const named = variant('named', 'model GPT2(tokens: i32[N, T]) -> f32[N, T, vocab] where N = 8, T = 64 {', 'T');
    await trains([...named, '--batch', '4'], '4×16');
  });

  it('fixed dims that disagree with the flags, and a micro-batch the mesh cannot split, are usage errors', async () => {
    const fixed = variant('fixed', 'model GPT2(tokens: i32[2, 16]) -> f32[2, 16, vocab] {', '16');
    expect(await mdc(...fixed, '--batch', '4')).toEqual({
      code: 2,
      out: '',
      err:
        "mdc: --batch 4 and --seq 16 need GPT2's token input 'tokens' to be [4, 16], but it is i32[2, 16] = [2, 16]: " +
        `name its dims (i32[B, S]) for the flags to set them, or pass --batch 2 --seq 16\n${HELP}`,
    });
    const split = variant('split', header);
    expect(await mdc(...split, '--microbatches', '2')).toEqual({
      code: 2,
      out: '',
      err:
        "mdc: --batch 2 in 2 micro-batches and --seq 16 give 1 row per micro-batch, but GPT2's token input splits its batch dim over dp (2 devices): " +
        `choose a batch of rows divisible by 2\n${HELP}`,
    });
  });
});
