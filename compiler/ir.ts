import type { Span } from '../diagnostics/span.js';
import type { Dim } from './dims.js';
import type { DType, Layout, TType } from './types.js';

/**
 * The graph IR: SSA values with full types, nodes in topological order.
 * A Graph is frozen once built; passes return new graphs.
 */
export type Attr = number | boolean | string | readonly number[] | Dim | readonly Dim[];
export type Attrs = Readonly<Record<string, Attr>>;

export type InitSpec =
  | { readonly kind: 'normal'; readonly mean: number; readonly std: number }
  | { readonly kind: 'uniform'; readonly low: number; readonly high: number }
  | { readonly kind: 'constant'; readonly value: number };

export type ValueKind = 'input' | 'param' | 'const' | 'op';

export interface Value {
  readonly id: number;
  readonly type: TType;
  readonly kind: ValueKind;
  /** Inputs: argument name. Params: dotted path such as `Layer.3.Attention.wqkv`. */
  readonly name?: string;
  readonly init?: InitSpec;
  /** Constants: a scalar (shape []) value. */
  readonly scalar?: number;
  /** Op results: the producing node's id. */
  readonly producer?: number;
}

export interface Node {
  readonly id: number;
  readonly op: string;
  readonly inputs: readonly number[];
  readonly outputs: readonly number[];
  readonly attrs: Attrs;
  readonly span: Span;
  /** Where in the block hierarchy the node came from, e.g. `Layer.0.Attention`. */
  readonly scope: string;
  /** `fused` nodes (compiler/fusion/fuse.ts): what they compute. */
  readonly body?: FusedBody;
}

/** An operand of a fused step: input `i` of the node, the result of an earlier step, or an inlined scalar constant. */
export type FusedRef =
  | { readonly k: 'input'; readonly i: number }
  | { readonly k: 'step'; readonly i: number }
  | { readonly k: 'scalar'; readonly value: number; readonly dtype: DType };

/** One op of a fused body, with the attributes and result dtype of the node it replaces. */
export interface FusedStep {
  readonly op: string;
  readonly args: readonly FusedRef[];
  readonly attrs: Attrs;
  readonly dtype: DType;
  /** In a `rows` body: the step has one value per row (a reduction, or element-wise over row values). */
  readonly row?: boolean;
}

/**
 * What a `fused` node computes, element by element over its domain (the shape of its
 * outputs, which all have that shape, except in `rows` bodies):
 * - `elementwise`: every step is an element-wise op; an operand of another shape is
 *   broadcast into the domain (NumPy rules), so each element is computed on its own.
 * - `matmul`: step 0 is a matmul of the node's inputs 0 and 1; the other steps are its
 *   epilogue, element-wise over the matmul's result.
 * - `rows`: reductions over the last axis of `domain` (sum, mean, max, min) with the
 *   element-wise steps before and after them, row by row. A step marked `row` has one
 *   value per row (its shape is the domain's with the last dim 1, or without it for a
 *   reduction without keepdim, which no step of the body reads); the others have the
 *   domain's shape and read row values broadcast along the row. Outputs are of either kind.
 * `outputs[k]` is the step whose result is the node's output k.
 */
export interface FusedBody {
  readonly kind: 'elementwise' | 'matmul' | 'rows';
  readonly steps: readonly FusedStep[];
  readonly outputs: readonly number[];
  /** `rows` bodies: the shape the reductions reduce (its last axis). */
  readonly domain?: readonly number[];
  /**
   * `elementwise` bodies: inputs read through a view instead of as they are (a transpose
   * or slice the body absorbed), by input index; the others are undefined.
   */
  readonly views?: readonly (InputView | undefined)[];
}

/**
 * An input read as a tensor of `shape` whose element at coordinates c is element
 * `offset + Σ c[d]·strides[d]` of the input's buffer (a transpose permutes the strides, a
 * slice adds its start). It broadcasts into the domain like a tensor of `shape`.
 */
export interface InputView {
  readonly shape: readonly number[];
  readonly strides: readonly number[];
  readonly offset: number;
}

/** A layout the source asks a value to have (a block argument or return type with a layout). */
export interface LayoutConstraint {
  readonly value: number;
  readonly layout: Layout;
  readonly span: Span;
  /**
   * The constraint speaks only for the mesh axes its layout names (a block signature's
   * layout): an axis it does not name keeps the split the value gets from the rest of the
   * graph. Absent: the layout is exact (training's `new.*` outputs, which replace blocks of
   * their parameters).
   */
  readonly open?: boolean;
}

