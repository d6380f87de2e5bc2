/** Reading AST nodes back: source-like text for diagnostics that quote what the user wrote, and the calls of a body. */
import type * as A from './ast.js';

/** A type annotation as written, layouts included: `f32[8@tp, 16@tp]`. */
export function typeNodeText(t: A.TensorTypeNode): string {
  const dims = t.dims.map(
    (d) => exprText(d.size) + (d.axes.length === 0 ? '' : d.axes.length === 1 ? `@${d.axes[0]!.name}` : `@(${d.axes.map((a) => a.name).join(',')})`),
  );
  return `${t.dtype.name}[${dims.join(', ')}]${t.partial.length ? ` partial(${t.partial.map((p) => p.name).join(',')})` : ''}`;
}

/** An expression as written, calls abbreviated: `4 * d`, `repeat(layers) Layer(…)`. */
export function exprText(e: A.Expr): string {
  switch (e.kind) {
    case 'num':
      return e.text;
    case 'size':
      return e.text;
    case 'str':
      return JSON.stringify(e.value);
    case 'bool':
      return String(e.value);
    case 'name':
      return e.name;
    case 'unary':
      return `-${exprText(e.operand)}`;
    case 'binary':
      return `${exprText(e.left)} ${e.op} ${exprText(e.right)}`;
    case 'list':
      return `[${e.items.map(exprText).join(', ')}]`;
    case 'call':
      return `${e.callee.name}(…)`;
    case 'repeat':
      return `repeat(${exprText(e.count)}) ${e.call.callee.name}(…)`;
  }
}

/**
 * Every call in a block's or model's body, in source order (arguments, repeated calls
 * and operands included): what block-cycle checks and reachability walk. A worklist, not
 * recursion, so a deeply nested expression cannot exhaust the stack.
 */
export function callsIn(f: A.FunctionDecl): A.Call[] {
  const out: A.Call[] = [];
  const work: A.Expr[] = [];
  for (const s of f.body) {
    if (s.kind === 'let') work.push(s.value);
    else if (s.kind === 'return') for (const v of s.values) work.push(v);
    else if (s.init) work.push(s.init);
  }
  work.reverse();
  for (let e = work.pop(); e; e = work.pop()) {
    switch (e.kind) {
      case 'call':
        out.push(e);
        for (let i = e.args.length - 1; i >= 0; i--) work.push(e.args[i]!.value);
        break;
      case 'repeat':
        work.push(e.count, e.call);
        break;
      case 'binary':
        work.push(e.right, e.left);
        break;
      case 'unary':
        work.push(e.operand);
        break;
      case 'list':
        for (let i = e.items.length - 1; i >= 0; i--) work.push(e.items[i]!);
        break;
    }
  }
  return out;
}
