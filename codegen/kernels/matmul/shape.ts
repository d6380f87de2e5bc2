import type { Graph, Node } from '../../../compiler/ir.js';
import { Block } from '../../kir/build.js';
import { u, type Expr } from '../../kir/ir.js';
import { shapeOf } from '../kernel.js';
import { numel, stridesOf } from '../../../layout/mesh.js';

/**
 * A matmul's sizes: [...batch, M, K] @ [...batch, K, N] → [...batch, M, N]. `aBatch` and
 * `bBatch` are the operands' own batch dims, padded with leading 1s to the rank of
 * `batch`; a 1 where `batch` is larger broadcasts (stride 0).
 */
export interface MatmulShape {
  readonly M: number;
  readonly N: number;
  readonly K: number;
  readonly batch: readonly number[];
  readonly aBatch: readonly number[];
  readonly bBatch: readonly number[];
  /** b is stored transposed, [...batch, N, K] (a transpose the fusion pass folded: `transpose_b`). */
  readonly transB?: boolean;
}

/** Whether a matmul node, or the matmul of a fused node, reads its b transposed (compiler/fusion/fold-transpose.ts). */
export const readsBTransposed = (node: Node): boolean => !!(node.op === 'fused' ? node.body!.steps[0]!.attrs : node.attrs)['transpose_b'];

/** The graph values a matmul reads and writes. */
export interface MatmulIO {
  readonly a: number;
  readonly b: number;
  readonly out: number;
}

export function matmulShape(node: Node, g: Graph): { shape: MatmulShape; io: MatmulIO } {
  const [av, bv] = node.inputs.map((id) => g.values[id]!);
  const out = g.values[node.outputs[0]!]!;
  const as = shapeOf(av!);
  const bs = shapeOf(bv!);
  const os = shapeOf(out);
  const batch = os.slice(0, -2);
  const pad = (s: number[]) => [...new Array<number>(batch.length - (s.length - 2)).fill(1), ...s.slice(0, -2)];
  const transB = readsBTransposed(node);
  return {
    shape: { M: os[os.length - 2]!, N: os[os.length - 1]!, K: as[as.length - 1]!, batch, aBatch: pad(as), bBatch: pad(bs), ...(transB ? { transB } : {}) },
    io: { a: av!.id, b: bv!.id, out: out.id },
  };
}

/** An unbatched shape (for tuning and benchmarks), or one with a plain leading batch dim. */
export const plainShape = (M: number, N: number, K: number, batch = 1): MatmulShape =>
  batch === 1 ? { M, N, K, batch: [], aBatch: [], bBatch: [] } : { M, N, K, batch: [batch], aBatch: [batch], bBatch: [batch] };

export const batchCount = (s: MatmulShape) => numel(s.batch);

/**
 * The shape class a tuning result applies to: each size rounded up to a power of two
 * (M = 1 kept apart: it is the decode GEMV), capped at 4096, plus whether four-wide
 * loads apply along N, whether the matmul is batched and whether b is transposed.
 */
export function shapeClass(s: MatmulShape): string {
  const bucket = (n: number) => (n === 1 ? 1 : Math.min(4096, 2 ** Math.ceil(Math.log2(n))));
  return `m${bucket(s.M)}n${bucket(s.N)}k${bucket(s.K)}${s.N % 4 === 0 ? 'v4' : ''}${batchCount(s) > 1 ? 'b' : ''}${s.transB ? 't' : ''}`;
}

/**
 * Emits the offsets of batch `bz` (a u32) into a and b, in elements: coordinates of
 * `bz` in the output's batch dims, dotted with each operand's stridesOf (0 where it broadcasts).
 */
export function batchOffsets(blk: Block, bz: Expr, s: MatmulShape): { a: Expr; b: Expr } {
  const { batch } = s;
  const whole = (own: readonly number[]) => own.every((d, i) => d === batch[i]);
  const none = (own: readonly number[]) => own.every((d) => d === 1);
  const coords: Expr[] = [];
  const needCoords = !(whole(s.aBatch) || none(s.aBatch)) || !(whole(s.bBatch) || none(s.bBatch));
  if (needCoords) {
    let rest = bz;
    for (let d = batch.length - 1; d >= 0; d--) {
      coords[d] = blk.let(`bc${d}`, rest.mod(batch[d]!));
      if (d > 0) rest = rest.div(batch[d]!);
    }
  }
  const offset = (name: string, own: readonly number[], matrix: number) => {
    if (none(own)) return u(0);
    if (whole(own)) return blk.let(name, bz.mul(matrix));
    const st = stridesOf(own).map((x) => x * matrix);
    let sum: Expr = u(0);
    own.forEach((d, i) => {
      if (d !== 1) sum = sum.add(coords[i]!.mul(st[i]!));
    });
    return blk.let(name, sum);
  };
  return { a: offset('aoff', s.aBatch, s.M * s.K), b: offset('boff', s.bBatch, s.K * s.N) };
}
