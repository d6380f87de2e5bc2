import type { Graph, Node } from '../../compiler/ir.js';
import { Block, bufferRef, flatGrid } from '../kir/build.js';
import { arrayOf, builtin, cast, exp, f, lit, log, max, ref, scalarOf, u, type ArrayType, type Expr, type Scalar, type VecType } from '../kir/ir.js';
import { toSpec } from '../kir/wgsl.js';
import { constant } from './fused/body.js';
import { aroundAxis, bufferOf, read, shapeOf, write, type KernelSpec, type KernelTarget } from './kernel.js';
import { combine, rowKernelApplies, rowNormKernel, rowOpOf, rowReduceKernel, rowSoftmaxKernel } from './rows.js';
import { numel } from '../../layout/mesh.js';

/** The element type of a buffer view (`x.at(i)`'s type). */
const elemOf = (buf: Expr): Scalar | VecType => (buf.type as ArrayType).of as Scalar | VecType;

/** Invocations per workgroup of the kernels over other axes. */
const AXIS_WG = 64;

/**
 * Reductions over an axis other than the last (the last takes the row kernels, rows.ts):
 * one invocation per reduced row, or per four rows side by side when the dims after the
 * axis hold a multiple of four elements (adjacent in memory: vec4 loads and stores).
 * `body` gets the block, the x and out views, the unit index of the invocation and
 * `at(j)`, the unit of element j of its row(s).
 */
function axisKernel(
  node: Node,
  g: Graph,
  target: KernelTarget,
  body: (b: Block, x: Expr, out: Expr, i: Expr, at: (j: Expr) => Expr, len: number) => void,
): KernelSpec {
  const x = g.values[node.inputs[0]!]!;
  const out = g.values[node.outputs[0]!]!;
  const { outer, len, inner } = aroundAxis(shapeOf(x), node.attrs['axis'] as number);
  const w = inner % 4 === 0 ? 4 : 1;
  const units = inner / w;
  const buffers = [bufferOf(read('x', x), w), bufferOf(write('out', out), w)];
  const [X, OUT] = buffers.map(bufferRef);
  const b = new Block();
  const { index: i, dispatch } = flatGrid(b, 'i', outer * units, AXIS_WG);
  const base = b.let(
    'base',
    outer === 1
      ? i
      : i
          .div(units)
          .mul(len * units)
          .add(units === 1 ? u(0) : i.mod(units)),
  );
  body(b, X!, OUT!, i, (j) => base.add(j.mul(units)), len);
  return toSpec(
    {
      name: node.op,
      doc: [`${node.op} over ${len} elements ${inner} apart, ${w === 4 ? 'four rows' : 'one row'} per invocation`],
      enables: [],
      consts: [],
      buffers,
      shared: [],
      workgroupSize: [AXIS_WG, 1, 1],
      dispatch,
      body: b.stmts,
    },
    target,
  );
}

export function reduceKernel(node: Node, g: Graph, target: KernelTarget): KernelSpec {
  if (rowKernelApplies(node, g)) return rowReduceKernel(node, g, target);
  const op = rowOpOf(node.op)!;
  return axisKernel(node, g, target, (b, x, out, i, at, len) => {
    const t = elemOf(x);
    // A sum starts from zero, max and min from the first element.
    const acc = b.var('acc', t, op === 'sum' ? constant(0, t) : x.at(at(u(0))));
    b.for('j', op === 'sum' ? 0 : 1, len, (j, l) => l.set(acc, combine(acc, x.at(at(j)), op)));
    b.set(out.at(i), node.op === 'mean' ? acc.div(lit(scalarOf(t), len)) : acc);
  });
}

