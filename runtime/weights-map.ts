/**
 * Name maps between a pretrained checkpoint's tensor names (Hugging Face's) and a
 * model's parameter names, as data: the built-in presets below and the user's
 * `*.weights.json` files have the same shape and go through the same check.
 *
 * An entry reads one source tensor and gives one or more parameters. On load its data is
 * cast to f32 (from F32, F16 or BF16), then transposed (2-D, `transpose`), then split
 * along `split` into as many equal parts as there are targets; saving runs the inverse
 * (concatenate, transpose back, cast to the file's dtype). Patterns are literal names
 * with `{name}` placeholders, each standing for a decimal index (`h.{i}.ln_1.weight` ↔
 * `Layer.{i}.ln1_g`); source and targets must use the same placeholders.
 */

export const WEIGHTS_MAP_FORMAT = 'mdc.weights-map';
export const WEIGHTS_MAP_VERSION = 1;

export interface WeightsMapEntry {
  /** The source tensor's name pattern. */
  readonly source: string;
  /** The parameter pattern, or several when the tensor is split. */
  readonly target: string | readonly string[];
  /** Swap the two dims of a 2-D tensor (a `[out, in]` Linear weight into mdc's `[in, out]`). */
  readonly transpose?: boolean;
  /** After any transpose: the dim split into one equal part per target, in order. */
  readonly split?: number;
}

export interface WeightsMap {
  readonly name: string;
  /** Prefixes removed from source names that start with them (`transformer.` of GPT2LMHeadModel). */
  readonly strip?: readonly string[];
  readonly entries: readonly WeightsMapEntry[];
  /** Source patterns that are not weights (buffers, a head tied to the embedding): passed over on load. */
  readonly ignore?: readonly string[];
}

export class WeightsError extends Error {
  /** One line per problem, all of them (the message shows the first ones). */
  readonly problems: readonly string[];
  constructor(what: string, problems: readonly string[]) {
    const shown = problems.slice(0, MAX_SHOWN);
    const more = problems.length > MAX_SHOWN ? `\n  … and ${problems.length - MAX_SHOWN} more` : '';
    super(problems.length === 1 ? `${what}: ${problems[0]}` : `${what}: ${problems.length} problems:\n${shown.map((p) => `  ${p}`).join('\n')}${more}`);
    this.name = 'WeightsError';
    this.problems = problems;
  }
}
const MAX_SHOWN = 40;

const targets = (e: WeightsMapEntry): readonly string[] => (typeof e.target === 'string' ? [e.target] : e.target);
export { targets as entryTargets };

// ------------------------------------------------------------------ presets

const linear = (source: string, target: string): WeightsMapEntry => ({ source, target, transpose: true });

/**
 * GPT-2 (GPT2Model, or GPT2LMHeadModel under `transformer.`) into samples/gpt2.model.
 * Its Conv1D layers store weights as [in, out], mdc's own order, so nothing is
 * transposed; `c_attn` holds q, k and v side by side and is split along its last dim.
 */
const GPT2: WeightsMap = {
  name: 'gpt2',
  strip: ['transformer.'],
  entries: [
    { source: 'wte.weight', target: 'wte' },
    { source: 'wpe.weight', target: 'wpe' },
    { source: 'ln_f.weight', target: 'lnf_g' },
    { source: 'ln_f.bias', target: 'lnf_b' },
    { source: 'h.{i}.ln_1.weight', target: 'Layer.{i}.ln1_g' },
    { source: 'h.{i}.ln_1.bias', target: 'Layer.{i}.ln1_b' },
    { source: 'h.{i}.attn.c_attn.weight', target: ['Layer.{i}.Attention.wq', 'Layer.{i}.Attention.wk', 'Layer.{i}.Attention.wv'], split: 1 },
    { source: 'h.{i}.attn.c_attn.bias', target: ['Layer.{i}.Attention.bq', 'Layer.{i}.Attention.bk', 'Layer.{i}.Attention.bv'], split: 0 },
    { source: 'h.{i}.attn.c_proj.weight', target: 'Layer.{i}.Attention.wo' },
    { source: 'h.{i}.attn.c_proj.bias', target: 'Layer.{i}.Attention.bo' },
    { source: 'h.{i}.ln_2.weight', target: 'Layer.{i}.ln2_g' },
    { source: 'h.{i}.ln_2.bias', target: 'Layer.{i}.ln2_b' },
    { source: 'h.{i}.mlp.c_fc.weight', target: 'Layer.{i}.Mlp.w1' },
    { source: 'h.{i}.mlp.c_fc.bias', target: 'Layer.{i}.Mlp.b1' },
    { source: 'h.{i}.mlp.c_proj.weight', target: 'Layer.{i}.Mlp.w2' },
    { source: 'h.{i}.mlp.c_proj.bias', target: 'Layer.{i}.Mlp.b2' },
  ],
  // The causal-mask buffers older exports carry, and the LM head tied to wte.
  ignore: ['h.{i}.attn.bias', 'h.{i}.attn.masked_bias', 'lm_head.weight'],
};

