import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { mdc } from '../support/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'mdc-usage-'));

describe('usage errors', () => {
  const cases: [string, string[], string][] = [
    [
      'an unknown option',
      ['check', 'samples/gpt2.model', '--presett', 'tiny'],
      "mdc: check has no option '--presett' (did you mean '--preset'?); its options are --help, --json, --preset, --set, --dim, --model",
    ],
    ['an option without its value', ['compile', 'samples/mlp.model', '--out'], 'mdc: --out needs a value, e.g. --out VALUE'],
    ['a switch given a value', ['check', 'samples/mlp.model', '--json=yes'], 'mdc: --json is a switch and takes no value'],
    [
      'an unknown preset',
      ['check', 'samples/gpt2.model', '--preset', 'tinny'],
      "mdc: --preset tinny: the file has no such preset (did you mean 'tiny'?); its presets: 'tiny'",
    ],
    [
      'an unknown constant',
      ['check', 'samples/gpt2.model', '--set', 'heads=2', '--set', 'layer=1'],
      "mdc: --set layer: the file has no config constant 'layer' (did you mean 'layers'?); its constants: 'vocab', 'ctx', 'd', 'heads', 'layers', 'ffn', 'eps'",
    ],
    [
      'an unknown symbolic dim',
      ['check', 'samples/gpt2.model', '--dim', 'T=16'],
      "mdc: --dim T: model GPT2 has no symbolic dim 'T'; its symbolic dims: 'B', 'S'",
    ],
    [
      'an unknown model',
      ['check', 'samples/gpt2.model', '--model', 'GPT3'],
      "mdc: --model GPT3: the file has no such model (did you mean 'GPT2'?); its models: 'GPT2'",
    ],
    ['an empty output folder', ['compile', 'samples/mlp.model', '-o', ''], 'mdc: -o needs a folder name, e.g. -o out'],
    ['fmt asked to write and check at once', ['fmt', 'samples/mlp.model', '--write', '--check'], 'mdc: fmt takes --write or --check, not both'],
    ['a search option without --auto', ['plan', 'samples/gpt2.model', '--memory-cap', '1GiB'], 'mdc: --memory-cap only applies with --auto'],
    ['a budget without recompute auto', ['plan', 'samples/gpt2.model', '--memory-budget', '1GiB'], 'mdc: --memory-budget only applies with --recompute auto'],
    ['no FILE', ['check'], 'mdc: check needs a FILE, e.g. mdc check samples/mlp.model'],
    ['a folder as FILE', ['check', 'samples'], "mdc: 'samples' is a directory; give a .model file"],
    [
      'an unknown command',
      ['chek', 'samples/mlp.model'],
      "mdc: unknown command 'chek'; the commands are check, compile, fmt, run, plan, train, generate, export, import, calibrate, lsp",
    ],
  ];
  for (const [what, args, message] of cases) {
    it(what, async () => {
      const r = await mdc(...args);
      expect(r.code).toBe(2);
      expect(r.err.split('\n')[0]).toBe(message);
      expect(r.err.split('\n')[1]).toMatch(/^Run 'mdc (\w+ )?--help' for usage\.$/);
    });
  }

  it('--inputs with a misspelt key names it and the inputs that exist', async () => {
    const f = join(dir, 'inputs.json');
    writeFileSync(f, JSON.stringify({ image: [1, 2, 3] }));
    const r = await mdc('run', 'samples/mlp.model', '--inputs', f);
    expect(r.code).toBe(2);
    expect(r.err.split('\n')[0]).toBe(`mdc: --inputs ${f} names 'image', which is not an input of Mlp; its inputs: 'x'`);
  });

  it('--inputs with an id outside the embedding table names the position and the range', async () => {
    const f = join(dir, 'tokens.json');
    const ids = new Array(2 * 64).fill(1);
    ids[5] = 1024;
    writeFileSync(f, JSON.stringify({ tokens: ids }));
    const r = await mdc('run', 'samples/gpt2.model', '--preset', 'tiny', '--inputs', f);
    expect(r.code).toBe(2);
    expect(r.err.split('\n')[0]).toBe(`mdc: --inputs ${f}: input 'tokens'[5] is 1024, outside its table's ids 0..1023 (i32[2, 64])`);
  });
});
