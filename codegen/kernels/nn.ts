import type { Graph, Node, Value } from '../../compiler/ir.js';
import { Block, bufferRef, flatGrid } from '../kir/build.js';
import { call, cast, f, lit, neg, select, u, type Expr } from '../kir/ir.js';
import { toSpec } from '../kir/wgsl.js';
import { constant } from './fused/body.js';
import { bufferOf, flatKernel, read, shapeOf, WG, write, type KernelSpec, type KernelTarget } from './kernel.js';
import { numel } from '../../layout/mesh.js';

const FLT_MAX = 3.4028234663852886e38;

/**
 * Rows of `table` gathered by `ids`, four elements at a time when the row length allows; ids
 * outside the table give zero rows. With a `start` input (a block of a vocabulary-split
 * table), ids are looked up relative to it.
 */
export function embeddingKernel(node: Node, g: Graph, target: KernelTarget): KernelSpec {
  const [table, ids, start] = node.inputs.map((id) => g.values[id]!);
  const out = g.values[node.outputs[0]!]!;
  const [V, D] = shapeOf(table!) as [number, number];
  const w = D % 4 === 0 ? 4 : 1;
  const buffers = [
    bufferOf(read('table', table!), w),
    bufferOf(read('ids', ids!)),
    bufferOf(write('out', out), w),
    ...(start ? [bufferOf(read('start', start))] : []),
  ];
  const [TABLE, IDS, OUT, START] = buffers.map(bufferRef);
  const b = new Block();
  const { index: i, dispatch } = flatGrid(b, 'i', numel(shapeOf(out)) / w, WG);
  const row = b.let('row', i.div(D / w));
  const col = b.let('col', i.mod(D / w));
  const id = b.let('id', START ? IDS!.at(row).sub(START.at(0)) : IDS!.at(row));
  b.if(id.lt(0).or(id.ge(V)), (t) => {
    t.set(OUT!.at(i), constant(0, buffers[2]!.elem));
    t.return();
  });
  b.set(
    OUT!.at(i),
    TABLE!.at(
      cast('u32', id)
        .mul(D / w)
        .add(col),
    ),
  );
  return toSpec(
    {
      name: 'embedding',
      doc: [
        `${numel(shapeOf(ids!))} rows of ${D} from a table of ${V}${start ? ' (a block: ids relative to start)' : ''}, ${w === 4 ? 'four elements' : 'one element'} per invocation`,
      ],
      enables: [],
      consts: [],
      buffers,
      shared: [],
      workgroupSize: [WG, 1, 1],
      dispatch,
      body: b.stmts,
    },
    target,
  );
}

/**
 * Rotary position embedding, one invocation per element: each pairs with the element half a
 * head away. With a positions input (a decode step's), a row's position starts from its sequence's.
 */
export function rotaryKernel(node: Node, g: Graph, target: KernelTarget = {}): KernelSpec {
  const [x, positions] = node.inputs.map((id) => g.values[id]!) as [Value, Value | undefined];
  const out = g.values[node.outputs[0]!]!;
  const shape = shapeOf(x);
  const W = shape[shape.length - 1]!;
  const S = shape[shape.length - 2]!;
  const heads = node.attrs['heads'] as number;
  const Dh = W / heads;
  const half = Dh / 2;
  const theta = node.attrs['theta'] as number;
  const offset = node.attrs['offset'] as number;
  return toSpec(
    flatKernel(
      'rotary',
      `${heads} heads of ${Dh} over [${shape.join(', ')}]`,
      [read('x', x), ...(positions ? [read('positions', positions)] : []), write('out', out)],
      numel(shape),
      (b, i, { x: X, out: OUT, positions: P }) => {
        const col = b.let('col', i.mod(W));
        const row = i.div(W).mod(S).add(offset);
        const pos = b.let('pos', positions ? cast('f32', P.at(i.div(W * S)).add(cast('i32', row))) : cast('f32', row));
        const j = b.let('j', col.mod(Dh));
        const jj = b.let('jj', j.mod(half));
        const freq = b.let('freq', call('pow', 'f32', f(theta), neg(cast('f32', jj.mul(2))).div(f(Dh))));
        const ang = b.let('ang', pos.mul(freq));
        const c = b.let('c', call('cos', 'f32', ang));
        const sin = call('sin', 'f32', ang);
        const sn = b.let('s', node.attrs['inverse'] ? neg(sin) : sin);
        b.if(
          j.lt(half),
          (t) =>
            t.set(
              OUT.at(i),
              X.at(i)
                .mul(c)
                .sub(X.at(i.add(half)).mul(sn)),
            ),
          (e) =>
            e.set(
              OUT.at(i),
              X.at(i)
                .mul(c)
                .add(X.at(i.sub(half)).mul(sn)),
            ),
        );
      },
    ),
    target,
  );
}

