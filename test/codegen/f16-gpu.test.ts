/**
 * f16 storage on adapters with `shader-f16`: f16 tensors between kernels that convert
 * (codegen/kernels/index.ts storesHalf: matmuls, element-wise ops, fused bodies, row
 * kernels, attention, embedding and the layout copies) live in `array<f16>` buffers,
 * loaded into f32 and rounded to f16 when stored; everything else keeps f32 storage. Checked against the float64 CPU oracle
 * (which keeps f16 tensors at f32 precision), on the portable and the subgroup kernels.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { f16Values } from '../../codegen/plan.js';
import { planOf } from '../../driver/stages.js';
import { roundF16 } from '../../compiler/ops/precision.js';
import { initValues, PlanRunner, validatePlan } from '../../runtime/index.js';
import {
  adapterTarget,
  compareOutputs,
  compileOrThrow,
  describeWithFeature,
  destroySharedDevices,
  featureStatus,
  runBoth,
  sharedDevice,
} from '../support/gpu.js';
import { F16_MLP } from '../support/f16-models.js';

const f16 = await featureStatus('shader-f16');
const device = await adapterTarget();

// A block whose f16 activations also pass through the row kernels: layer norm (a
// workgroup per row of 96) and softmax between matmuls, a last-axis mean, and a
// hand-written RMS norm (a fused rows body).
const BLOCK = `model N(x: f32[33, 64]) -> (f32[33, 24], f32[33, 1]) {
  param w1: f32[64, 96] = normal(0, 0.2)
  param g: f32[96] = normal(1, 0.1)
  param b: f32[96] = normal(0, 0.1)
  param w2: f32[96, 48] = normal(0, 0.2)
  param w3: f32[48, 24] = normal(0, 0.2)
  let h = cast(x, "f16") @ cast(w1, "f16")
  let n = layer_norm(h, cast(g, "f16"), cast(b, "f16"))
  let p = softmax(n @ cast(w2, "f16"))
  let m = mean(p, -1, keepdim = true)
  let r = p * rsqrt(mean(p * p, -1, keepdim = true) + 0.0001)
  return cast(r @ cast(w3, "f16"), "f32"), cast(m, "f32")
}
`;

// Self-attention on f16 projections: q, k and v come from matmul epilogues as f16, the
// flash kernel reads them as f16 and stores its output as f16 for the last matmul.
const ATTN = `model A(x: f32[2, 24, 32]) -> f32[2, 24, 32] {
  param wq: f32[32, 32] = normal(0, 0.2)
  param wk: f32[32, 32] = normal(0, 0.2)
  param wv: f32[32, 32] = normal(0, 0.2)
  param wo: f32[32, 32] = normal(0, 0.2)
  let h = cast(x, "f16")
  let a = attention(h @ cast(wq, "f16"), h @ cast(wk, "f16"), h @ cast(wv, "f16"), heads = 4, causal = true)
  return cast(a @ cast(wo, "f16"), "f32")
}
`;

// f16 values through the copies and the gather: an embedding of an f16 parameter, a
// matmul, a transpose, a slice of it and a concat of both; the last element-wise body
// converts back to f32 for the first output. A second transpose feeds a sum over its
// first axis, a kernel without f16 storage, so that transpose converts to f32 as it
// copies. The table is also summed over its rows by such a kernel, so it stays f32 on
// the device and the gather rounds it to f16 as it copies.
const LAYOUT = `model L(ids: i32[2, 12]) -> (f32[2, 16, 20], f16[16, 12], f32[16]) {
  param table: f16[50, 16] = normal(0, 1)
  param w: f32[16, 16] = normal(0, 0.3)
  let e = embedding(table, ids)
  let t = transpose(e @ cast(w, "f16"), [0, 2, 1])
  let s = slice(t, 2, 4, 12)
  return cast(concat([t, s], axis = 2) * 2.0, "f32"), sum(transpose(e, [0, 2, 1]), 0), cast(sum(table, 0), "f32")
}
`;

// f16 weights: the parameters themselves are stored as f16 (the runtime uploads their
// halves), read as f16 by the matmuls and the bias add; no cast kernels at all.
const F16_PARAMS = `model P(x: f32[33, 64]) -> f32[33, 24] {
  param w1: f16[64, 96] = normal(0, 0.2)
  param b1: f16[96] = normal(0, 0.2)
  param w2: f16[96, 24] = normal(0, 0.2)
  let h = gelu(cast(x, "f16") @ w1 + b1)
  return cast(h @ w2, "f32")
}
`;

// All f16: the input, the weights, the hidden activation and the output are f16 buffers;
// the runner rounds the host's f32 input to f16 as it uploads it and widens the output
// as it reads it back.
const ALL_F16 = `model H(x: f16[33, 64]) -> f16[33, 24] {
  param w1: f16[64, 96] = normal(0, 0.2)
  param w2: f16[96, 24] = normal(0, 0.2)
  return gelu(x @ w1) @ w2
}
`;

/**
 * The hidden activation is rounded to f16 once (relative error ≤ 2^-11 = 4.9e-4 per
 * element, about 1.4e-4 RMS for uniform rounding), then summed over 96 terms with random
 * signs, which averages it down rather than up; 1e-3 relative L2 on the output leaves
 * headroom and is still 100× below what a wrong index or a missing conversion gives.
 */
