import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { check, lower } from '../../compiler/compile.js';
import { dimValue } from '../../compiler/dims.js';
import { verifyGraph } from '../../compiler/verify-ir.js';
import { format } from '../../grammar/format.js';
import { parse } from '../../grammar/parse.js';

const src = (s: string) => readFileSync(`samples/${s}.model`, 'utf8');
const paramCount = (s: string, opts = {}) => {
  const g = lower(src(s), s, opts).graph!;
  return g.values.filter((v) => v.kind === 'param').reduce((n, v) => n + v.type.dims.reduce((a, d) => a * dimValue(d)!, 1), 0);
};

describe('samples', () => {
  // Published parameter counts: GPT-2 small 124,439,808 and BERT-base (with pooler) 109,482,240
  // (Hugging Face num_parameters()), LLaMA-2 7B 6,738,415,616 (Meta / HF config), ViT-B/16 with
  // its 1000-class head 86,567,656 (timm vit_base_patch16_224), Mixtral 8x7B 46,702,792,704
  // (HF MixtralForCausalLM num_parameters()). Matching them to the parameter
  // checks every shape in the sample.
  it.each([
    ['gpt2', 124_439_808],
    ['bert-base', 109_482_240],
    ['llama', 6_738_415_616],
    ['vit-b16', 86_567_656],
    ['mixtral', 46_702_792_704],
  ])('%s has the published parameter count', (name, count) => {
    expect(paramCount(name)).toBe(count);
  });

  // The published configurations, copied into the repository (test/data/README.md says from where).
  it('reproduce the published shapes of test/data/model-configs.json', () => {
    const ref = JSON.parse(readFileSync('test/data/model-configs.json', 'utf8')).models as Record<string, Record<string, number>>;
    const consts = (s: string) => check(src(s), s).env!.consts;
    const val = (s: string, k: string) => {
      const c = consts(s).get(k);
      return c && c.value;
    };
    const cases: [string, string, Record<string, string>][] = [
      ['gpt2', 'gpt2-small', { layers: 'layers', hidden: 'd', heads: 'heads', ffn: 'ffn', vocab: 'vocab', ctx: 'ctx' }],
      [
        'bert-base',
        'bert-base',
        { layers: 'layers', hidden: 'd', heads: 'heads', ffn: 'ffn', vocab: 'vocab', ctx: 'ctx', type_vocab: 'type_vocab', ln_eps: 'eps' },
      ],
      [
        'llama',
        'llama2-7b',
        { layers: 'layers', hidden: 'd', heads: 'heads', kv_heads: 'kv_heads', ffn: 'ffn', vocab: 'vocab', ctx: 'ctx', rms_eps: 'eps', rope_theta: 'theta' },
      ],
      ['vit-b16', 'vit-b16', { layers: 'layers', hidden: 'd', heads: 'heads', ffn: 'ffn', image: 'image', patch: 'patch', tokens: 'tokens', ln_eps: 'eps' }],
      [
        'mixtral',
        'mixtral-8x7b',
        {
          layers: 'layers',
          hidden: 'd',
          heads: 'heads',
          kv_heads: 'kv_heads',
          ffn: 'ffn',
          experts: 'experts',
          top_k: 'top_k',
          vocab: 'vocab',
          ctx: 'ctx',
          rope_theta: 'theta',
        },
      ],
    ];
    for (const [sample, key, map] of cases) {
      for (const [refKey, constName] of Object.entries(map)) {
        expect(ref[key]?.[refKey], `${key}.${refKey} is in the reference data`).toBeDefined();
        expect([sample, refKey, val(sample, constName)]).toEqual([sample, refKey, ref[key]![refKey]]);
      }
    }
  });

  it.each(['mlp', 'gpt2', 'bert-base', 'llama', 'vit-b16', 'mixtral'])('%s lowers to a graph that passes the IR invariants, full size and tiny', (name) => {
    for (const opts of [{}, { preset: 'tiny' }]) {
      const r = lower(src(name), name, opts);
      expect(r.diagnostics).toEqual([]);
      expect(verifyGraph(r.graph!, true)).toEqual([]);
    }
  });

  it.each(['mlp', 'gpt2', 'bert-base', 'llama', 'vit-b16', 'mixtral'])('formatting %s keeps its syntax tree and every comment', (name) => {
    const text = src(name);
    const a = parse(text, name);
    const formatted = format(a.program, text);
    const b = parse(formatted, name);
    expect(b.diagnostics).toEqual([]);
    expect(stripSpans(b.program.items)).toEqual(stripSpans(a.program.items));
    expect(b.program.comments.map((c) => c.text.trim())).toEqual(a.program.comments.map((c) => c.text.trim()));
    expect(format(b.program, formatted)).toBe(formatted);
  });
});

function stripSpans(x: unknown): unknown {
  if (Array.isArray(x)) return x.map(stripSpans);
  if (x && typeof x === 'object') {
    return Object.fromEntries(
      Object.entries(x)
        .filter(([k]) => k !== 'span' && k !== 'bodySpan')
        .map(([k, v]) => [k, stripSpans(v)]),
    );
  }
  return x;
}
