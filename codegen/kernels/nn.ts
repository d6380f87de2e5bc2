import type { Graph, Node } from '../../compiler/ir.js';
import { Block, bufferRef, flatGrid } from '../kir/build.js';
import { cast } from '../kir/ir.js';
import { toSpec } from '../kir/wgsl.js';
import { constant } from './fused/body.js';
import { bufferOf, f32, kernel, read, shapeOf, sizeOf, u32, WG, write, type KernelSpec, type KernelTarget } from './kernel.js';

/** Rows of `table` gathered by `ids`, four elements at a time when the row length allows; ids outside the table give zero rows. */
export function embeddingKernel(node: Node, g: Graph, target: KernelTarget): KernelSpec {
  const [table, ids] = node.inputs.map((id) => g.values[id]!);
  const out = g.values[node.outputs[0]!]!;
  const [V, D] = shapeOf(table!) as [number, number];
  const w = D % 4 === 0 ? 4 : 1;
  const buffers = [bufferOf(read('table', table!), w), bufferOf(read('ids', ids!)), bufferOf(write('out', out), w)];
  const [TABLE, IDS, OUT] = buffers.map(bufferRef);
  const b = new Block();
  const { index: i, dispatch } = flatGrid(b, 'i', sizeOf(shapeOf(out)) / w, WG);
  const row = b.let('row', i.div(D / w));
  const col = b.let('col', i.mod(D / w));
  const id = b.let('id', IDS!.at(row));
  b.if(id.lt(0).or(id.ge(V)), (t) => { t.set(OUT!.at(i), constant(0, buffers[2]!.elem)); t.return(); });
  b.set(OUT!.at(i), TABLE!.at(cast('u32', id).mul(D / w).add(col)));
  return toSpec({
    name: 'embedding', doc: [`${sizeOf(shapeOf(ids!))} rows of ${D} from a table of ${V}, ${w === 4 ? 'four elements' : 'one element'} per invocation`],
    enables: [], consts: [], buffers, shared: [], workgroupSize: [WG, 1, 1], dispatch, body: b.stmts,
  }, target);
}

export function rotaryKernel(node: Node, g: Graph): KernelSpec {
  const x = g.values[node.inputs[0]!]!;
  const out = g.values[node.outputs[0]!]!;
  const shape = shapeOf(x);
  const W = shape[shape.length - 1]!;
  const S = shape[shape.length - 2]!;
  const heads = node.attrs['heads'] as number;
  const Dh = W / heads;
  const half = Dh / 2;
  const theta = node.attrs['theta'] as number;
  const offset = node.attrs['offset'] as number;
  const body = [
    `let col = i % ${u32(W)};`,
    `let pos = f32((i / ${u32(W)}) % ${u32(S)} + ${u32(offset)});`,
    `let j = col % ${u32(Dh)};`,
    `let jj = j % ${u32(half)};`,
    `let freq = pow(${f32(theta)}, -f32(2u * jj) / ${f32(Dh)});`,
    `let ang = pos * freq;`,
    `let c = cos(ang);`,
    node.attrs['inverse'] ? `let s = -sin(ang);` : `let s = sin(ang);`,
    `if (j < ${u32(half)}) {`,
    `  out[i] = x[i] * c - x[i + ${u32(half)}] * s;`,
    `} else {`,
    `  out[i] = x[i] * c + x[i - ${u32(half)}] * s;`,
    `}`,
  ].join('\n');
  return kernel('rotary', [{ name: 'x', access: 'read', value: x }, { name: 'out', access: 'read_write', value: out }], body, sizeOf(shape));
}

