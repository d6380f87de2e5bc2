import type { Graph, Node } from '../../compiler/ir.js';
import { Block, bufferRef } from '../kir/build.js';
import { arrayOf, builtin, cast, exp, f, fma, i, max, min, ref, select, type Expr } from '../kir/ir.js';
import { toSpec } from '../kir/wgsl.js';
import { bufferOf, flatKernel, read, shapeOf, write, type KernelSpec, type KernelTarget } from './kernel.js';

/**
 * Kernels of a decode step (compiler/ops/cache.ts): the cache write, and attention of one
 * query row per sequence over its cache, which reads the keys up to the sequence's
 * position only, so a step's cost follows the positions, not the cache's length.
 */

/** kv_write: one invocation per cache element, which takes the new row at its sequence's position. */
export function kvWriteKernel(node: Node, g: Graph, target: KernelTarget = {}): KernelSpec {
  const [cache, row, pos] = node.inputs.map((id) => g.values[id]!);
  const out = g.values[node.outputs[0]!]!;
  const [B, M, W] = shapeOf(cache!) as [number, number, number];
  const k = flatKernel(
    'kv_write',
    `cache [${B}, ${M}, ${W}] with one row per sequence written at its position`,
    [read('cache', cache!), read('row', row!), read('pos', pos!), write('out', out)],
    B * M * W,
    (b, idx, buf) => {
      const seq = b.let('seq', idx.div(M * W));
      const j = b.let('j', idx.div(W).mod(M));
      const w = b.let('w', idx.mod(W));
      const here = b.let('here', cast('i32', j).eq(buf.pos.at(seq)));
      b.set(buf.out.at(idx), select(buf.cache.at(idx), buf.row.at(seq.mul(W).add(w)), here));
    },
  );
  return toSpec(k, target);
}

/**
 * kv_write in place (codegen/in-place.ts): `out` is the cache parameter's own buffer, so one
 * invocation per (sequence, column) writes the new row at the sequence's position and leaves
 * the rest of the cache as it is; a position outside [0, M) writes nothing, as the op says.
 */
export function kvWriteInPlaceKernel(node: Node, g: Graph, target: KernelTarget = {}): KernelSpec {
  const [cache, row, pos] = node.inputs.map((id) => g.values[id]!);
  const out = g.values[node.outputs[0]!]!;
  const [B, M, W] = shapeOf(cache!) as [number, number, number];
  const k = flatKernel(
    'kv_write_row',
    `one row per sequence written in place into cache [${B}, ${M}, ${W}] at its position`,
    [read('row', row!), read('pos', pos!), write('out', out)],
    B * W,
    (b, idx, buf) => {
      const seq = b.let('seq', idx.div(W));
      const w = b.let('w', idx.mod(W));
      const p = b.let('p', buf.pos.at(seq));
      b.if(p.ge(i(0)).and(p.lt(i(M))), (x) => x.set(buf.out.at(seq.mul(M).add(cast('u32', p)).mul(W).add(w)), buf.row.at(idx)));
    },
  );
  return toSpec(k, target);
}

/** Invocations per workgroup of attention_decode, and the keys whose scores one pass keeps in workgroup memory. */
const WG = 64;
const CHUNK = 256;

/**
 * attention_decode: a workgroup per (head, sequence). Each pass over a chunk of keys
 * scores them (invocations split the keys), takes the chunk's max and exponentials in
 * workgroup memory, and adds the chunk into the output (invocations split the head's
 * dims) with an online softmax across chunks. Keys past the sequence's position are never
 * read; a negative position gives zeros.
 */