/** k selection passes per row; ties resolve to the lower index, as in the CPU reference. */
export function topkKernel(node: Node, g: Graph, target: KernelTarget = {}): KernelSpec {
  const x = g.values[node.inputs[0]!]!;
  const [vals, idx] = node.outputs.map((id) => g.values[id]!);
  const shape = shapeOf(x);
  const n = shape[shape.length - 1]!;
  const rows = numel(shape) / n;
  const K = shapeOf(vals!)[shape.length - 1]!;
  const binds = [read('x', x), write('vals', vals!), write('idx', idx!)];
  return toSpec(
    flatKernel(
      'topk',
      `the ${K} largest of ${rows} rows of ${n}, one row per invocation`,
      binds,
      rows,
      (b, i, { x: X, vals: VALS, idx: IDX }) => {
        const base = b.let('base', i.mul(n));
        const pv = b.var('pv', 'f32', f(FLT_MAX));
        const pi = b.var('pi', 'i32', lit('i32', -1));
        b.for('t', 0, K, (t, pass) => {
          const bv = pass.var('bv', 'f32', f(-FLT_MAX));
          const bi = pass.var('bi', 'i32', lit('i32', -1));
          pass.for('j', lit('i32', 0), n, (j, l) => {
            const xv = l.let('xv', X.at(base.add(cast('u32', j))));
            // The first pass takes anything: +inf is not below the sentinel.
            const after = l.let(
              'after',
              t
                .eq(0)
                .or(xv.lt(pv))
                .or(xv.eq(pv).and(j.gt(pi))),
            );
            l.if(after.and(bi.lt(0).or(xv.gt(bv))), (c) => {
              c.set(bv, xv);
              c.set(bi, j);
            });
          });
          pass.set(VALS.at(i.mul(K).add(t)), bv);
          pass.set(IDX.at(i.mul(K).add(t)), bi);
          pass.set(pv, bv);
          pass.set(pi, bi);
        });
      },
      64,
    ),
    target,
  );
}

export function patchifyKernel(node: Node, g: Graph, target: KernelTarget = {}): KernelSpec {
  const x = g.values[node.inputs[0]!]!;
  const out = g.values[node.outputs[0]!]!;
  const [, C, H, W] = shapeOf(x) as [number, number, number, number];
  const p = node.attrs['patch'] as number;
  const gw = W / p;
  const P = (H / p) * gw;
  const E = C * p * p;
  return toSpec(
    flatKernel(
      'patchify',
      `patches of ${p}×${p} of [${shapeOf(x).join(', ')}]`,
      [read('x', x), write('out', out)],
      numel(shapeOf(out)),
      (b, i, { x: X, out: OUT }) => {
        const e = b.let('e', i.mod(E));
        const pi = b.let('pi', i.div(E).mod(P));
        const bi = b.let('b', i.div(E * P));
        const c = b.let('c', e.div(p * p));
        const dy = b.let('dy', e.mod(p * p).div(p));
        const dx = b.let('dx', e.mod(p));
        const y = b.let('y', pi.div(gw).mul(p).add(dy));
        const xx = b.let('xx', pi.mod(gw).mul(p).add(dx));
        b.set(OUT.at(i), X.at(bi.mul(C).add(c).mul(H).add(y).mul(W).add(xx)));
      },
    ),
    target,
  );
}

/**
 * The input coordinate `i32(o·stride + k) − pad` that output coordinate `o` reads with
 * tap `k`, as a let of `b`, skipping the rest of the loop body when it falls in the padding.
 */
export function tapOrSkip(b: Block, name: string, o: Expr, k: Expr, stride: number, pad: number, size: number): Expr {
  const at = b.let(name, cast('i32', o.mul(stride).add(k)).sub(pad));
  b.if(at.lt(0).or(at.ge(size)), (c) => c.continue());
  return at;
}

export function conv2dKernel(node: Node, g: Graph, target: KernelTarget = {}): KernelSpec {
  const [x, w] = node.inputs.map((id) => g.values[id]!);
  const out = g.values[node.outputs[0]!]!;
  const [, C, H, W] = shapeOf(x!) as [number, number, number, number];
  const [O, , KH, KW] = shapeOf(w!) as [number, number, number, number];
  const [, , Ho, Wo] = shapeOf(out) as [number, number, number, number];
  const s = node.attrs['stride'] as number;
  const pad = node.attrs['padding'] as number;
  const binds = [read('x', x!), read('w', w!), write('out', out)];
  return toSpec(
    flatKernel(
      'conv2d',
      `${KH}×${KW} taps over ${C} channels, stride ${s}, padding ${pad}, one output per invocation`,
      binds,
      numel(shapeOf(out)),
      (b, i, { x: X, w: Wt, out: OUT }) => {
        const ox = b.let('ox', i.mod(Wo));
        const oy = b.let('oy', i.div(Wo).mod(Ho));
        const o = b.let('o', i.div(Wo * Ho).mod(O));
        const bi = b.let('b', i.div(Wo * Ho * O));
        const acc = b.var('acc', 'f32', f(0));
        b.for('c', 0, C, (c, lc) =>
          lc.for('ky', 0, KH, (ky, ly) => {
            const iy = tapOrSkip(ly, 'iy', oy, ky, s, pad, H);
            ly.for('kx', 0, KW, (kx, lx) => {
              const ix = tapOrSkip(lx, 'ix', ox, kx, s, pad, W);
              const xv = X.at(bi.mul(C).add(c).mul(H).add(cast('u32', iy)).mul(W).add(cast('u32', ix)));
              lx.set(acc, acc.add(xv.mul(Wt.at(o.mul(C).add(c).mul(KH).add(ky).mul(KW).add(kx)))));
            });
          }),
        );
        b.set(OUT.at(i), acc);
      },
      64,
    ),
    target,
  );
}

