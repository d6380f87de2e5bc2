import { describe, expect, it } from 'vitest';
import { check, lower } from '../../compiler/compile.js';
import { formatDiagnostic } from '../../diagnostics/format.js';

/**
 * Broken programs and the exact diagnostics `mdc check` prints for them: the first line of
 * `formatDiagnostic`, `file:line:col: error MDCxxxx: message`. Every case lists *all* its
 * diagnostics, so a new cascade of follow-on errors fails the test as surely as a wrong one.
 * Each expected line was read and judged before it was written down; when a message is
 * changed on purpose, change it here and review the diff.
 */

const FILE = 'broken.model';

/** Template tag for an indented program: drops the first line break and the common indentation. */
function program(strings: TemplateStringsArray): string {
  const lines = strings.raw[0]!.split('\n').slice(1, -1);
  const indent = Math.min(...lines.filter((l) => l.trim()).map((l) => l.length - l.trimStart().length));
  return lines.map((l) => l.slice(indent)).join('\n') + '\n';
}

/** Most cases run `check()`; a few errors only exist once a model is lowered at concrete dims. */
function diagnostics(source: string, via: 'check' | 'lower' = 'check'): string[] {
  const result = via === 'lower' ? lower(source, FILE) : check(source, FILE);
  return result.diagnostics.map((d) => formatDiagnostic(d, source).split('\n')[0]!);
}

interface Case {
  readonly name: string;
  readonly via?: 'lower';
  readonly source: string;
  readonly expect: readonly string[];
}

