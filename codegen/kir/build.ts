import { arrayOf, builtin, foldGroups, lit, ref, sameType, typeName, type BinOp, type BufferDecl, type Expr, type Stmt, type Type } from './ir.js';

/**
 * Collects the statements of one block. Generators write kernels as ordinary
 * TypeScript against it: `let` and `var` return a reference to what they declare, and
 * `for`/`if` take a callback that fills the nested block.
 */
export class Block {
  readonly stmts: Stmt[] = [];

  let(name: string, value: Expr): Expr {
    this.stmts.push({ k: 'let', name, value });
    return ref(name, value.type);
  }

  var(name: string, type: Type, init?: Expr): Expr {
    if (init && !sameType(init.type, type)) throw new Error(`kir: var ${name}: ${typeName(type)} initialised with ${typeName(init.type)}`);
    this.stmts.push(init ? { k: 'var', name, type, init } : { k: 'var', name, type });
    return ref(name, type);
  }

  set(target: Expr, value: Expr, op?: BinOp): void {
    const k = target.node.k;
    if (k !== 'ref' && k !== 'index' && k !== 'field') throw new Error('kir: assignment to something that is not a variable, element or component');
    if (!sameType(target.type, value.type)) throw new Error(`kir: ${typeName(target.type)} = ${typeName(value.type)}`);
    this.stmts.push(op ? { k: 'assign', target, value, op } : { k: 'assign', target, value });
  }

  /** `for (var v = from; v < to; v += step)`; `from`, `to` and `step` are u32 (numbers), or all i32 when `from` is. */
  for(v: string, from: Expr | number, to: Expr | number, body: (i: Expr, b: Block) => void, step: Expr | number = 1): void {
    const t = typeof from === 'number' ? 'u32' : from.type;
    if (t !== 'u32' && t !== 'i32') throw new Error(`kir: for over a ${typeName(t)}`);
    const e = (x: Expr | number) => (typeof x === 'number' ? lit(t, x) : x);
    if (!sameType(e(to).type, t) || !sameType(e(step).type, t)) throw new Error(`kir: for ${v}: bounds of different types`);
    const inner = new Block();
    body(ref(v, t), inner);
    this.stmts.push({ k: 'for', v, from: e(from), to: e(to), step: e(step), body: inner.stmts });
  }

  if(cond: Expr, then: (b: Block) => void, otherwise?: (b: Block) => void): void {
    if (cond.type !== 'bool') throw new Error(`kir: if on a ${typeName(cond.type)}`);
    if (cond.node.k === 'lit') {
      // A condition the generator could decide (e.g. a bounds check on an exact tile) is not emitted.
      const b = new Block();
      (cond.node.value ? then : otherwise)?.(b);
      for (const s of b.stmts) this.stmts.push(s);
      return;
    }
    const t = new Block();
    then(t);
    const o = otherwise ? new Block() : undefined;
    if (o) otherwise!(o);
    this.stmts.push(o ? { k: 'if', cond, then: t.stmts, else: o.stmts } : { k: 'if', cond, then: t.stmts });
  }

  /** A nested `{ }` scope, so unrolled copies can reuse names. */
  scope(body: (b: Block) => void): void {
    const inner = new Block();
    body(inner);
    this.stmts.push({ k: 'block', body: inner.stmts });
  }

  barrier(): void {
    this.stmts.push({ k: 'barrier' });
  }
  return(): void {
    this.stmts.push({ k: 'return' });
  }
  break(): void {
    this.stmts.push({ k: 'break' });
  }
  continue(): void {
    this.stmts.push({ k: 'continue' });
  }
  comment(text: string): void {
    this.stmts.push({ k: 'comment', text });
  }
}

/** A reference to a storage buffer, for `buf.at(i)` loads and stores. */
export const bufferRef = (b: BufferDecl): Expr => ref(b.name, arrayOf(b.elem));

/**
 * A 1-D grid of `n` invocations in workgroups of `wg`, folded into 2-D past WebGPU's
 * 65535 workgroups per dimension: declares the flat invocation index `name` in `b`
 * (returning early past n when the grid overshoots it) and gives the dispatch.
 */
export function flatGrid(b: Block, name: string, n: number, wg: number): { index: Expr; dispatch: [number, number, number] } {
  const dispatch = foldGroups(Math.max(1, Math.ceil(n / wg)));
  const [x, y] = dispatch;
  const gid = builtin('global_invocation_id');
  const index = b.let(name, y > 1 ? gid.x.add(gid.y.mul(x * wg)) : gid.x);
  if (x * y * wg !== n) b.if(index.ge(n), (t) => t.return());
  return { index, dispatch };
}
