/**
 * Generates the VS Code extension's TextMate grammar, editors/vscode/syntaxes/mdc.tmLanguage.json,
 * from the lexer's token definitions (grammar/lexer.ts) and the dtype names (compiler/types.ts),
 * so the editor colours exactly the tokens the compiler reads.
 *
 *   node --import tsx scripts/gen-textmate.ts           rewrite the grammar
 *   node --import tsx scripts/gen-textmate.ts --check   exit 1 if the committed grammar differs
 *
 * Each token's regular expression is the lexer's own, in the lexer's order (TextMate, like
 * Chevrotain, prefers the earlier pattern when two match at the same place). Only what the
 * lexer cannot say is written here: the scope each token kind gets, the begin/end of tokens
 * that span lines, and a few context rules (a declared name, a call, a tensor type, whose `@`
 * is a layout rather than a matmul).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { TokenType } from 'chevrotain';
import { Lexer } from '../grammar/chevrotain.js';
import { allTokens, Identifier, At } from '../grammar/lexer.js';
import { DTYPES } from '../compiler/types.js';

export const GRAMMAR_PATH = fileURLToPath(new URL('../editors/vscode/syntaxes/mdc.tmLanguage.json', import.meta.url));

/** The scope of each token kind the lexer defines; every kind it does not skip must be here, and nothing else. */
export const TOKEN_SCOPES: Readonly<Record<string, string>> = {
  DocComment: 'comment.line.documentation.mdc',
  LineComment: 'comment.line.double-slash.mdc',
  BlockComment: 'comment.block.mdc',
  Mesh: 'storage.type.mesh.mdc',
  Config: 'storage.type.config.mdc',
  Preset: 'storage.type.preset.mdc',
  For: 'keyword.other.for.mdc',
  Block: 'storage.type.block.mdc',
  Model: 'storage.type.model.mdc',
  Param: 'storage.type.param.mdc',
  Let: 'storage.type.let.mdc',
  Return: 'keyword.control.return.mdc',
  Repeat: 'keyword.control.repeat.mdc',
  Train: 'storage.type.train.mdc',
  Infer: 'storage.type.infer.mdc',
  Partial: 'storage.modifier.partial.mdc',
  Where: 'keyword.other.where.mdc',
  True: 'constant.language.boolean.true.mdc',
  False: 'constant.language.boolean.false.mdc',
  Identifier: 'variable.other.mdc',
  SizeLiteral: 'constant.numeric.size.mdc',
  NumberLiteral: 'constant.numeric.mdc',
  StringLiteral: 'string.quoted.double.mdc',
  AnnotationName: 'storage.type.annotation.mdc',
  Arrow: 'keyword.operator.arrow.mdc',
  Power: 'keyword.operator.arithmetic.power.mdc',
  LBrace: 'punctuation.section.braces.begin.mdc',
  RBrace: 'punctuation.section.braces.end.mdc',
  LParen: 'punctuation.section.parens.begin.mdc',
  RParen: 'punctuation.section.parens.end.mdc',
  LBracket: 'punctuation.section.brackets.begin.mdc',
  RBracket: 'punctuation.section.brackets.end.mdc',
  Comma: 'punctuation.separator.comma.mdc',
  Semicolon: 'punctuation.terminator.statement.mdc',
  Colon: 'punctuation.separator.colon.mdc',
  Equals: 'keyword.operator.assignment.mdc',
  At: 'keyword.operator.matmul.mdc',
  Plus: 'keyword.operator.arithmetic.plus.mdc',
  Minus: 'keyword.operator.arithmetic.minus.mdc',
  Star: 'keyword.operator.arithmetic.times.mdc',
  Slash: 'keyword.operator.arithmetic.divide.mdc',
};

/** Tokens that may span lines: TextMate matches one line at a time, so these need a begin and an end. */
const MULTI_LINE: Readonly<Record<string, { begin: string; end: string }>> = {
  BlockComment: { begin: '/\\*', end: '\\*/' },
};

/** Scopes of what only context tells apart. */
export const CONTEXT_SCOPES = {
  dtype: 'support.type.primitive.dtype.mdc',
  layout: 'keyword.operator.layout.mdc',
  axis: 'variable.other.axis.mdc',
  call: 'entity.name.function.call.mdc',
  tensorType: 'meta.type.tensor.mdc',
  /** The name a declaration keyword introduces, by keyword token. */
  declared: {
    Mesh: 'entity.name.type.mesh.mdc',
    Config: 'entity.name.type.config.mdc',
    Preset: 'entity.name.type.preset.mdc',
    Block: 'entity.name.type.block.mdc',
    Model: 'entity.name.type.model.mdc',
    Train: 'entity.name.type.model.mdc',
    Infer: 'entity.name.type.model.mdc',
    Param: 'variable.other.definition.mdc',
    Let: 'variable.other.definition.mdc',
  } as Record<string, string>,
} as const;

type Rule = Record<string, unknown>;

