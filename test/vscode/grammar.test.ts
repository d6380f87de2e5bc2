/**
 * The extension's TextMate grammar colours `.model` files as VS Code would (vscode-textmate
 * over Oniguruma), agrees with the compiler's lexer on every token's extent and kind, and is
 * exactly what scripts/gen-textmate.ts generates from the lexer.
 */
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { mdcLexer } from '../../grammar/lexer.js';
import { CONTEXT_SCOPES, GRAMMAR_PATH, grammarText, lexedTokens, TOKEN_SCOPES } from '../../scripts/gen-textmate.js';
import { innermost, loadGrammar, type Token } from './textmate.js';

const gpt2 = readFileSync(new URL('../../samples/gpt2.model', import.meta.url), 'utf8');

/** Every token kind the lexer has, in a text the lexer reads without errors (not a valid model: only its tokens matter). */
const EVERY_TOKEN = `/* a block comment
   over two lines */
/// a doc comment
infer M { cache = 1.5MiB; scale = 2 ** -1 / 4 ; on = false }
block B(x: f32[N@(dp, tp), 8] partial(tp)) -> bf16[N, 8] { return x @ x }
model M(t: i32[B@dp]) -> f32[B] where B = 2 { h = repeat(2) L(h) @recompute(selective) }
`;

let tokenize: (text: string) => Token[];
beforeAll(async () => {
  tokenize = await loadGrammar(GRAMMAR_PATH);
});

const line = (text: string, n: number) => innermost(tokenize(text).filter((t) => t.line === n));
const lineOf = (text: string, start: string) => text.split('\n').findIndex((l) => l.startsWith(start)) + 1;

