import { BindingCountError, type KernelSpec, type KernelTarget } from '../kernels/kernel.js';
import type { BindingWindow } from '../../runtime/plan.js';
import { BITWISE, BUILTINS, checkLimits, LIMITS, scalarOf, typeName, type BinOp, type Builtin, type Expr, type Kernel, type Stmt, type Type } from './ir.js';

/**
 * What printing threads through: the builtins used, the buffers stored as f16 (by name),
 * the buffers bound as several windows (by name), and the helpers to declare (by name, with their text).
 */
interface Cx {
  readonly used: Set<Builtin>;
  readonly half: ReadonlySet<string>;
  readonly split: ReadonlyMap<string, Split>;
  readonly helpers: Map<string, string>;
}

/**
 * A buffer bound as `count` windows `<name>_w0`, `<name>_w1`, …: each holds `per` of the
 * kernel's elements (the last the rest), stored as WGSL type `stored`.
 */
interface Split {
  readonly count: number;
  readonly per: number;
  readonly stored: string;
}

/** The name of window `w` of a split buffer. */
const windowName = (name: string, w: number) => `${name}_w${w}`;

/** `base[index]` on a split buffer: its name and the index's text (as a u32), or undefined for anything else. */
function splitElement(e: Expr, cx: Cx): { name: string; split: Split; index: string } | undefined {
  if (e.node.k !== 'index' || e.node.base.node.k !== 'ref') return undefined;
  const name = e.node.base.node.name;
  const split = cx.split.get(name);
  if (!split) return undefined;
  const i = expr(e.node.index, cx);
  return { name, split, index: e.node.index.type === 'u32' ? i : `u32(${i})` };
}

/**
 * The helper that loads (`ld`) or stores (`st`) element i of a split buffer from the window
 * it falls in; declared once per kernel. Compares rather than divides: two windows are the
 * common case (GPT-2's embedding under a 128 MiB binding limit).
 */
function windowHelper(cx: Cx, name: string, s: Split, kind: 'ld' | 'st'): string {
  const fn = `mdc_${kind}_${name}`;
  if (cx.helpers.has(fn)) return fn;
  const lines: string[] = [kind === 'ld' ? `fn ${fn}(i: u32) -> ${s.stored} {` : `fn ${fn}(i: u32, v: ${s.stored}) {`];
  for (let w = 0; w < s.count; w++) {
    const at = w === 0 ? 'i' : `i - ${w * s.per}u`;
    const body = kind === 'ld' ? `return ${windowName(name, w)}[${at}];` : `${windowName(name, w)}[${at}] = v;${w < s.count - 1 ? ' return;' : ''}`;
    lines.push(w < s.count - 1 ? `  if (i < ${(w + 1) * s.per}u) { ${body} }` : `  ${body}`);
  }
  lines.push('}');
  cx.helpers.set(fn, lines.join('\n'));
  return fn;
}

/** Whether buffer `b` is stored as f16: an f32 buffer bound to a value the plan stores as f16. */
export const storedHalf = (b: Pick<Kernel['buffers'][number], 'storage' | 'value'>, f16Values: ReadonlySet<number> | undefined) =>
  b.storage === 'f32' && !!f16Values?.has(b.value);
/** The f16 storage type of an f32 view type (`vec4<f32>` → `vec4<f16>`). */
const halfOf = (t: string) => t.replace('f32', 'f16');
/** An element of an f16 buffer: `base[index]` without conversion, or undefined for anything else. */
const halfElement = (e: Expr, cx: Cx): string | undefined =>
  e.node.k === 'index' && e.node.base.node.k === 'ref' && cx.half.has(e.node.base.node.name)
    ? `${e.node.base.node.name}[${expr(e.node.index, cx)}]`
    : undefined;

/** WGSL literal for a finite f32 constant, always with a decimal point or exponent. */
export function f32Literal(x: number): string {
  if (!Number.isFinite(x)) throw new Error(`kir: ${x} has no WGSL literal (a non-finite constant expression is a shader-creation error)`);
  const s = String(Math.fround(x));
  return /[.e]/.test(s) ? s : `${s}.0`;
}

