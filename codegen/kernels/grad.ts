import { dimValue, type Dim } from '../../compiler/dims.js';
import type { Graph, Node, Value } from '../../compiler/ir.js';
import { attentionDims, maskZeroOf } from './attention.js';
import { aroundAxis, broadcastOffset, coords, declareBindings, f32, grid, kernel, shapeOf, sizeOf, u32, type BindingDecl, type KernelSpec } from './kernel.js';

/**
 * Kernels of the backward-only ops (compiler/reference/grad-ops.ts has their float64
 * references). WGSL has no float atomics, so every scatter-add of the CPU reference is
 * written here as a gather: one invocation per output element (or row) loops over the
 * inputs that contribute to it, in the reference's order.
 */

const valuesOf = (ids: readonly number[], g: Graph): Value[] => ids.map((id) => g.values[id]!);
const read = (name: string, value: Value): BindingDecl => ({ name, access: 'read', value });
const write = (name: string, value: Value): BindingDecl => ({ name, access: 'read_write', value });

/**
 * f'(x) for unary_grad, as a WGSL function `deriv`, in forms without cancellation:
 * sigmoid' = e/(1+e)² and tanh' = sech² = 4e/(1+e)² with e = exp(−|x|) (resp. exp(−2|x|)),
 * never 1 − t² or s·(1 − s), which lose every digit where the function saturates. Exact
 * GELU uses the normal CDF through a Chebyshev erfc (Numerical Recipes, relative error
 * < 1.2e-7), accurate in the far negative tail where Φ is tiny and 1 − erf would cancel.
 */
const DERIV: Record<string, string> = {
  relu: 'return select(0.0, 1.0, x > 0.0);',
  abs: 'return sign(x);',
  gelu: [
    'let z = abs(x) * 0.70710678;',
    'let t = 1.0 / (1.0 + 0.5 * z);',
    'let poly = -1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))));',
    'let tail = 0.5 * t * exp(-z * z + poly);',
    'let cdf = select(1.0 - tail, tail, x < 0.0);',
    'return cdf + x * exp(-0.5 * x * x) * 0.39894228;',
  ].join('\n'),
  // 0.5·(1 + tanh u) = 1/(1+e) for u ≥ 0 and e/(1+e) for u < 0, with e = exp(−2|u|).
  gelu_tanh: [
    'let u = 0.7978845608 * (x + 0.044715 * x * x * x);',
    'let e = exp(-2.0 * abs(u));',
    'let half = select(1.0 / (1.0 + e), e / (1.0 + e), u < 0.0);',
    'return half + 0.5 * x * (4.0 * e / ((1.0 + e) * (1.0 + e))) * 0.7978845608 * (1.0 + 0.134145 * x * x);',
  ].join('\n'),
  silu: 'let s = 1.0 / (1.0 + exp(-x));\nreturn s * (1.0 + x / (1.0 + exp(x)));',
  sigmoid: 'let e = exp(-abs(x));\nreturn e / ((1.0 + e) * (1.0 + e));',
  tanh: 'let e = exp(-2.0 * abs(x));\nreturn 4.0 * e / ((1.0 + e) * (1.0 + e));',
  exp: 'return exp(x);',
  log: 'return 1.0 / x;',
  sqrt: 'return 0.5 * inverseSqrt(x);',
  rsqrt: 'return -0.5 * inverseSqrt(x) / x;',
};

/** unary_grad {fn}: g · f'(x), elementwise (g and x have one shape). */
export function unaryGradKernel(node: Node, g: Graph): KernelSpec {
  const [gv, x] = valuesOf(node.inputs, g);
  const out = g.values[node.outputs[0]!]!;
  const fn = node.attrs['fn'] as string;
  const deriv = DERIV[fn];
  if (!deriv) throw new Error(`unary_grad: no derivative for '${fn}'`);
  const helper = `fn deriv(x: f32) -> f32 {\n${deriv.replace(/^/gm, '  ')}\n}`;
  return kernel(`unary_grad_${fn}`, [read('g', gv!), read('x', x!), write('out', out)], 'out[i] = g[i] * deriv(x[i]);', sizeOf(shapeOf(out)), 256, helper);
}

