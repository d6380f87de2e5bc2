/**
 * Chevrotain, loaded from the single-file ESM bundle its package ships instead of its
 * package entry. The entry imports lodash-es module by module, which took about 260 ms
 * of every `mdc check` here (most of the command's time); the bundle is the same
 * release built into one file and loads in about 10 ms. Types still come from the
 * package entry.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type * as Chevrotain from 'chevrotain';

const entry = createRequire(import.meta.url).resolve('chevrotain');
const bundle = pathToFileURL(join(dirname(entry), '..', 'chevrotain.min.mjs')).href;
const chevrotain = (await import(bundle)) as typeof Chevrotain;

export const { createToken, Lexer, CstParser, EOF } = chevrotain;