export function decodeAttentionKernel(node: Node, g: Graph, target: KernelTarget = {}): KernelSpec {
  const [q, k, v, pos] = node.inputs.map((id) => g.values[id]!);
  const out = g.values[node.outputs[0]!]!;
  const [B, , W] = shapeOf(q!) as [number, number, number];
  const M = shapeOf(k!)[1]!;
  const H = node.attrs['heads'] as number;
  const KVH = node.attrs['kv_heads'] as number;
  const scale = node.attrs['scale'] as number;
  const D = W / H;
  const KW = KVH * D;
  const buffers = [bufferOf(read('q', q!)), bufferOf(read('k', k!)), bufferOf(read('v', v!)), bufferOf(read('pos', pos!)), bufferOf(write('out', out))];
  const [Q, K, V, POS, OUT] = buffers.map(bufferRef) as [Expr, Expr, Expr, Expr, Expr];
  const qs = ref('qs', arrayOf('f32', D));
  const ss = ref('ss', arrayOf('f32', CHUNK));
  const b = new Block();
  const wid = builtin('workgroup_id');
  const tid = builtin('local_invocation_index');
  const h = b.let('h', wid.y);
  const seq = b.let('seq', wid.z);
  const kvh = b.let('kvh', h.div(H / KVH));
  const qb = b.let('qb', seq.mul(W).add(h.mul(D)));
  b.for('d', tid, D, (d, x) => x.set(qs.at(d), Q.at(qb.add(d)).mul(scale)), WG);
  b.barrier();
  // Keys 0..end-1: through the position, within the cache.
  const end = b.let('end', min(max(POS.at(seq), i(-1)), i(M - 1)).add(1));
  const kvBase = (j: Expr) => seq.mul(M).add(cast('u32', j)).mul(KW).add(kvh.mul(D));
  const per = Math.ceil(D / WG);
  const dimOf = (t: number) => tid.add(WG * t);
  const acc = Array.from({ length: per }, (_, t) => b.var(`acc${t}`, 'f32', f(0)));
  const m = b.var('m', 'f32', f(-3.4028234663852886e38));
  const l = b.var('l', 'f32', f(0));
  b.for(
    'c0',
    i(0),
    end,
    (c0, x) => {
      const n = x.let('n', min(end.sub(c0), i(CHUNK)));
      x.for(
        'jj',
        cast('i32', tid),
        n,
        (jj, y) => {
          const kb = y.let('kb', kvBase(c0.add(jj)));
          const s = y.var('s', 'f32', f(0));
          y.for('d', 0, D, (d, z) => z.set(s, fma(qs.at(d), K.at(kb.add(d)), s)));
          y.set(ss.at(jj), s);
        },
        i(WG),
      );
      x.barrier();
      const cm = x.var('cm', 'f32', m);
      x.for('jj', i(0), n, (jj, y) => y.set(cm, max(cm, ss.at(jj))));
      x.barrier();
      x.for('jj', cast('i32', tid), n, (jj, y) => y.set(ss.at(jj), exp(ss.at(jj).sub(cm))), i(WG));
      x.barrier();
      const corr = x.let('corr', exp(m.sub(cm)));
      const sum = x.var('sum', 'f32', f(0));
      x.for('jj', i(0), n, (jj, y) => y.set(sum, sum.add(ss.at(jj))));
      x.set(l, l.mul(corr).add(sum));
      acc.forEach((a, t) => {
        x.if(dimOf(t).lt(D), (y) => {
          y.set(a, a.mul(corr));
          y.for('jj', i(0), n, (jj, z) => z.set(a, fma(ss.at(jj), V.at(kvBase(c0.add(jj)).add(dimOf(t))), a)));
        });
      });
      x.set(m, cm);
      x.barrier();
    },
    i(CHUNK),
  );
  const inv = b.let('inv', select(f(0), f(1).div(l), l.gt(f(0))));
  acc.forEach((a, t) => b.if(dimOf(t).lt(D), (y) => y.set(OUT.at(qb.add(dimOf(t))), a.mul(inv))));
  return toSpec(
    {
      name: 'attention_decode',
      doc: [`one query row per sequence over a cache of ${M}, ${WG} invocations per (head, sequence), key chunks of ${CHUNK}`],
      enables: [],
      consts: [],
      buffers,
      shared: [
        { name: 'qs', type: arrayOf('f32', D) },
        { name: 'ss', type: arrayOf('f32', CHUNK) },
      ],
      workgroupSize: [WG, 1, 1],
      dispatch: [1, H, B],
      body: b.stmts,
    },
    target,
  );
}
