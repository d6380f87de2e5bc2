/**
 * The GPT-2-small-shaped forward of the kernel benchmark: the gpt2 sample at 12 layers
 * of width 768 with 12 heads, batch 1, sequence 128, and a vocabulary of 8192 instead of
 * 50257 (the real 154 MB embedding does not fit one 128 MiB storage binding on this
 * adapter). The sample's layout annotations are dropped: they only matter on a mesh, and
 * batch 1 does not split over its dp = 2. Also the same forward written with TF.js ops.
 */
import { readFileSync } from 'node:fs';
import { lower } from '../compiler/compile.js';
import { dimValue } from '../compiler/dims.js';
import type { Graph } from '../compiler/ir.js';
import { initValues, type Plan } from '../runtime/index.js';
import type { Tensor, Tf } from './peers.js';

export interface ForwardCase {
  readonly name: string;
  /** How the sample was changed, for the report. */
  readonly how: string;
  readonly graph: Graph;
}

const WITHOUT_LAYOUTS = 'without its layout annotations (they only matter on a mesh, and batch 1 does not split over dp = 2)';

/**
 * The forward at sequence length `S` (default: 128, or 32 quick); `S = 1` is the shape of
 * one decode step (every weight read for one token), without a KV cache.
 */
export function gpt2Forward(quick: boolean, S = quick ? 32 : 128): ForwardCase {
  const source = readFileSync('samples/gpt2.model', 'utf8').replace(/@(dp|tp)\b/g, '');
  const step = S === 1 ? ' (the shape of one decode step, without a KV cache)' : '';
  const c = quick
    ? {
        name: `GPT-2 tiny (2 layers of 128, 4 heads), vocab 1024, batch 1, seq ${S}${step}`,
        how: `the gpt2 sample with \`--preset tiny\`, ${WITHOUT_LAYOUTS}`,
        opts: { preset: 'tiny', dims: { B: 1, S } },
      }
    : {
        name: `GPT-2 small shape (12 layers of 768, 12 heads), vocab 8192, batch 1, seq ${S}${step}`,
        how: `the gpt2 sample with \`--set vocab=8192\` (the real 50257 × 768 embedding, 154 MB, exceeds one 128 MiB storage binding here), ${WITHOUT_LAYOUTS}`,
        opts: { overrides: { vocab: 8192 }, dims: { B: 1, S } },
      };
  const r = lower(source, 'gpt2.model', c.opts);
  if (!r.graph) throw new Error(`gpt2 forward: ${r.diagnostics.map((d) => d.message).join('; ')}`);
  return { name: c.name, how: c.how, graph: r.graph };
}

/**
 * Parameter values for a plan: its initialisers, except that constant ones (zero biases,
 * unit norm gains) get ±0.1 of noise, so that a peer that dropped a bias or a gain would
 * not agree with mdc by accident.
 */
export function forwardParams(plan: Plan): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  for (const b of plan.buffers) {
    if (b.role !== 'param') continue;
    const n = b.shape.reduce((a, x) => a * x, 1);
    const init = b.init!.kind === 'constant' ? { kind: 'uniform' as const, low: b.init!.value - 0.1, high: b.init!.value + 0.1 } : b.init!;
    out.set(b.name, initValues(init, n, plan.seed, b.name));
  }
  return out;
}

/**
 * The same forward in TF.js ops (core has no layer norm or GELU: moments then the
 * formula, and GPT-2's tanh GELU written out), on 2-D [S, d] activations since the
 * batch is 1. `forward()` returns the logits [S, vocab]; `dispose` frees the weights.
 */
export function tfGpt2(tf: Tf, g: Graph, params: ReadonlyMap<string, Float32Array>, tokens: Int32Array): { forward: () => Tensor; dispose: () => void } {
  const shapeOf = (name: string) => g.values.find((v) => v.name === name)!.type.dims.map((d) => dimValue(d)!);
  const weights = new Map([...params].map(([n, data]) => [n, tf.tensor(data, shapeOf(n))] as const));
  const P = (n: string) => weights.get(n)!;
  const attention = g.nodes.find((n) => n.op === 'attention')!;
  const H = attention.attrs['heads'] as number;
  const scale = attention.attrs['scale'] as number;
  const eps = g.nodes.find((n) => n.op === 'layer_norm')!.attrs['eps'] as number;
  const [, D] = shapeOf('wte') as [number, number];
  const S = tokens.length;
  const layers = new Set([...params.keys()].flatMap((n) => /^Layer\.(\d+)\./.exec(n)?.[1] ?? [])).size;
  const ids = tf.tensor1d(tokens, 'int32');
  const causal = new Float32Array(S * S);
  for (let i = 0; i < S; i++) for (let j = i + 1; j < S; j++) causal[i * S + j] = -1e9;
  const mask = tf.tensor2d(causal, [S, S]);

  const norm = (x: Tensor, gain: string, bias: string) => {
    const { mean, variance } = tf.moments(x, -1, true);
    return tf.add(tf.mul(tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, eps))), P(gain)), P(bias));
  };
  const linear = (x: Tensor, w: string, b: string) => tf.add(tf.matMul(x, P(w)), P(b));
  const heads = (x: Tensor) => tf.transpose(tf.reshape(x, [S, H, D / H]), [1, 0, 2]);
  const gelu = (x: Tensor) => tf.mul(tf.mul(x, 0.5), tf.add(1, tf.tanh(tf.mul(tf.add(x, tf.mul(tf.mul(tf.mul(x, x), x), 0.044715)), 0.7978845608))));
  const forward = () => {
    let h = tf.add(tf.gather(P('wte'), ids), tf.slice(P('wpe'), [0, 0], [S, D]));
    for (let l = 0; l < layers; l++) {
      const p = `Layer.${l}.`;
      const x = norm(h, `${p}ln1_g`, `${p}ln1_b`);
      const q = heads(linear(x, `${p}Attention.wq`, `${p}Attention.bq`));
      const k = heads(linear(x, `${p}Attention.wk`, `${p}Attention.bk`));
      const v = heads(linear(x, `${p}Attention.wv`, `${p}Attention.bv`));
      const scores = tf.add(tf.mul(tf.matMul(q, k, false, true), scale), mask);
      const a = tf.reshape(tf.transpose(tf.matMul(tf.softmax(scores), v), [1, 0, 2]), [S, D]);
      h = tf.add(h, linear(a, `${p}Attention.wo`, `${p}Attention.bo`));
      const y = norm(h, `${p}ln2_g`, `${p}ln2_b`);
      h = tf.add(h, linear(gelu(linear(y, `${p}Mlp.w1`, `${p}Mlp.b1`)), `${p}Mlp.w2`, `${p}Mlp.b2`));
    }
    return tf.matMul(norm(h, 'lnf_g', 'lnf_b'), P('wte'), false, true);
  };
  return {
    forward,
    dispose: () => {
      for (const w of weights.values()) w.dispose();
      ids.dispose();
      mask.dispose();
    },
  };
}
