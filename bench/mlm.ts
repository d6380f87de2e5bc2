/**
 * Masked-language modelling on real text: samples/bert-mlm.model (a 2-layer BERT of width
 * 64 over bytes) trained by `mdc train` on Debian's licence texts (GPL-3, Apache-2.0,
 * GFDL-1.3 from base-files), evaluated after each epoch on a text it never trains on
 * (LGPL-2.1). Windows of 64 bytes; 15% of positions masked, BERT's way (80% [MASK] = 256,
 * 10% a random byte, 10% kept), labels -100 elsewhere; each training window masked twice
 * with different positions, the validation windows once, all from fixed seeds. Writes
 * bench/results/mlm.md and mlm.json: the validation perplexity (over masked positions)
 * per epoch, which must fall.
 * Run: npm run bench:mlm [-- --epochs N]
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { benchArgs } from './args.js';

const { epochs } = benchArgs({
  command: 'bench:mlm',
  about:
    "Masked-language modelling: the 2-layer byte-level BERT of samples/bert-mlm.model trained by mdc train on Debian's licence texts, " +
    'its validation perplexity over masked positions measured after each epoch on a text it never trains on.',
  writes: 'bench/results/mlm.md and mlm.json.',
  flags: { epochs: { type: 'integer', value: 'N', help: 'training epochs', default: 5 } },
});
const S = 64;
const MASK = 256;
const dir = mkdtempSync(join(tmpdir(), 'mdc-bench-mlm-'));
const L = '/usr/share/common-licenses';
const trainText = ['GPL-3', 'Apache-2.0', 'GFDL-1.3'].map((f) => readFileSync(join(L, f))).reduce((a, b) => Buffer.concat([a, b]));
const validText = readFileSync(join(L, 'LGPL-2.1'));

function rng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

/** JSONL rows of masked windows: `copies` maskings of each window of S bytes. */
function rows(bytes: Uint8Array, copies: number, seed: number): { lines: string[]; masked: number } {
  const rand = rng(seed);
  const lines: string[] = [];
  let masked = 0;
  for (let c = 0; c < copies; c++) {
    for (let off = 0; off + S <= bytes.length; off += S) {
      const tokens = Array.from(bytes.subarray(off, off + S));
      const labels = tokens.map(() => -100);
      for (let i = 0; i < S; i++) {
        if (rand() >= 0.15) continue;
        labels[i] = tokens[i]!;
        masked++;
        const r = rand();
        if (r < 0.8) tokens[i] = MASK;
        else if (r < 0.9) tokens[i] = Math.floor(rand() * 256);
      }
      lines.push(JSON.stringify({ tokens, mask: tokens.map(() => 1), labels }));
    }
  }
  return { lines, masked };
}

const train = rows(trainText, 2, 1);
const valid = rows(validText.subarray(0, Math.min(validText.length, 16 * 1024)), 1, 2);
writeFileSync(join(dir, 'train.jsonl'), train.lines.join('\n') + '\n');
writeFileSync(join(dir, 'valid.jsonl'), valid.lines.join('\n') + '\n');
const mdc = [
  'train',
  'samples/bert-mlm.model',
  '--data',
  join(dir, 'train.jsonl'),
  '--eval',
  join(dir, 'valid.jsonl'),
  '--epochs',
  String(epochs),
  '--seed',
  '0',
];
const args = [...mdc, '--out', join(dir, 'out'), '--json'];
const t0 = performance.now();
const r = spawnSync(process.execPath, ['--import', 'tsx', 'cli/bin.ts', ...args], { encoding: 'utf8', maxBuffer: 256 << 20 });
const seconds = (performance.now() - t0) / 1000;
if (r.status !== 0) {
  console.error(r.stdout, r.stderr);
  process.exit(1);
}
interface Out {
  adapter: string;
  steps: number;
  batch: number;
  parameters: number;
  seconds: number;
  losses: number[];
  evals: { epoch: number; step: number; loss: number; perplexity: number; accuracy: number }[];
}
const out = JSON.parse(r.stdout.slice(r.stdout.indexOf('{'))) as Out;
const first = out.evals[0]!;
const last = out.evals.at(-1)!;
const command = `mdc ${mdc.map((x) => x.replace(dir, '$DATA')).join(' ')}`;
writeFileSync(
  'bench/results/mlm.json',
  JSON.stringify(
    {
      model: 'samples/bert-mlm.model',
      corpus: 'Debian /usr/share/common-licenses: GPL-3, Apache-2.0, GFDL-1.3 (training); the first 16 KiB of LGPL-2.1 (validation)',
      trainRows: train.lines.length,
      validRows: valid.lines.length,
      maskedValidPositions: valid.masked,
      epochs,
      steps: out.steps,
      batch: out.batch,
      parameters: out.parameters,
      // Perplexity of a uniform guess over the 257 tokens is 257.
      perplexity: out.evals.map((e) => ({ epoch: e.epoch, step: e.step, perplexity: e.perplexity, accuracy: e.accuracy })),
      trainSeconds: out.seconds,
      wallSeconds: seconds,
      adapter: out.adapter,
      command,
    },
    null,
    2,
  ) + '\n',
);
const md = [
  '# Masked-LM perplexity on real text',
  '',
  `samples/bert-mlm.model (2 layers, width 64, 4 heads, ${out.parameters.toLocaleString('en-US')} parameters; bytes and [MASK], vocabulary 257) trained by ` +
    `\`mdc train\` for ${epochs} epochs (${out.steps} steps of ${out.batch} windows of ${S} bytes) on ${train.lines.length} masked windows of Debian's GPL-3, ` +
    `Apache-2.0 and GFDL-1.3 texts (each window masked twice: 15% of positions, 80% [MASK], 10% random, 10% kept); validated after each epoch on ` +
    `${valid.lines.length} windows of LGPL-2.1 (${valid.masked} masked positions), which training never sees. On ${out.adapter}. ` +
    'Written by `npm run bench:mlm` (bench/mlm.ts).',
  '',
  '| epoch | validation perplexity | masked-token accuracy |',
  '|---:|---:|---:|',
  ...out.evals.map((e) => `| ${e.epoch} | ${e.perplexity.toFixed(2)} | ${(100 * e.accuracy).toFixed(2)}% |`),
  '',
  `A uniform guess has perplexity 257. Training loss ${out.losses[0]!.toFixed(3)} → ${out.losses.at(-1)!.toFixed(3)}; ${out.seconds.toFixed(0)} s of training.`,
  '',
  '```',
  command,
  '```',
  '',
].join('\n');
writeFileSync('bench/results/mlm.md', md);
console.log(md);
if (!(last.perplexity < first.perplexity)) process.exit(1);
