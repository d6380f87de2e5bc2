/**
 * The one catalog of mdc's diagnostics. Codes are stable: never renumber, only add.
 * MDC00xx lexing and parsing, MDC01xx names and binding, MDC02xx shapes,
 * MDC03xx dtypes, MDC04xx layouts, MDC05xx train/infer sections, MDC06xx export, MDC09xx limits.
 */
export const messages = {
  // --- lexing and parsing
  MDC0001: (ch: string) => `unexpected character ${ch}`,
  MDC0002: (detail: string) => `syntax error: ${detail}`,
  MDC0003: () => `unterminated block comment: '/*' has no matching '*/'`,
  MDC0004: () => `unterminated string literal`,
  MDC0005: (depth: number) => `nesting deeper than ${depth} levels`,
  MDC0006: (n: number) => `too many errors; stopped after ${n}`,
  MDC0007: (text: string) => `invalid number '${text}'`,
  MDC0008: () => `file is not text: it contains NUL bytes`,
  MDC0009: (max: number) => `expression too long: more than ${max} operators in a row; split it into several lets or config constants`,
  // --- names and binding
  MDC0101: (kind: string, name: string, hint: string) => `unknown ${kind} '${name}'${hint}`,
  MDC0102: (kind: string, name: string, line: number) => `duplicate ${kind} '${name}' (first defined on line ${line})`,
  MDC0103: (name: string, hint: string) => `unknown function '${name}': not an op or a block${hint}`,
  MDC0104: (name: string, expected: string, got: number) => `${name} expects ${expected} positional argument(s), got ${got}`,
  MDC0105: (name: string, kw: string, allowed: string) => `${name} has no keyword argument '${kw}'${allowed}`,
  MDC0106: (kw: string) => `argument '${kw}' given twice`,
  MDC0107: (name: string, arg: string) => `${name} is missing required argument '${arg}'`,
  MDC0108: (path: string) => `config constants form a cycle: ${path}`,
  MDC0109: (path: string) => `blocks call each other in a cycle: ${path}`,
  MDC0111: (name: string) => `unknown dtype '${name}': expected one of f32, f16, bf16, i32, bool`,
  MDC0112: () => `no model defined: a file needs at least one 'model' to compile`,
  MDC0113: (kind: string, name: string) => `${kind} '${name}' ends without a return statement`,
  MDC0114: (want: number, got: number) => `cannot unpack ${got} value(s) into ${want} name(s)`,
  MDC0115: (got: string) => `repeat count must be a positive integer constant, got ${got}`,
  MDC0116: (block: string, inT: string, outT: string) => `repeat needs a block whose output type equals its first input type: ${block} maps ${inT} to ${outT}`,
  MDC0117: (name: string) => `unknown annotation '@${name}': expected one of @shard, @pipeline, @recompute, @offload, @expert`,
  MDC0120: (what: string, got: string) => `expected ${what}, got ${got}`,
  MDC0121: (what: string) => `expected a constant for ${what}`,
  MDC0122: () => `positional argument after keyword argument`,
  MDC0123: (name: string) => `'${name}' is not defined yet: use 'let ${name} = ...' to introduce it`,
  MDC0124: (name: string) => `unknown initialiser '${name}': expected normal, uniform, zeros, ones or constant`,
  MDC0125: (name: string) => `symbolic dim '${name}' has no value: give one with 'where ${name} = N' or --dim ${name}=N`,
  MDC0126: (name: string) => `'${name}' is a block; blocks are called, not used as values`,
  MDC0127: (name: string, hint: string) => `unknown model '${name}'${hint}`,
  // 0128 (param outside a block or model body) is retired: the parser reports that as a syntax error. Never reuse it.
  MDC0129: (name: string) => `cannot assign to '${name}': it is a config constant`,
  MDC0130: (name: string, value: string) => `unknown value '${value}' for ${name}`,
  // annotations (compiler/annotations.ts): arguments, values, placement, then what is not supported yet
  MDC0131: (ann: string, what: string, expected: string) => `@${ann} takes no ${what}: expected ${expected}`,
  MDC0132: (ann: string, expected: string, got: string) => `@${ann} expects ${expected}, got ${got}`,
  MDC0133: (ann: string, here: string, where: string) => `@${ann} has no meaning on ${here}: it goes on ${where}`,
  MDC0134: (here: string, there: string, line: number) => `${here} contradicts ${there} on line ${line}: a model has one recompute policy`,
  MDC0135: (detail: string) => `@pipeline: ${detail}`,
  MDC0136: (precision: string) =>
    `host offload (@offload(host)) keeps f32 parameters and optimizer state, and is not supported with precision = ${precision} yet: train in f32, or keep this parameter on the device`,
  MDC0137: (axis: string) =>
    `@expert is not supported yet: expert parallelism is written in the type, by splitting the experts dim of the expert weights, e.g. f32[experts@${axis}, d, ffn]`,
  MDC0138: () => `@shard is not supported yet: layouts are written in the type, e.g. f32[d, ffn@tp]`,
  MDC0139: () =>
    `host offload (@offload(host)) updates whole parameters on the host, and is not supported with zero = 3 yet (it splits parameters): use zero = 1 or 2, or keep this parameter on the device`,
  MDC0140: (op: string, arg: string, want: string, got: string) => `${op}'s '${arg}' must be ${want}, got ${got}`,
  // --- shapes
  MDC0201: (op: string, want: string, got: string) => `${op} expects ${want}, got ${got}`,
  MDC0202: (a: string, b: string, da: string, db: string) => `shapes cannot broadcast: ${a} and ${b} (${da} ≠ ${db})`,
  MDC0203: (a: string, b: string, ka: string, kb: string) => `matmul contraction dims differ: ${a} @ ${b} (${ka} ≠ ${kb})`,
  MDC0204: (op: string, axis: number, rank: number) => `${op}: axis ${axis} is out of range for a tensor of rank ${rank}`,
  MDC0205: (from: string, to: string) => `reshape changes the element count: ${from} to ${to}`,
  MDC0206: (op: string, dim: string, n: string) => `${op}: dim ${dim} does not split into ${n} equal parts`,
  MDC0207: (what: string, dim: string, by: string) => `${what}: ${dim} is not divisible by ${by}`,
  MDC0208: (block: string, want: string, got: string) => `${block} returns ${got}, but its signature says ${want}`,
  MDC0209: (block: string, arg: string, want: string, got: string) => `${block}: argument '${arg}' expects ${want}, got ${got}`,
  MDC0210: (what: string, got: string) => `${what} must be a positive integer, got ${got}`,
  MDC0211: (op: string, detail: string) => `${op}: ${detail}`,
  MDC0212: (detail: string) => `slice out of range: ${detail}`,
  MDC0213: (perm: string, rank: number) => `transpose: ${perm} is not a permutation of 0..${rank - 1}`,
  MDC0214: (op: string, a: string, b: string, detail: string) => `${op}: shapes do not match: ${a} and ${b} (${detail})`,
  MDC0215: (a: string, b: string) => `${a} is not exactly divisible by ${b}`,
  MDC0216: (what: string, got: string) => `${what} is ${got}: a dim must be an integer below 2^53 = 9007199254740992, where numbers are exact`,
  MDC0217: (type: string, count: string) =>
    `${type} has ${count} elements, more than the 2^50 = 1125899906842624 that mdc supports (so that byte sizes stay exact)`,
  // --- dtypes
  MDC0301: (op: string, a: string, b: string) => `${op}: dtypes differ: ${a} and ${b}`,
  MDC0302: (op: string, what: string, got: string) => `${op}: ${what} must have an integer dtype (i32), got ${got}`,
  MDC0303: (op: string, what: string, got: string) => `${op}: ${what} must have a float dtype, got ${got}`,
  // --- layouts
  MDC0401: (axis: string, type: string) => `mesh axis '${axis}' splits more than one dim of ${type}`,
  MDC0402: (dim: string, type: string, axes: string, size: number) => `dim ${dim} of ${type} is not divisible by ${axes} (${size} devices)`,
  MDC0403: (axis: string, meshes: string) => `unknown mesh axis '${axis}'${meshes}`,
  MDC0404: (axis: string, dim: string) => `mesh axis '${axis}' is listed twice for dim ${dim}`,
  MDC0405: (value: string, here: string, there: string, line: number) => `contradictory layouts for ${value}: ${here} here, but ${there} on line ${line}`,
  MDC0406: (what: string, type: string) => `${what} holds whole values and cannot be partial: ${type}`,
  MDC0407: (axis: string, type: string) => `mesh axis '${axis}' both splits a dim and is partial in ${type}`,
  MDC0408: (type: string, a: string, ma: string, b: string, mb: string) => `${type} mixes axes of two meshes: '${a}' of mesh ${ma} and '${b}' of mesh ${mb}`,
  MDC0409: (axis: string, type: string) => `mesh axis '${axis}' is listed twice in partial(...) of ${type}`,
  MDC0410: (op: string, what: string, axes: string, devices: number, type: string) =>
    `${op}: ${what} does not divide into ${devices} parts over ${axes}, and each device must hold whole heads: ${type} would be gathered and ${op} run unsplit; ` +
    `use a head count ${devices} divides, or split the projections over an axis whose size divides it`,
  MDC0411: (axis: string, size: number) =>
    `mesh axis '${axis}' (${size} devices) splits nothing: no layout names it, so every device along it would repeat the same work; ` +
    `split a dim over it (e.g. the batch, B@${axis}) or remove the axis`,
  // --- train / infer
  MDC0501: (section: string, key: string, allowed: string) => `${section} has no setting '${key}': expected one of ${allowed}`,
  MDC0502: (name: string) => `unknown optimizer '${name}': expected adamw or sgd`,
  MDC0503: (key: string, want: string) => `train setting ${key} must be ${want}`,
  MDC0504: () =>
    `train loss must be cross_entropy(<model output>, labels), mse(<model output>, labels), contrastive(<model output>, <model output>) or the name of a scalar model output`,
  MDC0505: (opt: string, arg: string, allowed: string) => `${opt} has no argument ${arg}: expected one of ${allowed}`,
  MDC0506: (name: string, outputs: string) => `the loss names '${name}', which is not an output of the model (outputs: ${outputs})`,
  MDC0507: (name: string, type: string) => `the loss '${name}' must be a float scalar, but it is ${type}`,
  MDC0508: (policy: string) => `memory_budget only applies with recompute = auto (the budget auto plans under), but the recompute policy is ${policy}`,
  MDC0509: (detail: string) => `schedule: ${detail}`,
  MDC0510: (key: string, want: string) => `infer setting ${key} must be ${want}`,
  MDC0511: (detail: string) => `copies: ${detail}`,
  MDC0512: (param: string, dtype: string) =>
    `parameter '${param}' is declared ${dtype}, and training updates only f32 parameters: declare it f32 and set precision = ${dtype} in the train section ` +
    `for ${dtype} compute with f32 master weights`,
  MDC0530: (key: string, pattern: string, model: string, hint: string) => `${key} pattern '${pattern}' matches no parameter of ${model}${hint}`,
  MDC0531: (model: string, detail: string) => `nothing left to train in ${model}: ${detail}`,
  MDC0533: (param: string, detail: string) => `@lora on '${param}': ${detail}`,
  MDC0540: (name: string, known: string) => `unknown metric '${name}': expected one of ${known}`,
  MDC0541: (name: string, why: string) => `metric ${name} cannot be computed: ${why}`,
  MDC0542: (a: string, ta: string, b: string, tb: string) =>
    `contrastive(${a}, ${b}) compares rows of two f32 outputs of one shape [B, D]; ${a} is ${ta}, ${b} is ${tb}`,
  MDC0520: (model: string, detail: string) => `${model} cannot be decoded one token at a time with a KV cache: ${detail}`,
  // --- export to other formats (mdc export)
  MDC0601: (op: string, target: string, why: string) => `${op} cannot be exported to ${target}: ${why}`,
  // --- limits
  MDC0901: (what: string) => `internal limit reached: ${what}`,
} as const;