/**
 * BERT (BertModel, or a task model under `bert.`) into samples/bert-base.model. Linear
 * weights are [out, in] and transposed. Older files name LayerNorm's tensors gamma and
 * beta: both spellings are entries, and saving writes the first (weight, bias).
 */
const BERT: WeightsMap = {
  name: 'bert',
  strip: ['bert.'],
  entries: [
    { source: 'embeddings.word_embeddings.weight', target: 'word' },
    { source: 'embeddings.position_embeddings.weight', target: 'position' },
    { source: 'embeddings.token_type_embeddings.weight', target: 'segment' },
    ...layerNorm('embeddings.LayerNorm', 'ln_g', 'ln_b'),
    linear('encoder.layer.{i}.attention.self.query.weight', 'Encoder.{i}.SelfAttention.wq'),
    { source: 'encoder.layer.{i}.attention.self.query.bias', target: 'Encoder.{i}.SelfAttention.bq' },
    linear('encoder.layer.{i}.attention.self.key.weight', 'Encoder.{i}.SelfAttention.wk'),
    { source: 'encoder.layer.{i}.attention.self.key.bias', target: 'Encoder.{i}.SelfAttention.bk' },
    linear('encoder.layer.{i}.attention.self.value.weight', 'Encoder.{i}.SelfAttention.wv'),
    { source: 'encoder.layer.{i}.attention.self.value.bias', target: 'Encoder.{i}.SelfAttention.bv' },
    linear('encoder.layer.{i}.attention.output.dense.weight', 'Encoder.{i}.SelfAttention.wo'),
    { source: 'encoder.layer.{i}.attention.output.dense.bias', target: 'Encoder.{i}.SelfAttention.bo' },
    ...layerNorm('encoder.layer.{i}.attention.output.LayerNorm', 'Encoder.{i}.ln1_g', 'Encoder.{i}.ln1_b'),
    linear('encoder.layer.{i}.intermediate.dense.weight', 'Encoder.{i}.w1'),
    { source: 'encoder.layer.{i}.intermediate.dense.bias', target: 'Encoder.{i}.b1' },
    linear('encoder.layer.{i}.output.dense.weight', 'Encoder.{i}.w2'),
    { source: 'encoder.layer.{i}.output.dense.bias', target: 'Encoder.{i}.b2' },
    ...layerNorm('encoder.layer.{i}.output.LayerNorm', 'Encoder.{i}.ln2_g', 'Encoder.{i}.ln2_b'),
    linear('pooler.dense.weight', 'pool_w'),
    { source: 'pooler.dense.bias', target: 'pool_b' },
  ],
  // Position ids (an I64 buffer) and the pre-training heads (cls.*) are not the encoder's weights.
  ignore: ['embeddings.position_ids', 'cls.predictions.bias', 'cls.predictions.transform.dense.weight', 'cls.predictions.transform.dense.bias'].concat(
    ['cls.predictions.transform.LayerNorm.weight', 'cls.predictions.transform.LayerNorm.bias', 'cls.predictions.transform.LayerNorm.gamma'],
    ['cls.predictions.transform.LayerNorm.beta', 'cls.predictions.decoder.weight', 'cls.predictions.decoder.bias'],
    ['cls.seq_relationship.weight', 'cls.seq_relationship.bias'],
  ),
};

