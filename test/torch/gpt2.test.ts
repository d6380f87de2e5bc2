import { endToEnd } from './e2e.js';

/**
 * Issue 17's end-to-end case: samples/gpt2.model --preset tiny (2 layers, width 128) exported
 * for [dp: 2, tp: 4] runs as 8 ranks on loopback: forward pass, then 3 AdamW steps with ZeRO-1
 * and 2 micro-batches, against mdc's float64 CPU reference (test/torch/e2e.ts).
 */
endToEnd({
  title: 'mdc export --target torch: GPT-2 tiny on [dp: 2, tp: 4], 8 ranks',
  file: 'samples/gpt2.model',
  preset: 'tiny',
  mesh: 'dp=2,tp=4',
  steps: 3,
  // f32 against float64 through 2 layers (sums of 128-512 terms) and the 128-wide vocabulary
  // projection, logits up to 1.35: measured 5.9e-7, bound 1e-5.
  forwardTol: 1e-5,
  // Parameters and AdamW's moments after 3 steps (lr 3e-4): AdamW divides each gradient by its
  // own running RMS, so f32 noise in the tiniest gradients moves an element by up to lr a step.
  // Measured worst 1.2e-5 (wpe), bound 1e-4 (a third of one step's largest move).
  paramTol: 1e-4,
  kinds: ['all_reduce', 'reduce_scatter', 'all_gather'],
});
