import type { Graph, Node, Value } from '../../compiler/ir.js';
import { convert, declareBindings, f32, shapeOf, storageOf, u32, type KernelSpec, type KernelTarget } from './kernel.js';

/**
 * Flash-style attention: one workgroup owns a block of query rows of one (batch, head)
 * and walks the keys in blocks with an online softmax (a running max and sum per row,
 * the accumulator rescaled when the max grows), so no score matrix is ever stored.
 * Causal attention stops at the block's last visible key and masks per row inside the
 * diagonal block; a padding mask (zero = ignore the key) is checked per key; grouped KV
 * heads read kv head h / (heads / kv_heads). Rows that see no key at all are zero.
 *
 * Two shapes of the same algorithm:
 * - subgroup (targets with subgroups): a workgroup is one subgroup of `lanes`
 *   invocations; lane l scores key j0 + l for all of the block's query rows (their q
 *   values kept spread over the lanes and fetched by subgroupShuffle), the block's
 *   max and sum come from subgroupMax / subgroupAdd, and for p·v lane l accumulates
 *   head dims l, l + lanes, ... with each key's probability shuffled from its lane.
 *   Both loops run over the lane index c at run time (unrolled, the kernel grew to
 *   thousands of lines that llvmpipe took seconds to compile, and ran slower).
 *   Keys and values are read once per block of query rows instead of once per row.
 * - workgroup (portable): one invocation per query row; each key block's k and v rows
 *   are staged in workgroup memory by all invocations together, then every row reads
 *   them from there.
 */
export function attentionKernel(node: Node, g: Graph, target: KernelTarget = {}): KernelSpec {
  const a = attentionShape(node, g, target.f16Values);
  return target.subgroupSize ? subgroupAttention(a, target.subgroupSize) : workgroupAttention(a);
}

/** The sizes and options of an attention node or its gradient (attention_grad, grad.ts), from q, k and its attributes. */
export interface AttentionDims {
  readonly B: number; readonly Sq: number; readonly Sk: number; readonly H: number; readonly KVH: number;
  /** Head size. */
  readonly D: number;
  readonly causal: boolean; readonly scale: number;
  /** A padding mask is given (has_mask). */
  readonly masked: boolean;
}

export function attentionDims(node: Node, q: Value, k: Value): AttentionDims {
  const [B, Sq, W] = shapeOf(q);
  const H = node.attrs['heads'] as number;
  return {
    B: B!, Sq: Sq!, Sk: shapeOf(k)[1]!, H, KVH: node.attrs['kv_heads'] as number, D: W! / H,
    causal: !!node.attrs['causal'], scale: node.attrs['scale'] as number, masked: !!node.attrs['has_mask'],
  };
}

/** The WGSL zero of a mask's storage: a key whose mask entry equals it is ignored. */
export const maskZeroOf = (mask: Value | undefined): string => (mask && storageOf(mask) === 'f32' ? '0.0' : '0');

interface AttentionShape extends AttentionDims {
  readonly q: Value; readonly k: Value; readonly v: Value; readonly mask: Value | undefined; readonly out: Value;
  /** Values the plan stores as f16 (loaded into f32, stored rounded). */
  readonly half: ReadonlySet<number>;
}

function attentionShape(node: Node, g: Graph, half: ReadonlySet<number> = new Set()): AttentionShape {
  const [q, k, v, mask] = node.inputs.map((id) => g.values[id]!);
  const dims = attentionDims(node, q!, k!);
  return { ...dims, q: q!, k: k!, v: v!, mask: dims.masked ? mask : undefined, out: g.values[node.outputs[0]!]!, half };
}

const NEG = '-3.4028234e38';

