/**
 * Seeded mutators for fuzzing what users hand mdc: source text (token-aware edits),
 * JSON documents (plans: a field deleted, retyped, or given an extreme value) and raw
 * bytes (checkpoints: flips, truncation, insertion). Each mutant is rebuilt from its seed.
 */
import { keywordNames, mdcLexer } from '../../grammar/lexer.js';

const PUNCTUATION = [
  '(',
  ')',
  '[',
  ']',
  '{',
  '}',
  ',',
  ':',
  ';',
  '=',
  '@',
  '->',
  '+',
  '-',
  '*',
  '/',
  '**',
  '"',
  '/*',
  '*/',
  '//',
  '///',
  '.',
  '$',
  '#',
  '\n',
  '\t',
  '\u00d7',
];
const WORDS = [
  // The language's keywords, in the lexer's order.
  ...keywordNames,
  '@pipeline',
  '@shard',
  '@recompute(full)',
  'f32',
  'i32',
  'bool',
  'split',
  'attention',
  'softmax',
  'x',
  'h',
  'd',
  'B',
  'S',
  'tp',
  'dp',
  'Layer',
  'GPT2',
  'vocab',
  'heads',
  'layers',
  '3*d',
  '@tp',
  'repeat(0)',
  'partial(tp)',
  '2KiB',
];
// Kept small on purpose: a repeat count of 100000 is a legal (refused) program but takes seconds to refuse.
const NUMBERS = ['0', '1', '2', '3', '7', '-1', '64', '0.5', '1e30', '1e999', '9007199254740993'];

