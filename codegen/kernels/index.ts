import { asOneStep } from '../../compiler/fusion/fuse.js';
import type { Graph, Node } from '../../compiler/ir.js';
import type { KernelKind } from '../../compiler/ops/op.js';
import { elementwiseOf, facetsOf, INTERNAL_OPS, OPS } from '../../compiler/ops/registry.js';
import { rowKernelApplies, rowLength, rowsShareable } from './rows.js';
import { dropoutKernel } from './elementwise.js';
import { fusedElementwiseKernel } from './fused/elementwise.js';
import { fusedRowsKernel } from './fused/rows.js';
import { toSpec } from '../kir/wgsl.js';
import {
  attentionGradKernels,
  conv2dGradKernels,
  crossEntropyGradKernel,
  embeddingGradKernel,
  minmaxGradKernel,
  moeCombineGradKernels,
  patchifyGradKernel,
  reduceGradKernel,
  sliceGradKernel,
  topkGradKernel,
  unaryGradKernel,
} from './grad.js';
import { allFiniteKernel, roundToKernel } from './precision.js';
import type { KernelGen } from './kernel.js';

import { concatKernels, sliceKernel, transposeKernel } from './layout.js';
import { matmulKernel } from './matmul/index.js';
import { attentionKernel } from './attention.js';
import { relativeBiasGradKernel, relativeBiasKernel } from './relative.js';
import { decodeAttentionKernel, kvWriteKernel } from './decode.js';
import { conv2dKernel, embeddingKernel, moeCombineKernel, moeDispatchKernel, patchifyKernel, rotaryKernel, topkKernel } from './nn.js';
import { crossEntropyKernel, normKernel, reduceKernel, softmaxKernel } from './reduce.js';

/** An element-wise op: the fused element-wise kernel with one step. */
const elementwiseKernel: KernelGen = (node, g, target) => toSpec(fusedElementwiseKernel(asOneStep(g, node), g), target);

/** Fused groups (compiler/fusion/fuse.ts): a matmul with its epilogue, an element-wise body, or reductions over rows with theirs. */
const fusedKernel: KernelGen = (node, g, target) => {
  const kind = node.body!.kind;
  return kind === 'matmul'
    ? matmulKernel(node, g, target)
    : toSpec(kind === 'rows' ? fusedRowsKernel(node, g, target) : fusedElementwiseKernel(node, g), target);
};

/**
 * A kernel kind's generator, and whether its kernels take f16 storage from
 * KernelTarget.f16Values: kernel-IR kernels, whose printer converts, and attention, the
 * layout copies and the embedding gather, whose templates do; `rows`: when the node
 * reduces the last axis, and so gets a kernel-IR row kernel (rows.ts) instead of a
 * string kernel; a function: per node.
 */
export interface KernelEntry {
  readonly gen: KernelGen;
  readonly half: boolean | 'rows' | ((n: Node) => boolean);
}

/** The generator of each kernel kind an op names (its `kernel` facet, compiler/ops/op.ts). */
export const KERNEL_KINDS: Readonly<Record<Exclude<KernelKind, 'alias' | 'collective'>, KernelEntry>> = {
  elementwise: { gen: elementwiseKernel, half: true },
  // Training dropout draws its mask by the element's index: a kernel of its own; otherwise the identity's body.
  dropout: {
    gen: (node, g, target) => (elementwiseOf(node.op, node.attrs) ? elementwiseKernel(node, g, target) : dropoutKernel(node, g, target)),
    half: (n) => !!elementwiseOf(n.op, n.attrs),
  },
  matmul: { gen: matmulKernel, half: true },
  reduce: { gen: reduceKernel, half: 'rows' },
  softmax: { gen: softmaxKernel, half: 'rows' },
  norm: { gen: normKernel, half: 'rows' },
  cross_entropy: { gen: crossEntropyKernel, half: false },
  transpose: { gen: transposeKernel, half: true },
  slice: { gen: sliceKernel, half: true },
  concat: { gen: concatKernels, half: true },
  embedding: { gen: embeddingKernel, half: true },
  rotary: { gen: rotaryKernel, half: false },
  attention: { gen: attentionKernel, half: true },
  relative_position_bias: { gen: relativeBiasKernel, half: false },
  topk: { gen: topkKernel, half: false },
  moe_dispatch: { gen: moeDispatchKernel, half: false },
  moe_combine: { gen: moeCombineKernel, half: false },
  patchify: { gen: patchifyKernel, half: false },
  conv2d: { gen: conv2dKernel, half: false },
  round_to: { gen: roundToKernel, half: false },
  all_finite: { gen: allFiniteKernel, half: false },
  unary_grad: { gen: unaryGradKernel, half: false },
  minmax_grad: { gen: minmaxGradKernel, half: false },
  reduce_grad: { gen: reduceGradKernel, half: false },
  embedding_grad: { gen: embeddingGradKernel, half: false },
  topk_grad: { gen: topkGradKernel, half: false },
  slice_grad: { gen: sliceGradKernel, half: false },
  cross_entropy_grad: { gen: crossEntropyGradKernel, half: false },
  attention_grad: { gen: attentionGradKernels, half: false },
  relative_position_bias_grad: { gen: relativeBiasGradKernel, half: false },
  patchify_grad: { gen: patchifyGradKernel, half: false },
  conv2d_grad: { gen: conv2dGradKernels, half: false },
  moe_combine_grad: { gen: moeCombineGradKernels, half: false },
  kv_write: { gen: kvWriteKernel, half: false },
  attention_decode: { gen: decodeAttentionKernel, half: false },
};

const FUSED: KernelEntry = { gen: fusedKernel, half: true };

/** The kernel entry of a node of op `op`: its op's kernel kind, or a fused node's; undefined for ops without a kernel (reshape aliases its input's buffer; collectives are runtime steps). */
function entryOf(op: string): KernelEntry | undefined {
  if (op === 'fused') return FUSED;
  const kind = facetsOf(op)?.kernel;
  return kind === undefined || kind === 'alias' || kind === 'collective' ? undefined : KERNEL_KINDS[kind];
}

/** The kernel generator of every op that has one, from the op registry's kernel facets (and `fused`). */
export const KERNELS: ReadonlyMap<string, KernelGen> = new Map(
  [...OPS.keys(), ...INTERNAL_OPS.keys(), 'fused'].flatMap((op) => {
    const e = entryOf(op);
    return e ? [[op, e.gen] as const] : [];
  }),
);

/** Whether `n`'s kernel reads and writes f16 storage for the values the plan stores as f16 (codegen/plan.ts f16Values). */
export function storesHalf(n: Node, g: Graph): boolean {
  const e = entryOf(n.op);
  if (!e) return false;
  return e.half === 'rows' ? rowKernelApplies(n, g) : typeof e.half === 'function' ? e.half(n) : e.half;
}

/**
 * Whether any of `g`'s kernels is a row kernel (rows.ts) whose rows are long enough for
 * the threshold the tuner times (codegen/tune/rows.ts) to matter.
 */
export function usesRowKernels(g: Graph): boolean {
  return g.nodes.some((n) => {
    const len = n.body?.kind === 'rows' || entryOf(n.op)?.half === 'rows' ? rowLength(n, g) : undefined;
    return len !== undefined && rowsShareable(len);
  });
}
