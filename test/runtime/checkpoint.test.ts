import { parseSafetensorsMetadata } from '@huggingface/hub';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CHECKSUM, CheckpointError, crc32, decodeCheckpoint, encodeCheckpoint, type CheckpointTensors } from '../../runtime/checkpoint.js';

const enc = new TextEncoder();

/** A safetensors file from a header text and data bytes, as any writer could lay it out (no padding unless given). */
function file(header: string | object, data: ArrayLike<number> = []): Uint8Array {
  const text = enc.encode(typeof header === 'string' ? header : JSON.stringify(header));
  const out = new Uint8Array(8 + text.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(text.length), true);
  out.set(text, 8);
  out.set(data, 8 + text.length);
  return out;
}
const f32le = (...xs: number[]) => new Uint8Array(new Float32Array(xs).buffer);
const refuse = (bytes: Uint8Array) => {
  try {
    decodeCheckpoint(bytes, { source: 'ckpt.safetensors', requireChecksum: false });
  } catch (e) {
    expect(e).toBeInstanceOf(CheckpointError);
    return (e as Error).message;
  }
  throw new Error('the file was accepted');
};

const sample: CheckpointTensors = {
  'Layer.0.Attention.wqkv': { dtype: 'F32', shape: [2, 3], data: new Float32Array([1, -2, 3.5, 1e-8, -0, Infinity]) },
  'adam.m.Layer.0.Attention.wqkv': { dtype: 'F32', shape: [2, 3], data: new Float32Array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6]) },
  halves: { dtype: 'F16', shape: [3], data: new Uint16Array([0x3c00, 0xc000, 0x7e00]) },
  step: { dtype: 'I32', shape: [], data: new Int32Array([41]) },
  empty: { dtype: 'F32', shape: [0, 5], data: new Float32Array(0) },
  emptyHalf: { dtype: 'F16', shape: [0], data: new Uint16Array(0) },
  tokens: { dtype: 'I32', shape: [1, 4], data: new Int32Array([0, -1, 2147483647, -2147483648]) },
};
const meta = { step: '41', seed: '7', loss: '3.2189', optimizer: 'adamw', 'optimizer.state': 'adam.m.Layer.0.Attention.wqkv' };

