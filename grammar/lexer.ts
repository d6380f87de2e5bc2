import type { TokenType } from 'chevrotain';
import { createToken, Lexer } from './chevrotain.js';

export const Identifier = createToken({ name: 'Identifier', pattern: /[A-Za-z_][A-Za-z0-9_]*/ });
const kw = (name: string, word: string) => createToken({ name, pattern: new RegExp(`${word}\\b`), longer_alt: Identifier });

export const Mesh = kw('Mesh', 'mesh');
export const Config = kw('Config', 'config');
export const Preset = kw('Preset', 'preset');
export const For = kw('For', 'for');
export const Block = kw('Block', 'block');
export const Model = kw('Model', 'model');
export const Param = kw('Param', 'param');
export const Let = kw('Let', 'let');
export const Return = kw('Return', 'return');
export const Repeat = kw('Repeat', 'repeat');
export const Train = kw('Train', 'train');
export const Infer = kw('Infer', 'infer');
export const Partial = kw('Partial', 'partial');
export const Where = kw('Where', 'where');
export const True = kw('True', 'true');
export const False = kw('False', 'false');

export const WhiteSpace = createToken({ name: 'WhiteSpace', pattern: /[ \t\r\n\f\v]+/, group: Lexer.SKIPPED });
/** `///` doc comments attach to the next declaration and show on hover. */
export const DocComment = createToken({ name: 'DocComment', pattern: /\/\/\/[^\n\r]*/, group: 'docs' });
export const LineComment = createToken({ name: 'LineComment', pattern: /\/\/[^\n\r]*/, group: 'comments' });
/** Matches an unterminated comment to the end of the file too, so the checker can report it precisely. */
export const BlockComment = createToken({ name: 'BlockComment', pattern: /\/\*(?:[^*]|\*(?!\/))*(?:\*\/)?/, group: 'comments', line_breaks: true });

export const SizeLiteral = createToken({ name: 'SizeLiteral', pattern: /\d+(?:\.\d+)?(?:KiB|MiB|GiB|TiB|KB|MB|GB|TB)\b/ });
export const NumberLiteral = createToken({ name: 'NumberLiteral', pattern: /(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?/ });
/** Also matches an unterminated string up to the line end, for a precise error. Lines end at \n, \r\n or \r. */
export const StringLiteral = createToken({ name: 'StringLiteral', pattern: /"(?:[^"\\\n\r]|\\.)*"?/ });
/** Annotation names are reserved so that `x @ w` (matmul) and `@pipeline(...)` never collide. */
export const AnnotationName = createToken({ name: 'AnnotationName', pattern: /@(?:shard|pipeline|recompute|offload|expert|lora)\b/ });

export const Arrow = createToken({ name: 'Arrow', pattern: /->/ });
export const Power = createToken({ name: 'Power', pattern: /\*\*/ });
export const LBrace = createToken({ name: 'LBrace', pattern: /\{/ });
export const RBrace = createToken({ name: 'RBrace', pattern: /\}/ });
export const LParen = createToken({ name: 'LParen', pattern: /\(/ });
export const RParen = createToken({ name: 'RParen', pattern: /\)/ });
export const LBracket = createToken({ name: 'LBracket', pattern: /\[/ });
export const RBracket = createToken({ name: 'RBracket', pattern: /\]/ });
export const Comma = createToken({ name: 'Comma', pattern: /,/ });
export const Semicolon = createToken({ name: 'Semicolon', pattern: /;/ });
export const Colon = createToken({ name: 'Colon', pattern: /:/ });
export const Equals = createToken({ name: 'Equals', pattern: /=/ });
export const At = createToken({ name: 'At', pattern: /@/ });
export const Plus = createToken({ name: 'Plus', pattern: /\+/ });
export const Minus = createToken({ name: 'Minus', pattern: /-/ });
export const Star = createToken({ name: 'Star', pattern: /\*/ });
export const Slash = createToken({ name: 'Slash', pattern: /\// });

export const allTokens: TokenType[] = [
  WhiteSpace,
  DocComment,
  LineComment,
  BlockComment,
  Mesh,
  Config,
  Preset,
  For,
  Block,
  Model,
  Param,
  Let,
  Return,
  Repeat,
  Train,
  Infer,
  Partial,
  Where,
  True,
  False,
  Identifier,
  SizeLiteral,
  NumberLiteral,
  StringLiteral,
  AnnotationName,
  Arrow,
  Power,
  LBrace,
  RBrace,
  LParen,
  RParen,
  LBracket,
  RBracket,
  Comma,
  Semicolon,
  Colon,
  Equals,
  At,
  Plus,
  Minus,
  Star,
  Slash,
];

export const keywordNames = new Set([
  'mesh',
  'config',
  'preset',
  'for',
  'block',
  'model',
  'param',
  'let',
  'return',
  'repeat',
  'train',
  'infer',
  'partial',
  'where',
  'true',
  'false',
]);

/** Built without Chevrotain's token validations (start-up time); test/grammar/parser-validation.test.ts runs them. */
export const mdcLexer = new Lexer(allTokens, { positionTracking: 'full', ensureOptimizations: false, skipValidations: true });
