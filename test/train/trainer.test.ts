import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readCheckpoint } from '../../runtime/checkpoint-node.js';
import { MDC_PROCESS } from '../support/cli.js';
import { gpuStatus } from '../support/gpu.js';
import { mulberry32 } from '../support/random.js';

/**
 * `mdc train` on dataset files through the runtime's Trainer, on WebGPU, with a tiny
 * classifier (samples/table-classifier.model: 2 features, 32 hidden, 2 classes):
 * - a CSV of XOR-labelled points trains from the command line alone, and the trained
 *   weights, evaluated here on the host, classify the points;
 * - gradient accumulation over 4 micro-batches of 2 equals one batch of 8;
 * - a run killed with SIGKILL after a checkpoint and resumed gives the losses and the
 *   validation metrics of an uninterrupted run, bit for bit;
 * - bad data stops the run before training with the file and line, and leaves what an
 *   earlier run wrote as it was.
 */
const status = await gpuStatus();
const dir = mkdtempSync(join(tmpdir(), 'mdc-trainer-'));
const MODEL = 'samples/table-classifier.model';
const COLUMNS = ['--column', 'x=f0,f1', '--column', 'labels=label'];

/** Points in [-1, 1]² labelled by the sign of x·y (XOR of the signs): no line separates the classes. */
function xorRows(n: number, seed: number): { f0: number; f1: number; label: number }[] {
  const rand = mulberry32(seed);
  return Array.from({ length: n }, () => {
    const [f0, f1] = [rand() * 2 - 1, rand() * 2 - 1];
    return { f0, f1, label: f0 * f1 > 0 ? 1 : 0 };
  });
}
const rows = xorRows(300, 3);
const csv = join(dir, 'xor.csv');
writeFileSync(csv, ['f0,f1,label', ...rows.map((r) => `${r.f0.toFixed(5)},${r.f1.toFixed(5)},${r.label}`)].join('\n') + '\n');

const mdc = (...args: string[]) => spawnSync(process.execPath, [...MDC_PROCESS, 'train', ...args], { encoding: 'utf8', timeout: 300_000 });
interface Out {
  losses: number[];
  evals: { epoch: number; step: number; loss: number; accuracy: number; f1: number }[];
}
const json = (stdout: string) => JSON.parse(stdout.slice(stdout.indexOf('{'))) as Out;

