import type { Graph, Node } from '../../compiler/ir.js';
import { abs, bitcast, bits as mask, call, f, u, type Expr } from '../kir/ir.js';
import { toSpec } from '../kir/wgsl.js';
import { flatKernel, read, shapeOf, write, type KernelSpec, type KernelTarget } from './kernel.js';
import { numel } from '../../layout/mesh.js';

/** Whether the f32 whose bits are `bits` is ±Infinity or NaN (all exponent bits set). */
const nonFinite = (bits: Expr) => bits.bitAnd(mask(0x7f800000)).eq(mask(0x7f800000));

/**
 * Mixed precision on a device that stores every float as f32: `round_to` keeps an f32
 * but rounds it to bfloat16 or half precision (nearest even, with f16 overflow to
 * ±Infinity and subnormals below 2^-14), so the numerics are those of low-precision
 * storage with f32 accumulation. `all_finite` is the loss scaler's overflow test.
 */
export function roundToKernel(node: Node, g: Graph, target: KernelTarget = {}): KernelSpec {
  const x = g.values[node.inputs[0]!]!;
  const out = g.values[node.outputs[0]!]!;
  const bf16 = node.attrs['dtype'] !== 'f16';
  const dtype = bf16 ? 'bf16' : 'f16';
  return toSpec(
    flatKernel(
      `round_to_${dtype}`,
      `f32 rounded to ${dtype} (nearest even) over ${numel(shapeOf(x))} elements`,
      [read('src', x), write('out', out)],
      numel(shapeOf(x)),
      (b, i, { src, out: o }) => {
        const v = b.let('x', src.at(i));
        const bits = b.let('b', bitcast('u32', v));
        b.if(nonFinite(bits), (t) => {
          t.set(o.at(i), v);
          t.return();
        });
        // Adding half a unit in the last kept place, plus its low bit, rounds to nearest even.
        const nearest = (drop: number) =>
          bitcast(
            'f32',
            bits
              .add(mask(2 ** (drop - 1) - 1))
              .add(bits.shr(drop).bitAnd(1))
              .bitAnd(mask((0xffffffff << drop) >>> 0)),
          );
        if (bf16) {
          b.set(o.at(i), nearest(16));
          return;
        }
        const y = b.var('y', 'f32');
        // Below 2^-14 the quantum is 2^-24 (subnormal halves); WGSL round() ties to even.
        b.if(
          abs(v).lt(f(6.103515625e-5)),
          (t) => t.set(y, call('round', 'f32', v.mul(f(16777216))).div(f(16777216))),
          (e) => e.set(y, nearest(13)),
        );
        b.if(abs(y).gt(f(65504)), (t) => t.set(y, bitcast('f32', bitcast('u32', y).bitAnd(mask(0x80000000)).bitOr(mask(0x7f800000)))));
        b.set(o.at(i), y);
      },
    ),
    target,
  );
}

/** 1.0 when every element of the input is finite, else 0.0: one invocation over the whole tensor. */
export function allFiniteKernel(node: Node, g: Graph, target: KernelTarget = {}): KernelSpec {
  const x = g.values[node.inputs[0]!]!;
  const out = g.values[node.outputs[0]!]!;
  const n = numel(shapeOf(x));
  return toSpec(
    flatKernel(
      'all_finite',
      `whether all ${n} elements are finite, one invocation`,
      [read('src', x), write('out', out)],
      1,
      (b, _, { src, out: o }) => {
        const ok = b.var('ok', 'f32', f(1));
        b.for('k', 0, n, (k, l) => l.if(nonFinite(bitcast('u32', src.at(k))), (t) => t.set(ok, f(0))));
        b.set(o.at(u(0)), ok);
      },
      1,
    ),
    target,
  );
}
