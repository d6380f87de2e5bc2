/** Source-like text of AST nodes, for diagnostics that quote what the user wrote. */
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
