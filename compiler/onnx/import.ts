/**
 * An ONNX model as `.model` source plus the parameter values its initializers hold.
 *
 * The graph is read at static shapes: every graph input needs a fixed shape, and a
 * symbolic dim (`batch`, `sequence`) takes the size the caller gives it (`--dim`). Shape
 * arithmetic on constants (Shape, Gather, Concat, Range, … as exporters emit for dynamic
 * reshapes) is folded here, so what reaches the source are tensor ops only. Float
 * initializers a tensor op reads become params (`param w: f32[…]`, values in the weights
 * file); one-element float constants read element-wise become literals.
 *
 * Nothing is produced unless the whole graph imports: every unsupported operator (with
 * each node that uses it), missing value, dynamic dim and malformed tensor is collected
 * and reported in one OnnxError.
 */
import { keywordNames } from '../../grammar/lexer.js';
import { OPS } from '../ops/registry.js';
import type { DType } from '../types.js';
import { IMPORT, literal, Refusal, type ImportCtx, type Operand, type Values } from './import-ops.js';
import { attr, decodeModel, defaultOpset, dtypeName, DT, OnnxError, tensorValues, toNumber, type NodeProto, type ValueInfoProto } from './proto.js';

export interface ImportOptions {
  /** Sizes of symbolic dims of the graph's inputs, by their dim_param names. */
  readonly dims?: Readonly<Record<string, number>>;
  /** The model's name in the source (default: from the graph's name). */
  readonly name?: string;
  /** The file, for messages and the source's header. */
  readonly file?: string;
}

export interface ImportedParam {
  /** The param's name in the source, which is also its name in the weights file. */
  readonly name: string;
  /** The ONNX initializer or value it came from. */
  readonly onnx: string;
  readonly shape: readonly number[];
  readonly data: Float32Array;
}

export interface ImportedIO {
  readonly name: string;
  readonly onnx: string;
  readonly dtype: DType;
  readonly shape: readonly number[];
}

export interface OnnxImport {
  readonly model: string;
  readonly source: string;
  readonly params: readonly ImportedParam[];
  readonly inputs: readonly ImportedIO[];
  readonly outputs: readonly ImportedIO[];
  /** ONNX operator types of the graph, in order of first use. */
  readonly opTypes: readonly string[];
}

const INPUT_DTYPE: Readonly<Record<number, DType>> = { [DT.FLOAT]: 'f32', [DT.INT64]: 'i32', [DT.INT32]: 'i32', [DT.BOOL]: 'bool' };
/** Dims past this are not a model mdc could run; refusing them keeps shape arithmetic exact. */
const MAX_DIM = 2 ** 31 - 1;
const POISON = Symbol('poison');
type Slot = Operand | typeof POISON;

const nodeLabel = (n: NodeProto, i: number) => `'${n.name || `#${i}`}'`;

/** Identifiers for the source: ONNX names made legal, distinct, and clear of keywords and op names. */
class Namer {
  private readonly used = new Set<string>([...keywordNames, ...OPS.keys(), 'f32', 'f16', 'bf16', 'i32', 'bool']);
  take(hint: string): string {
    let base = hint.replace(/[^A-Za-z0-9_]+/g, '_').replace(/^_+|_+$/g, '') || 'v';
    if (/^[0-9]/.test(base)) base = `v${base}`;
    let name = base;
    for (let i = 2; this.used.has(name); i++) name = `${base}_${i}`;
    this.used.add(name);
    return name;
  }
}

