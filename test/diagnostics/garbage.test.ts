import { describe, expect, it } from 'vitest';
import { check, lower } from '../../compiler/compile.js';
import type { Diagnostic } from '../../diagnostics/messages.js';
import { malformedDiagnostics } from './well-formed.js';

/**
 * Garbage in, a diagnostic out: binary data, pathological nesting and sizes must each
 * come back from `check()` (and `lower()`) with at least one coded, located diagnostic,
 * never an exception and never a hang. The time bound is deliberately loose (a slow CI
 * machine must not fail it); it exists to catch runaway work, not to benchmark.
 */

const GENEROUS_MS = 20_000;

function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Runs both entry points; returns check()'s diagnostics after asserting the contract on both. */
function refuse(source: string): Diagnostic[] {
  const t0 = performance.now();
  const checked = check(source, 'garbage.model');
  const lowered = lower(source, 'garbage.model');
  expect(performance.now() - t0).toBeLessThan(GENEROUS_MS);
  for (const r of [checked, lowered]) {
    expect(r.diagnostics.length).toBeGreaterThan(0);
    expect(malformedDiagnostics(source, r.diagnostics)).toEqual([]);
  }
  return [...checked.diagnostics];
}

const codes = (ds: readonly Diagnostic[]) => [...new Set(ds.map((d) => d.code))];
const MODEL = (body: string) => `model M(x: f32[4]) -> f32[4] {\n  let y = ${body}\n  return y\n}\n`;

