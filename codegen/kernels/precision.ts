import type { Graph, Node } from '../../compiler/ir.js';
import { kernel, shapeOf, sizeOf, u32, type KernelSpec } from './kernel.js';

/**
 * Mixed precision on a device that stores every float as f32: `round_to` keeps an f32
 * but rounds it to bfloat16 or half precision (nearest even, with f16 overflow to
 * ±Infinity and subnormals below 2^-14), so the numerics are those of low-precision
 * storage with f32 accumulation. `all_finite` is the loss scaler's overflow test.
 */
export function roundToKernel(node: Node, g: Graph): KernelSpec {
  const x = g.values[node.inputs[0]!]!;
  const out = g.values[node.outputs[0]!]!;
  const bf16 = node.attrs['dtype'] !== 'f16';
  const body = bf16
    ? [
      'let x = src[i];',
      'let b = bitcast<u32>(x);',
      'if ((b & 0x7f800000u) == 0x7f800000u) { out[i] = x; return; }',
      'out[i] = bitcast<f32>((b + 0x7fffu + ((b >> 16u) & 1u)) & 0xffff0000u);',
    ]
    : [
      'let x = src[i];',
      'let b = bitcast<u32>(x);',
      'if ((b & 0x7f800000u) == 0x7f800000u) { out[i] = x; return; }',
      'var y: f32;',
      // Below 2^-14 the quantum is 2^-24 (subnormal halves); WGSL round() ties to even.
      'if (abs(x) < 6.103515625e-5) { y = round(x * 16777216.0) / 16777216.0; }',
      'else { y = bitcast<f32>((b + 0xfffu + ((b >> 13u) & 1u)) & 0xffffe000u); }',
      'if (abs(y) > 65504.0) { y = bitcast<f32>((bitcast<u32>(y) & 0x80000000u) | 0x7f800000u); }',
      'out[i] = y;',
    ];
  return kernel(`round_to_${bf16 ? 'bf16' : 'f16'}`, [{ name: 'src', access: 'read', value: x }, { name: 'out', access: 'read_write', value: out }], body.join('\n'), sizeOf(shapeOf(x)));
}

export function allFiniteKernel(node: Node, g: Graph): KernelSpec {
  const x = g.values[node.inputs[0]!]!;
  const out = g.values[node.outputs[0]!]!;
  const n = sizeOf(shapeOf(x));
  const body = [
    'if (i > 0u) { return; }',
    'var ok = 1.0;',
    `for (var k = 0u; k < ${u32(n)}; k = k + 1u) {`,
    '  if ((bitcast<u32>(src[k]) & 0x7f800000u) == 0x7f800000u) { ok = 0.0; }',
    '}',
    'out[0] = ok;',
  ].join('\n');
  return kernel('all_finite', [{ name: 'src', access: 'read', value: x }, { name: 'out', access: 'read_write', value: out }], body, 1);
}
