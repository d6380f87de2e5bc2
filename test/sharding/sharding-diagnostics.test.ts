import { describe, expect, it } from 'vitest';
import { check, lower } from '../../compiler/compile.js';
import { formatDiagnostic } from '../../diagnostics/format.js';

/**
 * Broken sharding programs and the exact diagnostics they get: the first line of
 * `formatDiagnostic`. Every case lists all its diagnostics. Each expected line was read
 * and judged (does it point at the annotation, name the layouts involved, say why)
 * before it was written down.
 */

interface Case {
  readonly name: string;
  readonly via?: 'lower';
  readonly mesh?: readonly { readonly name: string; readonly size: number }[];
  readonly source: string;
  readonly expect: readonly string[];
}

const cases: Case[] = [
  {
    name: 'param split not dividing',
    source: `
mesh M = [tp: 4]
model T(x: f32[2, 10]) -> f32[2, 6] {
  param w: f32[10, 6@tp] = normal(0, 1)
  return x @ w
}
`,
    expect: ['broken.model:3:20: error MDC0402: dim 6 of f32[10, 6@tp] is not divisible by tp (4 devices)'],
  },
  {
    name: 'input batch not divisible at concrete dims',
    source: `
mesh M = [dp: 2]
model T(x: f32[B@dp, 8]) -> f32[B, 8] where B = 3 {
  return relu(x)
}
`,
    expect: ['broken.model:2:16: error MDC0402: dim 3 of f32[B@dp, 8] is not divisible by dp (2 devices)'],
  },
  {
    name: 'unknown axis',
    source: `
mesh M = [dp: 2, tp: 4]
model T(x: f32[8, 8]) -> f32[8, 8] {
  param w: f32[8, 8@tq] = normal(0, 1)
  return x @ w
}
`,
    expect: ["broken.model:3:21: error MDC0403: unknown mesh axis 'tq': the meshes have dp, tp; did you mean 'tp'?"],
  },
  {
    name: 'no mesh',
    source: `
model T(x: f32[8@dp, 8]) -> f32[8, 8] {
  return relu(x)
}
`,
    expect: ["broken.model:1:18: error MDC0403: unknown mesh axis 'dp': no mesh is declared"],
  },
  {
    name: 'axis splits two dims',
    source: `
mesh M = [tp: 4]
model T(x: f32[8, 8]) -> f32[8, 8] {
  param w: f32[8@tp, 8@tp] = normal(0, 1)
  return x @ w
}
`,
    expect: ["broken.model:3:24: error MDC0401: mesh axis 'tp' splits more than one dim of f32[8@tp, 8@tp]"],
  },
  {
    name: 'axis twice on one dim',
    source: `
mesh M = [tp: 2]
model T(x: f32[8@(tp, tp), 8]) -> f32[8, 8] {
  return relu(x)
}
`,
    expect: ["broken.model:2:23: error MDC0404: mesh axis 'tp' is listed twice for dim 8"],
  },
  {
    name: 'partial param',
    source: `
mesh M = [tp: 2]
model T(x: f32[8, 8]) -> f32[8, 8] {
  param w: f32[8, 8] partial(tp) = normal(0, 1)
  return x @ w
}
`,
    expect: ['broken.model:3:30: error MDC0406: a parameter holds whole values and cannot be partial: f32[8, 8] partial(tp)'],
  },
  {
    name: 'partial model input',
    source: `
mesh M = [tp: 2]
model T(x: f32[8, 8] partial(tp)) -> f32[8, 8] {
  return relu(x)
}
`,
    expect: ['broken.model:2:30: error MDC0406: a model input holds whole values and cannot be partial: f32[8, 8] partial(tp)'],
  },
  {
    name: 'split and partial same axis',
    source: `
mesh M = [tp: 2]
block B(x: f32[8, 8]) -> f32[8@tp, 8] partial(tp) {
  return x
}
model T(x: f32[8, 8]) -> f32[8, 8] {
  return B(x)
}
`,
    expect: ["broken.model:2:47: error MDC0407: mesh axis 'tp' both splits a dim and is partial in f32[8@tp, 8] partial(tp)"],
  },
  {
    name: 'partial twice',
    source: `
mesh M = [tp: 2]
block B(x: f32[8, 8]) -> f32[8, 8] partial(tp, tp) {
  return x * 2.0
}
model T(x: f32[8, 8]) -> f32[8, 8] {
  return B(x)
}
`,
    expect: ["broken.model:2:48: error MDC0409: mesh axis 'tp' is listed twice in partial(...) of f32[8, 8] partial(tp,tp)"],
  },
  {
    name: 'partial unknown axis',
    source: `
mesh M = [tp: 2]
block B(x: f32[8, 8]) -> f32[8, 8] partial(dp) {
  return x * 2.0
}
model T(x: f32[8, 8]) -> f32[8, 8] {
  return B(x)
}
`,
    expect: ["broken.model:2:44: error MDC0403: unknown mesh axis 'dp': the meshes have tp; did you mean 'tp'?"],
  },
  {
    name: 'one value, two block layouts',
    source: `
mesh M = [dp: 2, tp: 2]
block Rows(x: f32[N@dp, D]) -> f32[N, D] {
  return relu(x)
}
block Cols(x: f32[N, D@tp]) -> f32[N, D] {
  return relu(x)
}
model T(x: f32[8, 8]) -> f32[8, 8] {
  let h = x * 2.0
  return Rows(h) + Cols(h)
}
`,
    expect: ["broken.model:5:15: error MDC0405: contradictory layouts for argument 'x' of Cols: f32[8, 8@tp] here, but f32[8@dp, 8] on line 2"],
  },
  {
    name: 'annotated param vs block arg',
    source: `
mesh M = [tp: 2]
block Use(w: f32[K, N@tp]) -> f32[K, N] {
  return w * 2.0
}
model T(x: f32[8, 8]) -> f32[8, 8] {
  param w: f32[8@tp, 8] = normal(0, 1)
  return x @ Use(w)
}
`,
    expect: ["broken.model:2:14: error MDC0405: contradictory layouts for argument 'w' of Use: f32[8, 8@tp] here, but f32[8@tp, 8] on line 6"],
  },
  {
    name: 'annotated input vs block arg',
    source: `
mesh M = [dp: 2, tp: 2]
block Use(x: f32[N, D@tp]) -> f32[N, D] {
  return relu(x)
}
model T(x: f32[8@dp, 8]) -> f32[8, 8] {
  return Use(x)
}
`,
    expect: ["broken.model:2:14: error MDC0405: contradictory layouts for argument 'x' of Use: f32[8, 8@tp] here, but f32[8@dp, 8] on line 5"],
  },
  {
    name: 'block return vs arg on same value',
    source: `
mesh M = [dp: 2]
block Pass(x: f32[N@dp, D]) -> f32[N, D@dp] {
  return x
}
model T(x: f32[8, 8]) -> f32[8, 8] {
  let h = x * 2.0
  return Pass(h)
}
`,
    expect: ['broken.model:2:32: error MDC0405: contradictory layouts for the value Pass returns: f32[8, 8@dp] here, but f32[8@dp, 8] on line 2'],
  },
  {
    name: 'two meshes in one type',
    source: `
mesh Stage0 = [dp: 2]
mesh Stage1 = [tp: 2]
model T(x: f32[8@dp, 8@tp]) -> f32[8, 8] {
  return relu(x)
}
`,
    expect: ["broken.model:3:24: error MDC0408: f32[8@dp, 8@tp] mixes axes of two meshes: 'dp' of mesh Stage0 and 'tp' of mesh Stage1"],
  },
  {
    name: '--mesh lacks an axis the file uses',
    via: 'lower',
    mesh: [{ name: 'dp', size: 2 }],
    source: `
mesh M = [dp: 2, tp: 2]
model T(x: f32[8@dp, 8]) -> f32[8, 8] {
  param w: f32[8, 8@tp] = normal(0, 1)
  return x @ w
}
`,
    expect: ["broken.model:3:21: error MDC0403: unknown mesh axis 'tp': the --mesh option has dp; did you mean 'dp'?"],
  },
  {
    name: '--mesh size does not divide',
    via: 'lower',
    mesh: [
      { name: 'dp', size: 2 },
      { name: 'tp', size: 3 },
    ],
    source: `
mesh M = [dp: 2, tp: 2]
model T(x: f32[8@dp, 8]) -> f32[8, 8] {
  param w: f32[8, 8@tp] = normal(0, 1)
  return x @ w
}
`,
    expect: ['broken.model:3:19: error MDC0402: dim 8 of f32[8, 8@tp] is not divisible by tp (3 devices)'],
  },
  {
    name: 'split of a size-1 dim',
    source: `
mesh M = [tp: 2]
model T(x: f32[1@tp, 8]) -> f32[1, 8] {
  return relu(x)
}
`,
    expect: ['broken.model:2:16: error MDC0402: dim 1 of f32[1@tp, 8] is not divisible by tp (2 devices)'],
  },
  {
    name: 'block arg split not dividing the actual dim',
    source: `
mesh M = [tp: 4]
block Use(x: f32[N, D@tp]) -> f32[N, D] {
  return relu(x)
}
model T(x: f32[8, 6]) -> f32[8, 6] {
  return Use(x)
}
`,
    expect: ['broken.model:2:21: error MDC0402: dim 6 of f32[N, D@tp] is not divisible by tp (4 devices)'],
  },
  {
    name: 'two axes on one dim, product too big',
    source: `
mesh M = [dp: 2, tp: 8]
model T(x: f32[8@(dp, tp), 8]) -> f32[8, 8] {
  return relu(x)
}
`,
    expect: ['broken.model:2:16: error MDC0402: dim 8 of f32[8@(dp,tp), 8] is not divisible by dp×tp (16 devices)'],
  },
  {
    name: 'partial layout asked of a parameter',
    source: `
mesh M = [tp: 2]
block Use(w: f32[K, N] partial(tp)) -> f32[K, N] {
  return w * 2.0
}
model T(x: f32[8, 8]) -> f32[8, 8] {
  param w: f32[8, 8] = normal(0, 1)
  return x @ Use(w)
}
`,
    expect: ["broken.model:2:14: error MDC0406: parameter 'w' holds whole values and cannot be partial: f32[8, 8] partial(tp)"],
  },
];

describe('broken sharding programs', () => {
  it.each(cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const src = c.source.replace(/^\n/, '');
    const opts = c.mesh ? { mesh: c.mesh } : {};
    const r = c.via === 'lower' ? lower(src, 'broken.model', opts) : check(src, 'broken.model', opts);
    expect(r.diagnostics.map((d) => formatDiagnostic(d, src).split('\n')[0])).toEqual(c.expect);
  });

  it('has at least 20 cases, each with a layout code', () => {
    expect(cases.length).toBeGreaterThanOrEqual(20);
    for (const c of cases) expect(c.expect.some((l) => / MDC04\d\d: /.test(l))).toBe(true);
  });
});
