import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { planOf, spmdPlanOf } from '../../driver/stages.js';
import { lower } from '../../compiler/compile.js';
import { partition } from '../../compiler/sharding/partition.js';
import { PLAN_VERSION } from '../../runtime/plan.js';
import { PlanError, validatePlan } from '../../runtime/validate.js';

const plan = () => {
  const r = lower(readFileSync('samples/mlp.model', 'utf8'), 'mlp.model', { preset: 'tiny' });
  return JSON.parse(JSON.stringify(planOf(r.graph!, { seed: 3 }))) as Record<string, any>;
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

  it('reports a broken field once, in words, and not again through every reference to it', () => {
    // Buffer 4 is bound by a kernel step, and binding 0 of kernel 0 by every step that runs it.
    expect(plan()['steps'].some((s: any) => s.buffers?.includes(4))).toBe(true);
    expect(
      problems((p) => {
        p['buffers'][4]['type'] = { a: 1 };
        p['buffers'][4]['role'] = undefined;
      }),
    ).toEqual(['buffers[4].role must be one of input, output, param, const, activation, coords, got nothing', 'buffers[4].type must be f32, i32 or f16']);
    const bindingProblems = problems((p) => {
      p['kernels'][0]['bindings'][0] = [{ binding: 0 }];
    });
    expect(bindingProblems).toEqual(['kernels[0].bindings[0] must be { binding: 0, access: read|read_write, type: f32|i32|f16, elements }']);
    expect(problems((p) => void (p['version'] = undefined))).toEqual(['version must be 1, 2, 3, 4 or 5, got nothing']);
  });

  it('rejects a plan that is not an object, or of another format or version', () => {
    expect(problems(() => 'hello')).toEqual(['the plan is not a JSON object']);
    expect(problems(() => [])).toEqual(['the plan is not a JSON object']);
    expect(
      problems((p) => {
        p['format'] = 'onnx';
      }),
    ).toEqual(['format must be "mdc.plan", got "onnx"']);
    expect(
      problems((p) => {
        p['version'] = 6;
      }),
    ).toEqual(['version must be 1, 2, 3, 4 or 5, got 6']);
    expect(
      problems((p) => {
        p['version'] = 2;
      }),
    ).toEqual(['mesh must be { axes: [{ name, size }, ...], devices } in a partitioned plan', 'arenas need plan version 3']);
  });

  it('keeps f16 storage to f16 values other than constants, and checks the subgroup size of a subgroup plan', () => {
    const out = (p: Record<string, any>) => p['buffers'][p['outputs'][0].buffer];
    const halfBytes = (b: Record<string, any>) => Math.max(4, Math.ceil(b['shape'].reduce((x: number, y: number) => x * y, 1) / 2) * 4);
    const k = plan()['outputs'][0].buffer;
    // An f32 output stored as f16 would lose precision silently.
    expect(
      problems((p) => {
        out(p).type = 'f16';
        out(p).bytes = halfBytes(out(p));
      }),
    ).toContain(`buffers[${k}] is stored as f16 but holds "f32" values`);
    // An f16 output may be (the runner decodes it), but the kernel writing it must bind f16.
    expect(
      problems((p) => {
        out(p).type = 'f16';
        out(p).dtype = 'f16';
        out(p).bytes = halfBytes(out(p));
      }),
    ).toEqual([expect.stringMatching(new RegExp(`^steps\\[\\d+\\]\\.buffers\\[\\d+\\] has type f16 but the kernel binds f32$`))]);
    expect(
      problems((p) => {
        out(p).role = 'const';
        out(p).value = 0;
        out(p).type = 'f16';
        out(p).dtype = 'f16';
        out(p).bytes = halfBytes(out(p));
      }),
    ).toContain(`buffers[${k}] is an f16 constant; constants are f32 or i32`);
    expect(
      problems((p) => {
        p['features'] = ['subgroups'];
      }),
    ).toEqual(['subgroupSize must be a power of two: the plan uses subgroups, whose kernels assume that many lanes']);
    expect(
      problems((p) => {
        p['features'] = ['subgroups'];
        p['subgroupSize'] = 12;
      }),
    ).toEqual(['subgroupSize must be a power of two: the plan uses subgroups, whose kernels assume that many lanes']);
    expect(
      problems((p) => {
        p['subgroupSize'] = 8;
      }),
    ).toEqual(['subgroupSize is set but features does not list subgroups']);
    expect(
      problems((p) => {
        p['features'] = ['subgroups'];
        p['subgroupSize'] = 8;
      }),
    ).toEqual([]);
  });

  it('names the tampered field', () => {
    expect(
      problems((p) => {
        p['buffers'][0].bytes = 12;
      })[0],
    ).toMatch(/^buffers\[0\]\.bytes must be \d+ for shape \[8, 64\]$/);
    expect(
      problems((p) => {
        p['buffers'][1].shape = [0, 3];
      }),
    ).toEqual(['buffers[1].shape must be positive integers']);
    expect(
      problems((p) => {
        delete p['buffers'][1].init;
      }),
    ).toEqual(['buffers[1] is a param without init']);
    expect(
      problems((p) => {
        p['kernels'][0].wgsl = 'fn main() {}';
      }),
    ).toEqual(['kernels[0].wgsl is not a compute shader']);
    expect(
      problems((p) => {
        p['kernels'][0].workgroupSize = [512, 1, 1];
      }),
    ).toEqual(['kernels[0].workgroupSize must be three positive integers whose product is at most 256']);
    expect(
      problems((p) => {
        p['steps'][0].kernel = 99;
      }),
    ).toEqual(['steps[0].kernel refers to no kernel']);
    expect(
      problems((p) => {
        p['steps'][0].buffers.pop();
      })[0],
    ).toMatch(/^steps\[0\]\.buffers must list \d+ buffer ids$/);
    expect(
      problems((p) => {
        p['steps'][0].buffers[0] = 1000;
      }),
    ).toEqual(['steps[0].buffers[0] refers to no buffer']);
    expect(
      problems((p) => {
        p['steps'][0].dispatch = [70000, 1, 1];
      }),
    ).toEqual(['steps[0].dispatch must be three integers in 1..65535']);
    expect(
      problems((p) => {
        p['inputs'][0].buffer = -1;
      }),
    ).toEqual(['inputs[0] must name an existing buffer']);
  });

  it('catches a binding whose buffer type differs from the kernel declaration', () => {
    const ps = problems((p) => {
      p['buffers'][0].type = 'i32';
    });
    expect(ps.some((m) => /steps\[\d+\]\.buffers\[\d+\] has type i32 but the kernel binds f32/.test(m))).toBe(true);
  });

  it('lists every problem at once, in a readable error', () => {
    const p = plan();
    p['version'] = 9;
    p['steps'][0].kernel = -1;
    expect(() => validatePlan(p)).toThrowError(/invalid plan:\n {2}version must be 1, 2, 3, 4 or 5, got 9\n {2}steps\[0\]\.kernel refers to no kernel/);
  });
});

