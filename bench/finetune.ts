/**
 * Fine-tuning: LoRA against full fine-tuning of a pretrained tiny GPT (issue 18's bar:
 * LoRA reaches the loss of full fine-tuning within 10% with under 2% of the parameters
 * trainable), on a task posed as fine-tuning usually is: two texts from one stochastic
 * grammar (test/support/corpus.ts `grammar`), each with a real entropy floor computed from
 * the grammar. A: three templates, Zipf word frequencies; B: the same words at reversed
 * frequencies, other template weights and one new template. All through `mdc train`:
 * 1. pretrain the gpt2 sample's tiny preset (vocabulary 256, byte-level) on A (text file);
 * 2. from that checkpoint (`--init`), fine-tune on B's training rows (a JSONL dataset of
 *    64-byte windows) for the same steps, fully and with LoRA (`@lora(rank, alpha)` on some
 *    weights), each at the best of a small learning-rate sweep, scored by the loss on held-out
 *    rows of B (`--eval`, drawn with another seed), not the training loss;
 * 3. LoRA's levers at its best rate: which matrices, rank (under 2% trainable), alpha;
 * 4. the best full and best LoRA settings again with a second seed (batch order, adapter init).
 * The pretrained model's loss on B's validation rows is the starting point.
 * Writes bench/results/finetune.{md,json} (not with --quick, a few steps only). `--pre-steps N` pretrains N steps
 * instead of 200 and writes finetune-pre<N>.{md,json}; `--pretrained FILE` takes that pretrained checkpoint from an
 * earlier run (its losses.json beside it) instead of pretraining; `--no-levers` runs no adapter settings beyond the sweep;
 * `--general` pretrains on G (B's templates and words, every choice equally likely) and writes finetune-general-pre<N>.{md,json}.
 * Run: npm run bench:finetune [-- --quick | [--general] [--pre-steps N] [--pretrained FILE] [--no-levers]]
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { decodeCheckpoint, encodeCheckpoint, type CheckpointTensor } from '../runtime/checkpoint.js';
import { mergeLora } from '../runtime/lora.js';
import { grammar, grammarEntropy, grammarText } from '../test/support/corpus.js';
import { benchArgs } from './args.js';

const args = benchArgs({
  command: 'bench:finetune',
  about:
    'LoRA against full fine-tuning of a pretrained tiny GPT (the gpt2 sample, byte-level): pretraining on one grammar, then fine-tuning on ' +
    'another fully and with adapters at a small learning-rate sweep, each scored by its loss on held-out rows of the fine-tuning text.',
  writes:
    'bench/results/finetune.md and finetune.json; with --pre-steps N, finetune-pre<N>.*; with --general, finetune-general-pre<N>.*; nothing with --quick.',
  flags: {
    quick: { type: 'boolean', help: 'a few steps of each run only, to try the script; writes no results' },
    'pre-steps': { type: 'integer', value: 'N', help: 'pretraining steps', default: 200 },
    pretrained: { type: 'string', value: 'FILE', help: 'a pretrained checkpoint of an earlier run (its losses.json beside it) instead of pretraining' },
    'no-levers': { type: 'boolean', help: 'no adapter settings beyond the sweep' },
    general: { type: 'boolean', help: "pretrain on G (B's templates and words, every choice equally likely) instead of A" },
  },
});
const quick = args.quick;
const dir = mkdtempSync(join(tmpdir(), 'mdc-bench-finetune-'));
const PRE_STEPS = quick ? 4 : args['pre-steps'];
const pretrained = args.pretrained;
const noLevers = quick || args['no-levers'];
/** Pretrain on G (every template and word equally likely) instead of A: the pretrained model has seen all of B's structures. */
const general = args.general;
const resultName = general ? `finetune-general-pre${PRE_STEPS}` : PRE_STEPS === 200 ? 'finetune' : `finetune-pre${PRE_STEPS}`;
const FT_STEPS = quick ? 3 : 100;
const BATCH = 8;
const SEQ = 64;
const VAL_ROWS = quick ? 16 : 256;

