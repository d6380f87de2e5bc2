import type { Graph, Node } from '../../../compiler/ir.js';
import type { Kernel } from '../../kir/ir.js';
import { toSpec } from '../../kir/wgsl.js';
import type { KernelSpec, KernelTarget } from '../kernel.js';
import { chooseConfig, invalidReason, type MatmulConfig } from './config.js';
import { fusedEpilogue, type EpilogueOf } from './epilogue.js';
import { gemvKernel, plainKernel, subgroupKernel, tiledKernel } from './kernels.js';
import { matmulShape, type MatmulIO, type MatmulShape } from './shape.js';

/**
 * The kernel of configuration `c` for a matmul of shape `s` (c must be valid for it: see
 * invalidReason), storing through `epilogue` (default: the product into io.out).
 */
export function matmulKernelFor(s: MatmulShape, io: MatmulIO, c: MatmulConfig, target: KernelTarget, epilogue?: EpilogueOf): Kernel {
  const why = invalidReason(c, s, target);
  if (why)
    throw new Error(
      `matmul configuration ${JSON.stringify(c)} does not fit [${s.M}, ${s.K}] @ ${s.transB ? `transpose([${s.N}, ${s.K}])` : `[${s.K}, ${s.N}]`}: ${why}`,
    );
  switch (c.kind) {
    case 'plain':
      return plainKernel(s, io, epilogue);
    case 'tiled':
      return tiledKernel(s, io, c, epilogue);
    case 'subgroup':
      return subgroupKernel(s, io, c, target.subgroupSize!, epilogue);
    case 'gemv':
      return gemvKernel(s, io, c.wg, epilogue);
  }
}

/**
 * Batched matmul with broadcast batch dims, in the configuration `chooseConfig` picks for
 * the target; a fused matmul node (compiler/fusion) applies its epilogue before the store.
 */
export function matmulKernel(node: Node, g: Graph, target: KernelTarget): KernelSpec {
  const { shape, io } = matmulShape(node, g);
  const epilogue = node.op === 'fused' ? fusedEpilogue(node, g, shape, target.f16Values) : undefined;
  return toSpec(matmulKernelFor(shape, io, chooseConfig(shape, target), target, epilogue), target);
}
