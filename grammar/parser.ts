import type { CstNode, IParserErrorMessageProvider, IToken, TokenType } from 'chevrotain';
import { CstParser, EOF } from './chevrotain.js';
import * as T from './lexer.js';

/**
 * The concrete-syntax parser. Error recovery is on, so one file can report several
 * syntax errors; `build-ast.ts` turns the CST into the typed AST.
 */
const DISPLAY: Record<string, string> = {
  Identifier: 'a name',
  NumberLiteral: 'a number',
  SizeLiteral: 'a size',
  StringLiteral: 'a string',
  AnnotationName: 'an annotation',
  Arrow: "'->'",
  Power: "'**'",
  LBrace: "'{'",
  RBrace: "'}'",
  LParen: "'('",
  RParen: "')'",
  LBracket: "'['",
  RBracket: "']'",
  Comma: "','",
  Semicolon: "';'",
  Colon: "':'",
  Equals: "'='",
  At: "'@'",
  Plus: "'+'",
  Minus: "'-'",
  Star: "'*'",
  Slash: "'/'",
};
export function tokenDisplay(t: TokenType): string {
  if (t === EOF) return 'end of file';
  return DISPLAY[t.name] ?? `'${t.name.toLowerCase()}'`;
}
export function foundDisplay(t: IToken): string {
  if (t.tokenType === EOF || Number.isNaN(t.startOffset)) return 'end of file';
  const img = t.image.length > 40 ? `${t.image.slice(0, 40)}…` : t.image;
  return `'${img}'`;
}
function firstTokens(paths: TokenType[][][]): string {
  const seen = new Set<string>();
  for (const alt of paths) for (const path of alt) if (path[0]) seen.add(tokenDisplay(path[0]));
  const list = [...seen];
  if (list.length > 6) return `${list.slice(0, 6).join(', ')}, …`;
  return list.length > 1 ? `${list.slice(0, -1).join(', ')} or ${list[list.length - 1]}` : list.join('');
}
const DECLARATION = 'a declaration (mesh, config, preset, block, model, train or infer)';
/** Rules whose alternatives are better named as one thing than listed token by token. */
const RULE_DISPLAY: Record<string, string> = {
  unary: 'an expression',
  power: 'an expression',
  primary: 'an expression',
  dimFactor: 'a dim size',
  returnTypes: 'a tensor type',
};
const errorMessageProvider: IParserErrorMessageProvider = {
  // EOF is only ever expected between declarations, where a declaration is the likelier intent.
  buildMismatchTokenMessage: ({ expected, actual }) =>
    expected === EOF ? `unexpected ${foundDisplay(actual)}: expected ${DECLARATION}` : `expected ${tokenDisplay(expected)} but found ${foundDisplay(actual)}`,
  buildNotAllInputParsedMessage: ({ firstRedundant }) => `unexpected ${foundDisplay(firstRedundant)}: expected ${DECLARATION}`,
  buildNoViableAltMessage: ({ expectedPathsPerAlt, actual, ruleName }) =>
    `expected ${RULE_DISPLAY[ruleName] ?? firstTokens(expectedPathsPerAlt)} but found ` +
    `${foundDisplay(actual[0]!)}${ruleName === 'item' ? ' (a declaration must start with mesh, config, preset, block, model, train or infer)' : ''}`,
  buildEarlyExitMessage: ({ expectedIterationPaths, actual, ruleName }) =>
    `expected ${ruleName === 'returnStmt' ? 'an expression' : firstTokens([expectedIterationPaths])} but found ${foundDisplay(actual[0]!)}`,
};

export class MdcParser extends CstParser {
  /**
   * `validate`: run Chevrotain's grammar validations (ambiguities, left recursion) as the
   * parser is built. They cost about 60 ms of every command's start-up and cannot fail
   * for a grammar that passed them once, so the compiler skips them and a test
   * (test/grammar/parser-validation.test.ts) builds the parser with them.
   */
  constructor(validate = false) {
    super(T.allTokens, { recoveryEnabled: true, maxLookahead: 3, nodeLocationTracking: 'full', errorMessageProvider, skipValidations: !validate });
    this.performSelfAnalysis();
  }

  program = this.RULE('program', () => {
    this.MANY(() => this.SUBRULE(this.item));
  });

