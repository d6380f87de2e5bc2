/**
 * The whole-plan search (`mdc plan --auto --devices N`) costs a fine-tuning run as its step runs:
 * a frozen parameter (`freeze`, or a weight beside `@lora` adapters) keeps its value but no
 * gradient, no optimizer state, no data-parallel gradient reduction and no update
 * (compiler/train/fine-tune.ts, the frozen set `mdc plan` uses). Expected bytes and seconds are
 * derived by hand from the shapes below and the a100-80gb description (hardware/a100-80gb.json).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { autoPlan, AutoPlanError, type AutoPlan } from '../../driver/auto-plan.js';
import { loadHardware } from '../../driver/hardware.js';
import type { Candidate } from '../../compiler/cost/plan-search.js';
import { mdc } from '../support/cli.js';

const hw = loadHardware('a100-80gb');

/**
 * Per layer w1 [64, 256@tp] and w2 [256@tp, 64] (16,384 elements each, half per device at tp = 2),
 * outside the stack wte [512, 64] and head [64, 512] (32,768 each, whole on every device):
 * Ψ = 2 · 32,768 + 4 · 2 · 16,384 = 196,608 f32 parameters.
 */
const model = (train: string, w1Annotation = '') => `mesh M = [dp: 2, tp: 2]
config C { vocab = 512, d = 64, ffn = 256, layers = 4 }
block Layer(x: f32[B, S, d]) -> f32[B, S, d] {
  param w1: f32[d, ffn@tp] = normal(0, 0.02)${w1Annotation}
  param w2: f32[ffn@tp, d] = normal(0, 0.02)
  return x + relu(x @ w1) @ w2
}
model Tiny(tokens: i32[B@dp, S]) -> f32[B@dp, S, vocab] where B = 8, S = 4 {
  param wte: f32[vocab, d] = normal(0, 0.02)
  param head: f32[d, vocab] = normal(0, 0.02)
  let h = embedding(wte, tokens)
  h = repeat(layers) Layer(h)
  let logits = h @ head
  return logits
}
train Tiny {
  loss = cross_entropy(logits, labels)
${train}
}
`;
const ADAMW = '  optimizer = adamw(lr = 1e-3)';

function search(source: string, devices: number, memoryCap?: number): AutoPlan {
  const r = autoPlan({ file: 'tiny.model', source, frontend: {}, devices, hardware: hw, ...(memoryCap !== undefined ? { memoryCap } : {}) });
  if ('diagnostics' in r) throw new Error(r.diagnostics.map((d) => d.message).join('; '));
  return r;
}

/** dp = 2 by tp = 2, no pipeline: every rank holds the whole stack. */
const PLAN: Candidate = { dp: 2, pp: 1, tp: 2, microBatchSize: 1, microbatches: 4, schedule: '1f1b', virtual: 1, zero: 0, recompute: 'none' };
const costed = (r: AutoPlan, c: Partial<Candidate> = {}) => r.evaluate({ ...PLAN, ...c })!;

// Per device at tp = 2: wte and head 32,768 each, w1 and w2 8,192 each per layer.
const PER_DEVICE = 2 * 32_768 + 4 * 2 * 8_192; // 131,072
const FROZEN_LARGE = 2 * 32_768 + 4 * 8_192; // wte, head and every layer's w1: 98,304 per device

