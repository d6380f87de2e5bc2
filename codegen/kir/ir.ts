/**
 * The kernel IR: a typed description of one compute kernel (its storage buffers,
 * workgroup memory, module constants, builtins, loops and loads), from which
 * `wgsl.ts` prints WGSL. Expressions carry their type and are checked as they are
 * built, so a generator that adds a u32 to an f32 fails when it runs, not when Dawn
 * compiles the shader. Shapes are known at code generation, so loops over register
 * blocks are unrolled by the generator and their bounds are literals.
 */
import type { Access, StorageType } from '../../runtime/plan.js';

export type Scalar = 'f32' | 'i32' | 'u32' | 'bool';
export interface VecType {
  readonly kind: 'vec';
  readonly n: 2 | 3 | 4;
  readonly of: Scalar;
}
/** A fixed-size array (workgroup memory, local arrays) or, without `len`, a runtime-sized one (storage buffers). */
export interface ArrayType {
  readonly kind: 'array';
  readonly of: Type;
  readonly len?: number;
}
export type Type = Scalar | VecType | ArrayType;

export const vec = (n: 2 | 3 | 4, of: Scalar): VecType => ({ kind: 'vec', n, of });
export const arrayOf = (of: Type, len?: number): ArrayType => (len === undefined ? { kind: 'array', of } : { kind: 'array', of, len });
export const vec4f = vec(4, 'f32');
export const vec3u = vec(3, 'u32');

export const sameType = (a: Type, b: Type): boolean => typeName(a) === typeName(b);
export function typeName(t: Type): string {
  if (typeof t === 'string') return t;
  if (t.kind === 'vec') return `vec${t.n}<${t.of}>`;
  return t.len === undefined ? `array<${typeName(t.of)}>` : `array<${typeName(t.of)}, ${t.len}>`;
}
/** The scalar a value of type `t` is made of (vectors: their component). */
export const scalarOf = (t: Type): Scalar => {
  if (typeof t === 'string') return t;
  if (t.kind === 'vec') return t.of;
  throw new Error(`kir: ${typeName(t)} has no scalar component type`);
};

export type BinOp = '+' | '-' | '*' | '/' | '%' | '<' | '<=' | '>' | '>=' | '==' | '!=' | '&&' | '||' | '&' | '|' | '^' | '<<' | '>>';
export const COMPARISONS: readonly BinOp[] = ['<', '<=', '>', '>=', '==', '!='];
/** Bitwise operators and shifts: integer operands only (bit patterns come from `bitcast`). */
export const BITWISE: readonly BinOp[] = ['&', '|', '^', '<<', '>>'];

/** The WGSL entry-point builtins a kernel may read; the printer declares those it uses. */
export const BUILTINS = {
  global_invocation_id: { param: 'gid', type: vec3u },
  local_invocation_id: { param: 'lid', type: vec3u },
  local_invocation_index: { param: 'lindex', type: 'u32' },
  workgroup_id: { param: 'wid', type: vec3u },
  num_workgroups: { param: 'nwg', type: vec3u },
  subgroup_invocation_id: { param: 'lane', type: 'u32' },
  subgroup_size: { param: 'sgsize', type: 'u32' },
} as const satisfies Record<string, { param: string; type: Type }>;
export type Builtin = keyof typeof BUILTINS;

export type ExprNode =
  /** `hex`: a u32 bit pattern, printed in hexadecimal. */
  | { readonly k: 'lit'; readonly value: number | boolean; readonly hex?: true }
  /** A let, var, loop variable, module constant, buffer or workgroup array. */
  | { readonly k: 'ref'; readonly name: string }
  | { readonly k: 'builtin'; readonly name: Builtin }
  | { readonly k: 'bin'; readonly op: BinOp; readonly a: Expr; readonly b: Expr }
  | { readonly k: 'not'; readonly a: Expr }
  | { readonly k: 'neg'; readonly a: Expr }
  /** A WGSL builtin function (`fma`, `max`, `subgroupBroadcast`, ...). */
  | { readonly k: 'call'; readonly fn: string; readonly args: readonly Expr[] }
  /** `type(args)`: conversions, vector splats and constructors. */
  | { readonly k: 'construct'; readonly args: readonly Expr[] }
  | { readonly k: 'index'; readonly base: Expr; readonly index: Expr }
  | { readonly k: 'field'; readonly base: Expr; readonly field: 'x' | 'y' | 'z' | 'w' };

/** Something an operator accepts: an expression, or a JS number taken as a literal of the other side's type. */
export type Operand = Expr | number;

/** A typed expression. Integer arithmetic on literals folds, so unrolled code prints `r0 + 3u`, not `r0 + (1u + 2u)`. */
export class Expr {
  constructor(
    readonly type: Type,
    readonly node: ExprNode,
  ) {}

