import { describe, expect, it } from 'vitest';
import { format } from '../../grammar/format.js';
import { parse } from '../../grammar/parse.js';

const fmt = (text: string) => {
  const r = parse(text, 'f.model');
  expect(r.diagnostics).toEqual([]);
  return format(r.program, text);
};

const TRICKY = `// file header

/// doc for the mesh
mesh M = [dp: 2, tp: 4]   // trailing on mesh
config C { a = 1, /* inline block */ b = 2 * a; c = -(a + b) ** 2 }
/* a block comment
   over two lines */
block B(x: f32[N@dp, a]) -> f32[N@dp, a] {
  // leading in body
  param w: f32[a, a@tp] = normal(0, 0.02) @shard(w)


  let y = x @ w + // inside an expression
    x
  return y   // after return
  // last in body
}
model Mod(x: f32[N, a]) -> (f32[N, a], f32[N, a]) where N = 2 {
  let q, r = split(concat([x, x], axis = 1), 2, axis = 1)
  x = repeat(c + 5) B(x) @pipeline(stages = 2) @recompute(selective)
  return x, q - r * (q - r)
}
train Mod { optimizer = adamw(lr = 3e-4); memory_budget = 16GiB }
// end of file`;

describe('mdc fmt', () => {
  it('is idempotent and keeps every comment, in order', () => {
    const once = fmt(TRICKY);
    expect(fmt(once)).toBe(once);
    const comments = (t: string) => parse(t, 'f.model').program.comments.map((c) => c.text.trim());
    expect(comments(once)).toEqual(comments(TRICKY));
  });

  it('keeps the syntax tree, including operator precedence and associativity', () => {
    const strip = (x: unknown): unknown =>
      Array.isArray(x)
        ? x.map(strip)
        : x && typeof x === 'object'
          ? Object.fromEntries(
              Object.entries(x)
                .filter(([k]) => k !== 'span' && k !== 'bodySpan')
                .map(([k, v]) => [k, strip(v)]),
            )
          : x;
    const once = fmt(TRICKY);
    expect(strip(parse(once, 'f.model').program.items)).toEqual(strip(parse(TRICKY, 'f.model').program.items));
    // Parentheses survive exactly where the tree needs them.
    expect(once).toContain('c = -(a + b) ** 2');
    expect(once).toContain('return x, q - r * (q - r)');
    expect(once).toContain('param w: f32[a, a@tp] = normal(0, 0.02) @shard(w)');
  });

  it('puts a trailing comment back on its line and keeps one blank line of separation', () => {
    const once = fmt(TRICKY);
    expect(once).toContain('mesh M = [dp: 2, tp: 4] // trailing on mesh');
    expect(once).toContain('  return y // after return');
    expect(once).not.toMatch(/\n\n\n/);
  });
});
