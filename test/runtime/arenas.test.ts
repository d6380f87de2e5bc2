import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { memoryOptionsFor, memoryPlanFor } from '../../codegen/plan.js';
import { lower } from '../../compiler/compile.js';
import { alignUp } from '../../compiler/memory/arena.js';
import { partition } from '../../compiler/sharding/partition.js';
import { compile } from '../../driver/compile.js';
import { optimize, planOf, spmdPlanOf } from '../../driver/stages.js';
import { PlanRunner } from '../../runtime/executor.js';
import { ARENA_ALIGNMENT, planAllocation, type Plan } from '../../runtime/plan.js';
import { PlanError, validatePlan } from '../../runtime/validate.js';
import { F16_MLP } from '../support/f16-models.js';
import { compileOrThrow } from '../support/gpu.js';
import { build, modelArb } from '../support/random-models.js';

/**
 * Arenas in the plan (global memory reuse, no device needed): what codegen places, that
 * placed buffers live at the same step never share a byte (checked here step by step,
 * independently of the validator), and that the validator refuses a placement that
 * breaks it, and the other ways a placement can be wrong.
 */

const SAMPLES = ['mlp', 'gpt2', 'bert-base', 'llama', 'vit-b16', 'mixtral'];
const src = (s: string) => readFileSync(`samples/${s}.model`, 'utf8');
/** A plan as parsed JSON, to tamper with. */
const copy = (p: Plan) => JSON.parse(JSON.stringify(p)) as Record<string, any>;

/**
 * For every step (and "after the last step", when outputs are read back and copied over
 * parameters), the placed buffers in use then: bound by a kernel or moved by a collective
 * at that step, or touched both before and after it, or an output already written. Any
 * two that share a byte of one arena are listed.
 */
function liveOverlaps(plan: Plan): string[] {
  const touched = new Map<number, number[]>();
  const touch = (b: number, t: number) => {
    if (plan.buffers[b]!.arena !== undefined) touched.set(b, [...(touched.get(b) ?? []), t]);
  };
  plan.steps.forEach((s, t) => (s.kind === 'collective' ? [s.input, s.output] : s.buffers).forEach((b) => touch(b, t)));
  for (const o of plan.outputs) touch(o.buffer, plan.steps.length);
  const outs = new Set(plan.outputs.map((o) => o.buffer));
  const found: string[] = [];
  for (let t = 0; t <= plan.steps.length; t++) {
    const live = [...touched].filter(([b, ts]) => Math.min(...ts) <= t && (t <= Math.max(...ts) || outs.has(b))).map(([b]) => plan.buffers[b]!);
    live.sort((a, b) => a.arena! - b.arena! || a.offset! - b.offset!);
    for (let i = 0; i < live.length; i++) {
      for (let j = i + 1; j < live.length && live[j]!.arena === live[i]!.arena && live[j]!.offset! < live[i]!.offset! + live[i]!.bytes; j++) {
        found.push(`step ${t}: ${live[i]!.name} and ${live[j]!.name}`);
      }
    }
  }
  return found;
}

const gpt2Training = (async () => (await compile(src('gpt2'), 'gpt2.model', { preset: 'tiny', train: true })).plan!)();
const mesh = {
  axes: [
    { name: 'dp', size: 2 },
    { name: 'tp', size: 2 },
  ],
};