const TOL = 1e-3;

it('f16 tensors between kernel-IR kernels are chosen for f16 storage, inputs, outputs and f32 parameters never (no GPU needed)', () => {
  const plan = planOf(compileOrThrow(F16_MLP), { target: { shaderF16: true } });
  const half = plan.buffers.filter((b) => b.type === 'f16');
  expect(half.length).toBeGreaterThan(0);
  expect(half.every((b) => b.role === 'activation' && b.dtype === 'f16')).toBe(true);
  for (const b of half) expect(b.bytes).toBe(Math.max(4, Math.ceil(b.shape.reduce((x, y) => x * y, 1) / 2) * 4));
  expect(plan.features).toContain('shader-f16');
  const wgsl = plan.kernels.map((k) => k.wgsl).join('\n');
  expect(wgsl).toContain('enable f16;');
  expect(wgsl).toMatch(/array<(vec4<)?f16>?>/);
  // Without the feature nothing changes.
  const portable = planOf(compileOrThrow(F16_MLP));
  expect(portable.buffers.some((b) => b.type === 'f16')).toBe(false);
  expect(portable.features).toBeUndefined();
  // Unfused, every op here has a kernel-IR kernel (the casts are one-step element-wise
  // bodies), so every f16 value qualifies: none is an input, parameter or output.
  const unfused = compileOrThrow(F16_MLP);
  expect(f16Values(unfused).size).toBe(unfused.values.filter((v) => v.type.dtype === 'f16').length);
});

it('f16 parameters are stored as f16 unless a training step overwrites them (no GPU needed)', () => {
  const g = compileOrThrow(F16_PARAMS);
  const plan = planOf(g, { target: { shaderF16: true } });
  const params = plan.buffers.filter((b) => b.role === 'param');
  expect(params.map((b) => `${b.name}: ${b.type}, ${b.bytes} B`)).toEqual(['w1: f16, 12288 B', 'b1: f16, 192 B', 'w2: f16, 4608 B']);
  expect(validatePlan(JSON.parse(JSON.stringify(plan))).buffers.filter((b) => b.type === 'f16').length).toBeGreaterThanOrEqual(3);
  // A parameter the plan's updates overwrite stays f32: its update is an f32 output copied over it.
  const training = planOf(g, { target: { shaderF16: true }, updates: [{ output: 'output0', param: 'w2' }] });
  expect(training.buffers.filter((b) => b.role === 'param').map((b) => b.type)).toEqual(['f16', 'f16', 'f32']);
  // A one-element update fits an f16 parameter's four bytes too: the storage types must match.
  const tiny = planOf(compileOrThrow('model U(x: f32[4]) -> (f32[4], f16[1]) {\n  param s: f16[1] = zeros()\n  return x * cast(s, "f32"), s + 1.0\n}\n'), {
    target: { shaderF16: true },
    updates: [{ output: 'output1', param: 's' }],
  });
  const sBuf = tiny.buffers.find((b) => b.name === 's')!;
  expect(sBuf.type).toBe('f32');
  const tampered = JSON.parse(JSON.stringify(tiny));
  tampered.buffers[sBuf.id].type = 'f16';
  expect(() => validatePlan(tampered)).toThrow(/stored as f32, parameter 's' as f16/);
  // An f32 input is never stored as f16.
  const bad = JSON.parse(JSON.stringify(plan));
  bad.buffers[bad.inputs[0].buffer] = { ...bad.buffers[bad.inputs[0].buffer], type: 'f16', bytes: 33 * 64 * 2 };
  expect(() => validatePlan(bad)).toThrow('is stored as f16 but holds "f32" values');
});