describe('the TextMate grammar colours samples/gpt2.model', () => {
  it('a doc comment, the mesh declaration and its axes', () => {
    expect(line(gpt2, 1)).toEqual(["/// Two-way data parallel by four-way tensor parallel (Megatron-LM's layout); the → comment.line.documentation.mdc"]);
    expect(line(gpt2, lineOf(gpt2, 'mesh'))).toEqual([
      'mesh → storage.type.mesh.mdc',
      'Cluster → entity.name.type.mesh.mdc',
      '= → keyword.operator.assignment.mdc',
      '[ → punctuation.section.brackets.begin.mdc',
      'dp → variable.other.mdc',
      ': → punctuation.separator.colon.mdc',
      '2 → constant.numeric.mdc',
      ', → punctuation.separator.comma.mdc',
      'tp → variable.other.mdc',
      ': → punctuation.separator.colon.mdc',
      '4 → constant.numeric.mdc',
      '] → punctuation.section.brackets.end.mdc',
    ]);
  });

  it('the model signature: keywords, dtypes, layouts over mesh axes, where', () => {
    expect(line(gpt2, lineOf(gpt2, 'model GPT2'))).toEqual([
      'model → storage.type.model.mdc',
      'GPT2 → entity.name.type.model.mdc',
      '( → punctuation.section.parens.begin.mdc',
      'tokens → variable.other.mdc',
      ': → punctuation.separator.colon.mdc',
      'i32 → support.type.primitive.dtype.mdc',
      '[ → punctuation.section.brackets.begin.mdc',
      'B → variable.other.mdc',
      '@ → keyword.operator.layout.mdc',
      'dp → variable.other.axis.mdc',
      ', → punctuation.separator.comma.mdc',
      'S → variable.other.mdc',
      '] → punctuation.section.brackets.end.mdc',
      ') → punctuation.section.parens.end.mdc',
      '-> → keyword.operator.arrow.mdc',
      'f32 → support.type.primitive.dtype.mdc',
      '[ → punctuation.section.brackets.begin.mdc',
      'B → variable.other.mdc',
      '@ → keyword.operator.layout.mdc',
      'dp → variable.other.axis.mdc',
      ', → punctuation.separator.comma.mdc',
      'S → variable.other.mdc',
      ', → punctuation.separator.comma.mdc',
      'vocab → variable.other.mdc',
      '] → punctuation.section.brackets.end.mdc',
      'where → keyword.other.where.mdc',
      'B → variable.other.mdc',
      '= → keyword.operator.assignment.mdc',
      '2 → constant.numeric.mdc',
      ', → punctuation.separator.comma.mdc',
      'S → variable.other.mdc',
      '= → keyword.operator.assignment.mdc',
      '64 → constant.numeric.mdc',
      '{ → punctuation.section.braces.begin.mdc',
    ]);
  });

  it('param and let, a matmul @ outside a type, calls, strings, numbers and booleans', () => {
    expect(line(gpt2, lineOf(gpt2, '  param wo:'))).toEqual([
      'param → storage.type.param.mdc',
      'wo → variable.other.definition.mdc',
      ': → punctuation.separator.colon.mdc',
      'f32 → support.type.primitive.dtype.mdc',
      '[ → punctuation.section.brackets.begin.mdc',
      'd → variable.other.mdc',
      '@ → keyword.operator.layout.mdc',
      'tp → variable.other.axis.mdc',
      ', → punctuation.separator.comma.mdc',
      'd → variable.other.mdc',
      '] → punctuation.section.brackets.end.mdc',
      '= → keyword.operator.assignment.mdc',
      'normal → entity.name.function.call.mdc',
      '( → punctuation.section.parens.begin.mdc',
      '0 → constant.numeric.mdc',
      ', → punctuation.separator.comma.mdc',
      '0.02 → constant.numeric.mdc',
      ') → punctuation.section.parens.end.mdc',
    ]);
    expect(line(gpt2, lineOf(gpt2, '  let q'))).toEqual([
      'let → storage.type.let.mdc',
      'q → variable.other.definition.mdc',
      '= → keyword.operator.assignment.mdc',
      'x → variable.other.mdc',
      '@ → keyword.operator.matmul.mdc',
      'wq → variable.other.mdc',
      '+ → keyword.operator.arithmetic.plus.mdc',
      'bq → variable.other.mdc',
    ]);
    const attention = line(gpt2, lineOf(gpt2, '  let a = attention'));
    expect(attention.slice(3, 4)).toEqual(['attention → entity.name.function.call.mdc']);
    expect(attention.slice(-4)).toEqual([
      'causal → variable.other.mdc',
      '= → keyword.operator.assignment.mdc',
      'true → constant.language.boolean.true.mdc',
      ') → punctuation.section.parens.end.mdc',
    ]);
    expect(line(gpt2, lineOf(gpt2, '  return gelu')).slice(0, 2)).toEqual(['return → keyword.control.return.mdc', 'gelu → entity.name.function.call.mdc']);
    expect(line(gpt2, lineOf(gpt2, '  return gelu'))).toContain('"tanh" → string.quoted.double.mdc');
    expect(line(gpt2, lineOf(gpt2, '  h = repeat'))).toEqual([
      'h → variable.other.mdc',
      '= → keyword.operator.assignment.mdc',
      'repeat → keyword.control.repeat.mdc',
      '( → punctuation.section.parens.begin.mdc',
      'layers → variable.other.mdc',
      ') → punctuation.section.parens.end.mdc',
      'Layer → entity.name.function.call.mdc',
      '( → punctuation.section.parens.begin.mdc',
      'h → variable.other.mdc',
      ') → punctuation.section.parens.end.mdc',
      // The sample pipelines its stack: an annotation, then its keyword arguments.
      '@pipeline → storage.type.annotation.mdc',
      '( → punctuation.section.parens.begin.mdc',
      'stages → variable.other.mdc',
      '= → keyword.operator.assignment.mdc',
      '2 → constant.numeric.mdc',
      ') → punctuation.section.parens.end.mdc',
    ]);
    expect(line(gpt2, lineOf(gpt2, '  eps'))).toEqual(['eps → variable.other.mdc', '= → keyword.operator.assignment.mdc', '1e-5 → constant.numeric.mdc']);
    expect(line(gpt2, lineOf(gpt2, 'train'))).toEqual([
      'train → storage.type.train.mdc',
      'GPT2 → entity.name.type.model.mdc',
      '{ → punctuation.section.braces.begin.mdc',
    ]);
    expect(line(gpt2, lineOf(gpt2, 'block Layer')).slice(0, 2)).toEqual(['block → storage.type.block.mdc', 'Layer → entity.name.type.block.mdc']);
    expect(line(gpt2, lineOf(gpt2, '// Inference'))).toEqual([
      '// Inference settings (KV-cache length, sampling) arrive with KV-cache decoding: until then → comment.line.double-slash.mdc',
    ]);
  });

  it('comments spanning lines, sizes, every operator, partial, annotations and a layout over two axes', () => {
    expect(line(EVERY_TOKEN, 1)).toEqual(['/* → punctuation.definition.comment.mdc', 'a block comment → comment.block.mdc']);
    expect(line(EVERY_TOKEN, 2)).toEqual(['over two lines → comment.block.mdc', '*/ → punctuation.definition.comment.mdc']);
    expect(line(EVERY_TOKEN, 4)).toEqual([
      'infer → storage.type.infer.mdc',
      'M → entity.name.type.model.mdc',
      '{ → punctuation.section.braces.begin.mdc',
      'cache → variable.other.mdc',
      '= → keyword.operator.assignment.mdc',
      '1.5MiB → constant.numeric.size.mdc',
      '; → punctuation.terminator.statement.mdc',
      'scale → variable.other.mdc',
      '= → keyword.operator.assignment.mdc',
      '2 → constant.numeric.mdc',
      '** → keyword.operator.arithmetic.power.mdc',
      '- → keyword.operator.arithmetic.minus.mdc',
      '1 → constant.numeric.mdc',
      '/ → keyword.operator.arithmetic.divide.mdc',
      '4 → constant.numeric.mdc',
      '; → punctuation.terminator.statement.mdc',
      'on → variable.other.mdc',
      '= → keyword.operator.assignment.mdc',
      'false → constant.language.boolean.false.mdc',
      '} → punctuation.section.braces.end.mdc',
    ]);
    expect(line(EVERY_TOKEN, 5).slice(5, 18)).toEqual([
      'f32 → support.type.primitive.dtype.mdc',
      '[ → punctuation.section.brackets.begin.mdc',
      'N → variable.other.mdc',
      '@ → keyword.operator.layout.mdc',
      '( → punctuation.section.parens.begin.mdc',
      'dp → variable.other.axis.mdc',
      ', → punctuation.separator.comma.mdc',
      'tp → variable.other.axis.mdc',
      ') → punctuation.section.parens.end.mdc',
      ', → punctuation.separator.comma.mdc',
      '8 → constant.numeric.mdc',
      '] → punctuation.section.brackets.end.mdc',
      'partial → storage.modifier.partial.mdc',
    ]);
    expect(line(EVERY_TOKEN, 6).slice(-5, -1)).toEqual([
      '@recompute → storage.type.annotation.mdc',
      '( → punctuation.section.parens.begin.mdc',
      'selective → variable.other.mdc',
      ') → punctuation.section.parens.end.mdc',
    ]);
  });
});