/**
 * Meaning, not only shape: the MLP's tiny plan (x: [8, 64] → probs: [8, 10]) has three kernels:
 * 0 matmul+add+relu binding x, w1, b1 and relu0 on a [1, 1, 1] grid, 1 matmul+add on [2, 1, 1]
 * binding relu0, w2, b2 and add1, and 2 softmax binding add1 and probs.
 */
describe('plan validation checks what the plan means', () => {
  it('refuses a buffer smaller than what its kernel indexes, though its shape and bytes agree', () => {
    expect(
      problems((p) => {
        p['buffers'][0].shape = [4, 64];
        p['buffers'][0].bytes = 4 * 4 * 64;
        p['inputs'][0].shape = [4, 64];
      }),
    ).toEqual(['steps[0].buffers[0]: buffer 0 holds 256 elements, but kernel 0 indexes 512 in binding 0']);
    expect(
      problems((p) => {
        p['kernels'][1].bindings[3].elements = 81;
      }),
    ).toEqual(['steps[1].buffers[3]: buffer 6 holds 80 elements, but kernel 1 indexes 81 in binding 3']);
    expect(
      problems((p) => {
        delete p['kernels'][2].bindings[0].elements;
      }),
    ).toEqual(['kernels[2].bindings[0].elements must be the positive number of elements the kernel indexes']);
  });

  it('refuses a dispatch grid other than the one the kernel was written for', () => {
    expect(
      problems((p) => {
        p['steps'][1].dispatch = [1, 1, 1];
      }),
    ).toEqual(['steps[1].dispatch [1, 1, 1] is not the grid kernel 1 was written for, [2, 1, 1]']);
    expect(
      problems((p) => {
        p['steps'][0].dispatch = [1, 2, 1];
      }),
    ).toEqual(['steps[0].dispatch [1, 2, 1] is not the grid kernel 0 was written for, [1, 1, 1]']);
    expect(
      problems((p) => {
        delete p['kernels'][0].dispatch;
      }),
    ).toEqual(['kernels[0].dispatch must be the grid the kernel was written for, three integers in 1..65535']);
  });

  it('refuses an initialiser the runtime does not know, or one with arguments it cannot use', () => {
    const init = (value: unknown) =>
      problems((p) => {
        p['buffers'][1].init = value;
      });
    expect(init({ kind: 'xavier' })).toEqual(['buffers[1].init.kind must be normal, uniform or constant, got "xavier"']);
    expect(init({ kind: 'normal', mean: 0, std: -1 })).toEqual(['buffers[1].init: normal needs a finite mean and a finite std ≥ 0']);
    expect(init({ kind: 'normal', mean: '0', std: 1 })).toEqual(['buffers[1].init: normal needs a finite mean and a finite std ≥ 0']);
    expect(init({ kind: 'uniform', low: 1, high: -1 })).toEqual(['buffers[1].init: uniform needs finite low ≤ high']);
    expect(init({ kind: 'constant' })).toEqual(['buffers[1].init: constant needs a finite value']);
    expect(init('ones')).toEqual(['buffers[1] is a param without init']);
    expect(init({ kind: 'uniform', low: -1, high: 1 })).toEqual([]);
  });

  it('refuses inputs and outputs whose shapes do not fit their buffers, or an input that is not an input buffer', () => {
    expect(
      problems((p) => {
        p['outputs'][0].shape = [8, 11];
      }),
    ).toEqual(['outputs[0].shape [8, 11] has 88 elements, but its buffer 7 holds 80']);
    expect(
      problems((p) => {
        p['inputs'][0].shape = [8, -64];
      }),
    ).toEqual(['inputs[0].shape must be positive integers']);
    expect(
      problems((p) => {
        p['inputs'][0].buffer = 1;
        p['inputs'][0].shape = [64, 32];
      }),
    ).toEqual(['inputs[0].buffer is a param buffer, not an input buffer']);
  });

  it('refuses names given twice and kernel files that are not plain names', () => {
    expect(
      problems((p) => {
        p['buffers'][2].name = 'w1';
      }),
    ).toEqual(["buffers[2].name 'w1' is also the name of buffers[1]"]);
    expect(
      problems((p) => {
        p['outputs'].push({ ...p['outputs'][0] });
      }),
    ).toEqual(["outputs[1].name 'probs' is also the name of outputs[0]"]);
    expect(
      problems((p) => {
        p['inputs'].push({ ...p['inputs'][0] });
      }),
    ).toEqual(["inputs[1].name 'x' is also the name of inputs[0]"]);
    expect(
      problems((p) => {
        p['kernels'][1].file = p['kernels'][0].file;
      }),
    ).toEqual(["kernels[1].file 'k000_matmul_tiled_add_relu.wgsl' is also the file of kernels[0]"]);
    expect(
      problems((p) => {
        p['kernels'][1].file = '../../etc/k.wgsl';
      }),
    ).toEqual(['kernels[1].file must be a plain file name ending in .wgsl']);
  });

  it('refuses updates that overwrite what is read back, or copy from a parameter', () => {
    const src = `model M(x: f32[4]) -> (f32[4], f32[4]) {\n  param w: f32[4] = ones()\n  param v: f32[4] = ones()\n  return x * w, w\n}\n`;
    const two = () => JSON.parse(JSON.stringify(planOf(lower(src, 'm.model').graph!))) as Record<string, any>;
    const names = (p: Record<string, any>) => p['outputs'].map((o: Record<string, any>) => `${o.name}:${p['buffers'][o.buffer].role}`);
    expect(names(two())).toEqual(['output0:output', 'w:param']);
    const check = (updates: unknown) => {
      const p = two();
      p['updates'] = updates;
      try {
        validatePlan(p);
        return [];
      } catch (e) {
        return [...(e as PlanError).problems];
      }
    };
    expect(check([{ output: 'output0', param: 'v' }])).toEqual([]);
    // The output 'w' is w's own buffer: read back after the copy, it would show the updated value, not the returned one.
    expect(check([{ output: 'output0', param: 'w' }])).toEqual([
      "output 'w' is parameter buffer 1, which updates[0] overwrites before the output is read back",
    ]);
    expect(check([{ output: 'w', param: 'v' }])).toEqual([
      "updates[0].output 'w' is the param buffer 1, which the updates' copies could overwrite before it is read",
    ]);
    expect(
      check([
        { output: 'output0', param: 'v' },
        { output: 'output0', param: 'v' },
      ]),
    ).toEqual(["updates[1].param 'v' is also updated by updates[0]"]);
  });
});