/** Bindings, their declarations and the index expressions both shapes share. */
function frame(a: AttentionShape) {
  const binds = [
    { name: 'q', access: 'read' as const, value: a.q }, { name: 'k', access: 'read' as const, value: a.k }, { name: 'v', access: 'read' as const, value: a.v },
    ...(a.mask ? [{ name: 'mask', access: 'read' as const, value: a.mask }] : []),
    { name: 'out', access: 'read_write' as const, value: a.out },
  ];
  const maskZero = maskZeroOf(a.mask);
  const { decls, bindings, features } = declareBindings(binds, a.half);
  const halfNames = new Set(bindings.filter((b) => b.type === 'f16').map((b) => b.name));
  /** Element `i` of buffer `name` as f32 (widened from f16 storage). */
  const ld = (name: string, i: string) => (halfNames.has(name) ? convert(`${name}[${i}]`, 'f16', 'f32') : `${name}[${i}]`);
  return {
    decls, bindings, features, ld,
    /** `out[i] = value`, rounded to f16 for f16 storage. */
    store: (i: string, value: string) => `out[${i}] = ${convert(value, 'f32', halfNames.has('out') ? 'f16' : 'f32')};`,
    /** Offset of key/value row j (a u32 expression already below Sk) of kv head kvh. */
    kvRow: (j: string) => `(b * ${u32(a.Sk)} + ${j}) * ${u32(a.KVH * a.D)} + kvh * ${u32(a.D)}`,
    /** The padding mask admits key j (j < Sk). */
    admitted: (j: string) => (a.mask ? `${ld('mask', `b * ${u32(a.Sk)} + ${j}`)} != ${maskZero}` : ''),
    /** One past the last key any query row in [q0, q0 + rows) may see (i32). */
    keyEnd: (rows: number) => (a.causal ? `min(i32(q0) + ${rows - 1 + a.Sk - a.Sq}, ${a.Sk - 1}) + 1` : `${a.Sk}`),
    head: [`let h = wid.y;`, `let b = wid.z;`, `let kvh = h / ${u32(a.H / a.KVH)};`],
  };
}

const spec = (name: string, wgsl: string[], wg: number, dispatch: [number, number, number], bindings: KernelSpec['bindings'], features?: string[]): KernelSpec => ({
  name, wgsl: wgsl.join('\n') + '\n', workgroupSize: [wg, 1, 1], dispatch, bindings, ...(features ? { features } : {}),
});

const range = (n: number) => Array.from({ length: n }, (_, i) => i);
const indent = (lines: string[], by = '  ') => lines.map((l) => by + l);

/** Rows per subgroup: 16 (the fastest measured on llvmpipe), fewer when a row's registers grow with the head size. */
export function subgroupRows(Sq: number, D: number, lanes: number): number {
  const perLane = Math.ceil(D / lanes);
  return Math.max(1, Math.min(16, Math.floor(128 / perLane), 2 ** Math.ceil(Math.log2(Sq))));
}

