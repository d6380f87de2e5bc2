import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readCheckpoint } from '../../runtime/checkpoint-node.js';
import { MDC_PROCESS } from '../support/cli.js';
import { gpuStatus } from '../support/gpu.js';
import { mulberry32 } from '../support/random.js';

/**
 * `mdc train --eval` on a model with @lora adapters scores the adapted model, not the base
 * weights alone: the validation loss the run reports equals the cross-entropy computed here
 * in float64 from the checkpoint with each adapter merged by hand (w + (alpha/r)·A·B), and
 * differs from the base weights' loss (which the run once reported by mistake).
 */
const status = await gpuStatus();
const dir = mkdtempSync(join(tmpdir(), 'mdc-lora-eval-'));
const MODEL = join(dir, 'lora.model');
writeFileSync(
  MODEL,
  `model C(x: f32[B, 2]) -> f32[B, 2] where B = 16 {
  param w1: f32[2, 16] = normal(0, 0.5) @lora(rank = 2, alpha = 4)
  param b1: f32[16] = zeros()
  param w2: f32[16, 2] = normal(0, 0.5) @lora(rank = 2, alpha = 4)
  param b2: f32[2] = zeros()
  let logits = tanh(x @ w1 + b1) @ w2 + b2
  return logits
}
train C {
  loss = cross_entropy(logits, labels)
  optimizer = adamw(lr = 3e-2, weight_decay = 0)
  batch = 16
}
`,
);
const rows = (n: number, seed: number) => {
  const rand = mulberry32(seed);
  return Array.from({ length: n }, () => {
    const [f0, f1] = [rand() * 2 - 1, rand() * 2 - 1];
    return { f0, f1, label: f0 + 0.5 * f1 > 0 ? 1 : 0 };
  });
};
const csv = (name: string, rs: ReturnType<typeof rows>) => {
  const p = join(dir, name);
  writeFileSync(p, ['f0,f1,label', ...rs.map((r) => `${r.f0.toFixed(5)},${r.f1.toFixed(5)},${r.label}`)].join('\n') + '\n');
  return p;
};
const train = csv('train.csv', rows(160, 1));
const evalRows = rows(64, 2);
const evalCsv = csv('eval.csv', evalRows);

describe.skipIf(status.skip)(status.title('mdc train --eval with @lora adapters'), () => {
  it('reports the validation loss of the adapted model (adapters merged), not of the base weights', async () => {
    const out = join(dir, 'out');
    const run = spawnSync(
      process.execPath,
      [
        ...MDC_PROCESS,
        'train',
        MODEL,
        '--data',
        train,
        '--eval',
        evalCsv,
        '--column',
        'x=f0,f1',
        '--column',
        'labels=label',
        '--epochs',
        '3',
        '--seed',
        '1',
        '--out',
        out,
        '--json',
      ],
      { encoding: 'utf8', timeout: 300_000 },
    );
    expect(run.status, run.stderr + run.stdout).toBe(0);
    const reported = (JSON.parse(run.stdout.slice(run.stdout.indexOf('{'))) as { evals: { loss: number }[] }).evals.at(-1)!.loss;
    const ck = await readCheckpoint(join(out, 'checkpoint.safetensors'));
    const t = (k: string) => Float64Array.from(ck.tensors[k]!.data as Float32Array);
    // w [rows, cols] + (alpha / rank)·A [rows, 2]·B [2, cols], in float64.
    const merged = (w: string, rows: number, cols: number) => {
      const [base, a, b] = [t(w), t(`${w}.lora_a`), t(`${w}.lora_b`)];
      return base.map((v, i) => v + 2 * (a[Math.floor(i / cols) * 2]! * b[i % cols]! + a[Math.floor(i / cols) * 2 + 1]! * b[cols + (i % cols)]!));
    };
    const loss = (w1: Float64Array, w2: Float64Array) => {
      const [b1, b2] = [t('b1'), t('b2')];
      let sum = 0;
      for (const p of evalRows) {
        const h = Array.from({ length: 16 }, (_, j) => Math.tanh(p.f0 * w1[j]! + p.f1 * w1[16 + j]! + b1[j]!));
        const z = [0, 1].map((c) => h.reduce((s, v, j) => s + v * w2[j * 2 + c]!, b2[c]!));
        const m = Math.max(...z);
        sum += m + Math.log(z.reduce((s, v) => s + Math.exp(v - m), 0)) - z[p.label]!;
      }
      return sum / evalRows.length;
    };
    const adaptedLoss = loss(merged('w1', 2, 16), merged('w2', 16, 2));
    const baseLoss = loss(t('w1'), t('w2'));
    // The adapters moved the model: the base weights alone score clearly differently.
    expect(Math.abs(adaptedLoss - baseLoss)).toBeGreaterThan(0.05);
    expect(Math.abs(reported - adaptedLoss)).toBeLessThan(1e-4);
  }, 300_000);
});
