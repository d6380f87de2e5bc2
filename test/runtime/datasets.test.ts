import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { encodeCheckpoint } from '../../runtime/checkpoint.js';
import { CsvReader, DatasetError, inValidation, permutation, splitIndices, type DatasetSpec } from '../../runtime/datasets.js';
import { openDataset, openNpy, type StreamBatchOptions } from '../../runtime/datasets-node.js';
import type { HostArray } from '../../runtime/executor.js';
import { byteTokenizer } from '../../runtime/tokenizer.js';

const dir = mkdtempSync(join(tmpdir(), 'mdc-datasets-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, data: string | Uint8Array) => {
  const p = join(dir, name);
  writeFileSync(p, data);
  return p;
};

// The table every format writes: 5 rows of a 3-feature input and a class label in 0..2.
const X = [
  [0.5, 1, 2],
  [3, 4, 5],
  [6, 7, 8.25],
  [-1, 0, 1],
  [9, 10, 11],
];
const Y = [0, 2, 1, 2, 0];

const spec: DatasetSpec = {
  inputs: [
    { name: 'pixels', dtype: 'f32', shape: [2, 3] },
    { name: 'label', dtype: 'i32', shape: [2], max: 3 },
  ],
  columns: { pixels: 'x', label: 'y' },
  labels: ['label'],
};

async function collect(batches: AsyncGenerator<Record<string, HostArray>>) {
  const out: { pixels: number[]; label: number[] }[] = [];
  for await (const b of batches) out.push({ pixels: Array.from(b.pixels!), label: Array.from(b.label!) });
  return out;
}
/** The table's rows `rows` as the batch the loader should produce. */
const expectedBatch = (rows: number[]) => ({ pixels: rows.flatMap((r) => X[r]!), label: rows.map((r) => Y[r]!) });
const inOrder = { batchSize: 2, dropLast: false } as const;
const jsonl = () => X.map((x, i) => JSON.stringify({ x, y: Y[i] })).join('\n') + '\n';

/** A .npy file written per the format spec (NEP 1): magic, version, header length, a padded dict literal, then C-order little-endian data. */
function npy(descr: string, shape: number[], values: number[], version: 1 | 2 = 1): Uint8Array {
  const size = { '<f4': 4, '<f8': 8, '<i4': 4, '<i8': 8, '|u1': 1 }[descr]!;
  const pre = version === 1 ? 10 : 12;
  let dict = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  while ((pre + dict.length + 1) % 64 !== 0) dict += ' ';
  dict += '\n';
  const out = new Uint8Array(pre + dict.length + values.length * size);
  const dv = new DataView(out.buffer);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, version, 0]);
  if (version === 1) dv.setUint16(8, dict.length, true);
  else dv.setUint32(8, dict.length, true);
  for (let i = 0; i < dict.length; i++) out[pre + i] = dict.charCodeAt(i);
  values.forEach((v, i) => {
    const at = pre + dict.length + i * size;
    if (descr === '<f4') dv.setFloat32(at, v, true);
    else if (descr === '<f8') dv.setFloat64(at, v, true);
    else if (descr === '<i4') dv.setInt32(at, v, true);
    else if (descr === '<i8') dv.setBigInt64(at, BigInt(v), true);
    else dv.setUint8(at, v);
  });
  return out;
}

