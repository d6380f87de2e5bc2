import { elementwiseOps } from './elementwise.js';
import { linalgOps } from './linalg.js';
import { nnOps } from './nn.js';
import { normOps } from './norm.js';
import { reduceOps } from './reduce.js';
import { shapeOps } from './shape.js';
import type { OpDef } from './signature.js';

export const OPS: ReadonlyMap<string, OpDef> = new Map(
  [...elementwiseOps, ...linalgOps, ...reduceOps, ...normOps, ...shapeOps, ...nnOps].map((o) => [o.name, o]),
);

/** Binary operators of the surface language and the ops they mean. */
export const OPERATOR_OPS = { '+': 'add', '-': 'sub', '*': 'mul', '/': 'div', '@': 'matmul', '**': 'pow' } as const;