  add(b: Operand): Expr {
    return bin('+', this, b);
  }
  sub(b: Operand): Expr {
    return bin('-', this, b);
  }
  mul(b: Operand): Expr {
    return bin('*', this, b);
  }
  div(b: Operand): Expr {
    return bin('/', this, b);
  }
  mod(b: Operand): Expr {
    return bin('%', this, b);
  }
  lt(b: Operand): Expr {
    return bin('<', this, b);
  }
  le(b: Operand): Expr {
    return bin('<=', this, b);
  }
  gt(b: Operand): Expr {
    return bin('>', this, b);
  }
  ge(b: Operand): Expr {
    return bin('>=', this, b);
  }
  eq(b: Operand): Expr {
    return bin('==', this, b);
  }
  ne(b: Operand): Expr {
    return bin('!=', this, b);
  }
  and(b: Expr): Expr {
    return bin('&&', this, b);
  }
  or(b: Expr): Expr {
    return bin('||', this, b);
  }
  bitAnd(b: Operand): Expr {
    return bin('&', this, b);
  }
  bitOr(b: Operand): Expr {
    return bin('|', this, b);
  }
  xor(b: Operand): Expr {
    return bin('^', this, b);
  }
  shl(b: Operand): Expr {
    return bin('<<', this, b);
  }
  shr(b: Operand): Expr {
    return bin('>>', this, b);
  }
  /** Element `i` of an array (or vector). */
  at(i: Operand): Expr {
    if (typeof this.type === 'string') throw new Error(`kir: cannot index a ${this.type}`);
    const of = this.type.kind === 'array' ? this.type.of : this.type.of;
    return new Expr(of, { k: 'index', base: this, index: asExpr(i, 'u32') });
  }
  get x(): Expr {
    return field(this, 'x');
  }
  get y(): Expr {
    return field(this, 'y');
  }
  get z(): Expr {
    return field(this, 'z');
  }
  get w(): Expr {
    return field(this, 'w');
  }
  /** The literal value, when this is an integer literal. */
  get literal(): number | undefined {
    return this.node.k === 'lit' && typeof this.node.value === 'number' ? this.node.value : undefined;
  }
}

export const lit = (type: Scalar, value: number | boolean): Expr => {
  if (
    (type === 'u32' && (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 0xffffffff)) ||
    (type === 'i32' && (typeof value !== 'number' || !Number.isInteger(value) || value < -0x80000000 || value > 0x7fffffff))
  ) {
    throw new Error(`kir: ${value} is not a ${type}`);
  }
  return new Expr(type, { k: 'lit', value });
};
export const u = (n: number) => lit('u32', n);
/** A u32 bit mask, printed as `0x7f800000u`. */
export const bits = (n: number) => new Expr('u32', { k: 'lit', value: lit('u32', n).literal!, hex: true });
export const i = (n: number) => lit('i32', n);
export const f = (x: number) => lit('f32', x);
export const ref = (name: string, type: Type) => new Expr(type, { k: 'ref', name });
export const builtin = (name: Builtin) => new Expr(BUILTINS[name].type, { k: 'builtin', name });

const asExpr = (x: Operand, like: Type): Expr => (typeof x === 'number' ? lit(scalarOf(like), x) : x);
const isInt = (t: Type) => t === 'u32' || t === 'i32';

function fold(op: BinOp, a: number, b: number, t: Type): number | undefined {
  const wrap = (n: number) => (t === 'u32' ? n >>> 0 : n | 0);
  switch (op) {
    case '+':
      return wrap(a + b);
    case '-':
      return t === 'u32' && b > a ? undefined : wrap(a - b);
    case '*':
      return Number.isSafeInteger(a * b) ? wrap(a * b) : undefined;
    case '/':
      return b === 0 ? undefined : wrap(Math.trunc(a / b));
    case '%':
      return b === 0 ? undefined : wrap(a % b);
    default:
      return undefined;
  }
}