describe('each format round-trips the table', () => {
  const whole = [expectedBatch([0, 1]), expectedBatch([2, 3]), expectedBatch([4])];

  it('JSONL', async () => {
    const ds = await openDataset(file('t.jsonl', jsonl()), spec);
    expect(await collect(ds.batches(inOrder))).toEqual(whole);
    // dropLast: the short last batch goes.
    expect(await collect(ds.batches({ batchSize: 2, dropLast: true }))).toEqual(whole.slice(0, 2));
  });

  it('CSV with the vector input gathered from scalar columns, and quoted fields', async () => {
    const rows = X.map((x, i) => `${x.join(',')},${Y[i]},"note ${i}, with ""quotes""\nand a line break"`);
    const path = file('t.csv', `x0,x1,x2,y,note\r\n${rows.join('\r\n')}\r\n`);
    const ds = await openDataset(path, { ...spec, columns: { pixels: ['x0', 'x1', 'x2'], label: 'y' } });
    expect(await collect(ds.batches(inOrder))).toEqual(whole);
  });

  it('CSV reader: RFC 4180 fields, fed one character at a time', () => {
    const text = 'a,"b,c","d ""e""",\r\n"multi\nline",x,,""\n"p\r\nq",1,2,3\r\nz,,,';
    const expected = [
      { fields: ['a', 'b,c', 'd "e"', ''], line: 1 },
      { fields: ['multi\nline', 'x', '', ''], line: 2 },
      { fields: ['p\r\nq', '1', '2', '3'], line: 4 },
      { fields: ['z', '', '', ''], line: 6 },
    ];
    for (const pieces of [[...text], [text]]) {
      const r = new CsvReader('q.csv');
      const recs = pieces.flatMap((c) => r.push(c));
      recs.push(...r.end());
      expect(recs).toEqual(expected);
    }
    expect(() => new CsvReader('q.csv').push('a,b"c\n')).toThrow('q.csv:1: a quote inside an unquoted field');
    expect(() => new CsvReader('q.csv').push('a\n"b"c\n')).toThrow('q.csv:2: text after a closing quote');
  });

  it('.npy: v1 and v2 headers, f4/f8/i4/i8/u1, two column files', async () => {
    for (const [descr, version] of [
      ['<f4', 1],
      ['<f8', 2],
      ['<i4', 1],
      ['<i8', 2],
      ['|u1', 1],
    ] as const) {
      // Integer dtypes get the table shifted to whole non-negative numbers.
      const xs = descr === '<f4' || descr === '<f8' ? X : X.map((r) => r.map((v) => Math.floor(v) + 1));
      const xPath = file(`x${descr.slice(1)}.npy`, npy(descr, [5, 3], xs.flat(), version));
      const yPath = file(`y${descr.slice(1)}.npy`, npy('<i8', [5], Y, version));
      const ds = await openNpy({ x: xPath, y: yPath }, spec);
      const got = await collect(ds.batches(inOrder));
      expect(got.map((b) => b.label)).toEqual(whole.map((b) => b.label));
      expect(got.flatMap((b) => b.pixels)).toEqual(xs.flat());
    }
  });

  it('safetensors: each tensor a column, rows on the first dimension', async () => {
    const bytes = encodeCheckpoint({
      x: { dtype: 'F32', shape: [5, 3], data: new Float32Array(X.flat()) },
      y: { dtype: 'I32', shape: [5], data: new Int32Array(Y) },
    });
    const ds = await openDataset(file('t.safetensors', bytes), spec);
    expect(await collect(ds.batches(inOrder))).toEqual(whole);
  });

  it('text through the byte tokenizer: windows of inputs and next-token targets', async () => {
    const lm: DatasetSpec = {
      inputs: [
        { name: 'tokens', dtype: 'i32', shape: [2, 3] },
        { name: 'targets', dtype: 'i32', shape: [2, 3] },
      ],
      columns: { tokens: 'tokens', targets: 'targets' },
      tokenizer: byteTokenizer(),
    };
    const ds = await openDataset(file('t.txt', 'abcdefghi'), lm, { textLength: 3 });
    const out: number[][] = [];
    for await (const b of ds.batches({ batchSize: 2, dropLast: false })) out.push(Array.from(b.tokens!), Array.from(b.targets!));
    const c = (s: string) => [...s].map((ch) => ch.charCodeAt(0));
    expect(out).toEqual([c('abcefg'), c('bcdfgh')]);
  });
});

it('a text column for an integer input is tokenized, padded and cut to the input length', async () => {
  const s: DatasetSpec = { inputs: [{ name: 'ids', dtype: 'i32', shape: [2, 4] }], columns: { ids: 'text' }, tokenizer: byteTokenizer(), padId: 7 };
  const ds = await openDataset(file('tok.jsonl', '{"text":"hi"}\n{"text":"abcdef"}\n'), s);
  const got: number[][] = [];
  for await (const b of ds.batches({ batchSize: 2, dropLast: true })) got.push(Array.from(b.ids!));
  // 'h' = 104, 'i' = 105, 'a'..'d' = 97..100 (ASCII).
  expect(got).toEqual([[104, 105, 7, 7, 97, 98, 99, 100]]);
});