/** k selection passes per row; ties resolve to the lower index, as in the CPU reference. */
export function topkKernel(node: Node, g: Graph): KernelSpec {
  const x = g.values[node.inputs[0]!]!;
  const [vals, idx] = node.outputs.map((id) => g.values[id]!);
  const shape = shapeOf(x);
  const n = shape[shape.length - 1]!;
  const rows = sizeOf(shape) / n;
  const K = shapeOf(vals!)[shape.length - 1]!;
  const body = [
    `let base = i * ${u32(n)};`,
    `var pv = 3.4028234e38;`,
    `var pi = -1;`,
    `for (var t = 0u; t < ${u32(K)}; t = t + 1u) {`,
    `  var bv = -3.4028234e38;`,
    `  var bi = -1;`,
    `  for (var j = 0; j < ${n}; j = j + 1) {`,
    `    let xv = x[base + u32(j)];`,
    `    let after = t == 0u || xv < pv || (xv == pv && j > pi);`, // the first pass takes anything: +inf is not below the sentinel
    `    if (after && (bi < 0 || xv > bv)) { bv = xv; bi = j; }`,
    `  }`,
    `  vals[i * ${u32(K)} + t] = bv;`,
    `  idx[i * ${u32(K)} + t] = bi;`,
    `  pv = bv;`,
    `  pi = bi;`,
    `}`,
  ].join('\n');
  return kernel('topk', [
    { name: 'x', access: 'read', value: x },
    { name: 'vals', access: 'read_write', value: vals! },
    { name: 'idx', access: 'read_write', value: idx! },
  ], body, rows, 64);
}

export function patchifyKernel(node: Node, g: Graph): KernelSpec {
  const x = g.values[node.inputs[0]!]!;
  const out = g.values[node.outputs[0]!]!;
  const [, C, H, W] = shapeOf(x);
  const p = node.attrs['patch'] as number;
  const gw = W! / p;
  const P = (H! / p) * gw;
  const E = C! * p * p;
  const body = [
    `let e = i % ${u32(E)};`,
    `let pi = (i / ${u32(E)}) % ${u32(P)};`,
    `let b = i / ${u32(E * P)};`,
    `let c = e / ${u32(p * p)};`,
    `let dy = (e % ${u32(p * p)}) / ${u32(p)};`,
    `let dx = e % ${u32(p)};`,
    `let y = (pi / ${u32(gw)}) * ${u32(p)} + dy;`,
    `let xx = (pi % ${u32(gw)}) * ${u32(p)} + dx;`,
    `out[i] = x[((b * ${u32(C!)} + c) * ${u32(H!)} + y) * ${u32(W!)} + xx];`,
  ].join('\n');
  return kernel('patchify', [{ name: 'x', access: 'read', value: x }, { name: 'out', access: 'read_write', value: out }], body, sizeOf(shapeOf(out)));
}

export function conv2dKernel(node: Node, g: Graph): KernelSpec {
  const [x, w] = node.inputs.map((id) => g.values[id]!);
  const out = g.values[node.outputs[0]!]!;
  const [, C, H, W] = shapeOf(x!);
  const [O, , KH, KW] = shapeOf(w!);
  const [, , Ho, Wo] = shapeOf(out);
  const s = node.attrs['stride'] as number;
  const pad = node.attrs['padding'] as number;
  const body = [
    `let ox = i % ${u32(Wo!)};`,
    `let oy = (i / ${u32(Wo!)}) % ${u32(Ho!)};`,
    `let o = (i / ${u32(Wo! * Ho!)}) % ${u32(O!)};`,
    `let b = i / ${u32(Wo! * Ho! * O!)};`,
    `var acc = 0.0;`,
    `for (var c = 0u; c < ${u32(C!)}; c = c + 1u) {`,
    `  for (var ky = 0u; ky < ${u32(KH!)}; ky = ky + 1u) {`,
    `    let iy = i32(oy * ${u32(s)} + ky) - ${pad};`,
    `    if (iy < 0 || iy >= ${H}) { continue; }`,
    `    for (var kx = 0u; kx < ${u32(KW!)}; kx = kx + 1u) {`,
    `      let ix = i32(ox * ${u32(s)} + kx) - ${pad};`,
    `      if (ix < 0 || ix >= ${W}) { continue; }`,
    `      acc = acc + x[((b * ${u32(C!)} + c) * ${u32(H!)} + u32(iy)) * ${u32(W!)} + u32(ix)] * w[((o * ${u32(C!)} + c) * ${u32(KH!)} + ky) * ${u32(KW!)} + kx];`,
    `    }`,
    `  }`,
    `}`,
    `out[i] = acc;`,
  ].join('\n');
  return kernel('conv2d', [
    { name: 'x', access: 'read', value: x! }, { name: 'w', access: 'read', value: w! }, { name: 'out', access: 'read_write', value: out },
  ], body, sizeOf(shapeOf(out)), 64);
}

