import { RuntimeError } from './executor.js';

/**
 * Text to token ids and back, for generation. Real tokenizers come from maintained
 * packages, never from code of ours: a Hugging Face `tokenizer.json` (GPT-2's byte-level
 * BPE, LLaMA's SentencePiece BPE, WordPiece, ...) through `@huggingface/tokenizers`. The
 * byte tokenizer is the one `mdc train` trains with (runtime/train.ts TextBatches): each
 * UTF-8 byte is its own id, 0..255.
 */
export interface TextTokenizer {
  /** What it is, for messages: `bytes` or the file it came from. */
  readonly name: string;
  /** One past the largest id it produces. */
  readonly vocabSize: number;
  encode(text: string): number[];
  /** Decodes ids; `decode` of a prefix of a sequence may end in the middle of a character. */
  decode(ids: readonly number[]): string;
  /** The end-of-text id, when the tokenizer has one. */
  readonly eos?: number;
}

export function byteTokenizer(): TextTokenizer {
  const dec = new TextDecoder();
  return {
    name: 'bytes',
    vocabSize: 256,
    encode: (text) => Array.from(new TextEncoder().encode(text)),
    // An id past 255 (a model whose vocabulary is larger than the bytes) shows as <id>.
    decode: (ids) => {
      let out = '';
      let run: number[] = [];
      const flush = () => {
        if (run.length) out += dec.decode(Uint8Array.from(run));
        run = [];
      };
      for (const id of ids) {
        if (id >= 0 && id < 256) run.push(id);
        else {
          flush();
          out += `<${id}>`;
        }
      }
      flush();
      return out;
    },
  };
}

/**
 * A tokenizer from the text of a Hugging Face `tokenizer.json` (and optionally its
 * `tokenizer_config.json`). Text that is not JSON, or JSON without a tokenizer model, is
 * refused with a message naming `name` before the package sees it.
 */
export async function tokenizerFromJson(text: string, name = 'tokenizer.json', configText?: string): Promise<TextTokenizer> {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new RuntimeError(`${name} is not a tokenizer file: it is not JSON (${(e as Error).message})`);
  }
  const model = (json as { model?: { type?: unknown; vocab?: unknown } } | null)?.model;
  if (typeof json !== 'object' || json === null || Array.isArray(json) || typeof model !== 'object' || model === null || !model.vocab)
    throw new RuntimeError(`${name} is not a tokenizer file: a Hugging Face tokenizer.json has a "model" object with a "vocab"`);
  let config: Record<string, unknown> = {};
  if (configText !== undefined) {
    try {
      config = JSON.parse(configText) as Record<string, unknown>;
    } catch (e) {
      throw new RuntimeError(`the tokenizer config is not JSON (${(e as Error).message})`);
    }
  }
  const { Tokenizer } = await import('@huggingface/tokenizers');
  let tok: InstanceType<typeof Tokenizer>;
  try {
    tok = new Tokenizer(json as never, config as never);
  } catch (e) {
    throw new RuntimeError(`${name} is not a tokenizer file the tokenizers package reads: ${(e as Error).message}`);
  }
  const vocab = model.vocab;
  const size = Array.isArray(vocab) ? vocab.length : Object.keys(vocab as object).length;
  const added = ((json as { added_tokens?: { id: number; content: string }[] }).added_tokens ?? []).filter((t) => Number.isInteger(t.id));
  const vocabSize = Math.max(size, ...added.map((t) => t.id + 1));
  const eosName = ['<|endoftext|>', '</s>', '<eos>'].find((n) => added.some((t) => t.content === n));
  const eos = eosName ? added.find((t) => t.content === eosName)!.id : undefined;
  return {
    name,
    vocabSize,
    encode: (text) => {
      const ids = tok.encode(text, { add_special_tokens: false }).ids;
      const bad = ids.findIndex((id: number) => !Number.isInteger(id));
      if (bad >= 0) throw new RuntimeError(`${name} gives no id for piece ${bad} of the text (a word outside its vocabulary, and no unknown token)`);
      return ids;
    },
    decode: (ids) => tok.decode([...ids], { skip_special_tokens: false }),
    ...(eos !== undefined ? { eos } : {}),
  };
}