const gA = grammar(general ? 'G' : 'A');
const gB = grammar('B');
const floorA = grammarEntropy(gA);
const floorB = grammarEntropy(gB);
writeFileSync(join(dir, 'a.txt'), grammarText(gA, 200_000, 1));
/** Rows of SEQ input bytes and the SEQ next bytes, cut at consecutive offsets of a text. */
const rows = (text: string, n: number) => {
  const t = Buffer.from(text, 'latin1');
  const out: string[] = [];
  for (let i = 0; out.length < n; i += SEQ + 1) {
    const w = [...t.subarray(i, i + SEQ + 1)];
    out.push(JSON.stringify({ tokens: w.slice(0, SEQ), labels: w.slice(1) }));
  }
  return out.join('\n') + '\n';
};
// Twice the rows the run reads, so the one epoch ends after the last step and the evaluation runs once.
writeFileSync(join(dir, 'b-train.jsonl'), rows(grammarText(gB, 2 * FT_STEPS * BATCH * (SEQ + 1) + 100, 2), 2 * FT_STEPS * BATCH));
writeFileSync(join(dir, 'b-val.jsonl'), rows(grammarText(gB, VAL_ROWS * (SEQ + 1) + 100, 3), VAL_ROWS));

const base = readFileSync('samples/gpt2.model', 'utf8');
interface Adapters {
  readonly name: string;
  readonly rank: number;
  readonly alpha: number;
  readonly targets: readonly string[];
}
function loraModel(a: Adapters): string {
  let src = base;
  for (const p of a.targets) {
    const re = new RegExp(`(param ${p}: f32\\[[^\\]]*\\] = normal\\(0, 0\\.02\\))`);
    if (!re.test(src)) throw new Error(`samples/gpt2.model has no param ${p} of the expected form`);
    src = src.replace(re, `$1 @lora(rank = ${a.rank}, alpha = ${a.alpha})`);
  }
  writeFileSync(join(dir, `${a.name}.model`), src);
  return `${a.name}.model`;
}
writeFileSync(join(dir, 'base.model'), base);

interface Run {
  losses: number[];
  val: number;
  parameters: number;
  trainable?: number;
  total?: number;
  seconds: number;
}

function mdc(args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const p = spawn(process.execPath, ['--import', 'tsx', 'cli/bin.ts', ...args]);
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.on('close', (status) => done({ status, stdout, stderr }));
  });
}

async function train(
  model: string,
  data: string,
  steps: number,
  lr: number,
  out: string,
  opts: { init?: string; seed?: number; eval?: string } = {},
): Promise<Run> {
  const args = [
    'train',
    join(dir, model),
    '--preset',
    'tiny',
    '--set',
    'vocab=256',
    '--data',
    join(dir, data),
    '--steps',
    String(steps),
    '--batch',
    String(BATCH),
  ];
  if (opts.eval) args.push('--eval', join(dir, opts.eval));
  if (data.endsWith('.jsonl')) args.push('--accumulate', '1');
  else args.push('--microbatches', '1', '--seq', String(SEQ));
  args.push('--lr', String(lr), '--warmup', quick || steps < 10 ? '1' : '10', '--seed', String(opts.seed ?? 7), '--out', join(dir, out));
  if (opts.init) args.push('--init', opts.init);
  const t0 = performance.now();
  let r = await mdc(args);
  // A shared machine can stall one step past the runtime's time limit: run it once more from the start.
  if (r.status !== 0 && r.stderr.includes('did not finish within')) r = await mdc(args);
  const seconds = (performance.now() - t0) / 1000;
  if (r.status !== 0) throw new Error(`mdc ${args.join(' ')} failed:\n${r.stderr}\n${r.stdout}`);
  const params = /training \S+ \(([\d,]+) parameters\)/.exec(r.stdout)?.[1] ?? '0';
  const ft = /fine-tuning: ([\d,]+) of ([\d,]+) parameters train/.exec(r.stdout);
  const num = (s: string) => Number(s.replace(/,/g, ''));
  let losses: number[];
  let val = NaN;
  if (data.endsWith('.jsonl')) {
    const h = JSON.parse(readFileSync(join(dir, out, 'history.json'), 'utf8')) as { steps: { loss: number }[]; evals: { loss: number }[] };
    losses = h.steps.map((x) => x.loss);
    val = h.evals.at(-1)?.loss ?? NaN;
  } else losses = (JSON.parse(readFileSync(join(dir, out, 'losses.json'), 'utf8')) as { loss: number }[]).map((x) => x.loss);
  return { losses, val, parameters: num(params), ...(ft ? { trainable: num(ft[1]!), total: num(ft[2]!) } : {}), seconds };
}