const source = (t: TokenType) => {
  if (!(t.PATTERN instanceof RegExp)) throw new Error(`gen-textmate: token ${t.name} has no regular expression (a custom matcher cannot be translated)`);
  if (t.PATTERN.flags.replace('u', '') !== '') throw new Error(`gen-textmate: token ${t.name} uses flags /${t.PATTERN.flags}/, which TextMate cannot express`);
  return t.PATTERN.source;
};
/** A keyword is a token whose longer alternative is an identifier; TextMate needs the leading word boundary Chevrotain gets from its position. */
const isKeyword = (t: TokenType) => [t.LONGER_ALT].flat().includes(Identifier);
/** The tokens that reach the parser or the editor (whitespace is skipped). */
export const lexedTokens = () => allTokens.filter((t) => t.GROUP !== Lexer.SKIPPED);

function tokenRule(t: TokenType): Rule {
  const scope = TOKEN_SCOPES[t.name];
  if (!scope) throw new Error(`gen-textmate: lexer token ${t.name} has no scope in TOKEN_SCOPES`);
  const span = MULTI_LINE[t.name];
  if (t.LINE_BREAKS && !span) throw new Error(`gen-textmate: lexer token ${t.name} spans lines but has no begin/end in MULTI_LINE`);
  const mark = { '0': { name: `punctuation.definition.${scope.split('.')[0]}.mdc` } };
  if (span) return { name: scope, begin: span.begin, beginCaptures: mark, end: span.end, endCaptures: mark };
  return { name: scope, match: isKeyword(t) ? `\\b${source(t)}` : source(t) };
}

export function textmateGrammar(): Rule {
  const tokens = lexedTokens();
  const names = new Set(tokens.map((t) => t.name));
  const stale = Object.keys(TOKEN_SCOPES).filter((n) => !names.has(n));
  if (stale.length) throw new Error(`gen-textmate: TOKEN_SCOPES names tokens the lexer does not have: ${stale.join(', ')}`);
  const ident = source(Identifier);
  const comments = tokens.filter((t) => t.GROUP === 'docs' || t.GROUP === 'comments');
  const dtype = `\\b(?:${DTYPES.join('|')})\\b`;
  const declarations = tokens
    .filter((t) => CONTEXT_SCOPES.declared[t.name])
    .map((t) => ({
      match: `\\b(${source(t)})\\s+(${ident})`,
      captures: { '1': { name: TOKEN_SCOPES[t.name] }, '2': { name: CONTEXT_SCOPES.declared[t.name] } },
    }));
  const rest = tokens.filter((t) => !comments.includes(t));
  const repository: Record<string, Rule> = {
    comments: { patterns: comments.map((t) => ({ include: `#${t.name}` })) },
    declarations: { patterns: declarations },
    'tensor-type': {
      name: CONTEXT_SCOPES.tensorType,
      begin: `(${dtype})\\s*(${source(allTokens.find((t) => t.name === 'LBracket')!)})`,
      beginCaptures: { '1': { name: CONTEXT_SCOPES.dtype }, '2': { name: TOKEN_SCOPES.LBracket } },
      end: source(allTokens.find((t) => t.name === 'RBracket')!),
      endCaptures: { '0': { name: TOKEN_SCOPES.RBracket } },
      patterns: [{ include: '#comments' }, { include: '#layout' }, { include: '#tokens' }],
    },
    layout: {
      patterns: [
        {
          begin: `(${source(At)})\\s*(\\()`,
          beginCaptures: { '1': { name: CONTEXT_SCOPES.layout }, '2': { name: TOKEN_SCOPES.LParen } },
          end: '\\)',
          endCaptures: { '0': { name: TOKEN_SCOPES.RParen } },
          patterns: [{ include: '#comments' }, { match: ident, name: CONTEXT_SCOPES.axis }, { include: '#tokens' }],
        },
        { match: `(${source(At)})\\s*(${ident})?`, captures: { '1': { name: CONTEXT_SCOPES.layout }, '2': { name: CONTEXT_SCOPES.axis } } },
      ],
    },
    dtype: { name: CONTEXT_SCOPES.dtype, match: dtype },
    call: { match: `(${ident})\\s*(?=\\()`, captures: { '1': { name: CONTEXT_SCOPES.call } } },
    tokens: {
      patterns: rest.flatMap((t) =>
        t === Identifier ? [{ include: '#dtype' }, { include: '#call' }, { include: `#${t.name}` }] : [{ include: `#${t.name}` }],
      ),
    },
  };
  for (const t of tokens) repository[t.name] = tokenRule(t);
  return {
    name: 'mdc',
    scopeName: 'source.mdc',
    fileTypes: ['model'],
    comment: 'Generated by scripts/gen-textmate.ts from grammar/lexer.ts and compiler/types.ts: do not edit by hand.',
    patterns: [{ include: '#comments' }, { include: '#declarations' }, { include: '#tensor-type' }, { include: '#tokens' }],
    repository,
  };
}

/** The grammar file's exact text. */
export const grammarText = () => JSON.stringify(textmateGrammar(), null, 2) + '\n';

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const text = grammarText();
  if (process.argv.includes('--check')) {
    let old = '';
    try {
      old = readFileSync(GRAMMAR_PATH, 'utf8');
    } catch {
      // a missing grammar differs like any other
    }
    if (old !== text) {
      console.error(`${GRAMMAR_PATH} differs from what scripts/gen-textmate.ts generates: run node --import tsx scripts/gen-textmate.ts`);
      process.exit(1);
    }
    console.log(`${GRAMMAR_PATH}: up to date`);
  } else {
    writeFileSync(GRAMMAR_PATH, text);
    console.log(`wrote ${GRAMMAR_PATH}`);
  }
}