  item = this.RULE('item', () => {
    this.OR([
      { ALT: () => this.SUBRULE(this.meshDecl) },
      { ALT: () => this.SUBRULE(this.configDecl) },
      { ALT: () => this.SUBRULE(this.presetDecl) },
      { ALT: () => this.SUBRULE(this.funcDecl) },
      { ALT: () => this.SUBRULE(this.sectionDecl) },
    ]);
  });

  meshDecl = this.RULE('meshDecl', () => {
    this.CONSUME(T.Mesh);
    this.CONSUME(T.Identifier);
    this.CONSUME(T.Equals);
    this.CONSUME(T.LBracket);
    this.MANY(() => {
      this.SUBRULE(this.meshAxis);
      this.OPTION(() => this.CONSUME(T.Comma));
    });
    this.CONSUME(T.RBracket);
  });

  meshAxis = this.RULE('meshAxis', () => {
    this.CONSUME(T.Identifier);
    this.CONSUME(T.Colon);
    this.SUBRULE(this.expr);
  });

  configDecl = this.RULE('configDecl', () => {
    this.CONSUME(T.Config);
    this.CONSUME(T.Identifier);
    this.SUBRULE(this.entryBlock);
  });

  presetDecl = this.RULE('presetDecl', () => {
    this.CONSUME(T.Preset);
    this.CONSUME(T.Identifier, { LABEL: 'name' });
    this.OPTION(() => {
      this.CONSUME(T.For);
      this.CONSUME2(T.Identifier, { LABEL: 'base' });
    });
    this.SUBRULE(this.entryBlock);
  });

  sectionDecl = this.RULE('sectionDecl', () => {
    this.OR([{ ALT: () => this.CONSUME(T.Train, { LABEL: 'kind' }) }, { ALT: () => this.CONSUME(T.Infer, { LABEL: 'kind' }) }]);
    this.CONSUME(T.Identifier);
    this.SUBRULE(this.entryBlock);
  });

  entryBlock = this.RULE('entryBlock', () => {
    this.CONSUME(T.LBrace);
    this.MANY(() => {
      this.SUBRULE(this.entry);
      this.OPTION(() => this.OR([{ ALT: () => this.CONSUME(T.Comma) }, { ALT: () => this.CONSUME(T.Semicolon) }]));
    });
    this.CONSUME(T.RBrace);
  });

  entry = this.RULE('entry', () => {
    this.CONSUME(T.Identifier);
    this.CONSUME(T.Equals);
    this.SUBRULE(this.expr);
  });

  funcDecl = this.RULE('funcDecl', () => {
    this.OR([{ ALT: () => this.CONSUME(T.Block, { LABEL: 'kind' }) }, { ALT: () => this.CONSUME(T.Model, { LABEL: 'kind' }) }]);
    this.CONSUME(T.Identifier);
    this.CONSUME(T.LParen);
    this.MANY_SEP({ SEP: T.Comma, DEF: () => this.SUBRULE(this.paramDecl) });
    this.CONSUME(T.RParen);
    this.CONSUME(T.Arrow);
    this.SUBRULE(this.returnTypes);
    this.OPTION(() => {
      this.CONSUME(T.Where);
      this.AT_LEAST_ONE_SEP({ SEP: T.Comma, DEF: () => this.SUBRULE(this.entry) });
    });
    this.CONSUME(T.LBrace);
    this.MANY2(() => this.SUBRULE(this.stmt));
    this.CONSUME(T.RBrace);
  });

  paramDecl = this.RULE('paramDecl', () => {
    this.CONSUME(T.Identifier);
    this.CONSUME(T.Colon);
    this.SUBRULE(this.tensorType);
  });

  returnTypes = this.RULE('returnTypes', () => {
    this.OR([
      { ALT: () => this.SUBRULE(this.tensorType) },
      {
        ALT: () => {
          this.CONSUME(T.LParen);
          this.AT_LEAST_ONE_SEP({ SEP: T.Comma, DEF: () => this.SUBRULE2(this.tensorType) });
          this.CONSUME(T.RParen);
        },
      },
    ]);
  });

