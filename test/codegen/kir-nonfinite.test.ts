/**
 * How the WGSL printer writes non-finite constants and float max/min (docs/kernels.md,
 * "NaN and infinity"), without a GPU: ±Infinity and NaN are read at run time from a
 * private's bits (WGSL refuses them as constant expressions), every f32 max or min goes
 * through a helper that returns the NaN operand, integer ones stay WGSL's, and a module
 * constant that would need a run-time value is refused when the kernel is printed.
 */
import { describe, expect, it } from 'vitest';
import { Block } from '../../codegen/kir/build.js';
import { f, i, max, min, ref, splat, subgroupMax, vec4f, type Kernel } from '../../codegen/kir/ir.js';
import { f32Literal, printWgsl } from '../../codegen/kir/wgsl.js';

const kernel = (build: (b: Block) => void, consts: Kernel['consts'] = []): string => {
  const b = new Block();
  build(b);
  return printWgsl({ name: 't', doc: [], enables: [], consts, buffers: [], shared: [], workgroupSize: [1, 1, 1], dispatch: [1, 1, 1], body: b.stmts });
};

describe('non-finite values and NaN-propagating max/min in WGSL', () => {
  it('prints ±Infinity and NaN from the bits of one private, declared once', () => {
    const text = kernel((b) => {
      b.var('lo', 'f32', f(-Infinity));
      b.var('hi', 'f32', f(Infinity));
      b.var('nan', 'f32', f(NaN));
    });
    expect(text).toBe(
      [
        '// mdc kernel: t',
        'var<private> mdc_inf_bits: u32 = 0x7f800000u;',
        '@compute @workgroup_size(1)',
        'fn main() {',
        '  var lo = bitcast<f32>(mdc_inf_bits | 0x80000000u);',
        '  var hi = bitcast<f32>(mdc_inf_bits);',
        '  var nan = bitcast<f32>(mdc_inf_bits | 0x400000u);',
        '}',
        '',
      ].join('\n'),
    );
    expect(() => f32Literal(Infinity)).toThrow('kir: Infinity has no WGSL literal (a non-finite constant expression is a shader-creation error)');
  });

  it('writes f32 and vec4<f32> max/min through helpers that test the bits, and leaves integer ones alone', () => {
    const a = ref('a', 'f32');
    const v = ref('v', vec4f);
    const n = ref('n', 'i32');
    const text = kernel((b) => {
      b.let('m', max(a, f(0)));
      b.let('w', min(v, splat(vec4f, f(1))));
      b.let('k', max(n, i(3)));
      b.let('s', subgroupMax(a));
    });
    expect(text.split('\n').filter((l) => l.startsWith('fn mdc_') || l.startsWith('  let'))).toEqual([
      'fn mdc_isnan_f32(x: f32) -> bool { return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u; }',
      'fn mdc_max_f32(a: f32, b: f32) -> f32 { return select(select(max(a, b), b, mdc_isnan_f32(b)), a, mdc_isnan_f32(a)); }',
      'fn mdc_isnan_vec4f(x: vec4<f32>) -> vec4<bool> { return (bitcast<vec4<u32>>(x) & vec4<u32>(0x7fffffffu)) > vec4<u32>(0x7f800000u); }',
      'fn mdc_min_vec4f(a: vec4<f32>, b: vec4<f32>) -> vec4<f32> { return select(select(min(a, b), b, mdc_isnan_vec4f(b)), a, mdc_isnan_vec4f(a)); }',
      'fn mdc_subgroupMax_f32(v: f32) -> f32 { return select(subgroupMax(v), bitcast<f32>(mdc_inf_bits | 0x400000u), subgroupMax(select(0u, 1u, mdc_isnan_f32(v))) != 0u); }',
      '  let m = mdc_max_f32(a, 0.0);',
      '  let w = mdc_min_vec4f(v, vec4<f32>(1.0));',
      '  let k = max(n, 3);',
      '  let s = mdc_subgroupMax_f32(a);',
    ]);
  });

  it('refuses a module constant that needs a run-time value', () => {
    expect(() => kernel(() => {}, [{ name: 'LOW', value: f(-Infinity) }])).toThrow('kir: constant LOW of kernel t needs run-time values (mdc_inf_bits)');
  });
});