/** One to four random edits of a source text, guided by its tokens. */
export function mutateSource(source: string, rnd: () => number): string {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  let src = source;
  const edits = 1 + Math.floor(rnd() * 4);
  for (let m = 0; m < edits; m++) {
    const tokens = mdcLexer.tokenize(src).tokens;
    if (tokens.length === 0) break;
    const t = pick(tokens);
    const u = pick(tokens);
    const s = t.startOffset;
    const e = t.endOffset! + 1;
    const pos = Math.floor(rnd() * (src.length + 1));
    switch (Math.floor(rnd() * 10)) {
      case 0:
        src = src.slice(0, s) + src.slice(e);
        break; // delete a token
      case 1:
        src = src.slice(0, e) + ' ' + t.image + src.slice(e);
        break; // duplicate a token
      case 2: {
        // swap two tokens
        const [a, b] = t.startOffset < u.startOffset ? [t, u] : [u, t];
        if (a.endOffset! < b.startOffset) {
          src = src.slice(0, a.startOffset) + b.image + src.slice(a.endOffset! + 1, b.startOffset) + a.image + src.slice(b.endOffset! + 1);
        }
        break;
      }
      case 3:
        src = src.slice(0, pos) + pick(PUNCTUATION) + src.slice(pos);
        break;
      case 4:
        src = src.slice(0, pos) + ' ' + pick(WORDS) + ' ' + src.slice(pos);
        break;
      case 5:
        src = src.slice(0, pos);
        break; // truncate
      case 6:
        src = src.slice(0, pos) + src.slice(pos + 1 + Math.floor(rnd() * 3));
        break; // delete characters
      case 7:
        src = src.slice(0, s) + pick(WORDS) + src.slice(e);
        break; // replace a token
      case 8: {
        // replace a name with another name from the file: keeps the syntax, breaks the meaning
        const names = tokens.filter((x) => x.tokenType.name === 'Identifier');
        if (names.length === 0) break;
        const from = pick(names);
        src = src.slice(0, from.startOffset) + pick(names).image + src.slice(from.endOffset! + 1);
        break;
      }
      default: {
        // replace a number
        const nums = tokens.filter((x) => x.tokenType.name === 'NumberLiteral');
        if (nums.length === 0) break;
        const from = pick(nums);
        src = src.slice(0, from.startOffset) + pick(NUMBERS) + src.slice(from.endOffset! + 1);
      }
    }
  }
  return src;
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** Values a careless or hostile edit puts where a plan expected something else. */
const ODD_VALUES: readonly Json[] = [null, true, -1, 0, 1, 2.5, 3, 1e9, 2 ** 31, 2 ** 53 + 2, -1e300, '', 'x', '0', '__proto__', [], {}, [0], { a: 1 }];

/** Every path into `doc` (keys and indices), parents before children. */
function pathsOf(doc: Json, at: (string | number)[] = [], out: (string | number)[][] = []): (string | number)[][] {
  out.push(at);
  if (Array.isArray(doc)) doc.forEach((x, i) => pathsOf(x, [...at, i], out));
  else if (doc && typeof doc === 'object') for (const k of Object.keys(doc)) pathsOf(doc[k]!, [...at, k], out);
  return out;
}

/**
 * One to three structural edits of a JSON document: a field deleted, set to an odd value
 * or to a copy of another field's value, a number nudged or scaled, an array truncated,
 * emptied, shuffled or given a duplicate element. Returns a new document.
 */
export function mutateJson<T>(doc: T, rnd: () => number): T {
  const pick = <U>(xs: readonly U[]): U => xs[Math.floor(rnd() * xs.length)]!;
  const out = structuredClone(doc) as Json;
  const edits = 1 + Math.floor(rnd() * 3);
  for (let m = 0; m < edits; m++) {
    const paths = pathsOf(out).filter((p) => p.length > 0);
    if (!paths.length) break;
    const path = pick(paths);
    const parent = path.slice(0, -1).reduce<Json>((o, k) => (o as Record<string | number, Json>)[k]!, out) as Record<string | number, Json>;
    const key = path[path.length - 1]!;
    const value = parent[key]!;
    const op = Math.floor(rnd() * 6);
    if (op === 0) {
      if (Array.isArray(parent)) parent.splice(key as number, 1);
      else delete parent[key];
    } else if (op === 1) parent[key] = structuredClone(pick(ODD_VALUES));
    else if (op === 2) parent[key] = structuredClone((pick(paths).reduce<Json>((o, k) => (o as Record<string | number, Json>)[k]!, out) ?? null) as Json);
    else if (typeof value === 'number') parent[key] = pick([value + 1, value - 1, value * 2, Math.floor(value / 2), -value, value + 0.5]);
    else if (Array.isArray(value) && value.length) {
      const i = Math.floor(rnd() * value.length);
      if (op === 3) value.length = i;
      else if (op === 4) value.splice(i, 0, structuredClone(value[i]!));
      else value.reverse();
    } else if (typeof value === 'string') parent[key] = pick([value + 'x', value.slice(0, -1), value.toUpperCase(), '']);
    else parent[key] = structuredClone(pick(ODD_VALUES));
  }
  return out as T;
}

/** One to three byte-level edits: bytes flipped or overwritten, a truncation, an insertion. */
export function mutateBytes(data: Uint8Array, rnd: () => number): Uint8Array {
  let b = Uint8Array.from(data);
  const edits = 1 + Math.floor(rnd() * 3);
  for (let m = 0; m < edits; m++) {
    const pos = Math.floor(rnd() * b.length);
    switch (Math.floor(rnd() * 4)) {
      case 0:
        b[pos] = b[pos]! ^ (1 << Math.floor(rnd() * 8));
        break;
      case 1:
        b.fill(Math.floor(rnd() * 256), pos, pos + 1 + Math.floor(rnd() * 16));
        break;
      case 2:
        b = b.slice(0, pos);
        break;
      default: {
        const extra = Uint8Array.from({ length: 1 + Math.floor(rnd() * 8) }, () => Math.floor(rnd() * 256));
        const grown = new Uint8Array(b.length + extra.length);
        grown.set(b.subarray(0, pos));
        grown.set(extra, pos);
        grown.set(b.subarray(pos), pos + extra.length);
        b = grown;
      }
    }
    if (!b.length) break;
  }
  return b;
}

const SMALL_NUMBERS = ['1', '2', '3', '4', '6', '8', '16', '0.5'];
const SAME_SHAPE = [
  ['relu', 'gelu', 'tanh', 'sigmoid', 'silu'],
  ['+', '-', '*'],
  ['softmax', 'log_softmax'],
];

/**
 * Edits that keep a program well formed more often than not: a number literal replaced by
 * a small number, an activation or an element-wise operator swapped for another of the same
 * shape. Mutants that survive checking exercise the accepted path (codegen, the GPU run).
 */
export function mutateGently(source: string, rnd: () => number): string {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  let src = source;
  const edits = 1 + Math.floor(rnd() * 3);
  for (let m = 0; m < edits; m++) {
    const tokens = mdcLexer.tokenize(src).tokens;
    const swappable = tokens.filter((t) => t.tokenType.name === 'NumberLiteral' || SAME_SHAPE.some((g) => g.includes(t.image)));
    if (!swappable.length) break;
    const t = pick(swappable);
    const group = SAME_SHAPE.find((g) => g.includes(t.image));
    src = src.slice(0, t.startOffset) + (group ? pick(group) : pick(SMALL_NUMBERS)) + src.slice(t.endOffset! + 1);
  }
  return src;
}
