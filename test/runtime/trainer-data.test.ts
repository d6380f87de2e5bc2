import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { loadArrays } from '../../runtime/dataset-arrays.js';
import { parseIdx, type DatasetSpec } from '../../runtime/datasets.js';
import { ArrayDataset, learningRate, Trainer, type StepRunner } from '../../runtime/trainer.js';

/**
 * The Trainer's data side without a GPU: IDX files written here (gzipped and not), loaded
 * into arrays with their checks; the learning-rate schedules at hand-computed points; each
 * epoch's rows a permutation of the training set, the same for the same seed.
 */

const dir = mkdtempSync(join(tmpdir(), 'mdc-trainer-data-'));

/** An IDX file: type byte, dims (big-endian u32), values big-endian. */
function idx(type: number, shape: number[], values: number[]): Uint8Array {
  const width = type === 0x08 ? 1 : 4;
  const b = new Uint8Array(4 + 4 * shape.length + values.length * width);
  const v = new DataView(b.buffer);
  b[2] = type;
  b[3] = shape.length;
  shape.forEach((d, i) => v.setUint32(4 + 4 * i, d));
  const at = 4 + 4 * shape.length;
  values.forEach((x, i) => (type === 0x08 ? v.setUint8(at + i, x) : type === 0x0c ? v.setInt32(at + 4 * i, x) : v.setFloat32(at + 4 * i, x)));
  return b;
}

const spec: DatasetSpec = {
  inputs: [
    { name: 'x', dtype: 'f32', shape: [2, 4] },
    { name: 'labels', dtype: 'i32', shape: [2] },
  ],
  columns: { x: 'x', labels: 'labels' },
  labels: ['labels'],
  classes: { labels: 3 },
};

describe('IDX files', () => {
  it('parses big-endian i32 and f32 arrays with their shape', () => {
    expect(parseIdx(idx(0x0c, [3], [1, -2, 70000]), 'a.idx')).toEqual({ data: Int32Array.of(1, -2, 70000), shape: [3] });
    expect(parseIdx(idx(0x0d, [1, 2], [0.5, -3]), 'b.idx')).toEqual({ data: Float32Array.of(0.5, -3), shape: [1, 2] });
  });

  it('loads gzipped byte images as f32 in [0, 1] and labels as i32, a row per example', async () => {
    const images = join(dir, 'img-idx3-ubyte.gz');
    const labels = join(dir, 'lab-idx1-ubyte');
    writeFileSync(images, gzipSync(idx(0x08, [3, 2, 2], [0, 255, 51, 102, 1, 2, 3, 4, 255, 255, 0, 0])));
    writeFileSync(labels, idx(0x08, [3], [2, 0, 1]));
    const d = await loadArrays(images, spec, { labels });
    expect(d.length).toBe(3);
    expect(Array.from(d.columns['x']!)).toEqual([0, 1, 0.2, 0.4, 1 / 255, 2 / 255, 3 / 255, 4 / 255, 1, 1, 0, 0].map((v) => Math.fround(v)));
    expect(Array.from(d.columns['labels']!)).toEqual([2, 0, 1]);
    expect(d.columns['labels']).toBeInstanceOf(Int32Array);
  });

  it('refuses a label out of range, a row count that differs, a cut file and an empty one, naming the file', async () => {
    const images = join(dir, 'i-idx3-ubyte');
    writeFileSync(images, idx(0x08, [2, 4], [1, 2, 3, 4, 5, 6, 7, 8]));
    const bad = join(dir, 'bad-idx1-ubyte');
    writeFileSync(bad, idx(0x08, [2], [1, 3]));
    await expect(loadArrays(images, spec, { labels: bad })).rejects.toThrow(`${bad} row 1: label 3 is out of range for 3 classes (0..2)`);
    const short = join(dir, 'short-idx1-ubyte');
    writeFileSync(short, idx(0x08, [1], [1]));
    await expect(loadArrays(images, spec, { labels: short })).rejects.toThrow(`${short}: 1 labels for the 2 rows of ${images}`);
    const cut = join(dir, 'cut-idx3-ubyte');
    writeFileSync(cut, idx(0x08, [2, 4], [1, 2, 3, 4, 5, 6, 7, 8]).subarray(0, 17));
    await expect(loadArrays(cut, spec, { labels: bad })).rejects.toThrow(`${cut}: an IDX array of shape [2, 4] needs 20 bytes, the file has 17`);
    const empty = join(dir, 'empty-idx3-ubyte');
    writeFileSync(empty, new Uint8Array(0));
    await expect(loadArrays(empty, spec, { labels: bad })).rejects.toThrow(`${empty}: the file is empty`);
    await expect(loadArrays(images, spec)).rejects.toThrow("input 'labels' needs a labels file");
  });

  it("refuses rows whose size is not the input's", async () => {
    const images = join(dir, 'wide-idx3-ubyte');
    writeFileSync(images, idx(0x08, [1, 5], [1, 2, 3, 4, 5]));
    const labels = join(dir, 'one-idx1-ubyte');
    writeFileSync(labels, idx(0x08, [1], [0]));
    await expect(loadArrays(images, spec, { labels })).rejects.toThrow("rows of shape [5] (5 values); input 'x' expects f32[4] (4)");
  });
});