export type Code = keyof typeof messages;
export type Severity = 'error' | 'warning' | 'info';

import type { Span } from './span.js';

export interface Diagnostic {
  readonly code: Code;
  readonly severity: Severity;
  readonly message: string;
  readonly span: Span;
  readonly file: string;
}

/**
 * Longest text a message repeats whole. Past it (a megabyte string or name from the source)
 * a message shows the first 200 characters and the length, so one diagnostic never prints
 * the file back; the lists the compiler itself writes (choices, names in scope) stay shorter.
 */
export const MAX_QUOTED = 1000;
const cut = (a: unknown) => (typeof a === 'string' && a.length > MAX_QUOTED ? `${a.slice(0, 200)}… (${a.length} characters)` : a);

export function diag<C extends Code>(file: string, span: Span, code: C, ...args: Parameters<(typeof messages)[C]>): Diagnostic {
  const make = messages[code] as (...a: unknown[]) => string;
  return { code, severity: 'error', message: make(...args.map(cut)), span, file };
}

/** didYouMean as an aside inside a sentence: " (did you mean 'x'?)", or nothing. */
export function didYouMeanAside(name: string, candidates: Iterable<string>): string {
  const s = didYouMean(name, candidates);
  return s ? ` (${s.replace(/^;\s*/, '')})` : '';
}

/** Nearest candidate by edit distance, as a "; did you mean 'x'?" suffix. */
export function didYouMean(name: string, candidates: Iterable<string>): string {
  let best = '';
  let bestD = Infinity;
  for (const c of candidates) {
    // A difference only in case is the likeliest slip of all (MLP for Mlp).
    const d = c.toLowerCase() === name.toLowerCase() ? 0.5 : editDistance(name, c);
    if (d < bestD) {
      bestD = d;
      best = c;
    }
  }
  // Never suggest a replacement of the whole name (B for H).
  return best && bestD <= Math.max(1, Math.floor(name.length / 3)) && bestD < name.length ? `; did you mean '${best}'?` : '';
}

function editDistance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 3 || a.length > 64 || b.length > 64) return Infinity;
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return row[b.length]!;
}