describe('the search’s memory for a fine-tuning run', () => {
  const full = search(model(ADAMW), 4);
  const frozen = search(model(`${ADAMW}\n  freeze = ["wte", "head", "Layer.*.w1"]`), 4);

  // ΔM = F · (g / z_g + o / z_o): F frozen elements per device, g = 4 bytes of f32 gradient,
  // o = 8 bytes of AdamW moments (two f32; no master copy in f32), z_g = dp under ZeRO 2-3
  // else 1, z_o = dp under ZeRO 1-3 else 1. Parameters and activations do not change.
  it.each([
    [0, FROZEN_LARGE * (4 + 8)],
    [1, FROZEN_LARGE * (4 + 8 / 2)],
    [2, FROZEN_LARGE * (4 / 2 + 8 / 2)],
    [3, FROZEN_LARGE * (4 / 2 + 8 / 2)],
  ])('ZeRO-%i: the peak per device drops by exactly the frozen parameters’ gradients and AdamW moments (%i bytes)', (zero, bytes) => {
    expect(costed(full, { zero }).peakBytesPerDevice - costed(frozen, { zero }).peakBytesPerDevice).toBe(bytes);
  });

  it('the gradient reduction over dp and the update cover only what trains', () => {
    // dp = 2 inside one node (tp innermost): NVLink, 300e9 B/s at 0.8, 1 µs a hop. A ring all-reduce of
    // X bytes over dp moves 2(dp - 1)X/dp bytes in 2(dp - 1) hops; f32 gradients of the trained elements.
    const ring = (elems: number) => (2 * 1 * elems * 4) / 2 / (300e9 * 0.8) + 2 * 1e-6;
    const rel = (a: number, b: number) => Math.abs(a - b) / b;
    expect(rel(costed(full).dataParallelSeconds, ring(PER_DEVICE))).toBeLessThan(1e-12);
    expect(rel(costed(frozen).dataParallelSeconds, ring(PER_DEVICE - FROZEN_LARGE))).toBeLessThan(1e-12);
    // The AdamW update: 30 bytes of memory traffic per trained element at 2,039e9 B/s × 0.8.
    expect(rel(costed(frozen).optimizerSeconds, ((PER_DEVICE - FROZEN_LARGE) * 30) / (2039e9 * 0.8))).toBeLessThan(1e-12);
  });

  it('patterns are matched against the full stack’s names: freezing the last two layers is two layers’ state', () => {
    const last = search(model(`${ADAMW}\n  freeze = ["Layer.2.*", "Layer.3.*"]`), 4);
    expect(last.fineTuning).toEqual({ params: 196_608, trained: 196_608 - 2 * 2 * 16_384 });
    // Without a pipeline every rank holds them: 2 layers × 16,384 elements per device × 12 bytes.
    expect(costed(full).peakBytesPerDevice - costed(last).peakBytesPerDevice).toBe(2 * 16_384 * 12);
    // With two stages of two layers they live on the second rank only. The first holds as many
    // parameters and keeps two micro-batches in flight under 1F1B to the second's one, so it was
    // the peak already and stays so: nothing changes.
    const piped = { dp: 1, pp: 2, microbatches: 8 };
    expect(costed(last, piped).stageLayers).toEqual([2, 2]);
    expect(costed(last, piped).peakBytesPerDevice).toBe(costed(full, piped).peakBytesPerDevice);
  });

  it('SGD keeps one f32 moment: the drop is 4 + 4 bytes per frozen element', () => {
    const sgd = (extra: string) => search(model(`  optimizer = sgd(lr = 1e-2)${extra}`), 4);
    const drop = costed(sgd('')).peakBytesPerDevice - costed(sgd('\n  freeze = ["wte", "head", "Layer.*.w1"]')).peakBytesPerDevice;
    expect(drop).toBe(FROZEN_LARGE * (4 + 4));
  });

  it('mixed precision (precision = "bf16"): 2-byte gradients, and moments plus an f32 master copy, 12 bytes, per frozen element', () => {
    const bf16 = (extra: string) => search(model(`${ADAMW}\n  precision = "bf16"${extra}`), 4);
    const drop = costed(bf16('')).peakBytesPerDevice - costed(bf16('\n  freeze = ["wte", "head", "Layer.*.w1"]')).peakBytesPerDevice;
    expect(drop).toBe(FROZEN_LARGE * (2 + 12));
  });

  it('@lora: the base weights are frozen and the adapters train', () => {
    // Rank 4 on w1: A [64, 4] (256, whole), B [4, 256@tp] (1,024, 512 per device) per layer.
    const lora = search(model(ADAMW, ' @lora(rank = 4, alpha = 8)'), 4);
    expect(lora.fineTuning).toEqual({ params: 196_608 + 4 * 1_280, trained: 4 * 1_280 });
    // The same graph with every parameter trained (train_also = ["**"]): the base weights' state is the difference.
    const all = search(model(`${ADAMW}\n  train_also = ["**"]`, ' @lora(rank = 4, alpha = 8)'), 4);
    expect(all.fineTuning).toBeUndefined();
    expect(costed(all).peakBytesPerDevice - costed(lora).peakBytesPerDevice).toBe(PER_DEVICE * 12);
  });

  it('no pipeline stages are searched for a fine-tuning run (mdc refuses them, MDC0135)', () => {
    expect(frozen.result.winner!.pp).toBe(1);
    expect(frozen.result.runnerUp?.pp ?? 1).toBe(1);
    expect(frozen.lines[1]).toBe(
      '  fine-tuning: 65,536 of 196,608 parameters train (33.33%); only they hold gradients and optimizer state and are reduced over dp; ' +
        'no pipeline stages (fine-tuning with them is refused, MDC0135)',
    );
  });
});