describe('learning-rate schedules', () => {
  it('warm up linearly, then hold (constant), fall linearly to 0 or follow a cosine to a tenth', () => {
    const w = { warmup: 10 };
    expect(learningRate(5, 1, 110, { kind: 'constant', ...w })).toBeCloseTo(0.5, 12);
    expect(learningRate(60, 1, 110, { kind: 'constant', ...w })).toBe(1);
    expect(learningRate(60, 1, 110, { kind: 'linear', ...w })).toBeCloseTo(0.5, 12);
    expect(learningRate(110, 1, 110, { kind: 'linear', ...w })).toBe(0);
    // Halfway through the cosine: 0.1 + 0.9 · (1 + cos(π/2)) / 2 = 0.55.
    expect(learningRate(60, 1, 110, { kind: 'cosine', ...w })).toBeCloseTo(0.55, 12);
    expect(learningRate(110, 1, 110, { kind: 'cosine', ...w })).toBeCloseTo(0.1, 12);
  });
});

describe('Trainer data order', () => {
  const runner: StepRunner = { run: () => Promise.reject(new Error('not run')), readParams: () => Promise.resolve(new Map()) };
  const data = new ArrayDataset({ x: Float32Array.from({ length: 22 }, (_, i) => i) }, 22);
  const make = (seed: number) =>
    new Trainer({
      model: runner,
      train: data,
      batchSize: 2,
      accumulate: 2,
      epochs: 3,
      seed,
      optimizer: { lr: 1 },
      task: { loss: 'mse', output: 'y', labels: 'y' },
    });

  it('each epoch visits every row at most once, whole steps only, in an order drawn from the seed and epoch', () => {
    const t = make(5);
    expect(t.stepsPerEpoch).toBe(5);
    expect(t.totalSteps).toBe(15);
    const epoch = (e: number) => Array.from({ length: 5 }, (_, k) => Array.from(t.rowsOf(e * 5 + k + 1))).flat();
    for (const e of [0, 1, 2]) {
      const rows = epoch(e);
      expect(rows).toHaveLength(20);
      expect(new Set(rows).size).toBe(20);
      expect(rows.every((r) => r >= 0 && r < 22)).toBe(true);
    }
    expect(epoch(1)).not.toEqual(epoch(0));
    // A resumed run asks for step 8 first: the same rows as one that got there step by step.
    expect(Array.from(make(5).rowsOf(8))).toEqual(epoch(1).slice(8, 12));
    expect(Array.from(make(6).rowsOf(1))).not.toEqual(epoch(0).slice(0, 4));
  });

  it('gathers rows in order, padding a short batch with its last row', () => {
    expect(Array.from(data.gather([3, 1], 3)['x']!)).toEqual([3, 1, 1]);
  });
});

describe('Trainer loop with stand-in runners', () => {
  /** A training runner whose loss is the step's first x value, and a forward runner whose logits never change: evaluations never improve. */
  const make = (patience: number, checkpointEvery: number) => {
    const calls: string[] = [];
    const data = new ArrayDataset({ x: Float32Array.from({ length: 8 }, (_, i) => i), labels: Int32Array.from({ length: 8 }, (_, i) => i % 2) }, 8);
    const model: StepRunner = {
      run: (inputs) => Promise.resolve({ loss: { shape: [], data: Float32Array.of(inputs['x']![0]!) }, grad_norm: { shape: [], data: Float32Array.of(1) } }),
      readParams: () => Promise.resolve(new Map([['w', Float32Array.of(1)]])),
    };
    const written: string[] = [];
    const forward = {
      plan: { inputs: [{ name: 'x', shape: [2] }], buffers: [{ role: 'param', name: 'w' }] },
      writeParams: (v: ReadonlyMap<string, Float32Array>) => void written.push([...v.keys()].join()),
      run: () => Promise.resolve({ y: { shape: [2, 2], data: Float32Array.of(1, 0, 1, 0) } }),
    };
    const t = new Trainer({
      model,
      forward,
      train: data,
      eval: data,
      batchSize: 2,
      epochs: 6,
      seed: 1,
      optimizer: { lr: 1 },
      task: { loss: 'cross_entropy', output: 'y', labels: 'labels' },
      metrics: ['accuracy'],
      earlyStopping: { metric: 'accuracy', patience },
      checkpointEvery,
      callbacks: {
        onStep: (r) => void calls.push(`step ${r.step}`),
        onEvaluate: (e) => void calls.push(`eval ${e.epoch} ${e.accuracy}`),
        onCheckpoint: (s) => void calls.push(`save ${s}`),
      },
    });
    return { t, calls, written };
  };

  it('evaluates after each epoch, stops when the metric has not improved for `patience` evaluations, and saves at the stop', async () => {
    const { t, calls, written } = make(2, 3);
    const h = await t.train();
    // 4 steps an epoch; accuracy 0.5 every time (class 0 predicted, half the labels are 0): evaluations 2 and 3 do not improve on 1.
    expect(h.map((r) => r.step)).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
    expect(calls.filter((c) => !c.startsWith('step'))).toEqual(['save 3', 'eval 1 0.5', 'save 6', 'eval 2 0.5', 'save 9', 'eval 3 0.5', 'save 12']);
    expect(t.stoppedEarly).toBe('accuracy has not improved for 2 evaluations (best 0.5 at step 4)');
    // The forward runner got the training plan's parameters before each evaluation, only those it has.
    expect(written).toEqual(['w', 'w', 'w']);
    // The loss each step reports is the first example's x: rows come from the epoch's permutation.
    expect(new Set(h.map((r) => r.loss)).size).toBeGreaterThan(1);
  });

  it('a Trainer resumed at step 5 runs steps 6.. with the same rows and keeps the earlier history', async () => {
    const a = make(100, 100);
    await a.t.train();
    const b = make(100, 100);
    const resumed = new Trainer({ ...b.t.opts, resume: { step: 5, history: a.t.history, evals: a.t.evals } });
    await resumed.train();
    expect(resumed.history).toEqual(a.t.history.map((r, i) => ({ ...r, seconds: resumed.history[i]!.seconds })));
    expect(resumed.evals).toEqual(a.t.evals);
  });
});
