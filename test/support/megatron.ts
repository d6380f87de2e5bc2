/**
 * The rows of Megatron-LM's Table 1 (test/data/megatron-lm-table1.json) as `mdc plan` runs of
 * bench/models/megatron-gpt.model: the row's preset, its mesh [dp, pp, tp] (pp left out when 1), micro-batch 1 per data-parallel replica (B = dp rows per micro-batch, so the preset's
 * micro-batch count times dp is the global batch), full recompute and the given hardware.
 */
import { readFileSync } from 'node:fs';

export interface MegatronRow {
  readonly params_b: number;
  readonly heads: number;
  readonly hidden: number;
  readonly layers: number;
  readonly t: number;
  readonly p: number;
  readonly gpus: number;
  readonly batch: number;
  readonly tflops_per_gpu: number;
}

export const MEGATRON_TABLE: { readonly source: string; readonly rows: readonly MegatronRow[] } = JSON.parse(
  readFileSync(new URL('../data/megatron-lm-table1.json', import.meta.url), 'utf8'),
);

/** The sample's preset for each row, by width. */
export const MEGATRON_PRESETS: Readonly<Record<number, string>> = {
  2304: 'gpt1p7b',
  3072: 'gpt3p6b',
  4096: 'gpt7p5b',
  6144: 'gpt18b',
  8192: 'gpt39b',
  10240: 'gpt76b',
  12288: 'gpt146b',
};

/** The `mdc plan` arguments that plan a row (the preset's constants match the row: the test checks them). */
export function planArgs(row: MegatronRow, hardware = 'a100-80gb'): string[] {
  const dp = row.gpus / (row.t * row.p);
  const mesh = [
    ['dp', dp],
    ['pp', row.p],
    ['tp', row.t],
  ]
    .filter(([a, n]) => (n as number) > 1 || a === 'tp')
    .map(([a, n]) => `${a}=${n}`)
    .join(',');
  return [
    'plan',
    'bench/models/megatron-gpt.model',
    '--preset',
    MEGATRON_PRESETS[row.hidden]!,
    '--mesh',
    mesh,
    '--dim',
    `B=${dp}`,
    '--recompute',
    'full',
    '--hardware',
    hardware,
    '--json',
  ];
}

/** A row's published configuration as the whole-plan search's candidate: micro-batch 1, 1F1B, no ZeRO, full recompute. */
export function publishedCandidate(row: MegatronRow) {
  const dp = row.gpus / (row.t * row.p);
  return {
    dp,
    pp: row.p,
    tp: row.t,
    microBatchSize: 1,
    microbatches: row.batch / dp,
    schedule: '1f1b' as const,
    virtual: 1,
    zero: 0,
    recompute: 'full' as const,
  };
}
