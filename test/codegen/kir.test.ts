/**
 * The kernel IR and its WGSL printer without a GPU: typing errors surface when a
 * generator builds the expression, integer literals fold, operators print with exactly
 * the parentheses WGSL needs, kernels over WebGPU's default limits are refused, and the
 * matmul configuration choice and tuning cache behave (forced > tuned > default).
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { chooseConfig, defaultConfig, invalidReason } from '../../codegen/kernels/matmul/config.js';
import { plainShape, shapeClass } from '../../codegen/kernels/matmul/shape.js';
import { Block } from '../../codegen/kir/build.js';
import { arrayOf, bits, f, fma, i, ref, splat, u, vec4f, type Kernel } from '../../codegen/kir/ir.js';
import { printWgsl, toSpec } from '../../codegen/kir/wgsl.js';
import { optimize, planOf } from '../../driver/stages.js';
import { defaultCacheFile, loadRowUnits, loadTuning, saveEntries } from '../../codegen/tune/cache.js';
import { matmulShapes, tuneTarget } from '../../codegen/tune/index.js';
import { usesRowKernels } from '../../codegen/kernels/index.js';
import { fuse } from '../../compiler/fusion/fuse.js';
import { compileOrThrow } from '../support/gpu.js';

const x = ref('x', 'u32');
const y = ref('y', 'u32');
const body = (build: (b: Block) => void): string => {
  const b = new Block();
  build(b);
  const k: Kernel = { name: 't', doc: [], enables: [], consts: [], buffers: [], shared: [], workgroupSize: [1, 1, 1], dispatch: [1, 1, 1], body: b.stmts };
  return printWgsl(k)
    .split('\n')
    .filter((l) => l.startsWith('  '))
    .map((l) => l.trim())
    .join('\n');
};

describe('kernel IR', () => {
  it('refuses ill-typed expressions when they are built', () => {
    expect(() => x.add(f(1))).toThrow('kir: u32 + f32');
    expect(() => x.and(y)).toThrow('needs bools');
    expect(() => new Block().set(x, f(0))).toThrow('kir: u32 = f32');
    expect(() => u(-1)).toThrow('is not a u32');
    expect(() => fma(f(1), f(2), x)).toThrow('fma(f32, f32, u32)');
  });

  it('folds integer literals, so unrolled code reads like hand-written code', () => {
    expect(body((b) => b.let('a', x.add(1).add(2)))).toBe('let a = x + 1u + 2u;');
    expect(body((b) => b.let('a', u(3).mul(4).add(x.mul(1)).add(u(0))))).toBe('let a = 12u + x;');
    expect(body((b) => b.let('a', x.mul(0)))).toBe('let a = 0u;');
  });

  it('prints only the parentheses WGSL needs', () => {
    expect(body((b) => b.let('a', x.add(y).mul(2)))).toBe('let a = (x + y) * 2u;');
    expect(body((b) => b.let('a', x.sub(y.sub(1))))).toBe('let a = x - (y - 1u);');
    expect(body((b) => b.let('a', x.div(4).mod(3)))).toBe('let a = x / 4u % 3u;');
    // WGSL has no precedence between && and ||, and comparisons do not chain.
    expect(body((b) => b.let('a', x.lt(1).or(y.lt(2).and(x.eq(y)))))).toBe('let a = x < 1u || (y < 2u && x == y);');
    expect(body((b) => b.let('a', x.lt(y).eq(y.lt(x))))).toBe('let a = (x < y) == (y < x);');
    expect(body((b) => b.let('a', splat(vec4f, f(1)).mul(f(0.5)).x))).toBe('let a = (vec4<f32>(1.0) * 0.5).x;');
    expect(body((b) => b.let('a', i(-3).add(ref('n', 'i32'))))).toBe('let a = -3 + n;');
    // A scalar on either side of vector arithmetic, as WGSL allows.
    expect(body((b) => b.let('a', f(1).div(splat(vec4f, f(2)).add(f(1)))))).toBe('let a = 1.0 / (vec4<f32>(2.0) + 1.0);');
  });

  it('prints bitwise operators and shifts with the parentheses WGSL requires of them, masks in hexadecimal', () => {
    expect(body((b) => b.let('a', x.add(y).bitAnd(bits(0xff)).eq(x.shr(2).bitAnd(1))))).toBe('let a = ((x + y) & 0xffu) == ((x >> 2u) & 1u);');
    expect(body((b) => b.let('a', x.bitAnd(y).bitAnd(3).xor(x.shl(y))))).toBe('let a = (x & y & 3u) ^ (x << y);');
    expect(() => f(1).bitAnd(f(2))).toThrow('& needs integers');
  });

  it('loops over u32 or i32 and leaves them early', () => {
    expect(
      body((b) =>
        b.for('j', i(-2), ref('n', 'i32'), (j, l) =>
          l.if(
            j.eq(0),
            (t) => t.continue(),
            (e) => e.break(),
          ),
        ),
      ),
    ).toBe('for (var j = -2; j < n; j += 1) {\nif (j == 0) {\ncontinue;\n} else {\nbreak;\n}\n}');
    expect(() => new Block().for('j', i(0), u(3), () => {})).toThrow('bounds of different types');
  });

  it('drops a branch the generator could decide, keeps one it could not', () => {
    expect(body((b) => b.if(u(3).lt(4), (t) => t.return()))).toBe('return;');
    expect(body((b) => b.if(x.lt(4), (t) => t.return()))).toBe('if (x < 4u) {\nreturn;\n}');
  });

  it('refuses kernels beyond WebGPU default limits', () => {
    const k: Kernel = {
      name: 'big',
      doc: [],
      enables: [],
      consts: [],
      buffers: [],
      shared: [{ name: 's', type: arrayOf('f32', 8192) }],
      workgroupSize: [32, 16, 1],
      dispatch: [70000, 1, 1],
      body: [],
    };
    expect(() => toSpec(k)).toThrow('512 invocations per workgroup, 32768 bytes of workgroup memory, dispatch [70000, 1, 1]');
  });
});

describe('matmul configuration choice', () => {
  const s = plainShape(128, 3072, 768);
  it('forced beats tuned beats default; an entry that does not fit the shape or target is ignored', () => {
    const tuned = { kind: 'tiled', tm: 8, tn: 4, wgx: 8, wgy: 8, tk: 16, raster: 'm' } as const;
    const table = { adapter: 'test', entries: { [shapeClass(s)]: tuned } };
    expect(chooseConfig(s, {})).toEqual(defaultConfig(s, {}));
    expect(chooseConfig(s, { tuning: table })).toEqual(tuned);
    expect(chooseConfig(s, { tuning: table, matmul: { kind: 'plain' } })).toEqual({ kind: 'plain' });
    const subgroup = { kind: 'subgroup', tm: 8, tn: 2, raster: 'm' } as const;
    expect(invalidReason(subgroup, s, {})).toBe('the target has no subgroups');
    expect(chooseConfig(s, { tuning: { adapter: 'test', entries: { [shapeClass(s)]: subgroup } } })).toEqual(defaultConfig(s, {}));
    expect(chooseConfig(plainShape(4, 4, 4), { matmul: { kind: 'gemv', wg: 64 } }).kind).toBe('plain');
  });

  it('shape classes round sizes up to powers of two and keep M = 1 apart', () => {
    expect(shapeClass(plainShape(128, 3072, 768))).toBe('m128n4096k1024v4');
    expect(shapeClass(plainShape(1, 3072, 768))).toBe('m1n4096k1024v4');
    expect(shapeClass(plainShape(17, 33, 1000, 4))).toBe('m32n64k1024b');
  });
});

describe('tuning cache', () => {
  it('round-trips per adapter, and a corrupt file is an empty cache', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mdc-tune-'));
    const file = join(dir, 'tuning.json');
    expect(loadTuning('gpu A', file)).toBeUndefined();
    const config = { kind: 'subgroup', tm: 16, tn: 1, raster: 'm' } as const;
    saveEntries('gpu A', { m1024n1024k1024v4: { config, ms: 170, shape: [1024, 1024, 1024, 1], tunedAt: '2025-01-01T00:00:00Z' } }, file);
    saveEntries('gpu B', { m1n4096k1024v4: { config: { kind: 'gemv', wg: 64 }, ms: 2, shape: [1, 3072, 768, 1], tunedAt: '2025-01-01T00:00:00Z' } }, file);
    expect(loadTuning('gpu A', file)).toEqual({ adapter: 'gpu A', entries: { m1024n1024k1024v4: config } });
    expect(Object.keys(loadTuning('gpu B', file)!.entries)).toEqual(['m1n4096k1024v4']);
    writeFileSync(file, '{ not json');
    expect(loadTuning('gpu A', file)).toBeUndefined();
  });

  it('keeps a row-kernel threshold per adapter beside the matmul entries, refusing nonsense values', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mdc-tune-'));
    const file = join(dir, 'tuning.json');
    expect(loadRowUnits('gpu A', file)).toBeUndefined();
    const config = { kind: 'plain' } as const;
    saveEntries('gpu A', { c: { config, ms: 1, shape: [1, 1, 1, 1], tunedAt: 't' } }, file, { rowUnits: 256, tunedAt: 't' });
    saveEntries('gpu B', {}, file, { rowUnits: 16, tunedAt: 't' });
    // A later save without rows keeps them.
    saveEntries('gpu A', { d: { config, ms: 1, shape: [1, 1, 1, 1], tunedAt: 't' } }, file);
    expect([loadRowUnits('gpu A', file), loadRowUnits('gpu B', file)]).toEqual([256, 16]);
    expect(Object.keys(loadTuning('gpu A', file)!.entries)).toEqual(['c', 'd']);
    const raw = JSON.parse(readFileSync(file, 'utf8'));
    raw.rows['gpu A'].rowUnits = -3;
    writeFileSync(file, JSON.stringify(raw));
    expect(loadRowUnits('gpu A', file)).toBeUndefined();
  });

  it('rowUnits chooses between a workgroup and an invocation per row', () => {
    const src = 'model T(x: f32[100, 768]) -> f32[100, 768] {\n  return softmax(x)\n}\n';
    const wg = planOf(compileOrThrow(src));
    const alone = planOf(compileOrThrow(src), { target: { rowUnits: 256 } });
    expect(wg.kernels[0]!.wgsl).toContain('64 invocations per row');
    expect(wg.steps[0]).toMatchObject({ dispatch: [100, 1, 1] });
    expect(alone.kernels[0]!.wgsl).toContain('one invocation per row');
    expect(alone.kernels[0]!.wgsl).not.toContain('workgroupBarrier');
    expect(alone.steps[0]).toMatchObject({ dispatch: [2, 1, 1] });
  });

  it('tunes the row threshold only for a graph with row kernels it matters to, else takes the cached one or none', async () => {
    const model = (body: string) => compileOrThrow(`model T(x: f32[8, 64], w: f32[64, 64]) -> f32[8, 64] {\n  return ${body}\n}\n`);
    expect(usesRowKernels(model('relu(x @ w)'))).toBe(false);
    expect(usesRowKernels(model('softmax(x @ w)'))).toBe(true);
    // Rows under 32 elements take an invocation each whatever the threshold; a reshape has no kernel at all.
    expect(usesRowKernels(model('reshape(softmax(reshape(x @ w, [128, 4])), [8, 64])'))).toBe(false);
    expect(usesRowKernels(model('reshape(softmax(reshape(x @ w, [16, 32])), [8, 64])'))).toBe(true);
    // A written-out softmax is a rows body once fused.
    const written = fuse(model('exp(x - max(x, keepdim = true)) / sum(exp(x - max(x, keepdim = true)), keepdim = true)'));
    expect(written.nodes.some((n) => n.body?.kind === 'rows')).toBe(true);
    expect(usesRowKernels(written)).toBe(true);
    // Nothing here may touch the device: no matmul shapes, and the rows are cached or not wanted.
    const noDevice = new Proxy(
      {},
      {
        get: () => {
          throw new Error('the device was used');
        },
      },
    ) as GPUDevice;
    const file = join(mkdtempSync(join(tmpdir(), 'mdc-tune-')), 'tuning.json');
    const none = await tuneTarget(noDevice, 'gpu A', {}, [], { file, rows: false });
    expect(none.rows).toEqual({});
    expect(none.target.rowUnits).toBeUndefined();
    saveEntries('gpu A', {}, file, { rowUnits: 256, tunedAt: 't' });
    for (const rows of [false, true]) expect((await tuneTarget(noDevice, 'gpu A', {}, [], { file, rows })).target.rowUnits).toBe(256);
  });

  it('tunes a matmul that reads b transposed as its own shape class', () => {
    const g = compileOrThrow(
      'model T(h: f32[128, 768], wte: f32[8192, 768], w: f32[768, 768]) -> (f32[128, 8192], f32[128, 768]) {\n  return h @ transpose(wte, [1, 0]), h @ w\n}\n',
    );
    expect(matmulShapes(optimize(g).graph).map(shapeClass)).toEqual(['m128n4096k1024v4t', 'm128n1024k1024v4']);
    // Unfused (--no-fuse), the plan keeps the transpose and its matmul reads the copy.
    expect(matmulShapes(optimize(g, false).graph).map(shapeClass)).toEqual(['m128n4096k1024v4', 'm128n1024k1024v4']);
  });

  it('lives under $MDC_CACHE_DIR, else $XDG_CACHE_HOME/mdc, else node_modules/.cache/mdc', () => {
    expect(defaultCacheFile({ MDC_CACHE_DIR: '/c' }, '/p')).toBe('/c/tuning.json');
    expect(defaultCacheFile({ XDG_CACHE_HOME: '/x' }, '/p')).toBe('/x/mdc/tuning.json');
    expect(defaultCacheFile({}, process.cwd())).toBe(join(process.cwd(), 'node_modules/.cache/mdc/tuning.json'));
  });
});
