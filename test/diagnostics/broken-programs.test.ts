import { describe, expect, it } from 'vitest';
import { check } from '../../compiler/compile.js';
import { formatDiagnostic } from '../../diagnostics/format.js';

/**
 * Broken programs that do not fit a case folder. The table of broken programs and the exact
 * diagnostics `mdc check` prints for them lives in test/cases/<name>/ (`input.model` and
 * `expected.txt`, run by test/golden.test.ts). Here: the full rendering of a diagnostic
 * (source line and caret), and syntax error recovery, down to the 50-error cap on
 * generated sources.
 */

const FILE = 'broken.model';

/** Template tag for an indented program: drops the first line break and the common indentation. */
function program(strings: TemplateStringsArray): string {
  const lines = strings.raw[0]!.split('\n').slice(1, -1);
  const indent = Math.min(...lines.filter((l) => l.trim()).map((l) => l.length - l.trimStart().length));
  return lines.map((l) => l.slice(indent)).join('\n') + '\n';
}

/** The first line of each diagnostic `check()` reports. */
function diagnostics(source: string): string[] {
  return check(source, FILE).diagnostics.map((d) => formatDiagnostic(d, source).split('\n')[0]!);
}

describe('diagnostic rendering', () => {
  it('shows the source line and underlines the span', () => {
    const source = program`
      model M(x: f32[4, 8]) -> f32[4, 8] {
        param w: f32[16, 8]
        return x @ w
      }
    `;
    const [d] = check(source, FILE).diagnostics;
    expect(formatDiagnostic(d!, source)).toBe(
      [
        'broken.model:3:10: error MDC0203: matmul contraction dims differ: f32[4, 8] @ f32[16, 8] (8 ≠ 16)',
        '   |',
        ' 3 |   return x @ w',
        '   |          ^^^^^',
      ].join('\n'),
    );
  });

  it('puts an end-of-file caret just past the last token', () => {
    const source = 'model M(x: f32[4]) -> f32[4] {\n  return gelu(x';
    const [d] = check(source, FILE).diagnostics;
    expect(formatDiagnostic(d!, source)).toBe(
      ["broken.model:2:16: error MDC0002: syntax error: expected ')' but found end of file", '   |', ' 2 |   return gelu(x', '   |                ^'].join(
        '\n',
      ),
    );
  });
});

describe('syntax error recovery', () => {
  it('reports several syntax errors from one file', () => {
    const source = program`
      model M(x: f32[4, 8]) -> f32[4, 8] {
        let a = (x +
        let b = x *
        return ]
      }
      block B(x: f32[4]) f32[4] { return x }
      config C { d = }
    `;
    expect(diagnostics(source)).toEqual([
      "broken.model:3:3: error MDC0002: syntax error: expected an expression but found 'let'",
      "broken.model:4:3: error MDC0002: syntax error: expected an expression but found 'return'",
      "broken.model:4:10: error MDC0002: syntax error: expected an expression but found ']'",
      "broken.model:6:20: error MDC0002: syntax error: expected '->' but found 'f32'",
      "broken.model:7:16: error MDC0002: syntax error: expected an expression but found '}'",
    ]);
  });

  it('recovers after a stray token between declarations', () => {
    const source = program`
      let z = 3
      model M(x: f32[4, 8]) -> f32[4, 8] {
        return x +
      }
      model N(x: f32[4, 8]) f32[4, 8] {
        return x
      }
    `;
    expect(diagnostics(source)).toEqual([
      "broken.model:1:1: error MDC0002: syntax error: unexpected 'let': expected a declaration (mesh, config, preset, block, model, train or infer)",
      "broken.model:4:1: error MDC0002: syntax error: expected an expression but found '}'",
      "broken.model:5:23: error MDC0002: syntax error: expected '->' but found 'f32'",
    ]);
  });

  it('stops after 50 errors and says so', () => {
    const source = `model M(x: f32[4]) -> f32[4] {\n${'  let y = x + + x\n'.repeat(80)}  return x\n}\n`;
    const ds = diagnostics(source);
    expect(ds).toHaveLength(51);
    expect(ds[0]).toBe("broken.model:2:15: error MDC0002: syntax error: expected an expression but found '+'");
    expect(ds[49]).toBe("broken.model:51:15: error MDC0002: syntax error: expected an expression but found '+'");
    expect(ds[50]).toBe('broken.model:51:15: error MDC0006: too many errors; stopped after 50');
  });

  it('reports lexical errors in source order, within the same cap', () => {
    const source = `${'$ "open\n'.repeat(40)}model M(x: f32[4]) -> f32[4] { return x }\n`;
    const ds = diagnostics(source);
    expect(ds).toHaveLength(51);
    expect(ds.slice(0, 3)).toEqual([
      "broken.model:1:1: error MDC0001: unexpected character '$'",
      'broken.model:1:3: error MDC0004: unterminated string literal',
      "broken.model:2:1: error MDC0001: unexpected character '$'",
    ]);
    expect(ds[50]).toBe('broken.model:25:3: error MDC0006: too many errors; stopped after 50');
  });
});