/** Runs the jobs two at a time (the machine has two cores). */
async function pool<T>(jobs: (() => Promise<T>)[]): Promise<T[]> {
  const out: T[] = new Array(jobs.length);
  let next = 0;
  const worker = async () => {
    while (next < jobs.length) {
      const i = next++;
      out[i] = await jobs[i]!();
    }
  };
  await Promise.all([worker(), worker()]);
  return out;
}

const pre: Run = pretrained
  ? {
      losses: (JSON.parse(readFileSync(join(dirname(pretrained), 'losses.json'), 'utf8')) as { loss: number }[]).map((x) => x.loss),
      val: NaN,
      parameters: 445_952,
      seconds: NaN,
    }
  : await train('base.model', 'a.txt', PRE_STEPS, 3e-3, 'pre');
if (pre.losses.length !== PRE_STEPS) throw new Error(`${pretrained}: ${pre.losses.length} pretraining steps, not --pre-steps ${PRE_STEPS}`);
const ckpt = pretrained ?? join(dir, 'pre', 'checkpoint.safetensors');
const tailMean = (xs: number[]) => xs.slice(-20).reduce((a, b) => a + b, 0) / Math.min(20, xs.length);
console.log(
  `pretrained on ${general ? 'G' : 'A'}: loss ${pre.losses[0]!.toFixed(3)} → ${tailMean(pre.losses).toFixed(3)} (floor ${floorA.perChar.toFixed(3)}) in ${pre.seconds.toFixed(0)} s`,
);

interface Setting {
  readonly kind: 'full' | 'lora';
  readonly lr: number;
  readonly seed: number;
  readonly adapters?: Adapters;
}
interface Result extends Setting {
  readonly run: Run;
}
/**
 * The loss on B's validation rows of a checkpoint: its adapters merged into their weights (w + (alpha/r)·A·B), the
 * optimizer state dropped, then the base model scores it (`--eval`, after one step at lr 1e-12, which moves no weight
 * by a measurable amount). Not `--eval` in the fine-tuning run itself: mdc train's evaluation of a dataset run builds
 * the inference plan, which has no adapters, so a LoRA run would be scored as the pretrained model.
 */
async function validate(file: string, adapters: Adapters | undefined, out: string): Promise<number> {
  const ck = decodeCheckpoint(readFileSync(file));
  const f32 = (k: string) => ck.tensors[k]?.data as Float32Array | undefined;
  const keep = Object.keys(ck.tensors).filter((k) => !k.startsWith('opt.') && !k.startsWith('acc.') && !/\.lora_[ab]$/.test(k));
  const targets = keep
    .filter((k) => ck.tensors[`${k}.lora_a`])
    .map((k) => ({ param: k, scale: adapters!.alpha / adapters!.rank, rows: ck.tensors[k]!.shape[0]!, cols: ck.tensors[k]!.shape[1]! }));
  if (adapters && targets.length !== 2 * adapters.targets.length)
    throw new Error(`${file}: ${targets.length} adapted weights, expected ${2 * adapters.targets.length}`);
  const merged = mergeLora(new Map(targets.map((t) => [t.param, f32(t.param)!])), f32, targets);
  const tensors: Record<string, CheckpointTensor> = {};
  for (const k of keep) tensors[k] = merged.has(k) ? { ...ck.tensors[k]!, data: merged.get(k)! } : ck.tensors[k]!;
  const path = join(dir, `${out}.safetensors`);
  writeFileSync(path, encodeCheckpoint(tensors));
  return (await train('base.model', 'b-train.jsonl', 1, 1e-12, out, { init: path, eval: 'b-val.jsonl' })).val;
}

