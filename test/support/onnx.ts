/**
 * Translates an mdc graph into an ONNX model, node by node, so that ONNX Runtime (an
 * independent engine with its own kernels) can run the same computation. Each mdc op maps
 * to the ONNX operator with the same meaning, or to a short standard decomposition
 * (attention becomes Reshape/Transpose/MatMul/Softmax with an additive causal mask), so a
 * disagreement points at mdc's kernels or its oracle, not at a shared implementation.
 *
 * Only what the cross-checks need is covered; anything else throws with the op's name.
 */
import onnxProto from 'onnx-proto';
import { dimValue, type Dim } from '../../compiler/dims.js';
import type { Graph, Node, Value } from '../../compiler/ir.js';

const { onnx } = onnxProto;
type NodeProto = onnxProto.onnx.INodeProto;
type TensorProto = onnxProto.onnx.ITensorProto;
type AttributeProto = onnxProto.onnx.IAttributeProto;

/** Opset 20: LayerNormalization (17), Reduce* with axes as an input (18), Gelu with `approximate` (20). */
export const OPSET = 20;

const DT = onnx.TensorProto.DataType;
const AT = onnx.AttributeProto.AttributeType;

const shapeOf = (v: Value) => v.type.dims.map((d: Dim) => dimValue(d)!);
const bytes = (a: Float32Array | Int32Array | BigInt64Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

function elemType(v: Value): number {
  if (v.type.dtype === 'i32') return DT.INT32;
  if (v.type.dtype === 'f32' || v.type.dtype === 'f16' || v.type.dtype === 'bf16') return DT.FLOAT; // mdc stores f16/bf16 as f32
  throw new Error(`ONNX export: dtype ${v.type.dtype} is not supported`);
}

const attrInt = (name: string, i: number): AttributeProto => ({ name, type: AT.INT, i });
const attrInts = (name: string, ints: readonly number[]): AttributeProto => ({ name, type: AT.INTS, ints: [...ints] });
const attrFloat = (name: string, f: number): AttributeProto => ({ name, type: AT.FLOAT, f });
const attrStr = (name: string, s: string): AttributeProto => ({ name, type: AT.STRING, s: new TextEncoder().encode(s) });

const UNARY: Record<string, string> = {
  neg: 'Neg',
  abs: 'Abs',
  relu: 'Relu',
  exp: 'Exp',
  log: 'Log',
  sqrt: 'Sqrt',
  tanh: 'Tanh',
  sigmoid: 'Sigmoid',
};
const BINARY: Record<string, string> = { add: 'Add', sub: 'Sub', mul: 'Mul', div: 'Div', pow: 'Pow', maximum: 'Max', minimum: 'Min' };
const REDUCE: Record<string, string> = { sum: 'ReduceSum', mean: 'ReduceMean', max: 'ReduceMax', min: 'ReduceMin' };

export interface OnnxExport {
  /** The serialised ModelProto. */
  readonly bytes: Uint8Array;
  /** ONNX operator types used, in order of first use (for assertions on the structure). */
  readonly opTypes: readonly string[];
}

/**
 * mdc graph → ONNX model. Model inputs keep their names; parameters become initializers
 * named by their dotted paths with the values `params` gives (the same the device used);
 * outputs keep the model's output names.
 */
export function graphToOnnx(g: Graph, params: ReadonlyMap<string, Float32Array>): OnnxExport {
  const nodes: NodeProto[] = [];
  const inits: TensorProto[] = [];
  const names = new Map<number, string>();
  let fresh = 0;
  const tmp = (hint: string) => `${hint}_${fresh++}`;
  const name = (id: number) => names.get(id) ?? `v${id}`;

  const initF32 = (n: string, dims: readonly number[], data: Float32Array) => {
    inits.push({ name: n, dims: [...dims], dataType: DT.FLOAT, rawData: bytes(data) });
    return n;
  };
  const initI64 = (hint: string, data: readonly number[]) => {
    const n = tmp(hint);
    inits.push({ name: n, dims: [data.length], dataType: DT.INT64, rawData: bytes(BigInt64Array.from(data, (x) => BigInt(x))) });
    return n;
  };
  const emit = (opType: string, input: readonly string[], output: readonly string[], attribute: AttributeProto[] = []) => {
    nodes.push({ opType, input: [...input], output: [...output], attribute, name: `${opType}_${nodes.length}` });
  };
  /** A one-output node into a fresh name. */
  const op = (opType: string, input: readonly string[], attribute: AttributeProto[] = []) => {
    const out = tmp(opType.toLowerCase());
    emit(opType, input, [out], attribute);
    return out;
  };

  for (const v of g.values) {
    if (v.kind === 'input') names.set(v.id, v.name!);
    else if (v.kind === 'param') {
      const data = params.get(v.name!);
      if (!data) throw new Error(`ONNX export: no value for param '${v.name}'`);
      names.set(v.id, initF32(v.name!, shapeOf(v), data));
    } else if (v.kind === 'const') {
      const n = `const${v.id}`;
      if (v.type.dtype === 'i32') inits.push({ name: n, dims: [], dataType: DT.INT32, rawData: bytes(Int32Array.of(v.scalar!)) });
      else initF32(n, [], Float32Array.of(v.scalar!));
      names.set(v.id, n);
    }
  }
  g.outputs.forEach((id, i) => names.set(id, g.outputNames[i]!));

  for (const n of g.nodes) {
    const ins = n.inputs.map(name);
    const outs = n.outputs.map(name);
    const vin = n.inputs.map((id) => g.values[id]!);
    const vout = n.outputs.map((id) => g.values[id]!);
    if (UNARY[n.op]) emit(UNARY[n.op]!, ins, outs);
    else if (BINARY[n.op]) emit(BINARY[n.op]!, ins, outs);
    else if (REDUCE[n.op])
      emit(REDUCE[n.op]!, [ins[0]!, initI64('axes', [n.attrs['axis'] as number])], outs, [attrInt('keepdims', n.attrs['keepdim'] ? 1 : 0)]);
    else
      switch (n.op) {
        case 'matmul':
          emit('MatMul', ins, outs);
          break;
        case 'gelu':
          emit('Gelu', ins, outs, [attrStr('approximate', n.attrs['approximate'] === 'tanh' ? 'tanh' : 'none')]);
          break;
        case 'fast_gelu':
          emit('Gelu', ins, outs, [attrStr('approximate', 'tanh')]);
          break;
        case 'softmax':
          emit('Softmax', ins, outs, [attrInt('axis', n.attrs['axis'] as number)]);
          break;
        case 'log_softmax':
          emit('LogSoftmax', ins, outs, [attrInt('axis', n.attrs['axis'] as number)]);
          break;
        case 'layer_norm': {
          const d = shapeOf(vin[0]!).at(-1)!;
          let k = 1;
          const scale = n.attrs['has_weight'] ? ins[k++]! : initF32(tmp('ones'), [d], new Float32Array(d).fill(1));
          const bias = n.attrs['has_bias'] ? [ins[k++]!] : [];
          emit('LayerNormalization', [ins[0]!, scale, ...bias], outs, [attrInt('axis', -1), attrFloat('epsilon', n.attrs['eps'] as number)]);
          break;
        }
        case 'embedding':
          emit('Gather', ins, outs, [attrInt('axis', 0)]);
          break;
        case 'slice': {
          const start = dimValue(n.attrs['start'] as Dim)!;
          const end = dimValue(n.attrs['end'] as Dim)!;
          emit('Slice', [ins[0]!, initI64('starts', [start]), initI64('ends', [end]), initI64('axes', [n.attrs['axis'] as number])], outs);
          break;
        }
        case 'transpose':
          emit('Transpose', ins, outs, [attrInts('perm', n.attrs['perm'] as number[])]);
          break;
        case 'reshape':
          emit('Reshape', [ins[0]!, initI64('shape', shapeOf(vout[0]!))], outs);
          break;
        case 'concat':
          emit('Concat', ins, outs, [attrInt('axis', n.attrs['axis'] as number)]);
          break;
        case 'attention':
          attention(n, vin, ins, outs[0]!);
          break;
        case 'rsqrt':
          emit('Reciprocal', [op('Sqrt', ins)], outs);
          break;
        case 'silu':
          emit('Mul', [ins[0]!, op('Sigmoid', ins)], outs);
          break;
        case 'expand':
          emit('Expand', [ins[0]!, initI64('shape', shapeOf(vout[0]!))], outs);
          break;
        case 'rms_norm': {
          const eps = initF32(tmp('eps'), [], Float32Array.of(n.attrs['eps'] as number));
          const ms = op('ReduceMean', [op('Mul', [ins[0]!, ins[0]!]), initI64('axes', [-1])], [attrInt('keepdims', 1)]);
          const normed = op('Mul', [ins[0]!, op('Reciprocal', [op('Sqrt', [op('Add', [ms, eps])])])]);
          emit(n.attrs['has_weight'] ? 'Mul' : 'Identity', n.attrs['has_weight'] ? [normed, ins[1]!] : [normed], outs);
          break;
        }
        case 'rotary':
          rotary(n, vin[0]!, ins[0]!, outs[0]!);
          break;
        case 'patchify': {
          const [B, C, H, W] = shapeOf(vin[0]!) as [number, number, number, number];
          const p = n.attrs['patch'] as number;
          const blocks = op('Reshape', [ins[0]!, initI64('shape', [B, C, H / p, p, W / p, p])]);
          const ordered = op('Transpose', [blocks], [attrInts('perm', [0, 2, 4, 1, 3, 5])]); // [B, gh, gw, C, p, p]
          emit('Reshape', [ordered, initI64('shape', shapeOf(vout[0]!))], outs);
          break;
        }
        default:
          throw new Error(`ONNX export: op '${n.op}' is not supported`);
      }
  }

  /**
   * Rotary embedding as x·cos + rotate_half(x)·sin per head, with rotate_half(x) = [−x₂, x₁]
   * on each head's halves and cos/sin tables computed here in float64 from the formula.
   */
  function rotary(n: Node, x: Value, input: string, out: string) {
    const shape = shapeOf(x);
    const [S, W] = shape.slice(-2) as [number, number];
    const H = n.attrs['heads'] as number;
    const Dh = W / H;
    const half = Dh / 2;
    const cos = new Float32Array(S * W);
    const sin = new Float32Array(S * W);
    for (let s = 0; s < S; s++) {
      for (let c = 0; c < W; c++) {
        const angle = (s + (n.attrs['offset'] as number)) * Math.pow(n.attrs['theta'] as number, (-2 * ((c % Dh) % half)) / Dh);
        cos[s * W + c] = Math.cos(angle);
        sin[s * W + c] = Math.sin(angle);
      }
    }
    const lead = shape.slice(0, -1);
    const halves = op('Reshape', [input, initI64('shape', [...lead, H, 2, half])]);
    const x1 = op('Slice', [halves, initI64('starts', [0]), initI64('ends', [1]), initI64('axes', [-2])]);
    const x2 = op('Slice', [halves, initI64('starts', [1]), initI64('ends', [2]), initI64('axes', [-2])]);
    const rotated = op('Reshape', [op('Concat', [op('Neg', [x2]), x1], [attrInt('axis', -2)]), initI64('shape', shape)]);
    const a = op('Mul', [input, initF32(tmp('cos'), [S, W], cos)]);
    const b = op('Mul', [rotated, initF32(tmp('sin'), [S, W], sin)]);
    emit('Add', [a, b], [out]);
  }

  /**
   * Scaled dot-product attention, grouped-query form: heads are split as (kv_heads, group)
   * so that one MatMul broadcasts each KV head over its group of query heads.
   */
  function attention(n: Node, vin: Value[], ins: string[], out: string) {
    const [B, Sq, W] = shapeOf(vin[0]!) as [number, number, number];
    const Sk = shapeOf(vin[1]!)[1]!;
    const H = n.attrs['heads'] as number;
    const KVH = n.attrs['kv_heads'] as number;
    const G = H / KVH;
    const Dh = W / H;
    const reshape = (x: string, s: number[]) => op('Reshape', [x, initI64('shape', s)]);
    const transpose = (x: string, perm: number[]) => op('Transpose', [x], [attrInts('perm', perm)]);
    const q = transpose(reshape(ins[0]!, [B, Sq, KVH, G, Dh]), [0, 2, 3, 1, 4]); // [B, KVH, G, Sq, Dh]
    const kT = transpose(reshape(ins[1]!, [B, Sk, KVH, 1, Dh]), [0, 2, 3, 4, 1]); // [B, KVH, 1, Dh, Sk]
    const v = transpose(reshape(ins[2]!, [B, Sk, KVH, 1, Dh]), [0, 2, 3, 1, 4]); // [B, KVH, 1, Sk, Dh]
    let scores = op('Mul', [op('MatMul', [q, kT]), initF32(tmp('scale'), [], Float32Array.of(n.attrs['scale'] as number))]);
    if (n.attrs['causal']) {
      // Query i sits at position i + Sk − Sq; it may see keys j ≤ that position.
      const mask = new Float32Array(Sq * Sk);
      for (let i = 0; i < Sq; i++) for (let j = 0; j < Sk; j++) mask[i * Sk + j] = j <= i + Sk - Sq ? 0 : -Infinity;
      scores = op('Add', [scores, initF32(tmp('causal_mask'), [Sq, Sk], mask)]);
    }
    if (n.attrs['has_mask']) {
      // mask[B, Sk]: keys with 0 get −∞ before the softmax.
      const zero =
        vin[3]!.type.dtype === 'i32'
          ? (inits.push({ name: tmp('zero'), dims: [], dataType: DT.INT32, rawData: bytes(Int32Array.of(0)) }), inits.at(-1)!.name!)
          : initF32(tmp('zero'), [], Float32Array.of(0));
      const blocked = op('Equal', [ins[3]!, zero]);
      const additive = op('Where', [blocked, initF32(tmp('neg_inf'), [], Float32Array.of(-Infinity)), initF32(tmp('zero_f'), [], Float32Array.of(0))]);
      scores = op('Add', [scores, reshape(additive, [B, 1, 1, 1, Sk])]);
    }
    const p = op('Softmax', [scores], [attrInt('axis', -1)]);
    const o = transpose(op('MatMul', [p, v]), [0, 3, 1, 2, 4]); // [B, Sq, KVH, G, Dh]
    emit('Reshape', [o, initI64('shape', [B, Sq, W])], [out]);
  }

  const info = (id: number) => {
    const v = g.values[id]!;
    return { name: name(id), type: { tensorType: { elemType: elemType(v), shape: { dim: shapeOf(v).map((d) => ({ dimValue: d })) } } } };
  };
  const model = onnx.ModelProto.create({
    irVersion: 8,
    producerName: 'mdc-test',
    opsetImport: [{ domain: '', version: OPSET }],
    graph: {
      name: g.name,
      node: nodes,
      initializer: inits,
      input: g.inputs.map(info),
      output: g.outputs.map(info),
    },
  });
  return { bytes: onnx.ModelProto.encode(model).finish(), opTypes: [...new Set(nodes.map((x) => x.opType!))] };
}
