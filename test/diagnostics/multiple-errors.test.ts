import { describe, expect, it } from 'vitest';
import { check } from '../../compiler/compile.js';

const lines = (src: string) => check(src, 'm.model').diagnostics.map((d) => `${d.span.line}:${d.span.col} ${d.code} ${d.message}`);

describe('several semantic errors in one body', () => {
  it('reports independent mistakes, and none that follow from an earlier one', () => {
    const src = [
      'model M(x: f32[4, 8]) -> f32[4, 8] {',
      '  let a = x @ x', // MDC0203
      '  let b = a + 1.0', // depends on a: silent
      '  let c = softmax(x, axis = 5)', // MDC0204, independent
      '  let e = relu(q)', // MDC0101, independent
      '  return x + b', // depends on b: silent
      '}',
    ].join('\n');
    expect(lines(src)).toEqual([
      '2:11 MDC0203 matmul contraction dims differ: f32[4, 8] @ f32[4, 8] (8 ≠ 4)',
      '4:11 MDC0204 softmax: axis 5 is out of range for a tensor of rank 2',
      "5:16 MDC0101 unknown name 'q'",
    ]);
  });

  it('a rebinding repairs a poisoned name', () => {
    const src = ['model M(x: f32[4, 8]) -> f32[4, 8] {', '  let a = x @ x', '  a = x * 2.0', '  return a + y', '}'].join('\n');
    expect(lines(src)).toEqual(['2:11 MDC0203 matmul contraction dims differ: f32[4, 8] @ f32[4, 8] (8 ≠ 4)', "4:14 MDC0101 unknown name 'y'"]);
  });
});