let n = 0;
const ft = (s: Setting) => async (): Promise<Result> => {
  const model = s.adapters ? loraModel(s.adapters) : 'base.model';
  const tag = `ft${n++}`;
  const trained = await train(model, 'b-train.jsonl', FT_STEPS, s.lr, tag, { init: ckpt, seed: s.seed });
  const run = { ...trained, val: await validate(join(dir, tag, 'checkpoint.safetensors'), s.adapters, `${tag}-val`) };
  const share = run.trainable !== undefined ? ` ${run.trainable}/${run.total} trainable` : '';
  console.log(`${s.kind} ${s.adapters?.name ?? ''} lr ${s.lr} seed ${s.seed}: validation ${run.val.toFixed(4)}${share} in ${run.seconds.toFixed(0)} s`);
  return { ...s, run };
};

const ALL5: Adapters = { name: 'r2-qvo12', rank: 2, alpha: 4, targets: ['wq', 'wv', 'wo', 'w1', 'w2'] };
const FULL_LRS = quick ? [1e-3] : [1e-3, 3e-3];
const LORA_LRS = quick ? [1e-2] : [1e-2, 3e-2];
const [zero, ...sweep] = await pool<Result>([
  async (): Promise<Result> => ({ kind: 'full', lr: 0, seed: 7, run: { ...pre, val: await validate(ckpt, undefined, 'zero') } }),
  ...FULL_LRS.map((lr) => ft({ kind: 'full', lr, seed: 7 })),
  ...LORA_LRS.map((lr) => ft({ kind: 'lora', lr, seed: 7, adapters: ALL5 })),
]);
const best = (xs: Result[]) => xs.reduce((a, b) => (b.run.val < a.run.val ? b : a));
const bestFull = best(sweep.filter((x) => x.kind === 'full'));
const bestLora0 = best(sweep.filter((x) => x.kind === 'lora'));
// Levers at LoRA's best rate, every one under 2% of the parameters (counted from mdc train's line).
const LEVERS: Adapters[] = noLevers
  ? []
  : [
      { name: 'r4-qkvo', rank: 4, alpha: 8, targets: ['wq', 'wk', 'wv', 'wo'] },
      { name: 'r3-12', rank: 3, alpha: 6, targets: ['w1', 'w2'] },
      { name: 'r2-qvo12-a16', rank: 2, alpha: 16, targets: ['wq', 'wv', 'wo', 'w1', 'w2'] },
    ];
const levers = await pool(LEVERS.map((a) => ft({ kind: 'lora', lr: bestLora0.lr, seed: 7, adapters: a })));
const bestLora = best([bestLora0, ...levers]);
const seed2 = quick
  ? []
  : await pool([ft({ kind: 'full', lr: bestFull.lr, seed: 8 }), ft({ kind: 'lora', lr: bestLora.lr, seed: 8, adapters: bestLora.adapters! })]);