/*
 * Non-finite values and NaN-propagating max and min (docs/kernels.md, "NaN and infinity").
 * WGSL refuses a constant expression that is ±Infinity or NaN, so such a constant is made
 * at run time from the bits of a private variable. WGSL leaves max and min (and subgroupMax,
 * subgroupMin) with a NaN operand to the implementation (llvmpipe returns the other operand)
 * and lets a compiler assume `x != x` is false, so an f32 max or min is printed as a helper
 * that tests the operands' bits and returns the NaN one.
 */
const INF_BITS = 'var<private> mdc_inf_bits: u32 = 0x7f800000u;';
/** The WGSL text of the f32 `x` (a run-time value when it is not finite); `cx` records the private it reads. */
function f32Value(x: number, cx: Cx): string {
  if (Number.isFinite(x)) return f32Literal(x);
  cx.helpers.set('mdc_inf_bits', INF_BITS);
  return Number.isNaN(x) ? 'bitcast<f32>(mdc_inf_bits | 0x400000u)' : x > 0 ? 'bitcast<f32>(mdc_inf_bits)' : 'bitcast<f32>(mdc_inf_bits | 0x80000000u)';
}

/** The suffix of a helper for values of type `t` (`f32`, `vec4f`). */
const helperSuffix = (t: Type) => (typeof t === 'string' ? t : t.kind === 'vec' ? `vec${t.n}f` : typeName(t));
/** Declares (once) the helper `name` for `t`, made by `text(name, type name, is-NaN helper)`, and returns its name. */
function helper(cx: Cx, kind: string, t: Type, text: (name: string, ty: string, isNan: string) => string): string {
  const ty = typeName(t);
  const sfx = helperSuffix(t);
  const isNan = `mdc_isnan_${sfx}`;
  if (!cx.helpers.has(isNan)) {
    const bits = typeof t === 'string' ? 'u32' : `vec${(t as { n: number }).n}<u32>`;
    const k = (v: string) => (typeof t === 'string' ? `${v}u` : `${bits}(${v}u)`);
    const bool = typeof t === 'string' ? 'bool' : `vec${(t as { n: number }).n}<bool>`;
    cx.helpers.set(isNan, `fn ${isNan}(x: ${ty}) -> ${bool} { return (bitcast<${bits}>(x) & ${k('0x7fffffff')}) > ${k('0x7f800000')}; }`);
  }
  const name = `mdc_${kind}_${sfx}`;
  if (!cx.helpers.has(name)) cx.helpers.set(name, text(name, ty, isNan));
  return name;
}

/** A call of `fn`, through a NaN-propagating helper when it is an f32 max or min. */
function callText(fn: string, args: readonly Expr[], type: Type, cx: Cx): string {
  const list = args.map((a) => expr(a, cx)).join(', ');
  const float = typeof type !== 'object' || type.kind === 'vec' ? scalarOf(type) === 'f32' : false;
  if (float && (fn === 'max' || fn === 'min'))
    return `${helper(cx, fn, type, (name, ty, isNan) => `fn ${name}(a: ${ty}, b: ${ty}) -> ${ty} { return select(select(${fn}(a, b), b, ${isNan}(b)), a, ${isNan}(a)); }`)}(${list})`;
  if (float && (fn === 'subgroupMax' || fn === 'subgroupMin') && typeof type === 'string') {
    cx.helpers.set('mdc_inf_bits', INF_BITS);
    const name = helper(
      cx,
      fn,
      type,
      (n, ty, isNan) =>
        `fn ${n}(v: ${ty}) -> ${ty} { return select(${fn}(v), bitcast<f32>(mdc_inf_bits | 0x400000u), subgroupMax(select(0u, 1u, ${isNan}(v))) != 0u); }`,
    );
    return `${name}(${list})`;
  }
  return `${fn}(${list})`;
}