  tensorType = this.RULE('tensorType', () => {
    this.CONSUME(T.Identifier, { LABEL: 'dtype' });
    this.CONSUME(T.LBracket);
    this.MANY_SEP({ SEP: T.Comma, DEF: () => this.SUBRULE(this.dim) });
    this.CONSUME(T.RBracket);
    this.OPTION(() => {
      this.CONSUME(T.Partial);
      this.CONSUME(T.LParen);
      this.AT_LEAST_ONE_SEP({ SEP: T.Comma, DEF: () => this.CONSUME2(T.Identifier, { LABEL: 'partialAxis' }) });
      this.CONSUME(T.RParen);
    });
  });

  dim = this.RULE('dim', () => {
    this.SUBRULE(this.dimExpr);
    this.OPTION(() => {
      this.CONSUME(T.At);
      this.OR([
        { ALT: () => this.CONSUME(T.Identifier, { LABEL: 'axis' }) },
        {
          ALT: () => {
            this.CONSUME(T.LParen);
            this.AT_LEAST_ONE_SEP({ SEP: T.Comma, DEF: () => this.CONSUME2(T.Identifier, { LABEL: 'axis' }) });
            this.CONSUME(T.RParen);
          },
        },
      ]);
    });
  });

  // Dim expressions exclude '@', which marks a layout inside a type.
  dimExpr = this.RULE('dimExpr', () => {
    this.SUBRULE(this.dimTerm, { LABEL: 'operand' });
    this.MANY(() => {
      this.OR([{ ALT: () => this.CONSUME(T.Plus, { LABEL: 'op' }) }, { ALT: () => this.CONSUME(T.Minus, { LABEL: 'op' }) }]);
      this.SUBRULE2(this.dimTerm, { LABEL: 'operand' });
    });
  });

  dimTerm = this.RULE('dimTerm', () => {
    this.SUBRULE(this.dimFactor, { LABEL: 'operand' });
    this.MANY(() => {
      this.OR([{ ALT: () => this.CONSUME(T.Star, { LABEL: 'op' }) }, { ALT: () => this.CONSUME(T.Slash, { LABEL: 'op' }) }]);
      this.SUBRULE2(this.dimFactor, { LABEL: 'operand' });
    });
  });

  dimFactor = this.RULE('dimFactor', () => {
    this.OR([
      { ALT: () => this.CONSUME(T.NumberLiteral) },
      { ALT: () => this.CONSUME(T.Identifier) },
      {
        ALT: () => {
          this.CONSUME(T.LParen);
          this.SUBRULE(this.dimExpr);
          this.CONSUME(T.RParen);
        },
      },
      {
        ALT: () => {
          this.CONSUME(T.Minus);
          this.SUBRULE(this.dimFactor);
        },
      },
    ]);
  });

  stmt = this.RULE('stmt', () => {
    this.OR([{ ALT: () => this.SUBRULE(this.paramStmt) }, { ALT: () => this.SUBRULE(this.letStmt) }, { ALT: () => this.SUBRULE(this.returnStmt) }]);
    this.OPTION(() => this.CONSUME(T.Semicolon));
  });

  paramStmt = this.RULE('paramStmt', () => {
    this.CONSUME(T.Param);
    this.CONSUME(T.Identifier);
    this.CONSUME(T.Colon);
    this.SUBRULE(this.tensorType);
    this.OPTION(() => {
      this.CONSUME(T.Equals);
      this.SUBRULE(this.expr);
    });
    this.MANY(() => this.SUBRULE(this.annotation));
  });

  letStmt = this.RULE('letStmt', () => {
    this.OPTION(() => this.CONSUME(T.Let));
    this.AT_LEAST_ONE_SEP({ SEP: T.Comma, DEF: () => this.CONSUME(T.Identifier) });
    this.CONSUME(T.Equals);
    this.SUBRULE(this.expr);
    this.MANY(() => this.SUBRULE(this.annotation));
  });

  returnStmt = this.RULE('returnStmt', () => {
    this.CONSUME(T.Return);
    this.AT_LEAST_ONE_SEP({ SEP: T.Comma, DEF: () => this.SUBRULE(this.expr) });
  });

  annotation = this.RULE('annotation', () => {
    this.CONSUME(T.AnnotationName);
    this.OPTION(() => {
      this.CONSUME(T.LParen);
      this.MANY_SEP({ SEP: T.Comma, DEF: () => this.SUBRULE(this.arg) });
      this.CONSUME(T.RParen);
    });
  });