const L0 = zero.run.val;
const floor = floorB.perChar;
const compare = (full: Result, lora: Result) => ({
  seed: full.seed,
  full: full.run.val,
  lora: lora.run.val,
  relativeGap: (lora.run.val - full.run.val) / full.run.val,
  withinTenPercent: (lora.run.val - full.run.val) / full.run.val <= 0.1,
  /** Fraction of the distance from the pretrained model's loss to the floor that each closes. */
  closedFull: (L0 - full.run.val) / (L0 - floor),
  closedLora: (L0 - lora.run.val) / (L0 - floor),
  /** LoRA's loss above the floor over full fine-tuning's. */
  excessRatio: (lora.run.val - floor) / (full.run.val - floor),
});
const seeds = [compare(bestFull, bestLora), ...(seed2.length ? [compare(seed2[0]!, seed2[1]!)] : [])];
const share = (r: Result) => (r.run.trainable !== undefined ? (100 * r.run.trainable) / r.run.total! : 100);
const summary = (r: Result) => ({
  kind: r.kind,
  adapters: r.adapters ? `rank ${r.adapters.rank}, alpha ${r.adapters.alpha} on ${r.adapters.targets.join(', ')}` : undefined,
  lr: r.lr,
  seed: r.seed,
  trainable: r.run.trainable ?? r.run.parameters,
  total: r.run.total ?? r.run.parameters,
  trainablePercent: share(r),
  trainFinal: tailMean(r.run.losses),
  validation: r.run.val,
  seconds: r.run.seconds,
});
const result = {
  floor: { A: floorA, B: floorB },
  pretrain: { steps: PRE_STEPS, lr: 3e-3, first: pre.losses[0], final: tailMean(pre.losses), seconds: pre.seconds },
  finetune: { steps: FT_STEPS, batch: BATCH, seq: SEQ, validationRows: VAL_ROWS, pretrainedValidation: L0 },
  runs: [...sweep, ...levers, ...seed2].map(summary),
  best: { full: summary(bestFull), lora: summary(bestLora) },
  seeds,
};
console.log(JSON.stringify(result, null, 1));

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
const row = (r: Result) => {
  const s = summary(r);
  return `| ${r.kind} | ${s.adapters ?? 'every parameter'} | ${s.trainable.toLocaleString('en-US')} (${s.trainablePercent.toFixed(2)}%) | ${r.lr} | ${r.seed} | ${s.trainFinal.toFixed(4)} | **${r.run.val.toFixed(4)}** | ${r.run.seconds.toFixed(0)} s |`;
};
const md = [
  '# Fine-tuning: LoRA against full fine-tuning',
  '',
  `The gpt2 sample's tiny preset (2 layers, width 128, byte-level vocabulary 256, ${pre.parameters.toLocaleString('en-US')} parameters), every run through \`mdc train\`, AdamW, warm-up then cosine decay to a tenth.`,
  ...(general
    ? [
        'Texts from one stochastic grammar (test/support/corpus.ts `grammar`): B, four templates ("the J N V the N.", "a N V R.", "every J N V a J N.",',
        '"some N that V the N is J!") over 12 nouns, 8 adjectives, 8 verbs and 6 adverbs, words at Zipf weights 1/rank (reversed) and templates at',
        'weights 1, 1, 1, 2; G, the general text it is pretrained on, the same four templates and words with every choice equally likely.',
        'The text determines every choice, so the entropy rate is H(sentence) / E[characters]:',
        `G ${floorA.perSentence.toFixed(3)} nats / ${floorA.meanChars.toFixed(2)} chars = **${floorA.perChar.toFixed(4)} nats per character**; ` +
          `B ${floorB.perSentence.toFixed(3)} / ${floorB.meanChars.toFixed(2)} = **${floorB.perChar.toFixed(4)}**.`,
      ]
    : [
        'Texts from one stochastic grammar (test/support/corpus.ts `grammar`): A, three templates ("the J N V the N.", "a N V R.", "every J N V a J N.") over',
        '12 nouns, 8 adjectives, 8 verbs and 6 adverbs with Zipf weights 1/rank; B, the same words at reversed frequencies, other template weights and a',
        'new template ("some N that V the N is J!"). The text determines every choice, so the entropy rate is H(sentence) / E[characters]:',
        `A ${floorA.perSentence.toFixed(3)} nats / ${floorA.meanChars.toFixed(2)} chars = **${floorA.perChar.toFixed(4)} nats per character**; ` +
          `B ${floorB.perSentence.toFixed(3)} / ${floorB.meanChars.toFixed(2)} = **${floorB.perChar.toFixed(4)}**.`,
      ]),
  "That is a lower bound on a model's loss: a window's first bytes have no context, so even the grammar itself scores a little above it on 64-byte windows.",
  '',
  `1. Pretrain on ${general ? 'G' : 'A'} (a 200 KB text) for ${PRE_STEPS} steps of 8 × 64 bytes (lr 3e-3): training loss ${pre.losses[0]!.toFixed(3)} → ${tailMean(pre.losses).toFixed(3)}.`,
  `2. From that checkpoint (\`mdc train --init\`), ${FT_STEPS} steps on B's training rows (${2 * FT_STEPS * BATCH} windows of 64 bytes, JSONL, batch ${BATCH}), the same order for a seed;`,
  `   scored by the loss on ${VAL_ROWS} held-out windows of B (another draw of the grammar, \`--eval\`), after the last step.`,
  `   Before fine-tuning the pretrained model scores **${L0.toFixed(4)}** there. A LoRA checkpoint is scored with its adapters merged into its weights.`,
  ...(noLevers
    ? ['3. Full fine-tuning and LoRA (rank 2 on wq, wv, wo, w1, w2) each at the best of two learning rates (no other adapter settings);']
    : [
        "3. Full fine-tuning and LoRA (rank 2 on wq, wv, wo, w1, w2) each at the best of two learning rates; then, at LoRA's best rate, other adapter",
        '   placements, ranks and alpha;',
      ]),
  '   then the best of each again with a second seed (batch order and adapter init; same pretrained checkpoint).',
  '   "trainable" is what `mdc train` reports (adapters over base plus adapters).',
  '',
  '| run | adapters | trainable | lr | seed | train loss (last 20) | validation loss | wall clock |',
  '|---|---|---:|---:|---:|---:|---:|---:|',
  ...[...sweep, ...levers, ...seed2].map(row),
  '',
  '| seed | full | LoRA | (LoRA − full) / full | within 10% | gap to floor closed: full | LoRA | (LoRA − floor) / (full − floor) |',
  '|---:|---:|---:|---:|---|---:|---:|---:|',
  ...seeds.map(
    (c) =>
      `| ${c.seed} | ${c.full.toFixed(4)} | ${c.lora.toFixed(4)} | ${pct(c.relativeGap)} | ${c.withinTenPercent ? 'yes' : 'no'} | ${pct(c.closedFull)} | ${pct(c.closedLora)} | ${c.excessRatio.toFixed(2)} |`,
  ),
  '',
  `Best LoRA: ${summary(bestLora).adapters} at lr ${bestLora.lr}, ${bestLora.run.trainable?.toLocaleString('en-US')} of ${bestLora.run.total?.toLocaleString('en-US')} parameters (${share(bestLora).toFixed(2)}%).`,
  '"Gap to floor closed" is (pretrained − fine-tuned) / (pretrained − floor) on B\'s validation loss.',
  '',
  `Run: \`npm run bench:finetune${PRE_STEPS === 200 && !general ? '' : ` --${general ? ' --general' : ''}${PRE_STEPS === 200 ? '' : ` --pre-steps ${PRE_STEPS}`}${noLevers ? ' --no-levers' : ''}`}\`.`,
  '',
].join('\n');
if (!quick) {
  mkdirSync('bench/results', { recursive: true });
  writeFileSync(`bench/results/${resultName}.md`, md);
  writeFileSync(`bench/results/${resultName}.json`, JSON.stringify(result, null, 1) + '\n');
}
console.log(md);
