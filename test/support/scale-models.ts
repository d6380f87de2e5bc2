/**
 * Generated sources for the scale tests and bench/scale.ts: a deep model (GPT-style
 * layers at a small width, stacked with `repeat`) and big files of a given byte size.
 */

/**
 * A GPT-2-style decoder of `layers` pre-norm layers at width 16 (4 heads), batch 1,
 * sequence 8: 16 parameters per layer, as GPT-2's, so 10,000 layers list 160,003 values
 * in `mdc plan` (more than a call can take as spread arguments). The mesh is only for
 * `mdc plan`, of one device: nothing is split over it (a bigger axis nothing splits is MDC0411).
 */
export function deepModel(layers: number): string {
  return `mesh M = [tp: 1]

config Deep {
  vocab = 32
  d = 16
  heads = 4
  layers = ${layers}
}

block Layer(x: f32[B, S, d]) -> f32[B, S, d] {
  param g1: f32[d] = ones()
  param b1: f32[d] = zeros()
  param wq: f32[d, d] = normal(0, 0.02)
  param wk: f32[d, d] = normal(0, 0.02)
  param wv: f32[d, d] = normal(0, 0.02)
  param wo: f32[d, d] = normal(0, 0.02)
  param bq: f32[d] = zeros()
  param bk: f32[d] = zeros()
  param bv: f32[d] = zeros()
  param bo: f32[d] = zeros()
  param g2: f32[d] = ones()
  param b2: f32[d] = zeros()
  param w1: f32[d, 4 * d] = normal(0, 0.02)
  param c1: f32[4 * d] = zeros()
  param w2: f32[4 * d, d] = normal(0, 0.02)
  param c2: f32[d] = zeros()
  let n = layer_norm(x, g1, b1)
  let a = attention(n @ wq + bq, n @ wk + bk, n @ wv + bv, heads = heads, causal = true)
  let h = x + a @ wo + bo
  return h + gelu(layer_norm(h, g2, b2) @ w1 + c1) @ w2 + c2
}

model Deep(tokens: i32[B, S]) -> f32[B, S, vocab] where B = 1, S = 8 {
  param wte: f32[vocab, d] = normal(0, 0.02)
  let h = repeat(layers) Layer(embedding(wte, tokens))
  return h @ transpose(wte)
}
`;
}

/** The shapes of big source: many blocks, one model of many lines, one comment, one string. */
export type BigSourceKind = 'blocks' | 'lines' | 'comment' | 'string';

/**
 * A source of about `bytes` bytes (within one unit of the repeated text). `blocks`: a config and
 * numbered blocks of five lines, the model calling the first; `lines`: one model whose body is a
 * chain of lets; `comment`: a valid model after one block comment of that size; `string`: a
 * model whose gelu takes a string argument of that size (one diagnostic).
 */
export function bigSource(kind: BigSourceKind, bytes: number): string {
  const head = 'config C {\n  d = 8\n}\n\n';
  const model = (body: string) => `model M(x: f32[B, d]) -> f32[B, d] where B = 2 {\n${body}}\n`;
  if (kind === 'comment')
    return `/*${'a comment line of sixty-four characters, repeated to fill it\n'.repeat(Math.ceil(bytes / 64))}*/\n${head}${model('  return x\n')}`;
  if (kind === 'string') return `${head}${model(`  return gelu(x, approximate = "${'s'.repeat(bytes)}")\n`)}`;
  const parts: string[] = [head];
  let size = head.length;
  if (kind === 'blocks') {
    for (let i = 0; size < bytes; i++) {
      const b = `block B${i}(x: f32[B, d]) -> f32[B, d] {\n  param w: f32[d, d] = normal(0, 0.02)\n  let h = x @ w\n  return h + x\n}\n\n`;
      parts.push(b);
      size += b.length;
    }
    parts.push(model('  return B0(x)\n'));
  } else {
    const lines = ['  let h0 = x * 2.0\n'];
    for (let i = 1; size < bytes; i++) {
      const l = `  let h${i} = h${i - 1} + x\n`;
      lines.push(l);
      size += l.length;
    }
    parts.push(model(`${lines.join('')}  return h${lines.length - 1}\n`));
  }
  return parts.join('');
}
