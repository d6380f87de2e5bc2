import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { buildPlan } from '../../codegen/plan.js';
import { lower } from '../../compiler/compile.js';
import { PlanError, validatePlan } from '../../runtime/validate.js';

const plan = () => {
  const r = lower(readFileSync('samples/mlp.model', 'utf8'), 'mlp.model', { preset: 'tiny' });
  return JSON.parse(JSON.stringify(buildPlan(r.graph!, { seed: 3 }))) as Record<string, any>;
};

function problems(mutate: (p: Record<string, any>) => unknown): string[] {
  const p = plan();
  const replaced = mutate(p);
  try {
    validatePlan(replaced === undefined ? p : replaced);
  } catch (e) {
    expect(e).toBeInstanceOf(PlanError);
    return [...(e as PlanError).problems];
  }
  return [];
}

describe('plan validation', () => {
  it('accepts what the compiler emits', () => {
    expect(problems(() => undefined)).toEqual([]);
  });

  it('rejects a plan that is not an object, or of another format or version', () => {
    expect(problems(() => 'hello')).toEqual(['the plan is not a JSON object']);
    expect(problems(() => [])).toEqual(['the plan is not a JSON object']);
    expect(problems((p) => { p['format'] = 'onnx'; })).toEqual(['format must be "mdc.plan", got "onnx"']);
    expect(problems((p) => { p['version'] = 2; })).toEqual(['version must be 1, got 2']);
  });

  it('names the tampered field', () => {
    expect(problems((p) => { p['buffers'][0].bytes = 12; })[0]).toMatch(/^buffers\[0\]\.bytes must be \d+ for shape \[8, 64\]$/);
    expect(problems((p) => { p['buffers'][1].shape = [0, 3]; })).toEqual(['buffers[1].shape must be positive integers']);
    expect(problems((p) => { delete p['buffers'][1].init; })).toEqual(['buffers[1] is a param without init']);
    expect(problems((p) => { p['kernels'][0].wgsl = 'fn main() {}'; })).toEqual(['kernels[0].wgsl is not a compute shader']);
    expect(problems((p) => { p['kernels'][0].workgroupSize = [512, 1, 1]; })).toEqual(['kernels[0].workgroupSize must be three positive integers whose product is at most 256']);
    expect(problems((p) => { p['steps'][0].kernel = 99; })).toEqual(['steps[0].kernel refers to no kernel']);
    expect(problems((p) => { p['steps'][0].buffers.pop(); })[0]).toMatch(/^steps\[0\]\.buffers must list \d+ buffer ids$/);
    expect(problems((p) => { p['steps'][0].buffers[0] = 1000; })).toEqual(['steps[0].buffers[0] refers to no buffer']);
    expect(problems((p) => { p['steps'][0].dispatch = [70000, 1, 1]; })).toEqual(['steps[0].dispatch must be three integers in 1..65535']);
    expect(problems((p) => { p['inputs'][0].buffer = -1; })).toEqual(['inputs[0] must name an existing buffer']);
  });

  it('catches a binding whose buffer type differs from the kernel declaration', () => {
    const ps = problems((p) => { p['buffers'][0].type = 'i32'; });
    expect(ps.some((m) => /steps\[\d+\]\.buffers\[\d+\] has type i32 but the kernel binds f32/.test(m))).toBe(true);
  });

  it('lists every problem at once, in a readable error', () => {
    const p = plan();
    p['version'] = 9;
    p['steps'][0].kernel = -1;
    expect(() => validatePlan(p)).toThrowError(/invalid plan:\n {2}version must be 1, got 9\n {2}steps\[0\]\.kernel refers to no kernel/);
  });
});
