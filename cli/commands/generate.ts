import { compileInference } from '../../driver/infer.js';
import {
  asUsageError,
  COMMON,
  EXIT,
  frontendOptions,
  FRONTEND_HELP,
  positive,
  report,
  timeLimitOption,
  UsageError,
  type Command,
  type Values,
} from '../options.js';
import { readInputFile } from '../files.js';
import { check } from '../../compiler/compile.js';
import { mergeCheckpointLora } from '../lora-merge.js';

const number = (v: Values, name: string, ok: (n: number) => boolean, want: string): number | undefined => {
  const x = v[name];
  if (x === undefined) return undefined;
  const n = Number(x);
  if (typeof x !== 'string' || x.trim() === '' || !Number.isFinite(n) || !ok(n)) throw new UsageError(`--${name} must be ${want}, got '${String(x)}'`);
  return n;
};

export const command: Command = {
  help: `Usage: mdc generate FILE --prompt TEXT [options]

Compiles FILE's prefill and decode plans (its infer section: max_seq, batch, and the
sampling defaults), loads the weights and streams the generated text to stdout as each
token comes: the prompt runs once and fills the KV cache, then each new token is one
decode step reading and extending the cache on the device.

Options:
  --prompt TEXT          the text to continue (required)
  --weights FILE         a safetensors checkpoint (e.g. mdc train's checkpoint.safetensors;
                         @lora adapters in it are merged into their weights first);
                         default: the plan's seeded random weights
  --tokenizer FILE       a Hugging Face tokenizer.json (GPT-2 and LLaMA tokenizers); default:
                         UTF-8 bytes, the tokens mdc train trains on
  --max-new-tokens N     new tokens at most (default: the infer section's, else 20)
  --temperature T        0 is greedy (the default); above 0 samples
  --top-k K              sample among the K most likely tokens (0: all)
  --top-p P              sample in the nucleus of probability P (1: all)
  --seed S               the sampler's seed (the same seed gives the same text)
  --max-seq N            overrides the infer section's max_seq
  --mesh AXIS=N,...      decode tensor-parallel, e.g. --mesh tp=4: one device per mesh device,
                         each holding its heads' block of the weights and of the KV cache; the
                         file's other mesh axes run at 1 (default: one device). The axis of a
                         @pipeline stack (pp=2, or pp=2,tp=2) cuts the layers into its stages,
                         each stage's devices holding its layers' weights and KV cache
  --time-limit S         fail the run if one submission of kernels takes longer than S
                         seconds (default: 60), naming its kernels; a large model's first
                         steps, which compile its shaders, may need more on a slow adapter
${FRONTEND_HELP}`,
  options: {
    ...COMMON,
    prompt: { type: 'string' },
    weights: { type: 'string' },
    tokenizer: { type: 'string' },
    'max-new-tokens': { type: 'string' },
    temperature: { type: 'string' },
    'top-k': { type: 'string' },
    'top-p': { type: 'string' },
    seed: { type: 'string' },
    'max-seq': { type: 'string' },
    mesh: { type: 'string' },
    'time-limit': { type: 'string' },
  },
  async run(file, source, v, io) {
    const prompt = v['prompt'];
    if (typeof prompt !== 'string') throw new UsageError('mdc generate needs --prompt TEXT');
    const opts = {
      ...(v['max-new-tokens'] !== undefined
        ? { maxNewTokens: number(v, 'max-new-tokens', (n) => Number.isInteger(n) && n >= 0, 'a non-negative integer') }
        : {}),
      ...(v['temperature'] !== undefined ? { temperature: number(v, 'temperature', (n) => n >= 0, 'a number ≥ 0') } : {}),
      ...(v['top-k'] !== undefined ? { topK: number(v, 'top-k', (n) => Number.isInteger(n) && n >= 0, 'a non-negative integer') } : {}),
      ...(v['top-p'] !== undefined ? { topP: number(v, 'top-p', (n) => n > 0 && n <= 1, 'a number in (0, 1]') } : {}),
      ...(v['seed'] !== undefined ? { seed: number(v, 'seed', (n) => Number.isInteger(n) && n >= 0, 'a non-negative integer') } : {}),
    };
    const maxSeq = v['max-seq'] !== undefined ? positive(v['max-seq'], 'max-seq') : undefined;
    const timeLimitMs = timeLimitOption(v['time-limit']);
    const { byteTokenizer, tokenizerFromJson } = await import('../../runtime/tokenizer.js');
    const tokPath = v['tokenizer'] as string | undefined;
    const { InferenceSession, inferenceParams } = await import('../../runtime/generate.js');
    const tokenizer = tokPath ? await tokenizerFromJson(readInputFile(tokPath, '--tokenizer').toString('utf8'), tokPath) : byteTokenizer();
    const c = await compileInference(source, file, { ...frontendOptions(v), batch: 1, ...(maxSeq ? { maxSeq } : {}) }).catch(asUsageError);
    if (!c.plans) {
      report(c.diagnostics, source, !!v['json'], io, { file, ok: false });
      return EXIT.diagnostics;
    }
    if (tokenizer.vocabSize > c.plans.vocab)
      throw new UsageError(
        `the tokenizer ${tokenizer.name} has ${tokenizer.vocabSize} ids, more than ${c.plans.prefill.model}'s vocabulary of ${c.plans.vocab}`,
      );
    let weights: Map<string, Float32Array> | undefined;
    if (typeof v['weights'] === 'string') {
      const { readCheckpoint } = await import('../../runtime/checkpoint-node.js');
      const ck = await readCheckpoint(v['weights']);
      // A LoRA fine-tune's adapters are merged into their weights here, once (cli/lora-merge.ts).
      const env = check(source, file, { ...frontendOptions(v), concrete: false }).env!;
      const tensors = mergeCheckpointLora(ck.tensors, env, c.plans.prefill.model, `--weights ${v['weights']}`);
      weights = new Map();
      const cache = new Set(c.plans.cache.flatMap((e) => [e.k, e.v]));
      for (const b of inferenceParams(c.plans)) {
        if (cache.has(b.name)) continue;
        const t = tensors[b.name];
        if (!t) throw new UsageError(`--weights ${v['weights']} has no tensor '${b.name}', a parameter of ${c.plans.prefill.model}`);
        const shape = b.global?.shape ?? b.shape;
        if (t.dtype !== 'F32' || t.shape.join() !== shape.join())
          throw new UsageError(`--weights ${v['weights']}: '${b.name}' is ${t.dtype}[${t.shape.join(', ')}]; the model needs F32[${shape.join(', ')}]`);
        weights.set(b.name, t.data as Float32Array);
      }
    }
    const { nodeDevice, nodeDevices } = await import('../../runtime/node.js');
    const mesh = c.plans.pipeline?.mesh ?? c.plans.prefill.mesh;
    const devices = mesh ? (await nodeDevices(mesh.devices)).devices : (await nodeDevice()).device;
    const session = await InferenceSession.create(devices, c.plans, {
      ...(weights ? { params: weights } : {}),
      ...(timeLimitMs !== undefined ? { timeLimitMs } : {}),
    }).catch((e: unknown) => {
      for (const d of Array.isArray(devices) ? devices : []) d.destroy();
      throw e;
    });
    try {
      const ids = tokenizer.encode(prompt);
      const made: number[] = [];
      let shown = '';
      // A terminal sees each piece as it comes; other outputs (pipes in tests) get the text once, whole.
      const live = io.interactive && !v['json'];
      const write = (s: string) => void (live && process.stdout.write(s));
      write(prompt);
      for await (const t of session.generate(ids, { ...opts, ...(tokenizer.eos !== undefined ? { stop: [tokenizer.eos] } : {}) })) {
        made.push(t);
        const now = tokenizer.decode(made);
        if (now.endsWith('\uFFFD')) continue;
        write(now.slice(shown.length));
        shown = now;
      }
      const text = tokenizer.decode(made);
      if (v['json']) io.out(JSON.stringify({ file, ok: true, prompt, tokens: made, text }, null, 2));
      else if (live) write(text.slice(shown.length) + '\n');
      else io.out(prompt + text);
      return EXIT.ok;
    } finally {
      session.destroy();
      if (Array.isArray(devices)) for (const d of devices) d.destroy();
    }
  },
};
