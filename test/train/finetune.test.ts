import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { differentiateInto } from '../../compiler/autodiff/grad.js';
import { pipelineAnnotation } from '../../compiler/annotations.js';
import { check, lower } from '../../compiler/compile.js';
import { compilePipeline } from '../../driver/pipeline.js';
import { dimValue } from '../../compiler/dims.js';
import type { Graph } from '../../compiler/ir.js';
import { interpret } from '../../compiler/reference/interpret.js';
import { globMatcher } from '../../compiler/train/freeze.js';
import { applyLora, loraTargets } from '../../compiler/train/lora.js';
import { trainSettings, type TrainSettings } from '../../compiler/train/settings.js';
import { lossGraph, planTrainingRecompute, trainingGraph } from '../../compiler/train/step.js';
import { formatDiagnostic } from '../../diagnostics/format.js';
import { compileGraph } from '../../driver/compile.js';
import { mergeLora } from '../../runtime/lora.js';
import { biasCorrections, TextBatches } from '../../runtime/train.js';
import { initialParams, referenceTrain } from '../support/train.js';
import { trainingText } from '../support/corpus.js';

const lowered = (src: string, opts = {}) => {
  const r = lower(src, 't.model', opts);
  expect(r.diagnostics.map((d) => formatDiagnostic(d))).toEqual([]);
  const s = trainSettings(r.env!, r.graph!.name);
  expect(s.diagnostics.map((d) => formatDiagnostic(d))).toEqual([]);
  return { graph: r.graph!, settings: s.settings! };
};
/** Diagnostics as `mdc check` prints them, from the train section and the training step. */
const problems = (src: string, opts = {}): string[] => {
  const r = lower(src, 't.model', opts);
  if (r.diagnostics.length || !r.graph) return r.diagnostics.map((d) => formatDiagnostic(d));
  const s = trainSettings(r.env!, r.graph.name);
  if (!s.settings) return s.diagnostics.map((d) => formatDiagnostic(d));
  return trainingGraph(r.graph, { ...s.settings, microbatches: 1 }, 't.model').diagnostics.map((d) => formatDiagnostic(d));
};

const TWO_LAYERS = (section: string, ann = '') => `model M(x: f32[2, 3]) -> f32[] {
  param w1: f32[3, 5] = normal(0, 1)${ann}
  param w2: f32[5, 7] = normal(0, 1)
  param b2: f32[7] = normal(0, 1)
  let h = x @ w1
  return sum(sum(tanh(h @ w2 + b2), axis = 1), axis = 0)
}
train M { loss = output0
  optimizer = adamw(lr = 0.05, weight_decay = 0.1)
  ${section} }`;

const X = [0.5, -1, 2, 0.25, 1.5, -0.75];
const adamInputs = (t: number) => {
  const [bc1, bc2] = biasCorrections(t, 0.9, 0.95);
  return { x: X, lr: [0.05], bc1: [bc1], bc2: [bc2] };
};