const cases: Case[] = [
  // --- syntax
  {
    name: 'a block missing its closing brace is reported at the next declaration',
    source: program`
      block B(x: f32[4, 8]) -> f32[4, 8] {
        return x

      model M(x: f32[4, 8]) -> f32[4, 8] {
        return B(x)
      }
    `,
    expect: [
      "broken.model:4:1: error MDC0002: syntax error: expected '}' but found 'model'",
    ],
  },
  {
    name: 'a model missing its closing brace at end of file points past the last token',
    source: program`
      model M(x: f32[4, 8]) -> f32[4, 8] {
        return x
    `,
    expect: [
      "broken.model:2:11: error MDC0002: syntax error: expected '}' but found end of file",
    ],
  },
  {
    name: "missing '->' between the inputs and the result type",
    source: program`
      model M(x: f32[4, 8]) f32[4, 8] {
        return x
      }
    `,
    expect: [
      "broken.model:1:23: error MDC0002: syntax error: expected '->' but found 'f32'",
    ],
  },
  {
    name: 'an operator where an expression should start',
    source: program`
      model M(x: f32[4, 8]) -> f32[4, 8] {
        let y = x + * x
        return y
      }
    `,
    expect: [
      "broken.model:2:15: error MDC0002: syntax error: expected an expression but found '*'",
    ],
  },
  {
    name: 'an input without a type',
    source: program`
      model M(x) -> f32[4, 8] {
        return x
      }
    `,
    expect: [
      "broken.model:1:10: error MDC0002: syntax error: expected ':' but found ')'",
    ],
  },
  {
    name: 'an operator where a dim size should be',
    source: program`
      model M(x: f32[4, *8]) -> f32[4, 8] { return x }
    `,
    expect: [
      "broken.model:1:19: error MDC0002: syntax error: expected a dim size but found '*'",
    ],
  },
  {
    name: 'a number where the result type should be',
    source: program`
      model M(x: f32[4]) -> 5 { return x }
    `,
    expect: [
      "broken.model:1:23: error MDC0002: syntax error: expected a tensor type but found '5'",
    ],
  },
  {
    name: "a layout '@' without a mesh axis",
    source: program`
      model M(x: f32[4@]) -> f32[4] { return x }
    `,
    expect: [
      "broken.model:1:18: error MDC0002: syntax error: expected a name or '(' but found ']'",
    ],
  },
  {
    name: 'a call left open at end of file',
    source: program`
      model M(x: f32[4, 8]) -> f32[4, 8] {
        return gelu(x
    `,
    expect: [
      "broken.model:2:16: error MDC0002: syntax error: expected ')' but found end of file",
    ],
  },
  {
    name: 'a statement outside any declaration',
    source: program`
      model M(x: f32[4, 8]) -> f32[4, 8] {
        return x
      }
      let z = 3
    `,
    expect: [
      "broken.model:4:1: error MDC0002: syntax error: unexpected 'let': expected a declaration (mesh, config, preset, block, model, train or infer)",
    ],
  },
  {
    name: 'a stray closing brace between declarations',
    source: program`
      model M(x: f32[4, 8]) -> f32[4, 8] {
        return x
      }
      }
      model N(x: f32[4, 8]) -> f32[4, 8] {
        return x
      }
    `,
    expect: [
      "broken.model:4:1: error MDC0002: syntax error: unexpected '}': expected a declaration (mesh, config, preset, block, model, train or infer)",
    ],
  },
  {
    name: 'repeat of a block name without its argument list',
    source: program`
      block L(x: f32[4, 8]) -> f32[4, 8] { return gelu(x) }
      model M(x: f32[4, 8]) -> f32[4, 8] {
        return repeat(2) L
      }
    `,
    expect: [
      "broken.model:4:1: error MDC0002: syntax error: expected '(' but found '}'",
    ],
  },
  {
    name: 'unterminated block comment, reported at its opening',
    source: program`
      model M(x: f32[4, 8]) -> f32[4, 8] {
        /* this comment never ends
        return x
      }
    `,
    expect: [
      "broken.model:2:3: error MDC0003: unterminated block comment: '/*' has no matching '*/'",
    ],
  },
  {
    name: 'unterminated string literal',
    source: program`
      model M(x: f32[4, 8]) -> f32[4, 8] {
        let y = gelu(x, approximate = "tanh)
        return y
      }
    `,
    expect: [
      'broken.model:2:33: error MDC0004: unterminated string literal',
    ],
  },
  {
    name: 'a string whose closing quote is escaped is unterminated',
    source: program`
      model M(x: f32[4, 8]) -> f32[4, 8] {
        return gelu(x, approximate = "tanh\")
      }
    `,
    expect: [
      'broken.model:2:32: error MDC0004: unterminated string literal',
    ],
  },
  {
    name: 'a string ending in an escaped backslash is terminated (and checked as a value)',
    source: program`
      model M(x: f32[4, 8]) -> f32[4, 8] {
        return gelu(x, approximate = "tanh\\")
      }
    `,
    expect: [
      "broken.model:2:18: error MDC0130: unknown value 'tanh\\' for gelu's 'approximate' (expected none or tanh)",
    ],
  },
  {
    name: "unexpected character '$'",
    source: program`
      model M(x: f32[4, 8]) -> f32[4, 8] {
        let y = x $ x
        return y
      }
    `,
    expect: [
      "broken.model:2:13: error MDC0001: unexpected character '$'",
    ],
  },
  {
    name: "unexpected character '#' (not a comment in this language)",
    source: program`
      # a comment in the wrong language
      model M(x: f32[4, 8]) -> f32[4, 8] {
        return x
      }
    `,
    expect: [
      "broken.model:1:1: error MDC0001: unexpected character '#'",
    ],
  },
  {
    name: 'a non-ASCII character is named by its code point',
    source: program`
      model M(x: f32[4, 8]) -> f32[4, 8] {
        let y = x × 2
        return y
      }
    `,
    expect: [
      'broken.model:2:13: error MDC0001: unexpected character U+00D7',
    ],
  },
  {
    name: 'an integer literal too large to be exact',
    source: program`
      config C { d = 99999999999999999999 }
      model M(x: f32[4, d]) -> f32[4, d] { return x }
    `,
    expect: [
      "broken.model:1:16: error MDC0007: invalid number '99999999999999999999'",
    ],
  },
  {
    name: 'a number literal that overflows to infinity',
    source: program`
      config C { d = 1e999 }
      model M(x: f32[4, d]) -> f32[4, d] { return x }
    `,
    expect: [
      "broken.model:1:16: error MDC0007: invalid number '1e999'",
    ],
  },
  // --- unknown names
  {
    name: 'unknown variable, with a suggestion',
    source: program`
      model M(x: f32[4, 8]) -> f32[4, 8] {
        let y = gelu(xx)
        return y
      }
    `,
    expect: [
      "broken.model:2:16: error MDC0101: unknown name 'xx'; did you mean 'x'?",
    ],
  },
  {
    name: 'unknown variable with nothing close enough to suggest',
    source: program`
      model M(x: f32[4, 8]) -> f32[4, 8] {
        let y = gelu(hidden)
        return y
      }
    `,
    expect: [
      "broken.model:2:16: error MDC0101: unknown name 'hidden'",
    ],
  },
  {
    name: 'unknown op, with a suggestion',
    source: program`
      model M(x: f32[4, 8]) -> f32[4, 8] {
        return sofmax(x)
      }
    `,
    expect: [
      "broken.model:2:10: error MDC0103: unknown function 'sofmax': not an op or a block; did you mean 'softmax'?",
    ],
  },
  {
    name: 'unknown op missing an underscore',
    source: program`
      model M(x: f32[4, 8]) -> f32[4, 8] {
        return layernorm(x)
      }
    `,
    expect: [
      "broken.model:2:10: error MDC0103: unknown function 'layernorm': not an op or a block; did you mean 'layer_norm'?",
    ],
  },
  {
    name: 'unknown block differing only in case',
    source: program`
      block Mlp(x: f32[4, 8]) -> f32[4, 8] { return x }
      model M(x: f32[4, 8]) -> f32[4, 8] {
        return MLP(x)
      }
    `,
    expect: [
      "broken.model:3:10: error MDC0103: unknown function 'MLP': not an op or a block; did you mean 'Mlp'?",
    ],
  },
  {
    name: 'unknown dtype of an input',
    source: program`
      model M(x: f23[4, 8]) -> f32[4, 8] {
        return x
      }
    `,
    expect: [
      "broken.model:1:12: error MDC0111: unknown dtype 'f23': expected one of f32, f16, bf16, i32, bool",
    ],
  },
  {
    name: 'unknown dtype of a param',
    source: program`
      model M(x: f32[4, 8]) -> f32[4, 8] {
        param w: float[8, 8]
        return x @ w
      }
    `,
    expect: [
      "broken.model:2:12: error MDC0111: unknown dtype 'float': expected one of f32, f16, bf16, i32, bool",
    ],
  },
  {
    name: 'unknown mesh axis, with the axes that exist',
    source: program`
      mesh D = [dp: 2, tp: 4]
      model M(x: f32[8@dp, 16@mp]) -> f32[8, 16] {
        return x
      }
    `,
    expect: [
      "broken.model:2:25: error MDC0403: unknown mesh axis 'mp': the meshes have dp, tp; did you mean 'dp'?",
    ],
  },
  {
    name: 'unknown mesh axis when no mesh is declared',
    source: program`
      model M(x: f32[4@dp, 8]) -> f32[4, 8] {
        return x
      }
    `,
    expect: [
      "broken.model:1:18: error MDC0403: unknown mesh axis 'dp': no mesh is declared",
    ],
  },
  {
    name: 'unknown dim in a param type, with a suggestion',
    source: program`
      config C { d = 8 }
      model M(x: f32[4, d]) -> f32[4, d] {
        param w: f32[d, dd]
        return x @ w
      }
    `,
    expect: [
      "broken.model:3:19: error MDC0101: unknown dim 'dd'; did you mean 'd'?",
    ],
  },
  {
    name: 'unknown single-letter dim in a param type gets no far-fetched suggestion',
    source: program`
      model M(x: f32[B, 8]) -> f32[B, 8] where B = 4 {
        param w: f32[H, 8]
        return x
      }
    `,
    expect: [
      "broken.model:2:16: error MDC0101: unknown dim 'H'",
    ],
  },
  {
    name: 'unknown constant inside a config',
    source: program`
      config C { d = 8, ffn = 4 * dd }
      model M(x: f32[4, d]) -> f32[4, d] { return x }
    `,
    expect: [
      "broken.model:1:29: error MDC0101: unknown constant 'dd'; did you mean 'd'?",
    ],
  },
  {
    name: 'assigning a name that was never introduced with let',
    source: program`
      model M(x: f32[4]) -> f32[4] {
        y = gelu(x)
        return y
      }
    `,
    expect: [
      "broken.model:2:3: error MDC0123: 'y' is not defined yet: use 'let y = ...' to introduce it",
    ],
  },
  {
    name: 'assigning to a config constant',
    source: program`
      config C { d = 4 }
      model M(x: f32[d]) -> f32[d] {
        d = gelu(x)
        return x
      }
    `,
    expect: [
      "broken.model:3:3: error MDC0129: cannot assign to 'd': it is a config constant",
    ],
  },
  {
    name: 'a block used as a value',
    source: program`
      block B(x: f32[4]) -> f32[4] { return x }
      model M(x: f32[4]) -> f32[4] {
        return B + x
      }
    `,
    expect: [
      "broken.model:3:10: error MDC0126: 'B' is a block; blocks are called, not used as values",
    ],
  },
  {
    name: 'calling a model',
    source: program`
      model N(x: f32[4]) -> f32[4] { return x }
      model M(x: f32[4]) -> f32[4] {
        return N(x)
      }
    `,
    expect: [
      "broken.model:3:10: error MDC0120: expected an op or a block, got the model 'N' (models are entry points, not callable)",
    ],
  },
  {
    name: 'unknown initialiser',
    source: program`
      model M(x: f32[4, 8]) -> f32[4, 8] {
        param w: f32[8, 8] = xavier()
        return x @ w
      }
    `,
    expect: [
      "broken.model:2:24: error MDC0124: unknown initialiser 'xavier': expected normal, uniform, zeros, ones or constant",
    ],
  },
  {
    name: 'a misspelt annotation is not mistaken for a matmul with an unknown op',
    source: program`
      block L(x: f32[4, 8]) -> f32[4, 8] { return gelu(x) }
      model M(x: f32[4, 8]) -> f32[4, 8] {
        let h = repeat(2) L(x) @pipline(stages = 2)
        return h
      }
    `,
    expect: [
      "broken.model:3:27: error MDC0117: unknown annotation '@pipline': expected one of @shard, @pipeline, @recompute, @offload, @expert",
    ],
  },
  // --- duplicates
  {
    name: 'duplicate block',
    source: program`
      block B(x: f32[4]) -> f32[4] { return x }
      block B(x: f32[4]) -> f32[4] { return x + 1 }
      model M(x: f32[4]) -> f32[4] { return B(x) }
    `,
    expect: [
      "broken.model:2:7: error MDC0102: duplicate block 'B' (first defined on line 1)",
    ],
  },
  {
    name: 'duplicate param names the line of the first',
    source: program`
      model M(x: f32[4, 8]) -> f32[4, 8] {
        param w: f32[8, 8]
        param w: f32[8, 8]
        return x @ w
      }
    `,
    expect: [
      "broken.model:3:9: error MDC0102: duplicate name 'w' (first defined on line 2)",
    ],
  },
  {
    name: 'duplicate let names the line of the first',
    source: program`
      model M(x: f32[4, 8]) -> f32[4, 8] {
        let y = gelu(x)
        let y = relu(x)
        return y
      }
    `,
    expect: [
      "broken.model:3:7: error MDC0102: duplicate name 'y' (first defined on line 2)",
    ],
  },
  {
    name: 'let re-introducing an input',
    source: program`
      model M(x: f32[4, 8]) -> f32[4, 8] {
        let x = gelu(x)
        return x
      }
    `,
    expect: [
      "broken.model:2:7: error MDC0102: duplicate name 'x' (first defined on line 1)",
    ],
  },
  {
    name: 'the same name twice in one let',
    source: program`
      model M(x: f32[4, 8]) -> f32[4, 4] {
        let a, a = split(x, 2)
        return a
      }
    `,
    expect: [
      "broken.model:2:10: error MDC0102: duplicate name 'a' (first defined on line 2)",
    ],
  },
  {
    name: 'duplicate input',
    source: program`
      model M(x: f32[4], x: f32[4]) -> f32[4] { return x }
    `,
    expect: [
      "broken.model:1:20: error MDC0102: duplicate argument 'x' (first defined on line 1)",
    ],
  },
  {
    name: 'duplicate constant in one config',
    source: program`
      config C { d = 8, heads = 2, d = 16 }
      model M(x: f32[4, d]) -> f32[4, d] { return x }
    `,
    expect: [
      "broken.model:1:30: error MDC0102: duplicate constant 'd' (first defined on line 1)",
    ],
  },
  {
    name: 'duplicate constant across configs',
    source: program`
      config A { d = 8 }
      config B { d = 16 }
      model M(x: f32[4, d]) -> f32[4, d] { return x }
    `,
    expect: [
      "broken.model:2:12: error MDC0102: duplicate constant 'd' (first defined on line 1)",
    ],
  },
  {
    name: 'duplicate config',
    source: program`
      config A { d = 8 }
      config A { e = 16 }
      model M(x: f32[4, d]) -> f32[4, d] { return x }
    `,
    expect: [
      "broken.model:2:8: error MDC0102: duplicate config 'A' (first defined on line 1)",
    ],
  },
  {
    name: 'duplicate model',
    source: program`
      model M(x: f32[4]) -> f32[4] { return x }
      model M(x: f32[4]) -> f32[4] { return x }
    `,
    expect: [
      "broken.model:2:7: error MDC0102: duplicate model 'M' (first defined on line 1)",
    ],
  },
  {
    name: 'a model named like a block',
    source: program`
      block M(x: f32[4]) -> f32[4] { return x }
      model M(x: f32[4]) -> f32[4] { return x }
    `,
    expect: [
      "broken.model:2:7: error MDC0102: duplicate model 'M' (first defined on line 1)",
    ],
  },
  {
    name: 'a block named like a model',
    source: program`
      model M(x: f32[4]) -> f32[4] { return x }
      block M(x: f32[4]) -> f32[4] { return x }
    `,
    expect: [
      "broken.model:2:7: error MDC0102: duplicate block 'M' (first defined on line 1)",
    ],
  },
  {
    name: 'duplicate mesh axis across meshes',
    source: program`
      mesh A = [dp: 2]
      mesh B = [dp: 4]
      model M(x: f32[4]) -> f32[4] { return x }
    `,
    expect: [
      "broken.model:2:11: error MDC0102: duplicate mesh axis 'dp' (first defined on line 1)",
    ],
  },
  {
    name: 'duplicate preset',
    source: program`
      config C { d = 8 }
      preset tiny for C { d = 4 }
      preset tiny for C { d = 2 }
      model M(x: f32[4, d]) -> f32[4, d] { return x }
    `,
    expect: [
      "broken.model:3:8: error MDC0102: duplicate preset 'tiny' (first defined on line 2)",
    ],
  },
  // --- arity and arguments
  {
    name: 'too many arguments to an op',
    source: program`
      model M(x: f32[4, 8]) -> f32[4, 8] {
        return gelu(x, x)
      }
    `,
    expect: [
      'broken.model:2:18: error MDC0104: gelu expects 1 positional argument(s), got 2',
    ],
  },
  {
    name: 'too many arguments to an op with optional ones',
    source: program`
      model M(x: f32[4, 8]) -> f32[4, 8] {
        return softmax(x, -1, 2)
      }
    `,
    expect: [
      'broken.model:2:25: error MDC0104: softmax expects 1 to 2 positional argument(s), got 3',
    ],
  },
  {
    name: 'a keyword-only argument given by position',
    source: program`
      model M(x: f32[4, 8]) -> f32[4, 8] {
        return gelu(x, "tanh")
      }
    `,
    expect: [
      'broken.model:2:18: error MDC0104: gelu expects 1 positional argument(s), got 2',
    ],
  },
  {
    name: 'too few arguments to an op',
    source: program`
      model M(x: f32[4, 8]) -> f32[4, 8] {
        return add(x)
      }
    `,
    expect: [
      "broken.model:2:10: error MDC0107: add is missing required argument 'b'",
    ],
  },
  {
    name: 'too few arguments to a block',
    source: program`
      block B(x: f32[4, 8], y: f32[4, 8]) -> f32[4, 8] { return x + y }
      model M(x: f32[4, 8]) -> f32[4, 8] {
        return B(x)
      }
    `,
    expect: [
      'broken.model:3:10: error MDC0104: B expects 2 positional argument(s), got 1',
    ],
  },
  {
    name: 'too many arguments to a block',
    source: program`
      block B(x: f32[4, 8]) -> f32[4, 8] { return x }
      model M(x: f32[4, 8]) -> f32[4, 8] {
        return B(x, x)
      }
    `,
    expect: [
      'broken.model:3:10: error MDC0104: B expects 1 positional argument(s), got 2',
    ],
  },
  {
    name: 'too few arguments to an initialiser',
    source: program`
      model M(x: f32[4, 8]) -> f32[4, 8] {
        param w: f32[8, 8] = normal(0.02)
        return x @ w
      }
    `,
    expect: [
      'broken.model:2:24: error MDC0104: normal expects 2 positional argument(s), got 1',
    ],
  },
  {
    name: 'unknown keyword argument lists the known ones',
    source: program`
      model M(x: f32[4, 8]) -> f32[4, 8] {
        return softmax(x, dim = 0)
      }
    `,
    expect: [
      "broken.model:2:21: error MDC0105: softmax has no keyword argument 'dim': expected one of x, axis",
    ],
  },
  {
    name: 'keyword argument given twice',
    source: program`
      model M(x: f32[4, 8]) -> f32[4, 8] {
        return softmax(x, axis = 0, axis = 1)
      }
    `,
    expect: [
      "broken.model:2:31: error MDC0106: argument 'axis' given twice",
    ],
  },
  {
    name: 'argument given by position and by keyword',
    source: program`
      model M(x: f32[4, 8]) -> f32[4, 8] {
        return softmax(x, 0, axis = 1)
      }
    `,
    expect: [
      "broken.model:2:24: error MDC0106: argument 'axis' given twice",
    ],
  },
  {
    name: 'positional argument after a keyword argument',
    source: program`
      model M(x: f32[4, 8]) -> f32[4, 8] {
        return slice(x, axis = 0, 0, 2)
      }
    `,
    expect: [
      'broken.model:2:29: error MDC0122: positional argument after keyword argument',
    ],
  },
  {
    name: 'missing required keyword argument',
    source: program`
      model M(x: f32[2, 4, 8]) -> f32[2, 4, 8] {
        return attention(x, x, x)
      }
    `,
    expect: [
      "broken.model:2:10: error MDC0107: attention is missing required argument 'heads'",
    ],
  },
  {
    name: 'missing required positional argument',
    source: program`
      model M(x: f32[2, 4, 8]) -> f32[2, 4, 8] {
        return attention(x, x, heads = 2)
      }
    `,
    expect: [
      "broken.model:2:10: error MDC0107: attention is missing required argument 'v'",
    ],
  },
  {
    name: 'keyword arguments to a block',
    source: program`
      block B(x: f32[4, 8]) -> f32[4, 8] { return x }
      model M(x: f32[4, 8]) -> f32[4, 8] {
        return B(x = x)
      }
    `,
    expect: [
      "broken.model:3:12: error MDC0105: B has no keyword argument 'x': blocks take positional tensor arguments",
    ],
  },
  {
    name: 'an argument of the wrong kind',
    source: program`
      model M(x: f32[4, 8]) -> f32[4, 8] {
        return softmax(x, axis = "last")
      }
    `,
    expect: [
      `broken.model:2:21: error MDC0120: expected an integer constant for softmax's 'axis', got the string "last"`,
    ],
  },
  {
    name: 'a string argument outside its choices',
    source: program`
      model M(x: f32[4, 8]) -> f32[4, 8] {
        return gelu(x, approximate = "fast")
      }
    `,
    expect: [
      "broken.model:2:18: error MDC0130: unknown value 'fast' for gelu's 'approximate' (expected none or tanh)",
    ],
  },
  {
    name: 'an argument outside its range',
    source: program`
      model M(x: f32[4, 8]) -> f32[4, 8] {
        return dropout(x, 1.5)
      }
    `,
    expect: [
      'broken.model:2:10: error MDC0211: dropout: p must be in [0, 1), got 1.5',
    ],
  },
  // --- cycles
  {
    name: 'config constants in a cycle',
    source: program`
      config C { a = b + 1, b = c * 2, c = a }
      model M(x: f32[4, 8]) -> f32[4, 8] { return x }
    `,
    expect: [
      'broken.model:1:12: error MDC0108: config constants form a cycle: a → b → c → a',
    ],
  },
  {
    name: 'a config constant defined by itself',
    source: program`
      config C { a = a + 1 }
      model M(x: f32[4, 8]) -> f32[4, 8] { return x }
    `,
    expect: [
      'broken.model:1:12: error MDC0108: config constants form a cycle: a → a',
    ],
  },
  {
    name: 'blocks calling each other',
    source: program`
      block A(x: f32[4]) -> f32[4] { return B(x) }
      block B(x: f32[4]) -> f32[4] { return A(x) }
      model M(x: f32[4]) -> f32[4] { return A(x) }
    `,
    expect: [
      'broken.model:2:39: error MDC0109: blocks call each other in a cycle: A → B → A',
    ],
  },
  {
    name: 'a block calling itself',
    source: program`
      block A(x: f32[4]) -> f32[4] { return A(x) + x }
      model M(x: f32[4]) -> f32[4] { return A(x) }
    `,
    expect: [
      'broken.model:1:39: error MDC0109: blocks call each other in a cycle: A → A',
    ],
  },
  // --- repeat
  {
    name: 'repeat count that is a tensor',
    source: program`
      block L(x: f32[4, 8]) -> f32[4, 8] { return gelu(x) }
      model M(x: f32[4, 8]) -> f32[4, 8] {
        return repeat(x) L(x)
      }
    `,
    expect: [
      'broken.model:3:17: error MDC0115: repeat count must be a positive integer constant, got f32[4, 8]',
    ],
  },
  {
    name: 'repeat count that is not an integer',
    source: program`
      block L(x: f32[4, 8]) -> f32[4, 8] { return gelu(x) }
      model M(x: f32[4, 8]) -> f32[4, 8] {
        return repeat(2.5) L(x)
      }
    `,
    expect: [
      'broken.model:3:17: error MDC0115: repeat count must be a positive integer constant, got the number 2.5',
    ],
  },
  {
    name: 'repeat count that is a symbolic dim',
    source: program`
      block L(x: f32[B, 8]) -> f32[B, 8] { return gelu(x) }
      model M(x: f32[B, 8]) -> f32[B, 8] {
        return repeat(B) L(x)
      }
    `,
    expect: [
      'broken.model:3:17: error MDC0115: repeat count must be a positive integer constant, got the integer B',
    ],
  },
  {
    name: 'repeat count of zero from a config',
    source: program`
      config C { layers = 0 }
      block L(x: f32[4, 8]) -> f32[4, 8] { return gelu(x) }
      model M(x: f32[4, 8]) -> f32[4, 8] {
        return repeat(layers) L(x)
      }
    `,
    expect: [
      'broken.model:4:17: error MDC0115: repeat count must be a positive integer constant, got the integer 0',
    ],
  },
  {
    name: 'negative repeat count',
    source: program`
      block L(x: f32[4, 8]) -> f32[4, 8] { return gelu(x) }
      model M(x: f32[4, 8]) -> f32[4, 8] {
        return repeat(-2) L(x)
      }
    `,
    expect: [
      'broken.model:3:17: error MDC0115: repeat count must be a positive integer constant, got the integer -2',
    ],
  },
  {
    name: 'repeat of a block whose output type differs from its input',
    source: program`
      block Up(x: f32[4, 8]) -> f32[4, 16] {
        param w: f32[8, 16]
        return x @ w
      }
      model M(x: f32[4, 8]) -> f32[4, 16] {
        return repeat(2) Up(x)
      }
    `,
    expect: [
      'broken.model:6:20: error MDC0116: repeat needs a block whose output type equals its first input type: Up maps f32[4, 8] to f32[4, 16]',
    ],
  },
  {
    name: 'repeat of an op',
    source: program`
      model M(x: f32[4, 8]) -> f32[4, 8] {
        return repeat(2) gelu(x)
      }
    `,
    expect: [
      "broken.model:2:20: error MDC0120: expected a block to repeat, got the op 'gelu'",
    ],
  },
  {
    name: 'repeat of an unknown block, with a suggestion',
    source: program`
      block Layer(x: f32[4, 8]) -> f32[4, 8] { return gelu(x) }
      model M(x: f32[4, 8]) -> f32[4, 8] {
        return repeat(2) Layr(x)
      }
    `,
    expect: [
      "broken.model:3:20: error MDC0103: unknown function 'Layr': not an op or a block; did you mean 'Layer'?",
    ],
  },
  {
    name: 'repeat of a block without its input',
    source: program`
      block L(x: f32[4, 8]) -> f32[4, 8] { return gelu(x) }
      model M(x: f32[4, 8]) -> f32[4, 8] {
        return repeat(2) L()
      }
    `,
    expect: [
      'broken.model:3:20: error MDC0104: L expects 1 positional argument(s), got 0',
    ],
  },
  {
    name: 'unrolling a huge repeat stops at the graph limit instead of exhausting memory',
    via: 'lower',
    source: program`
      config C { layers = 100000 }
      block L(x: f32[4, 8]) -> f32[4, 8] {
        param w: f32[8, 8]
        return gelu(x @ w) + x
      }
      model M(x: f32[4, 8]) -> f32[4, 8] {
        return repeat(layers) L(x)
      }
    `,
    expect: [
      'broken.model:7:10: error MDC0901: internal limit reached: unrolling L 100000 times makes a graph of more than 200000 nodes',
    ],
  },
  // --- shapes
  {
    name: 'matmul contraction dims differ',
    source: program`
      model M(x: f32[4, 8]) -> f32[4, 8] {
        param w: f32[16, 8]
        return x @ w
      }
    `,
    expect: [
      'broken.model:3:10: error MDC0203: matmul contraction dims differ: f32[4, 8] @ f32[16, 8] (8 ≠ 16)',
    ],
  },
  {
    name: "matmul contraction dims differ, with symbolic batch dims (the design's example)",
    source: program`
      config C { d = 768 }
      model M(x: f16[B, S, d]) -> f16[B, S, 64] {
        param w: f16[512, 64]
        return x @ w
      }
    `,
    expect: [
      'broken.model:4:10: error MDC0203: matmul contraction dims differ: f16[B, S, 768] @ f16[512, 64] (768 ≠ 512)',
    ],
  },
  {
    name: 'matmul of a vector',
    source: program`
      model M(x: f32[8]) -> f32[8] {
        param w: f32[8, 8]
        return x @ w
      }
    `,
    expect: [
      'broken.model:3:10: error MDC0201: matmul expects operands of rank ≥ 2, got f32[8] @ f32[8, 8]',
    ],
  },
  {
    name: 'batch matmul with batch dims that cannot broadcast',
    source: program`
      model M(x: f32[2, 4, 8], y: f32[3, 8, 4]) -> f32[2, 4, 4] {
        return x @ y
      }
    `,
    expect: [
      'broken.model:2:10: error MDC0202: shapes cannot broadcast: f32[2, 4, 8] and f32[3, 8, 4] (2 ≠ 3)',
    ],
  },
  {
    name: 'elementwise shapes that cannot broadcast',
    source: program`
      model M(x: f32[4, 8], y: f32[4, 6]) -> f32[4, 8] {
        return x + y
      }
    `,
    expect: [
      'broken.model:2:10: error MDC0202: shapes cannot broadcast: f32[4, 8] and f32[4, 6] (8 ≠ 6)',
    ],
  },
  {
    name: 'symbolic dims that cannot broadcast',
    source: program`
      model M(x: f32[B, S, 8], y: f32[S, B, 8]) -> f32[B, S, 8] {
        return x * y
      }
    `,
    expect: [
      'broken.model:2:10: error MDC0202: shapes cannot broadcast: f32[B, S, 8] and f32[S, B, 8] (B ≠ S)',
    ],
  },
  {
    name: 'reshape that changes the element count',
    source: program`
      model M(x: f32[4, 8]) -> f32[4, 8] {
        let y = reshape(x, [3, 10])
        return x
      }
    `,
    expect: [
      'broken.model:2:11: error MDC0205: reshape changes the element count: f32[4, 8] to [3, 10]',
    ],
  },
  {
    name: 'reshape whose -1 cannot be inferred',
    source: program`
      model M(x: f32[4, 8]) -> f32[4, 8] {
        let y = reshape(x, [-1, 5])
        return x
      }
    `,
    expect: [
      'broken.model:2:11: error MDC0205: reshape changes the element count: f32[4, 8] to [-1, 5]',
    ],
  },
  {
    name: 'reshape with two inferred dims',
    source: program`
      model M(x: f32[4, 8]) -> f32[32] {
        return reshape(x, [-1, -1])
      }
    `,
    expect: [
      'broken.model:2:10: error MDC0211: reshape: at most one dim may be -1',
    ],
  },
  {
    name: 'split that does not divide the dim',
    source: program`
      model M(x: f32[4, 8]) -> f32[4, 8] {
        let a, b, c = split(x, 3)
        return a
      }
    `,
    expect: [
      'broken.model:2:17: error MDC0206: split: dim 8 does not split into 3 equal parts',
    ],
  },
  {
    name: 'split along an axis out of range',
    source: program`
      model M(x: f32[4, 8]) -> f32[4, 8] {
        let a, b = split(x, 2, axis = 2)
        return a
      }
    `,
    expect: [
      'broken.model:2:14: error MDC0204: split: axis 2 is out of range for a tensor of rank 2',
    ],
  },
  {
    name: 'attention heads that do not divide the width',
    source: program`
      model M(x: f32[2, 4, 10]) -> f32[2, 4, 10] {
        return attention(x, x, x, heads = 4)
      }
    `,
    expect: [
      'broken.model:2:10: error MDC0207: attention q width: 10 is not divisible by heads = 4',
    ],
  },
  {
    name: 'attention keys narrower than the queries',
    source: program`
      model M(q: f32[2, 4, 16], k: f32[2, 4, 8]) -> f32[2, 4, 16] {
        return attention(q, k, k, heads = 4)
      }
    `,
    expect: [
      'broken.model:2:10: error MDC0214: attention: shapes do not match: f32[2, 4, 16] and f32[2, 4, 8] (k width must be kv_heads·Dh = 16)',
    ],
  },
  {
    name: 'attention on a rank-2 tensor',
    source: program`
      model M(q: f32[4, 16]) -> f32[4, 16] {
        return attention(q, q, q, heads = 4)
      }
    `,
    expect: [
      'broken.model:2:10: error MDC0201: attention expects q of rank 3 [B, S, heads·Dh], got f32[4, 16]',
    ],
  },
  {
    name: 'rotary embedding with an odd head dim',
    source: program`
      model M(x: f32[2, 4, 12]) -> f32[2, 4, 12] {
        return rotary(x, 4)
      }
    `,
    expect: [
      'broken.model:2:10: error MDC0207: rotary head dim: 3 is not divisible by 2',
    ],
  },
  {
    name: 'concat of tensors whose other dims differ',
    source: program`
      model M(x: f32[4, 8], y: f32[5, 6]) -> f32[9, 8] {
        return concat([x, y], axis = 0)
      }
    `,
    expect: [
      'broken.model:2:10: error MDC0214: concat: shapes do not match: f32[4, 8] and f32[5, 6] (all dims but axis 0 must match)',
    ],
  },
  {
    name: 'slice past the end of a dim',
    source: program`
      model M(x: f32[4, 8]) -> f32[4, 8] {
        let y = slice(x, 1, 4, 12)
        return x
      }
    `,
    expect: [
      'broken.model:2:11: error MDC0212: slice out of range: [4, 12) on a dim of size 8',
    ],
  },
  {
    name: 'slice past the end of a dim known only from the where clause',
    source: program`
      model M(x: f32[4, S]) -> f32[4, S] where S = 8 {
        let y = slice(x, 1, 0, 16)
        return x
      }
    `,
    expect: [
      'broken.model:2:11: error MDC0212: slice out of range: [0, 16) on a dim of size 8',
    ],
  },
  {
    name: 'transpose with a repeated axis',
    source: program`
      model M(x: f32[2, 4, 8]) -> f32[2, 4, 8] {
        let y = transpose(x, [0, 0, 1])
        return x
      }
    `,
    expect: [
      'broken.model:2:11: error MDC0213: transpose: [0, 0, 1] is not a permutation of 0..2',
    ],
  },
  {
    name: 'transpose with a permutation of the wrong length',
    source: program`
      model M(x: f32[2, 4, 8]) -> f32[2, 4, 8] {
        let y = transpose(x, [1, 0])
        return x
      }
    `,
    expect: [
      'broken.model:2:11: error MDC0213: transpose: [1, 0] is not a permutation of 0..2',
    ],
  },
  {
    name: 'transpose of a vector',
    source: program`
      model M(x: f32[8]) -> f32[8] {
        return transpose(x)
      }
    `,
    expect: [
      'broken.model:2:10: error MDC0201: transpose expects a tensor of rank ≥ 2, got f32[8]',
    ],
  },
  {
    name: 'axis out of range',
    source: program`
      model M(x: f32[4, 8]) -> f32[4, 8] {
        return softmax(x, axis = 2)
      }
    `,
    expect: [
      'broken.model:2:10: error MDC0204: softmax: axis 2 is out of range for a tensor of rank 2',
    ],
  },
  {
    name: 'negative axis out of range',
    source: program`
      model M(x: f32[4, 8]) -> f32[4] {
        return sum(x, axis = -3)
      }
    `,
    expect: [
      'broken.model:2:10: error MDC0204: sum: axis -3 is out of range for a tensor of rank 2',
    ],
  },
  {
    name: 'embedding table of the wrong rank',
    source: program`
      model M(t: i32[4]) -> f32[4, 8] {
        param w: f32[8]
        return embedding(w, t)
      }
    `,
    expect: [
      'broken.model:3:10: error MDC0201: embedding expects a table of rank 2 [V, D], got f32[8]',
    ],
  },
  {
    name: 'cross entropy labels of the wrong shape',
    source: program`
      model M(x: f32[4, 10], y: i32[5]) -> f32[] {
        return cross_entropy(x, y)
      }
    `,
    expect: [
      'broken.model:2:10: error MDC0214: cross_entropy: shapes do not match: f32[4, 10] and i32[5] (labels must have the shape of logits without its last dim)',
    ],
  },
  {
    name: 'layer norm weight of the wrong size',
    source: program`
      model M(x: f32[4, 8]) -> f32[4, 8] {
        param g: f32[4]
        return layer_norm(x, g)
      }
    `,
    expect: [
      "broken.model:3:10: error MDC0214: layer_norm: shapes do not match: f32[4, 8] and f32[4] (weight must be 1-D of the last dim's size)",
    ],
  },
  {
    name: 'topk asking for more than there is',
    source: program`
      model M(x: f32[4, 8]) -> f32[4, 8] {
        let v, i = topk(x, 9)
        return v
      }
    `,
    expect: [
      'broken.model:2:14: error MDC0211: topk: k = 9 must be in [1, 8]',
    ],
  },
  {
    name: 'a negative dim',
    source: program`
      model M(x: f32[4, -2]) -> f32[4, 2] { return x }
    `,
    expect: [
      'broken.model:1:19: error MDC0210: a dim must be a positive integer, got -2',
    ],
  },
  {
    name: 'a zero dim',
    source: program`
      model M(x: f32[4, 0]) -> f32[4, 0] { return x }
    `,
    expect: [
      'broken.model:1:19: error MDC0210: a dim must be a positive integer, got 0',
    ],
  },
  {
    name: 'a fractional dim from a config',
    source: program`
      config C { d = 2.5 }
      model M(x: f32[4, d]) -> f32[4, d] { return x }
    `,
    expect: [
      'broken.model:2:19: error MDC0120: expected an integer dim, got the number 2.5',
    ],
  },
  {
    name: 'a string used as a dim',
    source: program`
      config C { d = "big" }
      model M(x: f32[4, d]) -> f32[4, d] { return x }
    `,
    expect: [
      `broken.model:2:19: error MDC0120: expected an integer dim, got the string "big"`,
    ],
  },
  {
    name: 'division by zero in a dim',
    source: program`
      model M(x: f32[4, 8 / 0]) -> f32[4, 8] { return x }
    `,
    expect: [
      'broken.model:1:19: error MDC0215: 8 is not exactly divisible by 0',
    ],
  },
  {
    name: 'division by zero in a config is reported where it happens',
    source: program`
      config C { d = 4 / 0 }
      model M(x: f32[4, d]) -> f32[4, d] { return x }
    `,
    expect: [
      'broken.model:1:16: error MDC0215: 4 is not exactly divisible by 0',
    ],
  },
  // --- dtypes
  {
    name: 'a float op on integer ids',
    source: program`
      model M(t: i32[4]) -> f32[4] {
        return gelu(t)
      }
    `,
    expect: [
      'broken.model:2:10: error MDC0303: gelu: x must have a float dtype, got i32[4]',
    ],
  },
  {
    name: 'adding f32 and i32',
    source: program`
      model M(x: f32[4], t: i32[4]) -> f32[4] {
        return x + t
      }
    `,
    expect: [
      'broken.model:2:10: error MDC0301: add: dtypes differ: f32[4] and i32[4]',
    ],
  },
  {
    name: 'embedding with float ids',
    source: program`
      model M(x: f32[4]) -> f32[4, 8] {
        param w: f32[16, 8]
        return embedding(w, x)
      }
    `,
    expect: [
      'broken.model:3:10: error MDC0302: embedding: ids must have an integer dtype (i32), got f32[4]',
    ],
  },
  {
    name: 'matmul of integers',
    source: program`
      model M(t: i32[4, 4]) -> i32[4, 4] {
        return t @ t
      }
    `,
    expect: [
      'broken.model:2:10: error MDC0303: matmul: a must have a float dtype, got i32[4, 4]',
    ],
  },
  {
    name: 'cross entropy with float labels',
    source: program`
      model M(x: f32[4, 10], y: f32[4]) -> f32[] {
        return cross_entropy(x, y)
      }
    `,
    expect: [
      'broken.model:2:10: error MDC0302: cross_entropy: labels must have an integer dtype (i32), got f32[4]',
    ],
  },
  {
    name: 'layer norm weight of another float type',
    source: program`
      model M(x: f32[4, 8]) -> f32[4, 8] {
        param g: f16[8]
        return layer_norm(x, g)
      }
    `,
    expect: [
      'broken.model:3:10: error MDC0301: layer_norm: dtypes differ: f32[4, 8] and f16[8]',
    ],
  },
  {
    name: 'concat of different dtypes',
    source: program`
      model M(x: f32[4, 8], y: i32[4, 8]) -> f32[8, 8] {
        return concat([x, y])
      }
    `,
    expect: [
      'broken.model:2:10: error MDC0301: concat: dtypes differ: f32[4, 8] and i32[4, 8]',
    ],
  },
  // --- returns, block arguments, unpacking
  {
    name: 'return shape differs from the signature',
    source: program`
      model M(x: f32[4, 8]) -> f32[4, 16] {
        return gelu(x)
      }
    `,
    expect: [
      'broken.model:2:10: error MDC0208: M returns f32[4, 8], but its signature says f32[4, 16]',
    ],
  },
  {
    name: 'return dtype differs from the signature',
    source: program`
      model M(x: f32[4, 8]) -> f16[4, 8] {
        return gelu(x)
      }
    `,
    expect: [
      'broken.model:2:10: error MDC0208: M returns f32[4, 8], but its signature says f16[4, 8]',
    ],
  },
  {
    name: 'return rank differs from the signature',
    source: program`
      model M(x: f32[4, 8]) -> f32[4, 8, 1] {
        return gelu(x)
      }
    `,
    expect: [
      'broken.model:2:10: error MDC0208: M returns f32[4, 8], but its signature says f32[4, 8, 1]',
    ],
  },
  {
    name: 'fewer return values than the signature has',
    source: program`
      model M(x: f32[4, 8]) -> (f32[4, 8], f32[4, 8]) {
        return x
      }
    `,
    expect: [
      'broken.model:2:3: error MDC0208: M returns 1 value(s), but its signature says 2 value(s)',
    ],
  },
  {
    name: 'returning a number',
    source: program`
      model M(x: f32[4, 8]) -> f32[4, 8] {
        return 3
      }
    `,
    expect: [
      'broken.model:2:10: error MDC0120: expected a tensor to return, got the integer 3',
    ],
  },
  {
    name: 'block argument of the wrong shape',
    source: program`
      block B(x: f32[4, 8]) -> f32[4, 8] { return x }
      model M(x: f32[4, 16]) -> f32[4, 8] {
        return B(x)
      }
    `,
    expect: [
      "broken.model:3:12: error MDC0209: B: argument 'x' expects f32[4, 8], got f32[4, 16]",
    ],
  },
  {
    name: 'block argument of the wrong rank',
    source: program`
      block B(x: f32[4, 8]) -> f32[4, 8] { return x }
      model M(x: f32[4]) -> f32[4, 8] {
        return B(x)
      }
    `,
    expect: [
      "broken.model:3:12: error MDC0209: B: argument 'x' expects f32[4, 8], got f32[4]",
    ],
  },
  {
    name: 'block argument of the wrong dtype',
    source: program`
      block B(x: f32[S, 8]) -> f32[S, 8] { return x }
      model M(x: f16[4, 8]) -> f32[4, 8] {
        return B(x)
      }
    `,
    expect: [
      "broken.model:3:12: error MDC0209: B: argument 'x' expects f32[4, 8], got f16[4, 8]",
    ],
  },
  {
    name: 'block argument that does not fit a repeated symbolic dim',
    source: program`
      block B(x: f32[S, S]) -> f32[S, S] { return x }
      model M(x: f32[4, 8]) -> f32[4, 4] {
        return B(x)
      }
    `,
    expect: [
      "broken.model:3:12: error MDC0209: B: argument 'x' expects f32[4, 4], got f32[4, 8]",
    ],
  },
  {
    name: 'a number passed as a block argument',
    source: program`
      block B(x: f32[4, 8]) -> f32[4, 8] { return x }
      model M(x: f32[4, 8]) -> f32[4, 8] {
        return B(2)
      }
    `,
    expect: [
      "broken.model:3:12: error MDC0209: B: argument 'x' expects f32[4, 8], got the integer 2",
    ],
  },
  {
    name: 'unpacking two values into three names',
    source: program`
      model M(x: f32[4, 8]) -> f32[4, 4] {
        let a, b, c = split(x, 2)
        return a
      }
    `,
    expect: [
      'broken.model:2:17: error MDC0114: cannot unpack 2 value(s) into 3 name(s)',
    ],
  },
  {
    name: 'unpacking two values into one name',
    source: program`
      model M(x: f32[4, 8]) -> f32[4, 4] {
        let a = split(x, 2)
        return a
      }
    `,
    expect: [
      'broken.model:2:3: error MDC0114: cannot unpack 2 value(s) into 1 name(s)',
    ],
  },
  {
    name: 'unpacking one tensor into two names',
    source: program`
      model M(x: f32[4, 8]) -> f32[4, 8] {
        let a, b = gelu(x)
        return a
      }
    `,
    expect: [
      'broken.model:2:14: error MDC0114: cannot unpack 1 value(s) into 2 name(s)',
    ],
  },
  {
    name: 'a block without a return',
    source: program`
      block B(x: f32[4]) -> f32[4] {
        let y = gelu(x)
      }
      model M(x: f32[4]) -> f32[4] { return B(x) }
    `,
    expect: [
      "broken.model:3:1: error MDC0113: block 'B' ends without a return statement",
    ],
  },
  {
    name: 'a model without a return',
    source: program`
      model M(x: f32[4]) -> f32[4] {
        let y = gelu(x)
      }
    `,
    expect: [
      "broken.model:3:1: error MDC0113: model 'M' ends without a return statement",
    ],
  },
  // --- layouts
  {
    name: 'layout axis misspelt, with a suggestion',
    source: program`
      mesh D = [dp: 2, tensor: 4]
      model M(x: f32[8@dp, 16@tensr]) -> f32[8, 16] {
        return x
      }
    `,
    expect: [
      "broken.model:2:25: error MDC0403: unknown mesh axis 'tensr': the meshes have dp, tensor; did you mean 'tensor'?",
    ],
  },
  {
    name: 'one mesh axis splitting two dims',
    source: program`
      mesh D = [dp: 2, tp: 4]
      model M(x: f32[8@tp, 16@tp]) -> f32[8, 16] {
        return x
      }
    `,
    expect: [
      "broken.model:2:25: error MDC0401: mesh axis 'tp' splits more than one dim of f32[8@tp, 16@tp]",
    ],
  },
  {
    name: 'one mesh axis splitting two dims, inside an axis group',
    source: program`
      mesh D = [dp: 2, tp: 4]
      model M(x: f32[8@(dp,tp), 16@dp]) -> f32[8, 16] {
        return x
      }
    `,
    expect: [
      "broken.model:2:30: error MDC0401: mesh axis 'dp' splits more than one dim of f32[8@(dp,tp), 16@dp]",
    ],
  },
  {
    name: 'one mesh axis listed twice for the same dim',
    source: program`
      mesh D = [dp: 2, tp: 4]
      model M(x: f32[8@(tp,tp), 16]) -> f32[8, 16] {
        return x
      }
    `,
    expect: [
      "broken.model:2:22: error MDC0404: mesh axis 'tp' is listed twice for dim 8",
    ],
  },
  {
    name: 'a split that does not divide its dim is an error, not a silent replication',
    source: program`
      mesh D = [dp: 2, tp: 4]
      model M(x: f32[8, 6@tp]) -> f32[8, 6] {
        return x
      }
    `,
    expect: [
      'broken.model:2:19: error MDC0402: dim 6 of f32[8, 6@tp] is not divisible by tp (4 devices)',
    ],
  },
  {
    name: 'a split over two axes that does not divide its dim',
    source: program`
      mesh D = [dp: 2, tp: 4]
      model M(x: f32[12@(dp,tp), 6]) -> f32[12, 6] {
        return x
      }
    `,
    expect: [
      'broken.model:2:16: error MDC0402: dim 12 of f32[12@(dp,tp), 6] is not divisible by dp×tp (8 devices)',
    ],
  },
  {
    name: 'a param split that does not divide a config dim',
    source: program`
      mesh D = [dp: 2, tp: 4]
      config C { d = 10 }
      model M(x: f32[8, d]) -> f32[8, d] {
        param w: f32[d, d@tp]
        return x @ w
      }
    `,
    expect: [
      'broken.model:4:19: error MDC0402: dim 10 of f32[d, d@tp] is not divisible by tp (4 devices)',
    ],
  },
  {
    name: 'a split that does not divide a dim given by the where clause',
    source: program`
      mesh D = [dp: 4]
      model M(x: f32[B@dp, 8]) -> f32[B, 8] where B = 6 {
        return x
      }
    `,
    expect: [
      'broken.model:2:16: error MDC0402: dim 6 of f32[B@dp, 8] is not divisible by dp (4 devices)',
    ],
  },
  {
    name: 'partial over an unknown mesh axis',
    source: program`
      mesh D = [dp: 2, tp: 4]
      model M(x: f32[8, 16] partial(pp)) -> f32[8, 16] {
        return x
      }
    `,
    expect: [
      "broken.model:2:31: error MDC0403: unknown mesh axis 'pp': the meshes have dp, tp; did you mean 'dp'?",
    ],
  },
  {
    name: 'a mesh axis of size zero',
    source: program`
      mesh D = [dp: 0]
      model M(x: f32[8]) -> f32[8] { return x }
    `,
    expect: [
      "broken.model:1:15: error MDC0210: mesh axis 'dp' must be a positive integer, got 0",
    ],
  },
  // --- train and infer sections
  {
    name: 'unknown train setting lists the known ones',
    source: program`
      model M(x: f32[4, 8]) -> f32[4, 8] { return x }
      train M { optimizer = adamw(lr = 3e-4); learning_rate = 0.1 }
    `,
    expect: [
      "broken.model:2:41: error MDC0501: train has no setting 'learning_rate': expected one of loss, optimizer, microbatches, zero, memory_budget, recompute, schedule, grad_clip, precision, steps, batch, seq, seed, warmup",
    ],
  },
  {
    name: 'unknown optimizer',
    source: program`
      model M(x: f32[4, 8]) -> f32[4, 8] { return x }
      train M { optimizer = adam(lr = 3e-4) }
    `,
    expect: [
      "broken.model:2:23: error MDC0502: unknown optimizer 'adam': expected adamw or sgd",
    ],
  },
  {
    name: 'unknown optimizer given as a bare name',
    source: program`
      model M(x: f32[4, 8]) -> f32[4, 8] { return x }
      train M { optimizer = adam }
    `,
    expect: [
      "broken.model:2:23: error MDC0502: unknown optimizer 'adam': expected adamw or sgd",
    ],
  },
  {
    name: 'optimizer given as a string',
    source: program`
      model M(x: f32[4, 8]) -> f32[4, 8] { return x }
      train M { optimizer = "adamw" }
    `,
    expect: [
      `broken.model:2:23: error MDC0120: expected an optimizer such as adamw(lr = 3e-4), got the string "adamw"`,
    ],
  },
  {
    name: 'train section for an unknown model, with a suggestion',
    source: program`
      model Gpt(x: f32[4, 8]) -> f32[4, 8] { return x }
      train GPT { optimizer = adamw(lr = 3e-4) }
    `,
    expect: [
      "broken.model:2:7: error MDC0127: unknown model 'GPT'; did you mean 'Gpt'?",
    ],
  },
  {
    name: 'unknown infer setting',
    source: program`
      model M(x: f32[4, 8]) -> f32[4, 8] { return x }
      infer M { max_tokens = 20, beam = 4 }
    `,
    expect: [
      "broken.model:2:28: error MDC0501: infer has no setting 'beam': expected one of kv_cache, max_tokens, sampling, temperature, top_k, top_p, seed, batch",
    ],
  },
  {
    name: 'infer section for an unknown model',
    source: program`
      model M(x: f32[4, 8]) -> f32[4, 8] { return x }
      infer N { max_tokens = 20 }
    `,
    expect: [
      "broken.model:2:7: error MDC0127: unknown model 'N'",
    ],
  },
  // --- presets and configs
  {
    name: 'unknown preset entry, with a suggestion from its config',
    source: program`
      config C { d = 8, heads = 2 }
      preset tiny for C { d = 4, head = 1 }
      model M(x: f32[4, d]) -> f32[4, d] { return x }
    `,
    expect: [
      "broken.model:2:28: error MDC0101: unknown constant 'head' in config C; did you mean 'heads'?",
    ],
  },
  {
    name: 'preset entry that belongs to another config',
    source: program`
      config C { d = 8 }
      config E { e = 8 }
      preset tiny for C { e = 4 }
      model M(x: f32[4, d]) -> f32[4, d] { return x }
    `,
    expect: [
      "broken.model:3:21: error MDC0101: unknown constant 'e' in config C: it belongs to config E",
    ],
  },
  {
    name: 'preset for an unknown config is reported once, not once per entry',
    source: program`
      config C { d = 8, heads = 2 }
      preset tiny for D { d = 4 }
      model M(x: f32[4, d]) -> f32[4, d] { return x }
    `,
    expect: [
      "broken.model:2:17: error MDC0101: unknown config 'D'",
    ],
  },
  {
    name: 'unknown entry in a preset without a base config',
    source: program`
      config C { d = 8 }
      preset tiny { dd = 4 }
      model M(x: f32[4, d]) -> f32[4, d] { return x }
    `,
    expect: [
      "broken.model:2:15: error MDC0101: unknown constant 'dd'; did you mean 'd'?",
    ],
  },
  {
    name: 'arithmetic on a boolean constant',
    source: program`
      config C { d = true + 1 }
      model M(x: f32[4, 8]) -> f32[4, 8] { return x }
    `,
    expect: [
      'broken.model:1:16: error MDC0120: expected numbers on both sides of +, got bool and int',
    ],
  },
  {
    name: 'a call in a config',
    source: program`
      config C { d = max(1, 2) }
      model M(x: f32[4, 8]) -> f32[4, 8] { return x }
    `,
    expect: [
      'broken.model:1:16: error MDC0121: expected a constant for a config value',
    ],
  },
  {
    name: 'a where clause giving zero',
    source: program`
      model M(x: f32[B, 8]) -> f32[B, 8] where B = 0 {
        return x
      }
    `,
    expect: [
      "broken.model:1:46: error MDC0210: dim 'B' must be a positive integer, got the integer 0",
    ],
  },
  {
    name: 'a where clause giving a fraction',
    source: program`
      model M(x: f32[B, 8]) -> f32[B, 8] where B = 2.5 { return x }
    `,
    expect: [
      "broken.model:1:46: error MDC0210: dim 'B' must be a positive integer, got the number 2.5",
    ],
  },
  {
    name: 'a where clause naming an unknown value is reported once',
    source: program`
      model M(x: f32[B, 8]) -> f32[B, 8] where B = Q {
        return x
      }
    `,
    expect: [
      "broken.model:1:46: error MDC0101: unknown name 'Q'",
    ],
  },
  {
    name: 'a symbolic dim without a value',
    via: 'lower',
    source: program`
      model M(x: f32[B, 8]) -> f32[B, 8] {
        return x
      }
    `,
    expect: [
      "broken.model:1:16: error MDC0125: symbolic dim 'B' has no value: give one with 'where B = N' or --dim B=N",
    ],
  },
  {
    name: 'a file without a model',
    via: 'lower',
    source: program`
      block L(x: f32[4, 8]) -> f32[4, 8] { return gelu(x) }
    `,
    expect: [
      "broken.model:1:1: error MDC0112: no model defined: a file needs at least one 'model' to compile",
    ],
  },
  {
    name: 'independent binding errors are all reported, in source order',
    source: program`
      config C { d = 8, d = 9 }
      block B(x: f32[4]) -> f32[4] { return x }
      block B(x: f32[4]) -> f32[4] { return x }
      model M(x: f32[4]) -> f32[4] { return x }
      train M { optimizer = adam, steps = 10, lr = 1 }
    `,
    expect: [
      "broken.model:1:19: error MDC0102: duplicate constant 'd' (first defined on line 1)",
      "broken.model:3:7: error MDC0102: duplicate block 'B' (first defined on line 2)",
      "broken.model:5:23: error MDC0502: unknown optimizer 'adam': expected adamw or sgd",
      "broken.model:5:41: error MDC0501: train has no setting 'lr': expected one of loss, optimizer, microbatches, zero, memory_budget, recompute, schedule, grad_clip, precision, steps, batch, seq, seed, warmup",
    ],
  },
];

