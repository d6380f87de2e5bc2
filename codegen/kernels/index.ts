import { asOneStep, FUSIBLE_ELEMENTWISE, isTrainingDropout } from '../../compiler/fusion/fuse.js';
import type { Graph, Node } from '../../compiler/ir.js';
import { rowKernelApplies, rowLength, rowsShareable } from './rows.js';
import { dropoutKernel } from './elementwise.js';
import { fusedElementwiseKernel } from './fused/elementwise.js';
import { fusedRowsKernel } from './fused/rows.js';
import { toSpec } from '../kir/wgsl.js';
import {
  attentionGradKernels, conv2dGradKernels, crossEntropyGradKernel, embeddingGradKernel, minmaxGradKernel, moeCombineGradKernels, patchifyGradKernel,
  reduceGradKernel, sliceGradKernel, topkGradKernel, unaryGradKernel,
} from './grad.js';
import { allFiniteKernel, roundToKernel } from './precision.js';
import type { KernelGen } from './kernel.js';
import { concatKernels, sliceKernel, transposeKernel } from './layout.js';
import { matmulKernel } from './matmul/index.js';
import { attentionKernel } from './attention.js';
import { conv2dKernel, embeddingKernel, moeCombineKernel, moeDispatchKernel, patchifyKernel, rotaryKernel, topkKernel } from './nn.js';
import { crossEntropyKernel, normKernel, reduceKernel, softmaxKernel } from './reduce.js';

/** An element-wise op: the fused element-wise kernel with one step, except training dropout. */
const elementwiseKernel: KernelGen = (node, g, target) => (isTrainingDropout(node) ? dropoutKernel(node, g) : toSpec(fusedElementwiseKernel(asOneStep(g, node), g), target));

/** Fused groups (compiler/fusion/fuse.ts): a matmul with its epilogue, an element-wise body, or reductions over rows with theirs. */
const fusedKernel: KernelGen = (node, g, target) => {
  const kind = node.body!.kind;
  return kind === 'matmul' ? matmulKernel(node, g, target) : toSpec(kind === 'rows' ? fusedRowsKernel(node, g, target) : fusedElementwiseKernel(node, g), target);
};

/** The kernel generator of every op that has one; `reshape` has none (it aliases its input's buffer). */
export const KERNELS: ReadonlyMap<string, KernelGen> = new Map<string, KernelGen>([
  ...[...FUSIBLE_ELEMENTWISE].map((op) => [op, elementwiseKernel] as [string, KernelGen]),
  ['matmul', matmulKernel],
  ['fused', fusedKernel],
  ['sum', reduceKernel], ['mean', reduceKernel], ['max', reduceKernel], ['min', reduceKernel],
  ['softmax', softmaxKernel], ['log_softmax', softmaxKernel],
  ['layer_norm', normKernel], ['rms_norm', normKernel],
  ['cross_entropy', crossEntropyKernel],
  ['transpose', transposeKernel], ['slice', sliceKernel], ['concat', concatKernels],
  ['embedding', embeddingKernel], ['rotary', rotaryKernel], ['attention', attentionKernel],
  ['topk', topkKernel], ['moe_dispatch', moeDispatchKernel], ['moe_combine', moeCombineKernel], ['patchify', patchifyKernel], ['conv2d', conv2dKernel],
  // Backward-only ops (compiler/autodiff/grad.ts).
  ['round_to', roundToKernel], ['all_finite', allFiniteKernel],
  ['unary_grad', unaryGradKernel], ['minmax_grad', minmaxGradKernel], ['reduce_grad', reduceGradKernel], ['embedding_grad', embeddingGradKernel],
  ['topk_grad', topkGradKernel], ['slice_grad', sliceGradKernel], ['cross_entropy_grad', crossEntropyGradKernel], ['attention_grad', attentionGradKernels],
  ['patchify_grad', patchifyGradKernel], ['conv2d_grad', conv2dGradKernels], ['moe_combine_grad', moeCombineGradKernels],
]);

/**
 * Generators whose kernels take f16 storage from KernelTarget.f16Values: kernel-IR
 * kernels, whose printer converts, and attention, the layout copies and the embedding
 * gather, whose templates do.
 */
const HALF_KERNELS: ReadonlySet<KernelGen> = new Set([matmulKernel, fusedKernel, attentionKernel, transposeKernel, sliceKernel, concatKernels, embeddingKernel]);
/** Generators that use a kernel-IR row kernel when the node reduces the last axis (rows.ts), else a string kernel. */
const ROW_KERNELS: ReadonlySet<KernelGen> = new Set([reduceKernel, softmaxKernel, normKernel]);

/** Whether `n`'s kernel reads and writes f16 storage for the values the plan stores as f16 (codegen/plan.ts f16Values). */
export function storesHalf(n: Node, g: Graph): boolean {
  const gen = KERNELS.get(n.op);
  if (!gen) return false;
  if (gen === elementwiseKernel) return !isTrainingDropout(n);
  return HALF_KERNELS.has(gen) || (ROW_KERNELS.has(gen) && rowKernelApplies(n, g));
}

/**
 * Whether any of `g`'s kernels is a row kernel (rows.ts) whose rows are long enough for
 * the threshold the tuner times (codegen/tune/rows.ts) to matter.
 */
export function usesRowKernels(g: Graph): boolean {
  return g.nodes.some((n) => {
    const gen = KERNELS.get(n.op);
    const len = n.body?.kind === 'rows' || (gen !== undefined && ROW_KERNELS.has(gen)) ? rowLength(n, g) : undefined;
    return len !== undefined && rowsShareable(len);
  });
}
