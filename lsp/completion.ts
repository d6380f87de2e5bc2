/** Completion: keywords, dtypes, ops (with their keyword arguments inside a call), blocks, names in scope, config constants, mesh axes. */
import { OPS } from '../compiler/ops/registry.js';
import { DTYPES } from '../compiler/types.js';
import { keywordNames } from '../grammar/lexer.js';
import { CompletionItemKind, type CompletionItem } from 'vscode-languageserver';
import type { Analysis } from './analysis.js';
import { opSignature } from './hover.js';

const KEYWORDS = [...keywordNames];
const INITS = ['normal', 'uniform', 'zeros', 'ones', 'constant'];

/** The op whose argument list the offset is in (the innermost open call), by scanning back over the text. */
export function enclosingCall(text: string, offset: number): { name: string; argIndex: number } | undefined {
  let depth = 0;
  let commas = 0;
  for (let i = offset - 1; i >= 0; i--) {
    const c = text[i];
    if (c === ')' || c === ']') depth++;
    else if (c === '(' || c === '[') {
      if (depth === 0) {
        if (c === '[') return undefined;
        const m = /([A-Za-z_][A-Za-z0-9_]*)\s*$/.exec(text.slice(Math.max(0, i - 64), i));
        return m ? { name: m[1]!, argIndex: commas } : undefined;
      }
      depth--;
    } else if (c === ',' && depth === 0) commas++;
    else if (c === '{' || c === '}' || c === '\n' || c === ';') {
      if (c !== '\n') return undefined;
    }
  }
  return undefined;
}

export function complete(a: Analysis, offset: number): CompletionItem[] {
  const text = a.text.slice(a.bom);
  const items: CompletionItem[] = [];
  const seen = new Set<string>();
  const add = (label: string, kind: CompletionItemKind, detail?: string, doc?: string) => {
    if (seen.has(label)) return;
    seen.add(label);
    items.push({ label, kind, ...(detail ? { detail } : {}), ...(doc ? { documentation: doc } : {}) });
  };
  const before = text.slice(Math.max(0, offset - 200), offset);
  // After `@` in a type: mesh axes only.
  if (/@\(?(?:[A-Za-z_][A-Za-z0-9_]*,\s*)*[A-Za-z_0-9]*$/.test(before) && /\[[^\]]*$/.test(before)) {
    for (const d of a.index.decls) if (d.kind === 'axis') add(d.name, CompletionItemKind.EnumMember, 'mesh axis');
    return items;
  }
  const call = enclosingCall(text, offset);
  const op = call && OPS.get(call.name);
  if (op)
    for (const s of op.args)
      if (s.kind !== 'tensor' && s.kind !== 'tensors') add(`${s.name} = `, CompletionItemKind.Property, `${call.name} argument (${s.kind})`);
  const fn = a.index.functionAt(offset);
  for (const d of (fn && a.index.locals.get(fn)) || []) if (d.span.end <= offset || d.kind === 'dim') add(d.name, CompletionItemKind.Variable, d.kind);
  for (const d of a.index.decls) {
    if (d.kind === 'const') add(d.name, CompletionItemKind.Constant, 'config constant');
    else if (d.kind === 'block') add(d.name, CompletionItemKind.Function, 'block');
    else if (d.kind === 'axis') add(d.name, CompletionItemKind.EnumMember, 'mesh axis');
  }
  for (const [name, o] of OPS) add(name, CompletionItemKind.Function, opSignature(name), o.doc);
  for (const t of DTYPES) add(t, CompletionItemKind.TypeParameter, 'dtype');
  for (const k of KEYWORDS) add(k, CompletionItemKind.Keyword);
  for (const i of INITS) add(i, CompletionItemKind.Function, 'initialiser');
  return items;
}
