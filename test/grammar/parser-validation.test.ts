import { Lexer } from 'chevrotain';
import { describe, expect, it } from 'vitest';
import { allTokens } from '../../grammar/lexer.js';
import { MdcParser } from '../../grammar/parser.js';

describe('the grammar', () => {
  // The compiler builds its lexer and parser without Chevrotain's validations (start-up
  // time): they run here. Building throws on an ambiguous or left-recursive grammar, or
  // on a token pattern that can never match.
  it("passes Chevrotain's grammar validations", () => {
    expect(() => new MdcParser(true)).not.toThrow();
  });
  it("passes Chevrotain's token validations", () => {
    expect(() => new Lexer(allTokens, { positionTracking: 'full', ensureOptimizations: false })).not.toThrow();
  });
});
