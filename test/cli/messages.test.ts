/**
 * Messages are mdc's and exit codes are right (issue 19 item 7): a byte-order mark, CR and
 * CRLF line ends, control characters from the source or the command line, malformed and
 * unknown front-end options, and --json failures. Each asserts the whole output.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatDiagnostic } from '../../diagnostics/format.js';
import { diag } from '../../diagnostics/messages.js';
import { LineIndex } from '../../diagnostics/span.js';
import { mdc } from '../support/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'mdc-messages-'));
let n = 0;
function file(text: string | Buffer, name = `f${n++}.model`): string {
  const f = join(dir, name);
  writeFileSync(f, text);
  return f;
}

const BOM = '\ufeff';

describe('a byte-order mark', () => {
  it('is accepted, and columns on the first line count from after it', async () => {
    const f = file(`${BOM}model M(x: f32[2, 4]) -> f32[2, 4] { return yy }\n`);
    const r = await mdc('check', f);
    expect(r.code).toBe(1);
    // 'yy' is the 45th character after the mark (hand count: 'model M(x: f32[2, 4]) -> f32[2, 4] { return ' is 44).
    expect(r.err).toBe(
      [
        `${f}:1:45: error MDC0101: unknown name 'yy'`,
        '   |',
        ' 1 | model M(x: f32[2, 4]) -> f32[2, 4] { return yy }',
        `   | ${' '.repeat(44)}^^`,
        '',
        '1 error.',
      ].join('\n'),
    );
    expect(await mdc('check', file(`${BOM}model M(x: f32[2, 4]) -> f32[2, 4] { return x }\n`))).toMatchObject({ code: 0, err: '' });
  });

  it('is kept by mdc fmt, which changes layout, not the encoding mark: --write and --check agree', async () => {
    const f = file(Buffer.from(`${BOM}model M(x: f32[2, 4]) -> f32[2, 4] {   return x }\n`, 'utf8'));
    const formatted = 'model M(x: f32[2, 4]) -> f32[2, 4] {\n  return x\n}\n';
    expect(await mdc('fmt', f, '--check')).toMatchObject({ code: 1, err: `${f}: not formatted` });
    expect((await mdc('fmt', f)).out).toBe(BOM + formatted.replace(/\n$/, ''));
    expect((await mdc('fmt', f, '--write')).code).toBe(0);
    const bytes = readFileSync(f);
    expect([...bytes.subarray(0, 3)]).toEqual([0xef, 0xbb, 0xbf]);
    expect(bytes.subarray(3).toString('utf8')).toBe(formatted);
    expect(await mdc('fmt', f, '--check')).toMatchObject({ code: 0, out: `${f}: formatted` });
  });
});

describe('line ends', () => {
  const lines = ['// a comment', 'config C { d = 4 }', 'model M(x: f32[2, d]) -> f32[2, d] {', '  return y // trailing', '}', ''];
  for (const [what, eol] of [
    ['LF', '\n'],
    ['CRLF', '\r\n'],
    ['CR only (old Mac)', '\r'],
  ] as const) {
    it(`${what}: the line, column and source line of a diagnostic`, async () => {
      const f = file(lines.join(eol));
      const r = await mdc('check', f);
      expect(r.code).toBe(1);
      expect(r.err).toBe([`${f}:4:10: error MDC0101: unknown name 'y'`, '   |', ' 4 |   return y // trailing', '   |          ^', '', '1 error.'].join('\n'));
    });

    it(`${what}: a lexer error is placed where the tokens are`, async () => {
      const f = file(['model M(x: f32[4]) -> f32[4] {', '  return x # y', '}', ''].join(eol));
      const r = await mdc('check', f);
      expect(r.err.split('\n').slice(0, 4)).toEqual([`${f}:2:12: error MDC0001: unexpected character '#'`, '   |', ' 2 |   return x # y', '   |            ^']);
    });

    it(`${what}: mdc fmt keeps every line and writes LF`, async () => {
      const f = file(lines.join(eol).replace('return y', 'return x'));
      expect((await mdc('fmt', f)).out).toBe('// a comment\nconfig C {\n  d = 4\n}\n\nmodel M(x: f32[2, d]) -> f32[2, d] {\n  return x // trailing\n}');
    });
  }
});

describe('control characters are shown escaped, never sent to the terminal', () => {
  it('in the source line under a diagnostic, with the caret under the escape', async () => {
    const f = file('model M(x: f32[2, 4]) -> f32[2, 4] {\n  return x\u001b[2J\n}\n');
    const r = await mdc('check', f);
    expect(r.code).toBe(1);
    expect(r.err).toBe(
      [`${f}:2:11: error MDC0001: unexpected character U+001B`, '   |', ' 2 |   return x\\u001b[2J', `   | ${' '.repeat(10)}^^^^^^`, '', '1 error.'].join('\n'),
    );
  });

  it('in a message quoting a string from the source', async () => {
    const f = file('model M(x: f32[2, 4]) -> f32[2, 4] {\n  return gelu(x, approximate = "\u001b]0;owned\u0007")\n}\n');
    const r = await mdc('check', f);
    expect(r.err.split('\n')[0]).toBe(`${f}:2:18: error MDC0130: unknown value '\\u001b]0;owned\\u0007' for gelu's 'approximate' (expected none or tanh)`);
  });

  it('in a file name and in option values', async () => {
    const f = file('model M(x: f32[4]) -> f32[4] { return y }\n', 'bad\u001b[31mname.model');
    const shown = f.replace('\u001b', '\\u001b');
    expect((await mdc('check', f)).err.split('\n')[0]).toBe(`${shown}:1:39: error MDC0101: unknown name 'y'`);
    expect(await mdc('fmt', f, '--check')).toMatchObject({ code: 1, err: `${shown}: not formatted` });
    const ok = file('model M(x: f32[4]) -> f32[4] {\n  return x\n}\n', 'ok\u0007.model');
    expect(await mdc('check', ok)).toEqual({ code: 0, out: `${ok.replace('\u0007', '\\u0007')}: ok`, err: '' });
    const p = await mdc('check', 'samples/gpt2.model', '--preset', '\u001b[2Jtiny');
    expect(p).toMatchObject({ code: 2, out: '' });
    expect(p.err).toBe("mdc: --preset \\u001b[2Jtiny: the file has no such preset; its presets: 'tiny'\nRun 'mdc check --help' for usage.");
    const s = await mdc('check', 'samples/gpt2.model', '--set', 'd=\u009b2J');
    expect(s.err.split('\n')[0]).toBe("mdc: --set expects NAME=NUMBER, got 'd=\\u009b2J'");
  });

  it('including bidirectional overrides, in any formatted diagnostic', () => {
    const source = 'let s = "\u202eabc"\n';
    const d = diag('a\u0007.model', new LineIndex(source).span(8, 14), 'MDC0130', 'x', '\u202eabc\n1:1: error');
    expect(formatDiagnostic(d, source).split('\n')).toEqual([
      "a\\u0007.model:1:9: error MDC0130: unknown value '\\u202eabc\\u000a1:1: error' for x",
      '   |',
      ' 1 | let s = "\\u202eabc"',
      `   | ${' '.repeat(8)}^^^^^^^^^^^`,
    ]);
  });
});

describe('front-end options that are malformed or name nothing are usage errors (exit 2) saying what exists', () => {
  const twoPresets = () =>
    file('config C { d = 4 }\npreset tiny for C { d = 2 }\npreset small for C { d = 3 }\nmodel M(x: f32[B, d]) -> f32[B, d] where B = 2 { return x }\n');
  const cases: [string, () => string[], string][] = [
    ['--set without a value', () => ['check', 'samples/gpt2.model', '--set', 'd'], "--set expects NAME=NUMBER, got 'd'"],
    ['--set with a word for a value', () => ['check', 'samples/gpt2.model', '--set', 'd=abc'], "--set expects NAME=NUMBER, got 'd=abc'"],
    ['--set with an empty value', () => ['check', 'samples/gpt2.model', '--set', 'd='], "--set expects NAME=NUMBER, got 'd='"],
    ['--set overflowing to infinity', () => ['check', 'samples/gpt2.model', '--set', 'd=1e400'], "--set expects NAME=NUMBER, got 'd=1e400'"],
    ['--dim negative', () => ['check', 'samples/gpt2.model', '--dim', 'B=-1'], '--dim B must be a positive integer, got -1'],
    ['--dim zero', () => ['check', 'samples/gpt2.model', '--dim', 'S=0'], '--dim S must be a positive integer, got 0'],
    ['--dim fractional', () => ['check', 'samples/gpt2.model', '--dim', 'B=1.5'], '--dim B must be a positive integer, got 1.5'],
    ['--dim past 2^53', () => ['check', 'samples/gpt2.model', '--dim', 'B=1e300'], '--dim B=1e+300 is too large: a dim is at most 9007199254740991 (2^53 - 1)'],
    [
      '--preset of a file with several',
      () => ['check', twoPresets(), '--preset', 'huge'],
      "--preset huge: the file has no such preset; its presets: 'tiny', 'small'",
    ],
    [
      '--preset of a file with none',
      () => ['check', file('model M(x: f32[4]) -> f32[4] { return x }\n'), '--preset', 'tiny'],
      '--preset tiny: the file has no such preset; its presets: none',
    ],
    [
      '--dim of a model without symbolic dims',
      () => ['check', file('model M(x: f32[4]) -> f32[4] { return x }\n'), '--dim', 'B=2'],
      "--dim B: model M has no symbolic dim 'B'; its symbolic dims: none",
    ],
    [
      '--model unknown under compile',
      () => ['compile', twoPresets(), '--model', 'N', '-o', join(dir, 'never')],
      "--model N: the file has no such model; its models: 'M'",
    ],
    [
      '--set unknown under plan',
      () => ['plan', 'samples/gpt2.model', '--set', 'heads=2,dd=3'],
      "--set dd: the file has no config constant 'dd' (did you mean 'd'?); its constants: 'vocab', 'ctx', 'd', 'heads', 'layers', 'ffn', 'eps'",
    ],
    [
      '--preset unknown under run',
      () => ['run', 'samples/gpt2.model', '--preset', 'small'],
      "--preset small: the file has no such preset; its presets: 'tiny'",
    ],
  ];
  for (const [what, args, message] of cases) {
    it(what, async () => {
      const a = args();
      const r = await mdc(...a);
      expect(r).toEqual({ code: 2, out: '', err: `mdc: ${message}\nRun 'mdc ${a[0]} --help' for usage.` });
    });
  }
});

describe('--json failures are JSON, on stdout, in one shape', () => {
  const usage = (message: string) => JSON.stringify({ ok: false, error: { kind: 'usage', message } }, null, 2);
  for (const cmd of ['check', 'compile', 'fmt', 'run', 'plan', 'train']) {
    it(`${cmd}: an unknown option`, async () => {
      const r = await mdc(cmd, 'samples/mlp.model', '--json', '--frobnicate');
      expect(r.code).toBe(2);
      expect(r.err).toBe('');
      const { message } = JSON.parse(r.out).error as { message: string };
      expect(message).toMatch(new RegExp(`^${cmd} has no option '--frobnicate'; its options are --help, --json, `));
      expect(r.out).toBe(usage(message));
    });
  }

  it('a missing FILE, an unknown command and an unknown preset', async () => {
    expect(await mdc('check', '--json')).toEqual({ code: 2, out: usage('check needs a FILE, e.g. mdc check samples/mlp.model'), err: '' });
    expect(await mdc('chek', 'samples/mlp.model', '--json')).toEqual({
      code: 2,
      out: usage("unknown command 'chek'; the commands are check, compile, fmt, run, plan, train, generate, export, import, calibrate, lsp"),
      err: '',
    });
    expect(await mdc('compile', 'samples/gpt2.model', '--json', '--preset', 'huge', '-o', join(dir, 'never'))).toEqual({
      code: 2,
      out: usage("--preset huge: the file has no such preset; its presets: 'tiny'"),
      err: '',
    });
  });

  it('a runtime error (exit 1) has the same shape; a --json after -- is a FILE, not the option', async () => {
    const r = await mdc('plan', 'samples/gpt2.model', '--preset', 'tiny', '--auto', '--memory-cap', '1KiB', '--json');
    expect(r.code).toBe(1);
    expect(JSON.parse(r.out)).toEqual({
      ok: false,
      error: {
        kind: 'runtime',
        message:
          'no plan keeps the parameters and their training state within the memory cap of 0.00 MiB (1024 bytes) per device: ' +
          'the least any plan needs is 1.04 MiB (1088512 bytes) per device, with each parameter split as finely as the mesh allows; ' +
          'raise the cap (--memory-cap) to at least that, or use a mesh of more devices',
      },
    });
    expect(await mdc('check', '--', '--json')).toEqual({ code: 2, out: '', err: "mdc: cannot read '--json': no such file\nRun 'mdc check --help' for usage." });
  });

  it('mdc fmt --json reports its result as JSON too', async () => {
    const f = file('model M(x: f32[4]) -> f32[4] {   return x }\n');
    expect(JSON.parse((await mdc('fmt', f, '--json', '--check')).out)).toEqual({ file: f, ok: false, formatted: false, diagnostics: [] });
    expect(JSON.parse((await mdc('fmt', f, '--json')).out)).toEqual({
      file: f,
      ok: true,
      text: 'model M(x: f32[4]) -> f32[4] {\n  return x\n}\n',
      diagnostics: [],
    });
    expect(JSON.parse((await mdc('fmt', f, '--json', '--write')).out)).toEqual({ file: f, ok: true, written: true, diagnostics: [] });
    expect(JSON.parse((await mdc('fmt', f, '--json', '--check')).out)).toEqual({ file: f, ok: true, formatted: true, diagnostics: [] });
  });
});
