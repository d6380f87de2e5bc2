/**
 * The sizes mdc can compute with exactly. Dims and element counts are float64 numbers all
 * the way to the plan, so a dim must be a safe integer (below 2^53) and a tensor's element
 * count at most 2^50, so that its byte size (up to 8 bytes an element) and sums of a few
 * such sizes stay exact. Config arithmetic (`d = 2 ** 60`), `--set` and `--dim` can reach
 * beyond either; elaboration refuses them where the dim or the tensor is made
 * (compiler/elaborate.ts), so nothing later computes with a rounded size. What one device
 * holds is bounded further by its buffer limits (128 MiB a binding by default), far below
 * the 2^32 elements a kernel's u32 index reaches: a partitioned plan may hold global
 * tensors beyond 2^32 elements, so that is no bound for the source.
 */
import type * as A from '../grammar/ast.js';
import { exprText } from '../grammar/ast-text.js';
import { dimValue, type Dim } from './dims.js';
import type { TType } from './types.js';

/** The most elements one tensor may have. */
export const MAX_ELEMENTS = 2 ** 50;

/** A size for a message: every digit of an integer below 1e21 (the float's exact value), else JavaScript's exponent form. */
export const showSize = (n: number): string => (!Number.isFinite(n) ? 'more than 1.8e308' : Math.abs(n) < 1e21 ? BigInt(n).toString() : String(n));

/** The concrete value of `d` when it is not an exact integer, else undefined. */
export function inexactDim(d: Dim): number | undefined {
  const n = dimValue(d);
  return n === undefined || Number.isSafeInteger(n) ? undefined : n;
}

/** How a message names the dim written `e`: by name, saying which option gave it, or by its text. */
export function dimOrigin(e: A.Expr, dims: ReadonlyMap<string, number> | undefined, setByOption: ReadonlySet<string>): string {
  if (e.kind !== 'name') return `the dim ${exprText(e)}`;
  if (dims?.has(e.name)) return `dim '${e.name}' (--dim ${e.name})`;
  if (setByOption.has(e.name)) return `dim '${e.name}' (--set ${e.name})`;
  return `dim '${e.name}'`;
}

/** The element count of `t` when its dims are concrete and it exceeds MAX_ELEMENTS, else undefined. */
export function tooManyElements(t: TType): number | undefined {
  let n = 1;
  for (const d of t.dims) {
    const v = dimValue(d);
    if (v === undefined) return undefined;
    n *= v;
  }
  return n > MAX_ELEMENTS ? n : undefined;
}
