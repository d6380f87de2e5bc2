/**
 * Golden WGSL for each kernel family printed from the kernel IR: test/codegen/golden/<name>.wgsl.
 * Refresh with UPDATE_SNAPSHOTS=1 and review the diff. Also checks that code generation
 * is deterministic (the same graph and target give the same text). Under CI snapshots are
 * only compared: UPDATE_SNAPSHOTS is refused and a missing golden file is a failure.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { KernelTarget } from '../../codegen/kernels/kernel.js';
import { planOf } from '../../driver/stages.js';
import { UNDER_CI } from '../support/ci.js';
import { compileOrThrow } from '../support/gpu.js';
import { F16_MLP } from '../support/f16-models.js';

const DIR = 'test/codegen/golden';
const update = process.env['UPDATE_SNAPSHOTS'] === '1';
// Rewriting and then comparing with the rewritten file cannot fail: never under CI.
if (update && UNDER_CI) throw new Error('UPDATE_SNAPSHOTS=1 is refused under CI: a rewritten golden compares equal to itself');
const T = (s: readonly number[]) => `f32[${s.join(', ')}]`;

/** `pick`: the one kernel of that name to compare, for sources that compile to several. */
interface Golden {
  readonly name: string;
  readonly source: string;
  readonly target?: KernelTarget;
  readonly pick?: string;
}
const mm = (name: string, a: number[], b: number[], o: number[], target: KernelTarget = {}): Golden => ({
  name,
  source: `model T(a: ${T(a)}, b: ${T(b)}) -> ${T(o)} {\n  return a @ b\n}\n`,
  target,
});
const SG: KernelTarget = { subgroupSize: 8 };

