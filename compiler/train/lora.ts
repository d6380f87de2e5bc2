import { diag, type Diagnostic } from '../../diagnostics/messages.js';
import type { Span } from '../../diagnostics/span.js';
import { dimConst, dimValue } from '../dims.js';
import { extendGraph, type Graph, type Value } from '../ir.js';
import { isFloat, type Layout, type TType } from '../types.js';

/**
 * Low-rank adapters (LoRA) on weights declared `@lora(rank = r, alpha = a)`.
 *
 * The annotation goes on the `param` declaration, not on a matmul expression: one
 * declaration covers every use of the weight (the q, k, v projections of every layer of
 * a repeat stack), the annotation grammar already attaches to statements, and the
 * parameter is what checkpoints and the merge for inference name.
 *
 * For training, a weight w: f32[in, out] gets two parameters, `<w>.lora_a`: f32[in, r]
 * drawn from normal(0, 1/√in) (Kaiming-like for a fan-in of `in`, so x·A keeps x's scale)
 * and `<w>.lora_b`: f32[r, out] of zeros, and every `x @ w` becomes
 * `x @ w + (alpha/r)·((x @ A) @ B)`: at the start the model computes exactly what it did.
 * On a tensor-parallel weight the adapters follow its split: A takes w's input-dim
 * layout (row-parallel: x·A is then a pending sum like x·w), B its output-dim layout
 * (column-parallel). Inference never sees adapters: they are merged into the weight,
 * w + (alpha/r)·A·B, where the checkpoint is loaded (runtime/lora.ts mergeLora).
 */
export interface LoraDecl {
  /** The block (or model) whose body declares the param. */
  readonly owner: string;
  readonly param: string;
  readonly rank: number;
  readonly alpha: number;
  readonly span: Span;
}

/** One adapted weight of a lowered graph: its full dotted name, shape and the adapters' scale. */
export interface LoraTarget {
  readonly param: string;
  readonly rank: number;
  readonly alpha: number;
  /** alpha / rank: the factor on A·B. */
  readonly scale: number;
  readonly rows: number;
  readonly cols: number;
  readonly decl: LoraDecl;
}

export const loraA = (param: string) => `${param}.lora_a`;
export const loraB = (param: string) => `${param}.lora_b`;

/**
 * The graph's parameters that a `@lora` declaration names. A parameter's dotted name is its
 * call path (`Layer.0.Attention.wq`: the block `Layer`, repeat copy 0, its call of
 * `Attention`, a second call being `Attention_1`) then the declared name; the declaring
 * block is the last segment of the path that is not a repeat index.
 */
export function loraTargets(g: Graph, decls: readonly LoraDecl[]): LoraTarget[] {
  const out: LoraTarget[] = [];
  for (const v of g.values) {
    if (v.kind !== 'param' || !v.name) continue;
    const decl = loraDeclOf(v.name, decls, g.name);
    if (!decl) continue;
    const [rows, cols] = v.type.dims.map((d) => dimValue(d)!);
    out.push({ param: v.name, rank: decl.rank, alpha: decl.alpha, scale: decl.alpha / decl.rank, rows: rows ?? 0, cols: cols ?? 0, decl });
  }
  return out;
}

/** The `@lora` declaration of the parameter named `name` (a dotted call path, see loraTargets) in model `model`, if any. */
export function loraDeclOf(name: string, decls: readonly LoraDecl[], model: string): LoraDecl | undefined {
  const segs = name.split('.');
  const param = segs.pop()!;
  const owner = [...segs].reverse().find((s) => !/^\d+$/.test(s));
  return decls.find((d) => d.param === param && (owner === undefined ? d.owner === model : d.owner === owner || d.owner === owner.replace(/_\d+$/, '')));
}

/**
 * The forward graph with adapters on every `@lora` weight (see LoraDecl); `adapters` are
 * the new parameters' names. MDC0533 for a weight that is not a 2-D float tensor read
 * only as the right operand of matmuls (an embedding table, a transposed use).
 */
