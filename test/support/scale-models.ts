/**
 * Generated sources for the scale tests and bench/scale.ts: a deep model (GPT-style
 * layers at a small width, stacked with `repeat`) and big files of a given byte size.
 */

/**
 * A GPT-2-style decoder of `layers` pre-norm layers at width 16 (4 heads), batch 1,
 * sequence 8: 16 parameters per layer, as GPT-2's, so 10,000 layers list 160,003 values
 * in `mdc plan` (more than a call can take as spread arguments). The mesh is only for
 * `mdc plan`; nothing is split over it.
 */
export function deepModel(layers: number): string {
  return `mesh M = [tp: 2]

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
