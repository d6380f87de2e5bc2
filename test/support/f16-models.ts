/**
 * An MLP whose activations are f16: the casts of the input and weights store f16, the
 * first matmul's epilogue (bias, GELU) stores the hidden activation as f16 and the second
 * matmul reads it as f16. The input and the output stay f32 (the host reads and writes
 * those), and so do the parameters, declared f32. Used by the f16 GPU tests and the f16
 * golden kernels.
 */
export const F16_MLP = `model M(x: f32[33, 64]) -> f32[33, 24] {
  param w1: f32[64, 96] = normal(0, 0.2)
  param b1: f32[96] = normal(0, 0.2)
  param w2: f32[96, 24] = normal(0, 0.2)
  let h = gelu(cast(x, "f16") @ cast(w1, "f16") + cast(b1, "f16"))
  return cast(h @ cast(w2, "f16"), "f32")
}
`;