export function bin(op: BinOp, a: Operand, b: Operand): Expr {
  const ea = typeof a === 'number' ? asExpr(a, (b as Expr).type) : a;
  const eb = asExpr(b, ea.type);
  const logical = op === '&&' || op === '||';
  if (logical && (ea.type !== 'bool' || eb.type !== 'bool')) throw new Error(`kir: ${op} needs bools, got ${typeName(ea.type)} and ${typeName(eb.type)}`);
  if (BITWISE.includes(op) && !isInt(ea.type)) throw new Error(`kir: ${op} needs integers, got ${typeName(ea.type)}`);
  // Arithmetic may take a vector and a scalar of its component type (either side); otherwise both sides have one type.
  const isVecOf = (v: Type, s: Type) => typeof v === 'object' && v.kind === 'vec' && s === v.of;
  const arithmetic = ['+', '-', '*', '/'].includes(op);
  const scaled = arithmetic && (isVecOf(ea.type, eb.type) || isVecOf(eb.type, ea.type));
  if (!scaled && !sameType(ea.type, eb.type)) throw new Error(`kir: ${typeName(ea.type)} ${op} ${typeName(eb.type)}`);
  // A comparison of vectors is a vector of bools, as in WGSL.
  const type: Type =
    scaled && isVecOf(eb.type, ea.type)
      ? eb.type
      : !COMPARISONS.includes(op)
        ? ea.type
        : typeof ea.type === 'object' && ea.type.kind === 'vec'
          ? vec(ea.type.n, 'bool')
          : 'bool';
  if (logical) {
    // A decided operand decides or drops out: `true && c` is c, `false && c` is false.
    for (const [p, q] of [
      [ea, eb],
      [eb, ea],
    ] as const) {
      if (p.node.k === 'lit') return p.node.value === (op === '&&') ? q : p;
    }
  }
  if (isInt(ea.type)) {
    const x = ea.literal;
    const y = eb.literal;
    if (x !== undefined && y !== undefined && COMPARISONS.includes(op)) {
      const r = op === '<' ? x < y : op === '<=' ? x <= y : op === '>' ? x > y : op === '>=' ? x >= y : op === '==' ? x === y : x !== y;
      return lit('bool', r);
    }
    if (x !== undefined && y !== undefined) {
      const v = fold(op, x, y, ea.type);
      if (v !== undefined) return lit(ea.type as Scalar, v);
    }
    if ((op === '+' && y === 0) || (op === '-' && y === 0) || ((op === '*' || op === '/') && y === 1)) return ea;
    if (op === '+' && x === 0) return eb;
    if (op === '*' && x === 1) return eb;
    if (op === '*' && (x === 0 || y === 0)) return lit(ea.type as Scalar, 0);
    if (op === '%' && y === 1) return lit(ea.type as Scalar, 0);
  }
  return new Expr(type, { k: 'bin', op, a: ea, b: eb });
}

export const not = (a: Expr) => new Expr('bool', { k: 'not', a });
/** `-a` for a signed scalar or vector. */
export const neg = (a: Expr) => {
  if (scalarOf(a.type) !== 'f32' && scalarOf(a.type) !== 'i32') throw new Error(`kir: -${typeName(a.type)}`);
  return new Expr(a.type, { k: 'neg', a });
};
export const field = (base: Expr, name: 'x' | 'y' | 'z' | 'w') => new Expr(scalarOf(base.type), { k: 'field', base, field: name });
export const construct = (type: Type, ...args: Expr[]) => new Expr(type, { k: 'construct', args });
/** A conversion to `type`, omitted when the value already has it. */
export const cast = (type: Scalar, e: Expr) =>
  sameType(e.type, type) ? e : e.literal !== undefined && isInt(type) ? lit(type, e.literal) : construct(type, e);
/** `vecN<T>(e)`: the scalar `e` in every component. */
export const splat = (t: VecType, e: Expr) => construct(t, e);
export const call = (fn: string, type: Type, ...args: Expr[]) => new Expr(type, { k: 'call', fn, args });
/** `bitcast<type>(e)`: the same 32 bits read as another scalar type. */
export const bitcast = (type: Scalar, e: Expr) => call(`bitcast<${type}>`, type, e);

/** Builtin functions whose result has the type of their first argument. */
const sameAs =
  (fn: string) =>
  (a: Expr, ...rest: Operand[]) => {
    const args = [a, ...rest.map((r) => asExpr(r, a.type))];
    for (const x of args) if (!sameType(x.type, a.type)) throw new Error(`kir: ${fn}(${args.map((y) => typeName(y.type)).join(', ')})`);
    return call(fn, a.type, ...args);
  };
export const fma = sameAs('fma');
export const max = sameAs('max');
export const min = sameAs('min');
export const exp = sameAs('exp');
export const log = sameAs('log');
export const inverseSqrt = sameAs('inverseSqrt');
export const abs = sameAs('abs');
/** `select(f, t, cond)`: `t` where `cond` holds (per component, for a vector of bools). */
export const select = (onFalse: Expr, onTrue: Operand, cond: Expr) => {
  const t = asExpr(onTrue, onFalse.type);
  const ft = onFalse.type;
  const condOk =
    cond.type === 'bool' ||
    (typeof cond.type === 'object' &&
      cond.type.kind === 'vec' &&
      cond.type.of === 'bool' &&
      typeof ft === 'object' &&
      ft.kind === 'vec' &&
      ft.n === cond.type.n);
  if (!sameType(t.type, ft) || !condOk) throw new Error('kir: select(f, t, cond) needs f and t of one type and a bool (or a vector of bools as wide as them)');
  return call('select', ft, onFalse, t, cond);
};
/** The value `e` holds in subgroup lane `lane` (a constant, as WGSL requires). */
export const subgroupBroadcast = (e: Expr, lane: number) => call('subgroupBroadcast', e.type, e, u(lane));
/** The value `e` holds in subgroup lane `lane`, a run-time index (the same in every lane here). */
export const subgroupShuffle = (e: Expr, lane: Expr) => call('subgroupShuffle', e.type, e, lane);
export const subgroupAdd = (e: Expr) => call('subgroupAdd', e.type, e);
export const subgroupMax = (e: Expr) => call('subgroupMax', e.type, e);
export const subgroupMin = (e: Expr) => call('subgroupMin', e.type, e);

