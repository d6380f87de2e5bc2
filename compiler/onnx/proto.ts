/**
 * ONNX's protobuf messages through `onnx-proto` (a maintained build of ONNX's own .proto
 * with protobufjs): encoding, and decoding of files mdc did not write, which are untrusted.
 * A decode failure, a missing graph, external data or a tensor whose bytes do not match its
 * dims is an OnnxError that names the file and what is wrong; no size is trusted before
 * the bytes behind it are counted.
 */
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;
export type ModelProto = onnxProto.onnx.IModelProto;
export type GraphProto = onnxProto.onnx.IGraphProto;
export type NodeProto = onnxProto.onnx.INodeProto;
export type TensorProto = onnxProto.onnx.ITensorProto;
export type AttributeProto = onnxProto.onnx.IAttributeProto;
export type ValueInfoProto = onnxProto.onnx.IValueInfoProto;

export const DT = onnx.TensorProto.DataType;
export const AT = onnx.AttributeProto.AttributeType;

/** A malformed or unsupported ONNX file; `problems` lists each one (the message shows them). */
export class OnnxError extends Error {
  readonly problems: readonly string[];
  constructor(what: string, problems: readonly string[]) {
    const shown = problems.slice(0, 40).map((p) => `  ${p}`);
    const more = problems.length > 40 ? [`  … and ${problems.length - 40} more`] : [];
    super(problems.length === 1 ? `${what}: ${problems[0]}` : `${what}: ${problems.length} problems:\n${[...shown, ...more].join('\n')}`);
    this.name = 'OnnxError';
    this.problems = problems;
  }
}

export const attrInt = (name: string, i: number): AttributeProto => ({ name, type: AT.INT, i });
export const attrInts = (name: string, ints: readonly number[]): AttributeProto => ({ name, type: AT.INTS, ints: [...ints] });
export const attrFloat = (name: string, f: number): AttributeProto => ({ name, type: AT.FLOAT, f });
export const attrStr = (name: string, s: string): AttributeProto => ({ name, type: AT.STRING, s: new TextEncoder().encode(s) });

export function encodeModel(m: ModelProto): Uint8Array {
  return onnx.ModelProto.encode(onnx.ModelProto.create(m)).finish();
}

/** protobufjs gives int64 fields as Long objects (or numbers); anything past 2^53 is refused by the callers' range checks. */
export function toNumber(x: unknown): number {
  if (typeof x === 'number') return x;
  if (x && typeof x === 'object' && 'toNumber' in x) return (x as { toNumber(): number }).toNumber();
  return Number(x);
}

/** Decodes `bytes` as a ModelProto with a graph, or throws an OnnxError saying why it is not one. */
export function decodeModel(bytes: Uint8Array, what: string): ModelProto & { graph: GraphProto } {
  if (bytes.length === 0) throw new OnnxError(what, ['the file is empty']);
  let m: onnxProto.onnx.ModelProto;
  try {
    m = onnx.ModelProto.decode(bytes);
  } catch (e) {
    throw new OnnxError(what, [`not an ONNX model: the protobuf does not decode (${(e as Error).message}); is the file truncated, or not ONNX?`]);
  }
  if (!m.graph) throw new OnnxError(what, ['not an ONNX model: it holds no graph']);
  if (!m.graph.output?.length) throw new OnnxError(what, ['the graph has no outputs']);
  return m as ModelProto & { graph: GraphProto };
}

/** The default domain's opset the model imports (0 when it names none). */
export function defaultOpset(m: ModelProto): number {
  const e = m.opsetImport?.find((o) => !o.domain || o.domain === 'ai.onnx');
  return e ? toNumber(e.version) : 0;
}

const ELEM_BYTES: Readonly<Record<number, number>> = { [DT.FLOAT]: 4, [DT.DOUBLE]: 8, [DT.FLOAT16]: 2, [DT.INT64]: 8, [DT.INT32]: 4, [DT.BOOL]: 1 };

export const dtypeName = (t: number | null | undefined): string => onnx.TensorProto.DataType[t ?? 0] ?? `type ${t}`;

/** A tensor's values: floats as f32, integers as numbers. */
export type TensorValues = { readonly kind: 'float'; readonly data: Float32Array } | { readonly kind: 'int'; readonly data: readonly number[] };

/**
 * The dims and values of an initializer or constant. Float, double and float16 tensors
 * give f32 values; int64, int32 and bool give integers.
 */
export function tensorValues(t: TensorProto, what: string): { dims: number[]; values: TensorValues } {
  const name = t.name || what;
  if (t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL || t.externalData?.length)
    throw new OnnxError(name, [
      'its data is in an external file, which mdc does not read; save the model with its weights inside (onnx.save(..., save_as_external_data=False))',
    ]);
  const dims = (t.dims ?? []).map(toNumber);
  if (dims.some((d) => !Number.isSafeInteger(d) || d < 0)) throw new OnnxError(name, [`invalid dims [${dims.join(', ')}]`]);
  const count = dims.reduce((a, b) => a * b, 1);
  const size = ELEM_BYTES[t.dataType ?? 0];
  if (size === undefined)
    throw new OnnxError(name, [`element type ${dtypeName(t.dataType)} is not one mdc reads (FLOAT, DOUBLE, FLOAT16, INT64, INT32, BOOL)`]);
  const raw = t.rawData && t.rawData.length ? t.rawData : undefined;
  const typed = raw
    ? undefined
    : t.dataType === DT.FLOAT
      ? t.floatData
      : t.dataType === DT.DOUBLE
        ? t.doubleData
        : t.dataType === DT.INT64
          ? t.int64Data
          : t.int32Data; // INT32, BOOL and FLOAT16 (as bit patterns) live in int32_data
  const have = raw ? raw.length / size : (typed?.length ?? 0);
  if (have !== count)
    throw new OnnxError(name, [`holds ${raw ? `${raw.length} bytes` : `${have} values`} for ${dtypeName(t.dataType)}[${dims.join(', ')}] (${count} values)`]);
  const view = raw ? new DataView(raw.buffer, raw.byteOffset, raw.byteLength) : undefined;
  const at = (i: number): number => {
    if (!view) return t.dataType === DT.FLOAT16 ? halfToFloat(toNumber(typed![i]!)) : toNumber(typed![i]!);
    switch (t.dataType) {
      case DT.FLOAT:
        return view.getFloat32(i * 4, true);
      case DT.DOUBLE:
        return view.getFloat64(i * 8, true);
      case DT.FLOAT16:
        return halfToFloat(view.getUint16(i * 2, true));
      case DT.INT64:
        return Number(view.getBigInt64(i * 8, true));
      case DT.INT32:
        return view.getInt32(i * 4, true);
      default:
        return view.getUint8(i);
    }
  };
  const float = t.dataType === DT.FLOAT || t.dataType === DT.DOUBLE || t.dataType === DT.FLOAT16;
  // The common case, a whole weight matrix, without a call per element (a copy: raw bytes need not be aligned).
  if (raw && t.dataType === DT.FLOAT) return { dims, values: { kind: 'float', data: new Float32Array(raw.slice().buffer) } };
  if (float) return { dims, values: { kind: 'float', data: Float32Array.from({ length: count }, (_, i) => at(i)) } };
  return { dims, values: { kind: 'int', data: Array.from({ length: count }, (_, i) => at(i)) } };
}

/** IEEE binary16 bits → number. */
function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? NaN : s * Infinity;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}

/** An attribute by name, or undefined. */
export function attr(n: NodeProto, name: string): AttributeProto | undefined {
  return n.attribute?.find((a) => a.name === name);
}