describe('arenas in the plan', () => {
  it('places every activation and output, and nothing the host writes or keeps; every sample plans within 1.1× of its lower bound', async () => {
    for (const name of SAMPLES) {
      const r = await compile(src(name), `${name}.model`, { preset: 'tiny' });
      const plan = r.plan!;
      expect(validatePlan(copy(plan))).toBeTruthy();
      for (const b of plan.buffers) expect(b.arena !== undefined, `${name} ${b.name}`).toBe(b.role === 'activation' || b.role === 'output');
      expect(liveOverlaps(plan), name).toEqual([]);
      // The memory stage's plan is the one codegen placed by, with the plan's bytes.
      expect(plan.arenas).toEqual(r.memory!.arenas);
      for (const b of plan.buffers.filter((x) => x.arena !== undefined)) expect(b.offset! % ARENA_ALIGNMENT).toBe(0);
      expect(r.memory!.peakBytes / r.memory!.lowerBound, name).toBeLessThanOrEqual(1.1);
      const a = planAllocation(plan);
      expect(a.bytes).toBeLessThan(a.unplacedBytes);
      expect(planAllocation(plan, false)).toMatchObject({ arenas: 0, bytes: a.unplacedBytes });
    }
  });

  it('training and partitioned plans: placed buffers never share bytes while live, and the staged and whole pipelines agree', async () => {
    const training = await gpt2Training;
    const partitioned = (await compile(src('gpt2'), 'gpt2.model', { preset: 'tiny', partition: mesh })).plan!;
    const partitionedTraining = (await compile(src('gpt2'), 'gpt2.model', { preset: 'tiny', train: true, partition: mesh })).plan!;
    for (const plan of [training, partitioned, partitionedTraining]) {
      expect(plan.arenas!.length).toBeGreaterThan(0);
      expect(liveOverlaps(plan)).toEqual([]);
      validatePlan(copy(plan));
    }
    expect(partitioned.steps.some((s) => s.kind === 'collective' && plan(partitioned, s.output).arena !== undefined)).toBe(true);
    // planOf plans memory itself, the same way as the pipeline's memory stage.
    const g = lower(src('gpt2'), 'gpt2.model', { preset: 'tiny' }).graph!;
    expect(JSON.stringify(planOf(g, { seed: 0, source: 'gpt2.model' }))).toBe(
      JSON.stringify((await compile(src('gpt2'), 'gpt2.model', { preset: 'tiny' })).plan),
    );
  });

  it('random models, one device and partitioned: every plan keeps live placements apart', () => {
    let planned = 0;
    fc.assert(
      fc.property(modelArb, ({ sizes, body, picks, d }) => {
        const text = build(sizes, body, picks, d);
        const r = lower(text, 'random.model', { mesh: sizes.map((s, i) => ({ name: `a${i}`, size: s })) });
        if (!r.graph) return;
        planned++;
        for (const plan of [
          planOf(r.graph, { seed: 1 }),
          spmdPlanOf(partition(r.graph, { axes: sizes.map((s, i) => ({ name: `a${i}`, size: s })) }), { seed: 1 }),
        ]) {
          expect(liveOverlaps(plan), text).toEqual([]);
          expect(() => validatePlan(copy(plan)), text).not.toThrow();
        }
      }),
      { numRuns: 40, seed: 11 },
    );
    expect(planned).toBeGreaterThanOrEqual(25);
  });

  it('keeps a value one node reads twice out of the arena: its kernel binds it twice, and WebGPU refuses two writable bindings of one range', () => {
    const g = compileOrThrow(
      'model R(x: f32[2, 8, 16]) -> f32[2, 8, 16] {\n  param w: f32[16, 16] = normal(0, 0.3)\n  let h = x * 2.0\n  return attention(h @ w, h, h, heads = 2) + h @ w\n}\n',
    );
    const plan = planOf(g);
    const twice = plan.steps.filter((s) => s.kind !== 'collective' && new Set(s.buffers).size < s.buffers.length);
    expect(twice.length).toBeGreaterThan(0);
    for (const s of twice) {
      if (s.kind === 'collective') continue;
      const repeated = s.buffers.filter((b, i) => s.buffers.indexOf(b) !== i);
      for (const b of repeated) expect(plan.buffers[b]!.arena, plan.buffers[b]!.name).toBeUndefined();
    }
    validatePlan(copy(plan));
  });

  it('sizes values as codegen stores them: f16 activations take half the bytes in the arena', () => {
    const g = compileOrThrow(F16_MLP);
    const target = { shaderF16: true };
    const plan = planOf(g, { target });
    const memory = memoryPlanFor(optimize(g).graph, { target });
    const half = plan.buffers.filter((b) => b.type === 'f16' && b.arena !== undefined);
    expect(half.length).toBeGreaterThan(0);
    for (const b of plan.buffers.filter((x) => x.arena !== undefined)) {
      const p = memory.buffers.find((m) => m.arena === b.arena && m.offset === b.offset && m.bytes === b.bytes);
      expect(p, b.name).toBeDefined();
      expect(p!.size).toBe(alignUp(b.bytes, ARENA_ALIGNMENT));
    }
    // A memory plan with other sizes (every value as f32 words) is refused, not silently used.
    const f32Sized = memoryPlanFor(optimize(g).graph, {});
    expect(() => planOf(g, { target, memory: f32Sized })).toThrow(/the memory plan does not fit this plan at value \d+/);
  });

  it('keeps a value larger than an arena out of it', () => {
    const g = compileOrThrow('model Big(x: f32[64, 64]) -> f32[64, 64] {\n  let h = exp(x) @ x\n  return h * 2.0\n}\n');
    const opts = memoryOptionsFor(optimize(g).graph, { maxArenaBytes: 8192 });
    expect(opts.externalValues?.size).toBeGreaterThan(0);
    const plan = planOf(g, { maxArenaBytes: 8192, fuse: false });
    expect(plan.buffers.filter((b) => b.role !== 'input').every((b) => (b.bytes > 8192 ? b.arena === undefined : true))).toBe(true);
    expect(plan.arenas ?? []).toEqual([]);
    expect(planOf(g, { maxArenaBytes: 16384, fuse: false }).arenas!.length).toBeGreaterThan(0);
  });
});