function subgroupAttention(a: AttentionShape, lanes: number): KernelSpec {
  const fr = frame(a);
  const TM = subgroupRows(a.Sq, a.D, lanes);
  const DL = Math.ceil(a.D / lanes);
  const W = a.H * a.D;
  /** Head dim t·lanes + lane of a row starting at `base`; clamped when the last group is partial. */
  const dim = (t: number) => (lanes * (t + 1) <= a.D ? `lane + ${u32(lanes * t)}` : `min(lane + ${u32(lanes * t)}, ${u32(a.D - 1)})`);
  const partial = (t: number) => lanes * (t + 1) > a.D;
  const body: string[] = [...fr.head, `let q0 = wid.x * ${u32(TM)};`];
  for (const r of range(TM)) {
    body.push(`let qb${r} = (b * ${u32(a.Sq)} + min(q0 + ${u32(r)}, ${u32(a.Sq - 1)})) * ${u32(W)} + h * ${u32(a.D)};`);
    for (const t of range(DL)) {
      const load = `${fr.ld('q', `qb${r} + ${dim(t)}`)} * ${f32(a.scale)}`;
      body.push(`let q${r}_${t} = ${partial(t) ? `select(0.0, ${load}, lane + ${u32(lanes * t)} < ${u32(a.D)})` : load};`, `var acc${r}_${t} = 0.0;`);
    }
    body.push(`var m${r} = ${NEG};`, `var l${r} = 0.0;`);
  }
  body.push(`let kend = ${fr.keyEnd(TM)};`, `for (var j0 = 0; j0 < kend; j0 += ${lanes}) {`);
  const blk: string[] = [`let j = u32(j0) + lane;`, `let jc = min(j, ${u32(a.Sk - 1)});`, `let kb = ${fr.kvRow('jc')};`];
  for (const r of range(TM)) blk.push(`var s${r} = 0.0;`);
  // Scores: lane l holds key j0 + l; dim d of a row's q sits in register d / lanes of lane
  // d % lanes (zero past D), fetched with subgroupShuffle at a uniform lane c.
  blk.push(`for (var c = 0u; c < ${u32(lanes)}; c++) {`);
  for (const t of range(DL)) {
    const d = lanes * (t + 1) <= a.D ? `c + ${u32(lanes * t)}` : `min(c + ${u32(lanes * t)}, ${u32(a.D - 1)})`;
    blk.push(`  {`, `    let kd = ${fr.ld('k', `kb + ${d}`)};`, ...range(TM).map((r) => `    s${r} = fma(subgroupShuffle(q${r}_${t}, c), kd, s${r});`), `  }`);
  }
  blk.push(`}`);
  const admitted = fr.admitted('jc');
  for (const r of range(TM)) {
    const ok = [`j < ${u32(a.Sk)}`, ...(admitted ? [admitted] : []), ...(a.causal ? [`i32(j) <= i32(q0) + ${r + a.Sk - a.Sq}`] : [])].join(' && ');
    blk.push(`{`, ...indent([
      `let ok = ${ok};`,
      `let mn = max(m${r}, subgroupMax(select(${NEG}, s${r}, ok)));`,
      `let corr = exp(m${r} - mn);`,
      `s${r} = select(0.0, exp(s${r} - mn), ok);`,
      `l${r} = l${r} * corr + subgroupAdd(s${r});`,
      ...range(DL).map((t) => `acc${r}_${t} = acc${r}_${t} * corr;`),
      `m${r} = mn;`,
    ]), `}`);
  }
  // p·v: key j0 + c's probability is s in lane c; past Sk it is zero, so the clamped row adds nothing.
  blk.push(`for (var c = 0u; c < ${u32(lanes)}; c++) {`, `  let vb = ${fr.kvRow(`min(u32(j0) + c, ${u32(a.Sk - 1)})`)};`);
  for (const t of range(DL)) blk.push(`  let v${t} = ${fr.ld('v', `vb + ${dim(t)}`)};`);
  for (const r of range(TM)) blk.push(`  {`, `    let p = subgroupShuffle(s${r}, c);`, ...range(DL).map((t) => `    acc${r}_${t} = fma(p, v${t}, acc${r}_${t});`), `  }`);
  blk.push(`}`);
  body.push(...indent(blk), `}`);
  for (const r of range(TM)) {
    body.push(`if (q0 + ${u32(r)} < ${u32(a.Sq)}) {`, `  let inv = select(0.0, 1.0 / l${r}, l${r} > 0.0);`);
    for (const t of range(DL)) {
      const store = fr.store(`qb${r} + lane + ${u32(lanes * t)}`, `acc${r}_${t} * inv`);
      body.push(partial(t) ? `  if (lane + ${u32(lanes * t)} < ${u32(a.D)}) { ${store} }` : `  ${store}`);
    }
    body.push(`}`);
  }
  const wgsl = [
    `// mdc kernel: attention (flash, subgroup of ${lanes}, ${TM} query rows per workgroup, key blocks of ${lanes})`,
    `enable subgroups;`, ...fr.decls,
    `@compute @workgroup_size(${lanes})`,
    `fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(subgroup_invocation_id) lane: u32) {`,
    ...indent(body), `}`,
  ];
  return spec('attention', wgsl, lanes, [Math.ceil(a.Sq / TM), a.H, a.B], fr.bindings, ['subgroups', ...fr.features]);
}

/** Query rows per workgroup of the portable kernel. */
const WQ = 64;
/** Head sizes up to this keep q and the accumulator in registers (unrolled); larger ones use arrays and loops. */
const UNROLL_D = 128;

