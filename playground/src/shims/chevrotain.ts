/**
 * grammar/chevrotain.ts for the browser: that module finds Chevrotain's single-file bundle
 * through Node's module resolution (node:module, node:path, node:url); a bundler resolves
 * the package itself, so here it is a plain re-export. vite.config.ts puts this file in
 * place of grammar/chevrotain.ts.
 */
export { createToken, Lexer, CstParser, EOF } from 'chevrotain';
