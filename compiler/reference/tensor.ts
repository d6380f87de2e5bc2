/** The CPU reference's tensors moved to compiler/ops/tensor.ts (an op's reference is one of its facets). */
export type { RefTensor } from '../ops/tensor.js';