/**
 * moe_dispatch: one invocation per output element (expert, slot, d). The slot's token is
 * found by replaying the group's assignments in order (token, then choice) until the
 * expert's `pos`-th one; empty slots are zero.
 */
export function moeDispatchKernel(node: Node, g: Graph): KernelSpec {
  const [x, choice] = node.inputs.map((id) => g.values[id]!);
  const out = g.values[node.outputs[0]!]!;
  const [T, D] = shapeOf(x!);
  const k = shapeOf(choice!)[1]!;
  const [E, C] = shapeOf(out);
  const groups = node.attrs['groups'] as number;
  const cap = C! / groups;
  const per = T! / groups;
  const body = [
    `let d = i % ${u32(D!)};`,
    `let c = (i / ${u32(D!)}) % ${u32(C!)};`,
    `let e = i32(i / ${u32(C! * D!)});`,
    `let grp = c / ${u32(cap)};`,
    `let pos = c % ${u32(cap)};`,
    `var seen = 0u;`,
    `var value = 0.0;`,
    `for (var t = grp * ${u32(per)}; t < (grp + 1u) * ${u32(per)}; t = t + 1u) {`,
    `  for (var j = 0u; j < ${u32(k)}; j = j + 1u) {`,
    `    if (choice[t * ${u32(k)} + j] == e) {`,
    `      if (seen == pos) { value = x[t * ${u32(D!)} + d]; }`,
    `      seen = seen + 1u;`,
    `    }`,
    `  }`,
    `}`,
    `out[i] = value;`,
  ].join('\n');
  void E;
  return kernel('moe_dispatch', [
    { name: 'x', access: 'read', value: x! },
    { name: 'choice', access: 'read', value: choice! },
    { name: 'out', access: 'read_write', value: out },
  ], body, sizeOf(shapeOf(out)));
}

/** moe_combine: one invocation per output element (token, d); each choice's slot is recounted within its group. */
export function moeCombineKernel(node: Node, g: Graph): KernelSpec {
  const [y, choice, gates] = node.inputs.map((id) => g.values[id]!);
  const out = g.values[node.outputs[0]!]!;
  const [E, C, D] = shapeOf(y!);
  const [T, k] = shapeOf(choice!);
  const groups = node.attrs['groups'] as number;
  const cap = C! / groups;
  const per = T! / groups;
  const body = [
    `let d = i % ${u32(D!)};`,
    `let t = i / ${u32(D!)};`,
    `let grp = t / ${u32(per)};`,
    `var acc = 0.0;`,
    `for (var j = 0u; j < ${u32(k!)}; j = j + 1u) {`,
    `  let e = choice[t * ${u32(k!)} + j];`,
    `  if (e < 0 || e >= ${E}) { continue; }`,
    `  var pos = 0u;`,
    `  for (var s = grp * ${u32(per)}; s <= t; s = s + 1u) {`,
    `    let stop = select(${u32(k!)}, j, s == t);`,
    `    for (var jj = 0u; jj < stop; jj = jj + 1u) {`,
    `      if (choice[s * ${u32(k!)} + jj] == e) { pos = pos + 1u; }`,
    `    }`,
    `  }`,
    `  if (pos < ${u32(cap)}) {`,
    `    acc = acc + gates[t * ${u32(k!)} + j] * y[((u32(e) * ${u32(C!)}) + grp * ${u32(cap)} + pos) * ${u32(D!)} + d];`,
    `  }`,
    `}`,
    `out[i] = acc;`,
  ].join('\n');
  return kernel('moe_combine', [
    { name: 'y', access: 'read', value: y! },
    { name: 'choice', access: 'read', value: choice! },
    { name: 'gates', access: 'read', value: gates! },
    { name: 'out', access: 'read_write', value: out },
  ], body, sizeOf(shapeOf(out)));
}