/**
 * moe_dispatch: one invocation per output element (expert, slot, d). The slot's token is
 * found by replaying the group's assignments in order (token, then choice) until the
 * expert's `pos`-th one; empty slots are zero.
 */
export function moeDispatchKernel(node: Node, g: Graph, target: KernelTarget = {}): KernelSpec {
  const [x, choice] = node.inputs.map((id) => g.values[id]!);
  const out = g.values[node.outputs[0]!]!;
  const [T, D] = shapeOf(x!) as [number, number];
  const k = shapeOf(choice!)[1]!;
  const [E, C] = shapeOf(out) as [number, number];
  const groups = node.attrs['groups'] as number;
  const cap = C / groups;
  const per = T / groups;
  const binds = [read('x', x!), read('choice', choice!), write('out', out)];
  return toSpec(
    flatKernel(
      'moe_dispatch',
      `${E} experts × ${C} slots of ${D}, top-${k} of ${T} tokens in ${groups} groups`,
      binds,
      numel(shapeOf(out)),
      (b, i, { x: X, choice: CH, out: OUT }) => {
        const d = b.let('d', i.mod(D));
        const c = b.let('c', i.div(D).mod(C));
        const e = b.let('e', cast('i32', i.div(C * D)));
        const grp = b.let('grp', c.div(cap));
        const pos = b.let('pos', c.mod(cap));
        const seen = b.var('seen', 'u32', u(0));
        const value = b.var('value', 'f32', f(0));
        b.for('t', grp.mul(per), grp.add(1).mul(per), (t, lt) =>
          lt.for('j', 0, k, (j, lj) =>
            lj.if(CH.at(t.mul(k).add(j)).eq(e), (hit) => {
              hit.if(seen.eq(pos), (at) => at.set(value, X.at(t.mul(D).add(d))));
              hit.set(seen, seen.add(1));
            }),
          ),
        );
        b.set(OUT.at(i), value);
      },
    ),
    target,
  );
}

/** moe_combine: one invocation per output element (token, d); each choice's slot is recounted within its group. */
export function moeCombineKernel(node: Node, g: Graph, target: KernelTarget = {}): KernelSpec {
  const [y, choice, gates] = node.inputs.map((id) => g.values[id]!);
  const out = g.values[node.outputs[0]!]!;
  const [E, C, D] = shapeOf(y!) as [number, number, number];
  const [T, k] = shapeOf(choice!) as [number, number];
  const groups = node.attrs['groups'] as number;
  const cap = C / groups;
  const per = T / groups;
  const binds = [read('y', y!), read('choice', choice!), read('gates', gates!), write('out', out)];
  return toSpec(
    flatKernel(
      'moe_combine',
      `${T} tokens of ${D} from top-${k} of ${E} experts in ${groups} groups`,
      binds,
      numel(shapeOf(out)),
      (b, i, { y: Y, choice: CH, gates: GATES, out: OUT }) => {
        const d = b.let('d', i.mod(D));
        const t = b.let('t', i.div(D));
        const grp = b.let('grp', t.div(per));
        const acc = b.var('acc', 'f32', f(0));
        b.for('j', 0, k, (j, lj) => {
          const e = lj.let('e', CH.at(t.mul(k).add(j)));
          lj.if(e.lt(0).or(e.ge(E)), (c) => c.continue());
          const pos = lj.var('pos', 'u32', u(0));
          lj.for('s', grp.mul(per), t.add(1), (s, ls) => {
            const stop = ls.let('stop', select(u(k), j, s.eq(t)));
            ls.for('jj', 0, stop, (jj, l) => l.if(CH.at(s.mul(k).add(jj)).eq(e), (hit) => hit.set(pos, pos.add(1))));
          });
          lj.if(pos.lt(cap), (hit) =>
            hit.set(acc, acc.add(GATES.at(t.mul(k).add(j)).mul(Y.at(cast('u32', e).mul(C).add(grp.mul(cap)).add(pos).mul(D).add(d))))),
          );
        });
        b.set(OUT.at(i), acc);
      },
    ),
    target,
  );
}