/** minmax_grad {op, side}: g where `a` won (ties to `a`) for side 0, where `b` won for side 1; a and b broadcast to g. */
export function minmaxGradKernel(node: Node, g: Graph): KernelSpec {
  const [gv, a, b] = valuesOf(node.inputs, g);
  const out = g.values[node.outputs[0]!]!;
  const os = shapeOf(out);
  const aWins = node.attrs['op'] === 'maximum' ? 'x >= y' : 'x <= y';
  const body = [
    broadcastOffset('oa', 'i', os, shapeOf(a!)),
    broadcastOffset('ob', 'i', os, shapeOf(b!)),
    'let x = a[oa];',
    'let y = b[ob];',
    `out[i] = select(0.0, g[i], ${node.attrs['side'] === 0 ? '' : '!'}(${aWins}));`,
  ].join('\n');
  return kernel('minmax_grad', [read('g', gv!), read('a', a!), read('b', b!), write('out', out)], body, sizeOf(os));
}

/** reduce_grad {op, axis}: one invocation per reduced row; g goes to the first position equal to the extreme y. */
export function reduceGradKernel(node: Node, g: Graph): KernelSpec {
  const [gv, x, y] = valuesOf(node.inputs, g);
  const out = g.values[node.outputs[0]!]!;
  const { outer, len, inner } = aroundAxis(shapeOf(x!), node.attrs['axis'] as number);
  const body = [
    `let base = (i / ${u32(inner)}) * ${u32(len * inner)} + i % ${u32(inner)};`,
    'let want = y[i];',
    'var found = false;',
    `for (var j = 0u; j < ${u32(len)}; j = j + 1u) {`,
    `  let p = base + j * ${u32(inner)};`,
    '  let v = x[p];',
    '  let hit = !found && (v == want || (v != v && want != want));',
    '  out[p] = select(0.0, g[i], hit);',
    '  found = found || hit;',
    '}',
  ].join('\n');
  return kernel('reduce_grad', [read('g', gv!), read('x', x!), read('y', y!), write('out', out)], body, outer * inner, 64);
}

/** embedding_grad: one invocation per table entry (v, d) sums g over the positions whose id is v. */
export function embeddingGradKernel(node: Node, g: Graph): KernelSpec {
  const [gv, ids] = valuesOf(node.inputs, g);
  const out = g.values[node.outputs[0]!]!;
  const D = shapeOf(out)[1]!;
  const body = [
    `let v = i32(i / ${u32(D)});`,
    `let d = i % ${u32(D)};`,
    'var acc = 0.0;',
    `for (var r = 0u; r < ${u32(sizeOf(shapeOf(ids!)))}; r = r + 1u) {`,
    `  if (ids[r] == v) { acc = acc + g[r * ${u32(D)} + d]; }`,
    '}',
    'out[i] = acc;',
  ].join('\n');
  return kernel('embedding_grad', [read('g', gv!), read('ids', ids!), write('out', out)], body, sizeOf(shapeOf(out)), 64);
}

/** topk_grad: one invocation per input position (row, c) gathers the values' gradients whose index is c. */
export function topkGradKernel(node: Node, g: Graph): KernelSpec {
  const [gv, idx] = valuesOf(node.inputs, g);
  const out = g.values[node.outputs[0]!]!;
  const os = shapeOf(out);
  const n = os[os.length - 1]!;
  const gs = shapeOf(gv!);
  const k = gs[gs.length - 1]!;
  const body = [
    `let c = i32(i % ${u32(n)});`,
    `let base = (i / ${u32(n)}) * ${u32(k)};`,
    'var acc = 0.0;',
    `for (var j = 0u; j < ${u32(k)}; j = j + 1u) {`,
    '  if (idx[base + j] == c) { acc = acc + g[base + j]; }',
    '}',
    'out[i] = acc;',
  ].join('\n');
  return kernel('topk_grad', [read('g', gv!), read('idx', idx!), write('out', out)], body, sizeOf(os));
}