describe('broken programs', () => {
  it('are many and uniquely named', () => {
    expect(cases.length).toBeGreaterThanOrEqual(45);
    expect(new Set(cases.map((c) => c.name)).size).toBe(cases.length);
  });

  it.each(cases.map((c) => [c.name, c] as const))('%s', (_, c) => {
    expect(diagnostics(c.source, c.via)).toEqual(c.expect);
  });
});

describe('diagnostic rendering', () => {
  it('shows the source line and underlines the span', () => {
    const source = program`
      model M(x: f32[4, 8]) -> f32[4, 8] {
        param w: f32[16, 8]
        return x @ w
      }
    `;
    const [d] = check(source, FILE).diagnostics;
    expect(formatDiagnostic(d!, source)).toBe([
      'broken.model:3:10: error MDC0203: matmul contraction dims differ: f32[4, 8] @ f32[16, 8] (8 ≠ 16)',
      '   |',
      ' 3 |   return x @ w',
      '   |          ^^^^^',
    ].join('\n'));
  });

  it('puts an end-of-file caret just past the last token', () => {
    const source = 'model M(x: f32[4]) -> f32[4] {\n  return gelu(x';
    const [d] = check(source, FILE).diagnostics;
    expect(formatDiagnostic(d!, source)).toBe([
      "broken.model:2:16: error MDC0002: syntax error: expected ')' but found end of file",
      '   |',
      ' 2 |   return gelu(x',
      '   |                ^',
    ].join('\n'));
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
      'broken.model:3:3: error MDC0002: syntax error: expected an expression but found \'let\'',
      'broken.model:4:3: error MDC0002: syntax error: expected an expression but found \'return\'',
      'broken.model:4:10: error MDC0002: syntax error: expected an expression but found \']\'',
      'broken.model:6:20: error MDC0002: syntax error: expected \'->\' but found \'f32\'',
      'broken.model:7:16: error MDC0002: syntax error: expected an expression but found \'}\'',
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
