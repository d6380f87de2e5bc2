import type * as A from './ast.js';

/**
 * `mdc fmt`: the canonical layout of a program. Every comment is kept: a comment is
 * printed before the first declaration or statement that starts after it (so one
 * inside an expression moves to just after that statement's line), and a comment on
 * the same line as the end of a statement stays at the end of that line.
 */
export function format(program: A.Program, text: string): string {
  // A lone \r (an old Mac line end) is a line break like \n; swapping one character for one keeps every span's offsets.
  const source = text.replace(/\r(?!\n)/g, '\n');
  const out: string[] = [];
  const comments = [...program.comments].sort((a, b) => a.span.start - b.span.start);
  let ci = 0;
  let lastEnd = 0;

  const flushBefore = (offset: number, indent: string) => {
    while (ci < comments.length && comments[ci]!.span.start < offset) {
      const c = comments[ci++]!;
      const sameLine = out.length > 0 && lastEnd > 0 && !source.slice(lastEnd, c.span.start).includes('\n');
      if (sameLine) out[out.length - 1] += ` ${c.text.trimEnd()}`;
      else {
        if (out.length && blankBetween(lastEnd, c.span.start) && out[out.length - 1] !== '' && !out[out.length - 1]!.endsWith('{')) out.push('');
        out.push(
          ...c.text
            .trimEnd()
            .split(/\r?\n|\r/)
            .map((l, i) => (i === 0 ? indent + l : l)),
        );
      }
      lastEnd = c.span.end;
    }
  };
  const blankBetween = (a: number, b: number) => /\n[ \t\r]*\n/.test(source.slice(a, b));
  const emit = (node: { span: { start: number; end: number } }, indent: string, lines: string[]) => {
    flushBefore(node.span.start, indent);
    for (const l of lines) out.push(indent + l);
    lastEnd = node.span.end;
    // Same-line trailing comments right after the node.
    while (ci < comments.length && !source.slice(lastEnd, comments[ci]!.span.start).includes('\n') && comments[ci]!.span.start >= lastEnd) {
      const c = comments[ci++]!;
      out[out.length - 1] += ` ${c.text.trimEnd()}`;
      lastEnd = c.span.end;
    }
  };

  program.items.forEach((item, i) => {
    if (i > 0) out.push('');
    switch (item.kind) {
      case 'mesh':
        emit(item, '', [`mesh ${item.name.name} = [${item.axes.map((a) => `${a.name.name}: ${expr(a.size)}`).join(', ')}]`]);
        break;
      case 'config':
      case 'preset':
      case 'train':
      case 'infer': {
        const head =
          item.kind === 'config'
            ? `config ${item.name.name}`
            : item.kind === 'preset'
              ? `preset ${item.name.name}${item.base ? ` for ${item.base.name}` : ''}`
              : `${item.kind} ${item.target.name}`;
        emit({ span: { start: item.span.start, end: item.span.start } }, '', [`${head} {`]);
        let prev = -1;
        for (const e of item.entries) {
          if (prev >= 0 && blankBetween(prev, e.span.start)) out.push('');
          emit(e, '  ', [`${e.name.name} = ${expr(e.value)}`]);
          prev = e.span.end;
        }
        flushBefore(item.span.end - 1, '  ');
        out.push('}');
        lastEnd = item.span.end;
        break;
      }
      case 'block':
      case 'model': {
        const params = item.params.map((p) => `${p.name.name}: ${type(p.type)}`).join(', ');
        const rets = item.returns.length === 1 ? type(item.returns[0]!) : `(${item.returns.map(type).join(', ')})`;
        const where = item.where.length ? ` where ${item.where.map((w) => `${w.name.name} = ${expr(w.value)}`).join(', ')}` : '';
        emit({ span: { start: item.span.start, end: item.bodySpan.start + 1 } }, '', [`${item.kind} ${item.name.name}(${params}) -> ${rets}${where} {`]);
        let prev = -1;
        for (const s of item.body) {
          if (prev >= 0 && blankBetween(prev, s.span.start)) out.push('');
          emit(s, '  ', [stmt(s)]);
          prev = s.span.end;
        }
        flushBefore(item.bodySpan.end - 1, '  ');
        out.push('}');
        lastEnd = item.span.end;
        break;
      }
    }
  });
  flushBefore(Infinity, '');
  return out.join('\n').replace(/[ \t]+$/gm, '') + '\n';
}

function stmt(s: A.Stmt): string {
  const ann = (as: readonly A.Annotation[]) =>
    as.map((a) => ` @${a.name.name}${a.args.length || a.span.end > a.name.span.end ? `(${args(a.args)})` : ''}`).join('');
  switch (s.kind) {
    case 'param':
      return `param ${s.name.name}: ${type(s.type)}${s.init ? ` = ${expr(s.init)}` : ''}${ann(s.annotations)}`;
    case 'let':
      return `${s.isLet ? 'let ' : ''}${s.names.map((n) => n.name).join(', ')} = ${expr(s.value)}${ann(s.annotations)}`;
    case 'return':
      return `return ${s.values.map((v) => expr(v)).join(', ')}`;
  }
}

export function type(t: A.TensorTypeNode): string {
  const dims = t.dims.map((d) => {
    const axes = d.axes.length === 0 ? '' : d.axes.length === 1 ? `@${d.axes[0]!.name}` : `@(${d.axes.map((a) => a.name).join(',')})`;
    return expr(d.size, 0, true) + axes;
  });
  return `${t.dtype.name}[${dims.join(', ')}]${t.partial.length ? ` partial(${t.partial.map((p) => p.name).join(', ')})` : ''}`;
}

function args(as: readonly A.Arg[]): string {
  return as.map((a) => (a.name ? `${a.name.name} = ${expr(a.value)}` : expr(a.value))).join(', ');
}

const PREC: Record<A.BinaryOp, number> = { '+': 1, '-': 1, '*': 2, '/': 2, '@': 2, '**': 4 };

/** Prints an expression with the fewest parentheses that parse back to the same tree. */
export function expr(e: A.Expr, parent = 0, compact = false): string {
  switch (e.kind) {
    case 'num':
      return e.text;
    case 'size':
      return e.text;
    case 'bool':
      return String(e.value);
    case 'str':
      return `"${e.value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n').replace(/\t/g, '\\t')}"`;
    case 'name':
      return e.name;
    case 'list':
      return `[${e.items.map((i) => expr(i, 0, compact)).join(', ')}]`;
    case 'call':
      return `${e.callee.name}(${args(e.args)})`;
    case 'repeat':
      return `repeat(${expr(e.count)}) ${expr(e.call)}`;
    case 'unary': {
      const inner = expr(e.operand, 3, compact);
      const s = `-${inner}`;
      return parent > 3 ? `(${s})` : s;
    }
    case 'binary': {
      const p = PREC[e.op];
      const rightAssoc = e.op === '**';
      const l = expr(e.left, rightAssoc ? p + 1 : p, compact);
      const r = e.op === '**' ? expr(e.right, 3, compact) : expr(e.right, p + 1, compact);
      const s = compact ? `${l}${e.op}${r}` : `${l} ${e.op} ${r}`;
      return p < parent ? `(${s})` : s;
    }
  }
}