/** slice_grad {axis, start}: g inside [start, start + size) along the axis, zero outside. */
export function sliceGradKernel(node: Node, g: Graph): KernelSpec {
  const gv = g.values[node.inputs[0]!]!;
  const out = g.values[node.outputs[0]!]!;
  const axis = node.attrs['axis'] as number;
  const s = node.attrs['start'] as number | Dim;
  const start = typeof s === 'number' ? s : dimValue(s)!;
  const { len, inner } = aroundAxis(shapeOf(out), axis);
  const m = shapeOf(gv)[axis]!;
  const outside = [...(start > 0 ? [`c < ${u32(start)}`] : []), ...(start + m < len ? [`c >= ${u32(start + m)}`] : [])];
  const body = [
    `let c = (i / ${u32(inner)}) % ${u32(len)};`,
    outside.length ? `if (${outside.join(' || ')}) { out[i] = 0.0; return; }` : '',
    `out[i] = g[((i / ${u32(len * inner)}) * ${u32(m)} + c - ${u32(start)}) * ${u32(inner)} + i % ${u32(inner)}];`,
  ].filter(Boolean).join('\n');
  return kernel('slice_grad', [read('g', gv), write('out', out)], body, sizeOf(shapeOf(out)));
}

/** patchify_grad {patch}: one invocation per image element reads its one place in the patch vectors. */
export function patchifyGradKernel(node: Node, g: Graph): KernelSpec {
  const gv = g.values[node.inputs[0]!]!;
  const out = g.values[node.outputs[0]!]!;
  const xs = shapeOf(out);
  const [, C, H, W] = xs as [number, number, number, number];
  const p = node.attrs['patch'] as number;
  const P = (H / p) * (W / p);
  const E = C * p * p;
  const body = [
    coords('i', xs),
    `let pi = (c2 / ${u32(p)}) * ${u32(W / p)} + c3 / ${u32(p)};`,
    `let e = c1 * ${u32(p * p)} + (c2 % ${u32(p)}) * ${u32(p)} + c3 % ${u32(p)};`,
    `out[i] = g[(c0 * ${u32(P)} + pi) * ${u32(E)} + e];`,
  ].join('\n');
  return kernel('patchify_grad', [read('g', gv), write('out', out)], body, sizeOf(xs));
}

/**
 * cross_entropy_grad: g · (softmax(row) − onehot(label)) / count, one invocation per row.
 * The mean's count of valid labels is needed by every row: each workgroup counts it
 * itself (a strided pass and a tree sum in workgroup memory), so nothing is stored.
 */
export function crossEntropyGradKernel(node: Node, g: Graph): KernelSpec {
  const [gv, lg, lb] = valuesOf(node.inputs, g);
  const out = g.values[node.outputs[0]!]!;
  const shape = shapeOf(lg!);
  const V = shape[shape.length - 1]!;
  const rows = sizeOf(shape) / V;
  const gr = grid(rows, 256);
  const wgsl = `// mdc kernel: cross_entropy_grad
@group(0) @binding(0) var<storage, read> g: array<f32>;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read> labels: array<i32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
var<workgroup> part: array<u32, 256>;
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  var cnt = 0u;
  for (var r = lid.x; r < ${u32(rows)}; r = r + 256u) {
    let l = labels[r];
    if (l >= 0 && l < ${V}) { cnt = cnt + 1u; }
  }
  part[lid.x] = cnt;
  workgroupBarrier();
  for (var stride = 128u; stride > 0u; stride = stride / 2u) {
    if (lid.x < stride) { part[lid.x] = part[lid.x] + part[lid.x + stride]; }
    workgroupBarrier();
  }
  let scale = g[0] / f32(max(part[0], 1u));
  let i = ${gr.index};
  if (i >= ${u32(rows)}) { return; }
  let base = i * ${u32(V)};
  let label = labels[i];
  if (label < 0 || label >= ${V}) {
    for (var j = 0u; j < ${u32(V)}; j = j + 1u) { out[base + j] = 0.0; }
    return;
  }
  var m = logits[base];
  for (var j = 1u; j < ${u32(V)}; j = j + 1u) { m = max(m, logits[base + j]); }
  var s = 0.0;
  for (var j = 0u; j < ${u32(V)}; j = j + 1u) { s = s + exp(logits[base + j] - m); }
  let inv = 1.0 / s;
  for (var j = 0u; j < ${u32(V)}; j = j + 1u) {
    out[base + j] = scale * (exp(logits[base + j] - m) * inv - select(0.0, 1.0, i32(j) == label));
  }
}
`;
  return {
    name: 'cross_entropy_grad', wgsl, workgroupSize: [256, 1, 1], dispatch: gr.dispatch,
    bindings: declareBindings([read('g', gv!), read('logits', lg!), read('labels', lb!), write('out', out)]).bindings,
  };
}

