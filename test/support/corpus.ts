/**
 * Small written corpora for fine-tuning tests and bench/finetune.ts, deterministic in
 * (kind, count, seed) (xorshift32), nothing read from outside the repo:
 * - A: "the <adjective> <noun> <verb> the <noun>." over animal words (pretraining);
 * - B: the same words in a new sentence shape, "a <noun> that <verb> <adjective> <noun>s is
 *   <adjective>!" (a fine-tuning task the pretrained model's knowledge of the words helps);
 * - C: A's shape over machine words none of A's share (a harder shift: new spellings).
 */
const ANIMALS = { nouns: ['cat', 'dog', 'bird', 'horse', 'mouse', 'fox'], verbs: ['sees', 'chases', 'likes', 'finds'], adjs: ['small', 'big', 'red', 'old'] };
const MACHINES = {
  nouns: ['robot', 'engine', 'wheel', 'lamp', 'clock', 'drone'],
  verbs: ['builds', 'powers', 'moves', 'checks'],
  adjs: ['shiny', 'broken', 'metal', 'quiet'],
};

export function sentences(kind: 'A' | 'B' | 'C', count: number, seed: number): string {
  const words = kind === 'C' ? MACHINES : ANIMALS;
  let s = seed >>> 0 || 1;
  const pick = <T>(xs: readonly T[]) => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return xs[(s >>> 0) % xs.length]!;
  };
  const out: string[] = [];
  for (let i = 0; i < count; i++)
    out.push(
      kind === 'B'
        ? `a ${pick(words.nouns)} that ${pick(words.verbs)} ${pick(words.adjs)} ${pick(words.nouns)}s is ${pick(words.adjs)}!`
        : `the ${pick(words.adjs)} ${pick(words.nouns)} ${pick(words.verbs)} the ${pick(words.nouns)}.`,
    );
  return out.join(' ');
}

/**
 * A stochastic grammar with a real entropy floor, for bench/finetune.ts: sentences drawn
 * from weighted templates whose slots draw weighted words. Every template starts with its
 * own word and no slot word is one of those, words hold no space and sentences end in "."
 * or "!", so the text determines every choice: the entropy rate of the stream (sentences
 * joined by one space) is H(sentence) / E[characters per sentence, the space included].
 */
export interface Grammar {
  readonly templates: readonly { readonly weight: number; readonly parts: readonly string[] }[];
  readonly slots: Readonly<Record<string, readonly (readonly [string, number])[]>>;
}

const NOUNS = ['cat', 'dog', 'bird', 'horse', 'mouse', 'fox', 'goat', 'owl', 'frog', 'bear', 'duck', 'wolf'];
const ADJS = ['small', 'big', 'red', 'old', 'quick', 'calm', 'brown', 'wild'];
const VERBS = ['sees', 'chases', 'likes', 'finds', 'helps', 'hears', 'meets', 'follows'];
const ADVS = ['slowly', 'today', 'again', 'quietly', 'often', 'later'];
/** Zipf-like weights 1/(rank+1), in list order (A) or reversed (B): the same words at other frequencies. */
const zipf = (xs: readonly string[], reverse: boolean) => xs.map((w, i) => [w, 1 / ((reverse ? xs.length - 1 - i : i) + 1)] as const);

/**
 * A (pretraining): three templates; B (fine-tuning): the same words at reversed frequencies, other template weights and
 * one new template. G (general pretraining): all four of B's templates, every template and word equally likely, so a
 * model pretrained on G has seen every structure B uses and fine-tuning on B only specialises it.
 */
export function grammar(kind: 'A' | 'B' | 'G'): Grammar {
  const r = kind === 'B';
  const uniform = (xs: readonly string[]) => xs.map((w) => [w, 1] as const);
  const slots =
    kind === 'G'
      ? { N: uniform(NOUNS), J: uniform(ADJS), V: uniform(VERBS), R: uniform(ADVS) }
      : { N: zipf(NOUNS, r), J: zipf(ADJS, r), V: zipf(VERBS, r), R: zipf(ADVS, r) };
  const w = (a: number, b: number) => (kind === 'G' ? 1 : r ? b : a);
  const templates = [
    { weight: w(3, 1), parts: ['the ', 'J', ' ', 'N', ' ', 'V', ' the ', 'N', '.'] },
    { weight: w(2, 1), parts: ['a ', 'N', ' ', 'V', ' ', 'R', '.'] },
    { weight: w(1, 1), parts: ['every ', 'J', ' ', 'N', ' ', 'V', ' a ', 'J', ' ', 'N', '.'] },
  ];
  if (kind !== 'A') templates.push({ weight: w(0, 2), parts: ['some ', 'N', ' that ', 'V', ' the ', 'N', ' is ', 'J', '!'] });
  return { templates, slots };
}

const entropy = (ws: readonly number[]) => {
  const z = ws.reduce((a, b) => a + b, 0);
  return -ws.reduce((h, w) => h + (w / z) * Math.log(w / z), 0);
};
const meanLength = (xs: readonly (readonly [string, number])[]) => {
  const z = xs.reduce((a, [, w]) => a + w, 0);
  return xs.reduce((m, [s, w]) => m + (w / z) * s.length, 0);
};

/** The grammar's entropy in nats per sentence and per character (the best possible loss of a byte model on its text). */
export function grammarEntropy(g: Grammar): { perSentence: number; meanChars: number; perChar: number } {
  const z = g.templates.reduce((a, t) => a + t.weight, 0);
  let h = entropy(g.templates.map((t) => t.weight));
  let chars = 1; // the space after each sentence
  for (const t of g.templates)
    for (const p of t.parts) {
      const slot = g.slots[p];
      h += slot ? (t.weight / z) * entropy(slot.map(([, w]) => w)) : 0;
      chars += (t.weight / z) * (slot ? meanLength(slot) : p.length);
    }
  return { perSentence: h, meanChars: chars, perChar: h / chars };
}

/** At least `chars` characters of sentences drawn from `g`, deterministic in the seed (xorshift32). */
export function grammarText(g: Grammar, chars: number, seed: number): string {
  let s = seed >>> 0 || 1;
  const draw = <T>(xs: readonly T[], weight: (x: T) => number): T => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    const z = xs.reduce((a, x) => a + weight(x), 0);
    let u = ((s >>> 0) / 2 ** 32) * z;
    for (const x of xs) if ((u -= weight(x)) < 0) return x;
    return xs[xs.length - 1]!;
  };
  const out: string[] = [];
  let n = 0;
  while (n < chars) {
    const t = draw(g.templates, (x) => x.weight);
    const sentence = t.parts.map((p) => (g.slots[p] ? draw(g.slots[p]!, (x) => x[1])[0] : p)).join('');
    out.push(sentence);
    n += sentence.length + 1;
  }
  return out.join(' ');
}

/**
 * A fixed training text for tests that need "some real-looking bytes" (about 24 KB of A's sentences), so no test
 * trains on the project's own prose (README.md, docs/), whose edits would move a test's numbers.
 */
export function trainingText(chars = 24_000, seed = 11): Uint8Array {
  return new TextEncoder().encode(grammarText(grammar('A'), chars, seed));
}
