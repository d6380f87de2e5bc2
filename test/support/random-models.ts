import fc from 'fast-check';

/**
 * Random small sharded models for property tests: chains of matmuls, biases, norms,
 * softmax, attention, reductions, reshapes, mixture-of-experts routing and blocks with
 * layout constraints, on random meshes (1–8 devices, 1–3 axes) with random legal
 * annotations. All dims are multiples of 12, so every single-axis split divides.
 */
const stmt = fc.constantFrom(
  'h = h @ {W:d,d}',
  'h = gelu(h @ {W:d,2*d}) @ {W:2*d,d}',
  'h = h + {V:d}',
  'h = layer_norm(h)',
  'h = softmax(h)',
  'h = relu(h) - h',
  'h = attention(h, h @ {W:d,d}, h, heads = heads, causal = true)',
  'h = attention(h @ {W:d,d}, h, h, heads = heads)',
  'h = reshape(transpose(reshape(h, [B, S, 2, d / 2]), [0, 2, 1, 3]), [B, S, d])',
  'h = h * sum(relu(h), axis = -1, keepdim = true)',
  'h = h - mean(h, axis = 1, keepdim = true)',
  'h = Shard(h)',
  'h = Mix(h)',
  'let sc{N}, ch{N} = topk(reshape(h, [B * S, d]) @ {W:d,12}, 2)\nh = reshape(moe_combine(moe_dispatch(reshape(h, [B * S, d]), ch{N}, experts = 12, capacity = 7, groups = 12) * 2.0, ch{N}, softmax(sc{N}), groups = 12), [B, S, d])',
);
const axesArb = (n: number) => fc.array(fc.integer({ min: -1, max: 2 }), { minLength: n, maxLength: n });
export const modelArb = fc.record({
  sizes: fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 3 }).filter((s) => s.reduce((a, b) => a * b, 1) <= 8),
  body: fc.array(stmt, { minLength: 2, maxLength: 6 }),
  picks: fc.array(axesArb(3), { minLength: 40, maxLength: 40 }),
  d: fc.constantFrom(12, 24),
});

export function build(sizes: number[], body: string[], picks: number[][], d: number): string {
  const names = sizes.map((_, i) => `a${i}`);
  let pick = 0;
  /** A type with a random legal layout: each mesh axis on at most one dim. */
  const typed = (dims: string[]) => {
    const choice = picks[pick++ % picks.length]!;
    const used = new Set<number>();
    return dims
      .map((dim, i) => {
        const a = choice[i] ?? -1;
        if (a < 0 || a >= names.length || used.has(a)) return dim;
        used.add(a);
        return `${dim}@${names[a]}`;
      })
      .join(', ');
  };
  let params = '';
  let n = 0;
  const lines = body.map((s, k) =>
    s.replaceAll('{N}', String(k)).replace(/\{(W|V):([^}]*)\}/g, (_m, kind: string, dims: string) => {
      const name = `p${n++}`;
      params += `  param ${name}: f32[${typed(dims.split(','))}] = normal(0, ${kind === 'W' ? 0.3 : 1})\n`;
      return name;
    }),
  );
  return `mesh M = [${names.map((a, i) => `${a}: ${sizes[i]}`).join(', ')}]
config C { d = ${d}, heads = ${d / 2} }
block Shard(x: f32[B, S, d]) -> f32[${typed(['B', 'S', 'd'])}] {
  return x * 2.0
}
block Mix(x: f32[${typed(['B', 'S', 'd'])}]) -> f32[B, S, d] {
  param w: f32[${typed(['d', 'd'])}] = normal(0, 0.3)
  return x @ w + x
}
model R(x: f32[${typed(['B', 'S', 'd'])}]) -> f32[B, S, d] where B = 12, S = 12 {
${params}  let h = x
${lines
  .flatMap((l) => l.split('\n'))
  .map((l) => `  ${l}`)
  .join('\n')}
  return h
}
`;
}