function layerNorm(prefix: string, gain: string, bias: string): WeightsMapEntry[] {
  return [
    { source: `${prefix}.weight`, target: gain },
    { source: `${prefix}.bias`, target: bias },
    { source: `${prefix}.gamma`, target: gain },
    { source: `${prefix}.beta`, target: bias },
  ];
}

/**
 * LLaMA (LlamaForCausalLM) into samples/llama.model. Linear weights are [out, in] and
 * transposed. mdc's rotary rotates half-dims per head, as Hugging Face's does, so q_proj
 * and k_proj need no permutation (Meta's original files interleave pairs and do).
 */
const LLAMA: WeightsMap = {
  name: 'llama',
  entries: [
    { source: 'model.embed_tokens.weight', target: 'embed' },
    { source: 'model.norm.weight', target: 'norm' },
    linear('lm_head.weight', 'lm_head'),
    { source: 'model.layers.{i}.input_layernorm.weight', target: 'Layer.{i}.attn_norm' },
    { source: 'model.layers.{i}.post_attention_layernorm.weight', target: 'Layer.{i}.ffn_norm' },
    linear('model.layers.{i}.self_attn.q_proj.weight', 'Layer.{i}.Attention.wq'),
    linear('model.layers.{i}.self_attn.k_proj.weight', 'Layer.{i}.Attention.wk'),
    linear('model.layers.{i}.self_attn.v_proj.weight', 'Layer.{i}.Attention.wv'),
    linear('model.layers.{i}.self_attn.o_proj.weight', 'Layer.{i}.Attention.wo'),
    linear('model.layers.{i}.mlp.gate_proj.weight', 'Layer.{i}.FeedForward.w1'),
    linear('model.layers.{i}.mlp.up_proj.weight', 'Layer.{i}.FeedForward.w3'),
    linear('model.layers.{i}.mlp.down_proj.weight', 'Layer.{i}.FeedForward.w2'),
  ],
  ignore: ['model.layers.{i}.self_attn.rotary_emb.inv_freq'],
};

export const WEIGHTS_MAP_PRESETS: Readonly<Record<string, WeightsMap>> = { gpt2: GPT2, bert: BERT, llama: LLAMA };

// ------------------------------------------------------------------ checking a map

const PLACEHOLDER = /\{([A-Za-z_][A-Za-z0-9_]*)\}/g;
const placeholders = (p: string) => [...p.matchAll(PLACEHOLDER)].map((m) => m[1]!);

/**
 * A map from JSON (a `*.weights.json` file's contents), checked: every problem is
 * collected and the map is refused with all of them. `what` names the file in errors.
 */
export function parseWeightsMap(json: unknown, what: string): WeightsMap {
  const problems: string[] = [];
  const bad = (why: string) => void problems.push(why);
  const isObject = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
  const strings = (x: unknown) => Array.isArray(x) && x.every((s) => typeof s === 'string' && s.length > 0);
  if (!isObject(json)) throw new WeightsError(what, [`a weights map must be a JSON object, not ${Array.isArray(json) ? 'an array' : JSON.stringify(json)}`]);
  const { format, version, name, strip, entries, ignore, ...extra } = json;
  if (Object.keys(extra).length) bad(`unknown fields: ${Object.keys(extra).join(', ')} (known: format, version, name, strip, entries, ignore)`);
  if (format !== WEIGHTS_MAP_FORMAT) bad(`"format" must be "${WEIGHTS_MAP_FORMAT}", not ${JSON.stringify(format)}`);
  if (version !== WEIGHTS_MAP_VERSION) bad(`"version" must be ${WEIGHTS_MAP_VERSION}, not ${JSON.stringify(version)}`);
  if (name !== undefined && typeof name !== 'string') bad(`"name" must be a string`);
  if (strip !== undefined && !strings(strip)) bad(`"strip" must be an array of non-empty strings`);
  if (ignore !== undefined && !strings(ignore)) bad(`"ignore" must be an array of non-empty strings`);
  const list: WeightsMapEntry[] = [];
  if (!Array.isArray(entries) || entries.length === 0) bad(`"entries" must be a non-empty array`);
  else
    entries.forEach((e, k) => {
      const at = `entries[${k}]`;
      if (!isObject(e)) return bad(`${at} must be an object`);
      const { source, target, transpose, split, ...more } = e;
      if (Object.keys(more).length) bad(`${at} has unknown fields: ${Object.keys(more).join(', ')} (known: source, target, transpose, split)`);
      if (typeof source !== 'string' || !source) return bad(`${at}.source must be a non-empty string`);
      if (!(typeof target === 'string' && target) && !(strings(target) && (target as string[]).length > 0))
        return bad(`${at}.target must be a parameter name pattern or a non-empty array of them`);
      if (transpose !== undefined && typeof transpose !== 'boolean') bad(`${at}.transpose must be true or false`);
      if (split !== undefined && !(Number.isSafeInteger(split) && (split as number) >= 0)) bad(`${at}.split must be a dim index (0, 1, ...)`);
      const entry: WeightsMapEntry = {
        source,
        target: target as string | string[],
        ...(transpose === true ? { transpose } : {}),
        ...(split !== undefined ? { split: split as number } : {}),
      };
      list.push(entry);
    });
  const map: WeightsMap = {
    name: typeof name === 'string' ? name : what,
    ...(strip !== undefined ? { strip: strip as string[] } : {}),
    entries: list,
    ...(ignore !== undefined ? { ignore: ignore as string[] } : {}),
  };
  problems.push(...mapProblems(map));
  if (problems.length) throw new WeightsError(what, problems);
  return map;
}