function workgroupAttention(a: AttentionShape): KernelSpec {
  const fr = frame(a);
  const W = a.H * a.D;
  // Beyond the unrolled sizes q and the accumulator are two private arrays of D floats,
  // and WGSL caps a shader's function-scope variables at 8192 bytes in all.
  if (a.D > 1000) throw new Error(`attention with heads of ${a.D} dims: the portable kernel keeps q and the accumulator of a row (${8 * a.D} bytes) in private memory, over WGSL's 8192-byte limit; heads of up to 1000 dims are supported`);
  // Two key blocks (k and v) of BK rows fit 16 KiB of workgroup memory.
  const BK = Math.max(1, Math.min(64, a.Sk, Math.floor(2048 / a.D)));
  const rows = Math.min(WQ, 2 ** Math.ceil(Math.log2(a.Sq)));
  const unrolled = a.D <= UNROLL_D;
  /** Statements over every head dim d: unrolled, or a loop with `d` the index. */
  const perDim = (line: (d: string, reg: (name: string) => string) => string): string[] => (unrolled
    ? range(a.D).map((d) => line(u32(d), (n) => `${n}${d}`))
    : [`for (var d = 0u; d < ${u32(a.D)}; d++) { ${line('d', (n) => `${n}[d]`)} }`]);
  const body: string[] = [...fr.head, `let q0 = wid.x * ${u32(rows)};`, `let qi = q0 + tid;`,
    `let qb = (b * ${u32(a.Sq)} + min(qi, ${u32(a.Sq - 1)})) * ${u32(W)} + h * ${u32(a.D)};`];
  if (unrolled) body.push(...range(a.D).flatMap((d) => [`let qv${d} = ${fr.ld('q', `qb + ${u32(d)}`)} * ${f32(a.scale)};`, `var acc${d} = 0.0;`]));
  else body.push(`var qv: array<f32, ${a.D}>;`, `var acc: array<f32, ${a.D}>;`, ...perDim((d, reg) => `${reg('qv')} = ${fr.ld('q', `qb + ${d}`)} * ${f32(a.scale)}; ${reg('acc')} = 0.0;`));
  body.push(`var m = ${NEG};`, `var l = 0.0;`, `let kend = ${fr.keyEnd(rows)};`);
  if (a.causal) body.push(`let last = i32(qi) + ${a.Sk - a.Sq};`);
  const admitted = fr.admitted('u32(j)');
  const ok = [...(a.causal ? ['j <= last'] : []), ...(admitted ? [admitted] : [])].join(' && ') || 'true';
  body.push(`for (var j0 = 0; j0 < kend; j0 += ${BK}) {`, ...indent([
    // Stage the block's k and v rows; rows past Sk are clamped copies that no query uses.
    `for (var u = tid; u < ${u32(BK * a.D)}; u += ${u32(rows)}) {`,
    `  let at = ${fr.kvRow(`min(u32(j0) + u / ${u32(a.D)}, ${u32(a.Sk - 1)})`)} + u % ${u32(a.D)};`,
    `  Ks[u] = ${fr.ld('k', 'at')};`, `  Vs[u] = ${fr.ld('v', 'at')};`, `}`,
    `workgroupBarrier();`,
    `let n = min(kend - j0, ${BK});`,
    `for (var jj = 0; jj < n; jj++) {`, ...indent([
      `let j = j0 + jj;`, `let o = u32(jj) * ${u32(a.D)};`, `var s = 0.0;`,
      ...perDim((d, reg) => `s = fma(${reg('qv')}, Ks[o + ${d}], s);`),
      `let ok = ${ok};`,
      `let mn = select(m, max(m, s), ok);`,
      `let corr = exp(m - mn);`,
      `let p = select(0.0, exp(s - mn), ok);`,
      `l = l * corr + p;`, `m = mn;`,
      ...perDim((d, reg) => `${reg('acc')} = fma(p, Vs[o + ${d}], ${reg('acc')} * corr);`),
    ]), `}`,
    `workgroupBarrier();`,
  ]), `}`);
  body.push(`if (qi < ${u32(a.Sq)}) {`, `  let inv = select(0.0, 1.0 / l, l > 0.0);`, ...indent(perDim((d, reg) => fr.store(`qb + ${d}`, `${reg('acc')} * inv`))), `}`);
  const wgsl = [
    `// mdc kernel: attention (flash, ${rows} query rows per workgroup, key blocks of ${BK} in workgroup memory)`,
    ...fr.decls,
    `var<workgroup> Ks: array<f32, ${BK * a.D}>;`, `var<workgroup> Vs: array<f32, ${BK * a.D}>;`,
    `@compute @workgroup_size(${rows})`,
    `fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) tid: u32) {`,
    ...indent(body), `}`,
  ];
  return spec('attention', wgsl, rows, [Math.ceil(a.Sq / rows), a.H, a.B], fr.bindings, fr.features.length ? fr.features : undefined);
}
