import { describe, expect, it } from 'vitest';
import { grammar, grammarEntropy, grammarText, type Grammar } from '../support/corpus.js';

// bench/finetune.ts states the entropy floor of its fine-tuning texts from grammarEntropy; these check
// the formula on a grammar small enough to derive by hand, and that grammarText draws what the weights say.
describe('the stochastic grammar of bench/finetune.ts', () => {
  const tiny: Grammar = {
    templates: [
      { weight: 3, parts: ['x ', 'S', '.'] },
      { weight: 1, parts: ['yy ', 'S', '!'] },
    ],
    slots: {
      S: [
        ['a', 1],
        ['bbb', 1],
      ],
    },
  };

  it('entropy per sentence and per character, derived by hand', () => {
    // Templates 3:1: H = -(3/4 ln 3/4 + 1/4 ln 1/4); the slot is a fair coin: ln 2.
    const h = -(0.75 * Math.log(0.75) + 0.25 * Math.log(0.25)) + Math.log(2);
    // Fixed text 3 chars (3/4) or 4 chars (1/4), the slot 2 chars on average, the joining space 1: 3.25 + 2 + 1.
    const chars = 6.25;
    const e = grammarEntropy(tiny);
    expect(e.perSentence).toBeCloseTo(h, 12);
    expect(e.meanChars).toBeCloseTo(chars, 12);
    expect(e.perChar).toBeCloseTo(h / chars, 12);
  });

  it('draws templates and words at their weights, and the text parses back to one choice per slot', () => {
    const text = grammarText(tiny, 60_000, 5);
    const sentences = text.split(' ').reduce<string[]>((acc, w, i, all) => (i % 2 === 0 ? [...acc, `${w} ${all[i + 1]}`] : acc), []);
    expect(sentences.every((s) => /^(x (a|bbb)\.|yy (a|bbb)!)$/.test(s))).toBe(true);
    const share = (re: RegExp) => sentences.filter((s) => re.test(s)).length / sentences.length;
    // About 10,000 sentences: a binomial share's standard deviation is under 0.005; 0.02 is four of them.
    expect(Math.abs(share(/^x /) - 0.75)).toBeLessThan(0.02);
    expect(Math.abs(share(/bbb/) - 0.5)).toBeLessThan(0.02);
    // The mean length (space included) is what grammarEntropy uses.
    expect(Math.abs((text.length + 1) / sentences.length - 6.25)).toBeLessThan(0.05);
  });

  it("B keeps A's words and adds one template; its floor is above zero", () => {
    const a = grammar('A');
    const b = grammar('B');
    expect(Object.keys(b.slots)).toEqual(Object.keys(a.slots));
    for (const k of Object.keys(a.slots)) expect(b.slots[k]!.map(([w]) => w).sort()).toEqual(a.slots[k]!.map(([w]) => w).sort());
    expect(b.templates.length).toBe(a.templates.length + 1);
    // Every template starts with its own word, so a text determines its template choices.
    expect(new Set(b.templates.map((t) => t.parts[0])).size).toBe(b.templates.length);
    expect(grammarEntropy(b).perChar).toBeGreaterThan(0.2);
  });

  it("G has B's templates and words, each equally likely, so its floor is above B's", () => {
    const g = grammar('G');
    const b = grammar('B');
    expect(g.templates.map((t) => t.parts)).toEqual(b.templates.map((t) => t.parts));
    expect(new Set(g.templates.map((t) => t.weight))).toEqual(new Set([1]));
    for (const k of Object.keys(b.slots)) {
      expect(g.slots[k]!.map(([w]) => w).sort()).toEqual(b.slots[k]!.map(([w]) => w).sort());
      expect(new Set(g.slots[k]!.map(([, w]) => w))).toEqual(new Set([1]));
    }
    // Every choice uniform: ln 4 for the template, then per template the logs of its slots' sizes (N 12, J 8, V 8, R 6).
    const [n, j, v, r] = [Math.log(12), Math.log(8), Math.log(8), Math.log(6)];
    const expected = Math.log(4) + (1 / 4) * (j + n + v + n + (n + v + r) + (j + n + v + j + n) + (n + v + n + j));
    expect(Math.abs(grammarEntropy(g).perSentence - expected)).toBeLessThan(1e-12);
    expect(grammarEntropy(g).perSentence).toBeGreaterThan(grammarEntropy(b).perSentence);
  });
});
