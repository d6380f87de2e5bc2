import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { planOf } from '../../driver/stages.js';
import { PlanRunner } from '../../runtime/executor.js';
import { mdc } from '../support/cli.js';
import { compileOrThrow, destroySharedDevices, gpuStatus, sharedDevice } from '../support/gpu.js';

/**
 * `mdc run` as a careless or hostile user drives it: inputs that are not what the model
 * takes, meshes larger than one machine can run, and outputs that are not numbers.
 */
const dir = mkdtempSync(join(tmpdir(), 'mdc-hostile-run-'));
const file = (name: string, text: string) => {
  const f = join(dir, name);
  writeFileSync(f, text);
  return f;
};
/** Token ids into a 10-row table, and a float input beside them. */
const EMBED = file(
  'embed.model',
  `model E(ids: i32[2, 3], x: f32[4]) -> (f32[2, 3, 4], f32[4]) {
  param table: f32[10, 4] = normal(0, 1)
  return embedding(table, ids), x * 2.0
}
`,
);
const ids = [0, 1, 2, 3, 4, 9];
const x = [1, 2, 3, 4];
const inputs = (value: unknown) => file('in.json', typeof value === 'string' ? value : JSON.stringify(value));

const gpu = await gpuStatus();
afterAll(destroySharedDevices);

describe('mdc run refuses before running anything', () => {
  const usage = async (args: string[], message: string) => {
    const r = await mdc('run', ...args);
    expect(r.out).toBe('');
    expect(r.err.split('\n')[0]).toBe(`mdc: ${message}`);
    expect(r.code).toBe(2);
  };

  it('a mesh of more devices than one adapter can be run as, saying the limit and why', async () => {
    await usage(
      ['samples/mlp.model', '--preset', 'tiny', '--mesh', 'dp=2,tp=64'],
      '--mesh dp=2,tp=64 needs 128 devices; mdc run makes at most 64 on one adapter, since each compiles every kernel again ' +
        '(llvmpipe runs out of code memory past about 100); mdc plan takes any mesh',
    );
  });

  it('a time limit that is not a positive number of seconds', async () => {
    await usage(['samples/mlp.model', '--time-limit', '0'], "--time-limit must be a positive number of seconds, not '0'");
    await usage(['samples/mlp.model', '--time-limit', 'soon'], "--time-limit must be a positive number of seconds, not 'soon'");
  });

  it('an --inputs file that is not an object', async () => {
    await usage(
      [EMBED, '--inputs', inputs([ids, x])],
      `--inputs ${join(dir, 'in.json')} must hold a JSON object mapping input names to arrays of numbers, not an array`,
    );
    await usage(
      [EMBED, '--inputs', inputs('null')],
      `--inputs ${join(dir, 'in.json')} must hold a JSON object mapping input names to arrays of numbers, not null`,
    );
  });
});