/**
 * attention_grad: (dq, dk, dv) in three passes, none storing a score matrix.
 *  1. per (b, h, query i): the row's log-sum-exp L_i and D_i = Σ_j p_ij (g_i·v_j), by an
 *     online pass over the keys, written into the first two entries of dq's own row;
 *  2. per (b, kv head, key j): dk_j = scale Σ_{h,i} ds_ij q_i and dv_j = Σ_{h,i} p_ij g_i over
 *     the heads of its group and the queries that see it, with p_ij = exp(s_ij − L_i) and
 *     ds_ij = p_ij (g_i·v_j − D_i);
 *  3. per (b, h, query i): reads its row's (L_i, D_i), then overwrites the row with
 *     dq_i = scale Σ_j ds_ij k_j.
 * dq's row (b, i, h) holds Dh entries: with Dh = 1 there is no room for two statistics,
 * and passes 2 and 3 recompute them instead. Parking them in dq relies on a node's outputs
 * never sharing bytes with its inputs (plan.ts gives every output its own buffer, and
 * compiler/memory keeps a node's inputs and outputs live together).
 */
export function attentionGradKernels(node: Node, g: Graph): KernelSpec[] {
  const [gv, q, k, v, mask] = valuesOf(node.inputs, g);
  const [dq, dk, dv] = valuesOf(node.outputs, g);
  const { B, Sq, Sk, H, KVH, D: Dh, causal, masked: hasMask, scale: scaleValue } = attentionDims(node, q!, k!);
  const G = H / KVH;
  const W = H * Dh;
  const KW = KVH * Dh;
  const stored = Dh >= 2;
  const maskZero = maskZeroOf(hasMask ? mask : undefined);
  const dot = (name: string, a: string, b: string) => [
    `fn ${name}(qb: u32, kb: u32) -> f32 {`,
    '  var s = 0.0;',
    `  for (var d = 0u; d < ${u32(Dh)}; d = d + 1u) { s = s + ${a}[qb + d] * ${b}[kb + d]; }`,
    '  return s;',
    '}',
  ].join('\n');
  const helpers = [
    dot('qk', 'q', 'k'),
    dot('gv', 'g', 'v'),
    `fn key_ok(b: u32, j: u32) -> bool { return ${hasMask ? `mask[b * ${u32(Sk)} + j] != ${maskZero}` : 'true'}; }`,
    // Signed: with Sq > Sk the first queries see no key at all.
    `fn last_key(qi: u32) -> i32 { return ${causal ? `min(i32(qi) + ${Sk - Sq}, ${Sk - 1})` : `${Sk - 1}`}; }`,
    `fn kv_base(b: u32, j: u32, kvh: u32) -> u32 { return (b * ${u32(Sk)} + j) * ${u32(KW)} + kvh * ${u32(Dh)}; }`,
    `fn q_base(b: u32, qi: u32, h: u32) -> u32 { return (b * ${u32(Sq)} + qi) * ${u32(W)} + h * ${u32(Dh)}; }`,
  ];
  const rowStats = [
    '/// (log-sum-exp of the row\'s scaled scores, Σ_j p_j (g·v_j)); a row that sees no key gives p = 0.',
    'fn row_stats(b: u32, h: u32, qi: u32) -> vec2<f32> {',
    '  let qb = q_base(b, qi, h);',
    '  var m = -3.4028234e38;',
    '  var l = 0.0;',
    '  var a = 0.0;',
    '  for (var jj = 0; jj <= last_key(qi); jj = jj + 1) {',
    '    let j = u32(jj);',
    '    if (!key_ok(b, j)) { continue; }',
    `    let kb = kv_base(b, j, h / ${u32(G)});`,
    `    let s = qk(qb, kb) * ${f32(scaleValue)};`,
    '    let mn = max(m, s);',
    '    let corr = exp(m - mn);',
    '    let p = exp(s - mn);',
    '    l = l * corr + p;',
    '    a = a * corr + p * gv(qb, kb);',
    '    m = mn;',
    '  }',
    '  if (l == 0.0) { return vec2<f32>(3.4028234e38, 0.0); }',
    '  return vec2<f32>(m + log(l), a / l);',
    '}',
  ].join('\n');
  const scale = f32(scaleValue);
  const ins: BindingDecl[] = [read('g', gv!), read('q', q!), read('k', k!), read('v', v!), ...(hasMask ? [read('mask', mask!)] : [])];
  const extra = [...helpers, ...(stored ? [] : [rowStats])].join('\n');
  const perQuery = [`let qi = i % ${u32(Sq)};`, `let h = (i / ${u32(Sq)}) % ${u32(H)};`, `let b = i / ${u32(Sq * H)};`, 'let qb = q_base(b, qi, h);'];
  // p_ij and ds_ij of query row qb against key kb, given the row's statistics st.
  const probs = ['let p = exp(qk(qb, kb) * ' + scale + ' - st.x);', `let ds = p * (gv(qb, kb) - st.y) * ${scale};`];

  const statsKernel = kernel('attention_grad_stats', [...ins, write('dq', dq!)], [
    ...perQuery, 'let st = row_stats(b, h, qi);', 'dq[qb] = st.x;', 'dq[qb + 1u] = st.y;',
  ].join('\n'), B * H * Sq, 64, [...helpers, rowStats].join('\n'));

  const kvKernel = kernel('attention_grad_kv', [...ins, ...(stored ? [read('stats', dq!)] : []), write('dk', dk!), write('dv', dv!)], [
    `let j = i % ${u32(Sk)};`,
    `let kvh = (i / ${u32(Sk)}) % ${u32(KVH)};`,
    `let b = i / ${u32(Sk * KVH)};`,
    'let kb = kv_base(b, j, kvh);',
    `var gk: array<f32, ${Dh}>;`,
    `var gw: array<f32, ${Dh}>;`,
    `for (var d = 0u; d < ${u32(Dh)}; d = d + 1u) { gk[d] = 0.0; gw[d] = 0.0; }`,
    'if (key_ok(b, j)) {',
    `  for (var h = kvh * ${u32(G)}; h < (kvh + 1u) * ${u32(G)}; h = h + 1u) {`,
    `    for (var ii = ${causal ? `max(i32(j) + ${Sq - Sk}, 0)` : '0'}; ii < ${Sq}; ii = ii + 1) {`,
    '      let qi = u32(ii);',
    '      let qb = q_base(b, qi, h);',
    `      let st = ${stored ? 'vec2<f32>(stats[qb], stats[qb + 1u])' : 'row_stats(b, h, qi)'};`,
    ...probs.map((l) => `      ${l}`),
    `      for (var d = 0u; d < ${u32(Dh)}; d = d + 1u) {`,
    '        gk[d] = gk[d] + ds * q[qb + d];',
    '        gw[d] = gw[d] + p * g[qb + d];',
    '      }',
    '    }',
    '  }',
    '}',
    `for (var d = 0u; d < ${u32(Dh)}; d = d + 1u) { dk[kb + d] = gk[d]; dv[kb + d] = gw[d]; }`,
  ].join('\n'), B * KVH * Sk, 64, extra);

  const qKernel = kernel('attention_grad_q', [...ins, write('dq', dq!)], [
    ...perQuery,
    `let st = ${stored ? 'vec2<f32>(dq[qb], dq[qb + 1u])' : 'row_stats(b, h, qi)'};`,
    `var acc: array<f32, ${Dh}>;`,
    `for (var d = 0u; d < ${u32(Dh)}; d = d + 1u) { acc[d] = 0.0; }`,
    'for (var jj = 0; jj <= last_key(qi); jj = jj + 1) {',
    '  let j = u32(jj);',
    '  if (!key_ok(b, j)) { continue; }',
    `  let kb = kv_base(b, j, h / ${u32(G)});`,
    ...probs.map((l) => `  ${l}`),
    `  for (var d = 0u; d < ${u32(Dh)}; d = d + 1u) { acc[d] = acc[d] + ds * k[kb + d]; }`,
    '}',
    `for (var d = 0u; d < ${u32(Dh)}; d = d + 1u) { dq[qb + d] = acc[d]; }`,
  ].join('\n'), B * H * Sq, 64, extra);

  return stored ? [statsKernel, kvKernel, qKernel] : [kvKernel, qKernel];
}