/** The scopes a token of each lexer kind may get: its own, or one that only context tells apart. */
function allowedScopes(kind: string): string[] {
  if (kind === 'Identifier')
    return [TOKEN_SCOPES.Identifier!, CONTEXT_SCOPES.dtype, CONTEXT_SCOPES.axis, CONTEXT_SCOPES.call, ...Object.values(CONTEXT_SCOPES.declared)];
  if (kind === 'At') return [TOKEN_SCOPES.At!, CONTEXT_SCOPES.layout];
  return [TOKEN_SCOPES[kind]!];
}

describe('the grammar agrees with the lexer', () => {
  it('on the extent and kind of every token of samples/gpt2.model and of a text holding every token kind', () => {
    const seen = new Set<string>();
    for (const text of [gpt2, EVERY_TOKEN]) {
      const lexed = mdcLexer.tokenize(text);
      expect(lexed.errors).toEqual([]);
      const tm = tokenize(text);
      const all = [...lexed.tokens, ...Object.values(lexed.groups).flat()];
      for (const t of all) {
        const kind = t.tokenType.name;
        seen.add(kind);
        const firstLine = t.image.split(/\r\n|\r|\n/)[0]!;
        // TextMate may split a token into pieces (a comment's `/*` is punctuation): they must cover exactly the lexer's token.
        const start = t.startColumn! - 1;
        const pieces = tm.filter((x) => x.line === t.startLine && x.column >= start && x.column < start + firstLine.length);
        const where = `${kind} ${JSON.stringify(firstLine)} at ${t.startLine}:${t.startColumn}`;
        expect(pieces[0]?.column, where).toBe(start);
        expect(pieces.map((p) => p.text).join(''), where).toBe(firstLine);
        for (const p of pieces) expect(allowedScopes(kind), where).toContain([...p.scopes].reverse().find((s) => !s.startsWith('punctuation.definition.')));
      }
    }
    expect([...seen].sort()).toEqual(
      lexedTokens()
        .map((t) => t.name)
        .sort(),
    );
  });

  it('every token kind the lexer reads has a scope, and the grammar has a rule for it', () => {
    const grammar = JSON.parse(readFileSync(GRAMMAR_PATH, 'utf8'));
    for (const t of lexedTokens()) expect(grammar.repository[t.name]?.name, t.name).toBe(TOKEN_SCOPES[t.name]);
    expect(Object.keys(TOKEN_SCOPES).sort()).toEqual(
      lexedTokens()
        .map((t) => t.name)
        .sort(),
    );
  });

  it('the committed grammar is what scripts/gen-textmate.ts generates from the lexer', () => {
    expect(readFileSync(GRAMMAR_PATH, 'utf8')).toBe(grammarText());
  });
});