/** What is wrong with a map's entries as a whole (the presets pass; tests check that they do). */
export function mapProblems(map: WeightsMap): string[] {
  const problems: string[] = [];
  for (const e of map.entries) {
    const at = `entry '${e.source}'`;
    const ts = targets(e);
    const from = placeholders(e.source);
    if (new Set(from).size !== from.length) problems.push(`${at} uses a placeholder twice`);
    for (const t of ts) {
      const to = placeholders(t);
      const same = to.length === from.length && to.every((p) => from.includes(p));
      if (!same) problems.push(`${at}: target '${t}' must use the source's placeholders (${from.map((p) => `{${p}}`).join(', ') || 'none'}), each once`);
    }
    if (ts.length > 1 && e.split === undefined) problems.push(`${at} has ${ts.length} targets but no split dim`);
    if (ts.length === 1 && e.split !== undefined) problems.push(`${at} splits into one part: give several targets, or no split`);
    if (new Set(ts).size !== ts.length) problems.push(`${at} names a target twice`);
  }
  for (const p of map.ignore ?? [])
    if (new Set(placeholders(p)).size !== placeholders(p).length) problems.push(`ignore pattern '${p}' uses a placeholder twice`);
  return problems;
}

// ------------------------------------------------------------------ patterns

/** A name pattern compiled: `match` gives the placeholders' values, `fill` the name for them. */
export interface Pattern {
  readonly text: string;
  match(name: string): Readonly<Record<string, string>> | undefined;
  fill(values: Readonly<Record<string, string>>): string;
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

export function compilePattern(text: string): Pattern {
  const names: string[] = [];
  let re = '';
  let last = 0;
  for (const m of text.matchAll(PLACEHOLDER)) {
    re += escape(text.slice(last, m.index)) + '(0|[1-9][0-9]*)';
    names.push(m[1]!);
    last = m.index! + m[0].length;
  }
  const regex = new RegExp(`^${re}${escape(text.slice(last))}$`);
  return {
    text,
    match(name) {
      const m = regex.exec(name);
      if (!m) return undefined;
      const values: Record<string, string> = {};
      names.forEach((n, i) => (values[n] = m[i + 1]!));
      return values;
    },
    fill: (values) => text.replace(PLACEHOLDER, (_, n: string) => values[n] ?? `{${n}}`),
  };
}

/** The closest of `candidates` to `name` by edit distance, when close enough to be a likely typo. */
export function didYouMean(name: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestD = Math.max(2, Math.floor(name.length / 4)) + 1;
  for (const c of candidates) {
    if (Math.abs(c.length - name.length) >= bestD) continue;
    const d = editDistance(name, c, bestD);
    if (d < bestD) [best, bestD] = [c, d];
  }
  return best;
}

/** Levenshtein distance, giving up (returning `cap`) once every path exceeds `cap`. */
function editDistance(a: string, b: string, cap: number): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    let low = i;
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
      low = Math.min(low, row[j]!);
    }
    if (low >= cap) return cap;
    prev = row;
  }
  return prev[b.length]!;
}
