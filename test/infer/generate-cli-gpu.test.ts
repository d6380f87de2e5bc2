/**
 * Generation as users meet it: `mdc generate` (streamed text, JSON with the token ids),
 * `pipeline('text-generation', ...)`, tokenizers from the tokenizers package loaded from a
 * tokenizer.json written here by hand, and the refusals of a tokenizer file that is not one.
 * The GPT-2 sample at tiny size with a cache of 16 positions keeps the device work small.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../../cli/main.js';
import { pipeline } from '../../driver/text-generation.js';
import { tokenizerFromJson } from '../../runtime/tokenizer.js';
import { destroySharedDevices, gpuStatus, sharedDevice } from '../support/gpu.js';

const status = await gpuStatus();
afterAll(destroySharedDevices);

const dir = mkdtempSync(join(tmpdir(), 'mdc-generate-'));
const WORDS = { hello: 0, world: 1, '[UNK]': 2, '<|endoftext|>': 3, again: 4 };
const tokenizerJson = JSON.stringify({
  version: '1.0',
  added_tokens: [{ id: 3, content: '<|endoftext|>', special: true, single_word: false, lstrip: false, rstrip: false, normalized: false }],
  normalizer: null,
  pre_tokenizer: { type: 'Whitespace' },
  post_processor: null,
  decoder: null,
  model: { type: 'WordLevel', vocab: WORDS, unk_token: '[UNK]' },
});

async function cli(...args: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(args, { out: (s) => out.push(s), err: (s) => err.push(s) });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

describe('tokenizers', () => {
  it('reads a tokenizer.json through the tokenizers package', async () => {
    const t = await tokenizerFromJson(tokenizerJson);
    expect(t.encode('hello world again')).toEqual([0, 1, 4]);
    expect(t.decode([1, 0])).toBe('world hello');
    expect(t.eos).toBe(3);
    expect(t.vocabSize).toBe(5);
  });

  it('refuses files that are not tokenizers', async () => {
    await expect(tokenizerFromJson('{"version": 1', 'x.json')).rejects.toThrow('x.json is not a tokenizer file: it is not JSON');
    await expect(tokenizerFromJson('{"name": "mdc"}', 'package.json')).rejects.toThrow(
      'package.json is not a tokenizer file: a Hugging Face tokenizer.json has a "model" object with a "vocab"',
    );
  });
});

describe('mdc generate --time-limit', () => {
  it('refuses a limit that is not a positive number of seconds, as mdc run does, before any device work', async () => {
    for (const bad of ['0', '-3', 'soon', 'Infinity', '']) {
      const r = await cli('generate', 'samples/gpt2.model', '--preset', 'tiny', '--prompt', 'Hi', `--time-limit=${bad}`);
      expect(r.code).toBe(2);
      expect(r.out).toBe('');
      expect(r.err.split('\n')[0]).toBe(`mdc: --time-limit must be a positive number of seconds, not '${bad}'`);
    }
  });
});

describe.skipIf(status.skip)(status.title('mdc generate and pipeline on WebGPU'), () => {
  it('mdc generate --time-limit reaches the session: a generous limit generates, a microsecond one stops the run, exit 1', async () => {
    const args = ['generate', 'samples/gpt2.model', '--preset', 'tiny', '--max-seq', '16', '--prompt', 'Hi', '--max-new-tokens', '2', '--json'];
    const ok = await cli(...args, '--time-limit', '120');
    expect(ok.code).toBe(0);
    expect((JSON.parse(ok.out) as { tokens: number[] }).tokens).toHaveLength(2);
    // With the default 60 s the same call succeeds (above), so this failure is the option's doing.
    const late = await cli(...args, '--time-limit', '0.000001');
    expect(late.code).toBe(1);
    const error = (JSON.parse(late.out) as { error: { message: string } }).error.message;
    expect(error).toMatch(/did not finish within 0\.000001 s; the run is abandoned, .* \(a longer limit: timeLimitMs, mdc run or mdc generate --time-limit\)$/);
  });

  it('mdc generate prints the prompt and its continuation; the same seed gives the same tokens', async () => {
    const args = ['generate', 'samples/gpt2.model', '--preset', 'tiny', '--max-seq', '16', '--prompt', 'Hi', '--max-new-tokens', '5'];
    const a = await cli(...args, '--temperature', '1', '--seed', '4', '--json');
    expect(a.code).toBe(0);
    const ja = JSON.parse(a.out) as { tokens: number[]; text: string };
    expect(ja.tokens).toHaveLength(5);
    const b = JSON.parse((await cli(...args, '--temperature', '1', '--seed', '4', '--json')).out) as { tokens: number[] };
    expect(b.tokens).toEqual(ja.tokens);
    const plain = await cli(...args);
    expect(plain.code).toBe(0);
    expect(plain.out.startsWith('Hi')).toBe(true);
  });

  it('mdc generate refuses a tokenizer file that is not one, and a prompt longer than max_seq', async () => {
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, 'not json');
    const r = await cli('generate', 'samples/gpt2.model', '--preset', 'tiny', '--prompt', 'Hi', '--tokenizer', bad);
    expect(r.code).toBe(1);
    expect(r.err).toContain('is not a tokenizer file: it is not JSON');
    const long = await cli('generate', 'samples/gpt2.model', '--preset', 'tiny', '--max-seq', '4', '--prompt', 'Hello');
    expect(long.code).toBe(1);
    expect(long.err).toContain('prompt 0 has 5 tokens, more than max_seq = 4');
  });

  it("pipeline('text-generation') continues text with a tokenizer.json; its stream is the call's text piece by piece", async () => {
    const tokenizer = await tokenizerFromJson(tokenizerJson);
    const gen = await pipeline('text-generation', 'samples/gpt2.model', { preset: 'tiny', maxSeq: 16, batch: 1, tokenizer, device: await sharedDevice() });
    try {
      const [first] = await gen('hello world', { max_new_tokens: 4 });
      expect(first!.generated_text.startsWith('hello world')).toBe(true);
      const pieces: string[] = [];
      for await (const p of gen.stream('hello', { max_new_tokens: 6, temperature: 1, seed: 9 })) pieces.push(p);
      const again = (await gen('hello', { max_new_tokens: 6, temperature: 1, seed: 9 }))[0]!.generated_text;
      expect(again).toBe('hello' + pieces.join(''));
    } finally {
      gen.dispose();
    }
  });
});