/** conv2d_grad: dx per input element (b, c, y, x) and dw per weight (o, c, ky, kx), each a gather over the outputs it touched. */
export function conv2dGradKernels(node: Node, g: Graph): KernelSpec[] {
  const [gv, x, w] = valuesOf(node.inputs, g);
  const [dx, dw] = valuesOf(node.outputs, g);
  const [B, C, H, W] = shapeOf(x!) as [number, number, number, number];
  const [O, , KH, KW] = shapeOf(w!) as [number, number, number, number];
  const [, , Ho, Wo] = shapeOf(gv!) as [number, number, number, number];
  const s = node.attrs['stride'] as number;
  const pad = node.attrs['padding'] as number;
  const gAt = (b: string, o: string, oy: string, ox: string) => `g[((${b} * ${u32(O)} + ${o}) * ${u32(Ho)} + ${oy}) * ${u32(Wo)} + ${ox}]`;
  // The output coordinate that tap `k` of input coordinate `p` came from, if any.
  const from = (v: string, p: string, k: string, n: number) => [
    `let t${v} = i32(${p}) + ${pad} - i32(${k});`,
    `if (t${v} < 0 || t${v} % ${s} != 0 || t${v} / ${s} >= ${n}) { continue; }`,
    `let o${v} = u32(t${v} / ${s});`,
  ];
  const dxBody = [
    coords('i', [B, C, H, W]),
    'var acc = 0.0;',
    `for (var o = 0u; o < ${u32(O)}; o = o + 1u) {`,
    `  for (var ky = 0u; ky < ${u32(KH)}; ky = ky + 1u) {`,
    ...from('y', 'c2', 'ky', Ho).map((l) => `    ${l}`),
    `    for (var kx = 0u; kx < ${u32(KW)}; kx = kx + 1u) {`,
    ...from('x', 'c3', 'kx', Wo).map((l) => `      ${l}`),
    `      acc = acc + ${gAt('c0', 'o', 'oy', 'ox')} * w[((o * ${u32(C)} + c1) * ${u32(KH)} + ky) * ${u32(KW)} + kx];`,
    '    }',
    '  }',
    '}',
    'out[i] = acc;',
  ].join('\n');
  const dwBody = [
    coords('i', [O, C, KH, KW]),
    'var acc = 0.0;',
    `for (var b = 0u; b < ${u32(B)}; b = b + 1u) {`,
    `  for (var oy = 0u; oy < ${u32(Ho)}; oy = oy + 1u) {`,
    `    let iy = i32(oy * ${u32(s)} + c2) - ${pad};`,
    `    if (iy < 0 || iy >= ${H}) { continue; }`,
    `    for (var ox = 0u; ox < ${u32(Wo)}; ox = ox + 1u) {`,
    `      let ix = i32(ox * ${u32(s)} + c3) - ${pad};`,
    `      if (ix < 0 || ix >= ${W}) { continue; }`,
    `      acc = acc + ${gAt('b', 'c0', 'oy', 'ox')} * x[((b * ${u32(C)} + c1) * ${u32(H)} + u32(iy)) * ${u32(W)} + u32(ix)];`,
    '    }',
    '  }',
    '}',
    'out[i] = acc;',
  ].join('\n');
  return [
    kernel('conv2d_grad_x', [read('g', gv!), read('w', w!), write('out', dx!)], dxBody, sizeOf(shapeOf(dx!)), 64),
    kernel('conv2d_grad_w', [read('g', gv!), read('x', x!), write('out', dw!)], dwBody, sizeOf(shapeOf(dw!)), 64),
  ];
}