describe.skipIf(gpu.skip)(gpu.title('mdc run checks --inputs against the plan'), () => {
  const from = `--inputs ${join(dir, 'in.json')}`;
  const refused = async (given: unknown, message: string) => {
    // The inputs a case leaves out are given valid values, so each case meets only its own problem.
    const r = await mdc('run', EMBED, '--inputs', inputs(typeof given === 'string' ? given : { ids, x, ...(given as object) }));
    expect(r.out).toBe('');
    expect(r.err.split('\n')[0]).toBe(`mdc: ${from}${message}`);
    expect(r.code).toBe(2);
  };

  it('names an input the model does not take, and the ones it does', async () => {
    await refused({ ids, x, y: x }, " names 'y', which is not an input of E; its inputs: 'ids', 'x'");
  });

  it('refuses a file that leaves an input out, rather than filling it with random values', async () => {
    const r = await mdc('run', EMBED, '--inputs', inputs({ ids }));
    expect(r.out).toBe('');
    expect(r.err.split('\n')[0]).toBe(
      `mdc: ${from} gives no 'x': a file of inputs must give every input of E ('ids', 'x'); without --inputs all are seeded random values`,
    );
    expect(r.code).toBe(2);
  });

  it('refuses a value that is not a flat array of the right length', async () => {
    await refused({ ids: null }, ": input 'ids' must be a flat array of 6 numbers (i32[2, 3]), not null");
    await refused({ ids: { 0: 1 } }, ": input 'ids' must be a flat array of 6 numbers (i32[2, 3]), not an object");
    await refused({ ids: 7 }, ": input 'ids' must be a flat array of 6 numbers (i32[2, 3]), not the number 7");
    await refused(
      {
        ids: [
          [0, 1, 2],
          [3, 4, 9],
        ],
      },
      ": input 'ids' has 2 values; i32[2, 3] needs 6",
    );
    await refused({ ids: [[0], 1, 2, 3, 4, 9] }, ": input 'ids'[0] is [0], not a number (i32[2, 3])");
    await refused({ ids: ids.slice(1) }, ": input 'ids' has 5 values; i32[2, 3] needs 6");
    await refused({ x: [1, 2, '3', 4] }, ': input \'x\'[2] is "3", not a number (f32[4])');
  });

  it('refuses token ids that are negative, past the table, fractional or not finite, naming the range', async () => {
    await refused({ ids: [0, 1, -1, 3, 4, 5] }, ": input 'ids'[2] is -1, outside its table's ids 0..9 (i32[2, 3])");
    await refused({ ids: [0, 1, 2, 3, 4, 10] }, ": input 'ids'[5] is 10, outside its table's ids 0..9 (i32[2, 3])");
    await refused({ ids: [0, 1.5, 2, 3, 4, 5] }, ": input 'ids'[1] is 1.5, outside its table's ids 0..9 (i32[2, 3])");
    // JSON has no Infinity, but 1e999 parses as it.
    await refused('{"ids": [0, 1, 2, 3, 1e999, 5], "x": [1, 2, 3, 4]}', ": input 'ids'[4] is Infinity, outside its table's ids 0..9 (i32[2, 3])");
    await refused('{"ids": [0, 1, 2, 3, 4, 9], "x": [1, -1e999, 3, 4]}', ": input 'x'[1] is -Infinity, not a finite number (f32[4])");
  });

  it('runs given inputs that fit', async () => {
    const r = await mdc('run', EMBED, '--inputs', inputs({ ids, x }), '--json');
    expect(r.code).toBe(0);
    const out = JSON.parse(r.out) as { outputs: { name: string; first: number[] }[] };
    expect(out.outputs[1]!.first).toEqual([2, 4, 6, 8]);
  });
});

describe.skipIf(gpu.skip)(gpu.title('mdc run says when outputs are not finite'), () => {
  const LOG = file('log.model', `model L(x: f32[6]) -> (f32[6], f32[6]) {\n  return log(x), exp(x)\n}\n`);
  // log of a negative number is NaN, of 0 -Infinity; exp(1000) overflows to +Infinity.
  const given = file('log.json', JSON.stringify({ x: [-1, 0, 1, -2, 0, 1000] }));

  it('prints a warning per output with the counts, and exits 0', async () => {
    const r = await mdc('run', LOG, '--inputs', given);
    expect(r.code).toBe(0);
    expect(r.err.split('\n').filter((l) => l.startsWith('warning'))).toEqual([
      "warning: output 'output0' (f32[6]) has 2 NaN, 2 -Infinity among its 6 values",
      "warning: output 'output1' (f32[6]) has 1 +Infinity among its 6 values",
    ]);
  });

  it('fails a run whose submission takes longer than --time-limit, exit 1', async () => {
    // A model whose one submission surely outlasts a microsecond (a few kernels of a tiny model may finish first on llvmpipe).
    const r = await mdc('run', 'samples/gpt2.model', '--preset', 'tiny', '--time-limit', '0.000001');
    expect(r.code).toBe(1);
    expect(r.err.split('\n').slice(-1)[0]).toMatch(
      /^mdc: error: steps 0\.\.\d+ \(k000_\w+\.wgsl, .*\) did not finish within 0\.000001 s; the run is abandoned, and the device may still be busy with them \(a longer limit: timeLimitMs, mdc run or mdc generate --time-limit\)$/,
    );
  });

  it('gives the counts in --json', async () => {
    const r = await mdc('run', LOG, '--inputs', given, '--json');
    expect(r.code).toBe(0);
    const out = JSON.parse(r.out) as { outputs: { nonFinite: unknown }[] };
    expect(out.outputs.map((o) => o.nonFinite)).toEqual([
      { nan: 2, posInf: 0, negInf: 2 },
      { nan: 0, posInf: 1, negInf: 0 },
    ]);
  });
});