// Without shader-f16 this suite skips, except under CI where it fails naming the feature.
describeWithFeature(f16, 'f16 storage on WebGPU', () => {
  beforeAll(async () => {
    await sharedDevice();
  });
  afterAll(destroySharedDevices);

  const targets = [{ label: 'portable kernels', target: { shaderF16: true } }, ...(device.subgroupSize ? [{ label: 'subgroup kernels', target: device }] : [])];
  for (const { label, target } of targets) {
    it(`an MLP with an f16 hidden activation matches the oracle within ${TOL} (${label})`, async () => {
      const r = await runBoth(F16_MLP, { target });
      expect(
        r.plan.buffers.some((b) => b.type === 'f16'),
        'the hidden activation is stored as f16',
      ).toBe(true);
      const e = compareOutputs(r)['output0']!;
      expect(e.nonFiniteMismatches).toBe(0);
      expect(e.rel).toBeLessThanOrEqual(TOL);
      // And the f16 storage is real: f32 storage gives ~1e-7 here, f16 storage visibly more.
      const f32 = compareOutputs(await runBoth(F16_MLP, { target: { ...target, shaderF16: false } }))['output0']!;
      expect(f32.rel).toBeLessThan(1e-5);
      expect(e.rel).toBeGreaterThan(10 * f32.rel);
    });

    // Each weight rounded to f16 once (2^-11 relative) and the hidden activation once: 1e-3 as for the MLP.
    it(`an MLP with f16 weights stored as f16 matches the oracle within ${TOL}, and its weights read back as their halves (${label})`, async () => {
      const r = await runBoth(F16_PARAMS, { target });
      expect(r.plan.buffers.filter((b) => b.role === 'param').every((b) => b.type === 'f16')).toBe(true);
      // One cast kernel, the input's; the kernels bind the weights' f16 buffers themselves.
      expect(r.plan.steps.filter((st) => st.kind !== 'collective' && st.op === 'cast').length).toBe(1);
      const params = new Set(r.plan.buffers.filter((b) => b.role === 'param').map((b) => b.id));
      const bound = r.plan.steps.flatMap((st) =>
        st.kind !== 'collective' ? st.buffers.flatMap((id, j) => (params.has(id) ? [r.plan.kernels[st.kernel]!.bindings[j]!.type] : [])) : [],
      );
      expect(bound).toEqual(['f16', 'f16', 'f16']);
      const e = compareOutputs(r)['output0']!;
      expect(e.nonFiniteMismatches).toBe(0);
      expect(e.rel).toBeLessThanOrEqual(TOL);
      const f32 = compareOutputs(await runBoth(F16_PARAMS, { target: { ...target, shaderF16: false } }))['output0']!;
      expect(e.rel).toBeGreaterThan(10 * f32.rel);
      // The device holds exactly the halves of the initial values: read back, they are those values rounded to f16.
      const runner = await PlanRunner.create(await sharedDevice(), r.plan);
      try {
        const read = await runner.readParams();
        for (const b of r.plan.buffers.filter((x) => x.role === 'param')) {
          const init = initValues(
            b.init!,
            b.shape.reduce((x, y) => x * y, 1),
            r.plan.seed,
            b.name,
          );
          const got = read.get(b.name)!;
          expect(got.length).toBe(init.length);
          let mismatches = 0;
          init.forEach((x, i) => {
            if (got[i] !== roundF16(x)) mismatches++;
          });
          expect(mismatches, b.name).toBe(0);
          expect(
            init.some((x, i) => got[i] !== x),
            `${b.name} was rounded`,
          ).toBe(true);
        }
      } finally {
        runner.destroy();
      }
    });

    // Five f16 roundings on the way (input, two weights, hidden, output), each 2^-11
    // relative at most, averaged down by the sums: 2e-3 relative L2, as for the block below.
    it(`a model all in f16 keeps its input and output in f16 buffers and matches the oracle within 2e-3 (${label})`, async () => {
      const r = await runBoth(ALL_F16, { target });
      expect(
        r.plan.buffers
          .filter((b) => b.role !== 'const')
          .map((b) => `${b.role} ${b.type}`)
          .sort(),
      ).toEqual(['activation f16', 'input f16', 'output f16', 'param f16', 'param f16']);
      expect(r.gpu['output0']!.data).toBeInstanceOf(Float32Array);
      const e = compareOutputs(r)['output0']!;
      expect(e.nonFiniteMismatches).toBe(0);
      expect(e.rel).toBeLessThanOrEqual(2e-3);
      const f32 = compareOutputs(await runBoth(ALL_F16, { target: { ...target, shaderF16: false } }))['output0']!;
      expect(e.rel).toBeGreaterThan(10 * f32.rel);
      // The output is read back from halves: every value is an f16 value.
      expect(Array.from(r.gpu['output0']!.data).every((v) => roundF16(v) === v)).toBe(true);
    });

    // q, k, v and the attention output each rounded to f16 once (2^-11 relative), the
    // softmax averaging over up to 24 keys: 1e-3 relative L2, as for the MLP.
    it(`causal attention on f16 q, k and v with an f16 output matches the oracle within ${TOL} (${label})`, async () => {
      const r = await runBoth(ATTN, { target });
      const att = r.plan.steps.find((s) => s.kind !== 'collective' && s.op === 'attention')!;
      expect(att.kind !== 'collective' && r.plan.kernels[att.kernel]!.bindings.map((b) => b.type)).toEqual(['f16', 'f16', 'f16', 'f16']);
      const e = compareOutputs(r)['output0']!;
      expect(e.nonFiniteMismatches).toBe(0);
      expect(e.rel).toBeLessThanOrEqual(TOL);
      const f32 = compareOutputs(await runBoth(ATTN, { target: { ...target, shaderF16: false } }))['output0']!;
      expect(e.rel).toBeGreaterThan(10 * f32.rel);
    });

    // Four f16 roundings in a row (matmul, layer norm, softmax, the rows body) of values
    // that norms and softmax keep near 1: each adds about 2^-11 relative, so 2e-3 relative
    // L2 leaves headroom while a wrong index or a missing conversion gives O(1).
    it(`f16 activations through layer norm, softmax, a mean and a fused rows body match the oracle within 2e-3 (${label})`, async () => {
      const r = await runBoth(BLOCK, { target });
      const half = r.plan.buffers.filter((b) => b.type === 'f16').map((b) => b.name);
      // The rows body's output is named by its last step (mul).
      for (const op of ['layer_norm', 'softmax', 'mul'])
        expect(
          half.some((n) => n.includes(op)),
          `${op} output stored as f16: ${half.join(', ')}`,
        ).toBe(true);
      for (const [out, e] of Object.entries(compareOutputs(r))) {
        expect(e.nonFiniteMismatches, out).toBe(0);
        expect(e.rel, out).toBeLessThanOrEqual(2e-3);
      }
      const f32 = compareOutputs(await runBoth(BLOCK, { target: { ...target, shaderF16: false } }));
      expect(compareOutputs(r)['output0']!.rel).toBeGreaterThan(10 * f32['output0']!.rel);
    });

    // The copies move f16 values unchanged; the roundings are the gather's and the
    // matmul's output (2^-11 relative each): 1e-3 as for the MLP.
    it(`f16 values through embedding, transpose, slice and concat match the oracle within ${TOL} (${label})`, async () => {
      // Ids at both ends of the table (0 and 49). Ids outside it are refused as inputs
      // (runtime/executor.ts); the kernel's zero rows for them are tested in ops-gpu.
      const ids = Int32Array.from({ length: 24 }, (_, i) => (i === 3 ? 0 : i === 17 ? 49 : (i * 7) % 50));
      const r = await runBoth(LAYOUT, { target, inputs: { ids } });
      const kernelsOf = (op: string) => r.plan.steps.flatMap((st) => (st.kind !== 'collective' && st.op === op ? [r.plan.kernels[st.kernel]!] : []));
      const types = (op: string) => kernelsOf(op).map((k) => k.bindings.map((b) => `${b.name}: ${b.type}`).join(', '));
      expect(types('embedding')).toEqual(['table: f32, ids: i32, out: f16']);
      expect(kernelsOf('embedding')[0]!.wgsl).toMatch(/f16>?\(table\[/);
      expect(types('slice')).toEqual(['x: f16, out: f16']);
      expect(types('concat')).toEqual(['x: f16, out: f16', 'x: f16, out: f16']);
      expect(types('transpose').sort()).toEqual(['x: f16, out: f16', 'x: f16, out: f32']);
      expect(kernelsOf('transpose').find((k) => k.bindings[1]!.type === 'f32')!.wgsl).toContain('f32(x[');
      for (const [out, e] of Object.entries(compareOutputs(r))) {
        expect(e.nonFiniteMismatches, out).toBe(0);
        expect(e.rel, out).toBeLessThanOrEqual(TOL);
      }
      const e = compareOutputs(r)['output0']!;
      const f32 = compareOutputs(await runBoth(LAYOUT, { target: { ...target, shaderF16: false } }))['output0']!;
      expect(e.rel).toBeGreaterThan(10 * f32.rel);
    });
  }
});