// Binding strength; WGSL also refuses `a || b && c` and chained comparisons, so a logical
// or comparison operand of the same level always gets parentheses. Bitwise operators and
// shifts have no precedence against the others: their operands are parenthesised (but
// `a & b & c` chains) and so are they inside any other operator.
const LEVEL: Record<BinOp, number> = {
  '||': 1,
  '&&': 1,
  '<': 2,
  '<=': 2,
  '>': 2,
  '>=': 2,
  '==': 2,
  '!=': 2,
  '+': 3,
  '-': 3,
  '*': 4,
  '/': 4,
  '%': 4,
  '&': 5,
  '|': 5,
  '^': 5,
  '<<': 5,
  '>>': 5,
};

function expr(e: Expr, cx: Cx): string {
  const n = e.node;
  switch (n.k) {
    case 'lit':
      if (typeof n.value === 'boolean') return String(n.value);
      return e.type === 'u32' ? `${n.hex ? `0x${n.value.toString(16)}` : n.value}u` : e.type === 'f32' ? f32Value(n.value, cx) : String(n.value);
    case 'ref':
      return n.name;
    case 'builtin':
      cx.used.add(n.name);
      return BUILTINS[n.name].param;
    case 'not':
      return `!${wrap(n.a, cx)}`;
    case 'neg':
      return `-${wrap(n.a, cx)}`;
    case 'call':
      return callText(n.fn, n.args, e.type, cx);
    case 'construct':
      return `${typeName(e.type)}(${n.args.map((a) => expr(a, cx)).join(', ')})`;
    case 'index': {
      // A load from a split buffer goes through its window helper; from an f16 buffer, it is widened to the f32 type the kernel computes in.
      const sp = splitElement(e, cx);
      if (sp) {
        const load = `${windowHelper(cx, sp.name, sp.split, 'ld')}(${sp.index})`;
        return cx.half.has(sp.name) ? `${typeName(e.type)}(${load})` : load;
      }
      const half = halfElement(e, cx);
      return half ? `${typeName(e.type)}(${half})` : `${wrap(n.base, cx)}[${expr(n.index, cx)}]`;
    }
    case 'field':
      return `${wrap(n.base, cx)}.${n.field}`;
    case 'bin': {
      const lv = LEVEL[n.op];
      const side = (x: Expr, right: boolean) => {
        if (x.node.k !== 'bin') return expr(x, cx);
        const xl = LEVEL[x.node.op];
        const bits = BITWISE.includes(n.op) || BITWISE.includes(x.node.op);
        const paren = bits
          ? right || x.node.op !== n.op || n.op === '<<' || n.op === '>>'
          : xl < lv || (xl === lv && (lv === 1 ? x.node.op !== n.op : lv === 2 || right));
        return paren ? `(${expr(x, cx)})` : expr(x, cx);
      };
      return `${side(n.a, false)} ${n.op} ${side(n.b, true)}`;
    }
  }
}

/** An operand of a postfix or unary operator. */
const wrap = (e: Expr, cx: Cx) =>
  e.node.k === 'bin' || e.node.k === 'not' || e.node.k === 'neg' || (e.node.k === 'lit' && typeof e.node.value === 'number' && e.node.value < 0)
    ? `(${expr(e, cx)})`
    : expr(e, cx);