describe.skipIf(status.skip)(status.title('mdc train on a dataset'), () => {
  it('trains a CSV classifier from the command line: the weights it writes classify XOR points', async () => {
    const out = join(dir, 'csv');
    const r = mdc(
      MODEL,
      '--data',
      csv,
      ...COLUMNS,
      '--epochs',
      '25',
      '--validation',
      '0.2',
      '--seed',
      '1',
      '--out',
      out,
      '--report',
      join(dir, 'r.html'),
      '--json',
    );
    expect(r.status, r.stderr + r.stdout).toBe(0);
    const o = json(r.stdout);
    expect(o.evals).toHaveLength(25);
    expect(o.evals.at(-1)!.accuracy).toBeGreaterThanOrEqual(0.85);
    // The oracle: the network evaluated here in float64 from the checkpoint, on every point.
    const ck = await readCheckpoint(join(out, 'checkpoint.safetensors'));
    const t = (k: string) => ck.tensors[k]!.data as Float32Array;
    const [w1, b1, w2, b2] = [t('w1'), t('b1'), t('w2'), t('b2')];
    let right = 0;
    for (const p of rows) {
      const h = Array.from({ length: 32 }, (_, j) => Math.tanh(p.f0 * w1[j]! + p.f1 * w1[32 + j]! + b1[j]!));
      const logit = (c: number) => h.reduce((s, v, j) => s + v * w2[j * 2 + c]!, b2[c]!);
      if ((logit(1) > logit(0) ? 1 : 0) === p.label) right++;
    }
    expect(right / rows.length).toBeGreaterThanOrEqual(0.9);
    const html = readFileSync(join(dir, 'r.html'), 'utf8');
    expect(html).toMatch(/<svg [\s\S]*validation loss[\s\S]*<svg [\s\S]*accuracy/);
  });

  it('accumulating 4 micro-batches of 2 gives the step of one batch of 8 (SGD, 3 steps)', async () => {
    const model = join(dir, 'sgd.model');
    writeFileSync(
      model,
      readFileSync(MODEL, 'utf8')
        .replace(/optimizer = .*/, 'optimizer = sgd(lr = 0.5, momentum = 0.9)')
        .replace(/metrics = .*/, ''),
    );
    const run = (name: string, ...flags: string[]) => {
      const r = mdc(model, '--data', csv, ...COLUMNS, '--steps', '3', '--seed', '2', '--out', join(dir, name), '--json', ...flags);
      expect(r.status, r.stderr + r.stdout).toBe(0);
      return json(r.stdout).losses;
    };
    const big = run('big', '--batch', '8');
    const acc = run('acc', '--batch', '2', '--accumulate', '4');
    // f32 sums over 8 rows in a different grouping (4 means of 2, then their mean): a few ulps on
    // O(1) values, which 3 steps of lr 0.5 carry to ~1e-6; a wrong scale (a sum instead of a mean) is off by O(1e-1).
    const TOL = 1e-5;
    big.forEach((l, i) => expect(Math.abs(l - acc[i]!)).toBeLessThanOrEqual(TOL));
    const a = await readCheckpoint(join(dir, 'big', 'checkpoint.safetensors'));
    const b = await readCheckpoint(join(dir, 'acc', 'checkpoint.safetensors'));
    for (const k of ['w1', 'b1', 'w2', 'b2']) {
      const x = a.tensors[k]!.data as Float32Array;
      const y = b.tensors[k]!.data as Float32Array;
      x.forEach((v, i) => expect(Math.abs(v - y[i]!), `${k}[${i}]`).toBeLessThanOrEqual(TOL * Math.max(1, Math.abs(v))));
    }
    // The runs trained: their losses fell.
    expect(big.at(-1)!).toBeLessThan(big[0]!);
  });

  it('a run killed after a checkpoint and resumed gives the losses and metrics of an uninterrupted run, bit for bit', async () => {
    const flags = [MODEL, '--data', csv, ...COLUMNS, '--epochs', '4', '--batch', '16', '--checkpoint-every', '5', '--seed', '4'];
    const full = mdc(...flags, '--out', join(dir, 'full'), '--json');
    expect(full.status, full.stderr).toBe(0);
    const out = join(dir, 'killed');
    await new Promise<void>((resolve, reject) => {
      const child = spawn(process.execPath, [...MDC_PROCESS, 'train', ...flags, '--out', out], { stdio: ['ignore', 'pipe', 'ignore'] });
      let text = '';
      child.stdout.on('data', (b: Buffer) => {
        text += b.toString();
        // Past the checkpoint of step 10 and well before the last of 64 steps.
        if (/step (1[2-9]|2\d)\/64/.test(text)) child.kill('SIGKILL');
      });
      child.on('exit', (code, signal) => (signal === 'SIGKILL' ? resolve() : reject(new Error(`exited ${code} before it could be killed:\n${text}`))));
    });
    const ck = await readCheckpoint(join(out, 'checkpoint.safetensors'));
    const at = Number(ck.metadata['step']);
    expect(at).toBeGreaterThanOrEqual(10);
    expect(at).toBeLessThan(64);
    const resumed = mdc(...flags, '--out', out, '--resume', join(out, 'checkpoint.safetensors'), '--json');
    expect(resumed.status, resumed.stderr).toBe(0);
    const a = json(full.stdout);
    const b = json(resumed.stdout);
    expect(a.losses).toHaveLength(64);
    expect(b.losses).toEqual(a.losses);
    expect(b.evals).toHaveLength(4);
    expect(b.evals).toEqual(a.evals);
    // A checkpoint of another run (here another seed, so another data order) is refused, not continued.
    const other = mdc(...flags.slice(0, -1), '9', '--out', out, '--resume', join(out, 'checkpoint.safetensors'));
    expect(other.status).toBe(1);
    expect(other.stderr).toContain(`cannot resume from '${join(out, 'checkpoint.safetensors')}': it was written with seed = 4, this run has 9`);
  });

  it('fine-tunes from a checkpoint with --init: it starts where the first run ended, and freeze keeps the frozen layer as it was', async () => {
    const pre = mdc(MODEL, '--data', csv, ...COLUMNS, '--epochs', '15', '--seed', '5', '--out', join(dir, 'pre'), '--json');
    expect(pre.status, pre.stderr).toBe(0);
    const model = join(dir, 'frozen.model');
    writeFileSync(model, readFileSync(MODEL, 'utf8').replace('  batch = 16\n', '  batch = 16\n  freeze = ["w1", "b1"]\n'));
    const init = join(dir, 'pre', 'checkpoint.safetensors');
    const ft = mdc(model, '--data', csv, ...COLUMNS, '--epochs', '1', '--seed', '6', '--init', init, '--out', join(dir, 'ft'));
    expect(ft.status, ft.stderr).toBe(0);
    expect(ft.stdout).toContain(`starting from ${init}`);
    expect(ft.stdout).toMatch(/fine-tuning: 66 of 162 parameters train/);
    const first = Number(/step 1\/\d+ {2}loss (\S+)/.exec(ft.stdout)![1]);
    const preLosses = json(pre.stdout).losses;
    // A fresh network starts near ln 2 = 0.693; the fine-tuned one at the trained network's loss.
    expect(preLosses[0]!).toBeGreaterThan(0.6);
    expect(first).toBeLessThan(preLosses.slice(-15).reduce((a, b) => a + b, 0) / 15 + 0.1);
    const a = await readCheckpoint(init);
    const b = await readCheckpoint(join(dir, 'ft', 'checkpoint.safetensors'));
    for (const k of ['w1', 'b1']) expect(Array.from(b.tensors[k]!.data as Float32Array), k).toEqual(Array.from(a.tensors[k]!.data as Float32Array));
    expect(Array.from(b.tensors['w2']!.data as Float32Array)).not.toEqual(Array.from(a.tensors['w2']!.data as Float32Array));
  });

  it('--stream reads the CSV as it trains: a run resumed mid-epoch continues with the losses of an uninterrupted one', () => {
    const flags = [MODEL, '--data', csv, ...COLUMNS, '--stream', '--schedule', 'constant', '--seed', '8', '--json'];
    const whole = mdc(...flags, '--steps', '40', '--out', join(dir, 's-whole'));
    expect(whole.status, whole.stderr).toBe(0);
    const half = mdc(...flags, '--steps', '20', '--out', join(dir, 's-half'));
    expect(half.status, half.stderr).toBe(0);
    // Step 21 is in the second epoch (about 270 training rows by the hash split, 16 a step): the stream skips to it.
    const rest = mdc(...flags, '--steps', '40', '--out', join(dir, 's-half'), '--resume', join(dir, 's-half', 'checkpoint.safetensors'));
    expect(rest.status, rest.stderr).toBe(0);
    const a = json(whole.stdout);
    const b = json(rest.stdout);
    expect(a.losses).toHaveLength(40);
    expect(b.losses).toEqual(a.losses);
    // The 20-step run also evaluated at its last step, 20, which the 40-step run does not: the others agree.
    expect(b.evals.filter((e) => e.step !== 20)).toEqual(a.evals);
    expect(a.losses.slice(-5).reduce((x, y) => x + y, 0) / 5).toBeLessThan(a.losses[0]!);
  });

  it('trains two encoders with loss = contrastive(a, b) from JSONL pairs and no labels', () => {
    const model = join(dir, 'pair.model');
    writeFileSync(
      model,
      `model Pair(x: f32[B, 4], y: f32[B, 4]) -> (f32[B, 8], f32[B, 8]) where B = 8 {
  param u: f32[4, 8] = normal(0, 0.5)
  param v: f32[4, 8] = normal(0, 0.5)
  let a = x @ u
  let b = y @ v
  return a, b
}
train Pair {
  loss = contrastive(a, b)
  optimizer = adamw(lr = 0.05, weight_decay = 0)
}
`,
    );
    // y is x permuted, one coordinate negated, plus a little noise: a linear map of each side can line the pairs up.
    const rand = mulberry32(12);
    const g = () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
    const lines = Array.from({ length: 256 }, () => {
      const x = [g(), g(), g(), g()];
      return JSON.stringify({ x, y: [x[3]! + 0.1 * g(), -x[0]! + 0.1 * g(), x[1]! + 0.1 * g(), x[2]! + 0.1 * g()] });
    });
    const data = join(dir, 'pairs.jsonl');
    writeFileSync(data, lines.join('\n') + '\n');
    const r = mdc(model, '--data', data, '--epochs', '5', '--seed', '3', '--out', join(dir, 'pair'), '--json');
    expect(r.status, r.stderr).toBe(0);
    const l = json(r.stdout).losses;
    // 256 pairs, 32 a step (--batch's default sets B): 8 steps an epoch.
    expect(l).toHaveLength(40);
    // Chance for 32 pairs is ln 32 ≈ 3.47 once the similarities are small; matched pairs drive it well under.
    expect(l.slice(-10).reduce((a, b) => a + b, 0) / 10).toBeLessThan(1);
  });

  describe('bad data', () => {
    const write = (name: string, text: string) => {
      const p = join(dir, name);
      writeFileSync(p, text);
      return p;
    };
    const fails = (data: string, ...extra: string[]) => {
      const r = mdc(MODEL, '--data', data, '--out', join(dir, 'full'), ...extra);
      expect(r.status).toBe(1);
      return r.stderr.trim();
    };
    const ck = () => readFileSync(join(dir, 'full', 'checkpoint.safetensors'));

    it('names the file and line, and leaves the earlier run in --out as it was', () => {
      const before = ck();
      const ragged = write('ragged.csv', 'f0,f1,label\n0.1,0.2,1\n0.3,0.4\n');
      expect(fails(ragged, ...COLUMNS)).toBe(`mdc: error: ${ragged}:3: ragged row: 2 fields, the header has 3`);
      // Streamed, the file is checked by a first pass before training, with the same message.
      expect(fails(ragged, ...COLUMNS, '--stream')).toBe(`mdc: error: ${ragged}:3: ragged row: 2 fields, the header has 3`);
      const nan = write('nan.csv', 'f0,f1,label\n0.1,0.2,1\n0.3,0.4,NaN\n');
      expect(fails(nan, ...COLUMNS)).toBe(`mdc: error: ${nan}:3: label in column 'label' is NaN`);
      const range = write('range.csv', 'f0,f1,label\n0.1,0.2,1\n0.3,0.4,2\n');
      expect(fails(range, ...COLUMNS)).toBe(`mdc: error: ${range}:3: label 2 in column 'label' is out of range for 2 classes (0..1)`);
      const missing = write('missing.csv', 'f0,f1,y\n0.1,0.2,1\n');
      expect(fails(missing, ...COLUMNS)).toBe(`mdc: error: ${missing}:2: missing column 'label' (for input 'labels'); the row has f0, f1, y`);
      const jsonl = write('bad.jsonl', '{"x": [0.1, 0.2], "labels": 1}\n{"x": [0.1, 0.2], "labels": 1\n');
      expect(fails(jsonl)).toMatch(new RegExp(`^mdc: error: ${jsonl}:2: malformed JSONL line`));
      const shape = write('shape.jsonl', '{"x": [0.1, 0.2, 0.3], "labels": 1}\n');
      expect(fails(shape)).toBe(`mdc: error: ${shape}:1: column 'x' has shape [3]; input 'x' expects f32[2]`);
      const empty = write('empty.csv', '');
      expect(fails(empty, ...COLUMNS)).toBe(`mdc: error: ${empty}: the file is empty (no rows)`);
      expect(ck().equals(before)).toBe(true);
    });

    it('refuses a column mapping for an input the model does not have, and text-only flags', () => {
      const r = mdc(MODEL, '--data', csv, '--column', 'pixels=f0', '--out', join(dir, 'x'));
      expect(r.status).toBe(2);
      expect(r.stderr).toContain("--column pixels=…: TableClassifier has no input 'pixels' (it takes x, labels)");
      const s = mdc(MODEL, '--data', csv, '--seq', '8');
      expect(s.status).toBe(2);
      expect(s.stderr).toContain('--seq applies to byte-level text training, not to a dataset file');
      const e = mdc(MODEL, '--data', csv, ...COLUMNS, '--early-stop', 'perplexity:2');
      expect(e.status).toBe(2);
      expect(e.stderr).toContain("--early-stop perplexity: the run does not compute perplexity; add it to --metrics or the train section's metrics");
    });
  });
});
