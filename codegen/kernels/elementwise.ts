import type { Graph, Node } from '../../compiler/ir.js';
import { broadcastOffset, f32, kernel, shapeOf, type KernelSpec } from './kernel.js';

/** Counter-based hash for dropout masks; the CPU reference uses the same function. */
const HASH = `fn hash_u32(x: u32) -> u32 {
  var h = x;
  h = h ^ (h >> 16u);
  h = h * 0x7feb352du;
  h = h ^ (h >> 15u);
  h = h * 0x846ca68bu;
  h = h ^ (h >> 16u);
  return h;
}`;

/**
 * Training dropout: each element kept with probability 1 − p by a hash of its index in
 * the output and the node's seed, scaled by 1 / (1 − p). Every other element-wise op
 * (and dropout outside training) is a one-step fused body (fused/elementwise.ts).
 */
export function dropoutKernel(node: Node, g: Graph): KernelSpec {
  const out = g.values[node.outputs[0]!]!;
  const x = g.values[node.inputs[0]!]!;
  const outShape = shapeOf(out);
  const n = outShape.reduce((a, b) => a * b, 1);
  const p = node.attrs['p'] as number;
  const threshold = Math.min(4294967295, Math.floor(p * 4294967296));
  const seed = ((node.attrs['seed'] as number) * 0x9e3779b1 + ((node.attrs['mask_id'] as number | undefined) ?? node.id) * 0x85ebca6b) >>> 0;
  const binds = [{ name: 'in0', access: 'read' as const, value: x }, { name: 'out', access: 'read_write' as const, value: out }];
  const body = `${broadcastOffset('o0', 'i', outShape, shapeOf(x))}\nlet keep = hash_u32(i ^ ${seed >>> 0}u) >= ${threshold >>> 0}u;\nout[i] = select(0.0, in0[o0] * ${f32(1 / (1 - p))}, keep);`;
  return kernel(node.op, binds, body, n, 256, HASH);
}