function stmts(list: readonly Stmt[], indent: string, cx: Cx, out: string[]): void {
  for (const s of list) {
    switch (s.k) {
      case 'let':
        out.push(`${indent}let ${s.name} = ${expr(s.value, cx)};`);
        break;
      case 'var':
        out.push(`${indent}var ${s.name}${s.init ? ` = ${expr(s.init, cx)}` : `: ${typeName(s.type)}`};`);
        break;
      case 'assign': {
        // A store to an f16 buffer narrows the value (WGSL leaves the rounding direction to
        // the implementation); a compound one widens the old value first.
        const sp = splitElement(s.target, cx);
        if (sp) {
          const value = s.op ? `${expr(s.target, cx)} ${s.op} (${expr(s.value, cx)})` : expr(s.value, cx);
          const narrowed = cx.half.has(sp.name) ? `${halfOf(typeName(s.target.type))}(${value})` : value;
          out.push(`${indent}${windowHelper(cx, sp.name, sp.split, 'st')}(${sp.index}, ${narrowed});`);
          break;
        }
        if ((s.target.node.k === 'field' || s.target.node.k === 'index') && splitElement(s.target.node.base, cx))
          throw new Error('kir: a store to one component of an element of a buffer bound as windows is not supported');
        const half = halfElement(s.target, cx);
        if (!half && s.target.node.k === 'field' && halfElement(s.target.node.base, cx))
          throw new Error('kir: a store to one component of an f16 buffer element is not supported');
        if (!half) out.push(`${indent}${expr(s.target, cx)} ${s.op ?? ''}= ${expr(s.value, cx)};`);
        else {
          const value = s.op ? `${expr(s.target, cx)} ${s.op} (${expr(s.value, cx)})` : expr(s.value, cx);
          out.push(`${indent}${half} = ${halfOf(typeName(s.target.type))}(${value});`);
        }
        break;
      }
      case 'for':
        out.push(`${indent}for (var ${s.v} = ${expr(s.from, cx)}; ${s.v} < ${expr(s.to, cx)}; ${s.v} += ${expr(s.step, cx)}) {`);
        stmts(s.body, indent + '  ', cx, out);
        out.push(`${indent}}`);
        break;
      case 'if':
        out.push(`${indent}if (${expr(s.cond, cx)}) {`);
        stmts(s.then, indent + '  ', cx, out);
        if (s.else?.length) {
          out.push(`${indent}} else {`);
          stmts(s.else, indent + '  ', cx, out);
        }
        out.push(`${indent}}`);
        break;
      case 'block':
        out.push(`${indent}{`);
        stmts(s.body, indent + '  ', cx, out);
        out.push(`${indent}}`);
        break;
      case 'barrier':
        out.push(`${indent}workgroupBarrier();`);
        break;
      case 'return':
        out.push(`${indent}return;`);
        break;
      case 'break':
        out.push(`${indent}break;`);
        break;
      case 'continue':
        out.push(`${indent}continue;`);
        break;
      case 'comment':
        out.push(`${indent}// ${s.text}`);
        break;
    }
  }
}

/**
 * The kernel as WGSL: header comment, extensions, constants, bindings, workgroup memory, entry point.
 * A buffer whose value is in `windowed` is declared as one binding per window.
 */
export function printWgsl(k: Kernel, f16Values?: ReadonlySet<number>, windowed?: ReadonlyMap<number, readonly BindingWindow[]>): string {
  const half = new Set(k.buffers.filter((b) => storedHalf(b, f16Values)).map((b) => b.name));
  const split = new Map<string, Split>();
  for (const b of k.buffers) {
    const ws = windowed?.get(b.value);
    if (!ws || ws.length < 2) continue;
    const lanes = typeof b.elem === 'string' ? 1 : b.elem.n;
    if (lanes === 3) throw new Error(`kir: buffer ${b.name} of kernel ${k.name} is vec3 (padded to 16 bytes) and cannot be bound as windows`);
    const bytes = (half.has(b.name) ? 2 : 4) * lanes;
    if (ws[0]!.bytes % bytes !== 0) throw new Error(`kir: a ${ws[0]!.bytes}-byte window of ${b.name} does not hold whole ${bytes}-byte elements`);
    const stored = half.has(b.name) ? halfOf(typeName(b.elem)) : typeName(b.elem);
    split.set(b.name, { count: ws.length, per: ws[0]!.bytes / bytes, stored });
  }
  const cx: Cx = { used: new Set<Builtin>(), half, split, helpers: new Map() };
  const body: string[] = [];
  stmts(k.body, '  ', cx, body);
  const consts = k.consts.map((c) => {
    const own: Cx = { ...cx, helpers: new Map() };
    const text = `const ${c.name} = ${expr(c.value, own)};`;
    // A module constant is a constant expression: no run-time infinity, no helper call.
    if (own.helpers.size) throw new Error(`kir: constant ${c.name} of kernel ${k.name} needs run-time values (${[...own.helpers.keys()].join(', ')})`);
    return text;
  });
  const params = (Object.keys(BUILTINS) as Builtin[])
    .filter((b) => cx.used.has(b))
    .map((b) => `@builtin(${b}) ${BUILTINS[b].param}: ${typeName(BUILTINS[b].type)}`);
  const [x, y, z] = k.workgroupSize;
  return [
    `// mdc kernel: ${k.name}`,
    ...k.doc.map((d) => `// ${d}`),
    ...k.enables.map((e) => `enable ${e};`),
    ...(half.size ? ['enable f16;'] : []),
    ...consts,
    ...bindingDecls(k, half, split),
    ...k.shared.map((s) => `var<workgroup> ${s.name}: ${typeName(s.type)};`),
    ...cx.helpers.values(),
    `@compute @workgroup_size(${z > 1 ? `${x}, ${y}, ${z}` : y > 1 ? `${x}, ${y}` : x})`,
    `fn main(${params.join(', ')}) {`,
    ...body,
    '}',
    '',
  ].join('\n');
}

