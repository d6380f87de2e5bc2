import type { Graph, Node } from '../../../compiler/ir.js';
import { Block, bufferRef, flatGrid } from '../../kir/build.js';
import type { BufferDecl, Expr, Kernel } from '../../kir/ir.js';
import { shapeOf, WG } from '../kernel.js';
import { broadcastInput, coordLets, emitBody, outputDecl, viewVec4, type Width } from './body.js';
import { numel } from '../../../layout/mesh.js';

/** The ops of a body, for kernel names and doc comments: `add_gelu`. */
export const bodyName = (ops: readonly string[]) => (ops.length <= 4 ? ops.join('_') : `${ops.slice(0, 3).join('_')}_and_${ops.length - 3}_more`);

/**
 * A fused element-wise body: one invocation per element of the domain, or per four
 * consecutive elements when the domain's last dim allows (vec4 loads and stores; an
 * input broadcast along the last dim is read once and splatted). Each input is read
 * at its broadcast index, from coordinates computed only for the dims it varies along.
 */
export function fusedElementwiseKernel(node: Node, g: Graph): Kernel {
  const body = node.body!;
  const outs = node.outputs.map((id) => g.values[id]!);
  const domain = shapeOf(outs[0]!);
  const r = domain.length;
  const n = numel(domain);
  const last = r ? domain[r - 1]! : 1;
  // Four at a time when the last dim allows it and every input read through a view can follow.
  const w: Width = last % 4 === 0 && (body.views ?? []).every((v) => !v || viewVec4(v, last)) ? 4 : 1;
  const units = n / w;

  const inputs = node.inputs.map((id, k) => broadcastInput(`in${k}`, g.values[id]!, domain, w, body.views?.[k]));
  const buffers: BufferDecl[] = inputs.map((x) => x.decl);
  const outDecls = outs.map((v, k) => outputDecl(v, k, outs.length, w));
  buffers.push(...outDecls);

  const b = new Block();
  const { index: j, dispatch } = flatGrid(b, 'j', units, WG);

  // Coordinates of the unit's first element, made on first use. With w = 4 the last one
  // is kept in units of four (`q`): only four-wide views vary along the last dim.
  const lead = coordLets(b, j, domain, w);
  let lastCoord: Expr | undefined;
  const at = (d: number): Expr => (d < r - 1 ? lead(d) : (lastCoord ??= b.let(w === 4 ? 'q' : `c${d}`, j.mod(last / w))));
  const loaded = inputs.map((x, k) => x.load(b, `a${k}`, x.offset(at, j)));
  const vals = emitBody(b, body, w, (i) => loaded[i]!, 'v');
  outDecls.forEach((o, k) => b.set(bufferRef(o).at(j), vals[body.outputs[k]!]!));

  const ops = body.steps.map((s) => s.op);
  return {
    // One step is one op of the graph (asOneStep), not a fusion: it keeps the op's name.
    name: ops.length === 1 ? ops[0]! : `fused_${bodyName(ops)}`,
    doc: [`${ops.join(', ')} over [${domain.join(', ')}], ${w === 4 ? 'four elements' : 'one element'} per invocation`],
    enables: [],
    consts: [],
    buffers,
    shared: [],
    workgroupSize: [WG, 1, 1],
    dispatch,
    body: b.stmts,
  };
}