describe('freeze', () => {
  it('globs: * stays within a dotted segment, ** crosses them', () => {
    expect(['Layer.0.Attention.wq', 'Layer.1.Mlp.w1', 'wte'].filter(globMatcher('Layer.*.Attention.*'))).toEqual(['Layer.0.Attention.wq']);
    expect(['Layer.0.Attention.wq', 'Layer.1.Mlp.w1', 'wte'].filter(globMatcher('Layer.**'))).toEqual(['Layer.0.Attention.wq', 'Layer.1.Mlp.w1']);
    expect(globMatcher('Layer.*')('Layer.0.Attention.wq')).toBe(false);
  });

  it('a frozen parameter is bit-identical after 5 AdamW steps and has no optimizer state; the others move', () => {
    const { graph, settings } = lowered(TWO_LAYERS('freeze = ["w1"]'));
    const tg = trainingGraph(graph, settings, 't.model').result!;
    const params = tg.graph.values.filter((v) => v.kind === 'param').map((v) => v.name);
    expect(params).not.toContain('opt.m.w1');
    expect(params).not.toContain('opt.v.w1');
    expect(params).toContain('opt.m.w2');
    expect(tg.updates.map((u) => u.param)).toEqual(['w2', 'opt.m.w2', 'opt.v.w2', 'b2', 'opt.m.b2', 'opt.v.b2']);
    expect(tg.frozen).toEqual(['w1']);
    const p = initialParams(tg.graph, 3);
    const w1 = Float64Array.from(p.get('w1')!);
    const w2 = Float64Array.from(p.get('w2')!);
    referenceTrain(tg, p, adamInputs, 5);
    expect(p.get('w1')).toEqual(w1);
    expect(p.get('w2')).not.toEqual(w2);
  });

  it('the gradient of the trainable parameters is what training them all gives (the frozen ones only stop moving)', () => {
    const { graph, settings } = lowered(TWO_LAYERS(''));
    const loss = lossGraph(graph, settings, 't.model').graph!;
    const all = differentiateInto(loss);
    const some = differentiateInto(loss, { frozen: new Set(['w1']) });
    const p = initialParams(graph, 1);
    const run = (d: ReturnType<typeof differentiateInto>) => {
      const g = d.builder.finish(
        'M',
        d.grads.map((x) => x.grad),
        d.grads.map((x) => x.name),
      );
      return interpret(g, { x: X }, (n) => p.get(n)!);
    };
    const a = run(all);
    const s = run(some);
    expect(Object.keys(s)).toEqual(['w2', 'b2']);
    expect(s['w2']!.data).toEqual(a['w2']!.data);
    expect(s['b2']!.data).toEqual(a['b2']!.data);
  });

  it('autodiff does not compute what only a frozen parameter needs: no gradient of h = x @ w1 nor of w1', () => {
    const { graph, settings } = lowered(TWO_LAYERS(''));
    const loss = lossGraph(graph, settings, 't.model').graph!;
    const backward = (frozen?: Set<string>) => {
      const d = differentiateInto(loss, frozen ? { frozen } : {});
      const g = d.builder.finish('M', [d.loss, ...d.grads.map((x) => x.grad)], ['loss', ...d.grads.map((x) => x.name)]);
      return g.nodes.slice(loss.nodes.length).map((n) => g.values[n.outputs[0]!]!.type.dims.map((x) => dimValue(x)).join('x'));
    };
    const full = backward();
    const frozen = backward(new Set(['w1']));
    // By hand, training w1 needs dh = g·w2ᵀ (a transpose and a matmul, [2, 5]), then the rule of h = x @ w1: dw1 = xᵀ·dh
    // (a transpose and a matmul, [3, 5]) and beside it dx = dh·w1ᵀ (two more, which nothing reads: x is an input).
    // With w1 frozen none of the six is made.
    expect(full.filter((s) => s === '2x5')).toHaveLength(1);
    expect(full.filter((s) => s === '3x5')).toHaveLength(1);
    expect(frozen.filter((s) => s === '2x5' || s === '3x5')).toEqual([]);
    expect(full.length - frozen.length).toBe(6);
  });

  it('the plan of a frozen run has no buffers for the frozen parameters’ state or update', async () => {
    const { graph, settings } = lowered(TWO_LAYERS('freeze = ["w*"]'));
    const c = await compileGraph(graph, { file: 't.model', train: { ...settings, microbatches: 1 } });
    const names = c.plan!.buffers.map((b) => b.name);
    for (const w of ['w1', 'w2']) {
      expect(names).toContain(w);
      expect(names.filter((n) => n !== w && n.includes(w))).toEqual([]);
    }
    expect(names).toEqual(expect.arrayContaining(['opt.m.b2', 'opt.v.b2']));
    expect(c.plan!.updates?.map((u) => u.param)).toEqual(['b2', 'opt.m.b2', 'opt.v.b2']);
  });

  it('a pattern that matches nothing, freezing everything and a pattern that is not a string are located errors', () => {
    expect(problems(TWO_LAYERS('freeze = ["w1", "wq"]'))).toEqual([
      "t.model:10:19: error MDC0530: freeze pattern 'wq' matches no parameter of M (parameters include w1, w2, b2)",
    ]);
    expect(problems(TWO_LAYERS('freeze = ["*"]'))).toEqual([
      't.model:10:13: error MDC0531: nothing left to train in M: the freeze patterns cover all 3 parameters',
    ]);
    expect(problems(TWO_LAYERS('freeze = [w1]'))).toEqual([
      't.model:10:12: error MDC0503: train setting freeze must be a list of parameter-name patterns in quotes, e.g. ["wte", "Layer.*.Attention.*"]',
    ]);
  });
});