/** The storage bindings in order: one per buffer, or one per window of a split buffer. */
function bindingDecls(k: Kernel, half: ReadonlySet<string>, split: ReadonlyMap<string, Split>): string[] {
  const out: string[] = [];
  for (const b of k.buffers) {
    const type = half.has(b.name) ? halfOf(typeName(b.elem)) : typeName(b.elem);
    const names = split.has(b.name) ? Array.from({ length: split.get(b.name)!.count }, (_, w) => windowName(b.name, w)) : [b.name];
    for (const n of names) out.push(`@group(0) @binding(${out.length}) var<storage, ${b.access}> ${n}: array<${type}>;`);
  }
  return out;
}

/**
 * A kernel IR module as the spec the plan builder takes, after checking it against WebGPU's
 * default limits (the bindings counted after values over the binding limit are split into windows).
 */
export function toSpec(kernel: Kernel, target: KernelTarget = {}): KernelSpec {
  checkLimits(kernel);
  const windows = (b: Kernel['buffers'][number]) => {
    const ws = target.windowed?.get(b.value);
    return ws && ws.length > 1 ? ws : undefined;
  };
  const count = kernel.buffers.reduce((n, b) => n + (windows(b)?.length ?? 1), 0);
  const allowed = Math.max(LIMITS.storageBuffersPerStage, target.maxStorageBuffers ?? 0);
  if (count > allowed)
    throw new BindingCountError(
      `kernel '${kernel.name}' would bind ${count} storage buffers once its values over the ${target.maxBindingBytes ?? 'default'}-byte binding limit ` +
        `are bound as windows; the target allows ${allowed} per stage (KernelTarget.maxStorageBuffers)`,
    );
  const arena = target.arenaValues;
  const k = arena
    ? { ...kernel, buffers: kernel.buffers.map((b) => (b.access === 'read' && arena.has(b.value) ? { ...b, access: 'read_write' as const } : b)) }
    : kernel;
  const f16 = target.f16Values;
  const half = (b: Kernel['buffers'][number]) => storedHalf(b, f16);
  const features = [...k.enables, ...(k.buffers.some(half) ? ['shader-f16'] : [])];
  return {
    name: k.name,
    wgsl: printWgsl(k, f16, target.windowed),
    workgroupSize: k.workgroupSize,
    dispatch: k.dispatch,
    bindings: k.buffers.flatMap((b) => {
      const one = { name: b.name, access: b.access, type: half(b) ? ('f16' as const) : b.storage, value: b.value };
      return windows(b)?.map((window, w) => ({ ...one, name: windowName(b.name, w), window })) ?? [one];
    }),
    ...(features.length ? { features } : {}),
  };
}
