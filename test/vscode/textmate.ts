/**
 * Tokenizes text with the extension's TextMate grammar the way VS Code does: vscode-textmate
 * over the Oniguruma regular-expression engine compiled to WebAssembly (onig.wasm).
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, dirname } from 'node:path';
import oniguruma from 'vscode-oniguruma';
import textmate from 'vscode-textmate';

const require = createRequire(import.meta.url);

/** One TextMate token: its 1-based line, 0-based column, text and scopes (outermost first). */
export type Token = { readonly line: number; readonly column: number; readonly text: string; readonly scopes: readonly string[] };

/** Loads the grammar at `path` (a tmLanguage.json) and returns a tokenizer of whole documents. */
export async function loadGrammar(path: string): Promise<(text: string) => Token[]> {
  const wasm = readFileSync(join(dirname(require.resolve('vscode-oniguruma')), 'onig.wasm'));
  await oniguruma.loadWASM(wasm.buffer.slice(wasm.byteOffset, wasm.byteOffset + wasm.byteLength));
  const registry = new textmate.Registry({
    onigLib: Promise.resolve({ createOnigScanner: (s) => new oniguruma.OnigScanner(s), createOnigString: (s) => new oniguruma.OnigString(s) }),
    loadGrammar: async () => textmate.parseRawGrammar(readFileSync(path, 'utf8'), path),
  });
  const grammar = await registry.loadGrammar('source.mdc');
  if (!grammar) throw new Error(`vscode-textmate could not load ${path}`);
  return (text) => {
    const out: Token[] = [];
    let stack = textmate.INITIAL;
    text.split(/\r\n|\r|\n/).forEach((line, i) => {
      const r = grammar.tokenizeLine(line, stack);
      for (const t of r.tokens) out.push({ line: i + 1, column: t.startIndex, text: line.slice(t.startIndex, t.endIndex), scopes: t.scopes });
      stack = r.ruleStack;
    });
    return out;
  };
}

/** The innermost scope of each token whose text is not blank, as `text → scope` lines (the form the tests assert). */
export const innermost = (tokens: readonly Token[]) => tokens.filter((t) => t.text.trim() !== '').map((t) => `${t.text.trim()} → ${t.scopes.at(-1)}`);