// ------------------------------------------------------------------ statements and kernels

export type Stmt =
  | { readonly k: 'let'; readonly name: string; readonly value: Expr }
  | { readonly k: 'var'; readonly name: string; readonly type: Type; readonly init?: Expr }
  /** `target = value`, or `target op= value`. The target is a ref, an index or a field. */
  | { readonly k: 'assign'; readonly target: Expr; readonly value: Expr; readonly op?: BinOp }
  /** `for (var v = from; v < to; v += step)`: a counted loop (u32 or i32). */
  | { readonly k: 'for'; readonly v: string; readonly from: Expr; readonly to: Expr; readonly step: Expr; readonly body: readonly Stmt[] }
  | { readonly k: 'if'; readonly cond: Expr; readonly then: readonly Stmt[]; readonly else?: readonly Stmt[] }
  | { readonly k: 'block'; readonly body: readonly Stmt[] }
  | { readonly k: 'barrier' }
  | { readonly k: 'return' }
  | { readonly k: 'break' }
  | { readonly k: 'continue' }
  | { readonly k: 'comment'; readonly text: string };

/**
 * A storage buffer. `elem` is how the kernel views it (`vec4<f32>` for four-wide
 * loads); `storage` is how the plan stores it; `value` is the graph value bound to it.
 */
export interface BufferDecl {
  readonly name: string;
  readonly access: Access;
  readonly elem: Scalar | VecType;
  readonly storage: StorageType;
  readonly value: number;
}

/** A module-scope `const`: a shape the kernel is specialised for, named. */
export interface ConstDecl {
  readonly name: string;
  readonly value: Expr;
}

export type Extension = 'subgroups';

export interface Kernel {
  readonly name: string;
  /** Comment lines printed at the top: what the kernel computes and its configuration. */
  readonly doc: readonly string[];
  readonly enables: readonly Extension[];
  readonly consts: readonly ConstDecl[];
  readonly buffers: readonly BufferDecl[];
  /** `var<workgroup>` arrays. */
  readonly shared: readonly { readonly name: string; readonly type: ArrayType }[];
  readonly workgroupSize: readonly [number, number, number];
  readonly dispatch: readonly [number, number, number];
  readonly body: readonly Stmt[];
}

/** WebGPU's default limits: every kernel fits them, so plans run on any adapter. */
export const LIMITS = {
  invocationsPerWorkgroup: 256,
  workgroupStorageBytes: 16384,
  storageBuffersPerStage: 8,
  workgroupsPerDimension: 65535,
} as const;

/**
 * `groups` workgroups as a dispatch: one row of them, folded into 2-D past the limit per
 * dimension (`x · y ≥ groups`; the kernel returns early in the excess ones).
 */
export function foldGroups(groups: number): [number, number, number] {
  const x = Math.min(Math.max(1, groups), LIMITS.workgroupsPerDimension);
  return [x, Math.ceil(groups / x), 1];
}

export function byteSize(t: Type): number {
  if (typeof t === 'string') return 4;
  if (t.kind === 'vec') return 4 * (t.n === 3 ? 4 : t.n);
  if (t.len === undefined) throw new Error('kir: a runtime-sized array has no static size');
  return t.len * byteSize(t.of);
}

/** Throws when a kernel breaks a WebGPU default limit. */
export function checkLimits(k: Kernel): void {
  const [x, y, z] = k.workgroupSize;
  const problems: string[] = [];
  if (x * y * z > LIMITS.invocationsPerWorkgroup) problems.push(`${x * y * z} invocations per workgroup`);
  const shared = k.shared.reduce((s, v) => s + byteSize(v.type), 0);
  if (shared > LIMITS.workgroupStorageBytes) problems.push(`${shared} bytes of workgroup memory`);
  if (k.buffers.length > LIMITS.storageBuffersPerStage) problems.push(`${k.buffers.length} storage buffers`);
  if (k.dispatch.some((d) => d > LIMITS.workgroupsPerDimension || d < 1)) problems.push(`dispatch [${k.dispatch.join(', ')}]`);
  if (problems.length) throw new Error(`kir: kernel '${k.name}' exceeds WebGPU's default limits: ${problems.join(', ')}`);
}
