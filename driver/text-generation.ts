/// <reference types="@webgpu/types" />
/**
 * `pipeline('text-generation', model)`, as Hugging Face users know it: compile a model's
 * prefill and decode plans (driver/infer.ts), put them on a device with weights, and turn
 * text into more text through a tokenizer.
 *
 *     const generator = await pipeline('text-generation', 'samples/gpt2.model', { preset: 'tiny', weights });
 *     const [{ generated_text }] = await generator('Once upon a time', { max_new_tokens: 20 });
 *     for await (const piece of generator.stream('Once', { temperature: 0.8, seed: 1 })) process.stdout.write(piece);
 */
import { formatDiagnostic } from '../diagnostics/format.js';
import { InferenceSession, type GenerateOptions } from '../runtime/generate.js';
import { byteTokenizer, type TextTokenizer } from '../runtime/tokenizer.js';
import { compileInference, type InferOptions } from './infer.js';

export interface TextGenerationOptions extends InferOptions {
  /** The device; default: a Node device from the `webgpu` package. */
  readonly device?: GPUDevice;
  /** Weights by parameter name; default: the plan's seeded initialisation. */
  readonly weights?: ReadonlyMap<string, Float32Array>;
  /** Default: UTF-8 bytes, the tokens `mdc train` trains on. */
  readonly tokenizer?: TextTokenizer;
}

/** Options of one call: generate()'s, with stop sequences as text too. */
export type TextCallOptions = Omit<GenerateOptions, 'stop'> & { readonly stop?: readonly (string | number)[] } & Record<string, unknown>;

export interface TextGenerator {
  (text: string, options?: TextCallOptions): Promise<{ generated_text: string }[]>;
  /** The new text piece by piece as tokens come (a piece may be empty while a character is incomplete). */
  stream(text: string, options?: TextCallOptions): AsyncGenerator<string>;
  readonly session: InferenceSession;
  readonly tokenizer: TextTokenizer;
  dispose(): void;
}

export async function pipeline(
  task: 'text-generation',
  model: string | { source: string; file: string },
  opts: TextGenerationOptions = {},
): Promise<TextGenerator> {
  if (task !== 'text-generation') throw new Error(`pipeline: unknown task '${String(task)}' (mdc has 'text-generation')`);
  const { source, file } = typeof model === 'string' ? { source: (await import('node:fs')).readFileSync(model, 'utf8'), file: model } : model;
  const c = await compileInference(source, file, opts);
  if (!c.plans) throw new Error(c.diagnostics.map((d) => formatDiagnostic(d, source)).join('\n'));
  const tokenizer = opts.tokenizer ?? byteTokenizer();
  if (tokenizer.vocabSize > c.plans.vocab)
    throw new Error(`the tokenizer ${tokenizer.name} has ${tokenizer.vocabSize} ids, more than the model's vocabulary of ${c.plans.vocab}`);
  const device = opts.device ?? (await (await import('../runtime/node.js')).nodeDevice()).device;
  const session = await InferenceSession.create(device, c.plans, opts.weights ? { params: opts.weights } : {});
  const plain = (o: TextCallOptions): { gen: GenerateOptions; texts: string[] } => {
    const stop = o.stop ?? [];
    const ids = stop.filter((s): s is number => typeof s === 'number');
    const texts = stop.filter((s): s is string => typeof s === 'string');
    return { gen: { ...o, stop: [...ids, ...(tokenizer.eos !== undefined ? [tokenizer.eos] : [])] } as GenerateOptions, texts };
  };
  async function* stream(text: string, options: TextCallOptions = {}): AsyncGenerator<string> {
    const { gen, texts } = plain(options);
    const ids: number[] = [];
    let shown = '';
    for await (const t of session.generate(tokenizer.encode(text), gen)) {
      if (t === tokenizer.eos) break;
      ids.push(t);
      let now = tokenizer.decode(ids);
      // An incomplete UTF-8 character decodes to U+FFFD at the end: hold it back until it completes.
      if (now.endsWith('\uFFFD')) continue;
      const hit = texts.map((s) => now.indexOf(s, Math.max(0, shown.length - s.length + 1))).filter((i) => i >= 0);
      if (hit.length) now = now.slice(0, Math.min(...hit));
      yield now.slice(shown.length);
      shown = now;
      if (hit.length) return;
    }
  }
  const call = async (text: string, options: TextCallOptions = {}) => {
    let out = '';
    for await (const piece of stream(text, options)) out += piece;
    return [{ generated_text: text + out }];
  };
  return Object.assign(call, { stream, session, tokenizer, dispose: () => session.destroy() });
}