describe('shuffling and splitting are seeded, deterministic and disjoint', () => {
  it('permutation: a permutation, the same for a seed, different across seeds', () => {
    const a = Array.from(permutation(100, 7));
    expect([...a].sort((p, q) => p - q)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(Array.from(permutation(100, 7))).toEqual(a);
    expect(Array.from(permutation(100, 8))).not.toEqual(a);
  });

  it('splitIndices: round(n × fraction) validation rows, disjoint from train, together all rows', () => {
    const { train, validation } = splitIndices(103, 0.2, 1);
    expect(validation.length).toBe(21);
    expect(new Set([...train, ...validation]).size).toBe(103);
    expect(Array.from(splitIndices(103, 0.2, 1).validation)).toEqual(Array.from(validation));
    expect(Array.from(splitIndices(103, 0.2, 2).validation)).not.toEqual(Array.from(validation));
  });

  it('a shuffled epoch of JSONL, .npy and a streamed split hold each row once, the same for a seed', async () => {
    const n = 50;
    const lines = Array.from({ length: n }, (_, i) => JSON.stringify({ x: [i, 0, 0], y: i % 3 })).join('\n');
    const jl = await openDataset(file('s.jsonl', lines), spec);
    const np = await openNpy(
      {
        x: file('s-x.npy', npy('<f4', [n, 3], Array.from({ length: n }, (_, i) => [i, 0, 0]).flat())),
        y: file(
          's-y.npy',
          npy(
            '<i4',
            [n],
            Array.from({ length: n }, (_, i) => i % 3),
          ),
        ),
      },
      spec,
    );
    const ids = async (ds: typeof jl, opts: StreamBatchOptions) => (await collect(ds.batches(opts))).flatMap((b) => b.pixels.filter((_, k) => k % 3 === 0));
    const all = Array.from({ length: n }, (_, i) => i);
    for (const ds of [jl, np]) {
      const shuffled = { batchSize: 4, dropLast: false, seed: 3, shuffleBuffer: 8 };
      const a = await ids(ds, shuffled);
      expect([...a].sort((p, q) => p - q)).toEqual(all);
      expect(a).not.toEqual(all);
      expect(await ids(ds, shuffled)).toEqual(a);
      const train = await ids(ds, { ...shuffled, split: { fraction: 0.3, seed: 5, part: 'train' } });
      const validation = await ids(ds, { ...shuffled, split: { fraction: 0.3, seed: 5, part: 'validation' } });
      expect(train.filter((i) => validation.includes(i))).toEqual([]);
      expect([...train, ...validation].sort((p, q) => p - q)).toEqual(all);
      expect(validation.length).toBeGreaterThan(0);
    }
    // The streamed split is the hash's: the same rows whatever the batch size or shuffle.
    const byHash = all.filter((i) => inValidation(i, 0.3, 5));
    expect((await ids(jl, { batchSize: 7, dropLast: false, split: { fraction: 0.3, seed: 5, part: 'validation' } })).sort((p, q) => p - q)).toEqual(byHash);
  });
});

describe('bad data gets an error naming the file and the line or row', () => {
  const refused = async (name: string, text: string | Uint8Array, s: DatasetSpec = spec) => {
    const path = file(name, text);
    try {
      const ds = await openDataset(path, s);
      await collect(ds.batches(inOrder));
    } catch (e) {
      expect(e).toBeInstanceOf(DatasetError);
      return (e as Error).message.replace(path, '<file>');
    }
    throw new Error(`${name} was accepted`);
  };

  it('a missing column', async () => {
    expect(await refused('m.jsonl', '{"x":[1,2,3],"y":0}\n{"x":[1,2,3]}\n')).toBe("<file>:2: missing column 'y' (for input 'label'); the row has x");
  });
  it('a wrong dtype', async () => {
    expect(await refused('d.jsonl', '{"x":[1,2,3],"y":1.5}\n')).toBe("<file>:1: column 'y' holds 1.5, not a 32-bit integer (input 'label' is i32)");
    expect(await refused('d2.jsonl', '{"x":[1,"two",3],"y":1}\n')).toBe(`<file>:1: column 'x' holds "two", not a number (input 'pixels' is f32)`);
  });
  it('a wrong shape', async () => {
    expect(await refused('s.jsonl', '{"x":[1,2],"y":1}\n')).toBe("<file>:1: column 'x' has shape [2]; input 'pixels' expects f32[3]");
    expect(await refused('s2.jsonl', '{"x":[[1],[2,3]],"y":1}\n')).toBe("<file>:1: column 'x' is a ragged array; input 'pixels' expects f32[3]");
  });
  it('a label out of range', async () => {
    expect(await refused('r.jsonl', '{"x":[1,2,3],"y":0}\n\n{"x":[1,2,3],"y":3}\n')).toBe(
      "<file>:3: label 3 in column 'y' is out of range for 3 classes (0..2)",
    );
    expect(await refused('r.npy', npy('<i4', [2], [1, -1]), { ...spec, columns: { label: 'x' } })).toBe(
      "<file> row 1: label -1 in column 'x' is out of range for 3 classes (0..2)",
    );
  });
  it('a malformed JSONL line', async () => {
    const bad = '{"x":[1,2,3], "y":}';
    let reason = '';
    try {
      JSON.parse(bad);
    } catch (e) {
      reason = (e as Error).message;
    }
    expect(await refused('j.jsonl', `{"x":[1,2,3],"y":0}\n${bad}\n`)).toBe(`<file>:2: malformed JSONL line (${reason})`);
    expect(await refused('j2.jsonl', '[1,2]\n')).toBe('<file>:1: a JSONL line must be an object, not an array');
  });
  it('a ragged CSV row, counted in lines even across quoted line breaks', async () => {
    expect(await refused('g.csv', 'x,y\n"a\nb",1\n1,2,3\n', { ...spec, columns: { label: 'y' } })).toBe('<file>:4: ragged row: 3 fields, the header has 2');
    expect(await refused('q.csv', 'x,y\n1,"2\n', { ...spec, columns: { label: 'y' } })).toBe(
      '<file>:2: a quoted field is not closed before the end of the file',
    );
  });
  it('NaN labels', async () => {
    expect(await refused('n.csv', 'x,y\n1,0\n2,NaN\n', { ...spec, columns: { label: 'y' } })).toBe("<file>:3: label in column 'y' is NaN");
    expect(await refused('n.jsonl', '{"y":null}\n', { ...spec, columns: { label: 'y' } })).toBe("<file>:1: label in column 'y' is NaN");
    const regression: DatasetSpec = { inputs: [{ name: 't', dtype: 'f32', shape: [2] }], columns: { t: 'x' }, labels: ['t'] };
    expect(await refused('n.npy', npy('<f4', [2], [0.5, NaN]), regression)).toBe("<file> row 1: label in column 'x' is NaN");
  });
  it('an empty file', async () => {
    expect(await refused('e.jsonl', '')).toBe('<file>: the file is empty (no rows)');
    expect(await refused('e2.jsonl', '\n\n')).toBe('<file>: the file is empty (no rows)');
    expect(await refused('e.csv', 'x,y\n')).toBe('<file>: the file is empty (no rows after the header)');
    expect(await refused('e0.npy', npy('<f4', [0, 3], []))).toBe('<file>: the file is empty (no rows)');
  });
});

it('streaming a ~50 MB JSONL file keeps memory bounded', async () => {
  const width = 64;
  const big: DatasetSpec = {
    inputs: [
      { name: 'pixels', dtype: 'f32', shape: [32, width] },
      { name: 'label', dtype: 'i32', shape: [32], max: 10 },
    ],
    columns: { pixels: 'x', label: 'y' },
    labels: ['label'],
  };
  const path = join(dir, 'big.jsonl');
  const fd = openSync(path, 'w');
  let bytes = 0;
  let rows = 0;
  while (bytes < 50e6) {
    const chunk =
      Array.from({ length: 1000 }, (_, k) =>
        JSON.stringify({ x: Array.from({ length: width }, (_, j) => (((rows + k) * 31 + j) % 1000) / 7), y: (rows + k) % 10 }),
      ).join('\n') + '\n';
    writeSync(fd, chunk);
    bytes += chunk.length;
    rows += 1000;
  }
  closeSync(fd);
  // A collection before each sample, so the heap figure is what the stream keeps alive, not garbage V8 has yet to collect.
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  gc();
  const before = process.memoryUsage();
  let peak = before.rss;
  let heapPeak = before.heapUsed;
  let seen = 0;
  let labelSum = 0;
  const ds = await openDataset(path, big);
  for await (const b of ds.batches({ batchSize: 32, dropLast: false, seed: 1, shuffleBuffer: 1000 })) {
    seen += b.label!.length;
    for (const v of b.label!) labelSum += v;
    if (seen % 9600 === 0) {
      gc();
      const m = process.memoryUsage();
      peak = Math.max(peak, m.rss);
      heapPeak = Math.max(heapPeak, m.heapUsed);
    }
  }
  expect(seen).toBe(rows);
  // Labels cycle 0..9 over whole thousands of rows: each cycle sums to 45.
  expect(labelSum).toBe((rows / 10) * 45);
  // Loose bounds (measured: about 4 MB of heap and 18 MB of RSS): holding the file's text alone would take 50 MB, and its
  // parsed rows tens of MB more; the stream holds a 1 MiB chunk, the shuffle buffer (1,000 rows) and a batch.
  expect(heapPeak - before.heapUsed).toBeLessThan(16e6);
  expect(peak - before.rss).toBeLessThan(45e6);
}, 120_000);