describe.skipIf(gpu.skip)(gpu.title('the runner fails a run WebGPU rejects or that does not finish'), () => {
  /** x: f32[8, 64] → y = softmax(relu(x @ w)), without arenas: three kernels, own buffers 0 x, 1 w, 3 relu, 4 y. */
  const SRC = `model M(x: f32[8, 64]) -> f32[8, 64] {\n  param w: f32[64, 64] = normal(0, 0.1)\n  return softmax(relu(x @ w))\n}\n`;
  const plain = () => JSON.parse(JSON.stringify(planOf(compileOrThrow(SRC), { memory: false, fuse: false }))) as Record<string, any>;
  const x = new Float32Array(8 * 64).fill(0.5);

  it('a step binding one buffer as read-only and writable passes validation, and WebGPU refuses it at the run', async () => {
    const plan = plain();
    const last = plan['steps'].length - 1;
    // The softmax reads buffer 3 and writes buffer 4: make it read and write 4.
    expect(plan['steps'][last].buffers).toEqual([3, 4]);
    plan['steps'][last].buffers = [4, 4];
    // Unsealed, the edit is refused before validation; declared, it reaches WebGPU.
    await expect(PlanRunner.create(await sharedDevice(), plan)).rejects.toThrow('integrity: the plan was changed after mdc wrote it');
    const runner = await PlanRunner.create(await sharedDevice(), plan, { edited: true });
    try {
      const run = runner.run({ x });
      await expect(run).rejects.toThrow(/^WebGPU rejected steps 0\.\.2 \(k000_matmul_tiled\.wgsl, k001_relu\.wgsl, k002_softmax_rows\.wgsl\): /);
      await expect(run).rejects.toThrow(/usage|conflict|writable/i);
    } finally {
      runner.destroy();
    }
  });

  it('a submission past the time limit fails, naming its kernels; within it the run succeeds', async () => {
    const device = await sharedDevice();
    await expect(PlanRunner.create(device, plain(), { timeLimitMs: 0 })).rejects.toThrow('timeLimitMs must be a positive number of milliseconds, got 0');
    // 0.001 ms: no submission finishes that fast (the timer fires first on any device).
    const quick = await PlanRunner.create(device, plain(), { timeLimitMs: 0.001 });
    try {
      await expect(quick.run({ x })).rejects.toThrow(
        'steps 0..2 (k000_matmul_tiled.wgsl, k001_relu.wgsl, k002_softmax_rows.wgsl) did not finish within 0.000001 s; the run is abandoned, ' +
          'and the device may still be busy with them (a longer limit: timeLimitMs, mdc run or mdc generate --time-limit)',
      );
    } finally {
      quick.destroy();
    }
    const runner = await PlanRunner.create(device, plain());
    try {
      const y = (await runner.run({ x }))['output0']!.data;
      // Softmax rows: each of the 8 rows sums to 1.
      expect(Array.from(y).reduce((a, b) => a + b, 0)).toBeCloseTo(8, 4);
    } finally {
      runner.destroy();
    }
  });

  it('an input named like an Object property is missing when not given, not found on Object.prototype', async () => {
    const device = await sharedDevice();
    for (const name of ['toString', 'constructor', 'valueOf']) {
      const plan = planOf(compileOrThrow(`model M(${name}: f32[4]) -> f32[4] {\n  return relu(${name})\n}\n`));
      const runner = await PlanRunner.create(device, plan);
      try {
        await expect(runner.run({})).rejects.toThrow(`missing input '${name}' (f32[4])`);
        const y = (await runner.run({ [name]: Float32Array.of(-1, 2, -3, 4) }))['output0']!.data;
        expect(Array.from(y)).toEqual([0, 2, 0, 4]);
      } finally {
        runner.destroy();
      }
    }
  });
});
