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