describe('fine-tuning with the other training settings', () => {
  it('micro-batches accumulate gradients only for what trains', () => {
    const { graph, settings } = lowered(TWO_LAYERS('freeze = ["w1"]\n  microbatches = 2'));
    const tg = trainingGraph(graph, settings, 't.model').result!;
    const names = tg.graph.values.filter((v) => v.kind === 'param').map((v) => v.name);
    expect(names.filter((n) => n!.startsWith('acc.'))).toEqual(['acc.w2', 'acc.b2']);
  });

  it('mixed precision (bf16) with LoRA: the adapters are f32 master weights like the others', () => {
    const { graph, settings } = lowered(TWO_LAYERS('precision = "bf16"', ' @lora(rank = 2)'));
    const t = trainingGraph(graph, settings, 't.model');
    expect(t.diagnostics).toEqual([]);
    expect(t.result!.params).toEqual(['w1.lora_a', 'w1.lora_b']);
    expect(t.result!.graph.values.find((v) => v.name === 'w1.lora_a')!.type.dtype).toBe('f32');
  });

  it('recompute with frozen parameters gives the same step, bit for bit (the backward pass it rebuilds into is the pruned one)', async () => {
    const src = readFileSync('samples/gpt2.model', 'utf8').replace('  zero = 1\n}', '  zero = 1\n  freeze = ["wte", "Layer.*.Attention.w*"]\n}');
    const r = lower(src, 'g.model', { preset: 'tiny', overrides: { d: 32, heads: 2, vocab: 256, layers: 1 }, dims: { B: 2, S: 8 } });
    const settings = { ...trainSettings(r.env!, r.graph!.name).settings!, microbatches: 1 };
    const data = new TextBatches(trainingText(5000), 2, 8, 5);
    const inputs = (t: number) => {
      const [bc1, bc2] = biasCorrections(t, 0.9, 0.95);
      return { ...data.at(t), lr: [1e-2], bc1: [bc1], bc2: [bc2] };
    };
    const plain = trainingGraph(r.graph!, settings, 'g.model').result!;
    const plan = await planTrainingRecompute(r.graph!, settings, 'g.model', undefined, { policy: 'full' });
    expect(plan!.dropped.size).toBeGreaterThan(0);
    const rebuilt = trainingGraph(r.graph!, settings, 'g.model', undefined, plan!.dropped).result!;
    const p1 = initialParams(plain.graph, 0);
    const p2 = initialParams(plain.graph, 0);
    expect(referenceTrain(rebuilt, p2, inputs, 2)).toEqual(referenceTrain(plain, p1, inputs, 2));
    for (const [k, v] of p1) expect(p2.get(k), k).toEqual(v);
  });

  it('pipeline stages refuse freezing and LoRA (not supported yet), at the @pipeline', () => {
    const src = readFileSync('samples/gpt2.model', 'utf8').replace('  zero = 1\n}', '  zero = 1\n  freeze = ["wte"]\n}');
    const r = lower(src, 'gpt2.model', { preset: 'tiny', overrides: { d: 32, heads: 2, vocab: 256 }, dims: { B: 2, S: 8 } });
    const settings = trainSettings(r.env!, r.graph!.name).settings!;
    const ann = pipelineAnnotation(r.env!, r.env!.models.get('GPT2')!)!;
    const mesh = { axes: [{ name: 'pp', size: 2 }] };
    const c = compilePipeline(r.graph!, ann, mesh, { file: 'gpt2.model', settings });
    expect(c.diagnostics.map((d) => formatDiagnostic(d))).toEqual([
      expect.stringMatching(
        /^gpt2\.model:\d+:\d+: error MDC0135: @pipeline: freezing parameters \(freeze = \[\.\.\.\]\) and @lora adapters with pipeline stages are not supported yet: train without pp in the mesh$/,
      ),
    ]);
  });

  it('@lora anywhere but on a param is a located error', () => {
    const src = `model M(x: f32[2, 3]) -> f32[2, 3] {
  let y = x * 2 @lora(rank = 2)
  return y
}`;
    expect(check(src, 't.model').diagnostics.map((d) => formatDiagnostic(d))).toEqual([
      't.model:2:17: error MDC0133: @lora has no meaning on a let whose value is not a repeat(...) layer stack: it goes on a param of a 2-D weight read by matmuls, e.g. param wq: f32[d, d] @lora(rank = 4)',
    ]);
  });
});

