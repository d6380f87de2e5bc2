/**
 * Real data: the Fashion-MNIST MLP (samples/fashion-mlp.model, 784→256→10) trained by
 * `mdc train` on the 60,000 training images of Debian's dataset-fashion-mnist, evaluated
 * after each epoch on the 10,000 test images (--eval), which no training step sees. The
 * package is installed first when missing (scripts/ensure-fashion-mnist.sh). Writes
 * bench/results/fashion.md, fashion.json (its `accuracy`: the last epoch's test accuracy)
 * and fashion-curves.html. The bar is 85%.
 * Run: npm run bench:fashion [-- --epochs N]
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { benchArgs } from './args.js';

const { epochs } = benchArgs({
  command: 'bench:fashion',
  about:
    'The Fashion-MNIST MLP of samples/fashion-mlp.model trained by mdc train on the 60,000 training images (the Debian package is ' +
    'installed first when missing), evaluated on the 10,000 test images after each epoch; the bar is 85%.',
  writes: 'bench/results/fashion.md, fashion.json and fashion-curves.html.',
  flags: { epochs: { type: 'integer', value: 'N', help: 'training epochs', default: 5 } },
});
const ensure = spawnSync('bash', ['scripts/ensure-fashion-mnist.sh'], { stdio: 'inherit' });
if (ensure.status !== 0) process.exit(1);
const D = '/usr/share/datasets/fashion-mnist';
const dir = mkdtempSync(join(tmpdir(), 'mdc-bench-fashion-'));
const mdc = [
  'train',
  'samples/fashion-mlp.model',
  '--data',
  `${D}/train-images-idx3-ubyte.gz`,
  '--labels',
  `${D}/train-labels-idx1-ubyte.gz`,
  '--eval',
  `${D}/t10k-images-idx3-ubyte.gz`,
  '--eval-labels',
  `${D}/t10k-labels-idx1-ubyte.gz`,
  '--epochs',
  String(epochs),
  '--seed',
  '0',
  '--out',
  join(dir, 'out'),
  '--report',
  join(dir, 'report.html'),
  '--json',
];
const t0 = performance.now();
const r = spawnSync(process.execPath, ['--import', 'tsx', 'cli/bin.ts', ...mdc], { encoding: 'utf8', maxBuffer: 256 << 20 });
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
  examples: number;
  validation: number;
  seconds: number;
  losses: number[];
  evals: { epoch: number; step: number; loss: number; accuracy: number; f1: number }[];
}
const out = JSON.parse(r.stdout.slice(r.stdout.indexOf('{'))) as Out;
const last = out.evals.at(-1)!;
const command = `mdc ${mdc.map((x) => x.replace(dir, '$OUT')).join(' ')}`;
const result = {
  model: 'samples/fashion-mlp.model',
  dataset: 'Fashion-MNIST (Debian dataset-fashion-mnist): 60,000 training images, 10,000 test images',
  accuracy: last.accuracy,
  f1: last.f1,
  testLoss: last.loss,
  epochs,
  steps: out.steps,
  batch: out.batch,
  parameters: out.parameters,
  trainSeconds: out.seconds,
  wallSeconds: seconds,
  adapter: out.adapter,
  perEpoch: out.evals.map((e) => ({ epoch: e.epoch, accuracy: e.accuracy, f1: e.f1, loss: e.loss })),
  bar: 0.85,
  command,
};
writeFileSync('bench/results/fashion.json', JSON.stringify(result, null, 2) + '\n');
copyFileSync(join(dir, 'report.html'), 'bench/results/fashion-curves.html');
const md = [
  '# Fashion-MNIST: an MLP trained with mdc train',
  '',
  `samples/fashion-mlp.model (784→256→10, ${out.parameters.toLocaleString('en-US')} parameters), cross-entropy, AdamW (lr 1e-3, cosine to a tenth), ` +
    `batch ${out.batch}, ${epochs} epochs (${out.steps} steps) on the 60,000 training images of Debian's dataset-fashion-mnist; ` +
    `accuracy on the 10,000 test images after each epoch. On ${out.adapter}. Written by \`npm run bench:fashion\` (bench/fashion.ts).`,
  '',
  '| epoch | test accuracy | macro F1 | test loss |',
  '|---:|---:|---:|---:|',
  ...out.evals.map((e) => `| ${e.epoch} | ${(100 * e.accuracy).toFixed(2)}% | ${e.f1.toFixed(4)} | ${e.loss.toFixed(4)} |`),
  '',
  `Test accuracy ${(100 * last.accuracy).toFixed(2)}% (bar: 85%): ${last.accuracy >= 0.85 ? 'met' : 'NOT met'}. ` +
    `Training took ${out.seconds.toFixed(0)} s (${seconds.toFixed(0)} s with loading and compiling).`,
  '',
  'Command:',
  '',
  '```',
  command,
  '```',
  '',
  `Curves: fashion-curves.html. Training loss ${out.losses[0]!.toFixed(3)} → ${out.losses.at(-1)!.toFixed(3)}.`,
  '',
].join('\n');
writeFileSync('bench/results/fashion.md', md);
console.log(md);
if (last.accuracy < 0.85) process.exit(1);