const GOLDENS: Golden[] = [
  mm('matmul_plain', [5, 7], [7, 3], [5, 3], { matmul: { kind: 'plain' } }),
  mm('matmul_tiled_vec4', [128, 64], [64, 96], [128, 96]),
  mm('matmul_tiled_edges', [17, 19], [19, 33], [17, 33]),
  mm('matmul_tiled_batched', [2, 1, 17, 24], [4, 24, 12], [2, 4, 17, 12]),
  mm('matmul_gemv', [1, 768], [768, 3072], [1, 3072]),
  mm('matmul_gemv_scalar', [1, 17], [17, 3], [1, 3]),
  mm('matmul_subgroup', [128, 768], [768, 3072], [128, 3072], SG),
  mm('matmul_subgroup_edges', [17, 19], [19, 33], [17, 33], SG),
  { name: 'softmax_rows', source: 'model T(x: f32[4, 1000]) -> f32[4, 1000] {\n  return softmax(x)\n}\n' },
  { name: 'layer_norm_rows', source: 'model T(x: f32[8, 768], w: f32[768], b: f32[768]) -> f32[8, 768] {\n  return layer_norm(x, w, b)\n}\n' },
  { name: 'rms_norm_rows_subgroup', source: 'model T(x: f32[8, 4096], w: f32[4096]) -> f32[8, 4096] {\n  return rms_norm(x, w)\n}\n', target: SG },
  // Flash attention, portable (key blocks in workgroup memory) and subgroup (keys across lanes):
  // causal, grouped KV heads, a padding mask, a head size that is not a lane multiple.
  {
    name: 'attention_flash_workgroup',
    source:
      'model T(q: f32[2, 17, 48], k: f32[2, 17, 24], v: f32[2, 17, 24], m: i32[2, 17]) -> f32[2, 17, 48] {\n  return attention(q, k, v, m, heads = 4, kv_heads = 2, causal = true)\n}\n',
  },
  // f16 q, k, v and output (projections made f16 by casts, which are kernel-IR kernels that store f16).
  {
    name: 'attention_flash_workgroup_f16',
    source:
      'model T(q: f32[1, 9, 16], k: f32[1, 9, 16], v: f32[1, 9, 16]) -> f32[1, 9, 16] {\n  return cast(attention(cast(q, "f16"), cast(k, "f16"), cast(v, "f16"), heads = 2), "f32")\n}\n',
    target: { shaderF16: true },
    pick: 'attention',
  },
  {
    name: 'attention_flash_subgroup',
    source:
      'model T(q: f32[2, 17, 48], k: f32[2, 17, 24], v: f32[2, 17, 24], m: i32[2, 17]) -> f32[2, 17, 48] {\n  return attention(q, k, v, m, heads = 4, kv_heads = 2, causal = true)\n}\n',
    target: SG,
  },
  // f16 storage (shader-f16): an f16 hidden activation stored by one matmul's epilogue
  // (vec4<f16> stores) and read by the next (widened to f32 on load).
  { name: 'matmul_subgroup_epilogue_f16_store', source: F16_MLP, target: { ...SG, shaderF16: true }, pick: 'matmul_subgroup_cast_add_gelu' },
  { name: 'matmul_tiled_f16_operand', source: F16_MLP, target: { shaderF16: true }, pick: 'matmul_tiled_cast' },
  { name: 'sum_rows_i32', source: 'model T(x: i32[3, 33]) -> i32[3] {\n  return sum(x)\n}\n' },
  // Fused kernels (compiler/fusion): element-wise bodies four or one element at a time, and
  // each matmul family with an epilogue (bias, activation, residual; broadcast batch dims).
  { name: 'fused_elementwise_vec4', source: 'model T(x: f32[8, 768], b: f32[768], s: f32[8, 1]) -> f32[8, 768] {\n  return gelu(x * 2.0 + b) * s\n}\n' },
  {
    name: 'fused_elementwise_scalar',
    source:
      'model T(x: f32[3, 5], y: f32[5], c: f32[3, 1]) -> (f32[3, 5], f32[3, 5]) {\n  let t = tanh(x - y)\n  return where(c, t ** 3.0, sigmoid(t)), t\n}\n',
  },
  // Rows bodies: reductions over the last axis with their element-wise steps, a workgroup per row.
  {
    name: 'fused_rows_layer_norm',
    source:
      'model T(x: f32[8, 768], g: f32[768], b: f32[768]) -> (f32[8, 768], f32[8, 1]) {\n  let mu = mean(x, -1, keepdim = true)\n  let xc = x - mu\n  let v = mean(xc * xc, -1, keepdim = true)\n  return xc * rsqrt(v + 0.00001) * g + b, v\n}\n',
  },
  {
    name: 'fused_rows_softmax_subgroup',
    source:
      'model T(x: f32[4, 12, 128], m: f32[128]) -> f32[4, 12, 128] {\n  let s = x * 0.125 + m\n  let e = exp(s - max(s, -1, keepdim = true))\n  return e / sum(e, -1, keepdim = true)\n}\n',
    target: SG,
  },
  {
    name: 'fused_rows_per_invocation',
    source: 'model T(x: f32[300, 64], g: f32[64]) -> f32[300, 64] {\n  return x * rsqrt(mean(x * x, -1, keepdim = true) + 0.000001) * g\n}\n',
    target: { rowUnits: 4096 },
  },
  {
    name: 'fused_rows_scalar',
    source:
      'model T(x: f32[3, 5, 37], r: f32[3, 1, 1]) -> (f32[3, 5, 37], f32[3, 5]) {\n  let y = tanh(x) * r\n  return y - min(y, -1, keepdim = true), sum(y, -1)\n}\n',
  },
  {
    name: 'matmul_tiled_epilogue',
    source: `model T(x: f32[128, 64], w: f32[64, 96], b: f32[96], r: f32[128, 96]) -> f32[128, 96] {\n  return gelu(x @ w + b, approximate = "tanh") + r\n}\n`,
  },
  {
    name: 'matmul_tiled_batched_epilogue',
    source: 'model T(a: f32[2, 1, 17, 24], b: f32[4, 24, 12], c: f32[4, 1, 12]) -> f32[2, 4, 17, 12] {\n  return silu(a @ b) * c\n}\n',
  },
  { name: 'matmul_gemv_epilogue', source: 'model T(x: f32[1, 768], w: f32[768, 3072], b: f32[3072]) -> f32[1, 3072] {\n  return relu(x @ w + b)\n}\n' },
  {
    name: 'matmul_plain_epilogue',
    source: 'model T(x: f32[5, 7], w: f32[7, 3], b: f32[3]) -> f32[5, 3] {\n  return x @ w + b\n}\n',
    target: { matmul: { kind: 'plain' } },
  },
  {
    name: 'matmul_subgroup_epilogue',
    source: 'model T(x: f32[128, 768], w: f32[768, 3072], b: f32[3072]) -> f32[128, 3072] {\n  return fast_gelu(x @ w + b)\n}\n',
    target: SG,
  },
];

const kernelsOf = (g: Golden) => planOf(compileOrThrow(g.source), g.target ? { target: g.target } : {}).kernels.filter((k) => !g.pick || k.name === g.pick);

describe('golden kernel WGSL', () => {
  for (const g of GOLDENS) {
    it(g.name, () => {
      const ks = kernelsOf(g);
      expect(ks).toHaveLength(1);
      const file = join(DIR, `${g.name}.wgsl`);
      if (!existsSync(file) && UNDER_CI)
        throw new Error(`${file}: no golden file; under CI it is not written (run locally with UPDATE_SNAPSHOTS=1, review and commit it)`);
      if (update || !existsSync(file)) {
        mkdirSync(DIR, { recursive: true });
        writeFileSync(file, ks[0]!.wgsl);
        if (!update) throw new Error(`${file}: no golden yet; wrote it — review and commit it`);
      }
      expect(ks[0]!.wgsl).toBe(readFileSync(file, 'utf8'));
      expect(kernelsOf(g)[0]!.wgsl, 'codegen is deterministic').toBe(ks[0]!.wgsl);
    });
  }
});