  expr = this.RULE('expr', () => {
    this.SUBRULE(this.multiplicative, { LABEL: 'operand' });
    this.MANY(() => {
      this.OR([{ ALT: () => this.CONSUME(T.Plus, { LABEL: 'op' }) }, { ALT: () => this.CONSUME(T.Minus, { LABEL: 'op' }) }]);
      this.SUBRULE2(this.multiplicative, { LABEL: 'operand' });
    });
  });

  multiplicative = this.RULE('multiplicative', () => {
    this.SUBRULE(this.unary, { LABEL: 'operand' });
    this.MANY(() => {
      this.OR([
        { ALT: () => this.CONSUME(T.Star, { LABEL: 'op' }) },
        { ALT: () => this.CONSUME(T.Slash, { LABEL: 'op' }) },
        { ALT: () => this.CONSUME(T.At, { LABEL: 'op' }) },
      ]);
      this.SUBRULE2(this.unary, { LABEL: 'operand' });
    });
  });

  unary = this.RULE('unary', () => {
    this.OR([
      {
        ALT: () => {
          this.CONSUME(T.Minus);
          this.SUBRULE(this.unary);
        },
      },
      { ALT: () => this.SUBRULE(this.power) },
    ]);
  });

  power = this.RULE('power', () => {
    this.SUBRULE(this.primary);
    this.OPTION(() => {
      this.CONSUME(T.Power);
      this.SUBRULE(this.unary);
    });
  });

  primary = this.RULE('primary', () => {
    this.OR([
      { ALT: () => this.CONSUME(T.NumberLiteral) },
      { ALT: () => this.CONSUME(T.SizeLiteral) },
      { ALT: () => this.CONSUME(T.StringLiteral) },
      { ALT: () => this.CONSUME(T.True) },
      { ALT: () => this.CONSUME(T.False) },
      {
        ALT: () => {
          this.CONSUME(T.LParen);
          this.SUBRULE(this.expr);
          this.CONSUME(T.RParen);
        },
      },
      {
        ALT: () => {
          this.CONSUME(T.LBracket);
          this.MANY_SEP({ SEP: T.Comma, DEF: () => this.SUBRULE2(this.expr, { LABEL: 'item' }) });
          this.CONSUME(T.RBracket);
        },
      },
      { ALT: () => this.SUBRULE(this.repeatExpr) },
      { ALT: () => this.SUBRULE(this.callOrName) },
    ]);
  });

  repeatExpr = this.RULE('repeatExpr', () => {
    this.CONSUME(T.Repeat);
    this.CONSUME(T.LParen);
    this.SUBRULE(this.expr);
    this.CONSUME(T.RParen);
    this.SUBRULE(this.repeatCall);
  });

  // Unlike callOrName, the parentheses are required: `repeat(n) Layer` names no input.
  repeatCall = this.RULE('repeatCall', () => {
    this.CONSUME(T.Identifier);
    this.CONSUME(T.LParen);
    this.MANY_SEP({ SEP: T.Comma, DEF: () => this.SUBRULE(this.arg) });
    this.CONSUME(T.RParen);
  });

  callOrName = this.RULE('callOrName', () => {
    // `where` is also the op where(cond, a, b); as a callee it is always followed by '('.
    this.OR([
      { ALT: () => this.CONSUME(T.Identifier) },
      { GATE: () => this.LA(2).tokenType === T.LParen, ALT: () => this.CONSUME(T.Where, { LABEL: 'Identifier' }) },
    ]);
    this.OPTION(() => {
      this.CONSUME(T.LParen);
      this.MANY_SEP({ SEP: T.Comma, DEF: () => this.SUBRULE(this.arg) });
      this.CONSUME(T.RParen);
    });
  });

  arg = this.RULE('arg', () => {
    this.OPTION({
      GATE: () => this.LA(2).tokenType === T.Equals,
      DEF: () => {
        this.CONSUME(T.Identifier, { LABEL: 'kw' });
        this.CONSUME(T.Equals);
      },
    });
    this.SUBRULE(this.expr);
  });
}

/** One parser instance per process is safe: chevrotain resets its state on each `input` assignment. */
let shared: MdcParser | undefined;
export function getParser(): MdcParser {
  shared ??= new MdcParser();
  return shared;
}

export type { CstNode, IToken };
