import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { gpuStatus } from '../support/gpu.js';
import { mulberry32 } from '../support/random.js';
import { trainingText } from '../support/corpus.js';

/**
 * samples/bert-mlm.model (bench:mlm's masked LM over bytes) trained by `mdc train` for a few
 * epochs on text in the repository (docs/language.md; validated on docs/training.md):
 * 15% of positions masked from a fixed seed, labels -100 elsewhere. The validation
 * perplexity must fall from the first epoch to the last.
 */

const status = await gpuStatus();
const S = 64;
const MASK = 256;

function windows(text: Uint8Array, count: number, seed: number): string[] {
  const rand = mulberry32(seed);
  return Array.from({ length: count }, (_, w) => {
    const tokens = Array.from(text.subarray(w * S, (w + 1) * S));
    const labels = tokens.map(() => -100);
    for (let i = 0; i < S; i++) {
      if (rand() >= 0.15) continue;
      labels[i] = tokens[i]!;
      tokens[i] = MASK;
    }
    return JSON.stringify({ tokens, mask: tokens.map(() => 1), labels });
  });
}

describe.skipIf(status.skip)(status.title('samples/bert-mlm.model: masked-LM training'), () => {
  it('validation perplexity falls over 3 epochs on sentences of a written grammar', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mdc-mlm-'));
    writeFileSync(join(dir, 'train.jsonl'), windows(trainingText(96 * S + 64, 1), 96, 1).join('\n') + '\n');
    writeFileSync(join(dir, 'valid.jsonl'), windows(trainingText(32 * S + 64, 2), 32, 2).join('\n') + '\n');
    const args = ['train', 'samples/bert-mlm.model', '--data', join(dir, 'train.jsonl'), '--eval', join(dir, 'valid.jsonl'), '--epochs', '3'];
    args.push('--batch', '16', '--lr', '3e-3', '--warmup', '2', '--seed', '0', '--out', join(dir, 'out'), '--json');
    const p = spawnSync(process.execPath, ['--import', 'tsx', 'cli/bin.ts', ...args], { encoding: 'utf8', timeout: 300_000 });
    expect(p.status, p.stderr).toBe(0);
    const out = JSON.parse(p.stdout.slice(p.stdout.indexOf('{'))) as { losses: number[]; evals: { perplexity: number }[] };
    expect(out.evals).toHaveLength(3);
    // Untrained, every one of the 257 tokens is about as likely: the first loss is near ln 257 = 5.55.
    expect(Math.abs(out.losses[0]! - Math.log(257))).toBeLessThan(0.3);
    const [first, , last] = out.evals.map((e) => e.perplexity);
    expect(last!).toBeLessThan(first! * 0.9);
    expect(last!).toBeLessThan(257 / 4);
  }, 300_000);
});
