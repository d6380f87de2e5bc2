import type { Graph, Node } from '../../../compiler/ir.js';
import { Block, bufferRef } from '../../kir/build.js';
import type { BufferDecl, Expr } from '../../kir/ir.js';
import { storedHalf } from '../../kir/wgsl.js';
import { broadcastInput, emitBody, outputDecl, wide, type Width } from '../fused/body.js';
import { bodyName } from '../fused/elementwise.js';
import type { MatmulShape } from './shape.js';
import { stridesOf } from '../../../layout/mesh.js';

/** Where one block of `w` accumulated columns goes: its index in the output (in units of w) and its coordinates. */
export interface StoreAt {
  readonly acc: Expr;
  readonly index: Expr;
  /** The flat batch index, the row and the column group (in units of w). */
  readonly bz: Expr;
  readonly row: Expr;
  readonly col: Expr;
}

/**
 * What a matmul kernel does with its accumulators: the buffers it binds after a and b,
 * and the statements that store one block. Plain matmuls store the product; fused ones
 * apply an element-wise epilogue first (bias, activation, residual) and may store
 * several values.
 */
export interface Epilogue {
  /** Appended to the kernel's name (`matmul_tiled_add_gelu`); empty for the plain store. */
  readonly suffix: string;
  readonly doc: readonly string[];
  readonly buffers: readonly BufferDecl[];
  store(b: Block, at: StoreAt): void;
  /**
   * An output buffer that holds f32 blocks as wide as the accumulators, where a kernel
   * may put the plain products before applying the epilogue in a second pass (see the
   * subgroup kernel); absent for the plain store and when no output is stored as f32.
   */
  readonly staging?: BufferDecl;
}

/** The epilogue for column width w (the kernel decides it from N). */
export type EpilogueOf = (w: Width) => Epilogue;

/** The plain store: the product into `out`. */
export const storeProduct =
  (out: number): EpilogueOf =>
  (w) => {
    const decl: BufferDecl = { name: 'out', access: 'read_write', elem: wide('f32', w), storage: 'f32', value: out };
    return { suffix: '', doc: [], buffers: [decl], store: (b, at) => b.set(bufferRef(decl).at(at.index), at.acc) };
  };

/**
 * A fused matmul node's epilogue: its inputs after a and b are read at each block's
 * broadcast index into [...batch, M, N] (four-wide when they vary along N, splatted when
 * they do not), its steps computed on the accumulator and its outputs stored.
 */
export const fusedEpilogue =
  (node: Node, g: Graph, s: MatmulShape, f16Values?: ReadonlySet<number>): EpilogueOf =>
  (w) => {
    const body = node.body!;
    const domain = [...s.batch, s.M, s.N];
    const r = domain.length;
    const nb = s.batch.length;
    const leaves = node.inputs.slice(2).map((id, k) => broadcastInput(`e${k}`, g.values[id]!, domain, w));
    const outs = node.outputs.map((id, k) => outputDecl(g.values[id]!, k, node.outputs.length, w));
    const ops = body.steps.slice(1).map((x) => x.op);
    return {
      suffix: `_${bodyName(ops)}`,
      doc: [`epilogue: ${ops.join(', ')}${outs.length > 1 ? `; ${outs.length} outputs` : ''}`],
      buffers: [...leaves.map((l) => l.decl), ...outs],
      // Staging must hold the products exactly: an f32 output, not one stored as f16.
      ...((st) => (st ? { staging: st } : {}))(outs.find((o) => o.storage === 'f32' && !storedHalf(o, f16Values))),
      store: (b, at) =>
        b.scope((blk) => {
          const batchStrides = stridesOf(s.batch);
          const coord = new Map<number, Expr>();
          const batchCoord = (d: number) => {
            if (!coord.has(d)) {
              const q = d === 0 ? at.bz.div(batchStrides[0]!) : at.bz.div(batchStrides[d]!).mod(s.batch[d]!);
              coord.set(d, blk.let(`ep_b${d}`, q));
            }
            return coord.get(d)!;
          };
          // Coordinates of the block: batch dims from the flat batch index, then the row, then the column group.
          const coordOf = (d: number) => (d < nb ? batchCoord(d) : d === r - 2 ? at.row : at.col);
          const operand = leaves.map((l, k) => l.load(blk, `ep_e${k}`, l.offset(coordOf, at.index)));
          const vals = emitBody(blk, body, w, (i) => operand[i - 2]!, 'ep_v', at.acc);
          outs.forEach((o, k) => blk.set(bufferRef(o).at(at.index), vals[body.outputs[k]!]!));
        }),
    };
  };