describe('garbage input', () => {
  it('random binary bytes: refused as not text', () => {
    const rnd = prng(1);
    const bytes = Array.from({ length: 64 * 1024 }, () => String.fromCharCode(Math.floor(rnd() * 256))).join('');
    expect(bytes.includes('\u0000')).toBe(true);
    expect(codes(refuse(bytes))).toEqual(['MDC0008']);
  });

  it('random bytes without NULs: unexpected characters, capped', () => {
    const rnd = prng(2);
    const bytes = Array.from({ length: 64 * 1024 }, () => String.fromCharCode(1 + Math.floor(rnd() * 255))).join('');
    const ds = refuse(bytes);
    expect(ds.length).toBeLessThanOrEqual(51);
    expect(ds.at(-1)!.code).toBe('MDC0006');
  });

  it('random UTF-16 code units, lone surrogates included', () => {
    const rnd = prng(3);
    const text = Array.from({ length: 16 * 1024 }, () => String.fromCharCode(1 + Math.floor(rnd() * 0xffff))).join('');
    expect(refuse(text).length).toBeGreaterThan(0);
  });

  it('NUL bytes, alone and inside a program', () => {
    expect(refuse('\u0000'.repeat(1000)).map((d) => `${d.code} ${d.span.line}:${d.span.col}`)).toEqual(['MDC0008 1:1']);
    const ds = refuse('model M(x: f32[4]) -> f32[4] {\n  return x\u0000\n}\n');
    expect(ds.map((d) => `${d.code} ${d.span.line}:${d.span.col}`)).toEqual(['MDC0008 2:11']);
  });

  it('an unterminated comment, alone and after a valid model', () => {
    expect(refuse('/*').map((d) => `${d.code} ${d.span.line}:${d.span.col}`)).toEqual(['MDC0003 1:1']);
    expect(refuse('/*/').map((d) => d.code)).toEqual(['MDC0003']);
    const ds = refuse('model M(x: f32[4]) -> f32[4] { return x }\n/* trailing\n' + 'x'.repeat(10_000));
    expect(ds.map((d) => `${d.code} ${d.span.line}:${d.span.col}`)).toEqual(['MDC0003 2:1']);
  });

  for (const [name, open, close] of [
    ['parentheses', '(', ')'],
    ['brackets', '[', ']'],
    ['braces', '{', '}'],
  ] as const) {
    it(`5,000-deep ${name}, balanced and unbalanced`, () => {
      const balanced = refuse(MODEL(open.repeat(5000) + 'x' + close.repeat(5000)));
      expect(codes(balanced)).toEqual(['MDC0005']);
      expect(codes(refuse(open.repeat(5000)))).toEqual(['MDC0005']);
    });
  }

  it('deep chains of right-recursive operators: **, prefix minus, minus in a dim', () => {
    expect(codes(refuse(MODEL(Array(5000).fill('x').join(' ** '))))).toEqual(['MDC0005']);
    expect(codes(refuse(MODEL('-'.repeat(50_000) + 'x')))).toEqual(['MDC0005']);
    expect(codes(refuse(`model M(x: f32[${'-'.repeat(5000)}4]) -> f32[4] { return x }\n`))).toEqual(['MDC0005']);
  });

  it('long left-associative chains, in a body, a dim and a config, are too long (a size limit), not too deep', () => {
    expect(codes(refuse(MODEL(Array(20_000).fill('x').join(' + '))))).toEqual(['MDC0009']);
    expect(codes(refuse(`model M(x: f32[${Array(20_000).fill('1').join(' + ')}]) -> f32[4] { return x }\n`))).toEqual(['MDC0009']);
    expect(codes(refuse(`config C { d = ${Array(20_000).fill('1').join(' * ')} }\nmodel M(x: f32[4]) -> f32[4] { return x }\n`))).toEqual(['MDC0009']);
  });

  it('thousands of blocks calling each other in a chain', () => {
    const n = 5000;
    const blocks = Array.from({ length: n }, (_, i) => `block B${i}(x: f32[4]) -> f32[4] { return ${i ? `B${i - 1}(x)` : 'x'} }`);
    expect(codes(refuse(`${blocks.join('\n')}\nmodel M(x: f32[4]) -> f32[4] { return B${n - 1}(x) }\n`))).toEqual(['MDC0901']);
  });

  it('thousands of config constants each defined by the next', () => {
    const n = 10_000;
    const entries = Array.from({ length: n }, (_, i) => `c${i} = ${i < n - 1 ? `c${i + 1}` : '1'}`);
    expect(codes(refuse(`config C { ${entries.join(', ')} }\nmodel M(x: f32[4]) -> f32[4] { return x }\n`))).toEqual(['MDC0901']);
  });

  it('a 100 kB identifier, alone and where a value is expected', () => {
    const name = 'a'.repeat(100 * 1024);
    expect(codes(refuse(name))).toEqual(['MDC0002']);
    expect(codes(refuse(MODEL(name)))).toEqual(['MDC0101']);
  });

  it('half a megabyte of random tokens', () => {
    const rnd = prng(4);
    const tokens = [
      'model',
      'block',
      'config',
      'mesh',
      'let',
      'return',
      'param',
      'repeat',
      'where',
      '(',
      ')',
      '{',
      '}',
      '[',
      ']',
      'x',
      'f32',
      'i32',
      ',',
      ':',
      '->',
      '=',
      '@',
      '+',
      '-',
      '*',
      '**',
      '1',
      '2.5',
      '"s"',
      ';',
      '@pipeline',
      '\n',
    ];
    let text = '';
    while (text.length < 512 * 1024) text += tokens[Math.floor(rnd() * tokens.length)] + ' ';
    const ds = refuse(text);
    expect(ds.length).toBeLessThanOrEqual(51);
  });

  it('half a megabyte of one broken statement repeated', () => {
    const body = '  let y = x + + x\n'.repeat(Math.ceil((512 * 1024) / 18));
    const ds = refuse(`model M(x: f32[4]) -> f32[4] {\n${body}  return x\n}\n`);
    expect(ds).toHaveLength(51);
    expect(ds.at(-1)!.code).toBe('MDC0006');
  });

  it('a huge string or name is quoted by its first 200 characters and its length, not printed back whole', () => {
    const long = 's'.repeat(5000);
    const ds = refuse(`model M(x: f32[4]) -> f32[4] {\n  return gelu(x, approximate = "${long}")\n}\n`);
    expect(ds.map((d) => d.message)).toEqual([`unknown value '${'s'.repeat(200)}… (5000 characters)' for gelu's 'approximate' (expected none or tanh)`]);
    const name = 'n'.repeat(3000);
    const named = refuse(`model M(x: f32[4]) -> f32[4] {\n  return ${name}\n}\n`);
    expect(named.every((d) => d.message.length < 400)).toBe(true);
    expect(named[0]!.message).toContain(`… (3000 characters)`);
  });
});