describe('a memory cap only the fine-tuning run meets', () => {
  // One device, f32 AdamW, ZeRO 0: full training holds 16 bytes per parameter, 16Ψ = 3 MiB, before any
  // activation. Frozen wte, head and w1 (F = 131,072 of Ψ = 196,608) hold 4 bytes, the rest 16:
  // 4Ψ + 12(Ψ - F) = 1.5 MiB. The cap sits halfway between the two, 1.5 MiB + 6F = 2.25 MiB; the
  // activations of this model (32 tokens of width ≤ 512 per micro-batch) stay far below the 0.75 MiB left.
  const F = 131_072;
  const cap = 4 * 196_608 + 12 * (196_608 - F) + 6 * F;

  it('is refused for full training and met by the fine-tuning run', () => {
    expect(cap).toBe(2.25 * 2 ** 20);
    expect(() => search(model(ADAMW), 1, cap)).toThrow(AutoPlanError);
    expect(() => search(model(ADAMW), 1, cap)).toThrow(/no plan of 1 devices fits in 2\.25 MiB per device/);
    const r = search(model(`${ADAMW}\n  freeze = ["wte", "head", "Layer.*.w1"]`), 1, cap);
    expect(r.result.winner!.peakBytesPerDevice).toBeGreaterThanOrEqual(4 * 196_608 + 12 * (196_608 - F));
    expect(r.result.winner!.peakBytesPerDevice).toBeLessThanOrEqual(cap);
  });
});

describe('mdc plan --auto --devices with freeze patterns', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mdc-auto-finetune-'));
  const write = (name: string, source: string) => {
    const file = join(dir, `${name}.model`);
    writeFileSync(file, source);
    return file;
  };

  it('a pattern naming a layer the stack does not have is MDC0530, as mdc check and mdc train say', async () => {
    const file = write('missing', model(`${ADAMW}\n  freeze = ["Layer.7.*"]`));
    const r = await mdc('plan', file, '--auto', '--devices', '4', '--hardware', 'a100-80gb');
    expect(r.code).toBe(1);
    expect(r.err).toContain(
      "missing.model:19:13: error MDC0530: freeze pattern 'Layer.7.*' matches no parameter of Tiny (parameters include wte, head, Layer.0.w1, Layer.1.w1, …)",
    );
  });

  it('JSON carries the fine-tuning counts and the plan', async () => {
    const file = write('tuned', model(`${ADAMW}\n  freeze = ["Layer.0.*"]`));
    const r = await mdc('plan', file, '--auto', '--devices', '4', '--hardware', 'a100-80gb', '--json');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out) as { fineTuning: unknown; winner: { mesh: { pp: number } } };
    // Layer 0's w1 and w2: 2 × 16,384 of 196,608 elements frozen.
    expect(j.fineTuning).toEqual({ params: 196_608, trained: 196_608 - 32_768 });
    expect(j.winner.mesh.pp).toBe(1);
  });
});
