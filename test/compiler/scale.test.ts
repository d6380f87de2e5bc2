/**
 * Deep models and long lists: nothing recurses or spreads arguments in proportion to the
 * model (issue 19). V8 takes about 125,000 spread arguments on this machine's default
 * stack, so the lists below have 200,000 items; `mdc plan` of 10,000 GPT-2-style layers
 * lists 160,003 values, which overflowed the stack in the report before.
 */
import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatPlanReport, type PlanReport } from '../../compiler/report/plan.js';
import { callsIn } from '../../grammar/ast-text.js';
import type * as A from '../../grammar/ast.js';
import { lossSvg } from '../../cli/commands/train.js';
import { mdc } from '../support/cli.js';
import { deepModel } from '../support/scale-models.js';

const N = 200_000;

function withModel<T>(layers: number, f: (file: string, dir: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'mdc-scale-'));
  const file = join(dir, `deep${layers}.model`);
  writeFileSync(file, deepModel(layers));
  return f(file, dir).finally(() => rmSync(dir, { recursive: true, force: true }));
}

describe('deep models', () => {
  it('mdc plan lists every value of 10,000 layers', async () => {
    await withModel(10_000, async (file) => {
      const r = await mdc('plan', file);
      expect(r.err).toBe('');
      expect(r.code).toBe(0);
      const lines = r.out.split('\n');
      expect(lines.filter((l) => l.startsWith('  param ')).length).toBe(16 * 10_000 + 1);
      // Names padded to the longest one, 'Layer.9999.wq' (13 characters).
      expect(lines).toContain('  param  Layer.9999.c2  f32[16]  [16]');
      expect(lines).toContain('  output output0        f32[1, 8, 32]  [1, 8, 32]');
    });
  }, 60_000);

  it('mdc compile of 2,000 layers writes a step per kernel of every layer', async () => {
    await withModel(2_000, async (file, dir) => {
      const out = join(dir, 'out');
      const r = await mdc('compile', file, '-o', out, '--json');
      expect(r.err).toBe('');
      expect(r.code).toBe(0);
      const plan = JSON.parse(readFileSync(join(out, 'Deep.plan.json'), 'utf8')) as { steps: unknown[]; buffers: { role: string }[] };
      const perLayer = (plan.steps.length - 2) / 2_000;
      expect({ perLayer, params: plan.buffers.filter((b) => b.role === 'param').length }).toEqual({ perLayer: 9, params: 16 * 2_000 + 1 });
    });
  }, 60_000);
});

describe('lists as long as a model can make them', () => {
  it('the plan report pads names without spreading them', () => {
    const values = Array.from({ length: N }, (_, i) => ({ kind: 'param' as const, name: `w${i}`, type: 'f32[4]', localShape: [4], bytesPerDevice: 16 }));
    const r: PlanReport = {
      version: 1,
      file: 'x.model',
      model: 'X',
      devices: 1,
      mesh: { tp: 1 },
      values,
      collectives: [],
      paramCount: 4 * N,
      paramBytes: 16 * N,
      paramBytesPerDevice: 16 * N,
      commBytesPerDevice: 0,
    };
    const lines = formatPlanReport(r, { axes: [{ name: 'tp', size: 1 }] });
    expect(lines).toContain('  param  w0       f32[4]  [4]');
    expect(lines).toContain('  param  w199999  f32[4]  [4]');
  });

  it('callsIn walks a list of 200,000 calls in source order', () => {
    const span = { start: 0, end: 0 };
    const ident = (name: string) => ({ kind: 'ident', name, span }) as unknown as A.Ident;
    const items = Array.from({ length: N }, (_, i) => ({ kind: 'call', callee: ident(`f${i}`), args: [], span }));
    const f = { kind: 'model', body: [{ kind: 'return', values: [{ kind: 'list', items, span }], span }] } as unknown as A.FunctionDecl;
    const calls = callsIn(f);
    expect(calls.length).toBe(N);
    expect([calls[0]!.callee.name, calls[N - 1]!.callee.name]).toEqual(['f0', `f${N - 1}`]);
  });

  it('the loss curve of 200,000 steps spans them', () => {
    const h = Array.from({ length: N }, (_, i) => ({ step: i + 1, loss: 5 - i / N, gradNorm: 1, lr: 1e-3, seconds: 0 }));
    const svg = lossSvg(h, 'long run');
    expect(svg).toContain('>step 1</text>');
    expect(svg).toContain('>step 200000</text>');
  });
});