export function applyLora(g: Graph, decls: readonly LoraDecl[], file: string): { graph?: Graph; adapters: Set<string>; diagnostics: Diagnostic[] } {
  const targets = loraTargets(g, decls);
  const adapters = new Set<string>();
  if (!targets.length) return { graph: g, adapters, diagnostics: [] };
  const ds: Diagnostic[] = [];
  const byId = new Map<number, LoraTarget>();
  for (const t of targets) {
    const w = g.values.find((v) => v.kind === 'param' && v.name === t.param)!;
    const bad = (detail: string) => ds.push(diag(file, t.decl.span, 'MDC0533', t.param, detail));
    if (w.type.dims.length !== 2 || !isFloat(w.type.dtype)) {
      bad(`adapters go on a 2-D float weight, and it is ${w.type.dtype}[${w.type.dims.length} dims]`);
      continue;
    }
    if (t.rank > Math.min(t.rows, t.cols)) {
      bad(`rank ${t.rank} is above the weight's smaller dim (${Math.min(t.rows, t.cols)}): a low-rank update needs rank ≤ ${Math.min(t.rows, t.cols)}`);
      continue;
    }
    const other = g.nodes.find((n) => n.inputs.includes(w.id) && (n.op !== 'matmul' || n.inputs[0] === w.id || n.inputs[1] !== w.id));
    if (other) {
      bad(`it is read by ${other.op} on line ${other.span.line}; adapters apply to a weight used only as the right operand of @ (x @ w)`);
      continue;
    }
    byId.set(w.id, t);
  }
  if (ds.length) return { adapters, diagnostics: ds };

  const made = new Map<number, { a: Value; b: Value }>();
  const { builder: b, map } = extendGraph(g, undefined, (n, bl, m) => {
    const t = n.op === 'matmul' ? byId.get(n.inputs[1]!) : undefined;
    if (!t) return false;
    const w = g.values[n.inputs[1]!]!;
    let ad = made.get(w.id);
    if (!ad) {
      const layout = w.type.layout;
      const part = (axes: readonly (readonly string[])[]): { layout?: Layout } => (layout ? { layout: { axes, partial: [] } } : {});
      const [din, dout] = w.type.dims;
      const r = dimConst(t.rank);
      const a = bl.addValue({
        type: { dtype: w.type.dtype, dims: [din!, r], ...part([layout?.axes[0] ?? [], []]) },
        kind: 'param',
        name: loraA(t.param),
        init: { kind: 'normal', mean: 0, std: 1 / Math.sqrt(t.rows) },
      });
      const bb = bl.addValue({
        type: { dtype: w.type.dtype, dims: [r, dout!], ...part([[], layout?.axes[1] ?? []]) },
        kind: 'param',
        name: loraB(t.param),
        init: { kind: 'constant', value: 0 },
      });
      ad = { a, b: bb };
      made.set(w.id, ad);
      adapters.add(a.name!).add(bb.name!);
    }
    const x = m.get(n.inputs[0]!)!;
    const yT = g.values[n.outputs[0]!]!.type;
    const plain: TType = { dtype: yT.dtype, dims: yT.dims };
    const [y] = bl.copyNode(g, n, [x, m.get(w.id)!]);
    const [xa] = bl.addNode('matmul', [x, ad.a], [{ dtype: yT.dtype, dims: [...x.type.dims.slice(0, -1), dimConst(t.rank)] }], {}, n.span, n.scope);
    const [xab] = bl.addNode('matmul', [xa!, ad.b], [plain], {}, n.span, n.scope);
    const s = bl.addValue({ type: { dtype: yT.dtype, dims: [] }, kind: 'const', scalar: t.scale });
    const [scaled] = bl.addNode('mul', [xab!, s], [plain], {}, n.span, n.scope);
    const [sum] = bl.addNode('add', [y!, scaled!], [yT], {}, n.span, n.scope);
    m.set(n.outputs[0]!, sum!);
    return true;
  });
  return {
    graph: b.finish(
      g.name,
      g.outputs.map((o) => map.get(o)!),
      g.outputNames,
    ),
    adapters,
    diagnostics: [],
  };
}
