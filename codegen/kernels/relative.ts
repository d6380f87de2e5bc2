import type { Graph, Node } from '../../compiler/ir.js';
import { bucketSteps, MASKED, type RelativeBiasAttrs } from '../../compiler/ops/relative.js';
import type { Block } from '../kir/build.js';
import { cast, f, i as int, select, type Expr } from '../kir/ir.js';
import { toSpec } from '../kir/wgsl.js';
import { flatKernel, read, shapeOf, write, type KernelSpec, type KernelTarget } from './kernel.js';
import { numel } from '../../layout/mesh.js';

/**
 * T5's bucket of the i32 offset `rel` = j − i, as integer compares against the distances
 * where the logarithmic part steps up (compiler/ops/relative.ts bucketSteps), so the
 * kernel agrees with the float64 reference bucket for bucket.
 */
function bucketOf(b: Block, rel: Expr, buckets: number, a: RelativeBiasAttrs, maxN: number): Expr {
  const { exact, half, steps } = bucketSteps(buckets, a, maxN);
  const zero = int(0);
  const base = a.bidirectional ? b.let('base', select(zero, int(half), rel.gt(0))) : zero;
  const n = b.let('n', a.bidirectional ? select(rel, zero.sub(rel), rel.lt(0)) : select(zero.sub(rel), zero, rel.gt(0)));
  let large: Expr = int(exact);
  for (const s of steps) large = large.add(select(zero, int(1), n.ge(s)));
  return b.let('bucket', base.add(select(large, n, n.lt(exact))));
}

/** relative_position_bias: one invocation per output element (h, i, j) reads its bucket's table entry. */
export function relativeBiasKernel(node: Node, g: Graph, target: KernelTarget = {}): KernelSpec {
  const [table] = node.inputs.map((id) => g.values[id]!);
  const out = g.values[node.outputs[0]!]!;
  const a = node.attrs as unknown as RelativeBiasAttrs;
  const [NB, H] = shapeOf(table!) as [number, number];
  const [, Sq, Sk] = shapeOf(out) as [number, number, number];
  return toSpec(
    flatKernel(
      'relative_position_bias',
      `T5 bias [${H}, ${Sq}, ${Sk}] from ${NB} buckets${a.bidirectional ? ' (bidirectional)' : ''}${a.causal ? ', causal' : ''}`,
      [read('table', table!), write('out', out)],
      numel(shapeOf(out)),
      (b, idx, { table: T, out: OUT }) => {
        const e = b.let('e', cast('i32', idx));
        const h = b.let('h', e.div(Sq * Sk));
        const qi = b.let('qi', e.div(Sk).mod(Sq));
        const kj = b.let('kj', e.mod(Sk));
        const bk = bucketOf(b, kj.sub(qi), NB, a, Math.max(Sq, Sk));
        const v = T.at(cast('u32', bk.mul(H).add(h)));
        b.set(OUT.at(idx), a.causal ? select(v, f(MASKED), kj.gt(qi)) : v);
      },
    ),
    target,
  );
}

/** relative_position_bias_grad: one invocation per table entry (bucket, head) sums the gradients of the pairs in its bucket. */
export function relativeBiasGradKernel(node: Node, g: Graph, target: KernelTarget = {}): KernelSpec {
  const [gv] = node.inputs.map((id) => g.values[id]!);
  const out = g.values[node.outputs[0]!]!;
  const a = node.attrs as unknown as RelativeBiasAttrs;
  const [NB, H] = shapeOf(out) as [number, number];
  const [, Sq, Sk] = shapeOf(gv!) as [number, number, number];
  return toSpec(
    flatKernel(
      'relative_position_bias_grad',
      `Σ over ${Sq} × ${Sk} pairs per entry of a table of ${NB} buckets × ${H} heads`,
      [read('g', gv!), write('out', out)],
      NB * H,
      (b, idx, { g: G, out: OUT }) => {
        const e = b.let('e', cast('i32', idx));
        const want = b.let('want', e.div(H));
        const h = b.let('h', e.mod(H));
        const acc = b.var('acc', 'f32', f(0));
        b.for('qi', 0, Sq, (qi, l) =>
          l.for('kj', 0, Sk, (kj, m) => {
            const bk = bucketOf(m, cast('i32', kj).sub(cast('i32', qi)), NB, a, Math.max(Sq, Sk));
            const hit = a.causal ? bk.eq(want).and(kj.le(qi)) : bk.eq(want);
            m.if(hit, (t) =>
              t.set(
                acc,
                acc.add(
                  G.at(
                    cast('u32', h.mul(Sq * Sk))
                      .add(qi.mul(Sk))
                      .add(kj),
                  ),
                ),
              ),
            );
          }),
        );
        b.set(OUT.at(idx), acc);
      },
      64,
    ),
    target,
  );
}