export interface Graph {
  readonly name: string;
  readonly values: readonly Value[];
  readonly nodes: readonly Node[];
  readonly inputs: readonly number[];
  readonly outputs: readonly number[];
  readonly outputNames: readonly string[];
  readonly constraints: readonly LayoutConstraint[];
}

/** Collects values and nodes while elaborating; `finish()` freezes them into a Graph. */
export class GraphBuilder {
  private readonly values: Value[] = [];
  private readonly nodes: Node[] = [];
  readonly inputs: number[] = [];
  readonly constraints = new Map<number, LayoutConstraint>();

  addValue(v: Omit<Value, 'id'>): Value {
    const value = { ...v, id: this.values.length };
    this.values.push(value);
    if (v.kind === 'input') this.inputs.push(value.id);
    return value;
  }

  addNode(op: string, inputs: readonly Value[], outTypes: readonly TType[], attrs: Attrs, span: Span, scope: string, body?: FusedBody): Value[] {
    const id = this.nodes.length;
    const outs = outTypes.map((type) => this.addValue({ type, kind: 'op', producer: id }));
    this.nodes.push({ id, op, inputs: inputs.map((i) => i.id), outputs: outs.map((o) => o.id), attrs, span, scope, ...(body ? { body } : {}) });
    return outs;
  }

  /** Node `n` of graph `g` again, on `inputs` (values of this builder): same op, output types, attributes, place and body. */
  copyNode(g: Graph, n: Node, inputs: readonly Value[]): Value[] {
    return this.addNode(
      n.op,
      inputs,
      n.outputs.map((o) => g.values[o]!.type),
      n.attrs,
      n.span,
      n.scope,
      n.body,
    );
  }

  value(id: number): Value {
    return this.values[id]!;
  }

  node(id: number): Node {
    return this.nodes[id]!;
  }

  get nodeCount(): number {
    return this.nodes.length;
  }

  get valueCount(): number {
    return this.values.length;
  }

  finish(name: string, outputs: readonly Value[], outputNames: readonly string[]): Graph {
    return deepFreeze({
      name,
      values: this.values,
      nodes: this.nodes,
      inputs: this.inputs,
      outputs: outputs.map((o) => o.id),
      outputNames,
      constraints: [...this.constraints.values()],
    });
  }
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o as object)) deepFreeze(v);
    if (o instanceof Map) for (const v of o.values()) deepFreeze(v);
  }
  return o;
}

/**
 * A builder holding a copy of `g` (same value order unless `replace` drops nodes), to
 * extend with more nodes; `map` takes g's value ids to the copy's values. `replace(n, builder, map)` may add a node's
 * replacement itself (mapping the outputs that stay read) and return true, and then n
 * is not copied.
 */
export function extendGraph(
  g: Graph,
  retype?: (v: Value) => Value['type'],
  replace?: (n: Node, builder: GraphBuilder, map: Map<number, Value>) => boolean,
): { builder: GraphBuilder; map: Map<number, Value> } {
  const builder = new GraphBuilder();
  const map = new Map<number, Value>();
  for (const v of g.values) {
    if (v.kind === 'op') continue;
    const { id: _id, ...rest } = v;
    map.set(v.id, builder.addValue(retype ? { ...rest, type: retype(v) } : rest));
  }
  for (const n of g.nodes) {
    if (replace?.(n, builder, map)) continue;
    const outs = builder.copyNode(
      g,
      n,
      n.inputs.map((i) => map.get(i)!),
    );
    n.outputs.forEach((o, i) => map.set(o, outs[i]!));
  }
  // A constraint on a value a replacement dropped goes with it.
  for (const c of g.constraints) {
    const v = map.get(c.value);
    if (v) builder.constraints.set(v.id, { ...c, value: v.id });
  }
  return { builder, map };
}

/** For a graph built by extendGraph: the id in `g` each value came from (through `map`), -1 for values added that stand for none. */
export function originOf(builder: GraphBuilder, map: ReadonlyMap<number, Value>): number[] {
  const origin = new Array<number>(builder.valueCount).fill(-1);
  for (const [from, v] of map) origin[v.id] = from;
  return origin;
}
