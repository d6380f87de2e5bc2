/** Go-to-definition, references, rename and the document's symbols (outline), all from the index. */
import { SymbolKind, type DocumentSymbol } from 'vscode-languageserver';
import type { TextDocument } from 'vscode-languageserver-textdocument';
import type { Analysis } from './analysis.js';
import { toRange } from './convert.js';
import type { Decl, DeclKind } from './index.js';

const KIND: Record<DeclKind, SymbolKind> = {
  mesh: SymbolKind.Namespace,
  axis: SymbolKind.EnumMember,
  config: SymbolKind.Struct,
  const: SymbolKind.Constant,
  preset: SymbolKind.Object,
  block: SymbolKind.Function,
  model: SymbolKind.Class,
  input: SymbolKind.Variable,
  param: SymbolKind.Field,
  let: SymbolKind.Variable,
  dim: SymbolKind.TypeParameter,
  section: SymbolKind.Module,
};

export const declAt = (a: Analysis, offset: number): Decl | undefined => a.index.at(offset)?.decl;

/** A new name is an identifier and no keyword: rename refuses anything else. */
export const validName = (s: string) =>
  /^[A-Za-z_][A-Za-z0-9_]*$/.test(s) && !/^(mesh|config|preset|for|block|model|param|let|return|repeat|train|infer|partial|where|true|false)$/.test(s);

export function symbols(a: Analysis, doc: TextDocument): DocumentSymbol[] {
  const top: DocumentSymbol[] = [];
  const sym = (d: Decl): DocumentSymbol => ({
    name: d.name,
    kind: KIND[d.kind],
    detail: d.kind,
    range: toRange(doc, a.bom, d.full),
    selectionRange: toRange(doc, a.bom, d.span),
    children: [],
  });
  let parent: DocumentSymbol | undefined;
  let parentDecl: Decl | undefined;
  const decls = [...a.index.decls].sort((x, y) => x.full.start - y.full.start || y.full.end - x.full.end);
  for (const d of decls) {
    const inside = parentDecl && d.full.start >= parentDecl.full.start && d.full.end <= parentDecl.full.end && d !== parentDecl;
    if (inside && d.kind !== 'dim') parent!.children!.push(sym(d));
    else if (!inside) {
      parent = sym(d);
      parentDecl = d;
      top.push(parent);
    }
  }
  return top;
}
