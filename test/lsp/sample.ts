/** The README's two-layer model, the text most LSP tests open. */
export const TINY = `/// A two-layer decoder-only language model over bytes.
mesh Cluster = [dp: 2, tp: 2]

config Tiny {
  vocab = 256
  d = 64
  heads = 4
  layers = 2
}

/// Pre-norm causal self-attention with a residual connection.
block Layer(x: f32[B, S, d]) -> f32[B, S, d] {
  param g: f32[d] = ones()
  param wq: f32[d, d@tp] = normal(0, 0.02)
  param wk: f32[d, d@tp] = normal(0, 0.02)
  param wv: f32[d, d@tp] = normal(0, 0.02)
  param wo: f32[d@tp, d] = normal(0, 0.02)
  let n = rms_norm(x, g)
  return x + attention(n @ wq, n @ wk, n @ wv, heads = heads, causal = true) @ wo
}

model Tiny(tokens: i32[B@dp, S]) -> f32[B@dp, S, vocab] where B = 2, S = 32 {
  param wte: f32[vocab, d] = normal(0, 0.02)
  let h = repeat(layers) Layer(embedding(wte, tokens))
  let logits = h @ transpose(wte)
  return logits
}

train Tiny {
  loss = cross_entropy(logits, labels)
  optimizer = adamw(lr = 1e-3)
}
`;
