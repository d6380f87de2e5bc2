/**
 * Every diagnostic in the catalog (diagnostics/messages.ts) is produced by at least one case
 * in test/cases: a code no case produces is either untested or dead. The codes are read
 * from the cases' expected diagnostics (`expected.txt`, `expect-diagnostics.txt`), which
 * test/golden.test.ts checks against what the compiler prints.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { messages } from '../../diagnostics/messages.js';

const ROOT = 'test/cases';
const FILES = ['expected.txt', 'expect-diagnostics.txt'];
/** `file:line:col: severity MDCxxxx: message`, the first line of a formatted diagnostic. */
const HEAD = /^[^\n:]+:\d+:\d+: (?:error|warning|info) (MDC\d{4}): /gm;

function casesProducing(): Map<string, string[]> {
  const byCode = new Map<string, string[]>();
  for (const name of readdirSync(ROOT).sort()) {
    for (const f of FILES) {
      const file = join(ROOT, name, f);
      if (!existsSync(file)) continue;
      for (const m of readFileSync(file, 'utf8').matchAll(HEAD)) {
        const list = byCode.get(m[1]!) ?? [];
        if (!list.includes(name)) list.push(name);
        byCode.set(m[1]!, list);
      }
    }
  }
  return byCode;
}

describe('diagnostic codes', () => {
  const produced = casesProducing();
  const catalog = Object.keys(messages);

  it('every code in the catalog is produced by some case in test/cases', () => {
    expect(catalog.filter((c) => !produced.has(c))).toEqual([]);
  });

  it('every code the cases expect is in the catalog', () => {
    expect([...produced.keys()].filter((c) => !catalog.includes(c)).sort()).toEqual([]);
  });
});
