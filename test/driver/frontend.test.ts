import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { compile } from '../../driver/compile.js';
import { OptionError } from '../../driver/frontend.js';

const mlp = readFileSync('samples/mlp.model', 'utf8');

describe('compile() refuses options that name nothing in the file', () => {
  it.each([
    [{ preset: 'huge' }, "preset huge: the file has no such preset; its presets: 'tiny'"],
    [{ overrides: { hiden: 8 } }, "set hiden: the file has no config constant 'hiden' (did you mean 'hidden'?); its constants: 'inputs', 'hidden', 'classes'"],
    [{ dims: { S: 4 } }, "dim S: model Mlp has no symbolic dim 'S'; its symbolic dims: 'B'"],
    [{ model: 'MLP' }, "model MLP: the file has no such model (did you mean 'Mlp'?); its models: 'Mlp'"],
  ])('%j', async (opts, message) => {
    const r = compile(mlp, 'mlp.model', opts);
    await expect(r).rejects.toThrow(OptionError);
    await expect(r).rejects.toThrow(message);
  });

  it('a file that does not parse reports its syntax errors instead', async () => {
    const r = await compile('model M(', 'bad.model', { dims: { Q: 1 } });
    expect(r.diagnostics[0]?.code).toBe('MDC0002');
  });
});
