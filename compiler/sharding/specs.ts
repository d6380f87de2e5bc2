import type { Node } from '../ir.js';
import { facetsOf } from '../ops/registry.js';
import { wholeAll, type OpSpec, type Shapes } from '../ops/sharding.js';

/**
 * The sharding signature of one node, from its op's `sharding` facet (compiler/ops),
 * its attributes and global shapes. A node of no op of the registry gets the safe
 * signature: everything whole.
 */
export function opSpec(node: Pick<Node, 'op' | 'attrs'>, inShapes: Shapes, outShapes: Shapes): OpSpec {
  const facets = facetsOf(node.op);
  return facets ? facets.sharding(node.attrs, inShapes, outShapes) : wholeAll(inShapes, outShapes, `${node.op} has no sharding rule`);
}
