import { describe, expect, it } from 'vitest';
import { check } from '../../compiler/compile.js';
import { recomputePolicy } from '../../compiler/train/recompute-policy.js';
import { trainSettings } from '../../compiler/train/settings.js';

/**
 * The recompute policy a model's `@recompute(P)` or train section sets, as `mdc plan` and
 * `mdc train` read it (recomputePolicy, and trainSettings' `recompute`), and the train
 * section's micro-batches. What check() refuses is in test/cases.
 */

const program = (annotation: string, section: string) => `config C { layers = 4, d = 8 }
block Layer(x: f32[B, d]) -> f32[B, d] {
  param w: f32[d, d]
  return x @ w
}
model M(x: f32[B, d]) -> f32[B, d] where B = 2 {
  let h = repeat(layers) Layer(x) ${annotation}
  return h
}
${section}
`;

function env(source: string) {
  const r = check(source, 'p.model');
  expect(r.diagnostics.map((d) => d.message)).toEqual([]);
  return r.env!;
}

describe('recomputePolicy', () => {
  it('reads @recompute on a layer stack, located at its argument', () => {
    const e = env(program('@recompute(selective)', ''));
    const r = recomputePolicy(e, 'M');
    expect(r).toMatchObject({ policy: 'selective', diagnostics: [] });
    expect(r.span).toMatchObject({ line: 7, col: 46 });
    expect(r.budget).toBeUndefined();
    // A model without a train section trains with the default settings and the annotation's policy.
    expect(trainSettings(e, 'M').settings!.recompute).toEqual({ policy: 'selective' });
  });

  it('takes the policy as a string too, and agrees with the same policy in the train section', () => {
    const e = env(program('@recompute("full")', 'train M { recompute = full }'));
    expect(recomputePolicy(e, 'M')).toMatchObject({ policy: 'full', diagnostics: [] });
  });

  it("reads the train section's policy and memory_budget in bytes", () => {
    const e = env(program('', 'train M { recompute = auto; memory_budget = 3MiB }'));
    expect(recomputePolicy(e, 'M')).toMatchObject({ policy: 'auto', budget: 3 * 2 ** 20, span: { line: 10, col: 23 }, diagnostics: [] });
    expect(trainSettings(e, 'M').settings!.recompute).toEqual({ policy: 'auto', budget: 3 * 2 ** 20 });
  });

  it('an annotated auto takes its budget from the train section, also through a config constant', () => {
    const e = env(program('@recompute(auto)', 'config K { budget = 1GiB }\ntrain M { memory_budget = budget }'));
    expect(recomputePolicy(e, 'M')).toMatchObject({ policy: 'auto', budget: 2 ** 30, diagnostics: [] });
  });

  it('sets no policy when nothing does', () => {
    const e = env(program('', 'train M { steps = 3 }'));
    expect(recomputePolicy(e, 'M')).toEqual({ diagnostics: [] });
    expect(trainSettings(e, 'M').settings!.recompute).toBeUndefined();
  });
});

describe('microbatches', () => {
  it('is read into the train settings', () => {
    const e = env(program('', 'train M { batch = 8; microbatches = 4 }'));
    expect(trainSettings(e, 'M').settings).toMatchObject({ batch: 8, microbatches: 4 });
    expect(trainSettings(env(program('', 'train M { steps = 1 }')), 'M').settings!.microbatches).toBeUndefined();
  });
});