export function importOnnx(bytes: Uint8Array, opts: ImportOptions = {}): OnnxImport {
  const what = opts.file ?? 'ONNX model';
  const m = decodeModel(bytes, what);
  const g = m.graph;
  const opset = defaultOpset(m);
  const problems: string[] = [];
  if (!opset) problems.push('the model imports no opset of the default ONNX domain');
  const names = new Namer();
  const env = new Map<string, Slot>();
  const initializerNames = new Set<string>();

  for (const t of g.initializer ?? []) {
    initializerNames.add(t.name ?? '');
    try {
      const { dims, values } = tensorValues(t, 'an initializer');
      env.set(t.name ?? '', { shape: dims, dtype: values.kind === 'float' ? 'f32' : 'i32', k: values });
    } catch (e) {
      if (!(e instanceof OnnxError)) throw e;
      problems.push(`initializer ${e.message}`);
      env.set(t.name ?? '', POISON);
    }
  }

  const inputs: ImportedIO[] = [];
  for (const v of g.input ?? []) {
    if (initializerNames.has(v.name ?? '')) continue; // older exporters list initializers as inputs too
    const io = graphInput(v, opts.dims ?? {}, problems);
    if (!io) {
      env.set(v.name ?? '', POISON);
      continue;
    }
    const name = names.take(v.name ?? 'input');
    inputs.push({ name, onnx: v.name ?? '', ...io });
    env.set(v.name ?? '', { ...io, expr: name });
  }

  // Before translating anything: every operator mdc lacks, and every value nothing defines.
  const unsupported = new Map<string, string[]>();
  const defined = new Set(env.keys());
  (g.node ?? []).forEach((n, i) => {
    const op = n.domain && n.domain !== 'ai.onnx' ? `${n.domain}.${n.opType}` : (n.opType ?? '?');
    if (!IMPORT[op] || (n.domain && n.domain !== 'ai.onnx')) unsupported.set(op, [...(unsupported.get(op) ?? []), nodeLabel(n, i)]);
    for (const x of n.input ?? [])
      if (x && !defined.has(x))
        problems.push(`node ${nodeLabel(n, i)} (${op}) reads '${x}', which no graph input, initializer or earlier node defines (a missing initializer?)`);
    for (const o of n.output ?? []) if (o) defined.add(o);
  });
  for (const o of g.output ?? []) if (!defined.has(o.name ?? '')) problems.push(`graph output '${o.name}' is not defined by any input, initializer or node`);
  for (const [op, nodes] of unsupported)
    problems.unshift(
      `operator ${op} is not supported by mdc (node${nodes.length > 1 ? 's' : ''} ${nodes.slice(0, 8).join(', ')}${nodes.length > 8 ? ', …' : ''})`,
    );
  if (problems.length) throw new OnnxError(what, problems);

  const lines: string[] = [];
  const params: ImportedParam[] = [];
  const paramOf = new Map<Operand, string>();
  /** The source name of a float constant read as a tensor: declared as a param the first time. */
  const asParam = (o: Operand, hint: string): string => {
    let name = paramOf.get(o);
    if (name) return name;
    name = names.take(hint);
    paramOf.set(o, name);
    params.push({ name, onnx: hint, shape: o.shape, data: o.k!.data as Float32Array });
    return name;
  };

  (g.node ?? []).forEach((n, i) => {
    const ins = (n.input ?? []).map((x) => (x ? env.get(x)! : undefined));
    const outs = n.output ?? [];
    if (ins.some((x) => x === POISON)) return outs.forEach((o) => env.set(o, POISON));
    const label = `node ${nodeLabel(n, i)} (${n.opType})`;
    const valueAttr = attr(n, 'value');
    try {
      if (n.opType === 'Constant' && valueAttr?.t) {
        const { dims, values } = tensorValues(valueAttr.t, outs[0] ?? 'constant');
        env.set(outs[0]!, { shape: dims, dtype: values.kind === 'float' ? 'f32' : 'i32', k: values });
        return;
      }
      IMPORT[n.opType!]!(context(n, ins as (Operand | undefined)[]));
    } catch (e) {
      if (e instanceof Refusal || e instanceof OnnxError) problems.push(`${label}: ${e.message}`);
      else throw e;
      outs.forEach((o) => env.set(o, POISON));
    }
  });

  function context(n: NodeProto, ins: (Operand | undefined)[]): ImportCtx {
    const inputName = (i: number) => n.input![i]!;
    const tensor = (i: number): string => {
      const o = ins[i];
      if (!o) throw new Refusal(`input ${i} is missing`);
      if (o.expr !== undefined) return o.expr;
      if (o.k!.kind === 'int')
        throw new Refusal(`input '${inputName(i)}' is an integer constant read as data; mdc params are float (make it an input of the graph)`);
      if (o.shape.length === 0 && Number.isFinite(o.k!.data[0])) return literal(o.k!.data[0]!);
      return asParam(o, inputName(i));
    };
    const a = (name: string) => attr(n, name);
    return {
      node: n,
      opset,
      input: (i) => ins[i],
      tensor,
      operand: (i) => {
        const o = ins[i];
        if (o?.k?.kind === 'float' && o.k.data.length === 1 && Number.isFinite(o.k.data[0])) return literal(o.k.data[0]!);
        return tensor(i);
      },
      ints: (i, what) => {
        const o = ins[i];
        if (o?.k?.kind !== 'int') throw new Refusal(`${what} (input ${i}${o ? ` '${inputName(i)}'` : ''}) must be an integer constant`);
        return [...o.k.data];
      },
      int: (name, dflt) => (a(name) ? toNumber(a(name)!.i) : dflt),
      float: (name, dflt) => (a(name) ? (a(name)!.f ?? 0) : dflt),
      str: (name, dflt) => (a(name)?.s ? new TextDecoder().decode(a(name)!.s!) : dflt),
      intList: (name) => a(name)?.ints?.map(toNumber),
      out: (expr, shape, dtype, k = 0) => {
        const onnxName = n.output![k]!;
        if (!onnxName) return;
        if (shape.some((d) => !Number.isSafeInteger(d) || d < 0 || d > MAX_DIM))
          throw new Refusal(`output '${onnxName}' would have shape [${shape.join(', ')}]`);
        const name = names.take(onnxName);
        lines.push(`  let ${name} = ${expr}`);
        env.set(onnxName, { shape, dtype, expr: name });
      },
      alias: (o, k = 0) => void env.set(n.output![k]!, o),
      constant: (values: Values, shape, k = 0) => void env.set(n.output![k]!, { shape, dtype: values.kind === 'float' ? 'f32' : 'i32', k: values }),
    };
  }

  const outputs: ImportedIO[] = [];
  for (const v of g.output ?? []) {
    const o = env.get(v.name ?? '');
    if (o === POISON || o === undefined) continue;
    if (o.expr === undefined) {
      problems.push(`graph output '${v.name}' is a constant; mdc models compute their outputs`);
      continue;
    }
    const declared = v.type?.tensorType?.shape?.dim?.map((d) => (d.dimValue != null ? toNumber(d.dimValue) : (opts.dims?.[d.dimParam ?? ''] ?? -1)));
    if (declared && declared.some((d, i) => d !== -1 && d !== o.shape[i]))
      problems.push(`graph output '${v.name}' is declared [${declared.join(', ')}] but computes [${o.shape.join(', ')}]`);
    outputs.push({ name: o.expr, onnx: v.name ?? '', dtype: o.dtype, shape: o.shape });
  }
  if (problems.length) throw new OnnxError(what, problems);

  const model = names.take(opts.name ?? modelName(g.name ?? ''));
  const opTypes = [...new Set((g.node ?? []).map((n) => n.opType ?? ''))];
  const source = writeSource({ model, inputs, outputs, params, lines, file: opts.file, producer: m.producerName ?? '', opset, opTypes });
  return { model, source, params, inputs, outputs, opTypes };
}