describe('the runtime and device limits', () => {
  it("refuses an arena over the device's maxBufferSize and an offset off its alignment, before allocating anything", async () => {
    const plan = planOf(lower(src('gpt2'), 'gpt2.model', { preset: 'tiny' }).graph!);
    const device = (limits: Record<string, number>) =>
      ({
        features: new Set<string>(),
        limits: { maxStorageBufferBindingSize: 2 ** 30, maxBufferSize: 2 ** 30, minStorageBufferOffsetAlignment: 256, ...limits },
      }) as unknown as GPUDevice;
    const largest = Math.max(...plan.arenas!);
    await expect(PlanRunner.create(device({ maxBufferSize: largest - 256 }), plan)).rejects.toThrow(
      `plan 'GPT2' has an arena of ${largest} bytes (arena ${plan.arenas!.indexOf(largest)}), over this device's maxBufferSize (${largest - 256}); compile it with a smaller arena cap (maxArenaBytes), or run it without arenas`,
    );
    // An alignment above every offset: any buffer not at the start of its arena is off it.
    const align = 2 ** Math.ceil(Math.log2(largest + 1));
    const odd = plan.buffers.find((b) => (b.offset ?? 0) > 0)!;
    expect(odd).toBeDefined();
    await expect(PlanRunner.create(device({ minStorageBufferOffsetAlignment: align }), plan)).rejects.toThrow(
      `buffer '${odd.name}' is at offset ${odd.offset} of arena ${odd.arena}, not a multiple of this device's minStorageBufferOffsetAlignment (${align})`,
    );
  });

  it('a smaller arena cap at compile time splits the arenas to fit', () => {
    const g = lower(src('gpt2'), 'gpt2.model', { preset: 'tiny' }).graph!;
    const whole = planOf(g);
    const cap = Math.ceil(Math.max(...whole.arenas!) / 3 / ARENA_ALIGNMENT) * ARENA_ALIGNMENT;
    const split = planOf(g, { maxArenaBytes: cap });
    expect(split.arenas!.length).toBeGreaterThan(whole.arenas!.length);
    expect(split.arenas!.every((a) => a <= cap)).toBe(true);
    expect(liveOverlaps(split)).toEqual([]);
  });
});

