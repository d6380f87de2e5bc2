import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runOracle } from '../support/gpu.js';
import { mulberry32 } from '../support/random.js';
import { t5Forward, type T5Dims } from './t5-reference.js';

/**
 * samples/t5.model's encoder padding mask (preset tiny, CPU reference): an input padded to
 * S with its mask gives the logits of the same input unpadded, whatever the pads hold and
 * however many there are. With a mask of all ones the pads are attended to and the logits
 * move, which shows the law is the mask's doing and not a property of the model.
 */

const source = readFileSync('samples/t5.model', 'utf8');
const TINY: T5Dims = { vocab: 64, d: 32, heads: 4, layers: 2, buckets: 8, maxDistance: 16, eps: 1e-6 };
const T = 16;
const L = 37; // real encoder tokens
const rand = mulberry32(21);
const real = Array.from({ length: L }, () => Math.floor(rand() * TINY.vocab));
const decoder = Array.from({ length: T }, () => Math.floor(rand() * TINY.vocab));

/** Norm scales away from 1 and wide bias tables, as in t5.test.ts, so every part shows in the logits. */
const params = (name: string, n: number) => {
  const g = mulberry32(name.length * 7919 + n);
  const scale = /rel/.test(name) ? 1 : /ln/.test(name) ? 0.5 : name === 'shared' ? 1 : 0.3;
  return Float32Array.from({ length: n }, () => (/ln/.test(name) ? 1 : 0) + scale * (2 * g() - 1));
};

/** The decoder's logits for `real` padded to S with `pads` (cycled), and the mask given by `maskOf(j)`. */
function logits(S: number, pads: readonly number[], maskOf: (j: number) => number) {
  const tokens = Int32Array.from({ length: S }, (_, j) => (j < L ? real[j]! : pads[j % pads.length]!));
  const mask = Int32Array.from({ length: S }, (_, j) => maskOf(j));
  const r = runOracle(source, { preset: 'tiny', dims: { S }, params, inputs: { tokens, mask, decoder_tokens: Int32Array.from(decoder) } });
  return { out: r.cpu['logits']!.data, params: r.params };
}

const relErr = (got: ArrayLike<number>, want: ArrayLike<number>) => {
  let num = 0;
  let den = 0;
  for (let i = 0; i < want.length; i++) {
    num += (got[i]! - want[i]!) ** 2;
    den += want[i]! ** 2;
  }
  return Math.sqrt(num / den);
};

const isReal = (j: number) => (j < L ? 1 : 0);
const allOnes = () => 1;

describe('samples/t5.model: the encoder padding mask', () => {
  const base = logits(64, [0], isReal);

  it('gives the logits of the unpadded input (an independent float64 T5 on the 37 real tokens alone)', () => {
    expect(base.out).toHaveLength(T * TINY.vocab);
    const want = t5Forward(base.params, TINY, real, decoder).flatMap((row) => [...row]);
    // float64 on both sides, the masked keys' weights exactly 0: rounding only.
    expect(relErr(base.out, want)).toBeLessThan(1e-12);
  });

  it('makes the logits independent of the pad tokens and of the amount of padding', () => {
    // Same S, other pad values; then 59 pads instead of 27 (S = 96: new relative offsets, only between pads and real tokens).
    const otherPads = logits(64, [5, 63, 17, 40], isReal);
    const morePads = logits(96, [9, 2], isReal);
    // Masked keys weigh exactly 0 (measured difference: 0), so only the order of float64 sums could differ: 1e-6 is far above that.
    expect(relErr(otherPads.out, base.out)).toBeLessThan(1e-6);
    expect(relErr(morePads.out, base.out)).toBeLessThan(1e-6);
  });

  it('reads any nonzero mask value as a real token, as BERT does', () => {
    const sevens = logits(64, [0], (j) => 7 * isReal(j));
    expect(relErr(sevens.out, base.out)).toBeLessThan(1e-6);
  });

  it('is what makes them so: with a mask of all ones the pads are attended to and the logits move', () => {
    const zeros = logits(64, [0], allOnes).out;
    const otherPads = logits(64, [5, 63, 17, 40], allOnes).out;
    const morePads = logits(96, [9, 2], allOnes).out;
    // Attending 27 or 59 extra keys moves the logits at O(1) (measured 0.24 to 0.45 relative); so does dropping the mask
    // from only the encoder or only the cross-attention (0.23 to 0.37). 1e-2 is far above rounding and far below those.
    expect(relErr(otherPads, zeros)).toBeGreaterThan(1e-2);
    expect(relErr(morePads, zeros)).toBeGreaterThan(1e-2);
    expect(relErr(zeros, base.out)).toBeGreaterThan(1e-2);
  });
});

describe('mdc train on T5 rows without a mask', () => {
  it('stops at the first row, naming the missing column and the columns the row has', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mdc-t5-mask-'));
    const row = JSON.stringify({ tokens: Array<number>(64).fill(3), decoder_tokens: Array<number>(T).fill(0), labels: Array<number>(T).fill(3) });
    writeFileSync(join(dir, 'rows.jsonl'), `${row}\n${row}\n`);
    const args = ['train', 'samples/t5.model', '--preset', 'tiny', '--data', join(dir, 'rows.jsonl'), '--steps', '1', '--out', join(dir, 'out')];
    const p = spawnSync(process.execPath, ['--import', 'tsx', 'cli/bin.ts', ...args], { encoding: 'utf8', timeout: 120_000 });
    expect(p.status).toBe(1);
    expect(p.stderr).toContain(`${join(dir, 'rows.jsonl')}:1: missing column 'mask' (for input 'mask'); the row has tokens, decoder_tokens, labels`);
  }, 120_000);
});