describe('LoRA', () => {
  const LORA = TWO_LAYERS('', ' @lora(rank = 2, alpha = 4)');

  it('adds adapters A [in, r] and B [r, out] and trains only them: B starts at zero, so the first loss is the base model’s', () => {
    const { graph, settings } = lowered(LORA);
    const tg = trainingGraph(graph, settings, 't.model').result!;
    expect(tg.params).toEqual(['w1.lora_a', 'w1.lora_b']);
    expect(tg.frozen).toEqual(['w1', 'w2', 'b2']);
    const a = tg.graph.values.find((v) => v.name === 'w1.lora_a')!;
    expect(a.type.dims.map((x) => dimValue(x))).toEqual([3, 2]);
    expect(a.init).toEqual({ kind: 'normal', mean: 0, std: 1 / Math.sqrt(3) });
    expect(tg.graph.values.find((v) => v.name === 'w1.lora_b')!.init).toEqual({ kind: 'constant', value: 0 });
    const p = initialParams(tg.graph, 2);
    const base = interpret(graph, { x: X }, (n) => p.get(n)!)['output0']!.data[0]!;
    const fixed = new Map([...p].filter(([k]) => !k.includes('lora')).map(([k, v]) => [k, Float64Array.from(v)]));
    const losses = referenceTrain(tg, p, adamInputs, 4);
    expect(losses[0]).toBe(base);
    expect(losses[3]).toBeLessThan(losses[0]!);
    for (const [k, v] of fixed) if (!k.startsWith('opt.')) expect(p.get(k)).toEqual(v);
  });

  it('train_also keeps chosen parameters training beside the adapters; without adapters it is refused', () => {
    const { graph, settings } = lowered(TWO_LAYERS('train_also = ["b2"]', ' @lora(rank = 2)'));
    expect(trainingGraph(graph, settings, 't.model').result!.params).toEqual(['b2', 'w1.lora_a', 'w1.lora_b']);
    expect(problems(TWO_LAYERS('train_also = ["b2"]'))).toEqual([
      't.model:10:17: error MDC0503: train setting train_also must be given only with @lora adapters in the model (without them every parameter not frozen trains)',
    ]);
  });

  it('the adapters’ gradients match central finite differences of the CPU reference', () => {
    const { graph, settings } = lowered(LORA);
    const adapted = applyLora(graph, settings.lora!, 't.model').graph!;
    const loss = lossGraph(adapted, settings, 't.model').graph!;
    const d = differentiateInto(loss, { frozen: new Set(['w1', 'w2', 'b2']) });
    const gg = d.builder.finish(
      'M',
      d.grads.map((x) => x.grad),
      d.grads.map((x) => x.name),
    );
    const p = initialParams(adapted, 5);
    // B at zero would make A's gradient zero: move B off zero so both are tested.
    p.set(
      'w1.lora_b',
      Float64Array.from(p.get('w1.lora_b')!, (_, i) => Math.sin(i + 1) * 0.3),
    );
    const grads = interpret(gg, { x: X }, (n) => p.get(n)!);
    const f = () => interpret(loss, { x: X }, (n) => p.get(n)!)['loss']!.data[0]!;
    const h = 1e-6;
    for (const name of ['w1.lora_a', 'w1.lora_b']) {
      const w = p.get(name)!;
      for (let i = 0; i < w.length; i++) {
        const keep = w[i]!;
        w[i] = keep + h;
        const up = f();
        w[i] = keep - h;
        const down = f();
        w[i] = keep;
        // f64 reference: central differences are good to about h² · f''' plus rounding (1e-16/h): 1e-7 relative is generous.
        expect(grads[name]!.data[i]).toBeCloseTo((up - down) / (2 * h), 7);
      }
    }
  });

  it('merged weights (w + (alpha/r)·A·B) give what the adapted model gives', () => {
    const { graph, settings } = lowered(LORA);
    const adapted = applyLora(graph, settings.lora!, 't.model').graph!;
    const p = initialParams(adapted, 9);
    p.set(
      'w1.lora_b',
      Float64Array.from(p.get('w1.lora_b')!, (_, i) => Math.cos(i) * 0.5),
    );
    const unmerged = interpret(adapted, { x: X }, (n) => p.get(n)!)['output0']!.data[0]!;
    const f32 = new Map([...p].map(([k, v]) => [k, Float32Array.from(v)]));
    const t = loraTargets(graph, settings.lora!);
    expect(t.map((x) => [x.param, x.scale, x.rows, x.cols])).toEqual([['w1', 2, 3, 5]]);
    const merged = mergeLora(f32, (n) => f32.get(n), t);
    expect([...merged.keys()].sort()).toEqual(['b2', 'w1', 'w2']);
    const out = interpret(graph, { x: X }, (n) => Float64Array.from(merged.get(n)!))['output0']!.data[0]!;
    // The merged weights are rounded to f32 once (the adapted run used the f64 values): about 1e-7 relative.
    expect(out).toBeCloseTo(unmerged, 5);
  });

  it('refuses adapters on a weight that is not only the right operand of a matmul, and malformed arguments', () => {
    const gpt = readFileSync('samples/gpt2.model', 'utf8').replace(
      'param wte: f32[vocab, d] = normal(0, 0.02)',
      'param wte: f32[vocab, d] = normal(0, 0.02) @lora(rank = 2)',
    );
    const tiny = { preset: 'tiny', overrides: { layers: 1, d: 16, heads: 2, vocab: 256 }, dims: { B: 2, S: 8 } };
    expect(problems(gpt, tiny)).toEqual([
      expect.stringMatching(
        /^t\.model:\d+:\d+: error MDC0533: @lora on 'wte': it is read by embedding on line \d+; adapters apply to a weight used only as the right operand of @ \(x @ w\)$/,
      ),
    ]);
    expect(problems(TWO_LAYERS('', ' @lora(rank = 0)'))).toEqual(['t.model:2:51: error MDC0132: @lora expects rank = r, a positive integer constant, got 0']);
    expect(problems(TWO_LAYERS('', ' @lora(rank = 9)'))).toEqual([
      "t.model:2:38: error MDC0533: @lora on 'w1': rank 9 is above the weight's smaller dim (3): a low-rank update needs rank ≤ 3",
    ]);
  });
});

export type { Graph, TrainSettings };
