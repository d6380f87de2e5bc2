/**
 * A real training run: `mdc train` on English text that Debian ships (the GPL-3,
 * Apache-2.0 and GFDL-1.3 texts from base-files), byte-level (vocabulary 256), a 2-layer
 * GPT of width 128 (the gpt2 sample's tiny preset). Writes bench/results/train.md,
 * train.json and train-loss.svg (not in --quick mode, which runs a few steps only).
 * Run: npm run bench:train [-- --quick]
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { benchArgs } from './args.js';

const { quick } = benchArgs({
  command: 'bench:train',
  about:
    "A real training run: mdc train on Debian's GPL-3, Apache-2.0 and GFDL-1.3 texts, byte-level, the gpt2 sample's tiny preset " +
    '(2 layers of width 128), 400 steps.',
  writes: 'bench/results/train.md, train.json and train-loss.svg (not with --quick).',
  flags: { quick: { type: 'boolean', help: 'five steps, nothing written' } },
});
const dir = mkdtempSync(join(tmpdir(), 'mdc-bench-train-'));
const sources = ['/usr/share/common-licenses/GPL-3', '/usr/share/common-licenses/Apache-2.0', '/usr/share/common-licenses/GFDL-1.3'];
const text = sources.map((f) => readFileSync(f, 'utf8')).join('\n\n');
const data = join(dir, 'corpus.txt');
writeFileSync(data, text);
const steps = quick ? 5 : 400;
const args = [
  '--import',
  'tsx',
  'cli/bin.ts',
  'train',
  'samples/gpt2.model',
  '--preset',
  'tiny',
  '--set',
  'vocab=256',
  '--data',
  data,
  '--steps',
  String(steps),
  '--batch',
  '8',
  '--microbatches',
  '1',
  '--seq',
  '64',
  '--lr',
  '2e-3',
  '--warmup',
  quick ? '1' : '20',
  '--out',
  join(dir, 'out'),
  '--json',
];
const t0 = performance.now();
const r = spawnSync(process.execPath, args, { encoding: 'utf8', maxBuffer: 64 << 20 });
const seconds = (performance.now() - t0) / 1000;
if (r.status !== 0) {
  console.error(r.stderr);
  process.exit(1);
}
const out = JSON.parse(r.stdout.slice(r.stdout.indexOf('{'))) as { losses: number[]; parameters: number; adapter: string };
const L = out.losses;
const avg = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const first = avg(L.slice(0, Math.min(5, L.length)));
const last = avg(L.slice(-Math.min(20, L.length)));
const md = [
  '# Training run',
  '',
  `\`mdc train\` on ${(text.length / 1024).toFixed(0)} KiB of English (${sources.map((s) => s.split('/').pop()).join(', ')} from Debian's base-files), byte-level tokens (vocabulary 256, ln 256 = ${Math.log(256).toFixed(3)}).`,
  `Model: the gpt2 sample's tiny preset (2 layers, width 128, 4 heads), ${out.parameters.toLocaleString('en-US')} parameters; AdamW, lr 2e-3 with warm-up and cosine decay; batch 8 × 64 bytes.`,
  `Adapter: ${out.adapter}. ${steps} steps in ${seconds.toFixed(0)} s wall clock (including shader compilation).`,
  '',
  '| kernel | case | impl | median | unit |',
  '|---|---|---|---:|---|',
  `| train | loss, mean of the first 5 steps | mdc | ${first.toFixed(3)} | nats |`,
  `| train | loss, mean of the last 20 steps | mdc | ${last.toFixed(3)} | nats |`,
  `| train | throughput | mdc | ${Math.round((steps * 8 * 64) / seconds)} | tokens/s |`,
  '',
  '![loss curve](train-loss.svg)',
  '',
].join('\n');
if (!quick) {
  mkdirSync('bench/results', { recursive: true });
  writeFileSync('bench/results/train.md', md);
  writeFileSync(
    'bench/results/train.json',
    JSON.stringify(
      {
        rows: [
          { kernel: 'train', case: 'loss, mean of the first 5 steps', impl: 'mdc', median: first, unit: 'nats' },
          { kernel: 'train', case: 'loss, mean of the last 20 steps', impl: 'mdc', median: last, unit: 'nats' },
          { kernel: 'train', case: 'throughput', impl: 'mdc', median: (steps * 8 * 64) / seconds, unit: 'tokens/s' },
        ],
        losses: L,
      },
      null,
      1,
    ) + '\n',
  );
  copyFileSync(join(dir, 'out', 'loss.svg'), 'bench/results/train-loss.svg');
}
console.log(md);