/** A graph input's dtype and static shape, or undefined after recording what is wrong. */
function graphInput(v: ValueInfoProto, dims: Readonly<Record<string, number>>, problems: string[]): { dtype: DType; shape: number[] } | undefined {
  const t = v.type?.tensorType;
  const dtype = INPUT_DTYPE[t?.elemType ?? 0];
  if (!t || !dtype) {
    problems.push(`graph input '${v.name}' is ${t ? dtypeName(t.elemType) : 'not a tensor'}; mdc takes FLOAT, INT64, INT32 and BOOL tensors`);
    return undefined;
  }
  if (!t.shape) {
    problems.push(`graph input '${v.name}' has no shape; mdc needs every input's rank and dims`);
    return undefined;
  }
  const shape: number[] = [];
  let ok = true;
  (t.shape.dim ?? []).forEach((d, i) => {
    const n = d.dimValue != null ? toNumber(d.dimValue) : d.dimParam ? dims[d.dimParam] : undefined;
    if (n === undefined) {
      problems.push(
        d.dimParam
          ? `graph input '${v.name}' dim ${i} is symbolic ('${d.dimParam}'): give it a size with --dim ${d.dimParam.replace(/[^A-Za-z0-9_]/g, '_')}=N`
          : `graph input '${v.name}' dim ${i} has no size`,
      );
      ok = false;
    } else if (!Number.isSafeInteger(n) || n < 1 || n > MAX_DIM) {
      problems.push(`graph input '${v.name}' dim ${i} is ${n}; a dim must be between 1 and ${MAX_DIM}`);
      ok = false;
    } else shape.push(n);
  });
  return ok ? { dtype, shape } : undefined;
}

/** A model name from the graph's: its words capitalised (`torch_jit` → `TorchJit`). */
function modelName(graph: string): string {
  const words = graph.split(/[^A-Za-z0-9]+/).filter(Boolean);
  const name = words.map((w) => w[0]!.toUpperCase() + w.slice(1)).join('');
  return /^[A-Za-z]/.test(name) ? name : `Imported${name}`;
}

const typeText = (io: { dtype: DType; shape: readonly number[] }) => `${io.dtype}[${io.shape.join(', ')}]`;

function writeSource(s: {
  model: string;
  inputs: readonly ImportedIO[];
  outputs: readonly ImportedIO[];
  params: readonly ImportedParam[];
  lines: readonly string[];
  file: string | undefined;
  producer: string;
  opset: number;
  opTypes: readonly string[];
}): string {
  const from = s.file ? ` from ${s.file.split(/[\\/]/).pop()}` : '';
  const ret = s.outputs.length === 1 ? typeText(s.outputs[0]!) : `(${s.outputs.map(typeText).join(', ')})`;
  const head = [
    `/// Imported${from} by mdc import (ONNX opset ${s.opset}${s.producer ? `, produced by ${s.producer}` : ''}).`,
    `/// Parameters are declared zeros(): their values are in the weights file written beside this one.`,
    `model ${s.model}(${s.inputs.map((i) => `${i.name}: ${typeText(i)}`).join(', ')}) -> ${ret} {`,
  ];
  const params = s.params.map((p) => `  param ${p.name}: f32[${p.shape.join(', ')}] = zeros()`);
  return [...head, ...params, ...s.lines, `  return ${s.outputs.map((o) => o.name).join(', ')}`, '}', ''].join('\n');
}
