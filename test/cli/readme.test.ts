import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { check } from '../../compiler/compile.js';

describe('README', () => {
  const text = readFileSync('README.md', 'utf8');

  it('starts a newcomer in two commands: one compiles a sample, one runs the tests', () => {
    const quick = /## Quick start\s+```sh\n([\s\S]*?)```/.exec(text)![1]!.trim().split('\n');
    expect(quick).toHaveLength(2);
    expect(quick[0]).toMatch(/compile samples\/\S+\.model/);
    expect(quick[1]).toBe('npm test');
    expect(readFileSync('.ci/run', 'utf8')).toMatch(/\bnpm test\b/);
  });

  it('has a language example that mdc accepts', () => {
    const example = /## The language\s+```\n([\s\S]*?)```/.exec(text)![1]!;
    expect(check(example, 'README.md').diagnostics).toEqual([]);
  });
});
