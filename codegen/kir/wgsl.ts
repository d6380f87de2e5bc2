import type { KernelSpec } from '../kernels/kernel.js';
import { BUILTINS, checkLimits, typeName, type BinOp, type Builtin, type Expr, type Kernel, type Stmt } from './ir.js';

/** WGSL literal for an f32 constant, always with a decimal point or exponent. */
export function f32Literal(x: number): string {
  if (Number.isNaN(x)) return '(0.0 / 0.0)';
  if (!Number.isFinite(x)) return x > 0 ? '3.4028234e38' : '-3.4028234e38';
  const s = String(Math.fround(x));
  return /[.e]/.test(s) ? s : `${s}.0`;
}

// Binding strength; WGSL also refuses `a || b && c` and chained comparisons, so a logical
// or comparison operand of the same level always gets parentheses.
const LEVEL: Record<BinOp, number> = {
  '||': 1, '&&': 1, '<': 2, '<=': 2, '>': 2, '>=': 2, '==': 2, '!=': 2, '+': 3, '-': 3, '*': 4, '/': 4, '%': 4,
};

function expr(e: Expr, used: Set<Builtin>): string {
  const n = e.node;
  switch (n.k) {
    case 'lit':
      if (typeof n.value === 'boolean') return String(n.value);
      return e.type === 'u32' ? `${n.value}u` : e.type === 'f32' ? f32Literal(n.value) : String(n.value);
    case 'ref': return n.name;
    case 'builtin': used.add(n.name); return BUILTINS[n.name].param;
    case 'not': return `!${wrap(n.a, used)}`;
    case 'neg': return `-${wrap(n.a, used)}`;
    case 'call': return `${n.fn}(${n.args.map((a) => expr(a, used)).join(', ')})`;
    case 'construct': return `${typeName(e.type)}(${n.args.map((a) => expr(a, used)).join(', ')})`;
    case 'index': return `${wrap(n.base, used)}[${expr(n.index, used)}]`;
    case 'field': return `${wrap(n.base, used)}.${n.field}`;
    case 'bin': {
      const lv = LEVEL[n.op];
      const side = (x: Expr, right: boolean) => {
        if (x.node.k !== 'bin') return expr(x, used);
        const xl = LEVEL[x.node.op];
        const paren = xl < lv || (xl === lv && (lv === 1 ? x.node.op !== n.op : lv === 2 || right));
        return paren ? `(${expr(x, used)})` : expr(x, used);
      };
      return `${side(n.a, false)} ${n.op} ${side(n.b, true)}`;
    }
  }
}

/** An operand of a postfix or unary operator. */
const wrap = (e: Expr, used: Set<Builtin>) => (e.node.k === 'bin' || e.node.k === 'not' || e.node.k === 'neg' || (e.node.k === 'lit' && typeof e.node.value === 'number' && e.node.value < 0)
  ? `(${expr(e, used)})` : expr(e, used));

function stmts(list: readonly Stmt[], indent: string, used: Set<Builtin>, out: string[]): void {
  for (const s of list) {
    switch (s.k) {
      case 'let': out.push(`${indent}let ${s.name} = ${expr(s.value, used)};`); break;
      case 'var': out.push(`${indent}var ${s.name}${s.init ? ` = ${expr(s.init, used)}` : `: ${typeName(s.type)}`};`); break;
      case 'assign': out.push(`${indent}${expr(s.target, used)} ${s.op ?? ''}= ${expr(s.value, used)};`); break;
      case 'for':
        out.push(`${indent}for (var ${s.v} = ${expr(s.from, used)}; ${s.v} < ${expr(s.to, used)}; ${s.v} += ${expr(s.step, used)}) {`);
        stmts(s.body, indent + '  ', used, out);
        out.push(`${indent}}`);
        break;
      case 'if':
        out.push(`${indent}if (${expr(s.cond, used)}) {`);
        stmts(s.then, indent + '  ', used, out);
        if (s.else?.length) {
          out.push(`${indent}} else {`);
          stmts(s.else, indent + '  ', used, out);
        }
        out.push(`${indent}}`);
        break;
      case 'block':
        out.push(`${indent}{`);
        stmts(s.body, indent + '  ', used, out);
        out.push(`${indent}}`);
        break;
      case 'barrier': out.push(`${indent}workgroupBarrier();`); break;
      case 'return': out.push(`${indent}return;`); break;
      case 'comment': out.push(`${indent}// ${s.text}`); break;
    }
  }
}

/** The kernel as WGSL: header comment, extensions, constants, bindings, workgroup memory, entry point. */
export function printWgsl(k: Kernel): string {
  const used = new Set<Builtin>();
  const body: string[] = [];
  stmts(k.body, '  ', used, body);
  const consts = k.consts.map((c) => `const ${c.name} = ${expr(c.value, used)};`);
  const params = (Object.keys(BUILTINS) as Builtin[]).filter((b) => used.has(b)).map((b) => `@builtin(${b}) ${BUILTINS[b].param}: ${typeName(BUILTINS[b].type)}`);
  const [x, y, z] = k.workgroupSize;
  return [
    `// mdc kernel: ${k.name}`,
    ...k.doc.map((d) => `// ${d}`),
    ...k.enables.map((e) => `enable ${e};`),
    ...consts,
    ...k.buffers.map((b, i) => `@group(0) @binding(${i}) var<storage, ${b.access}> ${b.name}: array<${typeName(b.elem)}>;`),
    ...k.shared.map((s) => `var<workgroup> ${s.name}: ${typeName(s.type)};`),
    `@compute @workgroup_size(${z > 1 ? `${x}, ${y}, ${z}` : y > 1 ? `${x}, ${y}` : x})`,
    `fn main(${params.join(', ')}) {`,
    ...body,
    '}',
    '',
  ].join('\n');
}

/** A kernel IR module as the spec the plan builder takes, after checking it against WebGPU's default limits. */
export function toSpec(k: Kernel): KernelSpec {
  checkLimits(k);
  return {
    name: k.name, wgsl: printWgsl(k), workgroupSize: k.workgroupSize, dispatch: k.dispatch,
    bindings: k.buffers.map((b) => ({ name: b.name, access: b.access, type: b.storage, value: b.value })),
    ...(k.enables.length ? { features: k.enables } : {}),
  };
}