describe('the validator on arena placements', () => {
  const forward = () => copy(planOf(lower(src('mlp'), 'mlp.model', { preset: 'tiny' }).graph!, { seed: 3 }));
  const problems = (p: unknown): string[] => {
    try {
      validatePlan(p);
      return [];
    } catch (e) {
      expect(e).toBeInstanceOf(PlanError);
      return [...(e as PlanError).problems];
    }
  };
  const placed = (p: Plan | Record<string, any>) => (p as Plan).buffers.filter((b) => b.arena !== undefined).map((b) => b.id);

  it("refuses offsets off the alignment, ranges past an arena's end, unknown arenas and placed parameters", () => {
    const p = forward() as Plan;
    const [k] = placed(p);
    expect(
      problems(
        ((q) => {
          q.buffers[k!].offset = 4;
          return q;
        })(forward()),
      ),
    ).toEqual([`buffers[${k}].offset must be a multiple of 256, got 4`]);
    expect(
      problems(
        ((q) => {
          q.buffers[k!].arena = 3;
          return q;
        })(forward()),
      ),
    ).toEqual([`buffers[${k}].arena must be an arena index in 0..0, got 3`]);
    expect(
      problems(
        ((q) => {
          q.buffers[k!].offset = q.arenas[0];
          return q;
        })(forward()),
      ),
    ).toEqual([`buffers[${k}] [${p.arenas![0]}, ${p.arenas![0]! + p.buffers[k!]!.bytes}) runs past the end of arena 0 (${p.arenas![0]} bytes)`]);
    expect(
      problems(
        ((q) => {
          delete q.buffers[k!].offset;
          return q;
        })(forward()),
      ),
    ).toEqual([`buffers[${k}] needs both arena and offset, or neither`]);
    expect(
      problems(
        ((q) => {
          delete q.arenas;
          return q;
        })(forward()),
      ),
    ).toContain(`buffers[${k}].arena refers to no arena: the plan has no arenas`);
    const param = p.buffers.find((b) => b.role === 'param')!.id;
    expect(
      problems(
        ((q) => {
          Object.assign(q.buffers[param], { arena: 0, offset: 0 });
          return q;
        })(forward()),
      ),
    ).toContain(`buffers[${param}] is a param buffer; only activations and outputs are placed in arenas`);
    expect(
      problems(
        ((q) => {
          q.arenas = [-4];
          return q;
        })(forward()),
      ),
    ).toContain('arenas must be an array of sizes in bytes, positive multiples of 4');
    expect(
      problems(
        ((q) => {
          q.version = 2;
          q.mesh = { axes: [{ name: 'a', size: 1 }], devices: 1 };
          return q;
        })(forward()),
      ),
    ).toContain('arenas need plan version 3');
  });

  it('refuses a kernel binding an arena buffer read-only, and a step binding overlapping ranges', () => {
    const p = forward() as Plan;
    const i = p.steps.findIndex(
      (s) =>
        s.kind !== 'collective' &&
        s.buffers.some((b, j) => p.buffers[b]!.arena !== undefined && p.kernels[s.kernel]!.bindings[j]!.access === 'read_write' && j < s.buffers.length - 1),
    );
    const s = p.steps[i]!;
    if (s.kind === 'collective') throw new Error('unreachable');
    const j = s.buffers.findIndex((b, n) => p.buffers[b]!.arena !== undefined && n < s.buffers.length - 1);
    expect(
      problems(
        ((q) => {
          q.kernels[s.kernel].bindings[j].access = 'read';
          return q;
        })(forward()),
      ),
    ).toContain(`steps[${i}].buffers[${j}] is in arena ${p.buffers[s.buffers[j]!]!.arena}, so kernel ${s.kernel} must bind it read_write, not read`);
    // The step's output placed over its own input.
    const out = s.buffers[s.buffers.length - 1]!;
    expect(
      problems(
        ((q) => {
          q.buffers[out].offset = q.buffers[s.buffers[j]!].offset;
          return q;
        })(forward()),
      ),
    ).toContain(`steps[${i}] binds overlapping ranges of arena 0 (buffers ${s.buffers[j]} and ${out}): WebGPU refuses aliased writable bindings`);
  });

  it('refuses exactly the moves that put a buffer on bytes another buffer holds while it is live (GPT-2 tiny training step)', async () => {
    const plan = await gpt2Training;
    const ids = placed(plan);
    let refused = 0;
    fc.assert(
      fc.property(fc.nat(ids.length - 1), fc.nat(ids.length - 1), (a, b) => {
        const moved = copy(plan);
        const [x, y] = [moved['buffers'][ids[a]!], plan.buffers[ids[b]!]!];
        if (x.arena !== y.arena || y.offset! + x.bytes > plan.arenas![y.arena!]!) return;
        x.offset = y.offset;
        const clash = liveOverlaps(moved as Plan).length > 0;
        const ps = problems(moved);
        if (clash) refused++;
        expect(ps.length > 0, `${x.name} moved onto ${y.name}: ${ps[0] ?? 'accepted'}`).toBe(clash);
        if (clash) expect(ps.some((m) => /share bytes of arena \d+ and are both live|binds overlapping ranges/.test(m))).toBe(true);
      }),
      { numRuns: 150, seed: 3 },
    );
    expect(refused).toBeGreaterThan(20);
  });
});

function plan(p: Plan, buffer: number) {
  return p.buffers[buffer]!;
}