/** GPT-2 tiny partitioned over [dp: 2, tp: 4]: a plan with a mesh and collective steps. */
const meshPlan = (() => {
  const r = lower(readFileSync('samples/gpt2.model', 'utf8'), 'gpt2.model', { preset: 'tiny' });
  const text = JSON.stringify(
    spmdPlanOf(
      partition(r.graph!, {
        axes: [
          { name: 'dp', size: 2 },
          { name: 'tp', size: 4 },
        ],
      }),
      { seed: 3 },
    ),
  );
  return () => JSON.parse(text) as Record<string, any>;
})();

function meshProblems(mutate: (p: Record<string, any>) => void): string[] {
  const p = meshPlan();
  mutate(p);
  try {
    validatePlan(p);
  } catch (e) {
    return [...(e as PlanError).problems];
  }
  return [];
}

const firstCollective = (p: Record<string, any>): [number, Record<string, any>] => {
  const i = (p['steps'] as Record<string, any>[]).findIndex((s) => s['kind'] === 'collective');
  return [i, p['steps'][i]];
};

describe('partitioned plan validation', () => {
  it('accepts what the compiler emits: a mesh, collective steps, global shapes and layouts', () => {
    const p = meshPlan();
    expect(p['version']).toBe(PLAN_VERSION);
    expect(p['mesh']).toEqual({
      axes: [
        { name: 'dp', size: 2 },
        { name: 'tp', size: 4 },
      ],
      devices: 8,
    });
    const [, s] = firstCollective(p);
    expect({ kind: s['kind'], op: s['op'], axis: s['axis'] }).toEqual({ kind: 'collective', op: 'all_reduce', axis: 'tp' });
    expect(p['inputs'][0]).toMatchObject({ name: 'tokens', shape: [1, 64], global: { shape: [2, 64], layout: { axes: [['dp'], []], partial: [] } } });
    expect(meshProblems(() => undefined)).toEqual([]);
  });

  it('keeps f16 buffers away from the host transfers of a partitioned plan', () => {
    const problems = meshProblems((p) => {
      const b = p['buffers'][p['outputs'][0].buffer];
      Object.assign(b, { type: 'f16', dtype: 'f16', bytes: Math.max(4, Math.ceil(b['shape'].reduce((x: number, y: number) => x * y, 1) / 2) * 4) });
    });
    expect(problems).toContain("outputs[0] is an f16 buffer; a partitioned plan's host transfers are f32 and i32 only");
  });

  it('names what is wrong with a collective step', () => {
    const at = (f: (s: Record<string, any>) => void) => meshProblems((p) => f(firstCollective(p)[1]));
    const i = firstCollective(meshPlan())[0];
    expect(
      at((s) => {
        s['op'] = 'broadcast';
      }),
    ).toEqual([`steps[${i}].op must be one of all_reduce, reduce_scatter, all_gather, all_to_all, shard_slice, partial_mask, got "broadcast"`]);
    expect(
      at((s) => {
        s['axis'] = 'pp';
      }),
    ).toEqual([`steps[${i}].axis "pp" is not an axis of the mesh`]);
    expect(
      at((s) => {
        s['op'] = 'all_gather';
      }),
    ).toEqual([`steps[${i}]: all_gather needs dim, an integer in 0..2`]);
    expect(
      at((s) => {
        s['dim'] = 1;
      }),
    ).toEqual([`steps[${i}]: all_reduce takes no dim`]);
    expect(
      at((s) => {
        s['op'] = 'all_to_all';
        s['dim'] = 1;
      }),
    ).toEqual([`steps[${i}]: all_to_all needs to, an integer in 0..2 other than dim`]);
    expect(
      at((s) => {
        s['op'] = 'reduce_scatter';
        s['dim'] = 2;
      }),
    ).toEqual([`steps[${i}]: reduce_scatter of [1, 64, 128] over 'tp' gives [1, 64, 32], but the output buffer is [1, 64, 128]`]);
    expect(
      at((s) => {
        s['op'] = 'shard_slice';
        s['dim'] = 0;
      }),
    ).toEqual([`steps[${i}]: shard_slice over 'tp' (4 devices) does not divide [1, 64, 128]`]);
    expect(
      at((s) => {
        s['output'] = 1;
      }),
    ).toContain(`steps[${i}].output must be an activation or output buffer, not param`);
    expect(
      at((s) => {
        s['input'] = 9999;
      }),
    ).toEqual([`steps[${i}].input refers to no buffer`]);
    expect(
      at((s) => {
        s['shape'] = [2, 64, 128];
      })[0],
    ).toBe(`steps[${i}].shape [2, 64, 128] does not fit input buffer [1, 64, 128]`);
  });

  it('checks the mesh and every global shape and layout', () => {
    expect(
      meshProblems((p) => {
        p['mesh'].devices = 4;
      }),
    ).toEqual(['mesh.devices must be 8, the product of the axis sizes']);
    expect(
      meshProblems((p) => {
        p['mesh'].axes[1].name = 'dp';
      })[0],
    ).toBe("mesh.axes[1]: axis 'dp' is given twice");
    expect(
      meshProblems((p) => {
        p['inputs'][0].global.layout.axes[1] = ['tp'];
      }),
    ).toEqual(["inputs[0].global: a device's block of [2, 64] is [1, 16], but the buffer is [1, 64]"]);
    expect(
      meshProblems((p) => {
        p['inputs'][0].global.layout.partial = ['dp'];
      }),
    ).toEqual(["inputs[0].global.layout uses axis 'dp' twice"]);
    expect(
      meshProblems((p) => {
        delete p['outputs'][0].global;
      }),
    ).toEqual(['outputs[0].global must be { shape: positive integers, layout: { axes, partial } }']);
    const wq = (meshPlan()['buffers'] as Record<string, any>[]).findIndex((b) => b['name'] === 'Layer.0.Attention.wq');
    expect(
      meshProblems((p) => {
        p['buffers'][wq].global.layout.axes[1] = ['sp'];
      }),
    ).toEqual([`buffers[${wq}].global.layout names 'sp', not an axis of the mesh`]);
    expect(
      meshProblems((p) => {
        delete p['buffers'][wq].global;
      }),
    ).toEqual([`buffers[${wq}].global must be { shape: positive integers, layout: { axes, partial } }`]);
  });

  it('refuses mesh features in a version 1 plan', () => {
    expect(
      meshProblems((p) => {
        p['version'] = 1;
      }),
    ).toContain('mesh needs plan version 2 or later');
    const single = plan();
    single['steps'][0] = { kind: 'collective', op: 'all_reduce', axis: 'tp', input: 0, output: 2, shape: [8, 64], scope: '', line: 1, col: 1 };
    expect(() => validatePlan(single)).toThrowError(/steps\[0\] is a collective step, which needs a mesh \(a partitioned plan\)/);
  });
});