/**
 * moe_combine_grad: dy per expert slot (e, c, d), found by walking the group's
 * assignments (token, then choice) to the expert's pos-th one; dgates per (t, j), whose
 * slot is the number of earlier assignments of its expert in the group. Assignments past
 * capacity or to no expert get nothing, as in the forward ops.
 */
export function moeCombineGradKernels(node: Node, g: Graph): KernelSpec[] {
  const [gv, y, choice, gates] = valuesOf(node.inputs, g);
  const [dy, dg] = valuesOf(node.outputs, g);
  const [E, C, D] = shapeOf(y!) as [number, number, number];
  const [T, k] = shapeOf(choice!) as [number, number];
  const groups = node.attrs['groups'] as number;
  const cap = C / groups;
  const span = (T / groups) * k; // assignments per group
  const dyBody = [
    `let d = i % ${u32(D)};`,
    `let c = (i / ${u32(D)}) % ${u32(C)};`,
    `let e = i32(i / ${u32(C * D)});`,
    `let first = (c / ${u32(cap)}) * ${u32(span)};`,
    `let pos = c % ${u32(cap)};`,
    'var seen = 0u;',
    'var value = 0.0;',
    `for (var a = first; a < first + ${u32(span)}; a = a + 1u) {`,
    '  if (choice[a] != e) { continue; }',
    `  if (seen == pos) { value = gates[a] * g[(a / ${u32(k)}) * ${u32(D)} + d]; break; }`,
    '  seen = seen + 1u;',
    '}',
    'out[i] = value;',
  ].join('\n');
  const dgBody = [
    'let e = choice[i];',
    `if (e < 0 || e >= ${E}) { out[i] = 0.0; return; }`,
    `let grp = i / ${u32(span)};`,
    'var pos = 0u;',
    `for (var a = grp * ${u32(span)}; a < i; a = a + 1u) { pos = pos + select(0u, 1u, choice[a] == e); }`,
    `if (pos >= ${u32(cap)}) { out[i] = 0.0; return; }`,
    `let yb = (u32(e) * ${u32(C)} + grp * ${u32(cap)} + pos) * ${u32(D)};`,
    `let gb = (i / ${u32(k)}) * ${u32(D)};`,
    'var acc = 0.0;',
    `for (var d = 0u; d < ${u32(D)}; d = d + 1u) { acc = acc + g[gb + d] * y[yb + d]; }`,
    'out[i] = acc;',
  ].join('\n');
  return [
    kernel('moe_combine_grad_y', [read('g', gv!), read('choice', choice!), read('gates', gates!), write('out', dy!)], dyBody, sizeOf(shapeOf(dy!)), 64),
    kernel('moe_combine_grad_gates', [read('g', gv!), read('y', y!), read('choice', choice!), write('out', dg!)], dgBody, sizeOf(shapeOf(dg!)), 64),
  ];
}