export function softmaxKernel(node: Node, g: Graph, target: KernelTarget): KernelSpec {
  if (rowKernelApplies(node, g)) return rowSoftmaxKernel(node, g, target);
  return axisKernel(node, g, target, (b, x, out, _, at, len) => {
    const t = elemOf(x);
    const m = b.var('m', t, x.at(at(u(0))));
    b.for('j', 1, len, (j, l) => l.set(m, max(m, x.at(at(j)))));
    const s = b.var('s', t, constant(0, t));
    b.for('j', 0, len, (j, l) => l.set(s, s.add(exp(x.at(at(j)).sub(m)))));
    if (node.op === 'log_softmax') {
      const ls = b.let('ls', log(s));
      b.for('j', 0, len, (j, l) => {
        const p = l.let('p', at(j));
        l.set(out.at(p), x.at(p).sub(m).sub(ls));
      });
    } else {
      const inv = b.let('inv', constant(1, t).div(s));
      b.for('j', 0, len, (j, l) => {
        const p = l.let('p', at(j));
        l.set(out.at(p), exp(x.at(p).sub(m)).mul(inv));
      });
    }
  });
}

/** layer_norm and rms_norm normalise the last axis: always the row kernels (rows.ts). */
export const normKernel = rowNormKernel;

/** Mean cross-entropy in one workgroup: rows strided over 256 invocations, then a tree sum. Labels outside [0, V) are ignored. */
export function crossEntropyKernel(node: Node, g: Graph, target: KernelTarget = {}): KernelSpec {
  const [lg, lb] = node.inputs.map((id) => g.values[id]!);
  const out = g.values[node.outputs[0]!]!;
  const shape = shapeOf(lg!);
  const V = shape[shape.length - 1]!;
  const rows = numel(shape) / V;
  const WG = 256;
  const buffers = [bufferOf(read('logits', lg!)), bufferOf(read('labels', lb!)), bufferOf(write('out', out))];
  const [LOGITS, LABELS, OUT] = buffers.map(bufferRef) as [Expr, Expr, Expr];
  const partSum = ref('part_sum', arrayOf('f32', WG));
  const partCnt = ref('part_cnt', arrayOf('f32', WG));
  const b = new Block();
  const t = b.let('t', builtin('local_invocation_id').x);
  const acc = b.var('acc', 'f32', f(0));
  const cnt = b.var('cnt', 'f32', f(0));
  b.for(
    'r',
    t,
    rows,
    (r, l) => {
      const label = l.let('label', LABELS.at(r));
      l.if(label.lt(0).or(label.ge(V)), (c) => c.continue());
      const base = l.let('base', r.mul(V));
      const { m, s } = logSumExp(l, (j) => LOGITS.at(base.add(j)), V);
      l.set(
        acc,
        acc.add(
          log(s)
            .add(m)
            .sub(LOGITS.at(base.add(cast('u32', label)))),
        ),
      );
      l.set(cnt, cnt.add(f(1)));
    },
    WG,
  );
  b.set(partSum.at(t), acc);
  b.set(partCnt.at(t), cnt);
  b.barrier();
  for (let stride = WG / 2; stride >= 1; stride /= 2) {
    b.if(t.lt(stride), (c) => {
      c.set(partSum.at(t), partSum.at(t).add(partSum.at(t.add(stride))));
      c.set(partCnt.at(t), partCnt.at(t).add(partCnt.at(t.add(stride))));
    });
    b.barrier();
  }
  b.if(t.eq(0), (c) => c.set(OUT.at(u(0)), partSum.at(u(0)).div(max(partCnt.at(u(0)), f(1)))));
  return toSpec(
    {
      name: 'cross_entropy',
      doc: [`mean over ${rows} rows of ${V} logits, one workgroup`],
      enables: [],
      consts: [],
      buffers,
      shared: [
        { name: 'part_sum', type: arrayOf('f32', WG) },
        { name: 'part_cnt', type: arrayOf('f32', WG) },
      ],
      workgroupSize: [WG, 1, 1],
      dispatch: [1, 1, 1],
      body: b.stmts,
    },
    target,
  );
}

/** The max `m` of a row of `len` elements, `at(j)` the j-th, and `s` = Σ exp(x − m), as vars of `b`. */
export function logSumExp(b: Block, at: (j: Expr) => Expr, len: number): { m: Expr; s: Expr } {
  const m = b.var('m', 'f32', at(u(0)));
  b.for('j', 1, len, (j, l) => l.set(m, max(m, at(j))));
  const s = b.var('s', 'f32', f(0));
  b.for('j', 0, len, (j, l) => l.set(s, s.add(exp(at(j).sub(m)))));
  return { m, s };
}