describe('safetensors checkpoints', () => {
  it('round-trips F32, F16 and I32 tensors, 0-d scalars, empty tensors and string metadata bit for bit', () => {
    const back = decodeCheckpoint(encodeCheckpoint(sample, meta));
    expect(back.metadata).toEqual(meta);
    expect(Object.keys(back.tensors).sort()).toEqual(Object.keys(sample).sort());
    for (const [name, t] of Object.entries(sample)) {
      const b = back.tensors[name]!;
      expect([b.dtype, b.shape]).toEqual([t.dtype, t.shape]);
      expect(b.data.constructor).toBe(t.data.constructor);
      expect(new Uint8Array(b.data.buffer, b.data.byteOffset, b.data.byteLength)).toEqual(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
    }
    expect(decodeCheckpoint(encodeCheckpoint({})).tensors).toEqual({});
  });

  it('lays the file out as the format says: u64 LE header length, space-padded JSON to a multiple of 8, contiguous aligned ranges', () => {
    const bytes = encodeCheckpoint(
      { b: { dtype: 'F16', shape: [1], data: new Uint16Array([0x3c00]) }, a: { dtype: 'F32', shape: [2], data: new Float32Array([1, 2]) } },
      { step: '3' },
    );
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    // The checksum: CRC-32 over the data, then over the canonical header [metadata, tensors], each sorted by key.
    const canonical = enc.encode('[[["step","3"]],[["a",["F32",[2],0,8]],["b",["F16",[1],8,10]]]]');
    const crc = crc32(canonical, crc32(new Uint8Array([...f32le(1, 2), 0x00, 0x3c])))
      .toString(16)
      .padStart(8, '0');
    const json = `{"__metadata__":{"step":"3","${CHECKSUM}":"${crc}"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F16","shape":[1],"data_offsets":[8,10]}}`;
    expect(n % 8).toBe(0);
    expect(new TextDecoder().decode(bytes.subarray(8, 8 + n))).toBe(json + ' '.repeat(n - json.length));
    expect([...bytes.subarray(8 + n)]).toEqual([...f32le(1, 2), 0x00, 0x3c]);
  });

  it('reads a file laid out by another writer: unpadded, keys out of data order, no metadata, no checksum', () => {
    // Hand-built from the format description: tensor "b" stored first in the data, listed second.
    const bytes = file('{"a":{"dtype":"I32","shape":[],"data_offsets":[8,12]},"b":{"dtype":"F32","shape":[1,2],"data_offsets":[0,8]}}', [
      ...f32le(0.5, -4),
      7,
      0,
      0,
      0,
    ]);
    expect(() => decodeCheckpoint(bytes)).toThrow(`checkpoint: __metadata__ has no ${CHECKSUM} (the file was not written by mdc, or its header is damaged)`);
    const ck = decodeCheckpoint(bytes, { requireChecksum: false });
    expect(ck.metadata).toEqual({});
    expect(ck.tensors['a']).toEqual({ dtype: 'I32', shape: [], data: new Int32Array([7]) });
    expect(ck.tensors['b']).toEqual({ dtype: 'F32', shape: [1, 2], data: new Float32Array([0.5, -4]) });
  });

  it('agrees with an independent reader (@huggingface/hub parseSafetensorsMetadata) on the header and the bytes it points to', async () => {
    const bytes = encodeCheckpoint(sample, meta);
    // The hub client reads through HTTP range requests; serve the file from memory instead.
    const serve: typeof fetch = async (input, init) => {
      const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
      if (!url.endsWith('/model.safetensors')) return new Response('not found', { status: 404 });
      const headers = { etag: '"checkpoint"', 'content-type': 'application/octet-stream' };
      const m = /bytes=(\d+)-(\d*)/.exec(new Headers(init?.headers).get('range') ?? '');
      if (!m) return new Response(bytes.slice(), { status: 200, headers: { ...headers, 'content-length': String(bytes.length) } });
      const from = Number(m[1]);
      const to = m[2] ? Math.min(Number(m[2]), bytes.length - 1) : bytes.length - 1;
      return new Response(bytes.slice(from, to + 1), {
        status: 206,
        headers: { ...headers, 'content-range': `bytes ${from}-${to}/${bytes.length}`, 'content-length': String(to - from + 1) },
      });
    };
    const parsed = await parseSafetensorsMetadata({ repo: 'local/checkpoint', fetch: serve });
    if (parsed.sharded) throw new Error('expected one file');
    const { __metadata__: theirMeta, ...entries } = parsed.header;
    expect({ ...theirMeta, [CHECKSUM]: undefined }).toEqual({ ...meta, [CHECKSUM]: undefined });
    const dataStart = 8 + Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect(Object.keys(entries).sort()).toEqual(Object.keys(sample).sort());
    for (const [name, info] of Object.entries(entries)) {
      const t = sample[name]!;
      expect([info.dtype, info.shape]).toEqual([t.dtype, t.shape]);
      const [b, e] = info.data_offsets;
      expect(bytes.subarray(dataStart + b, dataStart + e)).toEqual(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
    }
  });

  describe('refuses a corrupt or truncated file, naming the problem', () => {
    const good = encodeCheckpoint(sample, meta);
    const n = Number(new DataView(good.buffer).getBigUint64(0, true));
    const ok = { dtype: 'F32', shape: [2], data_offsets: [0, 8] };
    const cases: [string, Uint8Array, string][] = [
      ['shorter than the length prefix', good.subarray(0, 5), 'truncated: 5 bytes, too short for the 8-byte header length'],
      [
        'a header length beyond the limit',
        (() => {
          const b = good.slice();
          new DataView(b.buffer).setBigUint64(0, 1n << 40n, true);
          return b;
        })(),
        'header length 1099511627776 exceeds the 100000000-byte limit (a corrupt length prefix?)',
      ],
      ['a header length past the end', good.subarray(0, 8 + n - 3), `truncated: the header says it is ${n} bytes but only ${n - 3} follow the length prefix`],
      ['a header length of zero', file(''), 'header length 0 is too small for a JSON object'],
      ['a header not starting with {', file(' {}'), "the header does not start with '{'"],
      ['a header that is not JSON', file('{"a": '), 'the header is not valid JSON'],
      ['a tensor entry that is not an object', file({ a: 1 }), "tensor 'a' is not an object"],
      ['non-string metadata', file({ __metadata__: { step: 3 } }), '__metadata__.step must be a string, not 3'],
      ['metadata that is not an object', file({ __metadata__: ['x'] }), '__metadata__ must be an object of strings'],
      ['an unknown field', file({ a: { ...ok, extra: 1 } }, f32le(1, 2)), "tensor 'a' has unknown fields: extra"],
      ['an unknown dtype', file({ a: { ...ok, dtype: 'F99' } }, f32le(1, 2)), `tensor 'a' has unknown dtype "F99"`],
      [
        'a dtype this reader does not load',
        file({ a: { ...ok, dtype: 'I64', shape: [1] } }, f32le(1, 2)),
        "tensor 'a' has dtype I64, which this reader does not load (F32, F16, BF16, I32)",
      ],
      ['a negative dim', file({ a: { ...ok, shape: [-2] } }, f32le(1, 2)), "tensor 'a' has a malformed shape [-2]"],
      ['a fractional dim', file({ a: { ...ok, shape: [1.5] } }, f32le(1, 2)), "tensor 'a' has a malformed shape [1.5]"],
      ['a missing shape', file({ a: { dtype: 'F32', data_offsets: [0, 8] } }, f32le(1, 2)), "tensor 'a' has a malformed shape undefined"],
      ['one offset', file({ a: { ...ok, data_offsets: [0] } }, f32le(1, 2)), "tensor 'a' has malformed data_offsets [0]"],
      ['a negative offset', file({ a: { ...ok, data_offsets: [-8, 0] } }, f32le(1, 2)), "tensor 'a' has malformed data_offsets [-8,0]"],
      [
        'offsets that end before they begin',
        file({ a: { ...ok, data_offsets: [8, 0] } }, f32le(1, 2)),
        "tensor 'a' has data_offsets [8, 0] that end before they begin",
      ],
      [
        'a byte length that is not numel × dtype size',
        file({ a: { ...ok, shape: [3] } }, f32le(1, 2)),
        "tensor 'a' is F32[3], 12 bytes, but its data_offsets [0, 8] span 8",
      ],
      [
        'a shape too large to address',
        file({ a: { ...ok, shape: [2 ** 40, 2 ** 20] } }, f32le(1, 2)),
        "tensor 'a' has a shape too large to address: [1099511627776, 1048576]",
      ],
      ['overlapping tensors', file({ a: ok, b: { ...ok, data_offsets: [4, 12] } }, f32le(1, 2, 3)), "tensor 'b' [4, 12) overlaps tensor 'a', which ends at 8"],
      [
        'a gap between tensors',
        file({ a: ok, b: { ...ok, data_offsets: [12, 20] } }, f32le(1, 2, 3, 4, 5)),
        "a gap of 4 bytes between tensor 'a' and tensor 'b' (data_offsets must be contiguous)",
      ],
      [
        'data not starting at 0',
        file({ a: { ...ok, data_offsets: [4, 12] } }, f32le(1, 2, 3)),
        "a gap of 4 bytes between the start of the data and tensor 'a' (data_offsets must be contiguous)",
      ],
      ['truncated data', good.subarray(0, good.length - 3), "truncated: tensor 'halves' ends at data byte 74 but the file holds 71 bytes of data"],
      [
        'trailing bytes',
        new Uint8Array([...good, 0, 0, 0, 0]),
        `4 bytes after the last tensor: the file is ${good.length + 4} bytes, the header accounts for ${good.length}`,
      ],
      ['a flipped bit in the data', good.map((c, i) => (i === good.length - 1 ? c ^ 1 : c)), 'the file is corrupt: its CRC-32 is'],
      ['a malformed checksum', file({ __metadata__: { [CHECKSUM]: 'xyz' } }), `__metadata__.${CHECKSUM} is not 8 hex digits: "xyz"`],
    ];
    it.each(cases)('%s', (_, bytes, message) => {
      expect(refuse(bytes)).toContain(`ckpt.safetensors: ${message}`);
    });
    it('a header that is not UTF-8', () => {
      const b = file('{"a":1}');
      b[10] = 0xff;
      expect(refuse(b)).toBe('ckpt.safetensors: the header is not valid UTF-8');
    });
    it('a header that is a JSON array', () => {
      expect(refuse(file('[1]'))).toBe("ckpt.safetensors: the header does not start with '{'");
    });

    it('every truncation of a valid file is refused with a CheckpointError, never anything else', () => {
      for (let len = 0; len < good.length; len++) refuse(good.subarray(0, len));
    });

    it('random byte corruption either decodes to the same tensors or is refused with a CheckpointError (fuzz)', () => {
      const want = decodeCheckpoint(good);
      fc.assert(
        fc.property(fc.array(fc.record({ at: fc.nat(good.length - 1), xor: fc.integer({ min: 1, max: 255 }) }), { minLength: 1, maxLength: 4 }), (flips) => {
          const b = good.slice();
          for (const f of flips) b[f.at]! ^= f.xor;
          let got;
          try {
            got = decodeCheckpoint(b);
          } catch (e) {
            if (!(e instanceof CheckpointError)) throw e;
            return;
          }
          // Only flips that change nothing survive: padding that stays whitespace, JSON that says the same thing.
          expect(got).toEqual(want);
        }),
        { numRuns: 2000, seed: 11 },
      );
    });
  });

  it('refuses to write what it could not read back', () => {
    expect(() => encodeCheckpoint({ a: { dtype: 'F32', shape: [3], data: new Float32Array(2) } })).toThrow(
      "tensor 'a': shape [3] has 3 elements but the data has 2",
    );
    expect(() => encodeCheckpoint({ a: { dtype: 'I32', shape: [2], data: new Float32Array(2) } })).toThrow("tensor 'a': I32 data must be a Int32Array");
    expect(() => encodeCheckpoint({ __metadata__: { dtype: 'F32', shape: [], data: new Float32Array(1) } })).toThrow(
      "a tensor may not be named '__metadata__'",
    );
    expect(() => encodeCheckpoint({}, { [CHECKSUM]: '0' })).toThrow(`metadata '${CHECKSUM}' is reserved for the checksum`);
  });
});

describe('crc32', () => {
  it('is zlib’s CRC-32: the check value of "123456789", and any split of any bytes at any alignment', async () => {
    const { crc32: zlib } = await import('node:zlib');
    expect(crc32(enc.encode('123456789')).toString(16)).toBe('cbf43926');
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(300), fc.nat(7), (bytes, cut, shift) => {
        const padded = new Uint8Array(bytes.length + shift);
        padded.set(bytes, shift);
        const b = padded.subarray(shift);
        const at = Math.min(cut, b.length);
        expect(crc32(b.subarray(at), crc32(b.subarray(0, at)))).toBe(zlib(b));
      }),
    );
  });
});
